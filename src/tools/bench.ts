/**
 * `deno task bench [--variant CI8x8] [--sizes 256,512] [--video-variant CV4x8x8]
 *  [--video-sizes 128] [--window 9] [--repeats 1]
 *  [--cpu-only|--kernels-only|--image-only|--video-only]`
 *
 * Milliseconds per image (and per video frame, one window at a time) for encode and decode of
 * official-width tokenizers (channels 128, random weights), peak GPU memory, and GFLOP/s per
 * kernel family from timestamp queries, each beside the adapter's ceiling measured in the same
 * run: the best GFLOP/s of our tiled matmul over a few tile shapes on a large square problem.
 * First, the WebAssembly Haar (MB/s) and FSQ (million codes/s) against plain TypeScript loops,
 * and the WebAssembly SGEMM and Winograd convolution (single-thread GFLOP/s, plain and relaxed
 * SIMD).
 * @module
 */

import { type GemmTiles, WebGpuOps } from "../backends/webgpu/backend.ts";
import { loadTokenizer } from "../tokenizer.ts";
import {
  imageDecoderShapes,
  imageEncoderShapes,
  officialImageArchitecture,
  randomCheckpoint,
} from "../models/image_spec.ts";
import { findVariant } from "../models/variants.ts";
import {
  officialVideoArchitecture,
  videoDecoderShapes,
  videoEncoderShapes,
} from "../models/video_spec.ts";
import type { Tokenizer } from "../tokenizer.ts";
import type { HostTensor } from "../types.ts";
import { convParams, normParams } from "../nn/params.ts";
import { benchCpu } from "../cpu/bench.ts";

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

const TILE_CANDIDATES: GemmTiles[] = [
  { WG_M: 8, WG_N: 8, TM: 4, TN: 4, BK: 16 },
  { WG_M: 16, WG_N: 16, TM: 4, TN: 4, BK: 16 },
  { WG_M: 8, WG_N: 16, TM: 4, TN: 4, BK: 8 },
  { WG_M: 16, WG_N: 16, TM: 8, TN: 4, BK: 8 },
  { WG_M: 8, WG_N: 8, TM: 8, TN: 8, BK: 8 },
];

/** GFLOP/s of one square matmul of side n with the given tiles (best of `reps`). */
async function matmulGflops(tiles: GemmTiles, n: number, reps: number): Promise<number> {
  const ops = await WebGpuOps.create({ tiles });
  try {
    ops.startProfiling();
    const a = ops.scratch([n, n]), b = ops.scratch([n, n]), c = ops.scratch([n, n]);
    const strides = { a: [0, 0, n, 1], b: [0, 0, n, 1], c: [0, 0, n, 1] } as const;
    let best = 0;
    for (let r = 0; r <= reps; r++) {
      ops.matmul(a, b, c, { M: n, N: n, K: n }, {
        a: [...strides.a],
        b: [...strides.b],
        c: [...strides.c],
      });
      await ops.flush();
      const prof = ops.stopProfiling();
      ops.startProfiling();
      const t = prof.matmul;
      if (r > 0 && t) best = Math.max(best, t.flops / t.ms / 1e6); // first run compiles
    }
    return best;
  } finally {
    ops.destroy();
  }
}

// The WebAssembly CPU kernels need no adapter; they are measured first.
console.log("CPU (WebAssembly) Haar and FSQ against plain TypeScript loops; SGEMM and Winograd:");
for (const line of await benchCpu()) console.log(`  ${line}`);
if (Deno.args.includes("--cpu-only")) Deno.exit(0);
console.log();

const probe = await WebGpuOps.create();
const software = probe.ctx.isSoftware;
const adapter = probe.ctx.adapterName;
const hasTimestamps = probe.ctx.features.has("timestamp-query");
probe.destroy();
if (!hasTimestamps) {
  console.warn("This adapter has no timestamp-query: per-kernel GFLOP/s cannot be measured");
}

const variant = findVariant(arg("variant") ?? "CI8x8");
if (variant.kind !== "image") throw new Error(`The bench runs image variants, not ${variant.name}`);
const sizes = (arg("sizes") ?? (software ? "256" : "256,512,1024")).split(",").map(Number);
const repeats = Number(arg("repeats") ?? 1);
const matmulN = software ? 512 : 4096;

console.log(`adapter   ${adapter}${software ? " (software rasterizer)" : ""}`);

// Ceiling: our best tiled matmul on this adapter.
let ceiling = 0, ceilingTiles = TILE_CANDIDATES[0];
for (const tiles of TILE_CANDIDATES) {
  const g = await matmulGflops(tiles, matmulN, software ? 1 : 3);
  console.log(
    `matmul    ${matmulN}^3  tiles ${tiles.WG_M}x${tiles.WG_N} threads, ${tiles.TM}x${tiles.TN}/thread, BK ${tiles.BK}: ${
      g.toFixed(1)
    } GFLOP/s`,
  );
  if (g > ceiling) [ceiling, ceilingTiles] = [g, tiles];
}
console.log(`ceiling   ${ceiling.toFixed(1)} GFLOP/s (best tiled matmul above)\n`);

// Representative convolutions of the official-width networks, alone, with the default tiles.
{
  const kops = await WebGpuOps.create();
  const convCases: [string, number[], number, number, boolean][] = [
    ["3x3 256->256 @64x64, fused norm+SiLU", [1, 256, 64, 64], 256, 3, true],
    ["3x3 512->512 @32x32", [1, 512, 32, 32], 512, 3, false],
    ["1x1 256->512 @64x64", [1, 256, 64, 64], 512, 1, false],
  ];
  for (const [label, shape, cout, k, fused] of convCases) {
    const cin = shape[1];
    const w = convParams(
      kops,
      new Float32Array(cout * cin * k * k),
      [cout, cin, k, k],
      new Float32Array(cout),
    );
    const x = kops.upload({ data: new Float32Array(shape.reduce((a, b) => a * b)), shape });
    const norm = fused
      ? {
        stats: kops.groupNormStats(x, { groups: 32, eps: 1e-6 }),
        weights: normParams(kops, new Float32Array(cin), new Float32Array(cin), 32),
        silu: true,
      }
      : undefined;
    let best = 0;
    for (let r = 0; r < 3; r++) {
      kops.startProfiling();
      kops.release(kops.conv(x, w, { norm }));
      await kops.flush();
      const prof = kops.stopProfiling();
      const f = prof[k === 1 ? "conv1x1" : "conv3x3"];
      if (r > 0 && f) best = Math.max(best, f.flops / f.ms / 1e6);
    }
    console.log(
      `conv      ${label.padEnd(38)} ${best.toFixed(1).padStart(7)} GFLOP/s  ${
        (100 * best / ceiling).toFixed(0).padStart(3)
      }% of ceiling`,
    );
  }
  kops.destroy();
}
if (Deno.args.includes("--kernels-only")) Deno.exit(0);
console.log();

const ops = await WebGpuOps.create();
console.log(
  `conv tiles ${JSON.stringify(ops.tiles)} (matmul ceiling tiles ${JSON.stringify(ceilingTiles)})`,
);

/** Smooth test content: a sum of sinusoids in [-0.9, 0.9]. */
function content(shape: number[]): HostTensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.001) * 0.9;
  return { data, shape };
}

/** Times encode and decode of one input; per-kernel-family GFLOP/s from timestamps. */
async function benchInput(
  tok: Tokenizer,
  label: string,
  input: HostTensor,
  perUnit: number,
  unit: string,
) {
  const enc0 = await tok.encode(input); // compiles pipelines
  const tokens = enc0.latent ?? enc0.indices!;
  await tok.decode(tokens);
  let encMs = Infinity, decMs = Infinity;
  const weights = ops.pool.stats().inUse;
  ops.pool.resetPeak();
  const families: Record<string, { ms: number; flops: number }> = {};
  for (let r = 0; r < repeats; r++) {
    ops.startProfiling();
    let t0 = performance.now();
    await tok.encode(input);
    encMs = Math.min(encMs, performance.now() - t0);
    t0 = performance.now();
    await tok.decode(tokens);
    decMs = Math.min(decMs, performance.now() - t0);
    const prof = ops.stopProfiling();
    if (r === repeats - 1) {
      for (const [k, v] of Object.entries(prof)) families[k] = { ms: v.ms, flops: v.flops };
    }
  }
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  const activations = ops.pool.stats().peakInUse - weights;
  console.log(
    `${label}  encode ${(encMs / perUnit).toFixed(1)} ms/${unit}  decode ${
      (decMs / perUnit).toFixed(1)
    } ms/${unit}  peak GPU memory ${mib(activations)} MiB activations + ${
      mib(weights)
    } MiB weights`,
  );
  const total = Object.values(families).reduce((a, f) => a + f.ms, 0);
  for (const [name, f] of Object.entries(families).sort((a, b) => b[1].ms - a[1].ms)) {
    const gflops = f.flops ? f.flops / f.ms / 1e6 : 0;
    console.log(
      `  ${name.padEnd(10)} ${f.ms.toFixed(1).padStart(9)} ms  ${
        (100 * f.ms / total).toFixed(0).padStart(3)
      }% of GPU time` +
        (f.flops
          ? `  ${gflops.toFixed(1).padStart(7)} GFLOP/s  ${
            (100 * gflops / ceiling).toFixed(0).padStart(3)
          }% of ceiling`
          : ""),
    );
  }
}

if (!Deno.args.includes("--video-only")) {
  const arch = officialImageArchitecture(variant.discrete, variant.spatialCompression);
  const tok = await loadTokenizer({
    encoder: randomCheckpoint(imageEncoderShapes(arch), 1),
    decoder: randomCheckpoint(imageDecoderShapes(arch), 2),
    ops,
  });
  console.log(`\n${variant.name}, official width (channels 128), random weights`);
  for (const size of sizes) {
    await benchInput(tok, `${size}x${size}`, content([1, 3, size, size]), 1, "image");
  }
  await tok.dispose();
}

if (!Deno.args.includes("--image-only")) {
  const vspec = findVariant(arg("video-variant") ?? "CV4x8x8");
  const arch = officialVideoArchitecture(
    vspec.discrete,
    vspec.spatialCompression,
    vspec.temporalCompression,
  );
  const window = Number(arg("window") ?? 1 + 2 * vspec.temporalCompression);
  const tok = await loadTokenizer({
    encoder: randomCheckpoint(videoEncoderShapes(arch), 3),
    decoder: randomCheckpoint(videoDecoderShapes(arch), 4),
    model: vspec.name,
    window,
    ops,
  });
  console.log(
    `\n${vspec.name}, official width (channels 128), random weights, windows of ${window} frames`,
  );
  const videoSizes = (arg("video-sizes") ?? (software ? "128" : "256,512")).split(",").map(Number);
  for (const size of videoSizes) {
    await benchInput(
      tok,
      `${window}x${size}x${size}`,
      content([1, 3, window, size, size]),
      window,
      "frame",
    );
  }
  await tok.dispose();
}
ops.destroy();
