/**
 * Frame ranges of video tensors joined along time (Ops.joinFrames) on the WebAssembly backend,
 * for carrying frames from one step of a causal streaming network to the next.
 *
 * No kernel: for a fixed (b, c) plane a part's frames [from, to) are one contiguous run of
 * (to - from) * H * W values, so each part is B * C `copyWithin` calls on the calling thread,
 * within the heap's one buffer (the tensors all live there). Values move as raw 32-bit words, f32
 * and i32 alike. Timed under the family "frames". The checks and the output shape come from
 * geometry.ts, shared with the other backends.
 * @module
 */

import type { FrameRange, Tensor } from "../ops.ts";
import { joinFramesGeometry } from "../geometry.ts";
import type { WasmRuntime } from "./runtime.ts";

/** Copies the frame ranges of Ops.joinFrames into a new tensor. */
export function joinFrames(rt: WasmRuntime, parts: readonly FrameRange[]): Tensor {
  const inputs = parts.map((p) => rt.tensor(p.tensor));
  const g = joinFramesGeometry(parts);
  const out = rt.alloc(g.outShape, g.dtype, "joinFrames");
  const dstPlane = g.outShape[2] * g.frameSize;
  rt.timed("frames", 0, () => {
    // Viewed after the allocation, which may have grown (and so replaced) the buffer.
    const words = new Int32Array(rt.heap.memory.buffer);
    const dst = out.ptr / 4;
    parts.forEach((part, i) => {
      const x = inputs[i];
      const run = g.frames[i] * g.frameSize;
      const srcPlane = x.shape[2] * g.frameSize;
      const src = x.ptr / 4 + part.from * g.frameSize;
      const at = dst + g.offsets[i] * g.frameSize;
      for (let k = 0; k < g.planes; k++) {
        const from = src + k * srcPlane;
        words.copyWithin(at + k * dstPlane, from, from + run);
      }
    });
  });
  return out;
}
