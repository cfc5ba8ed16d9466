/**
 * Decode a token file written by `cosmos encode` (or examples/encode_image.ts) back to pixels:
 * an image to a PNG, a video's windows one at a time through `tok.decodeStream` to numbered PNG
 * frames (no ffmpeg needed), each cropped back to the original size.
 *
 *   deno run -A examples/decode_tokens.ts photo.tokens.safetensors --decoder decoder.safetensors
 *   deno run -A examples/decode_tokens.ts clip.safetensors --model Cosmos-0.1-Tokenizer-DV4x8x8
 */

import { parseArgs } from "node:util";
import { loadTokenizer } from "../mod.ts";
import { encodeImage } from "../src/media/image.ts";
import { cropImage } from "../src/media/pad.ts";
import { tensorToFrames } from "../src/media/tensor.ts";
import { readTokenFile } from "../src/cli/tokens.ts";
import { sliceTime } from "../src/media/windows.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { model: { type: "string" }, decoder: { type: "string" } },
  allowPositionals: true,
});
const path = positionals[0];
if (!path || (!values.model && !values.decoder)) {
  console.error("usage: decode_tokens.ts TOKENS.safetensors (--model NAME | --decoder FILE)");
  Deno.exit(2);
}

const { info, tokens } = readTokenFile(await Deno.readFile(path), path);
const tok = await loadTokenizer({
  model: values.model,
  decoder: values.decoder,
  // The token file records the compression, which a video decoder's weights do not show.
  compression: { spatial: info.spatialCompression, temporal: info.temporalCompression },
});
const stem = path.replace(/\.safetensors$/, "");

if (info.kind === "image") {
  const image = cropImage(tensorToFrames(await tok.decode(tokens))[0], info.crop);
  await Deno.writeFile(`${stem}.png`, encodeImage(image, "png"));
  console.log(`wrote ${stem}.png (${image.width}x${image.height})`);
} else {
  // Latent frames per window: a window of 1 + k x tc frames became 1 + k latent frames.
  const axis = info.discrete ? 1 : 2;
  const step = 1 + (info.window! - 1) / info.temporalCompression;
  const total = tokens.shape[axis];
  const windows = function* () {
    for (let t = 0; t < total; t += step) {
      yield sliceTime(tokens, t, Math.min(total, t + step), axis);
    }
  };
  await Deno.mkdir(`${stem}_frames`, { recursive: true });
  let n = 0, t = 0;
  for await (const clip of tok.decodeStream(windows())) {
    // The last window was padded in time; drop those frames too.
    t += step;
    const last = t >= total;
    const [before, after] = last ? info.lastWindowPad! : [0, 0];
    const frames = tensorToFrames(clip).slice(before, clip.shape[2] - after);
    for (const f of frames) {
      const name = `${stem}_frames/${String(n++).padStart(5, "0")}.png`;
      await Deno.writeFile(name, encodeImage(cropImage(f, info.crop), "png"));
    }
  }
  console.log(`wrote ${n} frames to ${stem}_frames/`);
}
await tok.dispose();
