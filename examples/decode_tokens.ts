/**
 * Decode a token file written by `cosmos encode` (or examples/encode_image.ts) back to pixels:
 * an image to a PNG, a video to numbered PNG frames (no ffmpeg needed) as they are decoded, each
 * cropped back to the original size: a clip encoded whole (the default) one latent frame at a
 * time through `tok.decodeFrames`, exactly; one encoded in windows (`--window N`) window by
 * window, each on its own as it was encoded.
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
  const axis = info.discrete ? 1 : 2;
  const total = tokens.shape[axis];
  const [before, after] = info.lastWindowPad ?? [0, 0];
  await Deno.mkdir(`${stem}_frames`, { recursive: true });
  let n = 0;
  const write = async (frames: ReturnType<typeof tensorToFrames>) => {
    for (const f of frames) {
      const name = `${stem}_frames/${String(n++).padStart(5, "0")}.png`;
      await Deno.writeFile(name, encodeImage(cropImage(f, info.crop), "png"));
    }
  };
  if (info.window == null) {
    // Encoded whole (cosmos encode's default): one latent frame at a time through
    // decodeFrames, exactly as the whole latent; the copies of the last frame that were added
    // at the end to make 1 + k x tc frames are dropped.
    const keep = 1 + (total - 1) * info.temporalCompression - after;
    const latentFrames = function* () {
      for (let t = 0; t < total; t++) yield sliceTime(tokens, t, t + 1, axis);
    };
    for await (const clip of tok.decodeFrames(latentFrames())) {
      await write(tensorToFrames(clip).slice(0, Math.max(0, keep - n)));
    }
  } else {
    // Independent windows (--window N): a window of 1 + k x tc frames became 1 + k latent
    // frames, each decoded on its own; the last window was padded in time, dropped here too.
    const step = 1 + (info.window - 1) / info.temporalCompression;
    for (let t = 0; t < total; t += step) {
      const end = Math.min(total, t + step);
      const clip = await tok.decode(sliceTime(tokens, t, end, axis));
      const [b, a] = end === total ? [before, after] : [0, 0];
      await write(tensorToFrames(clip).slice(b, clip.shape[2] - a));
    }
  }
  console.log(`wrote ${n} frames to ${stem}_frames/`);
}
await tok.dispose();
