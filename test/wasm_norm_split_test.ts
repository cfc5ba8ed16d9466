/**
 * GroupNorm statistics on the WebAssembly backend when there are fewer slots than 8 (a video's
 * one group per frame, src/backends/wasm/norm.ts splitStats over asm/nn.ts groupNormPartials):
 * each slot's channels are split into parts the threads share, and the result must match a
 * float64 reference, and be the same bits on two threads and on one (the parts do not depend
 * on the thread count), at odd sizes: channels not a multiple of 4 nor of the parts, one frame
 * and several, one group and two, planes not a multiple of 8; and the plain kernel where slots
 * are many or small.
 */

import assert from "node:assert/strict";
import { WasmOps } from "../src/backends/wasm/backend.ts";
import { randomArray } from "./helpers.ts";

interface Case {
  shape: number[]; // [b, c, t, h, w]
  groups: number;
}

/** (mean, rstd) per (b, frame, group) in float64, biased variance, eps 1e-6. */
function reference(x: Float32Array, [b, c, t, h, w]: number[], groups: number): Float64Array {
  const cpg = c / groups, hw = h * w, out = new Float64Array(b * t * groups * 2);
  for (let bi = 0; bi < b; bi++) {
    for (let f = 0; f < t; f++) {
      for (let g = 0; g < groups; g++) {
        let sum = 0, sq = 0;
        const at = (ch: number) => ((bi * c + ch) * t + f) * hw;
        for (let ch = g * cpg; ch < (g + 1) * cpg; ch++) {
          for (let i = 0; i < hw; i++) sum += x[at(ch) + i];
        }
        const mean = sum / (cpg * hw);
        for (let ch = g * cpg; ch < (g + 1) * cpg; ch++) {
          for (let i = 0; i < hw; i++) sq += (x[at(ch) + i] - mean) ** 2;
        }
        const slot = (bi * t + f) * groups + g;
        out[2 * slot] = mean;
        out[2 * slot + 1] = 1 / Math.sqrt(sq / (cpg * hw) + 1e-6);
      }
    }
  }
  return out;
}

const CASES: Case[] = [
  { shape: [1, 37, 1, 30, 31], groups: 1 }, // one slot, 37 channels into 8 parts
  { shape: [1, 64, 3, 24, 24], groups: 1 }, // three slots
  { shape: [2, 26, 2, 33, 40], groups: 2 }, // 13 channels per group, 8 slots: not split
  { shape: [1, 9, 1, 70, 53], groups: 1 }, // fewer channels than chunks: 9 parts of one
  { shape: [1, 16, 2, 8, 8], groups: 1 }, // small slots: not split
];

async function stats(ops: WasmOps, x: Float32Array, c: Case): Promise<Float32Array> {
  const t = ops.upload({ data: x, shape: c.shape });
  const s = ops.groupNormStats(t, { groups: c.groups, eps: 1e-6, perFrame: true });
  const out = (await ops.read(s)).data as Float32Array;
  ops.release(s);
  ops.release(t);
  return out;
}

Deno.test("wasm groupNormStats: slots split by channels match float64, the same bits on 1 and 2 threads", async () => {
  const two = await WasmOps.create({ threads: 2 });
  const one = await WasmOps.create({ threads: 1 });
  try {
    let seed = 70;
    for (const c of CASES) {
      seed += 3;
      const n = c.shape.reduce((a, b) => a * b, 1);
      // An offset mean, so that the two passes matter.
      const x = randomArray(n, seed, 0.5, 2.5);
      const want = reference(x, c.shape, c.groups);
      const got = await stats(two, x, c), solo = await stats(one, x, c);
      const what = `${c.shape.join("x")} groups ${c.groups}`;
      for (let i = 0; i < want.length; i++) {
        // float32 rounding of a float64 sum: a few ulps of the value.
        const tol = 4 * 2 ** -24 * Math.abs(want[i]);
        assert.ok(Math.abs(got[i] - want[i]) <= tol, `${what} [${i}]: ${got[i]} vs ${want[i]}`);
      }
      // The same sums whatever the thread count, so the same bits.
      assert.deepEqual(got, solo, `${what}: 2 threads against 1`);
    }
  } finally {
    two.destroy();
    one.destroy();
  }
});
