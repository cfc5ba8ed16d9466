/**
 * Haar patching and unpatching: wgsl/haar.wgsl for images, wgsl/haar3d.wgsl for video.
 *
 * The levels are planned in full first (geometry.ts), so a shape that fails at any level
 * fails before the first dispatch; then one dispatch per level, one thread per
 * half-resolution position, each level's input released once the next has been recorded.
 * @module
 */

import type { Tensor } from "../ops.ts";
import { numel } from "../../types.ts";
import { haarPlan } from "../geometry.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime, type GpuTensor } from "./runtime.ts";

/** haar.wgsl's `struct Params`: channels, the half-resolution extents, threads. */
const HAAR_PARAMS = defineParams("haar.wgsl", [
  ["channels", "u32"],
  ["h", "u32"],
  ["w", "u32"],
  ["total", "u32"],
]);

/** haar3d.wgsl's `struct Params`: as haar.wgsl's with frames, plus the causal frame handling. */
const HAAR3D_PARAMS = defineParams("haar3d.wgsl", [
  ["channels", "u32"],
  ["t", "u32"],
  ["h", "u32"],
  ["w", "u32"],
  ["total", "u32"],
  ["lead", "u32"],
  ["trim", "u32"],
  ["t_full", "u32"],
]);

/** Records `levels` Haar levels, forward (patching) or inverse (see Ops.haarPatch). */
export function haar(rt: GpuRuntime, xIn: Tensor, levels: number, forward: boolean): Tensor {
  const x0 = rt.tensor(xIn);
  const video = x0.shape.length === 5;
  let x: GpuTensor = x0;
  for (const step of haarPlan(x0.shape, levels, forward)) {
    const out = rt.alloc(step.outShape, "f32", "haar", x0.element);
    const total = step.outShape[0] * step.c * numel(step.half);
    const channels = step.c;
    const params = video
      ? HAAR3D_PARAMS.pack({
        channels,
        t: step.half[0],
        h: step.half[1],
        w: step.half[2],
        total,
        lead: step.lead,
        trim: step.trim,
        t_full: step.full,
      })
      : HAAR_PARAMS.pack({ channels, h: step.half[0], w: step.half[1], total });
    rt.dispatch({
      family: "haar",
      pipeline: rt.pipelines.get(
        video ? "haar3d" : "haar",
        forward ? "dwt_main" : "idwt_main",
        { T: x0.element },
      ),
      bindings: [x, out],
      params,
      workgroups: elementwiseGroups(total),
    });
    if (x !== x0) rt.release(x);
    x = out;
  }
  return x;
}
