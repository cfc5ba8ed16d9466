/**
 * The huggingface_hub cache layout, shared with the Python client:
 *
 * ```
 * <cache>/models--<owner>--<name>/blobs/<etag>
 * <cache>/models--<owner>--<name>/snapshots/<commit>/<file>  -> ../../blobs/<etag>
 * <cache>/models--<owner>--<name>/refs/<revision>            (holds <commit>)
 * <cache>/.locks/models--<owner>--<name>/<etag>.lock         (held while a blob downloads)
 * ```
 *
 * Every name is checked (names.ts) before it becomes a path, and entries other processes may be
 * reading (refs, snapshot links) are replaced in one rename, never removed and rewritten.
 * @module
 */

import { denoApi, joinPath } from "./env.ts";
import {
  checkCommit,
  checkEtag,
  checkFileName,
  checkRepoId,
  checkRevision,
  COMMIT_RULE,
  isCommitHash,
  quote,
} from "./names.ts";

function folderName(repo: string): string {
  checkRepoId(repo);
  return `models--${repo.split("/").join("--")}`;
}

/** `<cache>/models--<owner>--<name>`. */
export function repoFolder(cacheDir: string, repo: string): string {
  return joinPath(cacheDir, folderName(repo));
}

/** `<cache>/models--<owner>--<name>/blobs/<etag>`. */
export function blobPath(cacheDir: string, repo: string, etag: string): string {
  checkEtag(etag);
  return joinPath(repoFolder(cacheDir, repo), "blobs", etag);
}

/** The lock file guarding a blob's download, where the Python client keeps its own. */
export function lockPath(cacheDir: string, repo: string, etag: string): string {
  checkEtag(etag);
  return joinPath(cacheDir, ".locks", folderName(repo), `${etag}.lock`);
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
  checkRevision(revision);
  if (isCommitHash(revision)) return revision;
  const path = joinPath(repoFolder(cacheDir, repo), "refs", revision);
  let text: string;
  try {
    text = (await fs().readTextFile(path)).trim();
  } catch (err) {
    if (isNotFound(err)) return null;
    throw err;
  }
  if (!text) return null;
  // The commit names a snapshot folder: a ref holding "../.." would lead out of the cache.
  if (!isCommitHash(text)) {
    throw new Error(
      `The cache's ref file ${path} holds ${
        quote(text)
      }, not ${COMMIT_RULE}: delete it and try again`,
    );
  }
  return text;
}

/** A name beside `path` for writing what then replaces it in one rename. */
function tempBeside(path: string): string {
  return `${path}.${crypto.randomUUID()}.tmp`;
}

/** Puts `temp` at `path` in one step (a reader sees the old entry or the new), or removes it. */
async function replaceWith(temp: string, path: string): Promise<void> {
  try {
    await fs().rename(temp, path);
  } catch (err) {
    await fs().remove(temp).catch(() => {});
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
  checkFileName(file);
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
  checkRevision(revision);
  checkCommit(commit);
  if (revision === commit) return;
  const path = joinPath(repoFolder(cacheDir, repo), "refs", revision);
  await fs().mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  let current: string | null = null;
  try {
    current = (await fs().readTextFile(path)).trim();
  } catch { /* absent */ }
  if (current === commit) return;
  // Written aside and renamed: a process reading the ref meanwhile never sees it empty.
  const temp = tempBeside(path);
  await fs().writeTextFile(temp, commit);
  await replaceWith(temp, path);
}

/**
 * Points snapshots/<commit>/<file> at blobs/<etag> with a relative symlink, as the Python client
 * does, or copies the blob where symlinks are not allowed. Returns the snapshot path. The new
 * entry replaces a stale one in one rename: removing it first let a racing caller copy the blob
 * onto the link to itself, truncating the blob.
 */
export async function linkSnapshot(
  cacheDir: string,
  repo: string,
  commit: string,
  file: string,
  etag: string,
): Promise<string> {
  checkCommit(commit);
  checkFileName(file);
  const deno = fs();
  const blob = blobPath(cacheDir, repo, etag);
  const path = joinPath(repoFolder(cacheDir, repo), "snapshots", commit, file);
  await deno.mkdir(path.slice(0, path.lastIndexOf("/")), { recursive: true });
  const target = `${"../".repeat(2 + file.split("/").length - 1)}blobs/${etag}`;
  try {
    if (await deno.readLink(path) === target) return path; // linked already (by a racing caller)
  } catch { /* absent, or a copy */ }
  const temp = tempBeside(path);
  try {
    await deno.symlink(target, temp);
  } catch {
    await deno.copyFile(blob, temp);
  }
  await replaceWith(temp, path);
  return path;
}
