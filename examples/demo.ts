/**
 * `deno task demo [--encoder enc.safetensors --decoder dec.safetensors] [--size 256]
 * [--backend auto|webgpu|wasm]` (`deno task demo -- --help` for this help)
 *
 * Encodes and decodes a synthetic test image. With no weights given it uses the small CI8x8
 * checkpoint that ships in test/fixtures: random weights, so the reconstruction is not a
 * likeness; the pipeline (patcher, network, latent, decoder) is what is shown.
 */

import { parseArgs } from "node:util";
import { loadTokenizer } from "../mod.ts";
import { psnr } from "../src/media/metrics.ts";

const HELP = `deno task demo [options]: encode and decode a synthetic test image

options:
  --encoder FILE   encoder checkpoint (.safetensors, .jit); with --decoder
  --decoder FILE   decoder checkpoint; default: the bundled CI8x8 test checkpoint
  --size N         image side in pixels, a multiple of the model's compression (default 256)
  --backend NAME   auto (default: WebGPU on a GPU, else WebAssembly), webgpu or wasm
  -h, --help       show this help`;

/** The options, or an exit with a message: status 0 for --help, 2 for a mistake. */
function options() {
  // `deno task demo -- --help` passes the "--" on to the script.
  const args = Deno.args[0] === "--" ? Deno.args.slice(1) : Deno.args;
  try {
    const { values } = parseArgs({
      args,
      strict: true,
      options: {
        encoder: { type: "string" },
        decoder: { type: "string" },
        size: { type: "string", default: "256" },
        backend: { type: "string", default: "auto" },
        help: { type: "boolean", short: "h" },
      },
    });
    if (values.help) {
      console.log(HELP);
      Deno.exit(0);
    }
    const size = Number(values.size);
    if (!Number.isInteger(size) || size < 1) throw new Error(`--size must be a positive integer`);
    if (!["auto", "webgpu", "wasm"].includes(values.backend)) {
      throw new Error(`--backend must be auto, webgpu or wasm, got "${values.backend}"`);
    }
    if (!values.encoder !== !values.decoder) {
      throw new Error("give both --encoder and --decoder, or neither");
    }
    return { ...values, size, backend: values.backend as "auto" | "webgpu" | "wasm" };
  } catch (err) {
    console.error(`demo: ${(err as Error).message.split(". To specify")[0]}\n\n${HELP}`);
    Deno.exit(2);
  }
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

const { encoder, decoder, size, backend } = options();
const bundled = new URL("../test/fixtures/CI8x8/", import.meta.url);

let t0 = performance.now();
const tok = await loadTokenizer({
  encoder: encoder ?? new URL("encoder.safetensors", bundled),
  decoder: decoder ?? new URL("decoder.safetensors", bundled),
  backend,
});
// Written once the backend is chosen, so it names the one this run uses.
if (!encoder) {
  console.log(
    "No --encoder/--decoder given: using the bundled CI8x8 test checkpoint (random weights,\n" +
      "32 channels). The reconstruction will not resemble the input; what is shown is the\n" +
      `pipeline running end to end on ${tok.backend}.\n`,
  );
}
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
