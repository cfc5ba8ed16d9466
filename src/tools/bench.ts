/**
 * `deno task bench [--sizes 256,512] [--variant CI8x8] [--repeats 1]`
 *
 * Milliseconds per image for encode and decode of an official-width image tokenizer (channels
 * 128, random weights) and GFLOP/s per kernel family from timestamp queries, each beside the
 * adapter's ceiling measured in the same run: the best GFLOP/s of our tiled matmul over a few
 * tile shapes on a large square problem.
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
import { convParams, normParams } from "../nn/params.ts";

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
console.log(`model     ${variant.name}, official width (channels 128), random weights`);

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

const arch = officialImageArchitecture(variant.discrete, variant.spatialCompression);
const ops = await WebGpuOps.create();
const tok = await loadTokenizer({
  encoder: randomCheckpoint(imageEncoderShapes(arch), 1),
  decoder: randomCheckpoint(imageDecoderShapes(arch), 2),
  ops,
});
console.log(
  `conv tiles ${JSON.stringify(ops.tiles)} (matmul ceiling tiles ${JSON.stringify(ceilingTiles)})`,
);

for (const size of sizes) {
  const input = { data: new Float32Array(3 * size * size), shape: [1, 3, size, size] };
  for (let i = 0; i < input.data.length; i++) input.data[i] = Math.sin(i * 0.001) * 0.9;
  const enc0 = await tok.encode(input); // compiles pipelines
  const tokens = enc0.latent ?? enc0.indices!;
  await tok.decode(tokens);
  let encMs = Infinity, decMs = Infinity;
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
  const peak = ops.pool.stats().peakAllocated / 2 ** 20;
  console.log(
    `${size}x${size}  encode ${encMs.toFixed(1)} ms/image  decode ${
      decMs.toFixed(1)
    } ms/image  peak GPU pool ${peak.toFixed(0)} MiB`,
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
await tok.dispose();
ops.destroy();
