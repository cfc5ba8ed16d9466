/**
 * A small HTTP tokenization server: one model, loaded in a Web Worker so that inference never
 * holds up the thread that answers HTTP, a bounded queue, limits on upload size, upload time,
 * resolution and frame count. See src/server/tokenize.ts and the README for the HTTP API.
 *
 *   deno run -A examples/server.ts --model Cosmos-0.1-Tokenizer-DI8x8 [--port 8000]
 *   deno run -A examples/server.ts --encoder enc.safetensors [--decoder ...] [--model DV4x8x8]
 *   curl -F file=@cat.png http://127.0.0.1:8000/tokenize           # or --data-binary @cat.png
 *   curl --data-binary @clip.mp4 http://127.0.0.1:8000/tokenize     # a video model, ffmpeg
 *
 * Prints "listening on http://HOST:PORT" once it serves (with --port 0, the port chosen).
 */

import { parseArgs } from "node:util";
import {
  createTokenizeHandler,
  DEFAULT_LIMITS,
  TokenizerWorker,
  type WorkerLoadOptions,
} from "../src/server/tokenize.ts";

const USAGE =
  `usage: examples/server.ts (--model NAME | --encoder FILE [--decoder FILE] [--model NAME])
  [--backend auto|webgpu|wasm] [--threads N] [--host 127.0.0.1] [--port 8000] [--cors ORIGIN]
  [--max-bytes N] [--max-side N] [--max-frames N] [--max-queue N] [--read-timeout MS]
  [--max-buffered N]`;

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  Deno.exit(2);
}

let values;
try {
  ({ values } = parseArgs({
    args: Deno.args,
    options: {
      model: { type: "string" },
      encoder: { type: "string" },
      decoder: { type: "string" },
      backend: { type: "string", default: "auto" },
      threads: { type: "string" },
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "8000" },
      cors: { type: "string" },
      "max-bytes": { type: "string", default: String(DEFAULT_LIMITS.maxBytes) },
      "max-side": { type: "string", default: String(DEFAULT_LIMITS.maxSide) },
      "max-frames": { type: "string", default: String(DEFAULT_LIMITS.maxFrames) },
      "max-queue": { type: "string", default: String(DEFAULT_LIMITS.maxQueue) },
      "read-timeout": { type: "string", default: String(DEFAULT_LIMITS.readTimeoutMs) },
      "max-buffered": { type: "string" },
    },
  }));
} catch (err) {
  fail((err as Error).message);
}
if (!values.model && !values.encoder) fail("Give --model or --encoder");
const backend = values.backend;
if (backend !== "auto" && backend !== "webgpu" && backend !== "wasm") {
  fail(`Unknown --backend "${backend}": use auto, webgpu or wasm`);
}
/** A flag's value as a whole number (port 0 included), or a usage error. */
function count(flag: string, value: string | undefined, min = 1): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isSafeInteger(n) || n < min) fail(`--${flag} must be a whole number >= ${min}`);
  return n;
}

// The encoder is all tokenizing needs; a video model's windows are the reference CLI's 17.
const load: WorkerLoadOptions = {
  model: values.model,
  encoder: values.encoder,
  decoder: values.decoder,
  backend,
  threads: count("threads", values.threads),
  window: 17,
};
let tok: TokenizerWorker;
try {
  tok = await TokenizerWorker.start(load);
} catch (err) {
  console.error((err as Error).message);
  Deno.exit(1);
}
let handler;
try {
  handler = createTokenizeHandler(tok, {
    maxBytes: count("max-bytes", values["max-bytes"]),
    maxSide: count("max-side", values["max-side"]),
    maxFrames: count("max-frames", values["max-frames"]),
    maxQueue: count("max-queue", values["max-queue"]),
    readTimeoutMs: count("read-timeout", values["read-timeout"]),
    maxBufferedBytes: count("max-buffered", values["max-buffered"]),
    cors: values.cors,
  });
} catch (err) {
  await tok.dispose();
  fail((err as Error).message);
}
const server = Deno.serve({
  hostname: values.host,
  port: count("port", values.port, 0),
  onListen({ hostname, port }) {
    console.log(
      `${tok.info.model} on ${tok.info.backend}: listening on http://${hostname}:${port}`,
    );
  },
}, handler);
Deno.addSignalListener("SIGINT", async () => {
  await server.shutdown();
  await tok.dispose();
  Deno.exit(0);
});
