/**
 * Every WebGPU kernel against the plain TypeScript oracles (src/testing/oracle/), on small
 * random shapes that include non-square, odd and batched cases.
 */

import assert from "node:assert/strict";
import { assertClose, createOps, kernelTest, randomArray } from "./helpers.ts";
import { refAttention } from "../src/testing/oracle/attention.ts";
import { refConv } from "../src/testing/oracle/conv.ts";
import { refFsq } from "../src/testing/oracle/fsq.ts";
import { refGroupNorm } from "../src/testing/oracle/groupnorm.ts";
import { refHaar } from "../src/testing/oracle/haar.ts";
import { convParams, normParams } from "../src/nn/params.ts";
import { DEFAULT_FSQ_LEVELS } from "../src/backends/fsq.ts";

const TOL = 1e-5;

interface ConvCase {
  name: string;
  shape: number[]; // [b, cin, t, h, w]
  cout: number;
  k: [number, number, number];
  stride?: [number, number, number];
  padLow?: [number, number];
  padHigh?: [number, number];
  norm?: { groups: number; silu: boolean };
  residual?: boolean;
  upsample?: boolean;
}

const CONV_CASES: ConvCase[] = [
  { name: "3x3 stride 1, non-square", shape: [1, 5, 1, 7, 11], cout: 9, k: [1, 3, 3] },
  { name: "3x3 batch 2, odd channels", shape: [2, 3, 1, 6, 5], cout: 70, k: [1, 3, 3] },
  { name: "1x1", shape: [1, 33, 1, 4, 9], cout: 17, k: [1, 1, 1] },
  {
    name: "3x3 stride 2 with right/bottom pad (Downsample)",
    shape: [1, 6, 1, 10, 14],
    cout: 6,
    k: [1, 3, 3],
    stride: [1, 2, 2],
    padLow: [0, 0],
    padHigh: [1, 1],
  },
  {
    name: "3x3 with fused GroupNorm + SiLU and residual",
    shape: [2, 8, 1, 5, 9],
    cout: 12,
    k: [1, 3, 3],
    norm: { groups: 4, silu: true },
    residual: true,
  },
  {
    name: "1x1 with fused GroupNorm, no SiLU",
    shape: [1, 16, 1, 3, 7],
    cout: 48,
    k: [1, 1, 1],
    norm: { groups: 8, silu: false },
  },
  {
    name: "3x3 on nearest 2x upsampled input",
    shape: [1, 4, 1, 3, 5],
    cout: 7,
    k: [1, 3, 3],
    upsample: true,
  },
  { name: "causal (3,1,1) temporal", shape: [1, 4, 5, 3, 2], cout: 6, k: [3, 1, 1] },
  { name: "(1,3,3) spatial on video", shape: [2, 3, 4, 5, 6], cout: 5, k: [1, 3, 3] },
  {
    name: "causal (3,1,1) temporal, batch 2, fused GroupNorm + SiLU and residual",
    shape: [2, 8, 4, 3, 5],
    cout: 7,
    k: [3, 1, 1],
    norm: { groups: 4, silu: true },
    residual: true,
  },
  {
    name: "(1,3,3) spatial on video, batch 2, fused GroupNorm + SiLU and residual",
    shape: [2, 6, 3, 5, 7],
    cout: 9,
    k: [1, 3, 3],
    norm: { groups: 3, silu: true },
    residual: true,
  },
];

function upsample2x(x: Float32Array, [b, c, t, h, w]: number[]): Float32Array {
  const out = new Float32Array(x.length * 4);
  for (let i = 0; i < b * c * t; i++) {
    for (let y = 0; y < 2 * h; y++) {
      for (let z = 0; z < 2 * w; z++) {
        out[(i * 2 * h + y) * 2 * w + z] = x[(i * h + (y >> 1)) * w + (z >> 1)];
      }
    }
  }
  return out;
}

for (const [i, c] of CONV_CASES.entries()) {
  kernelTest(`conv() matches the reference: ${c.name}`, async (ops) => {
    const [b, cin, t, h, w] = c.shape;
    const kn = c.k[0] * c.k[1] * c.k[2];
    const x = randomArray(b * cin * t * h * w, 100 + i);
    const weight = randomArray(c.cout * cin * kn, 200 + i, -0.3, 0.3);
    const bias = randomArray(c.cout, 300 + i);
    const video = t > 1 || c.k[0] > 1;
    const xShape = video ? c.shape : [b, cin, h, w];
    const wShape = video ? [c.cout, cin, ...c.k] : [c.cout, cin, c.k[1], c.k[2]];
    const params = convParams(ops, weight, wShape, bias);
    const xt = ops.upload({ data: x, shape: xShape });

    // Reference: normalise, upsample, convolve, add residual.
    let xin = x;
    let gamma: Float32Array | undefined, beta: Float32Array | undefined;
    if (c.norm) {
      gamma = randomArray(cin, 400 + i, 0.5, 1.5);
      beta = randomArray(cin, 500 + i, -0.5, 0.5);
      xin = refGroupNorm(x, [b, cin, 1, t * h * w], gamma, beta, c.norm.groups, 1e-6, c.norm.silu);
    }
    let refShape = c.shape;
    if (c.upsample) {
      xin = upsample2x(xin, c.shape);
      refShape = [b, cin, t, 2 * h, 2 * w];
    }
    const ref = refConv(xin, refShape, {
      weight,
      bias,
      cout: c.cout,
      cin,
      k: c.k,
      stride: c.stride,
      padLow: c.padLow,
      padHigh: c.padHigh,
    });
    const residual = c.residual ? randomArray(ref.data.length, 600 + i) : undefined;
    if (residual) ref.data.forEach((v, j) => ref.data[j] = v + residual[j]);

    const norm = c.norm
      ? {
        stats: ops.groupNormStats(xt, { groups: c.norm.groups, eps: 1e-6 }),
        weights: normParams(ops, gamma!, beta!, c.norm.groups),
        silu: c.norm.silu,
      }
      : undefined;
    const outShape = video ? ref.shape : [ref.shape[0], ref.shape[1], ref.shape[3], ref.shape[4]];
    const res = residual ? ops.upload({ data: residual, shape: outShape }) : undefined;
    const y = ops.conv(xt, params, {
      stride: c.stride,
      padLow: c.padLow,
      padHigh: c.padHigh,
      upsample: c.upsample,
      norm,
      residual: res,
    });
    const got = await ops.read(y);
    assert.deepEqual(got.shape, outShape);
    assertClose(got.data, ref.data, TOL, c.name);
    for (const tns of [xt, y, params.weight, params.bias]) ops.release(tns);
  });
}

kernelTest(
  "groupNormStats() + groupNorm() match the reference, per clip and per frame",
  async (ops) => {
    for (const [perFrame, shape] of [[false, [2, 12, 5, 7]], [true, [1, 6, 3, 4, 5]]] as const) {
      const x = randomArray(shape.reduce((a: number, b: number) => a * b, 1), 7, -3, 5);
      const c = shape[1];
      const gamma = randomArray(c, 8, 0.5, 1.5), beta = randomArray(c, 9);
      const groups = perFrame ? 1 : 3;
      const xt = ops.upload({ data: x, shape: [...shape] });
      const stats = ops.groupNormStats(xt, { groups, eps: 1e-6, perFrame });
      for (const silu of [false, true]) {
        const y = ops.groupNorm(xt, { stats, weights: normParams(ops, gamma, beta, groups), silu });
        const frames = perFrame ? shape[2] : 1;
        const s = x.length / shape[0] / c / frames;
        const ref = refGroupNorm(x, [shape[0], c, frames, s], gamma, beta, groups, 1e-6, silu);
        assertClose(
          (await ops.read(y)).data,
          ref,
          TOL,
          `groupnorm perFrame=${perFrame} silu=${silu}`,
        );
      }
    }
  },
);

kernelTest(
  "attention() matches the reference, in one block and in many query blocks",
  async (ops) => {
    for (const [b, c, h, w] of [[1, 8, 5, 7], [2, 16, 4, 4]]) {
      const n = h * w;
      const qkv = randomArray(b * 3 * c * n, 11 + c, -2, 2);
      const ref = refAttention(qkv, b, c, n);
      const got = await ops.read(ops.attention(ops.upload({ data: qkv, shape: [b, 3 * c, h, w] })));
      assert.deepEqual(got.shape, [b, c, h, w]);
      assertClose(got.data, ref, TOL, `attention ${b}x${c}x${h}x${w}`);
    }
  },
);

kernelTest(
  "attention() splits long sequences into query blocks with the same result",
  async (_ops, backend) => {
    // 130 tokens with a budget of 3 rows' scores: blocks of 3, the last one short.
    const small = await createOps(backend, { attentionScoreBytes: 3 * 130 * 4 });
    try {
      const [b, c, h, w] = [1, 4, 10, 13];
      const qkv = randomArray(b * 3 * c * h * w, 21, -2, 2);
      const got = await small.read(
        small.attention(small.upload({ data: qkv, shape: [b, 3 * c, h, w] })),
      );
      assertClose(got.data, refAttention(qkv, b, c, h * w), TOL, "blocked attention");
    } finally {
      small.destroy();
    }
  },
);

kernelTest(
  "haarPatch() and haarUnpatch() invert each other and match the reference",
  async (ops) => {
    const shape = [2, 3, 8, 12];
    const x = randomArray(2 * 3 * 8 * 12, 31);
    const xt = ops.upload({ data: x, shape });
    const one = await ops.read(ops.haarPatch(xt, 1));
    assert.deepEqual(one.shape, [2, 12, 4, 6]);
    assertClose(one.data, refHaar(x, shape), 1e-6, "haar level 1");
    const two = ops.haarPatch(xt, 2);
    const twoHost = await ops.read(two);
    assert.deepEqual(twoHost.shape, [2, 48, 2, 3]);
    assertClose(
      twoHost.data,
      refHaar(one.data as Float32Array, [2, 12, 4, 6]),
      1e-6,
      "haar level 2",
    );
    const back = await ops.read(ops.haarUnpatch(two, 2));
    assert.deepEqual(back.shape, shape);
    assertClose(back.data, x, 1e-6, "haar round trip");
  },
);

kernelTest("fsqQuantize() and fsqDequantize() match the reference", async (ops) => {
  const levels = [...DEFAULT_FSQ_LEVELS];
  const [b, h, w] = [2, 5, 7];
  const z = randomArray(b * 6 * h * w, 41, -4, 4);
  const ref = refFsq(z, b, levels, h * w);
  const { codes, indices } = ops.fsqQuantize(ops.upload({ data: z, shape: [b, 6, h, w] }), {
    levels,
  });
  const gotIdx = await ops.read(indices);
  assert.deepEqual(gotIdx.shape, [b, h, w]);
  assert.deepEqual([...gotIdx.data], [...ref.indices]);
  assert.deepEqual([...(await ops.read(codes)).data], [...ref.codes]);
  const back = await ops.read(ops.fsqDequantize(indices, { levels }));
  // Dequantised zeros are +0 where rounding gave -0; the values are the same.
  assert.deepEqual([...back.data].map((v) => v + 0), [...ref.codes].map((v) => v + 0));
  // Odd level lists work too.
  const odd = [7, 5, 3];
  const z3 = randomArray(3 * 11, 42, -3, 3);
  const r3 = refFsq(z3, 1, odd, 11);
  const q3 = ops.fsqQuantize(ops.upload({ data: z3, shape: [1, 3, 11] }), { levels: odd });
  assert.deepEqual([...(await ops.read(q3.indices)).data], [...r3.indices]);
});
