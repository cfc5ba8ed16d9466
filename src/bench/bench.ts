/**
 * `deno task bench [--backend webgpu,wasm] [--threads N] [--winograd-cache MiB]
 *  [--variant CI8x8] [--sizes 256,512]
 *  [--video-variant CV4x8x8] [--video-sizes 128] [--window 9] [--stream-frames 17] [--repeats 1]
 *  [--cpu-only|--kernels-only|--image-only|--video-only]`, or
 * `deno task bench --compare [...]` (compare.ts: PyTorch, ONNX Runtime and ours side by side).
 *
 * For each backend: milliseconds per image (and per video frame, one window at a time) for
 * encode and decode of official-width tokenizers (channels 128, random weights), peak memory,
 * and GFLOP/s per kernel family (WebGPU: timestamp queries; WebAssembly: wall time per op),
 * each beside the backend's ceiling measured in the same run: the best GFLOP/s of its matrix
 * product (WebGPU: our tiled matmul over a few tile shapes; WebAssembly: the blocked SGEMM on
 * every thread). For video also the exact stream of a longer clip (`--stream-frames`, default
 * 1 + 4 tc): ms per frame, the peak memory of one step, and the state carried per latent frame.
 * First, the WebAssembly Haar (MB/s) and FSQ (million codes/s) against plain TypeScript loops,
 * and the WebAssembly SGEMM and Winograd convolution (single-thread GFLOP/s, plain and relaxed
 * SIMD).
 * @module
 */

import { type GemmTiles, WebGpuOps } from "../backends/webgpu/backend.ts";
import { WasmOps } from "../backends/wasm/backend.ts";
import type { Backend } from "../backends/ops.ts";
import { probeAdapter } from "../backends/webgpu/device.ts";
import { loadTokenizer } from "../load.ts";
import {
  imageDecoderShapes,
  imageEncoderShapes,
  officialImageArchitecture,
} from "../testing/image_checkpoint.ts";
import { randomCheckpoint } from "../testing/random_weights.ts";
import { findVariant } from "../models/variants.ts";
import {
  officialVideoArchitecture,
  videoDecoderShapes,
  videoEncoderShapes,
} from "../testing/video_checkpoint.ts";
import type { Tokenizer } from "../tokenizer.ts";
import type { HostTensor } from "../types.ts";
import { convParams, normParams } from "../nn/params.ts";
import { benchCpu } from "./cpu.ts";
import { runCompare } from "./compare.ts";

function argOf(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
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

const BACKEND_NAMES = ["webgpu", "wasm"];

/** Runs the benchmark with command-line arguments (as `deno task bench` and `cosmos bench` do). */
export async function runBench(args: string[]): Promise<void> {
  const arg = (name: string) => argOf(args, name);
  if (args.includes("--compare")) {
    await runCompare(args);
    return;
  }
  // The WebAssembly CPU kernels need no adapter; they are measured first.
  console.log("CPU (WebAssembly) Haar and FSQ against plain TypeScript loops; SGEMM and Winograd:");
  for (const line of await benchCpu()) console.log(`  ${line}`);
  if (args.includes("--cpu-only")) return;

  const backends = (arg("backend") ?? BACKEND_NAMES.join(",")).split(",");
  for (const b of backends) {
    if (!BACKEND_NAMES.includes(b)) {
      throw new Error(`Unknown backend "${b}": expected ${BACKEND_NAMES.join(" or ")}`);
    }
  }
  for (const b of backends) {
    console.log();
    if (b === "wasm") {
      await benchWasm(args);
      continue;
    }
    if (!await probeAdapter()) {
      console.log("webgpu: no adapter here, skipped");
      continue;
    }
    await benchWebGpu(args);
  }
}

async function benchWebGpu(args: string[]): Promise<void> {
  const arg = (name: string) => argOf(args, name);
  const probe = await WebGpuOps.create();
  const software = probe.ctx.isSoftware;
  const adapter = probe.ctx.adapterName;
  const hasTimestamps = probe.ctx.features.has("timestamp-query");
  probe.destroy();
  if (!hasTimestamps) {
    console.warn("This adapter has no timestamp-query: per-kernel GFLOP/s cannot be measured");
  }
  const matmulN = software ? 512 : 4096;
  console.log(`WebGPU: adapter ${adapter}${software ? " (software rasterizer)" : ""}`);

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
  const kops = await WebGpuOps.create();
  await benchConvs(kops, ceiling);
  kops.destroy();
  if (args.includes("--kernels-only")) return;
  const ops = await WebGpuOps.create();
  console.log(
    `\nconv tiles ${JSON.stringify(ops.tiles)} (matmul ceiling tiles ${
      JSON.stringify(ceilingTiles)
    })`,
  );
  await benchTokenizers(ops, ceiling, {
    sizes: arg("sizes") ?? (software ? "256" : "256,512,1024"),
    videoSizes: arg("video-sizes") ?? (software ? "128" : "256,512"),
    args,
  });
  ops.destroy();
}

async function benchWasm(args: string[]): Promise<void> {
  const arg = (name: string) => argOf(args, name);
  const threads = arg("threads") === undefined ? undefined : Number(arg("threads"));
  // Without --winograd-cache, the backend's default budget.
  const cacheArg = arg("winograd-cache");
  const cacheMiB = cacheArg === undefined ? 0 : Number(cacheArg);
  const ops = await WasmOps.create({
    threads,
    winogradCacheBytes: cacheArg === undefined ? undefined : cacheMiB * 2 ** 20,
  });
  if (cacheMiB) console.log(`Winograd weight cache: ${cacheMiB} MiB`);
  console.log(`WebAssembly: ${ops.label}`);
  // Ceiling: the blocked SGEMM on every thread, as a 3x3 512->512 conv at 64x64 would be as a
  // plain matrix product (im2col), best of 3.
  const [m, n, k] = [512, 4096, 4608];
  const a = ops.heap.alloc(4 * m * k), b = ops.heap.alloc(4 * k * n), c = ops.heap.alloc(4 * m * n);
  let ceiling = 0;
  for (let r = 0; r < 3; r++) {
    const t0 = performance.now();
    ops.gemm(a, k, 1, b, n, 1, c, n, { M: m, N: n, K: k });
    ceiling = Math.max(ceiling, 2 * m * n * k / (performance.now() - t0) / 1e6);
  }
  [a, b, c].forEach((p) => ops.heap.free(p));
  console.log(`ceiling   ${ceiling.toFixed(1)} GFLOP/s (SGEMM ${m}x${n}x${k} on every thread)\n`);
  await benchConvs(ops, ceiling);
  if (!args.includes("--kernels-only")) {
    await benchTokenizers(ops, ceiling, {
      sizes: arg("sizes") ?? "256",
      videoSizes: arg("video-sizes") ?? "128",
      args,
    });
  }
  ops.destroy();
}

/**
 * Representative convolutions of the official-width networks, alone. GFLOP/s count the direct
 * convolution's multiply-adds, so a Winograd convolution can pass its backend's ceiling.
 */
async function benchConvs(ops: Backend, ceiling: number): Promise<void> {
  const convCases: [string, number[], number, number, boolean][] = [
    ["3x3 256->256 @64x64, fused norm+SiLU", [1, 256, 64, 64], 256, 3, true],
    ["3x3 512->512 @32x32", [1, 512, 32, 32], 512, 3, false],
    ["1x1 256->512 @64x64", [1, 256, 64, 64], 512, 1, false],
  ];
  for (const [label, shape, cout, k, fused] of convCases) {
    const cin = shape[1];
    const w = convParams(
      ops,
      new Float32Array(cout * cin * k * k),
      [cout, cin, k, k],
      new Float32Array(cout),
    );
    const x = ops.upload({ data: new Float32Array(shape.reduce((a, b) => a * b)), shape });
    const norm = fused
      ? {
        stats: ops.groupNormStats(x, { groups: 32, eps: 1e-6 }),
        weights: normParams(ops, new Float32Array(cin), new Float32Array(cin), 32),
        silu: true,
      }
      : undefined;
    let best = 0;
    for (let r = 0; r < 3; r++) {
      ops.startProfiling();
      ops.release(ops.conv(x, w, { norm }));
      await ops.flush();
      const prof = ops.stopProfiling();
      const f = prof[k === 1 ? "conv1x1" : "conv3x3"];
      if (r > 0 && f) best = Math.max(best, f.flops / f.ms / 1e6);
    }
    console.log(
      `conv      ${label.padEnd(38)} ${best.toFixed(1).padStart(7)} GFLOP/s  ${
        (100 * best / ceiling).toFixed(0).padStart(3)
      }% of ceiling`,
    );
    for (const t of [x, w.weight, w.bias, ...(norm ? [norm.stats, norm.weights.gammaBeta] : [])]) {
      ops.release(t);
    }
  }
}

/** Smooth test content: a sum of sinusoids in [-0.9, 0.9]. */
function content(shape: number[]): HostTensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.001) * 0.9;
  return { data, shape };
}

/** Times encode and decode of one input; per-kernel-family GFLOP/s from the profile. */
async function benchInput(
  ops: Backend,
  ceiling: number,
  repeats: number,
  tok: Tokenizer,
  label: string,
  input: HostTensor,
  perUnit: number,
  unit: string,
) {
  const enc0 = await tok.encode(input); // compiles pipelines, warms up the JIT
  const tokens = enc0.latent ?? enc0.indices!;
  await tok.decode(tokens);
  let encMs = Infinity, decMs = Infinity;
  const weights = ops.memoryStats().inUse;
  ops.resetPeak();
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
  const activations = ops.memoryStats().peakInUse - weights;
  console.log(
    `${label}  encode ${(encMs / perUnit).toFixed(1)} ms/${unit}  decode ${
      (decMs / perUnit).toFixed(1)
    } ms/${unit}  (encode+decode ${((encMs + decMs) / perUnit).toFixed(1)} ms/${unit})  ` +
      `peak memory ${mib(activations)} MiB activations + ${mib(weights)} MiB weights`,
  );
  const total = Object.values(families).reduce((a, f) => a + f.ms, 0);
  for (const [name, f] of Object.entries(families).sort((a, b) => b[1].ms - a[1].ms)) {
    const gflops = f.flops ? f.flops / f.ms / 1e6 : 0;
    console.log(
      `  ${name.padEnd(10)} ${f.ms.toFixed(1).padStart(9)} ms  ${
        (100 * f.ms / total).toFixed(0).padStart(3)
      }% of op time` +
        (f.flops
          ? `  ${gflops.toFixed(1).padStart(7)} GFLOP/s  ${
            (100 * gflops / ceiling).toFixed(0).padStart(3)
          }% of ceiling`
          : ""),
    );
  }
}

/**
 * A clip streamed exactly (encodeFrames one frame at a time, then decodeFrames one latent frame
 * at a time): ms per frame, the peak memory of a step beyond the weights (the backend's working
 * memory, then the state parked between steps), and the state carried from step to step per
 * latent frame (the temporal attentions' keys and values: what grows with the clip's length),
 * read between steps.
 */
async function benchStream(ops: Backend, tok: Tokenizer, label: string, input: HostTensor) {
  const frames = input.shape[2], tc = tok.temporalCompression;
  const one = (t: number) => ({
    data: sliceFrame(input, t),
    shape: [1, 3, ...input.shape.slice(3)],
  });
  async function* pieces() {
    for (let t = 0; t < frames; t++) yield one(t);
  }
  const mib = (b: number) => (b / 2 ** 20).toFixed(1);
  const measure = async <T>(run: () => AsyncGenerator<T>) => {
    const weights = ops.memoryStats().inUse;
    const held: number[] = [];
    const items: T[] = [];
    ops.resetPeak();
    const t0 = performance.now();
    for await (const item of run()) {
      items.push(item);
      const m = ops.memoryStats();
      held.push(m.inUse + m.parked - weights);
    }
    const ms = performance.now() - t0;
    const growth = held.length > 2 ? (held[held.length - 1] - held[1]) / (held.length - 2) : 0;
    const m = ops.memoryStats();
    return { items, ms, peak: m.peakInUse - weights, parked: m.peakParked, growth };
  };
  const enc = await measure(() => tok.encodeFrames(pieces()));
  const tokens = enc.items.map((c) => (c.latent ?? c.indices)!);
  const dec = await measure(() => tok.decodeFrames(tokens));
  console.log(
    `${label} streamed (1 + ${(frames - 1) / tc} x ${tc} frames)  encode ${
      (enc.ms / frames).toFixed(1)
    } ms/frame, step peak ${mib(enc.peak)} MiB + parked ${mib(enc.parked)} MiB, carried +${
      mib(enc.growth)
    } MiB per latent frame` +
      `  decode ${(dec.ms / frames).toFixed(1)} ms/frame, step peak ${mib(dec.peak)} MiB + ` +
      `parked ${mib(dec.parked)} MiB, carried +${mib(dec.growth)} MiB per latent frame`,
  );
}

/** Frame `t` of a clip [1, 3, T, H, W]. */
function sliceFrame(x: HostTensor, t: number): Float32Array {
  const [, c, frames, h, w] = x.shape;
  const out = new Float32Array(c * h * w);
  for (let ch = 0; ch < c; ch++) {
    const from = (ch * frames + t) * h * w;
    out.set(x.data.subarray(from, from + h * w) as Float32Array, ch * h * w);
  }
  return out;
}

/** The official-width image and video tokenizers on `ops`. */
async function benchTokenizers(
  ops: Backend,
  ceiling: number,
  plan: { sizes: string; videoSizes: string; args: string[] },
): Promise<void> {
  const args = plan.args;
  const arg = (name: string) => argOf(args, name);
  const repeats = Number(arg("repeats") ?? 1);
  const variant = findVariant(arg("variant") ?? "CI8x8");
  if (variant.kind !== "image") {
    throw new Error(`The bench runs image variants, not ${variant.name}`);
  }
  if (!args.includes("--video-only")) {
    const arch = officialImageArchitecture(variant.discrete, variant.spatialCompression);
    const tok = await loadTokenizer({
      encoder: randomCheckpoint(imageEncoderShapes(arch), 1),
      decoder: randomCheckpoint(imageDecoderShapes(arch), 2),
      backend: ops,
    });
    console.log(
      `\n${variant.name}, official width (channels 128), random weights, on ${ops.label}`,
    );
    for (const size of plan.sizes.split(",").map(Number)) {
      const input = content([1, 3, size, size]);
      await benchInput(ops, ceiling, repeats, tok, `${size}x${size}`, input, 1, "image");
    }
    await tok.dispose();
  }

  if (!args.includes("--image-only")) {
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
      backend: ops,
    });
    console.log(
      `\n${vspec.name}, official width (channels 128), random weights, windows of ${window} frames, on ${ops.label}`,
    );
    for (const size of plan.videoSizes.split(",").map(Number)) {
      const input = content([1, 3, window, size, size]);
      await benchInput(
        ops,
        ceiling,
        repeats,
        tok,
        `${window}x${size}x${size}`,
        input,
        window,
        "frame",
      );
    }
    await tok.dispose();
    // The same network without windows: exact streaming, with what it carries.
    const exact = await loadTokenizer({
      encoder: randomCheckpoint(videoEncoderShapes(arch), 3),
      decoder: randomCheckpoint(videoDecoderShapes(arch), 4),
      model: vspec.name,
      backend: ops,
    });
    const streamFrames = Number(arg("stream-frames") ?? 1 + 4 * vspec.temporalCompression);
    for (const size of plan.videoSizes.split(",").map(Number)) {
      const input = content([1, 3, streamFrames, size, size]);
      await benchStream(ops, exact, `${streamFrames}x${size}x${size}`, input);
    }
    await exact.dispose();
  }
}

if (import.meta.main) await runBench(Deno.args);
