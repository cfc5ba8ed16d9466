/**
 * The Haar wavelet patching of the reference's Patcher (images) and Patcher3D (videos), and its
 * inverse, written once from the definition: a two-tap filter along one axis at a time. It runs
 * in either arithmetic of arithmetic.ts: float64, the maths every backend is checked against
 * within a tolerance; or float32, each operation rounded in the order the WebAssembly kernels
 * (asm/haar.ts) perform them, which gives their results bit for bit (and is the plain-loop
 * baseline of the CPU benchmark).
 *
 * One level filters width then height (images: bands [LL, LH, HL, HH], first letter width) or
 * time, height, width (videos: [LLL, LLH, ..., HHH], letters time, height, width); the bands of
 * the axis filtered first vary slowest along channels, as the reference concatenates them. The
 * level is then rescaled: divided by 2 (images) or 2 sqrt2 (videos). A video's frame 0 is first
 * repeated so that it appears 2^levels times, and the inverse drops those frames again.
 *
 * Working tensors carry a band axis after the batch, [B, bands, C, ...]: filtering an axis
 * doubles the bands (low into band 2k, high into 2k + 1), and [B, bands * C, ...] is the
 * reference's channel concatenation without a copy.
 * @module
 */

import type { HostTensor } from "../../types.ts";
import { type Arithmetic, FLOAT32, FLOAT64 } from "./arithmetic.ts";
import { type AnyTensor, prod, type RefTensor } from "./tensor.ts";

/** A tensor stored in one arithmetic's array type. */
interface Stored<A> {
  data: A;
  shape: number[];
}

/** The axes one level filters, in order: images width then height; videos time, height, width. */
function levelAxes(rank: number): number[] {
  if (rank === 4) return [3, 2];
  if (rank === 5) return [2, 3, 4];
  throw new Error(`Haar patching takes [B, C, H, W] or [B, C, T, H, W], got rank ${rank}`);
}

/** The rescale of one level: sqrt2 per filtered axis (2 for images, 2 sqrt2 for videos). */
function levelScale(axes: number, ar: Arithmetic): number {
  return 2 ** Math.floor(axes / 2) * (axes % 2 ? ar.round(Math.SQRT2) : 1);
}

/**
 * The two-tap analysis filter along `axis` of a banded [B, bands, C, ...] tensor, stride 2:
 * pairs (a, b) = (x[2i], x[2i + 1]) give low (a + b) / sqrt2 and high (a - b) / sqrt2, each then
 * divided by `scale` (the level's rescale, on the level's last axis; 1 before it). As in
 * Patcher3D._dwt, the axis is first reflect-padded by one at the end, which only matters for an
 * odd extent n: the last pair is then (x[n - 1], x[n - 2]) and there are (n + 1) / 2 outputs.
 */
function analyse<A extends Float64Array | Float32Array>(
  x: AnyTensor,
  axis: number,
  scale: number,
  ar: Arithmetic<A>,
): Stored<A> {
  const { data: src, shape } = x;
  const outer = shape[0] * shape[1];
  const mid = prod(shape.slice(2, axis)), n = shape[axis], inner = prod(shape.slice(axis + 1));
  const half = Math.floor((n + 1 - 2) / 2) + 1;
  const r = ar.round, R = r(Math.SQRT1_2);
  const out = new ar.Array(outer * 2 * mid * half * inner);
  for (let o = 0; o < outer; o++) {
    for (let m = 0; m < mid; m++) {
      const from = (o * mid + m) * n;
      const lo = (2 * o * mid + m) * half, hi = ((2 * o + 1) * mid + m) * half;
      for (let i = 0; i < half; i++) {
        const second = 2 * i + 1 < n ? 2 * i + 1 : 2 * (n - 1) - (2 * i + 1);
        const a = (from + 2 * i) * inner, b = (from + second) * inner;
        for (let k = 0; k < inner; k++) {
          const ra = r(R * src[a + k]), rb = r(R * src[b + k]);
          out[(lo + i) * inner + k] = r(r(ra + rb) / scale);
          out[(hi + i) * inner + k] = r(r(ra - rb) / scale);
        }
      }
    }
  }
  const next = [...shape];
  next[1] *= 2;
  next[axis] = half;
  return { data: out, shape: next };
}

/**
 * The inverse of `analyse` along `axis` (a stride-2 transposed convolution with the same taps):
 * bands 2k (low) and 2k + 1 (high) give x[2i] = (lo + hi) / sqrt2, x[2i + 1] = (lo - hi) / sqrt2,
 * each then multiplied by `scale` (the level's rescale, on its last axis; 1 before it).
 */
function synthesise<A extends Float64Array | Float32Array>(
  x: AnyTensor,
  axis: number,
  scale: number,
  ar: Arithmetic<A>,
): Stored<A> {
  const { data: src, shape } = x;
  const outer = (shape[0] * shape[1]) / 2;
  const mid = prod(shape.slice(2, axis)), half = shape[axis], inner = prod(shape.slice(axis + 1));
  const n = 2 * half;
  const r = ar.round, R = r(Math.SQRT1_2);
  const out = new ar.Array(outer * mid * n * inner);
  for (let o = 0; o < outer; o++) {
    for (let m = 0; m < mid; m++) {
      const lo = (2 * o * mid + m) * half, hi = ((2 * o + 1) * mid + m) * half;
      const to = (o * mid + m) * n;
      for (let i = 0; i < half; i++) {
        for (let k = 0; k < inner; k++) {
          const l = r(R * src[(lo + i) * inner + k]), h = r(R * src[(hi + i) * inner + k]);
          out[(to + 2 * i) * inner + k] = r(r(l + h) * scale);
          out[(to + 2 * i + 1) * inner + k] = r(r(l - h) * scale);
        }
      }
    }
  }
  const next = [...shape];
  next[1] /= 2;
  next[axis] = n;
  return { data: out, shape: next };
}

/** One analysis level (Patcher._dwt / Patcher3D._dwt with rescale). */
function dwt<A extends Float64Array | Float32Array>(x: Stored<A>, ar: Arithmetic<A>): Stored<A> {
  const axes = levelAxes(x.shape.length);
  const scale = levelScale(axes.length, ar);
  let y: Stored<A> = { data: x.data, shape: [x.shape[0], 1, ...x.shape.slice(1)] };
  for (let i = 0; i < axes.length; i++) {
    y = analyse(y, axes[i] + 1, i === axes.length - 1 ? scale : 1, ar);
  }
  return { data: y.data, shape: [y.shape[0], y.shape[1] * y.shape[2], ...y.shape.slice(3)] };
}

/** One synthesis level (UnPatcher._idwt / UnPatcher3D._idwt with rescale). */
function idwt<A extends Float64Array | Float32Array>(x: Stored<A>, ar: Arithmetic<A>): Stored<A> {
  const axes = levelAxes(x.shape.length);
  const bands = 2 ** axes.length, c = x.shape[1] / bands;
  if (!Number.isInteger(c)) {
    throw new Error(`Haar synthesis needs ${bands}C channels, got ${x.shape}`);
  }
  const scale = levelScale(axes.length, ar);
  let y: Stored<A> = { data: x.data, shape: [x.shape[0], bands, c, ...x.shape.slice(2)] };
  for (let i = axes.length - 1; i >= 0; i--) {
    y = synthesise(y, axes[i] + 1, i === 0 ? scale : 1, ar);
  }
  return { data: y.data, shape: [y.shape[0], c, ...y.shape.slice(3)] };
}

/**
 * Frames [from, from + count) of a [B, C, T, H, W] tensor with the frame index clamped at 0, so
 * that a negative `from` repeats frame 0; a rank-4 tensor is copied whole. Stored in `ar`'s type.
 */
function frames<A extends Float64Array | Float32Array>(
  x: AnyTensor,
  from: number,
  count: number,
  ar: Arithmetic<A>,
): Stored<A> {
  if (x.shape.length !== 5) {
    const data = new ar.Array(x.data.length);
    for (let i = 0; i < data.length; i++) data[i] = x.data[i];
    return { data, shape: [...x.shape] };
  }
  const [b, c, t, h, w] = x.shape, plane = h * w;
  const data = new ar.Array(b * c * count * plane);
  for (let bc = 0; bc < b * c; bc++) {
    for (let s = 0; s < count; s++) {
      const src = (bc * t + Math.max(from + s, 0)) * plane, dst = (bc * count + s) * plane;
      for (let p = 0; p < plane; p++) data[dst + p] = x.data[src + p];
    }
  }
  return { data, shape: [b, c, count, h, w] };
}

/**
 * Patcher._haar / Patcher3D._haar: `levels` analysis levels of [B, C, H, W] or [B, C, T, H, W];
 * a video's frame 0 is first repeated so that it appears 2^levels times. In float64 unless an
 * arithmetic is given.
 */
export function refHaarPatch(x: AnyTensor, levels: number): RefTensor;
export function refHaarPatch<A extends Float64Array | Float32Array>(
  x: AnyTensor,
  levels: number,
  ar: Arithmetic<A>,
): Stored<A>;
export function refHaarPatch(x: AnyTensor, levels: number, ar: Arithmetic = FLOAT64) {
  const lead = 2 ** levels - 1;
  let y = frames(x, -lead, x.shape[2] + lead, ar);
  for (let l = 0; l < levels; l++) y = dwt(y, ar);
  return y;
}

/**
 * UnPatcher._ihaar / UnPatcher3D._ihaar: `levels` synthesis levels, then a video's first
 * 2^levels - 1 frames dropped. In float64 unless an arithmetic is given.
 */
export function refHaarUnpatch(x: AnyTensor, levels: number): RefTensor;
export function refHaarUnpatch<A extends Float64Array | Float32Array>(
  x: AnyTensor,
  levels: number,
  ar: Arithmetic<A>,
): Stored<A>;
export function refHaarUnpatch(x: AnyTensor, levels: number, ar: Arithmetic = FLOAT64) {
  let y = frames(x, 0, x.shape[2], ar);
  for (let l = 0; l < levels; l++) y = idwt(y, ar);
  const lead = 2 ** levels - 1;
  return y.shape.length === 5 ? frames(y, lead, y.shape[2] - lead, ar) : y;
}

/** One image level in float64 on bare data, [B, C, H, W] -> [B, 4C, H/2, W/2], as float32. */
export function refHaar(x: Float32Array, shape: number[]): Float32Array {
  return Float32Array.from(refHaarPatch({ data: x, shape }, 1).data);
}

/**
 * The CPU haarPatch (a patch size; rank 4 in 2D, rank 5 in 3D) in float32: what the WebAssembly
 * kernels compute, bit for bit.
 */
export function tsHaarPatch(x: HostTensor, patchSize: number): HostTensor {
  return refHaarPatch(x, Math.log2(patchSize), FLOAT32);
}

/** The CPU haarUnpatch in float32, likewise. */
export function tsHaarUnpatch(x: HostTensor, patchSize: number): HostTensor {
  return refHaarUnpatch(x, Math.log2(patchSize), FLOAT32);
}
