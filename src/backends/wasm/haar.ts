/**
 * The Haar wavelet patcher and unpatcher on the WebAssembly backend (asm/haar.ts), one level at
 * a time on the calling thread: the transform is memory-bound, so threads would gain little.
 * @module
 */

import type { Tensor } from "../ops.ts";
import { haarPlan } from "../geometry.ts";
import { callKernel } from "./kernels.ts";
import type { WasmRuntime, WasmTensor } from "./runtime.ts";

/** `levels` Haar levels, forward (patch) or inverse (unpatch), as one timed op. */
export function haar(rt: WasmRuntime, xIn: Tensor, levels: number, forward: boolean): Tensor {
  return rt.timed("haar", 0, () => haarLevels(rt, rt.tensor(xIn), levels, forward));
}

function haarLevels(rt: WasmRuntime, x0: WasmTensor, levels: number, forward: boolean): Tensor {
  const k = rt.kernels;
  let x = x0;
  for (const s of haarPlan(x0.shape, levels, forward)) {
    const out = rt.alloc(s.outShape, "f32", "haar");
    const io = { src: x.ptr, dst: out.ptr, b: s.outShape[0], c: s.c };
    if (s.half.length === 2) {
      const [h, w] = s.half;
      callKernel(k, forward ? "haar2dForward" : "haar2dInverse", { ...io, h, w });
    } else {
      const [t, h, w] = s.half;
      if (forward) callKernel(k, "haar3dForward", { ...io, t, h, w, lead: s.lead, tFull: s.full });
      else callKernel(k, "haar3dInverse", { ...io, t, h, w, trim: s.trim });
    }
    if (x !== x0) rt.release(x);
    x = out;
  }
  if (x === x0) {
    // No levels: a copy, so the caller owns what it gets as with any op.
    const copy = rt.alloc(x0.shape, "f32", "haar");
    rt.f32(copy.ptr, copy.size).set(rt.f32(x0.ptr, x0.size));
    return copy;
  }
  return x;
}
