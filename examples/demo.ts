/**
 * `deno task demo [--encoder enc.safetensors --decoder dec.safetensors] [--size 256]`
 *
 * Encodes and decodes a synthetic test image. With no weights given it uses the small CI8x8
 * checkpoint that ships in test/fixtures: random weights, so the reconstruction is not a
 * likeness; the pipeline (patcher, network, latent, decoder) is what is shown.
 */

import { loadTokenizer } from "../mod.ts";
import { psnr } from "../src/media/metrics.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

/** Smooth colour gradients with a few discs: content with both low and high frequencies. */
function testImage(h: number, w: number): Float32Array {
  const img = new Float32Array(3 * h * w);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const u = x / w, v = y / h;
      const disc = ((u - 0.5) ** 2 + (v - 0.5) ** 2 < 0.08 ? 0.6 : 0) +
        ((u - 0.2) ** 2 + (v - 0.75) ** 2 < 0.01 ? -0.8 : 0);
      img[y * w + x] = Math.max(-1, Math.min(1, 2 * u - 1 + disc));
      img[h * w + y * w + x] = Math.max(-1, Math.min(1, Math.sin(6 * v) * 0.8 + disc));
      img[2 * h * w + y * w + x] = Math.max(-1, Math.min(1, Math.cos(9 * u * v) - 0.2 - disc));
    }
  }
  return img;
}

const encoder = arg("encoder");
const decoder = arg("decoder");
const size = Number(arg("size") ?? 256);
const bundled = new URL("../test/fixtures/CI8x8/", import.meta.url);
if (!encoder !== !decoder) {
  console.error("Give both --encoder and --decoder, or neither");
  Deno.exit(2);
}
if (!encoder) {
  console.log(
    "No --encoder/--decoder given: using the bundled CI8x8 test checkpoint (random weights,\n" +
      "32 channels). The reconstruction will not resemble the input; what is shown is the\n" +
      "pipeline running end to end on your WebGPU adapter.\n",
  );
}

let t0 = performance.now();
const tok = await loadTokenizer({
  encoder: encoder ?? new URL("encoder.safetensors", bundled),
  decoder: decoder ?? new URL("decoder.safetensors", bundled),
});
console.log(`model     ${tok.model}  (${tok.discrete ? "discrete FSQ" : "continuous"})`);
console.log(`backend   ${tok.backend}`);
console.log(`load      ${(performance.now() - t0).toFixed(0)} ms`);

const input = { data: testImage(size, size), shape: [1, 3, size, size] };
// The first call compiles the pipelines; time the second.
await tok.encode(input);
t0 = performance.now();
const enc = await tok.encode(input);
const encMs = performance.now() - t0;
const tokens = enc.latent ?? enc.indices!;
t0 = performance.now();
const rec = await tok.decode(tokens);
const decMs = performance.now() - t0;
console.log(`input     [${input.shape.join(", ")}]`);
console.log(
  `${enc.latent ? "latent" : "indices"}    [${tokens.shape.join(", ")}]  encode ${
    encMs.toFixed(0)
  } ms`,
);
console.log(`output    [${rec.shape.join(", ")}]  decode ${decMs.toFixed(0)} ms`);
console.log(`PSNR      ${psnr(rec.data, input.data).toFixed(2)} dB`);
await tok.dispose();
