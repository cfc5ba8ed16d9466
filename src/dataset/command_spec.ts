/**
 * The `cosmos dataset` command's options and help (its runner is command.ts).
 * @module
 */

import type { CommandSpec } from "../cli/args.ts";

/** `cosmos dataset`: tokenize | enqueue | work | status. */
export const DATASET_SPEC: CommandSpec = {
  name: "dataset",
  summary: "tokenize whole datasets to WebDataset shards: Slurm arrays, Indexed Jobs, a queue",
  usage: "tokenize MANIFEST | enqueue MANIFEST | work | status DIR  [options]",
  description: [
    "  dataset tokenize MANIFEST --out DIR (--model NAME | --encoder FILE) [--shard i/N]",
    "  dataset enqueue MANIFEST --out DIR --queue redis://HOST:PORT/NAME",
    "  dataset work --out DIR --queue redis://HOST:PORT/NAME (--model NAME | --encoder FILE)",
    "  dataset status DIR [--queue redis://HOST:PORT/NAME] [--verify] [--json]",
    "",
    'MANIFEST: a text file of paths or URLs (one a line), a JSONL file ({"path", "key"} a',
    "line), a glob ('clips/*.mp4'), or WebDataset .tar shards (a .tar, a glob or a list of them).",
    "DIR gets shard-NNNNNN.tar (KEY.json and KEY.tokens.safetensors or KEY.latent.safetensors)",
    "and shard-NNNNNN.index.json (keys, offsets, sha256, failures) for each --shard-size items.",
    "",
    "tokenize writes the shards of task i of N: --shard i/N, else SLURM_ARRAY_TASK_ID of a",
    "Slurm array, else JOB_COMPLETION_INDEX of a Kubernetes Indexed Job (with --tasks N).",
    "A re-run skips what is complete and verified: resubmit a killed task as it was (only",
    "some ids of a Slurm array: add --tasks N, the full array's size).",
    "enqueue puts the shards in a Redis stream; each worker takes one, writes it, and",
    "acknowledges it; a dead worker's shard goes to another after --visibility seconds.",
    "A shard delivered --max-deliveries times unfinished (it fails, or kills its worker, each",
    "time) is dead-lettered: moved to the stream NAME:dead with its last error, acknowledged;",
    "status --queue lists them, and enqueue puts their shards back once the cause is fixed.",
    "Videos stream through the tokenizer whole (exact); with a video model, images are",
    "one-frame clips. A failed item is recorded with its error; the others still run.",
    "status exits 0 only when every item is done.",
  ].join("\n"),
  options: {
    out: { type: "string", value: "DIR", help: "output folder (shards, indexes, dataset.json)" },
    model: {
      type: "string",
      short: "m",
      value: "NAME",
      help: "official model (DV4x8x8, nvidia/...), hub repo id or local directory",
    },
    encoder: { type: "string", value: "FILE", help: "encoder checkpoint (.safetensors, .jit)" },
    decoder: { type: "string", value: "FILE", help: "decoder checkpoint, for --metrics" },
    metrics: {
      type: "boolean",
      help: "decode the tokens again and put PSNR and SSIM in each KEY.json (needs the decoder)",
    },
    backend: { type: "string", value: "NAME", help: "auto (default), webgpu or wasm" },
    threads: { type: "string", value: "N", help: "WebAssembly threads (default: every core)" },
    "shard-size": { type: "string", value: "N", help: "items per output shard (default 1000)" },
    shard: { type: "string", value: "i/N", help: "this task's part: shard i of N (from 0)" },
    tasks: {
      type: "string",
      value: "N",
      help: "tasks in all: a Kubernetes Indexed Job's completions, a Slurm array's full size",
    },
    queue: {
      type: "string",
      value: "URL",
      help: "Redis stream of shards: redis://[:PASSWORD@]HOST:PORT/NAME",
    },
    visibility: {
      type: "string",
      value: "S",
      help: "seconds a silent worker keeps its shard before another takes it (default 300)",
    },
    "max-deliveries": {
      type: "string",
      value: "N",
      help: "work: deliveries of a shard before it is dead-lettered (default 3)",
    },
    wait: { type: "boolean", help: "work: wait for more shards when the queue is empty" },
    pad: { type: "string", value: "MODE", help: "reflect (default) or zero" },
    "max-input-bytes": {
      type: "string",
      value: "N",
      help: "largest input file or download (default 4 GiB)",
    },
    "retry-failed": { type: "boolean", help: "run items recorded as failed again" },
    verify: { type: "boolean", help: "status: hash every shard's tar against its index" },
    all: { type: "boolean", help: "status: a line for every shard, complete ones too" },
    json: { type: "boolean", help: "status: the report as one JSON object" },
  },
  minPositionals: 1,
  maxPositionals: 2,
};
