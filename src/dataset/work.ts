/**
 * The elastic worker: takes shards from the queue until it is drained (or, with `wait`, for
 * ever), a stale one first (a dead worker's, after the visibility timeout), else a new one;
 * renews its claim while it works; acknowledges a shard only after `runShard` has its tar and
 * index on disk. A shard that fails as a whole (a full disk, say) is left unacknowledged, so
 * another worker takes it after the timeout; its error is kept in the queue.
 *
 * The dead-letter rule: a shard delivered `maxDeliveries` times without being finished is not
 * run again. One that failed as a whole for the last of them is dead-lettered at once; one whose
 * workers died on it (an input that crashes the process, say) is dead-lettered by the worker it
 * is next delivered to. Either way it is acknowledged, so the queue drains and the job ends.
 * @module
 */

import type { Claimed, ShardQueue } from "./queue.ts";
import { runShard, type ShardContext, shardLine } from "./run_shard.ts";
import { type Shard, shardName } from "./shards.ts";
import { stagingDir } from "./records.ts";

/** Distinct shards failed as a whole before a worker stops (its disk or setup is broken). */
const MAX_SHARD_ERRORS = 3;

/** Default deliveries of one shard before it is dead-lettered (`--max-deliveries`). */
export const DEFAULT_MAX_DELIVERIES = 3;

/** What a worker did. */
export interface WorkSummary {
  shards: number;
  tokenized: number;
  failed: number;
  /** Shards that failed as a whole (left for another worker). */
  errors: number;
  /** Shards this worker dead-lettered. */
  deadLettered: number;
  /** Messages that were not shards, acknowledged and skipped. */
  skipped: number;
  seconds: number;
}

/** The worker's queue settings. */
export interface WorkOptions {
  visibilityMs: number;
  /** Wait for more shards when the queue is empty, instead of exiting. */
  wait: boolean;
  /** Deliveries of a shard before it is dead-lettered (see the module's doc). */
  maxDeliveries: number;
}

/**
 * Why workers died holding a shard: the first of its items with no record (items run in order,
 * so it is the one a worker was on), as the dead letter's error when no failure was kept.
 */
async function diedOn(out: string, shard: Shard, deliveries: number): Promise<string> {
  const dir = stagingDir(out, shard.index);
  const recorded = async (i: number) => {
    for (const suffix of ["json", "failed.json"]) {
      try {
        await Deno.stat(`${dir}/${String(i).padStart(6, "0")}.${suffix}`);
        return true;
      } catch {
        // not this one
      }
    }
    return false;
  };
  let at = "";
  for (let i = 0; i < shard.items.length; i++) {
    if (!await recorded(i)) {
      at = `, on "${shard.items[i].source}" (its first item without a record)`;
      break;
    }
  }
  return `its worker stopped without finishing it ${deliveries} times (crashed, killed or cut off from the queue${at}); fix or remove that input, then enqueue again`;
}

/** Pulls and runs shards (see the module's doc). */
export async function workQueue(
  queue: ShardQueue,
  ctx: ShardContext,
  opts: WorkOptions,
): Promise<WorkSummary> {
  const { visibilityMs, maxDeliveries } = opts;
  const started = performance.now();
  const sum: WorkSummary = {
    shards: 0,
    tokenized: 0,
    failed: 0,
    errors: 0,
    deadLettered: 0,
    skipped: 0,
    seconds: 0,
  };
  const failedShards = new Set<number>();
  const deadLetter = async (c: { id: string; shard: Shard }, n: number, error: string) => {
    await queue.deadLetter(c, n, error);
    sum.deadLettered++;
    ctx.log(
      `${
        shardName(c.shard.index)
      }: dead-lettered after ${n} deliveries (--max-deliveries ${maxDeliveries}), acknowledged: ${error}`,
    );
  };
  while (true) {
    const claimed: Claimed | null = await queue.claimStale(visibilityMs) ??
      await queue.readNew(Math.min(1000, visibilityMs));
    if (!claimed) {
      // Drained: nothing new, and nothing held by anyone (a dead worker's shard counts as held
      // until it is claimed again, so this worker waits for it).
      if (!opts.wait && await queue.pending() === 0) break;
      continue;
    }
    if ("invalid" in claimed) {
      // Not a shard: retrying it could never succeed, and it must not stop the workers.
      ctx.log(claimed.invalid);
      await queue.ack(claimed.id);
      sum.skipped++;
      continue;
    }
    // This delivery included: past the limit, the ones before it all ended unfinished.
    const delivered = await queue.deliveries(claimed.id);
    if (delivered > maxDeliveries) {
      const kept = await queue.lastError(claimed.id);
      const error = kept ?? await diedOn(ctx.out, claimed.shard, delivered - 1);
      await deadLetter(claimed, delivered - 1, error);
      continue;
    }
    // The claim is renewed a few times per timeout, and after each item.
    let last = Date.now();
    const renew = async () => {
      if (Date.now() - last < visibilityMs / 4) return;
      last = Date.now();
      await queue.renew(claimed.id).catch(() => {});
    };
    const timer = setInterval(renew, Math.max(100, visibilityMs / 3));
    let error: string | null = null;
    try {
      const r = await runShard({ ...ctx, onItem: renew }, claimed.shard);
      await queue.ack(claimed.id);
      ctx.log(shardLine(r));
      sum.shards++;
      sum.tokenized += r.tokenized;
      sum.failed += r.failed;
    } catch (err) {
      error = (err as Error).message ?? String(err);
    } finally {
      clearInterval(timer);
    }
    if (error === null) continue;
    sum.errors++;
    failedShards.add(claimed.shard.index);
    if (delivered >= maxDeliveries) {
      await deadLetter(claimed, delivered, error);
    } else {
      await queue.noteError(claimed.id, error);
      ctx.log(
        `${shardName(claimed.shard.index)}: ${error} (left in the queue for another worker)`,
      );
    }
    if (failedShards.size >= MAX_SHARD_ERRORS) {
      ctx.log(
        `stopping: ${failedShards.size} shards failed as a whole on this worker; see above`,
      );
      break;
    }
  }
  sum.seconds = (performance.now() - started) / 1000;
  return sum;
}
