/**
 * The CPU (WebAssembly) Haar wavelet and FSQ of src/backends/wasm/standalone.ts: against the reference
 * fixtures, the float32 oracles of src/testing/oracle/ (bit for bit), their float64 form, the
 * WebGPU kernels (when an adapter is present), round trips, and every input check.
 */

import assert from "node:assert/strict";
import {
  fsqCodesToIndices,
  fsqIndicesToCodes,
  fsqQuantize,
  haarPatch,
  haarUnpatch,
} from "../src/backends/wasm/standalone.ts";
import {
  refFsq,
  tsFsqCodesToIndices,
  tsFsqIndicesToCodes,
  tsFsqQuantize,
} from "../src/testing/oracle/fsq.ts";
import {
  refHaar,
  refHaarPatch as refHaarPatch3d,
  refHaarUnpatch as refHaarUnpatch3d,
  tsHaarPatch,
  tsHaarUnpatch,
} from "../src/testing/oracle/haar.ts";
import { refTensor } from "../src/testing/oracle/tensor.ts";
import { DEFAULT_FSQ_LEVELS } from "../src/backends/fsq.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import { type HostTensor, numel } from "../src/types.ts";
import {
  assertClose,
  FIXTURE_VARIANTS,
  fixtureCases,
  FIXTURES,
  gpuTest,
  randomArray,
} from "./helpers.ts";

/** The task's tolerance for the Haar transforms against the reference fixtures. */
const FIXTURE_TOL = 1e-5;
/** CPU vs GPU (and vs float64 references): the last float rounding, compounded over levels. */
const ROUNDING_TOL = 1e-6;

function tensor(shape: number[], seed: number, lo = -1, hi = 1): HostTensor {
  return { data: randomArray(numel(shape), seed, lo, hi), shape };
}

/** Asserts bit-equal contents (NaN-free data; -0 and 0 count as equal). */
function assertSame(actual: HostTensor, expected: HostTensor, what: string): void {
  assert.deepEqual(actual.shape, expected.shape, `${what}: shape`);
  assert.equal(actual.data.constructor, expected.data.constructor, `${what}: dtype`);
  for (let i = 0; i < expected.data.length; i++) {
    if (actual.data[i] !== expected.data[i]) {
      assert.fail(`${what}: element ${i} is ${actual.data[i]}, expected ${expected.data[i]}`);
    }
  }
}

/** Largest differences seen, printed at the end for the report. */
const worst: Record<string, number> = {};
function record(key: string, err: number): void {
  worst[key] = Math.max(worst[key] ?? 0, err);
}

// ---------------------------------------------------------------------------------------------
// Reference fixtures

for (const variant of FIXTURE_VARIANTS) {
  const dir = new URL(`${variant}/`, FIXTURES);
  for (const size of fixtureCases(variant)) {
    Deno.test(`fixture ${variant} ${size}: patch, unpatch and FSQ`, async () => {
      const c = parseSafetensors(await Deno.readFile(new URL(`case_${size}.safetensors`, dir)));
      const get = (name: string): HostTensor => ({
        data: c.entries.get(name)!.dtype === "I32" ? c.int32(name) : c.float32(name),
        shape: c.entries.get(name)!.shape,
      });
      const video = variant[1] === "V";
      const patched = get(video ? "probe.encoder.patcher3d" : "probe.encoder.patcher");
      const input = get("input");
      // The patch size follows from the channel count: 3 * p^2 or 3 * p^3.
      const p = Math.round((patched.shape[1] / 3) ** (1 / (video ? 3 : 2)));
      const y = await haarPatch(input, p);
      assert.deepEqual(y.shape, patched.shape);
      record("fixture patch", assertClose(y.data, patched.data, FIXTURE_TOL, "haarPatch"));
      const rec = get("reconstruction");
      const back = await haarUnpatch(get("probe.decoder.conv_out"), p);
      assert.deepEqual(back.shape, rec.shape);
      record("fixture unpatch", assertClose(back.data, rec.data, FIXTURE_TOL, "haarUnpatch"));
      if (variant[0] !== "D") return;
      const indices = get("indices"), codes = get("codes");
      const q = await fsqQuantize(get("probe.quant_conv"));
      assertSame(q.indices, indices, "fsqQuantize indices");
      assertSame(q.codes, codes, "fsqQuantize codes");
      assertSame(await fsqIndicesToCodes(indices), codes, "fsqIndicesToCodes");
      assertSame(await fsqCodesToIndices(codes), indices, "fsqCodesToIndices");
    });
  }
}

// ---------------------------------------------------------------------------------------------
// The plain TypeScript loops and the float64 references

const HAAR_2D: [number[], number][] = [
  [[1, 3, 16, 16], 1],
  [[1, 3, 16, 16], 2],
  [[2, 3, 24, 40], 4], // batch 2, non-square
  [[1, 3, 16, 48], 8],
  [[1, 5, 6, 10], 2], // odd half-widths: the scalar tail of the SIMD rows
  [[2, 1, 36, 28], 4], // widths 14 and 7 at the two levels
];
const HAAR_3D: [number[], number][] = [
  [[1, 3, 9, 8, 8], 1],
  [[1, 2, 5, 6, 10], 2],
  [[2, 3, 9, 16, 24], 4], // batch 2, non-square, SIMD and scalar columns
  [[1, 3, 1, 8, 8], 4], // a single frame
  [[1, 3, 17, 16, 16], 8],
  [[1, 1, 5, 12, 20], 4],
];

Deno.test("haarPatch() and haarUnpatch() equal the plain TypeScript loops bit for bit", async () => {
  for (const [i, [shape, p]] of [...HAAR_2D, ...HAAR_3D].entries()) {
    const x = tensor(shape, 100 + i);
    const y = await haarPatch(x, p);
    assertSame(y, tsHaarPatch(x, p), `patch [${shape}] p${p}`);
    assertSame(await haarUnpatch(y, p), tsHaarUnpatch(y, p), `unpatch [${shape}] p${p}`);
  }
});

Deno.test("haarPatch() matches the float64 references (2D per level, 3D Patcher3D)", async () => {
  for (const [i, [shape, p]] of HAAR_2D.entries()) {
    const x = tensor(shape, 200 + i);
    let ref: Float32Array = x.data as Float32Array;
    let s = [...shape];
    for (let l = 0; l < Math.log2(p); l++) {
      ref = refHaar(ref, s);
      s = [s[0], 4 * s[1], s[2] / 2, s[3] / 2];
    }
    const y = await haarPatch(x, p);
    assert.deepEqual(y.shape, s);
    record("float64 reference", assertClose(y.data, ref, ROUNDING_TOL, `2D [${shape}] p${p}`));
  }
  for (const [i, [shape, p]] of HAAR_3D.entries()) {
    const x = tensor(shape, 300 + i);
    const ref = refHaarPatch3d(refTensor(x.data, shape), Math.log2(p));
    const y = await haarPatch(x, p);
    assert.deepEqual(y.shape, ref.shape);
    record("float64 reference", assertClose(y.data, ref.data, ROUNDING_TOL, `3D [${shape}]`));
    const back = refHaarUnpatch3d(refTensor(y.data, y.shape), Math.log2(p));
    const got = await haarUnpatch(y, p);
    assert.deepEqual(got.shape, back.shape);
    record("float64 reference", assertClose(got.data, back.data, ROUNDING_TOL, "3D unpatch"));
  }
});

Deno.test("haarPatch() gives the reference's output shapes", async () => {
  const cases: [number[], number, number[]][] = [
    [[1, 3, 64, 64], 4, [1, 48, 16, 16]],
    [[2, 3, 32, 48], 8, [2, 192, 4, 6]],
    [[1, 3, 17, 32, 48], 4, [1, 192, 5, 8, 12]],
    [[1, 3, 17, 32, 48], 8, [1, 1536, 3, 4, 6]],
    [[1, 3, 9, 32, 32], 2, [1, 24, 5, 16, 16]],
    [[1, 3, 4, 8, 8], 1, [1, 3, 4, 8, 8]],
  ];
  for (const [shape, p, out] of cases) {
    const y = await haarPatch({ data: new Float32Array(numel(shape)), shape }, p);
    assert.deepEqual(y.shape, out, `[${shape}] p${p}`);
    assert.deepEqual((await haarUnpatch(y, p)).shape, shape, `unpatch [${out}] p${p}`);
  }
});

Deno.test("haarUnpatch(haarPatch(x)) is x; patch size 1 is a copy", async () => {
  for (const [i, [shape, p]] of [...HAAR_2D, ...HAAR_3D].entries()) {
    const x = tensor(shape, 400 + i);
    const y = await haarPatch(x, p);
    const back = await haarUnpatch(y, p);
    assert.deepEqual(back.shape, shape);
    record("round trip", assertClose(back.data, x.data, ROUNDING_TOL, `[${shape}] p${p}`));
    if (p === 1) {
      assertSame(y, x, "p1 patch");
      assert.notEqual(y.data, x.data, "a copy, not the caller's array");
    }
  }
  // A frame-0 repetition undone: the unpatcher drops exactly the p - 1 repeated frames.
  const still = tensor([1, 2, 1, 8, 8], 450);
  const back = await haarUnpatch(await haarPatch(still, 8), 8);
  assert.deepEqual(back.shape, [1, 2, 1, 8, 8]);
});

Deno.test("fsqQuantize() equals the TypeScript loops and the float64 reference", async () => {
  const cases: [number[], number[]][] = [
    [[2, 6, 13, 17], DEFAULT_FSQ_LEVELS as number[]],
    [[1, 3, 11], [7, 5, 3]],
    [[3, 1, 5, 7], [2]],
    [[1, 8, 4, 9], [3, 4, 5, 6, 7, 8, 3, 2]],
    [[2, 6, 3, 5, 7], DEFAULT_FSQ_LEVELS as number[]], // video latents
    [[1, 2], [16, 9]], // no positions beyond the channels
  ];
  for (const [i, [shape, levels]] of cases.entries()) {
    const z = tensor(shape, 500 + i, -4, 4);
    const got = await fsqQuantize(z, levels);
    const ts = tsFsqQuantize(z, levels);
    assertSame(got.indices, ts.indices, `indices [${shape}] [${levels}]`);
    assertSame(got.codes, ts.codes, `codes [${shape}] [${levels}]`);
    const ref = refFsq(z.data as Float32Array, shape[0], levels, numel(shape.slice(2)));
    assert.deepEqual(Array.from(got.indices.data), Array.from(ref.indices), "float64 indices");
    assertClose(got.codes.data, ref.codes, 0, "float64 codes");
    assertSame(await fsqIndicesToCodes(got.indices, levels), got.codes, "indices -> codes");
    assertSame(await fsqCodesToIndices(got.codes, levels), got.indices, "codes -> indices");
    assertSame(
      await fsqIndicesToCodes(got.indices, levels),
      tsFsqIndicesToCodes(ts.indices, levels),
      "ts",
    );
    assertSame(
      await fsqCodesToIndices(got.codes, levels),
      tsFsqCodesToIndices(ts.codes, levels),
      "ts",
    );
  }
});

Deno.test("fsqQuantize() rounds half to even and saturates large inputs", async () => {
  // Very large |z|: tanh is exactly +-1, the extreme levels; z = 0 lands on the middle.
  const levels = [8, 5];
  const z = { data: new Float32Array([1e30, -1e30, 0, 50, -50, 0]), shape: [1, 2, 3] };
  const q = await fsqQuantize(z, levels);
  const ts = tsFsqQuantize(z, levels);
  assertSame(q.codes, ts.codes, "codes");
  assert.deepEqual(Array.from(q.codes.data.subarray(0, 2)), [0.75, -1]); // 8 levels: 3/4, -4/4
  assert.deepEqual(Array.from(q.codes.data.subarray(3, 5)), [1, -1]); // 5 levels: 2/2, -2/2
  assert.deepEqual(Array.from(q.indices.data), [7 + 4 * 8, 0 + 0 * 8, ts.indices.data[2]]);
});

Deno.test("fsqIndicesToCodes(fsqCodesToIndices(c)) is c over whole codebooks", async () => {
  for (const levels of [[7, 5, 3], [2, 2, 2, 2, 2, 2, 2, 2], DEFAULT_FSQ_LEVELS as number[]]) {
    const size = levels.reduce((a, b) => a * b, 1);
    // Every index, in a [2, size / 2] or [1, size] batch.
    const b = size % 2 ? 1 : 2;
    const indices = { data: Int32Array.from({ length: size }, (_, i) => i), shape: [b, size / b] };
    const codes = await fsqIndicesToCodes(indices, levels);
    assert.deepEqual(codes.shape, [b, levels.length, size / b]);
    assertSame(codes, tsFsqIndicesToCodes(indices, levels), `ts [${levels}]`);
    const back = await fsqCodesToIndices(codes, levels);
    assertSame(back, indices, `indices [${levels}]`);
    assertSame(await fsqIndicesToCodes(back, levels), codes, `codes [${levels}]`);
    // Every code on its grid, each channel spanning [-1, 1).
    for (let d = 0; d < levels.length; d++) {
      const hw = Math.floor(levels[d] / 2);
      const row = codes.data.subarray(d * (size / b), (d + 1) * (size / b));
      const onGrid = (v: number) => Math.abs(v * hw - Math.round(v * hw)) < 1e-5;
      assert.ok(row.every((v) => onGrid(v) && v >= -1 && v <= 1), `grid ${d}`);
    }
  }
});

// ---------------------------------------------------------------------------------------------
// CPU vs GPU

gpuTest("haarPatch() and haarUnpatch() agree with the GPU to the last rounding", async (ops) => {
  for (const [i, [shape, p]] of [...HAAR_2D, ...HAAR_3D].entries()) {
    const x = tensor(shape, 600 + i);
    const levels = Math.log2(p);
    const xt = ops.upload(x);
    const yt = ops.haarPatch(xt, levels);
    const gpu = await ops.read(yt);
    const cpu = await haarPatch(x, p);
    assert.deepEqual(cpu.shape, gpu.shape);
    record("CPU vs GPU", assertClose(cpu.data, gpu.data, ROUNDING_TOL, `patch [${shape}] p${p}`));
    // The inverse, on the same (CPU) coefficients.
    const ct = ops.upload(cpu);
    const bt = ops.haarUnpatch(ct, levels);
    const gpuBack = await ops.read(bt);
    const cpuBack = await haarUnpatch(cpu, p);
    assert.deepEqual(cpuBack.shape, gpuBack.shape);
    record("CPU vs GPU", assertClose(cpuBack.data, gpuBack.data, ROUNDING_TOL, "unpatch"));
    for (const t of new Set([xt, yt, ct, bt])) ops.release(t);
  }
});

gpuTest("fsqQuantize() and fsqIndicesToCodes() agree with the GPU bit for bit", async (ops) => {
  const cases: [number[], number[]][] = [
    [[2, 6, 13, 17], DEFAULT_FSQ_LEVELS as number[]],
    [[2, 3, 9, 5], [7, 5, 3]],
    [[1, 6, 3, 8, 12], DEFAULT_FSQ_LEVELS as number[]],
    [[1, 8, 33], [3, 4, 5, 6, 7, 8, 3, 2]],
    [[3, 1, 10], [2]],
  ];
  for (const [i, [shape, levels]] of cases.entries()) {
    const z = tensor(shape, 700 + i, -4, 4);
    const zt = ops.upload(z);
    const q = ops.fsqQuantize(zt, { levels });
    const gpuIndices = await ops.read(q.indices);
    const gpuCodes = await ops.read(q.codes);
    const cpu = await fsqQuantize(z, levels);
    assertSame(cpu.indices, gpuIndices, `indices [${shape}] [${levels}]`);
    assertSame(cpu.codes, gpuCodes, `codes [${shape}] [${levels}]`);
    const deq = ops.fsqDequantize(q.indices, { levels });
    assertSame(await fsqIndicesToCodes(cpu.indices, levels), await ops.read(deq), "dequantize");
    for (const t of [zt, q.indices, q.codes, deq]) ops.release(t);
  }
});

// ---------------------------------------------------------------------------------------------
// Input checks

Deno.test("haarPatch() rejects bad inputs with clear errors", async () => {
  const f = (shape: number[]) => ({ data: new Float32Array(numel(shape)), shape });
  await assert.rejects(
    haarPatch(f([3, 8, 8]), 2),
    /Cannot haarPatch: expected \[B, C, H, W\] or \[B, C, T, H, W\], got \[3, 8, 8\]/,
  );
  await assert.rejects(haarPatch(f([1, 3, 1, 1, 8, 8]), 2), /got \[1, 3, 1, 1, 8, 8\]/);
  await assert.rejects(
    haarPatch(f([1, 3, 8, 8]), 3),
    /Cannot haarPatch: patch size must be one of 1, 2, 4, 8, got 3/,
  );
  await assert.rejects(haarPatch(f([1, 3, 8, 8]), 16), /patch size/);
  await assert.rejects(
    haarPatch(f([1, 3, 30, 32]), 4),
    /Cannot haarPatch: height and width must be divisible by the patch size 4, got \[1, 3, 30, 32\]/,
  );
  await assert.rejects(haarPatch(f([1, 3, 32, 36]), 8), /divisible by the patch size 8/);
  await assert.rejects(haarPatch(f([1, 3, 9, 32, 30]), 4), /height and width/);
  await assert.rejects(
    haarPatch(f([1, 3, 8, 32, 32]), 4),
    /Cannot haarPatch: frames must be 1 \+ a multiple of the patch size 4 \(\(T \+ 3\) divisible by 4\), got \[1, 3, 8, 32, 32\]/,
  );
  await assert.rejects(haarPatch(f([1, 3, 2, 8, 8]), 2), /frames must be 1 \+ a multiple/);
  await assert.rejects(
    haarPatch({ data: new Int32Array(48), shape: [1, 3, 4, 4] }, 2),
    /Cannot haarPatch: expected Float32Array input, got Int32Array/,
  );
  await assert.rejects(
    haarPatch({ data: new Float32Array(47), shape: [1, 3, 4, 4] }, 2),
    /Cannot haarPatch: 47 values for input shape \[1, 3, 4, 4\]/,
  );
  await assert.rejects(
    haarPatch({ data: new Float32Array(0), shape: [0, 3, 4, 4] }, 2),
    /Cannot haarPatch: input shape must be positive integers, got \[0, 3, 4, 4\]/,
  );
  await assert.rejects(
    haarPatch({ data: new Float32Array(24), shape: [1, 3, 2.5, 4] }, 2),
    /positive integers/,
  );
});

Deno.test("haarUnpatch() rejects bad inputs with clear errors", async () => {
  const f = (shape: number[]) => ({ data: new Float32Array(numel(shape)), shape });
  await assert.rejects(
    haarUnpatch(f([48, 4, 4]), 4),
    /Cannot haarUnpatch: expected \[B, C, H, W\] or \[B, C, T, H, W\], got \[48, 4, 4\]/,
  );
  await assert.rejects(
    haarUnpatch(f([1, 40, 4, 4]), 4),
    /Cannot haarUnpatch: channels must be divisible by 16 \(patch size 4, 2 dims\), got \[1, 40, 4, 4\]/,
  );
  await assert.rejects(
    haarUnpatch(f([1, 48, 2, 4, 4]), 4),
    /channels must be divisible by 64 \(patch size 4, 3 dims\)/,
  );
  await assert.rejects(haarUnpatch(f([1, 48, 4, 4]), 5), /Cannot haarUnpatch: patch size/);
  await assert.rejects(
    haarUnpatch({ data: new Float32Array(10), shape: [1, 48, 4, 4] }, 4),
    /Cannot haarUnpatch: 10 values for input shape/,
  );
});

Deno.test("fsqQuantize() rejects bad inputs with clear errors", async () => {
  const z = (shape: number[]) => ({ data: new Float32Array(numel(shape)), shape });
  for (const [bad, at] of [[NaN, 5], [Infinity, 17], [-Infinity, 0]]) {
    const x = z([1, 6, 2, 2]);
    x.data[at] = bad;
    await assert.rejects(
      fsqQuantize(x),
      new RegExp(`Cannot fsqQuantize: z holds the non-finite value ${bad} at flat index ${at}`),
    );
  }
  // In the scalar tail of a row too (5 positions: one SIMD step, then one scalar).
  const tail = z([1, 6, 5]);
  tail.data[29] = NaN;
  await assert.rejects(fsqQuantize(tail), /non-finite value NaN at flat index 29/);
  await assert.rejects(
    fsqQuantize(z([1, 5, 4, 4])),
    /Cannot fsqQuantize: expected z \[B, D, \.\.\.\] with D = 6 \(one channel per FSQ level\), got \[1, 5, 4, 4\]/,
  );
  await assert.rejects(fsqQuantize(z([6])), /with D = 6/);
  await assert.rejects(fsqQuantize(z([1, 3, 4]), [8, 8]), /D = 2/);
  await assert.rejects(
    fsqQuantize({ data: new Int32Array(6), shape: [1, 6] }),
    /Cannot fsqQuantize: expected Float32Array z, got Int32Array/,
  );
  await assert.rejects(fsqQuantize(z([1, 0]), []), /Cannot fsqQuantize: FSQ needs 1 to 8 levels/);
  await assert.rejects(fsqQuantize(z([1, 9]), Array(9).fill(2)), /1 to 8 levels, got 9/);
  await assert.rejects(fsqQuantize(z([1, 2]), [1, 4]), /Cannot fsqQuantize: Invalid FSQ level: 1/);
  await assert.rejects(fsqQuantize(z([1, 2]), [2.5, 4]), /Invalid FSQ level: 2.5/);
  await assert.rejects(
    fsqQuantize(z([1, 4]), [256, 256, 256, 256]),
    /Cannot fsqQuantize: FSQ levels \[256, 256, 256, 256\] give 4294967296 codes, more than int32/,
  );
});

Deno.test("fsqIndicesToCodes() and fsqCodesToIndices() reject bad inputs", async () => {
  const idx = (values: number[]) => ({ data: Int32Array.from(values), shape: [1, values.length] });
  await assert.rejects(
    fsqIndicesToCodes(idx([0, 1, 64000])),
    /Cannot fsqIndicesToCodes: index 64000 at flat index 2 is outside \[0, 64000\)/,
  );
  await assert.rejects(fsqIndicesToCodes(idx([0, 1, 2, 3, 4, -1])), /index -1 at flat index 5/);
  await assert.rejects(fsqIndicesToCodes(idx([105]), [7, 5, 3]), /outside \[0, 105\)/);
  await assert.rejects(
    fsqIndicesToCodes({ data: new Float32Array(4), shape: [1, 4] }),
    /Cannot fsqIndicesToCodes: expected Int32Array indices, got Float32Array/,
  );
  await assert.rejects(fsqIndicesToCodes(idx([0]), [0]), /Invalid FSQ level: 0/);
  const codes = (shape: number[], fill = 0) => ({
    data: new Float32Array(numel(shape)).fill(fill),
    shape,
  });
  await assert.rejects(
    fsqCodesToIndices(codes([1, 6, 4], 0.3)),
    /Cannot fsqCodesToIndices: code 0\.3\d* at flat index 0 is not on the grid of 8 levels/,
  );
  const off = codes([1, 3, 6]);
  off.data[17] = 1; // 4 levels: codes -1, -0.5, 0, 0.5 (k / 2 - 1 for k = 0..3), 1 is off the top
  await assert.rejects(
    fsqCodesToIndices(off, [7, 5, 4]),
    /code 1 at flat index 17 is not on the grid of 4 levels \(k \/ 2 - 1 for k = 0\.\.3\)/,
  );
  const nan = codes([1, 6, 2]);
  nan.data[3] = NaN;
  await assert.rejects(fsqCodesToIndices(nan), /code NaN at flat index 3/);
  await assert.rejects(
    fsqCodesToIndices(codes([1, 4, 2])),
    /Cannot fsqCodesToIndices: expected codes \[B, D, \.\.\.\] with D = 6/,
  );
});

Deno.test("the module keeps working after errors and across sizes (memory growth)", async () => {
  await assert.rejects(haarPatch({ data: new Float32Array(3), shape: [1, 3, 1, 1] }, 2));
  const big = tensor([1, 3, 17, 128, 192], 800);
  const y = await haarPatch(big, 8);
  assert.deepEqual(y.shape, [1, 1536, 3, 16, 24]);
  const small = tensor([1, 3, 8, 8], 801);
  assertSame(await haarPatch(small, 2), tsHaarPatch(small, 2), "small after big");
  const back = await haarUnpatch(y, 8);
  assertClose(back.data, big.data, ROUNDING_TOL, "big round trip");
});

Deno.test("src/backends/wasm/standalone.ts needs no file access: no Deno APIs in its import graph", async () => {
  const info = new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", new URL("../src/backends/wasm/standalone.ts", import.meta.url).href],
    stdout: "piped",
  });
  const { success, stdout } = await info.output();
  assert.ok(success, "deno info");
  const graph = JSON.parse(new TextDecoder().decode(stdout)) as {
    modules: { specifier: string; local?: string }[];
  };
  const files = graph.modules.filter((m) => m.specifier.startsWith("file:")).map((m) => m.local!);
  assert.ok(files.some((f) => f.endsWith("generated/wasm.ts")), "the embedded module");
  for (const file of files) {
    assert.doesNotMatch(await Deno.readTextFile(file), /\bDeno\./, file);
  }
  // And it runs with no permissions at all (the program on stdin gets none).
  const mod = JSON.stringify(new URL("../src/backends/wasm/standalone.ts", import.meta.url).href);
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-prompt", "--no-config", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(
    `import { haarPatch } from ${mod};
     const y = await haarPatch({ data: new Float32Array(48), shape: [1, 3, 4, 4] }, 2);
     console.log(y.shape.join("x"));`,
  ));
  await writer.close();
  const out = await child.output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  assert.equal(new TextDecoder().decode(out.stdout).trim(), "1x12x2x2");
});

Deno.test("largest differences seen (for the report)", () => {
  for (const [k, v] of Object.entries(worst)) console.log(`  ${k}: ${v.toExponential(2)}`);
});
