/**
 * Downloads one file the hub described (HEAD) into blobs/<etag>: under a lock shared with other
 * processes (and the Python client), resuming what an earlier try left in `<etag>.incomplete`,
 * never taking more bytes than declared, and named `<etag>` only once size and hash are checked.
 * @module
 */

import { denoApi } from "./env.ts";
import { blobPath, isNotFound, linkSnapshot, lockPath, writeRef } from "./cache.ts";
import { authError, cannotDownload, type Context, type FileMeta, headers } from "./context.ts";
import { Sha256 } from "./sha256.ts";

const SHA256 = /^[0-9a-f]{64}$/;

/** Downloads a file into blobs/<etag> (unless there), links its snapshot and writes the ref. */
export async function download(ctx: Context, file: string, meta: FileMeta): Promise<string> {
  const deno = denoApi()!;
  const blob = blobPath(ctx.cacheDir, ctx.repo, meta.etag);
  if (!(await isFile(blob))) {
    await withLock(lockPath(ctx.cacheDir, ctx.repo, meta.etag), async () => {
      if (await isFile(blob)) return; // another caller finished it while this one waited
      await deno.mkdir(parent(blob), { recursive: true });
      const part = `${blob}.incomplete`;
      await fetchInto(ctx, file, meta, part, true);
      await verify(ctx, file, meta, part);
      await deno.rename(part, blob);
    });
  }
  const path = await linkSnapshot(ctx.cacheDir, ctx.repo, meta.commit, file, meta.etag);
  await writeRef(ctx.cacheDir, ctx.repo, ctx.revision, meta.commit);
  return path;
}

function parent(path: string): string {
  return path.slice(0, path.lastIndexOf("/"));
}

/**
 * Runs `fn` holding an exclusive lock on the file `path`: flock on Unix, as Python's filelock
 * takes it, so other processes, other calls in this one and the Python client all wait their
 * turn instead of writing one `.incomplete` together. Closing the file releases the lock. The
 * file stays: removing it would let a third caller lock a new file while a second holds the old.
 */
async function withLock<T>(path: string, fn: () => Promise<T>): Promise<T> {
  const deno = denoApi()!;
  await deno.mkdir(parent(path), { recursive: true });
  const lock = await deno.open(path, { write: true, create: true });
  try {
    await lock.lock(true);
    return await fn();
  } finally {
    lock.close();
  }
}

async function isFile(path: string): Promise<boolean> {
  try {
    return (await denoApi()!.stat(path)).isFile;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await denoApi()!.stat(path)).size;
  } catch (err) {
    if (isNotFound(err)) return 0;
    throw err;
  }
}

/** A file over `maxBytes`: of `size` bytes, or (null) of no declared size that grew past it. */
function tooLarge(ctx: Context, file: string, size: number | null): Error {
  const what = size === null
    ? `the server sent more than the ${ctx.maxBytes} bytes allowed without declaring a size`
    : `it is ${size} bytes, more than the ${ctx.maxBytes} allowed`;
  return new Error(
    `Cannot download "${file}" from ${ctx.repo}: ${what}; nothing was kept (raise maxBytes if the file is genuine)`,
  );
}

/** Removes the bad `part` and says why the download failed. */
async function corrupt(ctx: Context, file: string, part: string, what: string): Promise<Error> {
  await denoApi()!.remove(part).catch(() => {});
  return new Error(
    `Download of "${file}" from ${ctx.repo} is corrupt (${what}); it was removed: try again`,
  );
}

/** The body's length from Content-Length, or null (absent, malformed, or of compressed bytes). */
function bodyLength(res: Response): number | null {
  const encoding = (res.headers.get("content-encoding") ?? "identity").trim().toLowerCase();
  const length = res.headers.get("content-length");
  return encoding === "identity" && length !== null && /^\d+$/.test(length) ? Number(length) : null;
}

/** GETs the file into `part`, resuming from what `part` already holds. */
async function fetchInto(
  ctx: Context,
  file: string,
  meta: FileMeta,
  part: string,
  mayRetry: boolean,
): Promise<void> {
  const deno = denoApi()!;
  let have = await fileSize(part);
  if (meta.size !== null && have > meta.size) {
    await deno.remove(part);
    have = 0;
  }
  const progress = (bytes: number, total: number) =>
    ctx.onProgress?.({ file, bytes, total: meta.size ?? total });
  if (meta.size !== null && meta.size > ctx.maxBytes) throw tooLarge(ctx, file, meta.size);
  if (meta.size !== null && have === meta.size && have > 0) {
    progress(have, have); // complete already; verify() checks it
    return;
  }
  let res: Response;
  try {
    res = await ctx.fetch(meta.url, {
      headers: headers(ctx, have > 0 ? { Range: `bytes=${have}-` } : {}),
    });
  } catch (err) {
    throw cannotDownload(ctx, file, (err as Error).message);
  }
  if (res.status === 416 && mayRetry) {
    await res.body?.cancel();
    await deno.remove(part);
    return await fetchInto(ctx, file, meta, part, false);
  }
  if (res.status === 401 || res.status === 403) {
    await res.body?.cancel();
    throw authError(ctx, file, res);
  }
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw cannotDownload(ctx, file, `HTTP ${res.status} ${res.statusText}`);
  }
  const append = res.status === 206;
  if (append) {
    const range = res.headers.get("content-range") ?? "";
    if (!range.startsWith(`bytes ${have}-`)) {
      await res.body.cancel();
      await deno.remove(part);
      if (mayRetry) return await fetchInto(ctx, file, meta, part, false);
      throw cannotDownload(ctx, file, `unexpected Content-Range "${range}"`);
    }
  } else {
    have = 0; // a full answer: start over
  }
  const length = bodyLength(res);
  const total = length !== null ? have + length : 0;
  // An answer declaring another size than the hub's is refused before a byte is written.
  if (meta.size !== null && length !== null && total !== meta.size) {
    await res.body.cancel();
    throw await corrupt(
      ctx,
      file,
      part,
      `the server declared ${total} bytes, the hub ${meta.size}`,
    );
  }
  if (length !== null && total > ctx.maxBytes) {
    await res.body.cancel();
    await deno.remove(part).catch(() => {});
    throw tooLarge(ctx, file, total);
  }
  // The file may grow to the hub's size, else to what this answer declares, else to maxBytes.
  const limit = meta.size ?? (length !== null ? total : null);
  const out = await deno.open(
    part,
    append
      ? { write: true, create: true, append: true }
      : { write: true, create: true, truncate: true },
  );
  let overflow = false;
  try {
    for await (const chunk of res.body) {
      if (have + chunk.length > (limit ?? ctx.maxBytes)) {
        overflow = true;
        break; // leaving the loop cancels the body: the rest is never read
      }
      for (let off = 0; off < chunk.length;) off += await out.write(chunk.subarray(off));
      have += chunk.length;
      progress(have, total);
    }
  } catch (err) {
    // What arrived stays in `part`: the next call resumes from there.
    throw cannotDownload(ctx, file, `download interrupted: ${(err as Error).message}`);
  } finally {
    out.close();
  }
  if (overflow && limit === null) {
    await deno.remove(part).catch(() => {});
    throw tooLarge(ctx, file, null);
  }
  if (overflow) {
    throw await corrupt(ctx, file, part, `the server sent more than the ${limit} bytes declared`);
  }
}

/** Bytes read at a time to hash a downloaded file. */
const HASH_CHUNK = 1 << 20;

/** The sha256 of a file, read a chunk at a time (a checkpoint is never held whole). */
async function sha256File(path: string): Promise<string> {
  const file = await denoApi()!.open(path, { read: true });
  try {
    const hash = new Sha256();
    const buf = new Uint8Array(HASH_CHUNK);
    for (let n; (n = await file.read(buf)) !== null;) hash.update(buf.subarray(0, n));
    return hash.hex();
  } finally {
    file.close();
  }
}

/** Checks size and (for LFS files, whose etag is their sha256) the hash; removes bad data. */
async function verify(ctx: Context, file: string, meta: FileMeta, part: string): Promise<void> {
  const size = await fileSize(part);
  if (meta.size !== null && size !== meta.size) {
    throw await corrupt(ctx, file, part, `${size} bytes, expected ${meta.size}`);
  }
  if (SHA256.test(meta.etag)) {
    const digest = await sha256File(part);
    if (digest !== meta.etag) {
      throw await corrupt(ctx, file, part, `sha256 ${digest}, expected ${meta.etag}`);
    }
  }
}
