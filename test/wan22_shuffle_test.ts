/**
 * Ops.spaceToChannel / channelToSpace (the Wan2.2 VAE's patchify, AvgDown3D and DupUp3D) on
 * both backends: against a float64 oracle that follows the reference's own view / permute /
 * mean steps (wan/modules/vae2_2.py) on materialised arrays, against the reference's patchify
 * in the fixtures, inverse of each other, and their refusals.
 */

import assert from "node:assert/strict";
import { FIXTURES, kernelTest, randomArray } from "./helpers.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import type { ShuffleOptions } from "../src/backends/ops.ts";

/**
 * AvgDown3D step by step: zero frames in front to a multiple of `time`, the 8-D view
 * [B, C, T', ft, H', fs, W', fs] permuted to [B, C, ft, fs, fs, T', H', W'], viewed as
 * [B, C * block / group, group, T', H', W'] and averaged over the group axis.
 */
function oracleDown(x: Float32Array, shape: number[], o: ShuffleOptions) {
  const [b, c, t0, h, w] = shape;
  const { time: ft, space: fs, group } = o;
  const pad = (ft - (t0 % ft)) % ft, t = t0 + pad;
  const padded = (bi: number, ci: number, ti: number, hi: number, wi: number) =>
    ti < pad ? 0 : x[(((bi * c + ci) * t0 + ti - pad) * h + hi) * w + wi];
  const [tq, hq, wq] = [t / ft, h / fs, w / fs];
  // The permuted array, materialised.
  const block = ft * fs * fs;
  const perm = new Float64Array(b * c * block * tq * hq * wq);
  let at = 0;
  for (let bi = 0; bi < b; bi++) {
    for (let ci = 0; ci < c; ci++) {
      for (let dt = 0; dt < ft; dt++) {
        for (let dh = 0; dh < fs; dh++) {
          for (let dw = 0; dw < fs; dw++) {
            for (let ti = 0; ti < tq; ti++) {
              for (let hi = 0; hi < hq; hi++) {
                for (let wi = 0; wi < wq; wi++) {
                  perm[at++] = padded(bi, ci, ti * ft + dt, hi * fs + dh, wi * fs + dw);
                }
              }
            }
          }
        }
      }
    }
  }
  const co = (c * block) / group, plane = tq * hq * wq;
  const out = new Float32Array(b * co * plane);
  for (let bi = 0; bi < b; bi++) {
    for (let oc = 0; oc < co; oc++) {
      for (let p = 0; p < plane; p++) {
        let s = 0;
        for (let k = 0; k < group; k++) s += perm[((bi * co + oc) * group + k) * plane + p];
        out[(bi * co + oc) * plane + p] = s / group;
      }
    }
  }
  return { data: out, shape: [b, co, tq, hq, wq] };
}

/**
 * DupUp3D step by step: repeat_interleave along channels, the view
 * [B, C', ft, fs, fs, T, H, W] permuted to [B, C', T, ft, H, fs, W, fs] and viewed as video.
 */
function oracleUp(x: Float32Array, shape: number[], o: ShuffleOptions) {
  const [b, c, t, h, w] = shape;
  const { time: ft, space: fs, group } = o;
  const plane = t * h * w;
  const rep = (bi: number, j: number, p: number) => x[(bi * c + Math.floor(j / group)) * plane + p];
  const block = ft * fs * fs, co = (c * group) / block;
  const out = new Float32Array(b * co * block * plane);
  let at = 0;
  for (let bi = 0; bi < b; bi++) {
    for (let oc = 0; oc < co; oc++) {
      for (let ti = 0; ti < t; ti++) {
        for (let dt = 0; dt < ft; dt++) {
          for (let hi = 0; hi < h; hi++) {
            for (let dh = 0; dh < fs; dh++) {
              for (let wi = 0; wi < w; wi++) {
                for (let dw = 0; dw < fs; dw++) {
                  const j = ((oc * ft + dt) * fs + dh) * fs + dw;
                  out[at++] = rep(bi, j, (ti * h + hi) * w + wi);
                }
              }
            }
          }
        }
      }
    }
  }
  return { data: out, shape: [b, co, t * ft, h * fs, w * fs] };
}

const DOWN: [number[], ShuffleOptions][] = [
  // Wan2.2's encoder shortcuts: 2x2 only (group 4), and 2x2x2 to twice the channels (group 4),
  // on a first chunk's odd frame count (one zero frame in front) and a later chunk's even one.
  [[1, 3, 2, 4, 6], { time: 1, space: 2, group: 4 }],
  [[2, 3, 5, 4, 6], { time: 2, space: 2, group: 4 }],
  [[1, 2, 4, 6, 4], { time: 2, space: 2, group: 4 }],
  // The patchify: no averaging.
  [[1, 3, 3, 8, 6], { time: 1, space: 2, group: 1 }],
];
const UP: [number[], ShuffleOptions][] = [
  // Wan2.2's decoder shortcuts: 2x2x2 (same channels: each repeated 8 times; half: 4 times)
  // and 2x2 to half the channels (each repeated twice).
  [[1, 4, 2, 3, 5], { time: 2, space: 2, group: 8 }],
  [[2, 4, 3, 2, 3], { time: 2, space: 2, group: 4 }],
  [[1, 6, 2, 3, 2], { time: 1, space: 2, group: 2 }],
  [[1, 12, 2, 3, 4], { time: 1, space: 2, group: 1 }],
];

for (const [i, [shape, o]] of DOWN.entries()) {
  kernelTest(`spaceToChannel ${JSON.stringify(o)} of [${shape}] is AvgDown3D`, async (ops) => {
    const x = randomArray(shape.reduce((a, b) => a * b, 1), 2200 + i);
    const want = oracleDown(x, shape, o);
    const xt = ops.upload({ data: x, shape });
    const y = ops.spaceToChannel(xt, o);
    const got = await ops.read(y);
    ops.release(xt);
    ops.release(y);
    assert.deepEqual(got.shape, want.shape);
    for (let k = 0; k < want.data.length; k++) {
      assert.ok(
        Math.abs(got.data[k] - want.data[k]) <= 1e-6,
        `value ${k}: ${got.data[k]} vs ${want.data[k]}`,
      );
    }
  });
}

for (const [i, [shape, o]] of UP.entries()) {
  kernelTest(`channelToSpace ${JSON.stringify(o)} of [${shape}] is DupUp3D`, async (ops) => {
    const x = randomArray(shape.reduce((a, b) => a * b, 1), 2300 + i);
    const want = oracleUp(x, shape, o);
    const xt = ops.upload({ data: x, shape });
    const y = ops.channelToSpace(xt, o);
    const got = await ops.read(y);
    ops.release(xt);
    ops.release(y);
    assert.deepEqual(got.shape, want.shape);
    assert.deepEqual(got.data, want.data);
  });
}

kernelTest(
  "spaceToChannel by 2x2 is the reference's patchify, channels in (c, w, h) order",
  async (ops) => {
    const file = parseSafetensors(
      await Deno.readFile(new URL("wan22/case_5x32x32.safetensors", FIXTURES)),
      "case",
    );
    const input = file.float32("input"), patched = file.float32("patched");
    const xt = ops.upload({ data: input, shape: [1, 3, 5, 32, 32] });
    const y = ops.spaceToChannel(xt, { time: 1, space: 2, group: 1 });
    const got = await ops.read(y);
    ops.release(xt);
    ops.release(y);
    assert.deepEqual(got.shape, [1, 12, 5, 16, 16]);
    // Ours: channel c * 4 + dh * 2 + dw; the reference's patchify: c * 4 + dw * 2 + dh.
    const plane = 5 * 16 * 16;
    for (let c = 0; c < 3; c++) {
      for (let dh = 0; dh < 2; dh++) {
        for (let dw = 0; dw < 2; dw++) {
          const ours = got.data.subarray(
            (c * 4 + dh * 2 + dw) * plane,
            (c * 4 + dh * 2 + dw + 1) * plane,
          );
          const theirs = patched.subarray(
            (c * 4 + dw * 2 + dh) * plane,
            (c * 4 + dw * 2 + dh + 1) * plane,
          );
          assert.deepEqual(ours, theirs, `channel ${c}, offset (${dh}, ${dw})`);
        }
      }
    }
  },
);

kernelTest("channelToSpace undoes spaceToChannel without groups", async (ops) => {
  const shape = [1, 3, 4, 6, 8];
  const x = randomArray(3 * 4 * 6 * 8, 2400);
  const xt = ops.upload({ data: x, shape });
  const o = { time: 2, space: 2, group: 1 };
  const folded = ops.spaceToChannel(xt, o);
  const back = ops.channelToSpace(folded, o);
  const got = await ops.read(back);
  for (const t of [xt, folded, back]) ops.release(t);
  assert.deepEqual(got.shape, shape);
  assert.deepEqual(got.data, x);
});

kernelTest("spaceToChannel and channelToSpace refuse what does not fold", (ops) => {
  const xt = ops.upload({ data: new Float32Array(2 * 3 * 5 * 6), shape: [1, 2, 3, 5, 6] });
  const img = ops.upload({ data: new Float32Array(2 * 4 * 4), shape: [1, 2, 4, 4] });
  try {
    assert.throws(
      () => ops.spaceToChannel(xt, { time: 1, space: 2, group: 1 }),
      /spaceToChannel: \[1, 2, 3, 5, 6\] does not fold by 1x2x2 into groups of 1 \(H and W must be multiples of 2/,
    );
    assert.throws(
      () => ops.spaceToChannel(img, { time: 1, space: 2, group: 1 }),
      /spaceToChannel expects \[B, C, T, H, W\], got \[1, 2, 4, 4\]/,
    );
    assert.throws(
      () => ops.channelToSpace(xt, { time: 2, space: 2, group: 3 }),
      /channelToSpace: \[1, 2, 3, 5, 6\] does not unfold by 2x2x2 after repeating each channel 3 times \(C x 3 must be a multiple of 8\)/,
    );
    assert.throws(
      () => ops.channelToSpace(xt, { time: 3, space: 2, group: 1 }),
      /channelToSpace: time and space must be 1 or 2 and group a positive integer/,
    );
  } finally {
    ops.release(xt);
    ops.release(img);
  }
});
