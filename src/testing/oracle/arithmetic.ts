/**
 * The two arithmetics an oracle can compute in. `FLOAT64` is the maths: what every backend is
 * checked against within a tolerance. `FLOAT32` rounds after every operation, as the kernels'
 * float32 arithmetic does (for +, -, * and / of float32 values, rounding the float64 result to
 * float32 is the correctly rounded float32 operation), so an oracle that performs its operations
 * in the kernels' order gives their results bit for bit.
 * @module
 */

/** How an oracle computes: the rounding after each operation, its storage, and its tanh. */
export interface Arithmetic<A extends Float64Array | Float32Array = Float64Array | Float32Array> {
  /** Applied to the result of every operation. */
  round: (v: number) => number;
  /** The array type results are stored in. */
  Array: new (length: number) => A;
  /** tanh as this arithmetic computes it. */
  tanh: (v: number) => number;
}

/** The maths, in float64: no rounding beyond float64's own. */
export const FLOAT64: Arithmetic<Float64Array> = {
  round: (v) => v,
  Array: Float64Array,
  tanh: Math.tanh,
};

/**
 * Float32 as the kernels compute it: every operation rounded, and tanh in the stable form
 * sign(v) (1 - e) / (1 + e), e = exp(-2|v|), that the WGSL and WebAssembly kernels use, with
 * exp computed as asm/fsq.ts computes it (in float64, rounded once).
 */
export const FLOAT32: Arithmetic<Float32Array> = {
  round: Math.fround,
  Array: Float32Array,
  tanh: stableTanh,
};

/** Round half to even (torch.round). */
export function roundEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** exp(x) for x <= 0 exactly as asm/fsq.ts computes it (float64, same operations and order). */
function expNeg(x0: number): number {
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

/** The kernels' stable_tanh in float32 (exp in float64, rounded once). */
function stableTanh(v: number): number {
  const f = Math.fround;
  const e = f(expNeg(f(-2 * Math.abs(v))));
  return f(f(Math.sign(v) * f(1 - e)) / f(1 + e));
}
