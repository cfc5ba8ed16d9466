/**
 * Finite scalar quantisation (the paper's definition, as the reference's FSQuantizer computes
 * it) and its index arithmetic, written once. Quantising runs in either arithmetic of
 * arithmetic.ts: float64, the maths every backend is checked against; or float32, each
 * operation rounded in the order the kernels perform them, with their tanh, which gives the
 * WebAssembly kernels' results bit for bit (and is the plain-loop baseline of the CPU
 * benchmark). The index <-> code conversions are exact integer arithmetic but for one float32
 * step, done as the kernels do it.
 *
 * For a level count L: half_l = (L - 1) (1 + 1e-3) / 2, offset = 0.5 for even L (else 0),
 * shift = atanh(offset / half_l); a value z is bounded to tanh(z + shift) half_l - offset,
 * rounded half to even, and the code is that integer over floor(L / 2). The index is the
 * mixed-radix number of the digits (integer + floor(L / 2)), the first channel least
 * significant. The constants are derived here, not taken from src/backends/fsq.ts, so that the
 * oracle stays independent of what it checks.
 * @module
 */

import type { HostTensor } from "../../types.ts";
import { type Arithmetic, FLOAT32, FLOAT64, roundEven } from "./arithmetic.ts";
import { prod } from "./tensor.ts";

/** The reference's bound epsilon. */
const BOUND_EPS = 1e-3;

/** Place value of each channel's digit: the product of the preceding levels. */
function placeValues(levels: readonly number[]): number[] {
  return levels.map((_, c) => prod(levels.slice(0, c)));
}

/**
 * FSQ of z [B, D, ...] with D = levels.length, in float64 unless an arithmetic is given:
 * indices [B, ...] (int32) and codes [B, D, ...] on the grid of each channel (float32).
 */
export function refFsqQuantize(
  z: { data: ArrayLike<number>; shape: number[] },
  levels: readonly number[],
  ar: Arithmetic = FLOAT64,
): {
  indices: { data: Int32Array; shape: number[] };
  codes: { data: Float32Array; shape: number[] };
} {
  const r = ar.round, tanh = ar.tanh;
  const [b, d, ...rest] = z.shape;
  const n = prod(rest);
  const basis = placeValues(levels);
  const codes = new Float32Array(z.data.length);
  const indices = new Int32Array(b * n);
  for (let c = 0; c < d; c++) {
    const l = levels[c];
    const halfL = r(r(r(l - 1) * r(1 + BOUND_EPS)) / 2);
    const offset = l % 2 === 0 ? 0.5 : 0;
    const shift = r(Math.atanh(r(offset / halfL)));
    const halfW = Math.floor(l / 2);
    for (let bi = 0; bi < b; bi++) {
      const row = (bi * d + c) * n;
      for (let q = 0; q < n; q++) {
        const bounded = r(r(tanh(r(z.data[row + q] + shift)) * halfL) - offset);
        const digit = roundEven(bounded);
        codes[row + q] = digit / halfW;
        indices[bi * n + q] += (digit + halfW) * basis[c];
      }
    }
  }
  return {
    indices: { data: indices, shape: [b, ...rest] },
    codes: { data: codes, shape: z.shape },
  };
}

/** FSQ in float64 on bare data: z [b, D, positions] to codes and indices. */
export function refFsq(
  z: Float32Array,
  b: number,
  levels: number[],
  positions: number,
): { codes: Float32Array; indices: Int32Array } {
  const q = refFsqQuantize({ data: z, shape: [b, levels.length, positions] }, levels);
  return { codes: q.codes.data, indices: q.indices.data };
}

/** The CPU fsqQuantize in float32: what the WebAssembly kernels compute, bit for bit. */
export function tsFsqQuantize(
  z: HostTensor,
  levels: readonly number[],
): { indices: HostTensor; codes: HostTensor } {
  return refFsqQuantize(z, levels, FLOAT32);
}

/** The CPU fsqIndicesToCodes: indices [B, ...] to codes [B, D, ...]. */
export function tsFsqIndicesToCodes(indices: HostTensor, levels: readonly number[]): HostTensor {
  const basis = placeValues(levels);
  const [b, ...rest] = indices.shape;
  const n = prod(rest);
  const d = levels.length;
  const codes = new Float32Array(b * d * n);
  for (let bi = 0; bi < b; bi++) {
    for (let c = 0; c < d; c++) {
      const halfW = Math.floor(levels[c] / 2);
      const row = (bi * d + c) * n;
      for (let q = 0; q < n; q++) {
        const digit = Math.floor(indices.data[bi * n + q] / basis[c]) % levels[c];
        codes[row + q] = (digit - halfW) / halfW;
      }
    }
  }
  return { data: codes, shape: [b, d, ...rest] };
}

/** The CPU fsqCodesToIndices (codes assumed on the grid), with its float32 step. */
export function tsFsqCodesToIndices(codes: HostTensor, levels: readonly number[]): HostTensor {
  const f = Math.fround;
  const basis = placeValues(levels);
  const [b, d, ...rest] = codes.shape;
  const n = prod(rest);
  const indices = new Int32Array(b * n);
  for (let bi = 0; bi < b; bi++) {
    for (let c = 0; c < d; c++) {
      const halfW = Math.floor(levels[c] / 2);
      const row = (bi * d + c) * n;
      for (let q = 0; q < n; q++) {
        const digit = Math.round(f(f(codes.data[row + q] * halfW) + halfW));
        indices[bi * n + q] += digit * basis[c];
      }
    }
  }
  return { data: indices, shape: [b, ...rest] };
}
