/**
 * The video models' resampling, in float64: CausalHybridDownsample3d's average pools and
 * CausalHybridUpsample3d's nearest upsampling, in space or in time, on [B, C, T, H, W].
 * @module
 */

import { at5, build5, type RefTensor } from "./tensor.ts";

/**
 * CausalHybridDownsample3d's average pools. "space": zero pad one row/column at the
 * bottom/right, then a 2x2 stride-2 average (divisor 4, pad included). "time": frame 0
 * prepended (replication_pad), then frame pairs averaged with stride 2.
 */
export function refAvgPool(x: RefTensor, axis: "space" | "time"): RefTensor {
  const [b, c, t, h, w] = x.shape;
  if (axis === "space") {
    // The padded extent is h + 1; a kernel-2 stride-2 pool gives floor((h + 1 - 2) / 2) + 1.
    const ho = Math.floor((h - 1) / 2) + 1, wo = Math.floor((w - 1) / 2) + 1;
    return build5(
      [b, c, t, ho, wo],
      (bi, ci, ti, y, z) =>
        (at5(x, bi, ci, ti, 2 * y, 2 * z) + at5(x, bi, ci, ti, 2 * y, 2 * z + 1) +
          at5(x, bi, ci, ti, 2 * y + 1, 2 * z) + at5(x, bi, ci, ti, 2 * y + 1, 2 * z + 1)) / 4,
    );
  }
  // Padded frames: p[0] = x[0], p[s] = x[s - 1]; out[t] = (p[2t] + p[2t + 1]) / 2.
  const padded = (s: number) => Math.max(s - 1, 0);
  const to = Math.floor((t + 1 - 2) / 2) + 1;
  return build5(
    [b, c, to, h, w],
    (bi, ci, ti, y, z) =>
      (at5(x, bi, ci, padded(2 * ti), y, z) + at5(x, bi, ci, padded(2 * ti + 1), y, z)) / 2,
  );
}

/**
 * CausalHybridUpsample3d's nearest upsampling. "space": repeat_interleave(2) in height and
 * width. "time": for T > 1, repeat_interleave(2) in time and drop the first frame (T -> 2T - 1);
 * for T = 1 unchanged.
 */
export function refUpsample(x: RefTensor, axis: "space" | "time"): RefTensor {
  const [b, c, t, h, w] = x.shape;
  if (axis === "space") {
    return build5(
      [b, c, t, 2 * h, 2 * w],
      (bi, ci, ti, y, z) => at5(x, bi, ci, ti, Math.floor(y / 2), Math.floor(z / 2)),
    );
  }
  const factor = t > 1 ? 2 : 1;
  // repeated[s] = x[floor(s / factor)]; the output is repeated[factor - 1 + t].
  return build5(
    [b, c, factor * t - (factor - 1), h, w],
    (bi, ci, ti, y, z) => at5(x, bi, ci, Math.floor((ti + factor - 1) / factor), y, z),
  );
}
