/**
 * Frame ranges of video tensors joined along time (Ops.joinFrames) on the WebAssembly backend,
 * for carrying frames from one step of a causal streaming network to the next.
 *
 * No kernel: for a fixed (b, c) plane a part's frames [from, to) are one contiguous run of
 * (to - from) * H * W values, so each part is B * C copies on the calling thread. Values move as
 * raw 32-bit words, f32 and i32 alike. A part may be parked (kept in JavaScript memory between
 * steps, parking.ts), and with `park` the result is: then whole parked chunks are shared rather
 * than copied. Timed under the family "frames". The checks and the output shape come from
 * geometry.ts, shared with the other backends.
 * @module
 */

import type { FrameRange, JoinOptions, Tensor } from "../ops.ts";
import { joinFramesGeometry } from "../geometry.ts";
import type { WasmRuntime, WasmTensor } from "./runtime.ts";
import { type FrameSource, ParkedTensor } from "./parking.ts";

/** Copies the frame ranges of Ops.joinFrames into a new tensor (parked with `park`). */
export function joinFrames(
  rt: WasmRuntime,
  parts: readonly FrameRange[],
  opts: JoinOptions = {},
): Tensor {
  const inputs = parts.map((p) => rt.stored(p.tensor));
  const g = joinFramesGeometry(parts);
  if (opts.park) {
    return rt.timed("frames", 0, () => {
      const heap = new Int32Array(rt.heap.memory.buffer);
      return rt.parking.join(parts, g, (i): FrameSource => {
        const x = inputs[i];
        if (x instanceof ParkedTensor) return { parked: x };
        return { heap, at: x.ptr / 4, plane: x.shape[2] * g.frameSize };
      });
    });
  }
  const out = rt.alloc(g.outShape, g.dtype, "joinFrames");
  const dstPlane = g.outShape[2] * g.frameSize;
  rt.timed("frames", 0, () => {
    // Viewed after the allocation, which may have grown (and so replaced) the buffer.
    const words = new Int32Array(rt.heap.memory.buffer);
    const dst = out.ptr / 4;
    parts.forEach((part, i) => {
      const x = inputs[i];
      const at = dst + g.offsets[i] * g.frameSize;
      if (x instanceof ParkedTensor) {
        rt.parking.copyOut(x, part.from, part.to, g.planes, g.frameSize, words, at, dstPlane);
        return;
      }
      const run = g.frames[i] * g.frameSize;
      const srcPlane = (x as WasmTensor).shape[2] * g.frameSize;
      const src = (x as WasmTensor).ptr / 4 + part.from * g.frameSize;
      for (let k = 0; k < g.planes; k++) {
        const from = src + k * srcPlane;
        words.copyWithin(at + k * dstPlane, from, from + run);
      }
    });
  });
  return out;
}
