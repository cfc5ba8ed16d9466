/**
 * The worker loop of one shard, the same for a static task and a queue worker: a shard whose
 * index verifies is skipped; otherwise every item without a verified record is tokenized (the
 * next one prepared while this one runs, so the backend is not left waiting on a read, a
 * download or an image decode) and recorded done or failed, then the shard's tar and index are
 * written and its records removed.
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";
import type { PadMode } from "../media/pad.ts";
import { withCliFlags } from "../cli/args.ts";
import { prepare, type Prepared, type Tokenized, tokenizeItem } from "./item_tokenize.ts";
import {
  type FailedItem,
  readDone,
  readFailed,
  recordDone,
  recordFailed,
  stagingDir,
} from "./records.ts";
import {
  type ShardIndex,
  shardPaths,
  type StagedItem,
  verifyShard,
  writeShard,
} from "./shard_writer.ts";
import { readMember } from "./tar.ts";
import { type Shard, shardName } from "./shards.ts";

/** What a shard run needs: where to write, and the tokenizer (loaded on first use). */
export interface ShardContext {
  out: string;
  /** Loads the tokenizer once, on the first shard that has work (a finished task loads none). */
  tokenizer: () => Promise<Tokenizer>;
  pad: PadMode;
  maxInputBytes: number;
  /** Decode each item's tokens again and record PSNR and SSIM in its JSON. */
  metrics: boolean;
  /** Re-run items recorded as failed instead of keeping their failure. */
  retryFailed: boolean;
  log: (line: string) => void;
  /** Called after each item (the queue worker renews its claim here). */
  onItem?: () => Promise<void>;
}

/** What a shard run did. */
export interface ShardResult {
  shard: number;
  /** Complete already: nothing was done. */
  skipped: boolean;
  /** Items tokenized by this run, and items that failed in it. */
  tokenized: number;
  failed: number;
  seconds: number;
}

type Settled<T> = { value: T } | { error: unknown };
const settle = <T>(p: Promise<T>): Promise<Settled<T>> =>
  p.then((value) => ({ value }), (error) => ({ error }));

/** Runs one shard to completion (see the module's doc). */
export async function runShard(ctx: ShardContext, shard: Shard): Promise<ShardResult> {
  const started = performance.now(), startedAt = Date.now();
  const name = shardName(shard.index);
  const complete = await verifyShard(ctx.out, shard.index, shard.items);
  if (complete && !(ctx.retryFailed && complete.failed.length)) {
    return { shard: shard.index, skipped: true, tokenized: 0, failed: 0, seconds: 0 };
  }
  const tok = await ctx.tokenizer();
  const model = tok.model;
  const dir = stagingDir(ctx.out, shard.index);
  await Deno.mkdir(dir, { recursive: true });
  // --retry-failed on a complete shard: its done items become records again, so only the
  // failed ones run, and the shard is written anew.
  if (complete) await restage(ctx.out, complete, shard, dir);
  const staged: (StagedItem | null)[] = shard.items.map(() => null);
  const failures = new Map<number, FailedItem>();
  const todo: number[] = [];
  for (let i = 0; i < shard.items.length; i++) {
    const done = await readDone(dir, i, shard.items[i], model);
    if (done) {
      staged[i] = done;
      continue;
    }
    const failed = ctx.retryFailed ? null : await readFailed(dir, i, shard.items[i]);
    if (failed) failures.set(i, failed);
    else todo.push(i);
  }
  let tokenized = 0, failedNow = 0;
  if (todo.length) {
    const start = (k: number) =>
      settle(prepare(shard.items[todo[k]], dir, ctx.maxInputBytes)) as Promise<Settled<Prepared>>;
    let next = start(0);
    for (let k = 0; k < todo.length; k++) {
      const i = todo[k], item = shard.items[i];
      const t0 = performance.now();
      const input = await next;
      // The next input is read and decoded while this one is in the tokenizer.
      if (k + 1 < todo.length) next = start(k + 1);
      // An item's own failure (unreadable, the wrong kind) is recorded and the shard goes on;
      // a failure to write the record (a full disk) is not the item's and stops the shard.
      let result: Tokenized | null = null, error = "";
      try {
        if ("error" in input) throw input.error;
        try {
          result = await tokenizeItem(tok, item, input.value, ctx.pad, ctx.metrics);
        } finally {
          await input.value.cleanup();
        }
      } catch (err) {
        error = withCliFlags((err as Error).message ?? String(err));
      }
      if (result) {
        const done = { meta: result.meta, ms: Math.round(performance.now() - t0) };
        await recordDone(dir, i, result.tokens, done);
        staged[i] = { done, tokens: `${dir}/${String(i).padStart(6, "0")}.out` };
        tokenized++;
      } else {
        const failed = { key: item.key, source: item.source, error };
        await recordFailed(dir, i, failed);
        failures.set(i, failed);
        failedNow++;
        ctx.log(`${name}: ${item.source}: ${error}`);
      }
      await ctx.onItem?.();
    }
  }
  const failed = [...failures.entries()].sort((a, b) => a[0] - b[0]).map(([, f]) => f);
  await writeShard(ctx.out, shard.index, model, staged, failed, startedAt);
  await Deno.remove(dir, { recursive: true }).catch(() => {});
  // The records' parent goes once no shard is in progress (it is not empty while one is).
  await Deno.remove(`${ctx.out}/.staging`).catch(() => {});
  const seconds = (performance.now() - started) / 1000;
  return { shard: shard.index, skipped: false, tokenized, failed: failedNow, seconds };
}

/** Records of a complete shard's done items, from its tar (checked by their hashes on read). */
async function restage(out: string, index: ShardIndex, shard: Shard, dir: string): Promise<void> {
  const { tar } = shardPaths(out, shard.index);
  for (const d of index.done) {
    const i = shard.items.findIndex((item) => item.key === d.key);
    const [json, tokens] = d.members;
    if (i < 0 || !json || !tokens) continue;
    const meta = JSON.parse(new TextDecoder().decode(await readMember(tar, json)));
    await recordDone(dir, i, await readMember(tar, tokens), { meta, ms: d.ms });
  }
}

/** "shard-000003: 8 tokenized, 0 failed in 2.1 s (3.81 items/s)". */
export function shardLine(r: ShardResult): string {
  const name = shardName(r.shard);
  if (r.skipped) return `${name}: complete and verified, skipped`;
  const rate = r.seconds > 0 ? (r.tokenized + r.failed) / r.seconds : 0;
  return `${name}: ${r.tokenized} tokenized, ${r.failed} failed in ${r.seconds.toFixed(1)} s (${
    rate.toFixed(2)
  } items/s)`;
}
