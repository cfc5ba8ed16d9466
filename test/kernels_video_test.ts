/**
 * The WebGPU video kernels (3D Haar patching, average pooling, upsampling, spatial and causal
 * temporal attention on [B, C, T, H, W]) against the float64 references in
 * src/testing/oracle/, on tiny shapes (llvmpipe is slow).
 */

import assert from "node:assert/strict";
import { assertClose, createOps, kernelTest, randomArray } from "./helpers.ts";
import { refAttention3d } from "../src/testing/oracle/attention.ts";
import {
  refHaar,
  refHaarPatch as refHaarPatch3d,
  refHaarUnpatch as refHaarUnpatch3d,
} from "../src/testing/oracle/haar.ts";
import { refAvgPool, refUpsample } from "../src/testing/oracle/resample.ts";
import { refTensor } from "../src/testing/oracle/tensor.ts";
import type { Ops, Tensor } from "../src/backends/ops.ts";

const TOL = 1e-6;
const ATTN_TOL = 1e-5;

const numel = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** Uploads, applies `op`, reads back and releases both tensors. */
async function run(
  ops: Ops,
  data: Float32Array,
  shape: number[],
  op: (x: Tensor) => Tensor,
) {
  const x = ops.upload({ data, shape });
  const y = op(x);
  const host = await ops.read(y);
  ops.release(x);
  ops.release(y);
  return host;
}

// ---------------------------------------------------------------------------------------------
// Haar (Patcher3D / UnPatcher3D)

const HAAR_CASES: { shape: number[]; levels: number; out: number[] }[] = [
  // 5 frames + 3 copies of frame 0 = 8 -> 4 -> 2.
  { shape: [1, 3, 5, 4, 8], levels: 2, out: [1, 3 * 64, 2, 1, 2] },
  // 3 frames + 1 copy = 4 -> 2.
  { shape: [2, 2, 3, 4, 4], levels: 1, out: [2, 2 * 8, 2, 2, 2] },
  // A single frame, level 1: 2 frames -> 1.
  { shape: [1, 2, 1, 2, 4], levels: 1, out: [1, 16, 1, 1, 2] },
];

for (const [i, c] of HAAR_CASES.entries()) {
  kernelTest(
    `haarPatch() on video matches the reference: [${c.shape}] levels ${c.levels}`,
    async (ops) => {
      const x = randomArray(numel(c.shape), 700 + i);
      const ref = refHaarPatch3d(refTensor(x, c.shape), c.levels);
      assert.deepEqual(ref.shape, c.out);
      const xt = ops.upload({ data: x, shape: c.shape });
      const y = ops.haarPatch(xt, c.levels);
      const got = await ops.read(y);
      assert.deepEqual(got.shape, c.out);
      assertClose(got.data, ref.data, TOL, "haarPatch");
      // The round trip, on the GPU and in the reference.
      const back = ops.haarUnpatch(y, c.levels);
      const backHost = await ops.read(back);
      assert.deepEqual(backHost.shape, c.shape);
      assertClose(backHost.data, x, TOL, "haarUnpatch(haarPatch(x))");
      assertClose(refHaarUnpatch3d(ref, c.levels).data, x, 1e-12, "reference round trip");
      for (const t of [xt, y, back]) ops.release(t);
    },
  );
}

Deno.test("the 3D Haar reference reduces to the 2D one on a still frame", () => {
  // One frame, repeated once: the time low band is sqrt2 * the frame and the high band is 0,
  // so with the 1 / (2 sqrt2) rescale the LLx blocks are the 2D transform (rescaled by 1/2).
  // The 2D reference orders bands [LL, LH, HL, HH] with the height filter second (bit 0 of
  // the band is height), the 3D one [LLL, LLH, LHL, LHH] with height second-to-last (bit 1).
  const [c, h, w] = [3, 4, 6];
  const x = randomArray(c * h * w, 690);
  const y = refHaarPatch3d(refTensor(x, [1, c, 1, h, w]), 1);
  assert.deepEqual(y.shape, [1, 8 * c, 1, h / 2, w / 2]);
  const flat = refHaar(x, [1, c, h, w]);
  const plane = c * (h / 2) * (w / 2);
  for (const [block3d, band2d] of [[0, 0], [1, 2], [2, 1], [3, 3]]) {
    const got = y.data.subarray(block3d * plane, (block3d + 1) * plane);
    assertClose(got, flat.subarray(band2d * plane, (band2d + 1) * plane), 1e-6, `block ${block3d}`);
  }
  assert.ok(y.data.subarray(4 * plane).every((v) => Math.abs(v) < 1e-12), "time-high blocks");
});

kernelTest("haarPatch() on video rejects odd extents (the reference would reflect-pad)", (ops) => {
  // Frames 4 + 1 = 5, or an odd height: the reference pads by reflection, the kernel refuses.
  for (const shape of [[1, 1, 4, 4, 4], [1, 1, 3, 3, 4], [1, 1, 3, 4, 5]]) {
    const x = ops.upload({ data: new Float32Array(numel(shape)), shape });
    assert.throws(() => ops.haarPatch(x, 1), /must be even/, `[${shape}]`);
    ops.release(x);
  }
  // The reference itself handles them: 5 frames -> 3.
  const padded = refHaarPatch3d(refTensor(new Float32Array(64), [1, 1, 4, 4, 4]), 1);
  assert.deepEqual(padded.shape, [1, 8, 3, 2, 2]);
  return Promise.resolve();
});

kernelTest("haarUnpatch() on video matches the reference inverse on random input", async (ops) => {
  const cases: { shape: number[]; levels: number; out: number[] }[] = [
    // 2 frames -> 4, minus 1 dropped = 3.
    { shape: [1, 16, 2, 2, 3], levels: 1, out: [1, 2, 3, 4, 6] },
    // 2 frames -> 4 -> 8, minus 3 dropped = 5.
    { shape: [2, 64, 2, 1, 2], levels: 2, out: [2, 1, 5, 4, 8] },
  ];
  for (const [i, c] of cases.entries()) {
    const x = randomArray(numel(c.shape), 720 + i);
    const ref = refHaarUnpatch3d(refTensor(x, c.shape), c.levels);
    assert.deepEqual(ref.shape, c.out);
    const got = await run(ops, x, c.shape, (t) => ops.haarUnpatch(t, c.levels));
    assert.deepEqual(got.shape, c.out);
    assertClose(got.data, ref.data, TOL, `haarUnpatch [${c.shape}] levels ${c.levels}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Average pooling and upsampling (CausalHybridDownsample3d / CausalHybridUpsample3d)

kernelTest("avgPool('space') matches the reference on even and odd sizes", async (ops) => {
  for (const [i, shape] of [[1, 3, 2, 4, 6], [1, 2, 2, 5, 3], [2, 1, 1, 1, 1]].entries()) {
    const x = randomArray(numel(shape), 740 + i);
    const ref = refAvgPool(refTensor(x, shape), "space");
    const [b, c, t, h, w] = shape;
    assert.deepEqual(ref.shape, [b, c, t, Math.ceil(h / 2), Math.ceil(w / 2)]);
    const got = await run(ops, x, shape, (t) => ops.avgPool(t, "space"));
    assert.deepEqual(got.shape, ref.shape);
    assertClose(got.data, ref.data, TOL, `avgPool space [${shape}]`);
  }
});

kernelTest("avgPool('time') matches the reference for T = 1, 5, 6", async (ops) => {
  for (const [i, t] of [1, 5, 6].entries()) {
    const shape = [2, 2, t, 2, 3];
    const x = randomArray(numel(shape), 760 + i);
    const ref = refAvgPool(refTensor(x, shape), "time");
    assert.deepEqual(ref.shape, [2, 2, Math.floor((t - 1) / 2) + 1, 2, 3]);
    const got = await run(ops, x, shape, (tt) => ops.avgPool(tt, "time"));
    assert.deepEqual(got.shape, ref.shape);
    assertClose(got.data, ref.data, TOL, `avgPool time T=${t}`);
  }
});

kernelTest("upsample('space') matches the reference", async (ops) => {
  for (const [i, shape] of [[1, 2, 3, 2, 3], [2, 3, 1, 3, 1]].entries()) {
    const x = randomArray(numel(shape), 780 + i);
    const ref = refUpsample(refTensor(x, shape), "space");
    const got = await run(ops, x, shape, (t) => ops.upsample(t, "space"));
    assert.deepEqual(got.shape, ref.shape);
    assert.deepEqual(got.shape, [shape[0], shape[1], shape[2], 2 * shape[3], 2 * shape[4]]);
    assertClose(got.data, ref.data, TOL, `upsample space [${shape}]`);
  }
});

kernelTest("upsample('time') matches the reference: T -> 2T - 1, T = 1 unchanged", async (ops) => {
  for (const [i, t] of [1, 2, 3].entries()) {
    const shape = [2, 2, t, 2, 3];
    const x = randomArray(numel(shape), 800 + i);
    const ref = refUpsample(refTensor(x, shape), "time");
    assert.deepEqual(ref.shape, [2, 2, t > 1 ? 2 * t - 1 : 1, 2, 3]);
    const got = await run(ops, x, shape, (tt) => ops.upsample(tt, "time"));
    assert.deepEqual(got.shape, ref.shape);
    assertClose(got.data, ref.data, TOL, `upsample time T=${t}`);
  }
});

// ---------------------------------------------------------------------------------------------
// Attention

kernelTest("attention('temporal') matches the causal reference, T = 4 and T = 1", async (ops) => {
  for (const [i, shape] of [[2, 15, 4, 3, 2], [1, 12, 1, 2, 3]].entries()) {
    const qkv = randomArray(numel(shape), 820 + i, -2, 2);
    const ref = refAttention3d(refTensor(qkv, shape), "temporal");
    const got = await run(ops, qkv, shape, (t) => ops.attention(t, "temporal"));
    assert.deepEqual(got.shape, [shape[0], shape[1] / 3, ...shape.slice(2)]);
    assertClose(got.data, ref.data, ATTN_TOL, `temporal attention [${shape}]`);
  }
});

kernelTest("attention('spatial') on video attends within each frame", async (ops) => {
  for (const [i, shape] of [[1, 3 * 6, 3, 4, 5], [2, 3 * 4, 2, 3, 3]].entries()) {
    const qkv = randomArray(numel(shape), 840 + i, -2, 2);
    const ref = refAttention3d(refTensor(qkv, shape), "spatial");
    const got = await run(ops, qkv, shape, (t) => ops.attention(t, "spatial"));
    assert.deepEqual(got.shape, [shape[0], shape[1] / 3, ...shape.slice(2)]);
    assertClose(got.data, ref.data, ATTN_TOL, `spatial attention [${shape}]`);
    // The default kind is spatial.
    const dflt = await run(ops, qkv, shape, (t) => ops.attention(t));
    assertClose(dflt.data, ref.data, ATTN_TOL, `default attention [${shape}]`);
  }
});

kernelTest("attention('spatial') on video in many query blocks, batch 2", async (_ops, backend) => {
  // 30 positions x 3 frames with a budget of 4 rows' scores per frame: blocks of 4 query rows,
  // the last one short (30 = 7 * 4 + 2), for each of the 2 batch items.
  const [b, c, t, h, w] = [2, 4, 3, 5, 6];
  const small = await createOps(backend, { attentionScoreBytes: 4 * (h * w) * t * 4 });
  try {
    const shape = [b, 3 * c, t, h, w];
    const qkv = randomArray(numel(shape), 860, -2, 2);
    const ref = refAttention3d(refTensor(qkv, shape), "spatial");
    const got = await run(small, qkv, shape, (x) => small.attention(x, "spatial"));
    assert.deepEqual(got.shape, [b, c, t, h, w]);
    assertClose(got.data, ref.data, ATTN_TOL, "blocked spatial attention");
  } finally {
    small.destroy();
  }
});

kernelTest("attention() on images still works with batch 2", async (ops) => {
  const [b, c, h, w] = [2, 6, 3, 5];
  const qkv = randomArray(b * 3 * c * h * w, 880, -2, 2);
  // An image is a one-frame video for the reference.
  const ref = refAttention3d(refTensor(qkv, [b, 3 * c, 1, h, w]), "spatial");
  const got = await run(ops, qkv, [b, 3 * c, h, w], (t) => ops.attention(t));
  assert.deepEqual(got.shape, [b, c, h, w]);
  assertClose(got.data, ref.data, ATTN_TOL, "image attention, batch 2");
});
