/**
 * The RMS norm op (the Wan VAE's RMS_norm over channels, + SiLU) on both backends against the
 * float64 reference in src/testing/oracle/rms_norm.ts, and its refusals.
 */

import assert from "node:assert/strict";
import { assertClose, kernelTest, randomArray } from "./helpers.ts";
import { refRmsNorm } from "../src/testing/oracle/rms_norm.ts";

const CASES: { shape: number[]; silu: boolean }[] = [
  // Video [B, C, T, H, W], two batch items.
  { shape: [2, 5, 3, 4, 6], silu: true },
  // An image [B, C, H, W] without SiLU.
  { shape: [1, 16, 7, 5], silu: false },
  // Many positions: the WebAssembly kernel's items spread over every thread.
  { shape: [1, 3, 2, 200, 180], silu: true },
];

for (const [i, c] of CASES.entries()) {
  kernelTest(`rmsNorm() matches the reference: [${c.shape}] silu ${c.silu}`, async (ops) => {
    const n = c.shape.reduce((a, b) => a * b, 1);
    const x = randomArray(n, 1900 + i, -3, 3);
    const channels = c.shape[1];
    const gamma = randomArray(channels, 1950 + i, 0.5, 1.5);
    const positions = n / (c.shape[0] * channels);
    const ref = refRmsNorm(x, [c.shape[0], channels, positions], gamma, c.silu);
    const xt = ops.upload({ data: x, shape: c.shape });
    const g = ops.upload({ data: gamma, shape: [channels] });
    const y = ops.rmsNorm(xt, { gamma: g, channels }, c.silu);
    assert.deepEqual(y.shape, c.shape);
    const got = await ops.read(y);
    for (const t of [xt, g, y]) ops.release(t);
    assertClose(got.data, ref, 1e-6, "rmsNorm");
  });
}

kernelTest("rmsNorm() of an all-zero position gives zeros, not NaN", async (ops) => {
  // F.normalize floors the norm at 1e-12: 0 / 1e-12 is 0.
  const x = new Float32Array(4 * 3);
  x[0] = 2; // channel 0 of position 0; positions 1 and 2 are zero in every channel
  const xt = ops.upload({ data: x, shape: [1, 4, 3] });
  const g = ops.upload({ data: new Float32Array([1, 1, 1, 1]), shape: [4] });
  const y = ops.rmsNorm(xt, { gamma: g, channels: 4 }, false);
  const got = await ops.read(y);
  for (const t of [xt, g, y]) ops.release(t);
  assert.ok(got.data.every((v) => Number.isFinite(v)));
  assertClose(got.data, refRmsNorm(x, [1, 4, 3], new Float32Array([1, 1, 1, 1]), false), 1e-6);
  assert.equal(got.data[0], 2); // sqrt(4) * 2 / 2
  assert.equal(got.data[1], 0);
  assert.equal(got.data[2], 0);
});

kernelTest("rmsNorm() refuses a norm of another channel count", (ops) => {
  const xt = ops.upload({ data: new Float32Array(12), shape: [1, 4, 3] });
  const g = ops.upload({ data: new Float32Array(3), shape: [3] });
  try {
    assert.throws(
      () => ops.rmsNorm(xt, { gamma: g, channels: 3 }, false),
      /rmsNorm: input has 4 channels, the norm 3/,
    );
  } finally {
    ops.release(xt);
    ops.release(g);
  }
});
