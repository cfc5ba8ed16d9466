/**
 * Frame ranges of video tensors joined along time (Ops.joinFrames, wgsl/frames.wgsl), for
 * carrying frames from one step of a causal streaming network to the next.
 *
 * One dispatch per part, recorded like every kernel into the runtime's batched encoder, so it
 * is ordered with the kernels before and after it, covered by the batch's error scopes, and
 * profiled under the family "frames". A dispatch rather than `copyBufferToBuffer` per (b, c)
 * run: the runtime records only dispatches, and a part of B * C planes would be B * C copies.
 * The checks and the output shape come from geometry.ts, shared with the other backends.
 * @module
 */

import type { FrameRange, Tensor } from "../ops.ts";
import { joinFramesGeometry } from "../geometry.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime } from "./runtime.ts";
import { commonElement } from "./precision.ts";

/** frames.wgsl's `struct Params`: values copied, then the source and output plane layout. */
const FRAMES_PARAMS = defineParams("frames.wgsl", [
  ["total", "u32"],
  ["run", "u32"],
  ["src_plane", "u32"],
  ["src_start", "u32"],
  ["dst_plane", "u32"],
  ["dst_start", "u32"],
  ["_pad0", "u32"],
  ["_pad1", "u32"],
]);

/** Records the copies of Ops.joinFrames into a new tensor. */
export function joinFrames(rt: GpuRuntime, parts: readonly FrameRange[]): Tensor {
  const inputs = parts.map((p) => rt.tensor(p.tensor));
  const g = joinFramesGeometry(parts);
  const element = commonElement("joinFrames", inputs.map((x) => x.element));
  const out = rt.alloc(g.outShape, g.dtype, "joinFrames", element);
  const tOut = g.outShape[2];
  // f32 and i32 move as u32 words, bit for bit; f16 as f16.
  const pipeline = rt.pipelines.get("frames", "main", { T: element === "f16" ? "f16" : "u32" });
  parts.forEach((part, i) => {
    const x = inputs[i];
    const run = g.frames[i] * g.frameSize;
    const total = g.planes * run;
    rt.dispatch({
      family: "frames",
      pipeline,
      bindings: [x, out],
      params: FRAMES_PARAMS.pack({
        total,
        run,
        src_plane: x.shape[2] * g.frameSize,
        src_start: part.from * g.frameSize,
        dst_plane: tOut * g.frameSize,
        dst_start: g.offsets[i] * g.frameSize,
      }),
      workgroups: elementwiseGroups(total),
    });
  });
  return out;
}
