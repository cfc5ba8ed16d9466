/**
 * A small HTTP tokenization server: one model shared by every request, a bounded queue, limits
 * on upload size, resolution and frame count. See src/server/tokenize.ts for the JSON answered.
 *
 *   deno run -A examples/server.ts --model Cosmos-0.1-Tokenizer-DI8x8 [--port 8000]
 *   deno run -A examples/server.ts --encoder enc.safetensors [--decoder ...] [--model DV4x8x8]
 *   curl --data-binary @cat.png http://127.0.0.1:8000/tokenize
 *   curl --data-binary @clip.mp4 http://127.0.0.1:8000/tokenize     # a video model, ffmpeg
 */

import { parseArgs } from "node:util";
import { loadTokenizer } from "../mod.ts";
import { createTokenizeHandler, DEFAULT_LIMITS } from "../src/server/tokenize.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string" },
    encoder: { type: "string" },
    decoder: { type: "string" },
    host: { type: "string", default: "127.0.0.1" },
    port: { type: "string", default: "8000" },
    "max-bytes": { type: "string", default: String(DEFAULT_LIMITS.maxBytes) },
    "max-side": { type: "string", default: String(DEFAULT_LIMITS.maxSide) },
    "max-frames": { type: "string", default: String(DEFAULT_LIMITS.maxFrames) },
    "max-queue": { type: "string", default: String(DEFAULT_LIMITS.maxQueue) },
  },
});
if (!values.model && !values.encoder) {
  console.error(
    "usage: examples/server.ts (--model NAME | --encoder FILE [--model NAME]) [--port N]",
  );
  Deno.exit(2);
}

// The encoder is all tokenizing needs; a video model's windows are the reference CLI's 17 frames.
const tok = await loadTokenizer({
  model: values.model,
  encoder: values.encoder,
  decoder: values.decoder,
  window: 17,
});
const handler = createTokenizeHandler(tok, {
  maxBytes: Number(values["max-bytes"]),
  maxSide: Number(values["max-side"]),
  maxFrames: Number(values["max-frames"]),
  maxQueue: Number(values["max-queue"]),
});
const server = Deno.serve({ hostname: values.host, port: Number(values.port) }, handler);
console.log(`${tok.model} on ${tok.backend}: POST images or videos to /tokenize`);
Deno.addSignalListener("SIGINT", async () => {
  await server.shutdown();
  await tok.dispose();
  Deno.exit(0);
});
