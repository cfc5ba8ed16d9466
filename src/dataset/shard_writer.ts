/**
 * A finished shard: `shard-NNNNNN.tar` (WebDataset: for each done item, `KEY.json` then its
 * token member, in manifest order) and `shard-NNNNNN.index.json` (every key with its members'
 * offsets, sizes and sha256, the failed items with their errors, the tar's size and sha256).
 * The tar is written under a temporary name, fsynced and renamed, then the index the same way:
 * an index exists only beside the whole tar it describes, so a shard is complete exactly when
 * its index verifies (see `verifyShard`), and a killed task leaves nothing a reader could take.
 * @module
 */

import { createHash } from "node:crypto";
import type { Item } from "./manifest.ts";
import { type DoneItem, type FailedItem, syncDir, writeDurably } from "./records.ts";
import { shardName } from "./shards.ts";
import { TAR_END, tarHeader, tarPadding } from "./tar.ts";

export const INDEX_FORMAT = "cosmos-webgpu dataset shard";

/** A tar member's place and hash, as the index lists it. */
export interface MemberEntry {
  name: string;
  offset: number;
  size: number;
  sha256: string;
}

/** What `shard-NNNNNN.index.json` holds. */
export interface ShardIndex {
  format: string;
  shard: number;
  model: string;
  /** Items of the shard: done + failed. */
  items: number;
  done: { key: string; members: MemberEntry[]; ms: number }[];
  failed: FailedItem[];
  tar: { name: string; bytes: number; sha256: string };
  /** When the shard's first item started and its tar was finished (ms since the epoch). */
  startedAt: number;
  finishedAt: number;
}

/** A done item with the path of its staged token file. */
export interface StagedItem {
  done: DoneItem;
  tokens: string;
}

/** Paths of a shard's tar and index in `out`. */
export function shardPaths(out: string, shard: number): { tar: string; index: string } {
  return { tar: `${out}/${shardName(shard)}.tar`, index: `${out}/${shardName(shard)}.index.json` };
}

/**
 * Writes shard `shard`'s tar from its staged items (in order; `null` for a failed item, listed
 * in `failed`) and then its index. Memory: one member at a time.
 */
export async function writeShard(
  out: string,
  shard: number,
  model: string,
  staged: (StagedItem | null)[],
  failed: FailedItem[],
  startedAt: number,
): Promise<ShardIndex> {
  const paths = shardPaths(out, shard);
  const tmp = `${out}/.${shardName(shard)}.tar.partial-${Deno.pid}-${
    crypto.randomUUID().slice(0, 8)
  }`;
  const hash = createHash("sha256");
  const done: ShardIndex["done"] = [];
  let offset = 0;
  const f = await Deno.open(tmp, { write: true, create: true, truncate: true });
  try {
    const put = async (bytes: Uint8Array) => {
      hash.update(bytes);
      let at = 0;
      while (at < bytes.length) at += await f.write(bytes.subarray(at));
      offset += bytes.length;
    };
    for (const item of staged) {
      if (!item) continue;
      const { meta, ms } = item.done;
      const json = new TextEncoder().encode(JSON.stringify(meta));
      const tokens = await Deno.readFile(item.tokens);
      const members: MemberEntry[] = [];
      for (const [name, bytes] of [[`${meta.key}.json`, json], [meta.member, tokens]] as const) {
        await put(tarHeader(name, bytes.length));
        members.push({ name, offset, size: bytes.length, sha256: sha256Of(bytes) });
        await put(bytes);
        await put(tarPadding(bytes.length));
      }
      done.push({ key: meta.key, members, ms });
    }
    await put(TAR_END);
    await f.sync();
  } catch (err) {
    f.close();
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
  f.close();
  await Deno.rename(tmp, paths.tar);
  await syncDir(out);
  const index: ShardIndex = {
    format: INDEX_FORMAT,
    shard,
    model,
    items: staged.length,
    done,
    failed,
    tar: { name: paths.tar.slice(out.length + 1), bytes: offset, sha256: hash.digest("hex") },
    startedAt,
    finishedAt: Date.now(),
  };
  await writeDurably(paths.index, new TextEncoder().encode(JSON.stringify(index)));
  return index;
}

const sha256Of = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

/** Largest index read: a few hundred bytes per item. */
const MAX_INDEX_BYTES = 1 << 28;

/** A shard's index as written, or null when absent or not an index (shape only, no hashes). */
export async function readIndex(out: string, shard: number): Promise<ShardIndex | null> {
  const { index } = shardPaths(out, shard);
  try {
    if ((await Deno.stat(index)).size > MAX_INDEX_BYTES) return null;
    const v = JSON.parse(await Deno.readTextFile(index)) as ShardIndex;
    const ok = v?.format === INDEX_FORMAT && v.shard === shard && Array.isArray(v.done) &&
      Array.isArray(v.failed) && typeof v.tar?.sha256 === "string" && Number.isInteger(v.items);
    return ok ? v : null;
  } catch {
    return null;
  }
}

/** The sha256 and size of a file, read in pieces. */
async function hashFile(path: string): Promise<{ bytes: number; sha256: string } | null> {
  try {
    const hash = createHash("sha256");
    let bytes = 0;
    const f = await Deno.open(path, { read: true });
    for await (const chunk of f.readable) {
      hash.update(chunk);
      bytes += chunk.length;
    }
    return { bytes, sha256: hash.digest("hex") };
  } catch {
    return null;
  }
}

/**
 * Whether shard `shard` is complete and intact for these items: its index lists exactly these
 * keys (done or failed) and its tar has the size and sha256 the index gives. Which model wrote
 * it is not checked here: the records of any shard that still has work are (see readDone).
 */
export async function verifyShard(
  out: string,
  shard: number,
  items: Item[],
): Promise<ShardIndex | null> {
  const index = await readIndex(out, shard);
  if (!index) return null;
  const keys = new Set([...index.done.map((d) => d.key), ...index.failed.map((f) => f.key)]);
  if (
    index.items !== items.length || keys.size !== items.length ||
    !items.every((i) => keys.has(i.key))
  ) return null;
  const tar = await hashFile(shardPaths(out, shard).tar);
  if (!tar || tar.bytes !== index.tar.bytes || tar.sha256 !== index.tar.sha256) return null;
  return index;
}
