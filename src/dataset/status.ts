/**
 * `cosmos dataset status DIR`: per shard, done / failed / missing items (complete shards from
 * their index, with `verify` their tar hashed again; shards in progress from their records),
 * the totals, and the throughput of the finished shards (items over the span from the first
 * shard's start to the last one's end, across every task that wrote them).
 * @module
 */

import { readPlan } from "./plan.ts";
import { countRecords, stagingDir } from "./records.ts";
import { readIndex, shardPaths } from "./shard_writer.ts";
import { shardName } from "./shards.ts";
import { createHash } from "node:crypto";

/** One shard's state. */
export interface ShardStatus {
  shard: string;
  /** complete: its index is there (and, verified, its tar matches); partial: records only. */
  state: "complete" | "partial" | "missing" | "damaged";
  items: number;
  done: number;
  failed: number;
  missing: number;
}

/** A dataset folder's state. */
export interface DatasetStatus {
  /** The model of the tokens (model.json), or null before one was loaded. */
  model: string | null;
  shards: ShardStatus[];
  items: number;
  done: number;
  failed: number;
  missing: number;
  completeShards: number;
  /** Items per second over the finished shards, or null before any finished. */
  itemsPerSecond: number | null;
  /** The failed items of complete shards (key, source, error), at most 100. */
  failures: { key: string; source: string; error: string }[];
}

async function tarMatches(path: string, bytes: number, sha256: string): Promise<boolean> {
  try {
    const hash = createHash("sha256");
    let n = 0;
    const f = await Deno.open(path, { read: true });
    for await (const chunk of f.readable) {
      hash.update(chunk);
      n += chunk.length;
    }
    return n === bytes && hash.digest("hex") === sha256;
  } catch {
    return false;
  }
}

async function readModel(out: string): Promise<string | null> {
  try {
    const v = JSON.parse(await Deno.readTextFile(`${out}/model.json`))?.model;
    return typeof v === "string" ? v : null;
  } catch {
    return null;
  }
}

/** The state of the dataset in `out` (see the module's doc). */
export async function datasetStatus(out: string, verify = false): Promise<DatasetStatus> {
  const plan = await readPlan(out);
  if (!plan) {
    throw new Error(
      `"${out}" is not a dataset folder (no dataset.json); give the --out of cosmos dataset tokenize or enqueue`,
    );
  }
  const shards: ShardStatus[] = [];
  const failures: DatasetStatus["failures"] = [];
  let first = Infinity, last = 0, finishedItems = 0;
  for (let s = 0; s < plan.shards; s++) {
    const items = Math.min(plan.shardSize, plan.items - s * plan.shardSize);
    const index = await readIndex(out, s);
    const row = { shard: shardName(s), items };
    if (index && index.items === items) {
      const ok = !verify ||
        await tarMatches(shardPaths(out, s).tar, index.tar.bytes, index.tar.sha256);
      if (ok) {
        const done = index.done.length, failed = index.failed.length;
        shards.push({ ...row, state: "complete", done, failed, missing: items - done - failed });
        for (const f of index.failed) if (failures.length < 100) failures.push(f);
        first = Math.min(first, index.startedAt);
        last = Math.max(last, index.finishedAt);
        finishedItems += done + failed;
        continue;
      }
      shards.push({ ...row, state: "damaged", done: 0, failed: 0, missing: items });
      continue;
    }
    const { done, failed } = await countRecords(stagingDir(out, s));
    const state = done + failed > 0 ? "partial" : "missing";
    shards.push({ ...row, state, done, failed, missing: Math.max(0, items - done - failed) });
  }
  const sum = (k: "done" | "failed" | "missing") => shards.reduce((a, r) => a + r[k], 0);
  return {
    model: await readModel(out),
    shards,
    items: plan.items,
    done: sum("done"),
    failed: sum("failed"),
    missing: sum("missing"),
    completeShards: shards.filter((r) => r.state === "complete").length,
    itemsPerSecond: last > first ? finishedItems / ((last - first) / 1000) : null,
    failures,
  };
}

/** The human-readable report: one line per shard that is not complete and clean, then totals. */
export function formatStatus(st: DatasetStatus, allShards = false): string {
  const lines: string[] = [];
  for (const r of st.shards) {
    if (!allShards && r.state === "complete" && r.failed === 0) continue;
    lines.push(
      `${r.shard}  ${r.state.padEnd(8)}  ${r.done} done, ${r.failed} failed, ${r.missing} missing`,
    );
  }
  for (const f of st.failures) lines.push(`failed: ${f.key} (${f.source}): ${f.error}`);
  const rate = st.itemsPerSecond === null ? "" : `, ${st.itemsPerSecond.toFixed(2)} items/s`;
  if (st.model) lines.push(`model: ${st.model}`);
  lines.push(
    `${st.completeShards}/${st.shards.length} shards complete; ${st.done} done, ${st.failed} failed, ${st.missing} missing of ${st.items} items${rate}`,
  );
  return lines.join("\n");
}
