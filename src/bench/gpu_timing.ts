/**
 * Timed runs for `deno task gpu-report`: the official-width CI8x8 and CV4x8x8 tokenizers
 * (channels 128, random weights: the speed does not depend on their values) at the report's
 * sizes, as many as fit a time budget, each with wall milliseconds per frame and per-kernel
 * GFLOP/s from timestamp queries.
 *
 * Which sizes fit is predicted from the size before: a network's time grows with its pixels
 * (convolutions dominate; attention only runs at the latent resolution), so the next size is
 * predicted at the last one's time, warm-up included, times the pixel ratio. The first size
 * of each model is predicted from a calibration run at a small size, which the report keeps
 * (on a CPU rasterizer; on a GPU the report runs it regardless, see gpu_report.ts).
 * @module
 */

import type { WebGpuOps } from "../backends/webgpu/backend.ts";
import { loadTokenizer } from "../load.ts";
import { findVariant } from "../models/variants.ts";
import {
  imageDecoderShapes,
  imageEncoderShapes,
  officialImageArchitecture,
} from "../testing/image_checkpoint.ts";
import { randomCheckpoint } from "../testing/random_weights.ts";
import {
  officialVideoArchitecture,
  videoDecoderShapes,
  videoEncoderShapes,
} from "../testing/video_checkpoint.ts";
import type { Tokenizer } from "../tokenizer.ts";
import type { HostTensor } from "../types.ts";

/** One model's sizes: [frames, height, width]; frames 0 for images. */
export interface ModelPlan {
  model: "CI8x8" | "CV4x8x8";
  /** A small size timed first, to predict the first of `sizes`. */
  calibration: [number, number, number];
  sizes: [number, number, number][];
}

/** The sizes: CI8x8 at 256², 512², 1024²; CV4x8x8 at 17 frames of 360p, 720p, 1080p. */
export const PLANS: readonly ModelPlan[] = [
  {
    model: "CI8x8",
    calibration: [0, 32, 32],
    sizes: [[0, 256, 256], [0, 512, 512], [0, 1024, 1024]],
  },
  {
    model: "CV4x8x8",
    calibration: [17, 16, 16],
    sizes: [[17, 360, 640], [17, 720, 1280], [17, 1080, 1920]],
  },
];

/** Per-family totals of the timed encode and decode. */
export interface KernelRow {
  ms: number;
  dispatches: number;
  flops: number;
  /** flops / ms, where the family counts flops (0 otherwise). */
  gflops: number;
}

/** One timed size, as the JSON holds it. */
export interface BenchRow {
  model: string;
  /** "256x256" or "17x360x640". */
  size: string;
  frames: number;
  /** A calibration run (small size, to predict the next). */
  calibration: boolean;
  /** First encode + decode: pipelines compile, autotune times its candidates. */
  warmupMs: number;
  encodeMs: number;
  decodeMs: number;
  msPerFrame: { encode: number; decode: number; total: number };
  /** Peak of the buffer pool beyond the weights, MiB. */
  peakActivationsMiB: number;
  /** Sum over kernels of GPU time (timestamp queries), and what it did. */
  gpuMs: number;
  gflop: number;
  kernels: Record<string, KernelRow>;
}

/** The tokenizer of `model` at official width with random weights, on `ops`. */
export async function benchTokenizer(ops: WebGpuOps, model: ModelPlan["model"]) {
  const v = findVariant(model);
  if (v.kind === "image") {
    const arch = officialImageArchitecture(v.discrete, v.spatialCompression);
    return await loadTokenizer({
      encoder: randomCheckpoint(imageEncoderShapes(arch), 1),
      decoder: randomCheckpoint(imageDecoderShapes(arch), 2),
      backend: ops,
    });
  }
  const arch = officialVideoArchitecture(v.discrete, v.spatialCompression, v.temporalCompression);
  return await loadTokenizer({
    encoder: randomCheckpoint(videoEncoderShapes(arch), 3),
    decoder: randomCheckpoint(videoDecoderShapes(arch), 4),
    model,
    backend: ops,
  });
}

/** Smooth content in [-0.9, 0.9] of [1, 3, (T,) H, W]. */
function content([t, h, w]: [number, number, number]): HostTensor {
  const shape = t ? [1, 3, t, h, w] : [1, 3, h, w];
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = 0.9 * Math.sin(i * 0.001);
  return { data, shape };
}

/** The size's label: "256x256" or "17x360x640". */
export function sizeLabel([t, h, w]: [number, number, number]): string {
  return t ? `${t}x${h}x${w}` : `${h}x${w}`;
}

/** Pixels (times frames) of a size, for predictions. */
export function pixelsOf([t, h, w]: [number, number, number]): number {
  return Math.max(1, t) * h * w;
}

/**
 * Predicted wall milliseconds of `next` from a timed row of the same model at `prev`. From a
 * size of the list: that row's wall time (warm-up included) times the pixel ratio. From a
 * calibration run, which is too small to keep a GPU busy (its wall time is mostly launch
 * latency): its operations times the pixel ratio, run twice (warm-up and timed) with a
 * margin, at the best GFLOP/s any row has reached so far.
 */
export function predictMs(
  row: BenchRow,
  prev: [number, number, number],
  next: [number, number, number],
  bestGflops: number,
): number {
  const ratio = pixelsOf(next) / pixelsOf(prev);
  const wall = (row.warmupMs + row.encodeMs + row.decodeMs) * ratio;
  if (!row.calibration || !(bestGflops > 0) || !(row.gflop > 0)) return wall;
  return 2.5 * row.gflop * ratio / bestGflops * 1000;
}

/** GFLOP/s of a row over its kernels' GPU time (0 without timestamps). */
export function rowGflops(row: BenchRow): number {
  return row.gpuMs > 0 ? row.gflop / (row.gpuMs / 1000) : 0;
}

/**
 * Encodes and decodes one input: once to warm up (and let the autotuner decide), then once
 * timed with every dispatch profiled.
 */
export async function benchSize(
  ops: WebGpuOps,
  tok: Tokenizer,
  plan: { model: string; size: [number, number, number]; calibration: boolean },
): Promise<BenchRow> {
  const input = content(plan.size);
  let t0 = performance.now();
  const first = await tok.encode(input);
  const tokens = first.latent ?? first.indices!;
  await tok.decode(tokens);
  await ops.autotuner?.settled();
  const warmupMs = performance.now() - t0;
  const weights = ops.memoryStats().inUse;
  ops.resetPeak();
  ops.startProfiling();
  t0 = performance.now();
  await tok.encode(input);
  const encodeMs = performance.now() - t0;
  t0 = performance.now();
  await tok.decode(tokens);
  const decodeMs = performance.now() - t0;
  const profile = ops.stopProfiling();
  const kernels: Record<string, KernelRow> = {};
  let gpuMs = 0, flops = 0;
  for (const [family, k] of Object.entries(profile).sort((a, b) => b[1].ms - a[1].ms)) {
    kernels[family] = { ...k, gflops: k.flops && k.ms ? k.flops / k.ms / 1e6 : 0 };
    gpuMs += k.ms;
    flops += k.flops;
  }
  const frames = Math.max(1, plan.size[0]);
  return {
    model: plan.model,
    size: sizeLabel(plan.size),
    frames,
    calibration: plan.calibration,
    warmupMs,
    encodeMs,
    decodeMs,
    msPerFrame: {
      encode: encodeMs / frames,
      decode: decodeMs / frames,
      total: (encodeMs + decodeMs) / frames,
    },
    peakActivationsMiB: (ops.memoryStats().peakInUse - weights) / 2 ** 20,
    gpuMs,
    gflop: flops / 1e9,
    kernels,
  };
}
