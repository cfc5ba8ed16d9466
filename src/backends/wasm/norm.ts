/**
 * GroupNorm on the WebAssembly backend (asm/nn.ts): statistics in float64 per (batch, frame or
 * clip, group), and the standalone normalisation (+ SiLU) that convolutions do not fuse.
 * @module
 */

import type { FusedNorm, GroupNormOptions, Tensor } from "../ops.ts";
import { groupNormGeometry } from "../geometry.ts";
import { numel } from "../../types.ts";
import type { WasmRuntime, WasmTensor } from "./runtime.ts";

/** (mean, rstd) per (batch, frame or 1, group) (the op interface's `groupNormStats`). */
export function groupNormStats(rt: WasmRuntime, xIn: Tensor, opts: GroupNormOptions): Tensor {
  const x = rt.tensor(xIn);
  const { b, c, frames, spatial } = groupNormGeometry(x.shape, opts);
  const stats = rt.alloc([b, frames, opts.groups, 2], "f32", "norm stats");
  rt.timed("norm", 0, () =>
    rt.launch("groupNormStats", {
      x: x.ptr,
      stats: stats.ptr,
      channels: c,
      frames,
      spatial,
      groups: opts.groups,
      eps: opts.eps,
    }, b * frames * opts.groups));
  return stats;
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
