/**
 * The huggingface_hub cache layout, shared with the Python client:
 *
 * ```
 * <cache>/models--<owner>--<name>/blobs/<etag>
 * <cache>/models--<owner>--<name>/snapshots/<commit>/<file>  -> ../../blobs/<etag>
 * <cache>/models--<owner>--<name>/refs/<revision>            (holds <commit>)
 * ```
 * @module
 */

import { denoApi, joinPath } from "./env.ts";

const COMMIT = /^[0-9a-f]{40}$/;

/** Whether a revision is a full commit hash (which needs no refs file). */
export function isCommitHash(revision: string): boolean {
  return COMMIT.test(revision);
}

/** `<cache>/models--<owner>--<name>`. */
export function repoFolder(cacheDir: string, repo: string): string {
  return joinPath(cacheDir, `models--${repo.split("/").join("--")}`);
}

function fs(): typeof Deno {
  const deno = denoApi();
  if (!deno) throw new Error("The Hugging Face cache needs a file system (Deno)");
  return deno;
}

/** Whether an error is Deno's NotFound. */
export function isNotFound(err: unknown): boolean {
  const deno = denoApi();
  return !!deno && err instanceof deno.errors.NotFound;
}

async function exists(path: string): Promise<boolean> {
  try {
    await fs().stat(path); // follows symlinks: a dangling link counts as absent
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** The commit a revision names in the cache: itself when a hash, else refs/<revision>. */
export async function cachedCommit(
  cacheDir: string,
  repo: string,
  revision: string,
): Promise<string | null> {
  if (isCommitHash(revision)) return revision;
  try {
    const text = (await fs().readTextFile(joinPath(repoFolder(cacheDir, repo), "refs", revision)))
      .trim();
    return text || null;
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
}

/** The snapshot path of a file cached for this revision, or null (no network). */
export async function cachedFile(
  cacheDir: string,
  repo: string,
  revision: string,
  file: string,
): Promise<string | null> {
  const commit = await cachedCommit(cacheDir, repo, revision);
  if (!commit) return null;
  const path = joinPath(repoFolder(cacheDir, repo), "snapshots", commit, file);
  return (await exists(path)) ? path : null;
}

/** Writes refs/<revision> = commit (not for a revision that is itself the commit). */
export async function writeRef(
  cacheDir: string,
  repo: string,
  revision: string,
  commit: string,
): Promise<void> {
  if (revision === commit) return;
  const path = joinPath(repoFolder(cacheDir, repo), "refs", revision);
  await fs().mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  let current: string | null = null;
  try {
    current = (await fs().readTextFile(path)).trim();
  } catch { /* absent */ }
  if (current !== commit) await fs().writeTextFile(path, commit);
}

/**
 * Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink, as the Python client
 * does, or copies the blob where symlinks are not allowed. Returns the snapshot path.
 */
export async function linkSnapshot(
  cacheDir: string,
  repo: string,
  commit: string,
  file: string,
  etag: string,
): Promise<string> {
  const deno = fs();
  const folder = repoFolder(cacheDir, repo);
  const path = joinPath(folder, "snapshots", commit, file);
  await deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  try {
    await deno.remove(path); // a stale or dangling entry
  } catch { /* absent */ }
  const up = "../".repeat(2 + file.split("/").length - 1);
  try {
    await deno.symlink(`${up}blobs/${etag}`, path);
  } catch {
    await deno.copyFile(joinPath(folder, "blobs", etag), path);
  }
  return path;
}
