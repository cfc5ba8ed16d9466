/**
 * The WebAssembly products on weights packed once per call (asm/gemm.ts packPanels and
 * gemmPacked) against a float64 triple loop: row counts around the 6-row panels, depths around
 * the 256-deep blocks, columns around the 8-wide micro-panels, B as strided rows and as a table
 * of row addresses in any order, accumulate and bias, and ranges split over panels and columns
 * equal to the unsplit call bit for bit. Then the convolutions that use them (1x1 and causal
 * temporal, src/backends/wasm/conv.ts) against the reference convolution at odd sizes: one
 * frame, fewer frames than the causal padding, channels not a multiple of 4, planes not a
 * multiple of 8, batches, residuals, and weights too large to pack (the unpacked fallbacks).
 */

import assert from "node:assert/strict";
import { type CpuWasm, cpuWasm } from "../src/backends/wasm/kernels.ts";
import { WasmOps } from "../src/backends/wasm/backend.ts";
import { PACKED_MAX_BYTES } from "../src/backends/wasm/gemm.ts";
import { convParams } from "../src/nn/params.ts";
import { refConv } from "../src/testing/oracle/conv.ts";
import { assertClose, randomArray } from "./helpers.ts";

/** |wasm - float64| <= (k + 2) 2^-24 (|bias| + |C0| + sum |A B|), as test/wasm_gemm_test.ts. */
const tol = (k: number) => (k + 2) * 2 ** -24;

interface Case {
  m: number;
  n: number;
  k: number;
  /** B's rows through a table of addresses (in reverse order in memory) instead of a stride. */
  table: boolean;
  accumulate: boolean;
  bias: boolean;
}

/** Packs A, runs gemmPacked over each range (m0, m1, n0, n1); returns C. */
function run(w: CpuWasm, c: Case, seed: number, ranges: number[][]): Float32Array {
  const { m, n, k } = c;
  const ldb = n + 3; // rows of B padded, so a stride is not the width
  const [pa, pp, pb, prows, pc, pbias, ps] = w.reserve(
    "packed gemm test",
    m * k * 4,
    w.k.packedBytes(m, k),
    k * ldb * 4,
    k * 4,
    m * n * 4,
    m * 4,
    w.k.gemmScratchBytes(m, n, k),
  );
  w.f32(pa, m * k).set(randomArray(m * k, seed));
  const b = randomArray(k * n, seed + 1);
  const stored = w.f32(pb, k * ldb);
  // With a table, row q of B is stored at slot k - 1 - q.
  for (let q = 0; q < k; q++) {
    const slot = c.table ? k - 1 - q : q;
    stored.set(b.subarray(q * n, (q + 1) * n), slot * ldb);
  }
  const rows = w.i32(prows, k);
  for (let q = 0; q < k; q++) rows[q] = pb + 4 * (k - 1 - q) * ldb;
  w.f32(pc, m * n).set(randomArray(m * n, seed + 2));
  w.f32(pbias, m).set(randomArray(m, seed + 3));
  w.k.packPanels(pa, k, 1, m, k, pp, 0, Math.ceil(m / 6));
  for (const [m0, m1, n0, n1] of ranges) {
    w.k.gemmPacked(
      m0,
      m1,
      n0,
      n1,
      k,
      pp,
      pb,
      ldb,
      c.table ? prows : 0,
      pc,
      n,
      c.bias ? pbias : 0,
      c.accumulate ? 1 : 0,
      ps,
    );
  }
  return w.f32(pc, m * n).slice();
}

function check(got: Float32Array, c: Case, seed: number, what: string): void {
  const { m, n, k } = c;
  const a = randomArray(m * k, seed), b = randomArray(k * n, seed + 1);
  const c0 = randomArray(m * n, seed + 2), bias = randomArray(m, seed + 3);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = (c.accumulate ? c0[i * n + j] : 0) + (c.bias ? bias[i] : 0);
      let abs = Math.abs(s);
      for (let q = 0; q < k; q++) {
        const p = a[i * k + q] * b[q * n + j];
        s += p;
        abs += Math.abs(p);
      }
      const err = Math.abs(got[i * n + j] - s);
      if (!(err <= tol(k) * abs)) {
        assert.fail(`${what}: C[${i}, ${j}] = ${got[i * n + j]}, expected ${s} (err ${err})`);
      }
    }
  }
}

const name = (c: Case) =>
  `${c.m}x${c.n}x${c.k}${c.table ? " table" : ""}${c.accumulate ? " acc" : ""}${
    c.bias ? " bias" : ""
  }`;

Deno.test("wasm packed gemm: odd shapes, strided and tabled B, accumulate and bias against a float64 loop", async () => {
  const w = await cpuWasm();
  const ms = [1, 5, 6, 7, 12, 13, 70];
  const ns = [1, 7, 8, 9, 17, 67];
  let seed = 3;
  for (let t = 0; t < 56; t++) {
    const c: Case = {
      m: ms[t % ms.length],
      n: ns[(t * 5 + 1) % ns.length],
      k: [1, 3, 37, 255, 256, 257, 600][(t * 3) % 7],
      table: (t & 1) === 1,
      accumulate: t % 4 < 2,
      bias: t % 3 < 2,
    };
    seed += 11;
    check(run(w, c, seed, [[0, c.m, 0, c.n]]), c, seed, name(c));
  }
});

Deno.test("wasm packed gemm: ranges split over panels and columns equal the unsplit call", async () => {
  const w = await cpuWasm();
  const cases: Case[] = [
    { m: 70, n: 67, k: 300, table: true, accumulate: true, bias: true },
    { m: 37, n: 70, k: 45, table: false, accumulate: false, bias: true },
    { m: 13, n: 29, k: 513, table: true, accumulate: false, bias: false },
  ];
  for (const c of cases) {
    const whole = run(w, c, 77, [[0, c.m, 0, c.n]]);
    check(whole, c, 77, name(c));
    // Row cuts on panel boundaries (multiples of 6), column cuts anywhere.
    const mh = 6 * Math.floor(c.m / 12), nh = Math.floor(c.n / 2) + 1;
    const splits = [
      [[0, mh, 0, c.n], [mh, c.m, 0, c.n]],
      [[0, c.m, nh, c.n], [0, c.m, 0, nh]],
      [[0, mh, 0, nh], [mh, c.m, 0, nh], [0, c.m, nh, c.n]],
    ];
    for (const ranges of splits) {
      assert.deepEqual(run(w, c, 77, ranges), whole, `${name(c)} split ${JSON.stringify(ranges)}`);
    }
  }
});

interface ConvCase {
  shape: number[]; // [b, cin, t, h, w]
  cout: number;
  kt: number;
  residual: boolean;
}

/** conv() on the wasm backend against refConv, a (kt, 1, 1) kernel. */
async function checkConv(ops: WasmOps, c: ConvCase, seed: number): Promise<void> {
  const [b, cin, t, h, w] = c.shape;
  const x = randomArray(b * cin * t * h * w, seed);
  const weight = randomArray(c.cout * cin * c.kt, seed + 1, -0.3, 0.3);
  const bias = randomArray(c.cout, seed + 2);
  const params = convParams(ops, weight, [c.cout, cin, c.kt, 1, 1], bias);
  const xt = ops.upload({ data: x, shape: c.shape });
  const ref = refConv(x, c.shape, { weight, bias, cout: c.cout, cin, k: [c.kt, 1, 1] });
  const residual = c.residual ? randomArray(ref.data.length, seed + 3) : undefined;
  if (residual) ref.data.forEach((v, j) => ref.data[j] = v + residual[j]);
  const rt = residual ? ops.upload({ data: residual, shape: ref.shape }) : undefined;
  const y = ops.conv(xt, params, { residual: rt });
  const got = await ops.read(y);
  assert.deepEqual(got.shape, ref.shape);
  assertClose(got.data, ref.data, 1e-5, `conv ${c.shape.join("x")} -> ${c.cout}, kt ${c.kt}`);
  for (const r of [y, xt, params.weight, params.bias, ...(rt ? [rt] : [])]) ops.release(r);
}

Deno.test("wasm packed gemm: causal temporal and 1x1 convs at odd sizes match the reference", async () => {
  const ops = await WasmOps.create({ threads: 2 });
  try {
    const cases: ConvCase[] = [
      // One frame: fewer output frames than the causal padding; every tap reads frame 0.
      { shape: [1, 5, 1, 3, 5], cout: 7, kt: 3, residual: false },
      { shape: [2, 7, 4, 3, 5], cout: 13, kt: 3, residual: true },
      { shape: [1, 3, 6, 1, 1], cout: 2, kt: 3, residual: false },
      { shape: [1, 9, 3, 4, 4], cout: 6, kt: 2, residual: true },
      // 100 channels x 3 taps: depth past one 256-deep block; 16x17 columns past 256 per frame.
      { shape: [1, 100, 5, 16, 17], cout: 50, kt: 3, residual: false },
      // 1x1 (the direct path), batch 2, channels not a multiple of 4.
      { shape: [2, 11, 3, 3, 7], cout: 9, kt: 1, residual: true },
    ];
    for (const [i, c] of cases.entries()) await checkConv(ops, c, 900 + 10 * i);
  } finally {
    ops.destroy();
  }
});

Deno.test("wasm packed gemm: convs whose weights are too large to pack take the unpacked path", async () => {
  const ops = await WasmOps.create({ threads: 2 });
  try {
    // Packed: ceil(cout / 6) 6 rows x cin kt floats, past PACKED_MAX_BYTES in both.
    const temporal: ConvCase = { shape: [1, 1400, 3, 1, 2], cout: 1030, kt: 3, residual: true };
    const direct: ConvCase = { shape: [1, 2100, 1, 1, 3], cout: 2100, kt: 1, residual: false };
    for (const c of [temporal, direct]) {
      assert.ok(Math.ceil(c.cout / 6) * 6 * c.shape[1] * c.kt * 4 > PACKED_MAX_BYTES);
    }
    await checkConv(ops, temporal, 1);
    await checkConv(ops, direct, 2);
  } finally {
    ops.destroy();
  }
});
