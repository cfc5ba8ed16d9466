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
import { commonElement, type ElementType } from "./precision.ts";

/** groupnorm.wgsl's `struct Params` (`silu` and `total` are read by apply_main only). */
const GROUPNORM_PARAMS = defineParams("groupnorm.wgsl", [
  ["channels", "u32"],
  ["frames", "u32"],
  ["spatial", "u32"],
  ["groups", "u32"],
  ["ch_per_group", "u32"],
  ["eps", "f32"],
  ["silu", "u32"],
  ["total", "u32"],
]);

/** groupnorm.wgsl's constants: its storage type, and the subgroup reductions where there are. */
function normConstants(rt: GpuRuntime, T: ElementType) {
  return { T, SUBGROUPS: rt.ctx.features.has("subgroups") };
}

/** Records the (mean, rstd) statistics of `xIn` (see Ops.groupNormStats). */
export function groupNormStats(rt: GpuRuntime, xIn: Tensor, opts: GroupNormOptions): Tensor {
  const x = rt.tensor(xIn);
  const { b, c, frames, spatial } = groupNormGeometry(x.shape, opts);
  // Statistics stay f32 at every precision: an f16 mean would cost the normalisation its digits.
  const stats = rt.alloc([b, frames, opts.groups, 2], "f32", "norm stats", "f32");
  rt.dispatch({
    family: "norm",
    pipeline: rt.pipelines.get("groupnorm", "stats_main", normConstants(rt, x.element)),
    bindings: [x, stats, null, null],
    params: GROUPNORM_PARAMS.pack({
      channels: c,
      frames,
      spatial,
      groups: opts.groups,
      ch_per_group: c / opts.groups,
      eps: opts.eps,
      silu: 0,
      total: 0,
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
  const gammaBeta = rt.tensor(norm.weights.gammaBeta);
  const T = commonElement("groupnorm", [x.element, gammaBeta.element]);
  const out = rt.alloc(x.shape, "f32", "groupnorm", T);
  const { groups, eps } = norm.weights;
  rt.dispatch({
    family: "norm",
    pipeline: rt.pipelines.get("groupnorm", "apply_main", normConstants(rt, T)),
    bindings: [x, stats, gammaBeta, out],
    params: GROUPNORM_PARAMS.pack({
      channels: c,
      frames,
      spatial,
      groups,
      ch_per_group: c / groups,
      eps,
      silu: norm.silu ? 1 : 0,
      total: numel(x.shape),
    }),
    workgroups: elementwiseGroups(numel(x.shape)),
  });
  return out;
}
