/**
 * Plain TypeScript loops computing exactly what the WebAssembly kernels (asm/) compute, with
 * the same float32 rounding at every step (Math.fround after each operation: for +, -, * and /
 * of float32 values, rounding the float64 result to float32 is the correctly rounded float32
 * operation). The baseline of src/cpu/bench.ts and an oracle for the tests. No input checks.
 * @module
 */

import { fsqConstants } from "../backends/fsq.ts";
import type { HostTensor } from "../types.ts";

const f = Math.fround;
const R = f(0.70710678118654757);
/** 2 * f32(sqrt 2), exact in float32. */
const SCALE = f(2 * f(Math.SQRT2));

const lo = (a: number, b: number) => f(f(R * a) + f(R * b));
const hi = (a: number, b: number) => f(f(R * a) - f(R * b));

/** One 2D analysis level: [b, c, 2h, 2w] -> [b, 4c, h, w]. */
function dwt2d(x: Float32Array, b: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  const plane = h * w, block = c * plane, w2 = 2 * w;
  for (let bc = 0; bc < b * c; bc++) {
    const o0 = (Math.floor(bc / c) * 4 * c + (bc % c)) * plane;
    for (let row = 0; row < h; row++) {
      for (let j = 0; j < w; j++) {
        const s = bc * 4 * plane + 2 * row * w2 + 2 * j;
        const loTop = lo(x[s], x[s + 1]), loBot = lo(x[s + w2], x[s + w2 + 1]);
        const hiTop = hi(x[s], x[s + 1]), hiBot = hi(x[s + w2], x[s + w2 + 1]);
        const o = o0 + row * w + j;
        out[o] = lo(loTop, loBot) / 2;
        out[o + block] = hi(loTop, loBot) / 2;
        out[o + 2 * block] = lo(hiTop, hiBot) / 2;
        out[o + 3 * block] = hi(hiTop, hiBot) / 2;
      }
    }
  }
  return out;
}

/** One 2D synthesis level: [b, 4c, h, w] -> [b, c, 2h, 2w]. */
function idwt2d(x: Float32Array, b: number, c: number, h: number, w: number): Float32Array {
  const out = new Float32Array(x.length);
  const plane = h * w, block = c * plane, w2 = 2 * w;
  for (let bc = 0; bc < b * c; bc++) {
    const s0 = (Math.floor(bc / c) * 4 * c + (bc % c)) * plane;
    for (let row = 0; row < h; row++) {
      for (let j = 0; j < w; j++) {
        const s = s0 + row * w + j;
        const ll = x[s], lh = x[s + block], hl = x[s + 2 * block], hh = x[s + 3 * block];
        const loTop = lo(ll, lh), loBot = hi(ll, lh), hiTop = lo(hl, hh), hiBot = hi(hl, hh);
        const o = bc * 4 * plane + 2 * row * w2 + 2 * j;
        out[o] = lo(loTop, hiTop) * 2;
        out[o + 1] = hi(loTop, hiTop) * 2;
        out[o + w2] = lo(loBot, hiBot) * 2;
        out[o + w2 + 1] = hi(loBot, hiBot) * 2;
      }
    }
  }
  return out;
}

/** One 3D analysis level: [b, c, tFull, 2h, 2w] with `lead` frame-0 copies -> [b, 8c, t, h, w]. */
function dwt3d(
  x: Float32Array,
  [b, c, t, h, w]: number[],
  lead: number,
  tFull: number,
): Float32Array {
  const vol = t * h * w, block = c * vol, w2 = 2 * w, plane = 4 * h * w;
  const out = new Float32Array(b * 8 * block);
  for (let bc = 0; bc < b * c; bc++) {
    const o0 = (Math.floor(bc / c) * 8 * c + (bc % c)) * vol;
    for (let fr = 0; fr < t; fr++) {
      const f0 = (bc * tFull + Math.max(2 * fr - lead, 0)) * plane;
      const f1 = (bc * tFull + Math.max(2 * fr + 1 - lead, 0)) * plane;
      for (let row = 0; row < h; row++) {
        for (let j = 0; j < w; j++) {
          const k = 2 * row * w2 + 2 * j;
          const a = f0 + k, e = f1 + k;
          const l00 = lo(x[a], x[e]), l01 = lo(x[a + 1], x[e + 1]);
          const l10 = lo(x[a + w2], x[e + w2]), l11 = lo(x[a + w2 + 1], x[e + w2 + 1]);
          const h00 = hi(x[a], x[e]), h01 = hi(x[a + 1], x[e + 1]);
          const h10 = hi(x[a + w2], x[e + w2]), h11 = hi(x[a + w2 + 1], x[e + w2 + 1]);
          const ll0 = lo(l00, l10), ll1 = lo(l01, l11), lh0 = hi(l00, l10), lh1 = hi(l01, l11);
          const hl0 = lo(h00, h10), hl1 = lo(h01, h11), hh0 = hi(h00, h10), hh1 = hi(h01, h11);
          const o = o0 + (fr * h + row) * w + j;
          out[o] = lo(ll0, ll1) / SCALE;
          out[o + block] = hi(ll0, ll1) / SCALE;
          out[o + 2 * block] = lo(lh0, lh1) / SCALE;
          out[o + 3 * block] = hi(lh0, lh1) / SCALE;
          out[o + 4 * block] = lo(hl0, hl1) / SCALE;
          out[o + 5 * block] = hi(hl0, hl1) / SCALE;
          out[o + 6 * block] = lo(hh0, hh1) / SCALE;
          out[o + 7 * block] = hi(hh0, hh1) / SCALE;
        }
      }
    }
  }
  return out;
}

/** One 3D synthesis level: [b, 8c, t, h, w] -> [b, c, 2t - trim, 2h, 2w]. */
function idwt3d(x: Float32Array, [b, c, t, h, w]: number[], trim: number): Float32Array {
  const vol = t * h * w, block = c * vol, w2 = 2 * w, plane = 4 * h * w, tFull = 2 * t - trim;
  const out = new Float32Array(b * c * tFull * plane);
  const put = (bc: number, frame: number, off: number, v: number) => {
    if (frame >= trim) out[(bc * tFull + frame - trim) * plane + off] = v * SCALE;
  };
  for (let bc = 0; bc < b * c; bc++) {
    const s0 = (Math.floor(bc / c) * 8 * c + (bc % c)) * vol;
    for (let fr = 0; fr < t; fr++) {
      for (let row = 0; row < h; row++) {
        for (let j = 0; j < w; j++) {
          const s = s0 + (fr * h + row) * w + j;
          const v = (k: number) => x[s + k * block];
          const ll0 = lo(v(0), v(1)), ll1 = hi(v(0), v(1)), lh0 = lo(v(2), v(3));
          const lh1 = hi(v(2), v(3)), hl0 = lo(v(4), v(5)), hl1 = hi(v(4), v(5));
          const hh0 = lo(v(6), v(7)), hh1 = hi(v(6), v(7));
          const l00 = lo(ll0, lh0), l01 = lo(ll1, lh1), l10 = hi(ll0, lh0), l11 = hi(ll1, lh1);
          const h00 = lo(hl0, hh0), h01 = lo(hl1, hh1), h10 = hi(hl0, hh0), h11 = hi(hl1, hh1);
          const off = 2 * row * w2 + 2 * j;
          put(bc, 2 * fr, off, lo(l00, h00));
          put(bc, 2 * fr, off + 1, lo(l01, h01));
          put(bc, 2 * fr, off + w2, lo(l10, h10));
          put(bc, 2 * fr, off + w2 + 1, lo(l11, h11));
          put(bc, 2 * fr + 1, off, hi(l00, h00));
          put(bc, 2 * fr + 1, off + 1, hi(l01, h01));
          put(bc, 2 * fr + 1, off + w2, hi(l10, h10));
          put(bc, 2 * fr + 1, off + w2 + 1, hi(l11, h11));
        }
      }
    }
  }
  return out;
}

/** haarPatch of src/cpu/mod.ts in plain TypeScript (rank 4: 2D, rank 5: 3D). */
export function tsHaarPatch(x: HostTensor, patchSize: number): HostTensor {
  const levels = Math.log2(patchSize);
  let data: Float32Array = Float32Array.from(x.data);
  let shape = [...x.shape];
  for (let l = 0; l < levels; l++) {
    if (shape.length === 4) {
      const [b, c, h, w] = shape;
      data = dwt2d(data, b, c, h / 2, w / 2);
      shape = [b, 4 * c, h / 2, w / 2];
    } else {
      const [b, c, t, h, w] = shape;
      const lead = l === 0 ? patchSize - 1 : 0;
      const half = [b, c, (t + lead) / 2, h / 2, w / 2];
      data = dwt3d(data, half, lead, t);
      shape = [b, 8 * c, ...half.slice(2)];
    }
  }
  return { data, shape };
}

/** haarUnpatch of src/cpu/mod.ts in plain TypeScript. */
export function tsHaarUnpatch(x: HostTensor, patchSize: number): HostTensor {
  const levels = Math.log2(patchSize);
  let data: Float32Array = Float32Array.from(x.data);
  let shape = [...x.shape];
  for (let l = 0; l < levels; l++) {
    if (shape.length === 4) {
      const [b, c4, h, w] = shape;
      data = idwt2d(data, b, c4 / 4, h, w);
      shape = [b, c4 / 4, 2 * h, 2 * w];
    } else {
      const [b, c8, t, h, w] = shape;
      const trim = l === levels - 1 ? patchSize - 1 : 0;
      data = idwt3d(data, [b, c8 / 8, t, h, w], trim);
      shape = [b, c8 / 8, 2 * t - trim, 2 * h, 2 * w];
    }
  }
  return { data, shape };
}

/** Round half to even. */
function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** exp(x) for x <= 0 exactly as asm/fsq.ts computes it (float64, same operations and order). */
export function expNeg(x0: number): number {
  const x = Math.max(x0, -40);
  const k = roundEven(x * 1.4426950408889634);
  const r = (x - k * 6.93147180369123816490e-01) - k * 1.90821492927058770002e-10;
  const [c2, c3, c4, c5, c6, c7, c8, c9, c10, c11, c12] = EXP_COEFFS;
  const r2 = r * r, r4 = r2 * r2, r8 = r4 * r4;
  const b0 = (1 + r) + (c2 + c3 * r) * r2;
  const b1 = (c4 + c5 * r) + (c6 + c7 * r) * r2;
  const b2 = (c8 + c9 * r) + (c10 + c11 * r) * r2;
  const p = (b0 + b1 * r4) + (b2 + c12 * r4) * r8;
  return p * 2 ** k;
}

/** 1/2!, ..., 1/12!: the Taylor coefficients of expNeg. */
const EXP_COEFFS = [2, 6, 24, 120, 720, 5040, 40320, 362880, 3628800, 39916800, 479001600]
  .map((n) => 1 / n);

/** The WGSL's stable_tanh in float32 (exp in float64, rounded once). */
function stableTanh(v: number): number {
  const e = f(expNeg(f(-2 * Math.abs(v))));
  return f(f(Math.sign(v) * f(1 - e)) / f(1 + e));
}

/** fsqQuantize of src/cpu/mod.ts in plain TypeScript: z [B, D, ...]. */
export function tsFsqQuantize(
  z: HostTensor,
  levels: readonly number[],
): { indices: HostTensor; codes: HostTensor } {
  const k = fsqConstants(levels);
  const [b, d, ...rest] = z.shape;
  const n = rest.reduce((a, x) => a * x, 1);
  const codes = new Float32Array(z.data.length);
  const indices = new Int32Array(b * n);
  for (let bi = 0; bi < b; bi++) {
    for (let c = 0; c < d; c++) {
      const halfW = Math.floor(levels[c] / 2);
      const { halfL, offset, shift, basis } = {
        halfL: k.halfL[c],
        offset: k.offset[c],
        shift: k.shift[c],
        basis: k.basis[c],
      };
      const row = (bi * d + c) * n;
      for (let q = 0; q < n; q++) {
        const bounded = f(f(stableTanh(f(z.data[row + q] + shift)) * halfL) - offset);
        const r = roundEven(bounded);
        codes[row + q] = r / halfW;
        indices[bi * n + q] += (r + halfW) * basis;
      }
    }
  }
  return {
    indices: { data: indices, shape: [b, ...rest] },
    codes: { data: codes, shape: z.shape },
  };
}

/** fsqIndicesToCodes of src/cpu/mod.ts in plain TypeScript: indices [B, ...]. */
export function tsFsqIndicesToCodes(indices: HostTensor, levels: readonly number[]): HostTensor {
  const k = fsqConstants(levels);
  const [b, ...rest] = indices.shape;
  const n = rest.reduce((a, x) => a * x, 1);
  const d = levels.length;
  const codes = new Float32Array(b * d * n);
  for (let bi = 0; bi < b; bi++) {
    for (let c = 0; c < d; c++) {
      const halfW = Math.floor(levels[c] / 2);
      const row = (bi * d + c) * n;
      for (let q = 0; q < n; q++) {
        const digit = Math.floor(indices.data[bi * n + q] / k.basis[c]) % levels[c];
        codes[row + q] = (digit - halfW) / halfW;
      }
    }
  }
  return { data: codes, shape: [b, d, ...rest] };
}

/** fsqCodesToIndices of src/cpu/mod.ts in plain TypeScript (codes assumed on the grid). */
export function tsFsqCodesToIndices(codes: HostTensor, levels: readonly number[]): HostTensor {
  const k = fsqConstants(levels);
  const [b, d, ...rest] = codes.shape;
  const n = rest.reduce((a, x) => a * x, 1);
  const indices = new Int32Array(b * n);
  for (let bi = 0; bi < b; bi++) {
    for (let c = 0; c < d; c++) {
      const halfW = Math.floor(levels[c] / 2);
      const row = (bi * d + c) * n;
      for (let q = 0; q < n; q++) {
        const digit = Math.round(f(f(codes.data[row + q] * halfW) + halfW));
        indices[bi * n + q] += digit * k.basis[c];
      }
    }
  }
  return { data: indices, shape: [b, ...rest] };
}
