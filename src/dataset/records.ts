/**
 * The per-item record of a shard in progress, in `DIR/.staging/shard-NNNNNN/`: for item i (its
 * place in the shard), `i.out` (the token file) then `i.json` (its WebDataset JSON with the
 * token file's sha256) once done, or `i.failed.json` (the error) once failed. Every file is
 * written durably (temporary name, fsync, rename, fsync of the folder), `i.json` last, so a
 * record exists only with its whole output behind it; a task killed at any instant leaves at
 * worst a temporary file, removed by the next run. A record is trusted only after its hash is
 * checked again: a damaged one is redone.
 * @module
 */

import { createHash } from "node:crypto";
import type { Item } from "./manifest.ts";
import { shardName } from "./shards.ts";

let counter = 0;
/** Tells this process's temporary files from another machine's process of the same pid. */
const RUN = crypto.randomUUID().slice(0, 8);

/** Writes `bytes` to `path` so that it is on disk whole under that name, or not there at all. */
export async function writeDurably(path: string, bytes: Uint8Array): Promise<void> {
  const slash = path.lastIndexOf("/");
  const dir = path.slice(0, slash + 1);
  const tmp = `${dir}.${path.slice(slash + 1)}.partial-${Deno.pid}-${counter++}-${RUN}`;
  try {
    const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
    try {
      let at = 0;
      while (at < bytes.length) at += await f.write(bytes.subarray(at));
      await f.sync();
    } finally {
      f.close();
    }
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  await syncDir(dir || ".");
}

/** Flushes a folder's entries (a rename is durable only once its folder is). */
export async function syncDir(dir: string): Promise<void> {
  const d = await Deno.open(dir, { read: true });
  try {
    await d.sync();
  } finally {
    d.close();
  }
}

/** Hex sha256 of bytes. */
export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

/** The folder of a shard's records. */
export function stagingDir(out: string, shard: number): string {
  return `${out}/.staging/${shardName(shard)}`;
}

/** What `KEY.json` holds: the item, its model and shapes, and its token member's hash. */
export interface ItemMeta {
  key: string;
  source: string;
  model: string;
  kind: "image" | "video";
  width: number;
  height: number;
  frames: number;
  fps?: number;
  /** The token member's name in the shard ("KEY.tokens.safetensors" or "KEY.latent..."). */
  member: string;
  /** Shape of the indices or latent. */
  tokens: number[];
  sha256: string;
  bytes: number;
  psnr?: number;
  ssim?: number;
}

/** A finished item: its token file and its JSON. */
export interface DoneItem {
  meta: ItemMeta;
  /** Milliseconds it took (in the index, not in KEY.json, which stays the same across runs). */
  ms: number;
}

/** A failed item, with the error that stopped it. */
export interface FailedItem {
  key: string;
  source: string;
  error: string;
}

const pad = (i: number) => String(i).padStart(6, "0");

/** Records item `i` of a shard as done: the token file first, then its JSON. */
export async function recordDone(
  dir: string,
  i: number,
  tokens: Uint8Array,
  done: DoneItem,
): Promise<void> {
  await writeDurably(`${dir}/${pad(i)}.out`, tokens);
  await writeDurably(`${dir}/${pad(i)}.json`, new TextEncoder().encode(JSON.stringify(done)));
  await Deno.remove(`${dir}/${pad(i)}.failed.json`).catch(() => {});
}

/** Records item `i` of a shard as failed, with its error. */
export async function recordFailed(dir: string, i: number, failed: FailedItem): Promise<void> {
  await writeDurably(
    `${dir}/${pad(i)}.failed.json`,
    new TextEncoder().encode(JSON.stringify(failed)),
  );
}

/** Most bytes a record's JSON may hold: it describes one item. */
const MAX_RECORD_JSON = 1 << 20;

async function readJson(path: string): Promise<unknown | null> {
  try {
    const f = await Deno.open(path, { read: true });
    try {
      if ((await f.stat()).size > MAX_RECORD_JSON) return null;
    } finally {
      f.close();
    }
    return JSON.parse(await Deno.readTextFile(path));
  } catch {
    return null;
  }
}

/**
 * Item `i`'s done record, checked: its JSON parses, names this item and `model`, and the token
 * file's bytes hash to what it says. Null when absent or damaged (then the item is redone).
 * A record of another model is an error: the folder holds another run's work.
 */
export async function readDone(
  dir: string,
  i: number,
  item: Item,
  model: string,
): Promise<{ done: DoneItem; tokens: string } | null> {
  const json = await readJson(`${dir}/${pad(i)}.json`) as DoneItem | null;
  const meta = json?.meta;
  if (!meta || meta.key !== item.key || meta.source !== item.source) return null;
  if (meta.model !== model) {
    throw new Error(
      `"${dir}" holds tokens of ${meta.model}, and this run uses ${model}; write to another --out`,
    );
  }
  const tokens = `${dir}/${pad(i)}.out`;
  try {
    // The size first: a file that is not what the record says is not read whole.
    if ((await Deno.stat(tokens)).size !== meta.bytes) return null;
    const bytes = await Deno.readFile(tokens);
    if (bytes.length !== meta.bytes || sha256(bytes) !== meta.sha256) return null;
  } catch {
    return null;
  }
  return { done: json, tokens };
}

/** Item `i`'s failure record, or null. */
export async function readFailed(dir: string, i: number, item: Item): Promise<FailedItem | null> {
  const json = await readJson(`${dir}/${pad(i)}.failed.json`) as FailedItem | null;
  return json?.key === item.key && typeof json.error === "string" ? json : null;
}

/** Counts of a staging folder's records, for `status` (no hashes checked). */
export async function countRecords(dir: string): Promise<{ done: number; failed: number }> {
  let done = 0, failed = 0;
  try {
    for await (const e of Deno.readDir(dir)) {
      if (/^\d{6}\.json$/.test(e.name)) done++;
      else if (/^\d{6}\.failed\.json$/.test(e.name)) failed++;
    }
  } catch {
    // no folder: nothing started
  }
  return { done, failed };
}
