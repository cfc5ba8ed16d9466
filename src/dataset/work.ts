/**
 * The elastic worker: takes shards from the queue until it is drained (or, with `wait`, for
 * ever), a stale one first (a dead worker's, after the visibility timeout), else a new one;
 * renews its claim while it works; acknowledges a shard only after `runShard` has its tar and
 * index on disk. A shard that fails as a whole (a full disk, say) is left unacknowledged, so
 * another worker takes it after the timeout.
 * @module
 */

import type { Claimed, ShardQueue } from "./queue.ts";
import { runShard, type ShardContext, shardLine } from "./run_shard.ts";
import { shardName } from "./shards.ts";

/** Shards failed as a whole before a worker stops (its disk or its setup is broken). */
const MAX_SHARD_ERRORS = 3;

/** What a worker did. */
export interface WorkSummary {
  shards: number;
  tokenized: number;
  failed: number;
  /** Shards that failed as a whole (left for another worker). */
  errors: number;
  /** Messages that were not shards, acknowledged and skipped. */
  skipped: number;
  seconds: number;
}

/** Pulls and runs shards (see the module's doc). */
export async function workQueue(
  queue: ShardQueue,
  ctx: ShardContext,
  visibilityMs: number,
  wait: boolean,
): Promise<WorkSummary> {
  const started = performance.now();
  const sum: WorkSummary = {
    shards: 0,
    tokenized: 0,
    failed: 0,
    errors: 0,
    skipped: 0,
    seconds: 0,
  };
  while (true) {
    const claimed: Claimed | null = await queue.claimStale(visibilityMs) ??
      await queue.readNew(Math.min(1000, visibilityMs));
    if (!claimed) {
      // Drained: nothing new, and nothing held by anyone (a dead worker's shard counts as held
      // until it is claimed again, so this worker waits for it).
      if (!wait && await queue.pending() === 0) break;
      continue;
    }
    if ("invalid" in claimed) {
      // Not a shard: retrying it could never succeed, and it must not stop the workers.
      ctx.log(claimed.invalid);
      await queue.ack(claimed.id);
      sum.skipped++;
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
    try {
      const r = await runShard({ ...ctx, onItem: renew }, claimed.shard);
      await queue.ack(claimed.id);
      ctx.log(shardLine(r));
      sum.shards++;
      sum.tokenized += r.tokenized;
      sum.failed += r.failed;
    } catch (err) {
      sum.errors++;
      ctx.log(
        `${shardName(claimed.shard.index)}: ${
          (err as Error).message
        } (left in the queue for another worker)`,
      );
    } finally {
      clearInterval(timer);
    }
    if (sum.errors >= MAX_SHARD_ERRORS) {
      ctx.log(`stopping: ${sum.errors} shards failed as a whole on this worker; see above`);
      break;
    }
  }
  sum.seconds = (performance.now() - started) / 1000;
  return sum;
}
