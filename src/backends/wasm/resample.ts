/**
 * Video resampling on the WebAssembly backend (asm/nn.ts): 2x average pooling and nearest 2x
 * upsampling in space or time, one (batch, channel) plane per item.
 * @module
 */

import type { Tensor } from "../ops.ts";
import { type Resample, resampleDims } from "../geometry.ts";
import type { WasmRuntime } from "./runtime.ts";

/** Pools or upsamples [B, C, T, H, W] (the op interface's `avgPool` and `upsample`). */
export function resample(rt: WasmRuntime, xIn: Tensor, op: Resample): Tensor {
  const x = rt.tensor(xIn);
  const outDims = resampleDims(x.shape, op);
  const [b, c, t, h, w] = x.shape;
  const out = rt.alloc([b, c, ...outDims], "f32", op);
  const io = { src: x.ptr, dst: out.ptr, t };
  rt.timed(
    "resample",
    0,
    () =>
      op === "poolSpace" || op === "upSpace"
        ? rt.launch(op, { ...io, h, w }, b * c)
        : rt.launch(op, { ...io, hw: h * w }, b * c),
  );
  return out;
}
