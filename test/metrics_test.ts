/**
 * PSNR and SSIM against values computed by hand and against a plain, independent SSIM written
 * here the slow way (every 7x7 window summed directly, two-pass variances).
 */

import assert from "node:assert/strict";
import { F32_EPS, psnr, QualityMeter, ssim } from "../src/media/metrics.ts";
import { randomArray } from "./helpers.ts";

const close = (actual: number, expected: number, tol: number, what: string) =>
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`);

/** Random 0..255 integers. */
function pixels(n: number, seed: number): Uint8Array {
  return Uint8Array.from(randomArray(n, seed, 0, 256), (v) => Math.floor(v));
}

/** scikit-image's SSIM (7x7 uniform window, sample covariance, border of 3 left out), directly. */
function slowSsim(a: ArrayLike<number>, b: ArrayLike<number>, w: number, h: number, ch: number) {
  const c1 = (0.01 * 255) ** 2, c2 = (0.03 * 255) ** 2;
  let total = 0;
  for (let c = 0; c < ch; c++) {
    const maps: number[] = [];
    for (let cy = 3; cy < h - 3; cy++) {
      for (let cx = 3; cx < w - 3; cx++) {
        const xs: number[] = [], ys: number[] = [];
        for (let y = cy - 3; y <= cy + 3; y++) {
          for (let x = cx - 3; x <= cx + 3; x++) {
            xs.push(a[(y * w + x) * ch + c]);
            ys.push(b[(y * w + x) * ch + c]);
          }
        }
        const mx = xs.reduce((s, v) => s + v, 0) / 49, my = ys.reduce((s, v) => s + v, 0) / 49;
        let vx = 0, vy = 0, cxy = 0;
        for (let i = 0; i < 49; i++) {
          vx += (xs[i] - mx) ** 2;
          vy += (ys[i] - my) ** 2;
          cxy += (xs[i] - mx) * (ys[i] - my);
        }
        vx /= 48, vy /= 48, cxy /= 48;
        maps.push(
          ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2)),
        );
      }
    }
    total += maps.reduce((s, v) => s + v, 0) / maps.length;
  }
  return total / ch;
}

Deno.test("psnr: 20 log10(peak / (rmse + eps)) on hand-computed cases", () => {
  // One value off by 2 in four: MSE 1, RMSE 1.
  close(psnr([0, 0, 0, 0], [0, 0, 0, 2], 255), 20 * Math.log10(255 / (1 + F32_EPS)), 1e-12, "a");
  close(psnr([0, 0, 0, 0], [0, 0, 0, 2], 255), 48.1308025732, 1e-9, "b");
  // Every value off by 10: RMSE 10, 28.1308 dB.
  close(psnr([10, 20, 30], [20, 30, 40], 255), 28.1308035051, 1e-9, "c");
  // [-1, 1] pixels (peak 2): MSE 0.01 -> 20 log10(2 / (0.1 + eps)) = 26.02059 dB.
  close(psnr([0.1, -0.1], [0, 0]), 26.0205895589, 1e-9, "d");
  // Identical inputs: finite, as the evaluation's eps makes it.
  close(psnr([5, 6], [5, 6], 255), 20 * Math.log10(255 / F32_EPS), 1e-9, "e");
  assert.throws(() => psnr([1, 2], [1]), /2 and 1 values/);
});

Deno.test("ssim: identical frames give 1, constant frames give (2ab + C1) / (a^2 + b^2 + C1)", () => {
  const a = pixels(9 * 8 * 3, 1);
  close(ssim(a, a, 9, 8), 1, 1e-12, "identical");
  // Constant frames: no variance, so the structure term is C2 / C2 and only luminance is left.
  const x = new Uint8Array(7 * 7 * 3).fill(100), y = new Uint8Array(7 * 7 * 3).fill(110);
  const c1 = (0.01 * 255) ** 2;
  close(ssim(x, y, 7, 7), (2 * 100 * 110 + c1) / (100 ** 2 + 110 ** 2 + c1), 1e-12, "constant");
  close(ssim(x, y, 7, 7), 0.99547644409, 1e-10, "constant (number)");
});

Deno.test("ssim: equals the direct 7x7-window computation on random frames", () => {
  for (const [w, h, ch, seed] of [[7, 7, 3, 2], [12, 9, 3, 3], [16, 11, 1, 4], [20, 13, 3, 5]]) {
    const a = pixels(w * h * ch, seed);
    // A noisy copy, so the value is neither 1 nor near 0.
    const b = Uint8Array.from(a, (v, i) => Math.min(255, Math.max(0, v + ((i * 37) % 41) - 20)));
    const expected = slowSsim(a, b, w, h, ch);
    assert.ok(expected > 0.3 && expected < 0.999, `test pair SSIM ${expected}`);
    close(ssim(a, b, w, h, ch), expected, 1e-10, `${w}x${h}x${ch}`);
    const other = pixels(w * h * ch, seed + 100);
    close(
      ssim(a, other, w, h, ch),
      slowSsim(a, other, w, h, ch),
      1e-10,
      `${w}x${h}x${ch} unrelated`,
    );
  }
});

Deno.test("ssim: frames smaller than the window, or of the wrong size, are errors", () => {
  assert.throws(() => ssim(new Uint8Array(6 * 6 * 3), new Uint8Array(6 * 6 * 3), 6, 6), /7x7/);
  assert.throws(() => ssim(new Uint8Array(10), new Uint8Array(10), 7, 7), /hold 147 values/);
});

Deno.test("QualityMeter: PSNR pooled over all frames, SSIM averaged over frames", () => {
  const w = 8, h = 8, n = w * h * 3;
  const f0 = pixels(n, 6), f1 = pixels(n, 7);
  const r0 = Uint8Array.from(f0, (v) => (v > 250 ? v - 4 : v + 4)); // every value off by 4
  const r1 = new Uint8Array(f1); // exact
  const meter = new QualityMeter();
  const a = meter.add(f0, r0, w, h);
  const b = meter.add(f1, r1, w, h);
  close(a.psnr, 20 * Math.log10(255 / (4 + F32_EPS)), 1e-9, "frame 0");
  close(b.psnr, 20 * Math.log10(255 / F32_EPS), 1e-9, "frame 1");
  const q = meter.result();
  assert.equal(q.frames, 2);
  // Pooled MSE (16 n + 0) / 2n = 8, not the mean of the two frames' PSNRs.
  close(q.psnr, 20 * Math.log10(255 / (Math.sqrt(8) + F32_EPS)), 1e-9, "pooled");
  close(q.ssim, (slowSsim(f0, r0, w, h, 3) + 1) / 2, 1e-10, "mean SSIM");
  assert.throws(() => new QualityMeter().result(), /No frames/);
  // Frames smaller than the window have a PSNR but no SSIM.
  const tiny = new QualityMeter();
  tiny.add(new Uint8Array(4 * 4 * 3), new Uint8Array(4 * 4 * 3).fill(2), 4, 4);
  close(tiny.result().psnr, 20 * Math.log10(255 / (2 + F32_EPS)), 1e-9, "tiny PSNR");
  assert.ok(Number.isNaN(tiny.result().ssim));
});
