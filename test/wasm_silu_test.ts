/**
 * SiLU on the WebAssembly backend (asm/nn.ts silu4: a polynomial exponential four values at a
 * time, and the same one value at a time) through groupNormApply with the identity
 * normalisation: against float64 x / (1 + e^-x) over the range activations take and past the
 * exponential's limits, on planes not a multiple of four (the scalar tail must agree with the
 * vector body), and NaN kept NaN.
 */

import assert from "node:assert/strict";
import { cpuWasm, positional } from "../src/backends/wasm/kernels.ts";

/** Float32 ulps of SiLU's result allowed: the exponential's 2, its sum and the division. */
const ULPS = 4;

/** The float32 ulp at |v| (the spacing of floats there). */
function ulp(v: number): number {
  const a = Math.max(Math.abs(v), 2 ** -126);
  return 2 ** (Math.floor(Math.log2(a)) - 23);
}

async function siluOf(values: Float32Array): Promise<Float32Array> {
  const wasm = await cpuWasm();
  const n = values.length;
  const [px, py, ps, pg] = wasm.reserve("silu test", n * 4, n * 4, 8, 8);
  wasm.f32(px, n).set(values);
  wasm.f32(ps, 2).set([0, 1]); // mean 0, rstd 1
  wasm.f32(pg, 2).set([1, 0]); // gamma 1, beta 0
  const args = {
    x: px,
    y: py,
    stats: ps,
    gammaBeta: pg,
    channels: 1,
    frames: 1,
    spatial: n,
    groups: 1,
    act: 1,
  };
  (wasm.k.groupNormApply as (...a: number[]) => void)(...positional("groupNormApply", args), 0, 1);
  return wasm.f32(py, n).slice();
}

Deno.test("SiLU: within a few float32 ulps of float64 from -100 to 100, in the vector body and the scalar tail", async () => {
  // 200003 values: not a multiple of four, so the last three take the scalar loop.
  const n = 200003;
  const x = new Float32Array(n);
  for (let i = 0; i < n; i++) x[i] = -100 + (200 * i) / (n - 1);
  x.set([0, -0, 1e-30, -1e-30, 87.5, -87.5, 88.9, -88.9, 30, -30], 0);
  const y = await siluOf(x);
  for (let i = 0; i < n; i++) {
    const v = x[i], want = v / (1 + Math.exp(-v));
    const err = Math.abs(y[i] - want);
    // Below 1e-36 in magnitude (v < -84): a few ulps of the smallest normal floats.
    assert.ok(
      err <= ULPS * ulp(want) || Math.abs(want) < 1e-36,
      `SiLU(${v}) = ${y[i]}, expected ${want} (${(err / ulp(want)).toFixed(1)} ulps)`,
    );
  }
  // The tail (scalar) and the body (vector) agree on the same value.
  const same = await siluOf(new Float32Array([0.37, 0.37, 0.37, 0.37, 0.37]));
  assert.ok(same.every((v) => v === same[0]), `${same}`);
});

Deno.test("SiLU: NaN stays NaN, infinities saturate", async () => {
  const y = await siluOf(new Float32Array([NaN, 1, NaN, -2, NaN, Infinity]));
  assert.ok(Number.isNaN(y[0]) && Number.isNaN(y[2]) && Number.isNaN(y[4]), `${y}`);
  assert.equal(y[5], Infinity);
});
