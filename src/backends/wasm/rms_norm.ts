/**
 * RMS norm over channels (+ SiLU) on the WebAssembly backend, for the Wan VAE: the SIMD kernel
 * of asm/rms_norm.ts (f32 sums as the WGSL kernel, a vector exp for SiLU) over items of 16
 * positions, on every thread. Timed under the family "norm".
 * @module
 */

import type { RmsNormWeights, Tensor } from "../ops.ts";
import { numel } from "../../types.ts";
import type { WasmRuntime, WasmTensor } from "./runtime.ts";

/** Positions per kernel item (asm/rms_norm.ts's BLOCK). */
const BLOCK = 16;

/** x / max(||x||_C, 1e-12) * sqrt(C) * gamma per position, then SiLU (Ops.rmsNorm). */
export function rmsNorm(
  rt: WasmRuntime,
  xIn: Tensor,
  weights: RmsNormWeights,
  silu: boolean,
): WasmTensor {
  const x = rt.tensor(xIn);
  const [b, c] = x.shape;
  if (x.shape.length < 2 || c !== weights.channels) {
    throw new Error(
      `rmsNorm: input has ${c} channels, the norm ${weights.channels} (shape [${x.shape}])`,
    );
  }
  const positions = numel(x.shape.slice(2));
  const gamma = rt.tensor(weights.gamma);
  const out = rt.alloc(x.shape, "f32", "rmsnorm");
  // 4 flops a value (square, add; scale, gamma), SiLU's not counted.
  rt.timed("norm", 4 * x.size, () =>
    rt.launch("rmsNormRows", {
      x: x.ptr,
      y: out.ptr,
      gamma: gamma.ptr,
      channels: c,
      positions,
      silu: silu ? 1 : 0,
    }, b * Math.ceil(positions / BLOCK)));
  return out;
}
