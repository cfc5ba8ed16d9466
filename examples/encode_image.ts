/**
 * Encode one image to tokens with the library, the way `cosmos encode` does it.
 *
 *   deno run -A examples/encode_image.ts photo.png --model Cosmos-0.1-Tokenizer-DI8x8
 *   deno run -A examples/encode_image.ts photo.jpg --encoder test/fixtures/CI8x8/encoder.safetensors
 *
 * Writes photo.tokens.safetensors, which `cosmos decode` and examples/decode_tokens.ts read.
 */

import { parseArgs } from "node:util";
import { loadTokenizer } from "../mod.ts";
import { decodeImage } from "../src/media/image.ts";
import { padImage } from "../src/media/pad.ts";
import { framesToTensor } from "../src/media/tensor.ts";
import { encodeTokenFile } from "../src/cli/tokens.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { model: { type: "string" }, encoder: { type: "string" } },
  allowPositionals: true,
});
const path = positionals[0];
if (!path || (!values.model && !values.encoder)) {
  console.error("usage: encode_image.ts IMAGE (--model NAME | --encoder FILE)");
  Deno.exit(2);
}

const tok = await loadTokenizer({ model: values.model, encoder: values.encoder });
// 0..255 RGB, padded by reflection to a multiple of the model's compression.
const img = decodeImage(await Deno.readFile(path), path);
const { image, crop } = padImage(img, tok.spatialCompression);
const result = await tok.encode(framesToTensor([image], false)); // [1, 3, H, W] in [-1, 1]
const tokens = result.indices ?? result.latent!;
console.log(
  `${path}: ${img.width}x${img.height} -> ${tok.discrete ? "indices" : "latent"} [${tokens.shape}]`,
);

const out = path.replace(/\.[^./]+$/, "") + ".tokens.safetensors";
const info = {
  model: tok.model,
  kind: tok.kind,
  discrete: tok.discrete,
  spatialCompression: tok.spatialCompression,
  temporalCompression: tok.temporalCompression,
  source: path,
  sourceFormat: path.split(".").pop()!.toLowerCase(),
  crop,
};
await Deno.writeFile(out, encodeTokenFile({ info, tokens }));
console.log(`wrote ${out}`);
await tok.dispose();
