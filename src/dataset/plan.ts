/**
 * `DIR/dataset.json`: what an output folder is the tokens of (the item count, the shard size,
 * the number of shards and a hash of the keys in order), written by the first task or by
 * `enqueue`, checked by every later one, so two manifests or two shard sizes can never mix in
 * one folder, and read by `status` to know what "complete" means. `DIR/model.json` does the
 * same for the model, once one is loaded.
 * @module
 */

import { createHash } from "node:crypto";
import type { Item } from "./manifest.ts";
import { writeDurably } from "./records.ts";

export const PLAN_FORMAT = "cosmos-webgpu dataset";

/** What dataset.json holds. */
export interface DatasetPlan {
  format: string;
  items: number;
  shardSize: number;
  shards: number;
  /** sha256 of the keys, in order, one a line. */
  keys: string;
}

/** The plan of `items` cut in shards of `shardSize`. */
export function planOf(items: Item[], shardSize: number): DatasetPlan {
  const hash = createHash("sha256");
  for (const item of items) hash.update(`${item.key}\n`);
  return {
    format: PLAN_FORMAT,
    items: items.length,
    shardSize,
    shards: Math.ceil(items.length / shardSize),
    keys: hash.digest("hex"),
  };
}

/** The plan file of `out`, or null when there is none. Throws on one that is not a plan. */
export async function readPlan(out: string): Promise<DatasetPlan | null> {
  const path = `${out}/dataset.json`;
  let text: string;
  try {
    if ((await Deno.stat(path)).size > 1 << 16) throw new Error("too large");
    text = await Deno.readTextFile(path);
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return null;
    throw new Error(
      `Cannot read "${path}": ${(err as Error).message}; remove it or use another --out`,
    );
  }
  let plan: DatasetPlan;
  try {
    plan = JSON.parse(text);
  } catch {
    plan = {} as DatasetPlan;
  }
  const ok = plan?.format === PLAN_FORMAT && Number.isInteger(plan.items) && plan.items > 0 &&
    Number.isInteger(plan.shardSize) && plan.shardSize > 0 &&
    plan.shards === Math.ceil(plan.items / plan.shardSize) && typeof plan.keys === "string";
  if (!ok) {
    throw new Error(`"${path}" is not a cosmos dataset plan; remove it or use another --out`);
  }
  return plan;
}

/** Writes `plan` to `out`, or checks it against the one there. */
export async function ensurePlan(out: string, plan: DatasetPlan): Promise<void> {
  await Deno.mkdir(out, { recursive: true });
  const old = await readPlan(out);
  if (!old) {
    return await writeDurably(
      `${out}/dataset.json`,
      new TextEncoder().encode(JSON.stringify(plan)),
    );
  }
  if (old.shardSize !== plan.shardSize) {
    throw new Error(
      `"${out}" was made with --shard-size ${old.shardSize}, not ${plan.shardSize}; pass --shard-size ${old.shardSize} or use another --out`,
    );
  }
  if (old.items !== plan.items || old.keys !== plan.keys) {
    throw new Error(
      `"${out}" holds the tokens of another manifest (${old.items} items, this one ${plan.items} or other keys); use another --out`,
    );
  }
}

/**
 * Checks that `out` holds the tokens of `model`, or records that it does (`DIR/model.json`):
 * a task re-run with another model would otherwise skip the shards of the first one and write
 * the rest with its own, mixing two models in one dataset without a word.
 */
export async function ensureModel(out: string, model: string): Promise<void> {
  const path = `${out}/model.json`;
  let old: string | null = null;
  try {
    if ((await Deno.stat(path)).size > 1 << 16) throw new Error("too large");
    old = JSON.parse(await Deno.readTextFile(path))?.model ?? "";
  } catch (err) {
    if (!(err instanceof Deno.errors.NotFound)) old = "";
  }
  if (old === null) {
    return await writeDurably(path, new TextEncoder().encode(JSON.stringify({ model })));
  }
  if (old !== model) {
    throw new Error(
      `"${out}" holds tokens of ${
        old || "an unreadable model.json"
      }, and this run uses ${model}; write to another --out`,
    );
  }
}
