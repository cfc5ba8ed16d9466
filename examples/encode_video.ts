/**
 * Encode a video window by window as ffmpeg decodes it: the frames stream into
 * `tok.encodeStream`, which yields each window's tokens as soon as its frames are in, so memory
 * stays that of one window however long the video. Needs ffmpeg on PATH.
 *
 *   deno run -A examples/encode_video.ts clip.mp4 --model Cosmos-0.1-Tokenizer-DV4x8x8
 *   deno run -A examples/encode_video.ts clip.mp4 --encoder test/fixtures/DV4x8x8/encoder.safetensors
 *
 * Every window, the last one too, must hold 1 + k x (temporal compression) frames: a short last
 * window is completed here by repeating the last frame (`cosmos encode` pads on both sides as the
 * reference does, and writes a token file).
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
    window: { type: "string", default: "17" },
  },
  allowPositionals: true,
});
const path = positionals[0];
if (!path || (!values.model && !values.encoder)) {
  console.error("usage: encode_video.ts VIDEO (--model NAME | --encoder FILE) [--window 17]");
  Deno.exit(2);
}

const tok = await loadTokenizer({
  model: values.model,
  encoder: values.encoder,
  window: Number(values.window),
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
  const tc = tok.temporalCompression, inLast = n % tok.streamWindow || tok.streamWindow;
  for (let i = 0; i < (tc - ((inLast - 1) % tc)) % tc; i++) yield last!;
}

for await (const chunk of tok.encodeStream(frames())) {
  const tokens = chunk.indices ?? chunk.latent!;
  console.log(`window ${chunk.window}: frames [${chunk.frames}) -> [${tokens.shape}]`);
}
await tok.dispose();
