/**
 * Average pooling and nearest upsampling by 2 in space or time (wgsl/resample.wgsl).
 *
 * One entry point per resampler, one thread per output element; the output extents come from
 * geometry.ts, shared with the other backends.
 * @module
 */

import type { Tensor } from "../ops.ts";
import { numel } from "../../types.ts";
import { type Resample, resampleDims } from "../geometry.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime } from "./runtime.ts";

/** resample.wgsl's entry point of each resampler. */
const RESAMPLE_ENTRIES: Record<Resample, string> = {
  poolSpace: "pool_space",
  poolTime: "pool_time",
  upSpace: "up_space",
  upTime: "up_time",
};

/** resample.wgsl's `struct Params`: input extents, output threads, output extents. */
const RESAMPLE_PARAMS = defineParams("resample.wgsl", [
  ["t_in", "u32"],
  ["h_in", "u32"],
  ["w_in", "u32"],
  ["total", "u32"],
  ["t_out", "u32"],
  ["h_out", "u32"],
  ["w_out", "u32"],
  ["_pad", "u32"],
]);

/** Records the resampling `op` of a [B, C, T, H, W] tensor. */
export function resample(rt: GpuRuntime, xIn: Tensor, op: Resample): Tensor {
  const x = rt.tensor(xIn);
  const outDims = resampleDims(x.shape, op);
  const [b, c, t, h, w] = x.shape;
  const entry = RESAMPLE_ENTRIES[op];
  const out = rt.alloc([b, c, ...outDims], "f32", entry, x.element);
  const total = numel(out.shape);
  const [t_out, h_out, w_out] = outDims;
  rt.dispatch({
    family: "resample",
    pipeline: rt.pipelines.get("resample", entry, { T: x.element }),
    bindings: [x, out],
    params: RESAMPLE_PARAMS.pack({ t_in: t, h_in: h, w_in: w, total, t_out, h_out, w_out }),
    workgroups: elementwiseGroups(total),
  });
  return out;
}
