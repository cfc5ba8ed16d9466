/**
 * Reconstruction quality, computed the way NVIDIA's tokenizer evaluation (TokenBench's
 * `token_bench/metrics_cli.py`, which the Cosmos tokenizer README points to) computes it:
 *
 * - PSNR = 20 log10(peak / (sqrt(MSE) + eps)), eps = the float32 machine epsilon (2^-23), with the
 *   MSE over every value of the item: all frames, rows, columns and channels of a video at once.
 *   On 0..255 pixels the peak is 255. Identical inputs give a large finite value, not Infinity.
 * - SSIM = scikit-image's `structural_similarity(data_range=255, channel_axis=-1)` defaults, per
 *   frame: a 7x7 uniform window, K1 = 0.01, K2 = 0.03, C1 = (K1 L)^2, C2 = (K2 L)^2, L = 255,
 *   variances and covariance with the sample normalisation 49/48, the SSIM map averaged over the
 *   pixels whose window lies inside the frame (a 3-pixel border is left out), per channel, then
 *   over channels; a video's SSIM is the mean over its frames.
 *
 * @example Measure a reconstruction frame by frame
 * ```ts
 * import { QualityMeter } from "@cosmos/webgpu/metrics";
 * import assert from "node:assert/strict";
 * const frame = new Uint8Array(16 * 16 * 3).map((_, i) => (i * 7) % 256);
 * const meter = new QualityMeter();
 * meter.add(frame, frame.map((v) => Math.min(255, v + 2)), 16, 16);
 * const { psnr, ssim, frames } = meter.result();
 * assert.equal(frames, 1);
 * assert.ok(psnr > 40 && ssim > 0.99);
 * ```
 * @module
 */

/** float32's machine epsilon, which the evaluation adds to the RMSE (so PSNR stays finite). */
export const F32_EPS: number = 2 ** -23;

/**
 * PSNR in dB from a mean squared error, for values whose range is `peak`.
 *
 * @example
 * ```ts
 * import { psnrFromMse } from "@cosmos/webgpu/metrics";
 * import assert from "node:assert/strict";
 * assert.ok(Math.abs(psnrFromMse(1, 255) - 48.13) < 0.01);
 * ```
 */
export function psnrFromMse(mse: number, peak: number): number {
  return 20 * Math.log10(peak / (Math.sqrt(mse) + F32_EPS));
}

/** Sum of squared differences. */
function squaredError(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) {
    throw new Error(`Cannot compare arrays of ${a.length} and ${b.length} values`);
  }
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return se;
}

/**
 * PSNR in dB of two arrays of the same length. `peak` is the value range: 2 for pixels in
 * [-1, 1] (the tokenizer's tensors), 255 for 0..255 pixels.
 *
 * @example
 * ```ts
 * import { psnr } from "@cosmos/webgpu/metrics";
 * import assert from "node:assert/strict";
 * // An error of 0.02 everywhere on [-1, 1] values: 20 log10(2 / 0.02) = 40 dB.
 * assert.ok(Math.abs(psnr([0.5, -0.5], [0.52, -0.48]) - 40) < 1e-4);
 * ```
 */
export function psnr(a: ArrayLike<number>, b: ArrayLike<number>, peak = 2): number {
  return psnrFromMse(squaredError(a, b) / a.length, peak);
}

/** The evaluation's SSIM window: 7 x 7, uniform. */
const WIN = 7;
const K1 = 0.01, K2 = 0.03;

/**
 * SSIM of two frames of `width` x `height` pixels with `channels` interleaved channels (HWC, as
 * decoded images and rawvideo frames are laid out), values in 0..`dataRange`.
 *
 * @example
 * ```ts
 * import { ssim } from "@cosmos/webgpu/metrics";
 * import assert from "node:assert/strict";
 * const frame = new Uint8Array(8 * 8 * 3).map((_, i) => (i * 13) % 256);
 * assert.ok(Math.abs(ssim(frame, frame, 8, 8) - 1) < 1e-12);
 * ```
 */
export function ssim(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  width: number,
  height: number,
  channels = 3,
  dataRange = 255,
): number {
  const n = width * height * channels;
  if (a.length !== n || b.length !== n) {
    throw new Error(
      `Cannot compute SSIM: ${width}x${height}x${channels} frames hold ${n} values, got ${a.length} and ${b.length}`,
    );
  }
  if (width < WIN || height < WIN) {
    throw new Error(`Cannot compute SSIM of a ${width}x${height} frame: it needs at least 7x7`);
  }
  const c1 = (K1 * dataRange) ** 2, c2 = (K2 * dataRange) ** 2;
  const np = WIN * WIN, covNorm = np / (np - 1);
  // Summed-area tables of x, y, x^2, y^2, xy make every window sum four lookups; with 0..255
  // integers every sum is an exact integer in float64.
  const sw = width + 1;
  const tables = Array.from({ length: 5 }, () => new Float64Array(sw * (height + 1)));
  const [sx, sy, sxx, syy, sxy] = tables;
  const pad = (WIN - 1) / 2;
  let total = 0;
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < height; y++) {
      let rx = 0, ry = 0, rxx = 0, ryy = 0, rxy = 0;
      for (let x = 0; x < width; x++) {
        const i = (y * width + x) * channels + c;
        const va = a[i], vb = b[i];
        rx += va;
        ry += vb;
        rxx += va * va;
        ryy += vb * vb;
        rxy += va * vb;
        const o = (y + 1) * sw + x + 1, up = y * sw + x + 1;
        sx[o] = sx[up] + rx;
        sy[o] = sy[up] + ry;
        sxx[o] = sxx[up] + rxx;
        syy[o] = syy[up] + ryy;
        sxy[o] = sxy[up] + rxy;
      }
    }
    const box = (t: Float64Array, x0: number, y0: number) => {
      const x1 = x0 + WIN, y1 = y0 + WIN;
      return (t[y1 * sw + x1] - t[y0 * sw + x1] - t[y1 * sw + x0] + t[y0 * sw + x0]) / np;
    };
    let sum = 0;
    for (let y0 = 0; y0 + WIN <= height; y0++) {
      for (let x0 = 0; x0 + WIN <= width; x0++) {
        const ux = box(sx, x0, y0), uy = box(sy, x0, y0);
        const vx = covNorm * (box(sxx, x0, y0) - ux * ux);
        const vy = covNorm * (box(syy, x0, y0) - uy * uy);
        const vxy = covNorm * (box(sxy, x0, y0) - ux * uy);
        sum += ((2 * ux * uy + c1) * (2 * vxy + c2)) /
          ((ux * ux + uy * uy + c1) * (vx + vy + c2));
      }
    }
    total += sum / ((width - 2 * pad) * (height - 2 * pad));
  }
  return total / channels;
}

/** One item's quality: PSNR over all its frames, SSIM averaged over its frames. */
export interface Quality {
  /** Peak signal-to-noise ratio in dB over every frame's pixels (large and finite when identical). */
  psnr: number;
  /** Structural similarity, the mean of the frames' SSIM (NaN when a frame is too small). */
  ssim: number;
  /** Frames measured. */
  frames: number;
}

/**
 * Accumulates an item's quality frame by frame, so a video is measured as it streams through
 * and never needs to be held whole.
 */
export class QualityMeter {
  #se = 0;
  #count = 0;
  #ssim = 0;
  #frames = 0;

  /**
   * Adds one frame pair (HWC, 0..255); returns that frame's own PSNR and SSIM. Frames smaller
   * than SSIM's 7x7 window have no SSIM (NaN, and so has the item's), as the evaluation has none.
   */
  add(
    original: ArrayLike<number>,
    reconstruction: ArrayLike<number>,
    width: number,
    height: number,
    channels = 3,
  ): { psnr: number; ssim: number } {
    const s = width < WIN || height < WIN
      ? NaN
      : ssim(original, reconstruction, width, height, channels);
    const se = squaredError(original, reconstruction);
    this.#se += se;
    this.#count += original.length;
    this.#ssim += s;
    this.#frames++;
    return { psnr: psnrFromMse(se / original.length, 255), ssim: s };
  }

  /** The item's quality over every frame added so far. */
  result(): Quality {
    if (this.#frames === 0) throw new Error("No frames were measured");
    return {
      psnr: psnrFromMse(this.#se / this.#count, 255),
      ssim: this.#ssim / this.#frames,
      frames: this.#frames,
    };
  }
}
