/**
 * asm/nn.ts im2col against a plain TypeScript gather, at stride 1 with no upsampling (the rows it
 * copies four values at a time: the Winograd convolutions' padded copy, 1x1 convolutions with
 * GroupNorm, 3x3 taps) and, for contrast, strided and upsampled ones (the value-by-value loop):
 * planes narrower than four values and not a multiple of four, padding on both sides, taps
 * reading outside the row, causal temporal padding, runs of columns that start and end inside
 * a row, GroupNorm with one and two groups per frame or per clip, with and without SiLU.
 * Tolerance: the normalisation is the same float32 operations in the same order (exact); SiLU's
 * exponential is AssemblyScript's Mathf.exp against Math.exp, within a few float32 ulps.
 */

import assert from "node:assert/strict";
import { cpuWasm, positional } from "../src/backends/wasm/kernels.ts";
import { randomArray } from "./helpers.ts";

interface Case {
  cin: number;
  t: number;
  h: number;
  w: number;
  k: [number, number, number];
  stride: [number, number, number];
  pad: [number, number, number];
  up: number;
  groups: number;
  /** Statistics per frame (otherwise per clip), or no normalisation. */
  norm: "none" | "frame" | "clip";
  act: boolean;
  /** Output positions [q0, q0 + len) of the tOut x hOut x wOut grid, or all of them. */
  range?: [number, number];
}

const CASES: Case[] = [
  // Winograd's padded copy: a 1x1 "convolution" with pad 1 onto (h + 2) x (w + 2).
  {
    cin: 5,
    t: 2,
    h: 7,
    w: 9,
    k: [1, 1, 1],
    stride: [1, 1, 1],
    pad: [0, 1, 1],
    up: 1,
    groups: 1,
    norm: "frame",
    act: true,
  },
  {
    cin: 3,
    t: 1,
    h: 2,
    w: 3,
    k: [1, 1, 1],
    stride: [1, 1, 1],
    pad: [0, 1, 1],
    up: 1,
    groups: 1,
    norm: "frame",
    act: false,
  },
  {
    cin: 6,
    t: 1,
    h: 4,
    w: 13,
    k: [1, 1, 1],
    stride: [1, 1, 1],
    pad: [0, 1, 1],
    up: 1,
    groups: 2,
    norm: "clip",
    act: true,
    range: [5, 40],
  },
  // 1x1 with GroupNorm, no padding; 3x3 taps at stride 1 (rows cut on both sides).
  {
    cin: 7,
    t: 1,
    h: 5,
    w: 11,
    k: [1, 1, 1],
    stride: [1, 1, 1],
    pad: [0, 0, 0],
    up: 1,
    groups: 1,
    norm: "clip",
    act: false,
  },
  {
    cin: 4,
    t: 3,
    h: 6,
    w: 10,
    k: [1, 3, 3],
    stride: [1, 1, 1],
    pad: [0, 1, 1],
    up: 1,
    groups: 2,
    norm: "frame",
    act: true,
    range: [13, 101],
  },
  {
    cin: 2,
    t: 4,
    h: 3,
    w: 6,
    k: [3, 1, 1],
    stride: [1, 1, 1],
    pad: [2, 0, 0],
    up: 1,
    groups: 1,
    norm: "none",
    act: false,
  },
  // The value-by-value loop: stride 2 and nearest 2x upsampling.
  {
    cin: 3,
    t: 1,
    h: 9,
    w: 9,
    k: [1, 3, 3],
    stride: [1, 2, 2],
    pad: [0, 0, 0],
    up: 1,
    groups: 1,
    norm: "frame",
    act: true,
  },
  {
    cin: 3,
    t: 1,
    h: 3,
    w: 5,
    k: [1, 3, 3],
    stride: [1, 1, 1],
    pad: [0, 1, 1],
    up: 2,
    groups: 1,
    norm: "clip",
    act: true,
  },
];

/** im2col in plain TypeScript with float32 rounding at each step (Math.exp for SiLU). */
function reference(c: Case, x: Float32Array, stats: Float32Array, gb: Float32Array) {
  const f = Math.fround;
  const [kt, kh, kw] = c.k, [st, sh, sw] = c.stride, [pt, ph, pw] = c.pad;
  const H = c.h * c.up, W = c.w * c.up;
  const tOut = Math.floor((c.t + pt - kt) / st) + 1;
  const hOut = Math.floor((H + 2 * ph - kh) / sh) + 1,
    wOut = Math.floor((W + 2 * pw - kw) / sw) + 1;
  const [q0, len] = c.range ?? [0, tOut * hOut * wOut];
  const K = c.cin * kt * kh * kw, cpg = c.cin / c.groups;
  const out = new Float32Array(K * len);
  for (let k = 0; k < K; k++) {
    const ci = Math.floor(k / (kt * kh * kw)), tap = k % (kt * kh * kw);
    const dt = Math.floor(tap / (kh * kw)), dh = Math.floor(tap / kw) % kh, dw = tap % kw;
    for (let n = 0; n < len; n++) {
      const q = q0 + n;
      const to = Math.floor(q / (hOut * wOut)), ho = Math.floor(q / wOut) % hOut, wo = q % wOut;
      const ti = Math.max(0, to * st - pt + dt), hi = ho * sh - ph + dh, wi = wo * sw - pw + dw;
      let v = 0;
      if (hi >= 0 && hi < H && wi >= 0 && wi < W) {
        v = x[((ci * c.t + ti) * c.h + Math.floor(hi / c.up)) * c.w + Math.floor(wi / c.up)];
        if (c.norm !== "none") {
          const s = 2 * ((c.norm === "frame" ? ti : 0) * c.groups + Math.floor(ci / cpg));
          v = f(f(f(f(v - stats[s]) * stats[s + 1]) * gb[2 * ci]) + gb[2 * ci + 1]);
          if (c.act) v = f(v / f(1 + f(Math.exp(-v))));
        }
      }
      out[k * len + n] = v;
    }
  }
  return { out, K, tOut, hOut, wOut, q0, len };
}

Deno.test("im2col: stride-1 rows four at a time and strided or upsampled ones value by value, against a plain gather", async () => {
  const wasm = await cpuWasm();
  let seed = 900;
  for (const c of CASES) {
    seed += 4;
    const x = randomArray(c.cin * c.t * c.h * c.w, seed, -3, 3);
    const statFrames = c.norm === "frame" ? c.t : 1;
    const stats = randomArray(statFrames * c.groups * 2, seed + 1, 0.2, 1.5);
    const gb = randomArray(2 * c.cin, seed + 2, -1, 1);
    const ref = reference(c, x, stats, gb);
    const [px, pc, ps, pg] = wasm.reserve(
      "im2col test",
      x.length * 4,
      ref.out.length * 4,
      stats.length * 4,
      gb.length * 4,
    );
    wasm.f32(px, x.length).set(x);
    wasm.f32(ps, stats.length).set(stats);
    wasm.f32(pg, gb.length).set(gb);
    wasm.f32(pc, ref.out.length).fill(NaN);
    const args = {
      x: px,
      col: pc,
      cin: c.cin,
      tIn: c.t,
      hIn: c.h,
      wIn: c.w,
      kt: c.k[0],
      kh: c.k[1],
      kw: c.k[2],
      tOut: ref.tOut,
      hOut: ref.hOut,
      wOut: ref.wOut,
      st: c.stride[0],
      sh: c.stride[1],
      sw: c.stride[2],
      padT: c.pad[0],
      padH: c.pad[1],
      padW: c.pad[2],
      up: c.up,
      stats: c.norm === "none" ? 0 : ps,
      gammaBeta: pg,
      groups: c.groups,
      statFrames,
      act: c.act ? 1 : 0,
      q0: ref.q0,
      len: ref.len,
    };
    // In two ranges of rows, the later first, in the host's argument order (KERNELS).
    const im2col = wasm.k.im2col as (...a: number[]) => void;
    const cut = Math.floor(ref.K / 2);
    im2col(...positional("im2col", args), cut, ref.K);
    im2col(...positional("im2col", args), 0, cut);
    const got = wasm.f32(pc, ref.out.length);
    for (let i = 0; i < ref.out.length; i++) {
      const want = ref.out[i], err = Math.abs(got[i] - want);
      const tol = c.act ? 4 * 2 ** -24 * Math.max(Math.abs(want), 2 ** -20) : 0;
      assert.ok(
        err <= tol,
        `${JSON.stringify(c)}: col[${Math.floor(i / ref.len)}, ${i % ref.len}] = ${got[i]}, ` +
          `expected ${want}`,
      );
    }
  }
});
