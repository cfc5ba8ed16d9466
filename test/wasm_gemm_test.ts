/**
 * The WebAssembly SGEMM of asm/gemm.ts against a plain TypeScript triple loop (float64
 * accumulation): odd shapes around the blocking (micro-tile 6 x 8, depth blocks of 256), every
 * stride layout (A and B row-major or transposed, padded rows), accumulate, bias, and ranges
 * split over threads' worth of calls that together must equal the unsplit call bit for bit.
 */

import assert from "node:assert/strict";
import { type CpuWasm, cpuWasm } from "../src/backends/wasm/kernels.ts";
import { randomArray } from "./helpers.ts";

/**
 * |wasm - float64 sum| <= (k + 2) 2^-24 (|bias| + |C0| + sum |A B|): the bound of float32
 * recursive summation of k + 2 terms with rounded products.
 */
const tol = (k: number) => (k + 2) * 2 ** -24;

interface Case {
  m: number;
  n: number;
  k: number;
  /** A stored transposed ([K, M]), B stored transposed ([N, K]). */
  ta: boolean;
  tb: boolean;
  /** Extra floats per row of A, B and C beyond their width. */
  pad: number;
  accumulate: boolean;
  bias: boolean;
}

/** Runs `gemm` over each range of `ranges` (m0, m1, n0, n1) in turn; returns C as a dense copy. */
function run(w: CpuWasm, c: Case, seed: number, ranges: number[][]): Float32Array {
  const { m, n, k, ta, tb, pad } = c;
  const aRows = ta ? k : m, aCols = (ta ? m : k) + pad;
  const bRows = tb ? n : k, bCols = (tb ? k : n) + pad;
  const ldc = n + pad;
  const scratch = w.k.gemmScratchBytes(m, n, k);
  const [pa, pb, pc, pbias, ps] = w.reserve(
    "gemm test",
    aRows * aCols * 4,
    bRows * bCols * 4,
    m * ldc * 4,
    m * 4,
    scratch,
  );
  w.f32(pa, aRows * aCols).set(randomArray(aRows * aCols, seed));
  w.f32(pb, bRows * bCols).set(randomArray(bRows * bCols, seed + 1));
  w.f32(pc, m * ldc).set(randomArray(m * ldc, seed + 2));
  w.f32(pbias, m).set(randomArray(m, seed + 3));
  const [sam, sak] = ta ? [1, aCols] : [aCols, 1];
  const [sbk, sbn] = tb ? [1, bCols] : [bCols, 1];
  for (const [m0, m1, n0, n1] of ranges) {
    w.k.gemm(
      m0,
      m1,
      n0,
      n1,
      k,
      pa,
      sam,
      sak,
      pb,
      sbk,
      sbn,
      pc,
      ldc,
      c.bias ? pbias : 0,
      c.accumulate ? 1 : 0,
      ps,
    );
  }
  return w.f32(pc, m * ldc).slice();
}

/** The float64 triple loop on the same inputs; returns [C, bound of the rounding error]. */
function reference(c: Case, seed: number): [Float64Array, Float64Array] {
  const { m, n, k, ta, tb, pad } = c;
  const aCols = (ta ? m : k) + pad, bCols = (tb ? k : n) + pad, ldc = n + pad;
  const a = randomArray((ta ? k : m) * aCols, seed);
  const b = randomArray((tb ? n : k) * bCols, seed + 1);
  const c0 = randomArray(m * ldc, seed + 2);
  const bias = randomArray(m, seed + 3);
  const out = new Float64Array(m * ldc);
  const bound = new Float64Array(m * ldc);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = (c.accumulate ? c0[i * ldc + j] : 0) + (c.bias ? bias[i] : 0);
      let abs = Math.abs(s);
      for (let q = 0; q < k; q++) {
        const p = a[ta ? q * aCols + i : i * aCols + q] * b[tb ? j * bCols + q : q * bCols + j];
        s += p;
        abs += Math.abs(p);
      }
      out[i * ldc + j] = s;
      bound[i * ldc + j] = abs;
    }
  }
  return [out, bound];
}

function check(got: Float32Array, c: Case, seed: number, what: string): void {
  const [want, bound] = reference(c, seed);
  const ldc = c.n + c.pad;
  const c0 = randomArray(c.m * ldc, seed + 2);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < ldc; j++) {
      const at = i * ldc + j;
      if (j >= c.n) {
        // Padding past n1 stays untouched.
        assert.equal(got[at], c0[at], `${what}: C[${i}, ${j}] (padding) was written`);
        continue;
      }
      const err = Math.abs(got[at] - want[at]);
      if (!(err <= tol(c.k) * bound[at])) {
        assert.fail(`${what}: C[${i}, ${j}] = ${got[at]}, expected ${want[at]} (err ${err})`);
      }
    }
  }
}

const name = (c: Case) =>
  `${c.m}x${c.n}x${c.k}${c.ta ? " At" : ""}${c.tb ? " Bt" : ""}${c.pad ? ` pad${c.pad}` : ""}` +
  `${c.accumulate ? " acc" : ""}${c.bias ? " bias" : ""}`;

Deno.test("wasm gemm: odd shapes, strides, accumulate and bias against a float64 loop", async () => {
  const w = await cpuWasm();
  const dims = [1, 2, 5, 6, 7, 8, 9, 13, 17, 31, 48, 70];
  let seed = 1;
  for (let t = 0; t < 90; t++) {
    const c: Case = {
      m: dims[(t * 7) % dims.length],
      n: dims[(t * 5 + 3) % dims.length],
      k: [1, 3, 8, 37, 70, 255, 256, 257, 600][t % 9],
      ta: (t & 1) === 1,
      tb: (t & 2) === 2,
      pad: t % 3,
      accumulate: t % 4 < 2,
      bias: t % 5 < 3,
    };
    seed += 7;
    check(run(w, c, seed, [[0, c.m, 0, c.n]]), c, seed, name(c));
  }
});

Deno.test("wasm gemm: ranges split over rows and columns equal the unsplit call", async () => {
  const w = await cpuWasm();
  const cases: Case[] = [
    { m: 70, n: 67, k: 300, ta: false, tb: false, pad: 1, accumulate: true, bias: true },
    { m: 37, n: 70, k: 45, ta: true, tb: true, pad: 0, accumulate: false, bias: true },
    { m: 13, n: 29, k: 513, ta: false, tb: true, pad: 2, accumulate: true, bias: false },
  ];
  for (const c of cases) {
    const whole = run(w, c, 99, [[0, c.m, 0, c.n]]);
    check(whole, c, 99, name(c));
    const mh = Math.floor(c.m / 3), nh = Math.floor(c.n / 2) + 1;
    // Row blocks, column blocks, and a mix: ragged cuts not on micro-tile boundaries.
    const splits = [
      [[0, mh, 0, c.n], [mh, c.m, 0, c.n]],
      [[0, c.m, nh, c.n], [0, c.m, 0, nh]],
      [[0, mh, 0, nh], [mh, c.m, 0, nh], [0, c.m, nh, c.n]],
    ];
    for (const ranges of splits) {
      const split = run(w, c, 99, ranges);
      assert.deepEqual(split, whole, `${name(c)} split ${JSON.stringify(ranges)}`);
    }
  }
});

Deno.test("wasm gemm: empty ranges write nothing", async () => {
  const w = await cpuWasm();
  const c: Case = { m: 5, n: 6, k: 7, ta: false, tb: false, pad: 0, accumulate: false, bias: true };
  const before = run(w, c, 5, []);
  assert.deepEqual(run(w, c, 5, [[2, 2, 0, 6], [0, 5, 3, 3]]), before);
});
