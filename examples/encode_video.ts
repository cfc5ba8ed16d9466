/**
 * Encode a video as ffmpeg decodes it: the frames stream into `tok.encodeStream`, so the video
 * is never whole in memory. Needs ffmpeg on PATH.
 *
 *   deno run -A examples/encode_video.ts clip.mp4 --model Cosmos-0.1-Tokenizer-DV4x8x8
 *   deno run -A examples/encode_video.ts clip.mp4 --encoder test/fixtures/DV4x8x8/encoder.safetensors
 *   deno run -A examples/encode_video.ts clip.mp4 --model ... --window 17
 *
 * By default the tokenizer has no `window`: the whole clip streams exactly, each latent frame
 * out as soon as its frames are in, equal to encoding the clip in one pass (memory flat in its
 * length). With `--window N`, the reference CLI's independent windows of N frames, each
 * restarting the causal context. Either way the clip (or the last window) must hold
 * 1 + k x (temporal compression) frames: it is completed here by repeating the last frame, the
 * count being known only once ffmpeg is done (`cosmos encode` does the same for a whole clip,
 * pads a short last window on both sides as the reference does, and writes a token file).
 */

import { parseArgs } from "node:util";
import { loadTokenizer } from "../mod.ts";
import { padImage } from "../src/media/pad.ts";
import { framesToTensor } from "../src/media/tensor.ts";
import { probeVideo, readVideoFrames } from "../src/media/video.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: {
    model: { type: "string" },
    encoder: { type: "string" },
    window: { type: "string" },
  },
  allowPositionals: true,
});
const path = positionals[0];
if (!path || (!values.model && !values.encoder)) {
  console.error("usage: encode_video.ts VIDEO (--model NAME | --encoder FILE) [--window N]");
  Deno.exit(2);
}

const tok = await loadTokenizer({
  model: values.model,
  encoder: values.encoder,
  window: values.window === undefined ? undefined : Number(values.window),
});
const info = await probeVideo(path);
console.log(
  `${path}: ${info.width}x${info.height}, ${info.frames ?? "?"} frames at ${info.fps} fps`,
);

/** Frames as [1, 3, H, W] tensors in [-1, 1], padded in space to the model's multiple. */
async function* frames() {
  let n = 0, last = null;
  for await (const frame of readVideoFrames(path, info)) {
    last = framesToTensor([padImage(frame, tok.spatialCompression).image], false);
    n++;
    yield last;
  }
  // Frames in what must hold 1 + k x tc: the last window, or the whole clip.
  const tc = tok.temporalCompression, inLast = tok.window ? n % tok.window || tok.window : n;
  for (let i = 0; i < (tc - ((inLast - 1) % tc)) % tc; i++) yield last!;
}

// Chunks are windows with the window option, else latent frames.
const unit = tok.window ? "window" : "latent frame";
for await (const chunk of tok.encodeStream(frames())) {
  const tokens = chunk.indices ?? chunk.latent!;
  console.log(`${unit} ${chunk.window}: frames [${chunk.frames}) -> [${tokens.shape}]`);
}
await tok.dispose();
