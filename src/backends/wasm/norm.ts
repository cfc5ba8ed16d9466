/**
 * GroupNorm on the WebAssembly backend (asm/nn.ts): statistics in float64 per (batch, frame or
 * clip, group), split by channels where there are too few slots to share over the threads,
 * and the standalone normalisation (+ SiLU) that convolutions do not fuse.
 * @module
 */

import type { FusedNorm, GroupNormOptions, Tensor } from "../ops.ts";
import { groupNormGeometry } from "../geometry.ts";
import { numel } from "../../types.ts";
import type { LaunchArgs } from "./kernels.ts";
import type { WasmRuntime, WasmTensor } from "./runtime.ts";

/** (mean, rstd) per (batch, frame or 1, group) (the op interface's `groupNormStats`). */
export function groupNormStats(rt: WasmRuntime, xIn: Tensor, opts: GroupNormOptions): Tensor {
  const x = rt.tensor(xIn);
  const { b, c, frames, spatial } = groupNormGeometry(x.shape, opts);
  const stats = rt.alloc([b, frames, opts.groups, 2], "f32", "norm stats");
  const slots = b * frames * opts.groups;
  const args = { x: x.ptr, stats: stats.ptr, channels: c, frames, spatial, groups: opts.groups };
  const cpg = c / opts.groups;
  rt.timed("norm", 0, () => {
    if (slots < SPLIT_ITEMS && cpg > 1 && cpg * spatial >= SPLIT_SLOT_VALUES) {
      splitStats(rt, args, opts.eps, slots, Math.min(cpg, Math.ceil(SPLIT_ITEMS / slots)));
    } else rt.launch("groupNormStats", { ...args, eps: opts.eps }, slots);
  });
  return stats;
}

/**
 * Values per GroupNorm slot from which, when there are fewer slots than SPLIT_ITEMS (a video's
 * one group per frame: one slot per frame of a step), each slot's sums are split by channels
 * (splitStats) rather than taken by one thread each.
 */
const SPLIT_SLOT_VALUES = 1 << 15;
/**
 * Items (slots x parts) of a split: a few per thread of a 2-core machine. Fixed rather than
 * taken from the thread count, so that the sums, and so the results, are the same on any.
 */
const SPLIT_ITEMS = 8;

/**
 * groupNormStats with each slot's channels in `parts` parts (asm/nn.ts groupNormPartials): the
 * parts' float64 sums added here, and the mean and rstd rounded as groupNormStats rounds them.
 */
function splitStats(
  rt: WasmRuntime,
  args: Omit<LaunchArgs<"groupNormPartials">, "partials" | "parts" | "pass">,
  eps: number,
  slots: number,
  parts: number,
): void {
  const partials = rt.heap.alloc(8 * slots * parts, "norm partial sums");
  try {
    const count = (args.channels / args.groups) * args.spatial;
    const f32 = Math.fround;
    for (const pass of [0, 1]) {
      rt.launch("groupNormPartials", { ...args, partials, parts, pass }, slots * parts);
      // Views taken after the launch: nothing allocates between, but stay safe if it did.
      const sums = new Float64Array(rt.heap.memory.buffer, partials, slots * parts);
      const stats = rt.f32(args.stats, 2 * slots);
      for (let slot = 0; slot < slots; slot++) {
        let sum = 0;
        for (let p = 0; p < parts; p++) sum += sums[slot * parts + p];
        if (pass === 0) stats[2 * slot] = f32(sum / count);
        else stats[2 * slot + 1] = f32(1 / f32(Math.sqrt(f32(f32(sum / count) + f32(eps)))));
      }
    }
  } finally {
    rt.heap.free(partials);
  }
}

/** GroupNorm (+ SiLU) with precomputed statistics (the op interface's `groupNorm`). */
export function groupNorm(rt: WasmRuntime, xIn: Tensor, norm: FusedNorm): WasmTensor {
  const x = rt.tensor(xIn);
  const stats = rt.tensor(norm.stats);
  const [b, c] = x.shape;
  const frames = stats.shape[1];
  const spatial = numel(x.shape.slice(2)) / frames;
  const out = rt.alloc(x.shape, "f32", "groupnorm");
  rt.timed("norm", 0, () =>
    rt.launch("groupNormApply", {
      x: x.ptr,
      y: out.ptr,
      stats: stats.ptr,
      gammaBeta: rt.tensor(norm.weights.gammaBeta).ptr,
      channels: c,
      frames,
      spatial,
      groups: norm.weights.groups,
      act: norm.silu ? 1 : 0,
    }, b * c * frames));
  return out;
}
