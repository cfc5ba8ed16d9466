/**
 * GroupNorm (wgsl/groupnorm.wgsl): statistics, and the standalone normalisation.
 *
 * The statistics (mean, rstd per batch, frame or clip, and group) feed either the next
 * convolution's fused loads (conv.ts) or `groupNorm`, the standalone form with optional SiLU
 * for where no convolution follows. Both entry points share one `struct Params`.
 * @module
 */

import type { FusedNorm, GroupNormOptions, Tensor } from "../ops.ts";
import { numel } from "../../types.ts";
import { groupNormGeometry } from "../geometry.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime } from "./runtime.ts";

/** groupnorm.wgsl's `struct Params` (`silu` is read by apply_main only). */
const GROUPNORM_PARAMS = defineParams("groupnorm.wgsl", [
  ["channels", "u32"],
  ["frames", "u32"],
  ["spatial", "u32"],
  ["groups", "u32"],
  ["ch_per_group", "u32"],
  ["eps", "f32"],
  ["silu", "u32"],
  ["_pad", "u32"],
]);

/** Records the (mean, rstd) statistics of `xIn` (see Ops.groupNormStats). */
export function groupNormStats(rt: GpuRuntime, xIn: Tensor, opts: GroupNormOptions): Tensor {
  const x = rt.tensor(xIn);
  const { b, c, frames, spatial } = groupNormGeometry(x.shape, opts);
  const stats = rt.alloc([b, frames, opts.groups, 2], "f32", "norm stats");
  rt.dispatch({
    family: "norm",
    pipeline: rt.pipelines.get("groupnorm", "stats_main"),
    bindings: [x, stats, null, null],
    params: GROUPNORM_PARAMS.pack({
      channels: c,
      frames,
      spatial,
      groups: opts.groups,
      ch_per_group: c / opts.groups,
      eps: opts.eps,
      silu: 0,
    }),
    workgroups: b * frames * opts.groups,
  });
  return stats;
}

/** Records the normalisation of `xIn` with precomputed statistics (see Ops.groupNorm). */
export function groupNorm(rt: GpuRuntime, xIn: Tensor, norm: FusedNorm): Tensor {
  const x = rt.tensor(xIn);
  const stats = rt.tensor(norm.stats);
  const c = x.shape[1];
  const frames = stats.shape[1];
  const spatial = numel(x.shape.slice(2)) / frames;
  const out = rt.alloc(x.shape, "f32", "groupnorm");
  const { groups, eps } = norm.weights;
  rt.dispatch({
    family: "norm",
    pipeline: rt.pipelines.get("groupnorm", "apply_main"),
    bindings: [x, stats, rt.tensor(norm.weights.gammaBeta), out],
    params: GROUPNORM_PARAMS.pack({
      channels: c,
      frames,
      spatial,
      groups,
      ch_per_group: c / groups,
      eps,
      silu: norm.silu ? 1 : 0,
    }),
    workgroups: elementwiseGroups(numel(x.shape)),
  });
  return out;
}
