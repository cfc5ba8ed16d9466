/**
 * What `cosmos dataset` runs: `tokenize` (the shards of one static task), `enqueue` (shards into
 * the queue), `work` (an elastic worker) and `status` (done / failed / missing, and the queue).
 * Each report line goes to stderr, with items/s per task or worker at the end.
 * @module
 */

import { hostname } from "node:os";
import type { Tokenizer } from "../tokenizer.ts";
import { intOption, type Parsed, UsageError } from "../cli/args.ts";
import type { PadMode } from "../media/pad.ts";
import { readManifest } from "./manifest.ts";
import { ensureModel, ensurePlan, planOf, readPlan } from "./plan.ts";
import { planShards, shardName, shardsOf, taskSlot } from "./shards.ts";
import { runShard, type ShardContext, shardLine } from "./run_shard.ts";
import { verifyShard } from "./shard_writer.ts";
import { DEFAULT_MAX_INPUT_BYTES } from "./item_tokenize.ts";
import { parseQueueUrl, ShardQueue } from "./queue.ts";
import { DEFAULT_MAX_DELIVERIES, workQueue } from "./work.ts";
import { datasetStatus, formatStatus } from "./status.ts";

/** Opens the tokenizer the options name (the CLI's own loader, passed in by commands.ts). */
export type OpenTokenizer = (values: Parsed["values"]) => Promise<Tokenizer>;

const DEFAULT_SHARD_SIZE = 1000;

function outDir(p: Parsed, sub: string): string {
  const out = p.values.out;
  if (typeof out !== "string" || !out) {
    throw new UsageError(`cosmos dataset ${sub}: give the output folder with --out DIR`);
  }
  return out.replace(/\/+$/, "") || "/";
}

/** A shard context, and what disposes of its tokenizer if one was loaded. */
function context(
  p: Parsed,
  open: OpenTokenizer,
  out: string,
): { ctx: ShardContext; dispose: () => Promise<void> } {
  const pad = (p.values.pad as string | undefined) ?? "reflect";
  if (pad !== "reflect" && pad !== "zero") {
    throw new UsageError(`cosmos dataset: --pad must be reflect or zero, got "${pad}"`);
  }
  if (!p.values.model && !p.values.encoder) {
    throw new UsageError("cosmos dataset: give --model NAME or --encoder FILE");
  }
  if (p.values.metrics === true && !p.values.model && !p.values.decoder) {
    throw new UsageError("cosmos dataset: --metrics decodes the tokens; give --decoder FILE too");
  }
  let tok: Promise<Tokenizer> | null = null;
  const dispose = async () => {
    const t = await tok?.catch(() => null);
    await t?.dispose();
  };
  const ctx: ShardContext = {
    out,
    tokenizer: () =>
      tok ??= open(p.values).then(async (t) => {
        try {
          await ensureModel(out, t.model);
        } catch (err) {
          await t.dispose();
          throw err;
        }
        return t;
      }),
    pad: pad as PadMode,
    maxInputBytes: p.values["max-input-bytes"] === undefined
      ? DEFAULT_MAX_INPUT_BYTES
      : intOption(p.values, "max-input-bytes", 0, "dataset"),
    retryFailed: p.values["retry-failed"] === true,
    metrics: p.values.metrics === true,
    log: (line) => console.error(line),
  };
  return { ctx, dispose };
}

const rate = (n: number, s: number) => (s > 0 ? n / s : 0).toFixed(2);

async function tokenize(p: Parsed, open: OpenTokenizer): Promise<number> {
  const manifest = p.positionals[1];
  if (!manifest) throw new UsageError("cosmos dataset tokenize: give the MANIFEST");
  const out = outDir(p, "tokenize");
  const shardSize = intOption(p.values, "shard-size", DEFAULT_SHARD_SIZE, "dataset");
  const slot = taskSlot(p.values.shard as string | undefined, p.values.tasks as string | undefined);
  const { ctx, dispose } = context(p, open, out);
  const items = await readManifest(manifest);
  await ensurePlan(out, planOf(items, shardSize));
  const mine = shardsOf(planShards(items, shardSize), slot);
  console.error(
    `task ${slot.index}/${slot.count} (${slot.from}): ${mine.length} of ${
      Math.ceil(items.length / shardSize)
    } shards`,
  );
  const started = performance.now();
  let tokenized = 0, failed = 0;
  try {
    for (const shard of mine) {
      const r = await runShard(ctx, shard);
      console.error(shardLine(r));
      tokenized += r.tokenized;
      failed += r.failed;
    }
  } finally {
    await dispose();
  }
  const secs = (performance.now() - started) / 1000;
  console.error(
    `task ${slot.index}/${slot.count}: ${tokenized} tokenized, ${failed} failed in ${
      secs.toFixed(1)
    } s, ${rate(tokenized + failed, secs)} items/s`,
  );
  return failed ? 1 : 0;
}

async function enqueue(p: Parsed): Promise<number> {
  const manifest = p.positionals[1];
  if (!manifest) throw new UsageError("cosmos dataset enqueue: give the MANIFEST");
  const out = outDir(p, "enqueue");
  const queueUrl = p.values.queue as string | undefined;
  if (!queueUrl) {
    throw new UsageError("cosmos dataset enqueue: give --queue redis://HOST:PORT/NAME");
  }
  const address = parseQueueUrl(queueUrl);
  const shardSize = intOption(p.values, "shard-size", DEFAULT_SHARD_SIZE, "dataset");
  const items = await readManifest(manifest);
  await ensurePlan(out, planOf(items, shardSize));
  const todo = [];
  for (const s of planShards(items, shardSize)) {
    if (!await verifyShard(out, s.index, s.items)) todo.push(s);
  }
  const queue = await ShardQueue.open(address, `enqueue-${hostname()}-${Deno.pid}`);
  try {
    // Enqueued twice, a shard could be worked on by two workers at once: wasted work.
    const st = await queue.stats();
    const held = (st.waiting ?? 0) + st.pending;
    if (held > 0) {
      throw new Error(
        `The queue "${address.stream}" still holds ${held} shards (${
          st.waiting ?? "?"
        } waiting, ${st.pending} held by workers); let the workers drain it (cosmos dataset status ${out} --queue ...) or use another queue name`,
      );
    }
    // Dead letters of a run before name shards that are enqueued again now (not complete).
    const cleared = await queue.clearDeadLetters();
    if (cleared) console.error(`cleared ${cleared} dead-lettered shards of the run before`);
    await queue.enqueue(todo);
  } finally {
    queue.close();
  }
  console.error(
    `enqueued ${todo.length} shards (${
      todo.reduce((a, s) => a + s.items.length, 0)
    } items) on ${address.stream}`,
  );
  return 0;
}

async function work(p: Parsed, open: OpenTokenizer): Promise<number> {
  const out = outDir(p, "work");
  const queueUrl = p.values.queue as string | undefined;
  if (!queueUrl) throw new UsageError("cosmos dataset work: give --queue redis://HOST:PORT/NAME");
  const address = parseQueueUrl(queueUrl);
  const visibility = intOption(p.values, "visibility", 300, "dataset");
  const maxDeliveries = intOption(p.values, "max-deliveries", DEFAULT_MAX_DELIVERIES, "dataset");
  if (!await readPlan(out)) {
    throw new Error(
      `"${out}" has no dataset.json; run cosmos dataset enqueue with this --out first`,
    );
  }
  const { ctx, dispose } = context(p, open, out);
  const consumer = `${hostname()}-${Deno.pid}`;
  const queue = await ShardQueue.open(address, consumer);
  let summary;
  try {
    summary = await workQueue(queue, ctx, {
      visibilityMs: visibility * 1000,
      wait: p.values.wait === true,
      maxDeliveries,
    });
  } finally {
    queue.close();
    await dispose();
  }
  const n = summary.tokenized + summary.failed;
  console.error(
    `worker ${consumer}: ${summary.shards} shards, ${summary.tokenized} tokenized, ${summary.failed} failed${
      summary.deadLettered ? `, ${summary.deadLettered} shards dead-lettered` : ""
    } in ${summary.seconds.toFixed(1)} s, ${rate(n, summary.seconds)} items/s`,
  );
  return summary.failed || summary.errors || summary.deadLettered ? 1 : 0;
}

async function status(p: Parsed): Promise<number> {
  const dir = p.positionals[1] ?? p.values.out as string | undefined;
  if (!dir) throw new UsageError("cosmos dataset status: give the dataset folder DIR");
  const st = await datasetStatus(dir.replace(/\/+$/, "") || "/", p.values.verify === true);
  let queue = null;
  const address = typeof p.values.queue === "string" ? parseQueueUrl(p.values.queue) : null;
  if (address) {
    const q = await ShardQueue.open(address, `status-${Deno.pid}`);
    try {
      queue = await q.stats();
    } finally {
      q.close();
    }
  }
  if (p.values.json === true) {
    console.log(JSON.stringify({ ...st, ...(queue ? { queue } : {}) }));
  } else {
    console.log(formatStatus(st, p.values.all === true));
    if (queue && address) {
      const busy = queue.consumers.filter((c) => c.pending > 0);
      console.log(
        `queue: ${queue.waiting ?? "?"} shards waiting, ${queue.pending} held by workers (${
          busy.map((c) => `${c.name} silent ${(c.idleMs / 1000).toFixed(0)} s`).join(", ") ||
          "none"
        }), ${queue.consumers.length} workers seen, ${queue.deadLettered} shards dead-lettered`,
      );
      const dead = `${address.stream}:dead`;
      for (const d of queue.dead) {
        console.log(
          d.shard < 0
            ? `dead-lettered: ${d.entry} of ${dead} is not a shard cosmos put there; remove it with XDEL`
            : `dead-lettered: ${
              shardName(d.shard)
            } (message ${d.id}, ${d.deliveries} deliveries): ${d.error}`,
        );
      }
    }
  }
  return st.missing === 0 && st.failed === 0 ? 0 : 1;
}

/** Runs `cosmos dataset SUB ...`. */
export async function datasetCommand(p: Parsed, open: OpenTokenizer): Promise<number> {
  const sub = p.positionals[0];
  switch (sub) {
    case "tokenize":
      return await tokenize(p, open);
    case "enqueue":
      return await enqueue(p);
    case "work":
      return await work(p, open);
    case "status":
      return await status(p);
    default:
      throw new UsageError(
        `cosmos dataset: unknown subcommand "${sub}"; use tokenize, enqueue, work or status`,
      );
  }
}
