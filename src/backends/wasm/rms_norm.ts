/**
 * RMS norm over channels (+ SiLU) on the WebAssembly backend, for the Wan VAE.
 *
 * No kernel: the op is two passes over memory, a few percent of a Wan network's time beside its
 * convolutions, so it runs on the calling thread over views of the heap, as joinFrames does.
 * Positions are taken a bounded block at a time (their sums of squares in float64), so the
 * scratch stays small whatever the frame size. Timed under the family "norm".
 * @module
 */

import type { RmsNormWeights, Tensor } from "../ops.ts";
import { numel } from "../../types.ts";
import type { WasmRuntime, WasmTensor } from "./runtime.ts";

/** Positions normalised per block: 512 KiB of float64 sums. */
const BLOCK = 1 << 16;

/** The norm's floor, F.normalize's default eps. */
export const RMS_EPS = 1e-12;

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
  const gammaT = rt.tensor(weights.gamma);
  const out = rt.alloc(x.shape, "f32", "rmsnorm");
  rt.timed("norm", 0, () => {
    // Views made after the allocation, which may have grown (and so replaced) the buffer.
    const src = rt.f32(x.ptr, x.size), dst = rt.f32(out.ptr, out.size);
    const gamma = rt.f32(gammaT.ptr, c);
    const sums = new Float64Array(Math.min(BLOCK, positions));
    const root = Math.sqrt(c);
    for (let bi = 0; bi < b; bi++) {
      for (let p0 = 0; p0 < positions; p0 += BLOCK) {
        const n = Math.min(BLOCK, positions - p0);
        sums.fill(0, 0, n);
        for (let ci = 0; ci < c; ci++) {
          const at = (bi * c + ci) * positions + p0;
          for (let i = 0; i < n; i++) sums[i] += src[at + i] * src[at + i];
        }
        for (let i = 0; i < n; i++) sums[i] = root / Math.max(Math.sqrt(sums[i]), RMS_EPS);
        for (let ci = 0; ci < c; ci++) {
          const at = (bi * c + ci) * positions + p0, g = gamma[ci];
          for (let i = 0; i < n; i++) {
            const v = src[at + i] * sums[i] * g;
            dst[at + i] = silu ? v / (1 + Math.exp(-v)) : v;
          }
        }
      }
    }
  });
  return out;
}
