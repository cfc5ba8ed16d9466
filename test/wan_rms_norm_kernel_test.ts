/**
 * The WebAssembly RMS norm kernel (asm/rms_norm.ts: f32x4 over 16 positions an item, a vector
 * exp for SiLU) against the float64 reference (src/testing/oracle/rms_norm.ts, the maths the
 * backend's earlier plain-JS loop computed): value by value, over tails of every length, SiLU
 * far into both saturations, and the same bits on one thread as on several.
 */

import assert from "node:assert/strict";
import { randomArray } from "./helpers.ts";
import { refRmsNorm } from "../src/testing/oracle/rms_norm.ts";
import { WasmOps } from "../src/backends/wasm/backend.ts";

const one = await WasmOps.create({ threads: 1 });
const many = await WasmOps.create({ threads: 4 });

async function run(
  ops: WasmOps,
  x: Float32Array,
  shape: number[],
  gamma: Float32Array,
  silu: boolean,
) {
  const xt = ops.upload({ data: x, shape });
  const g = ops.upload({ data: gamma, shape: [gamma.length] });
  const y = ops.rmsNorm(xt, { gamma: g, channels: gamma.length }, silu);
  const got = await ops.read(y);
  for (const t of [xt, g, y]) ops.release(t);
  assert.deepEqual(got.shape, shape);
  return got.data as Float32Array;
}

/**
 * The largest error of `got` against `ref` relative to each value (to 1e-30 for values near
 * zero): the kernel must be close everywhere, not only where the values are large.
 */
function worst(got: Float32Array, ref: Float32Array): number {
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]) / Math.max(Math.abs(ref[i]), 1e-30);
    if (!(d <= e)) e = Number.isNaN(d) ? Infinity : d;
  }
  return e;
}

Deno.test("wasm rmsNorm kernel: every tail length of a 16-position item matches the float64 reference", async () => {
  for (const positions of [1, 4, 15, 16, 17, 31, 33, 100]) {
    for (const silu of [false, true]) {
      const [b, c] = [2, 12];
      const x = randomArray(b * c * positions, 300 + positions, -2, 2);
      const gamma = randomArray(c, 400 + positions, 0.5, 1.5);
      const ref = refRmsNorm(x, [b, c, positions], gamma, silu);
      const got = await run(one, x, [b, c, positions], gamma, silu);
      const e = worst(got, ref);
      assert.ok(e <= 2e-6, `P ${positions} silu ${silu}: value error ${e}`);
    }
  }
});

Deno.test("wasm rmsNorm kernel: SiLU's vector exp holds far into both saturations", async () => {
  // Gamma up to 60 with sqrt(C) = 2 puts values in about [-120, 120]: exp(-v) clamps at both ends.
  const [c, positions] = [4, 4096];
  const x = randomArray(c * positions, 77, -1, 1);
  const gamma = new Float32Array([60, -45, 20, 0.01]);
  const ref = refRmsNorm(x, [1, c, positions], gamma, true);
  const got = await run(one, x, [1, c, positions], gamma, true);
  // Outputs of the negative saturation are tiny (v exp(v)): compared absolutely there.
  let e = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(got[i] - ref[i]) / Math.max(Math.abs(ref[i]), 1e-3);
    if (!(d <= e)) e = Number.isNaN(d) ? Infinity : d;
  }
  assert.ok(e <= 2e-6, `value error ${e}`);
  assert.ok(got.every(Number.isFinite));
});

Deno.test("wasm rmsNorm kernel: one thread and four give the same bits", async () => {
  const shape = [2, 7, 3, 37, 29];
  const n = shape.reduce((a, b) => a * b, 1);
  const x = randomArray(n, 5, -3, 3);
  const gamma = randomArray(7, 6, 0.5, 1.5);
  const a = await run(one, x, shape, gamma, true);
  const b = await run(many, x, shape, gamma, true);
  assert.deepEqual(a, b);
  const ref = refRmsNorm(x, [2, 7, 3 * 37 * 29], gamma, true);
  assert.ok(worst(a, ref) <= 2e-6);
});

Deno.test({
  name: "wasm rmsNorm kernel: the backends are released",
  sanitizeResources: false,
  fn() {
    one.destroy();
    many.destroy();
  },
});
