/**
 * What the names that become cache paths may be. A repo id, revision, commit, file name or ETag
 * comes from the caller, the cache's ref files or a hub's answer; each is checked here before it
 * is joined into a path, so that none can climb out of the cache ("..", "/") or land on another
 * entry (a blob's ".incomplete" part, a hidden file).
 * @module
 */

/** A full commit hash as the hub sends it (X-Repo-Commit) and names snapshots by. */
const COMMIT = /^[0-9a-f]{40}$/;
/**
 * One half of a repo id, as huggingface_hub's validate_repo_id allows: word characters, "-"
 * and ".", at most 96, starting and ending with a word character.
 */
const REPO_PART = /^\w(?:[\w.-]{0,94}\w)?$/;
/** One "/"-separated part of a revision or a repo file name: no "." or ".." and no hidden file. */
const PATH_PART = /^[\w@+-][\w.@+-]*$/;
/** A blob's name: hub ETags are sha256 (LFS) or git sha1 hashes; no "." keeps suffixes ours. */
const BLOB = /^[\w+=-]{1,128}$/;
/** Longest revision or file name accepted (git refs are far shorter in practice). */
const MAX_PATH = 256;

/** What a repo id must look like, for error messages. */
export const REPO_ID_RULE =
  'owner/name (letters, digits and "_-.", at most 96 a part, starting and ending with a letter, digit or "_", no "--" or "..")';
/** What a revision must look like, for error messages. */
export const REVISION_RULE =
  'a branch, tag or commit hash (letters, digits and "_-.@+" in parts separated by "/", none empty or starting with ".")';
/** What a commit must look like, for error messages. */
export const COMMIT_RULE = "a commit hash (40 lowercase hex digits)";
/** What an ETag used as a blob name must look like, for error messages. */
export const ETAG_RULE = 'letters, digits and "_-+=", at most 128';

/** A value for an error message: quoted, escaped and cut short (it may be hostile). */
export function quote(value: string): string {
  return JSON.stringify(value.length > 160 ? `${value.slice(0, 160)}...` : value);
}

/** Whether a revision is a full commit hash (which needs no refs file). */
export function isCommitHash(value: string): boolean {
  return COMMIT.test(value);
}

/** Whether `repo` is an owner/name hub repo id that is one safe folder name in the cache. */
export function isRepoId(repo: string): boolean {
  const parts = repo.split("/");
  return parts.length === 2 && parts.every((p) => REPO_PART.test(p)) &&
    !repo.includes("--") && !repo.includes("..") && !repo.endsWith(".git");
}

function isRelativePath(value: string): boolean {
  return value.length <= MAX_PATH && value.split("/").every((p) => PATH_PART.test(p));
}

/** Whether an ETag can name a blob file. */
export function isBlobName(etag: string): boolean {
  return BLOB.test(etag);
}

/** Throws unless `repo` is a safe hub repo id. */
export function checkRepoId(repo: string): void {
  if (!isRepoId(repo)) {
    throw new Error(`Invalid hub repo id ${quote(repo)}: expected ${REPO_ID_RULE}`);
  }
}

/** Throws unless `revision` is a safe branch, tag or commit name (refs/<revision> in the cache). */
export function checkRevision(revision: string): void {
  if (!isRelativePath(revision)) {
    throw new Error(`Invalid revision ${quote(revision)}: expected ${REVISION_RULE}`);
  }
}

/** Throws unless `commit` is a full commit hash (snapshots/<commit> in the cache). */
export function checkCommit(commit: string): void {
  if (!isCommitHash(commit)) {
    throw new Error(`Invalid commit ${quote(commit)}: expected ${COMMIT_RULE}`);
  }
}

/** Throws unless `file` is a safe relative file name in a repo (snapshots/<commit>/<file>). */
export function checkFileName(file: string): void {
  if (!isRelativePath(file)) {
    throw new Error(
      `Invalid repo file name ${
        quote(file)
      }: expected parts of letters, digits and "_-.@+" separated by "/", none empty or starting with "."`,
    );
  }
}

/** Throws unless `etag` can name a blob (blobs/<etag> in the cache). */
export function checkEtag(etag: string): void {
  if (!isBlobName(etag)) throw new Error(`Invalid ETag ${quote(etag)}: expected ${ETAG_RULE}`);
}

/**
 * Files that hold a whole model, both halves, tried in this order when a repo has no half
 * file: the Wan2.2 and Wan2.1 VAEs as Wan ships them (`Wan-AI/Wan2.2-TI2V-5B`,
 * `Wan-AI/Wan2.1-T2V-1.3B`; a repo with Wan2.2's runs it), and a diffusers pipeline's VAE
 * (`Wan-AI/Wan2.1-T2V-1.3B-Diffusers`).
 */
export const WHOLE_MODEL_FILES: readonly string[] = [
  "Wan2.2_VAE.pth",
  "Wan2.1_VAE.pth",
  "vae/diffusion_pytorch_model.safetensors",
];

/** A checkpoint's half, as the hub clients look one up. */
export type Half = "encoder" | "decoder";

/** A half file's extensions, in the order tried (the official repos hold .jit files). */
export const HALF_EXTENSIONS = ["jit", "safetensors"] as const;

/** The file names of a half, in the order tried ("encoder.jit", "encoder.safetensors"). */
export function halfFileNames(half: Half): string[] {
  return HALF_EXTENSIONS.map((e) => `${half}.${e}`);
}

/**
 * Every file name the Deno and browser hub clients try before they find a repo holds no
 * checkpoint, in that order: each wanted half's files (the encoder's first), then
 * WHOLE_MODEL_FILES. Both clients build their "no checkpoint" message from this one list, so
 * that it names what was really asked for (a Wan repo's user sees the Wan names too).
 */
export function checkpointFileNames(halves: Iterable<Half>): string[] {
  const wanted = new Set(halves);
  const names = (["encoder", "decoder"] as const).filter((h) => wanted.has(h)).map(halfFileNames);
  return [...names.flat(), ...WHOLE_MODEL_FILES];
}

/**
 * The error for a repo that has none of checkpointFileNames(halves): `where` follows the repo
 * id (a revision or a URL, or ""), `remedy` says what to do instead.
 */
export function noCheckpointError(
  repo: string,
  where: string,
  halves: Iterable<Half>,
  remedy: string,
): Error {
  const names = checkpointFileNames(halves);
  const list = `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;
  return new Error(
    `${repo} has no checkpoint file${where}: tried ${list}, in that order; ${remedy}`,
  );
}
