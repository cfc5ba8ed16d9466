// deno-fmt-ignore-file
// deno-lint-ignore-file
// (AssemblyScript: deno fmt would drop the @inline decorators.)

// Finite scalar quantisation over channels-first [b, dims, positions] tensors, in the arithmetic
// of wgsl/fsq.wgsl: bounded = stable_tanh(z + shift) * half_l - offset (f32), rounded half to
// even, code = round / (L / 2). The per-level constants are computed by the host in float32
// (src/backends/fsq.ts fsqConstants) and written to the table at `fsqTable()`:
//   i32 levels[8], i32 basis[8], f32 halfL[8], f32 offset[8], f32 shift[8].
// Indices are accumulated in integer arithmetic from the digits round + L / 2, which equals the
// GPU's float32 sum whenever that sum is exact (codebooks of up to 2^24 codes).
//
// Loops run channel-major (every position of channel 0, then channel 1, ...), so every access
// is sequential, four positions per SIMD step, then the row's tail in scalar code with the same
// operations in the same order (so a value does not depend on its place in the row).
// Functions that validate their input return -1, or the flat element index of the first
// invalid value.

const TABLE: usize = memory.data(160, 16);

// Where this instance reads its table: the static one by default. Instances that share one
// memory re-initialise the module's static data whenever one is instantiated (a worker thread
// starting), so the WebAssembly backend points its calling thread's instance at a table in its
// own heap instead. A global is per instance, so other threads are unaffected.
let table: usize = TABLE;

/** Reads the constants from `p` (160 bytes, 16-aligned) from now on. */
export function fsqUseTable(p: usize): void {
  table = p;
}

// @ts-ignore: decorator
@inline const LEVELS: usize = 0;
// @ts-ignore: decorator
@inline const BASIS: usize = 32;
// @ts-ignore: decorator
@inline const HALF_L: usize = 64;
// @ts-ignore: decorator
@inline const OFFSET: usize = 96;
// @ts-ignore: decorator
@inline const SHIFT: usize = 128;

/** Address of the constants table the host fills before each call. */
export function fsqTable(): usize {
  return table;
}

// @ts-ignore: decorator
@inline function tableI32(field: usize, d: i32): i32 {
  return load<i32>(table + field + (<usize> d << 2));
}

// @ts-ignore: decorator
@inline function tableF32(field: usize, d: i32): f32 {
  return load<f32>(table + field + (<usize> d << 2));
}

// exp(x) for x <= 0 in float64, accurate to a few float64 ulps, so that rounding it to float32
// gives the correctly rounded float32 exp except in vanishingly rare cases. x is clamped at
// -40: stable_tanh only needs exp(-2|v|) down to 2^-25, below which 1 - e and 1 + e round to 1.
// k = nearest(x log2 e), r = x - k ln2 (ln2 in two parts, fdlibm's), exp(r) by its Taylor
// series to r^12 / 12! (|r| <= ln2 / 2: truncation error < 3e-16) evaluated in Estrin's scheme
// (short dependency chains), times 2^k built from its bits. The SIMD form rounds k with the
// 1.5 * 2^52 trick, which gives the same k. src/testing/oracle/arithmetic.ts repeats these operations
// in the same order.
// @ts-ignore: decorator
@inline const EXP_MIN: f64 = -40.0;
// @ts-ignore: decorator
@inline const LOG2E: f64 = 1.4426950408889634;
// @ts-ignore: decorator
@inline const LN2_HI: f64 = 6.93147180369123816490e-01;
// @ts-ignore: decorator
@inline const LN2_LO: f64 = 1.90821492927058770002e-10;
// 1.5 * 2^52: adding it rounds a float64 of magnitude < 2^51 to an integer (half to even),
// held in the low mantissa bits.
// @ts-ignore: decorator
@inline const ROUNDER: f64 = 6755399441055744.0;
// @ts-ignore: decorator
@inline const C2: f64 = 1.0 / 2.0;
// @ts-ignore: decorator
@inline const C3: f64 = 1.0 / 6.0;
// @ts-ignore: decorator
@inline const C4: f64 = 1.0 / 24.0;
// @ts-ignore: decorator
@inline const C5: f64 = 1.0 / 120.0;
// @ts-ignore: decorator
@inline const C6: f64 = 1.0 / 720.0;
// @ts-ignore: decorator
@inline const C7: f64 = 1.0 / 5040.0;
// @ts-ignore: decorator
@inline const C8: f64 = 1.0 / 40320.0;
// @ts-ignore: decorator
@inline const C9: f64 = 1.0 / 362880.0;
// @ts-ignore: decorator
@inline const C10: f64 = 1.0 / 3628800.0;
// @ts-ignore: decorator
@inline const C11: f64 = 1.0 / 39916800.0;
// @ts-ignore: decorator
@inline const C12: f64 = 1.0 / 479001600.0;

// @ts-ignore: decorator
@inline function expNeg(x0: f64): f64 {
  const x = max<f64>(x0, EXP_MIN);
  const k = nearest<f64>(x * LOG2E);
  const r = (x - k * LN2_HI) - k * LN2_LO;
  const r2 = r * r;
  const r4 = r2 * r2;
  const r8 = r4 * r4;
  const b0 = (1.0 + r) + (C2 + C3 * r) * r2;
  const b1 = (C4 + C5 * r) + (C6 + C7 * r) * r2;
  const b2 = (C8 + C9 * r) + (C10 + C11 * r) * r2;
  const p = (b0 + b1 * r4) + (b2 + C12 * r4) * r8;
  return p * reinterpret<f64>((<i64> k + 1023) << 52);
}

// @ts-ignore: decorator
@inline function add2(a: v128, b: v128): v128 {
  return f64x2.add(a, b);
}

// @ts-ignore: decorator
@inline function mul2(a: v128, b: v128): v128 {
  return f64x2.mul(a, b);
}

// SIMD constants are loaded from this table (one broadcast load, folded into the arithmetic)
// rather than written as v128 constants, which V8 rebuilds at every use inside a loop.
const K64: usize = memory.data<f64>([
  EXP_MIN,
  LOG2E,
  ROUNDER,
  LN2_HI,
  LN2_LO,
  1.0,
  C2,
  C3,
  C4,
  C5,
  C6,
  C7,
  C8,
  C9,
  C10,
  C11,
  C12,
], 16);
// @ts-ignore: decorator
@inline const K_EXP_MIN: usize = 0;
// @ts-ignore: decorator
@inline const K_LOG2E: usize = 8;
// @ts-ignore: decorator
@inline const K_ROUNDER: usize = 16;
// @ts-ignore: decorator
@inline const K_LN2_HI: usize = 24;
// @ts-ignore: decorator
@inline const K_LN2_LO: usize = 32;
// @ts-ignore: decorator
@inline const K_ONE: usize = 40;
// @ts-ignore: decorator
@inline const K_C2: usize = 48;
// @ts-ignore: decorator
@inline const K_C3: usize = 56;
// @ts-ignore: decorator
@inline const K_C4: usize = 64;
// @ts-ignore: decorator
@inline const K_C5: usize = 72;
// @ts-ignore: decorator
@inline const K_C6: usize = 80;
// @ts-ignore: decorator
@inline const K_C7: usize = 88;
// @ts-ignore: decorator
@inline const K_C8: usize = 96;
// @ts-ignore: decorator
@inline const K_C9: usize = 104;
// @ts-ignore: decorator
@inline const K_C10: usize = 112;
// @ts-ignore: decorator
@inline const K_C11: usize = 120;
// @ts-ignore: decorator
@inline const K_C12: usize = 128;

const K_BIAS: usize = memory.data<i64>([1023], 16);
// float32 -2, 0, 1, -1.
const K32: usize = memory.data<f32>([-2.0, 0.0, 1.0, -1.0], 16);

// @ts-ignore: decorator
@inline function c4(i: usize): v128 {
  return v128.load32_splat(K32 + (i << 2));
}

// @ts-ignore: decorator
@inline function c2(offset: usize): v128 {
  return v128.load64_splat(K64 + offset);
}

// @ts-ignore: decorator
@inline function expNeg2(x0: v128): v128 {
  // pmax is max for the finite inputs this sees.
  const x = f64x2.pmax(x0, c2(K_EXP_MIN));
  const kb = add2(mul2(x, c2(K_LOG2E)), c2(K_ROUNDER));
  const k = f64x2.sub(kb, c2(K_ROUNDER));
  const r = f64x2.sub(f64x2.sub(x, mul2(k, c2(K_LN2_HI))), mul2(k, c2(K_LN2_LO)));
  const r2 = mul2(r, r);
  const r4 = mul2(r2, r2);
  const r8 = mul2(r4, r4);
  const b0 = add2(add2(c2(K_ONE), r), mul2(add2(c2(K_C2), mul2(c2(K_C3), r)), r2));
  const b1 = add2(add2(c2(K_C4), mul2(c2(K_C5), r)), mul2(add2(c2(K_C6), mul2(c2(K_C7), r)), r2));
  const b2 = add2(add2(c2(K_C8), mul2(c2(K_C9), r)), mul2(add2(c2(K_C10), mul2(c2(K_C11), r)), r2));
  const p = add2(add2(b0, mul2(b1, r4)), mul2(add2(b2, mul2(c2(K_C12), r4)), r8));
  // 2^k: the low bits of kb hold k; (k + 1023) << 52 keeps just the exponent field.
  return mul2(p, i64x2.shl(i64x2.add(kb, v128.load64_splat(K_BIAS)), 52));
}

// The WGSL's stable_tanh: e = exp(-2|v|) (float64, rounded once to float32), then
// sign(v) * (1 - e) / (1 + e) in float32.
// @ts-ignore: decorator
@inline function stableTanh(v: f32): f32 {
  const e = <f32> expNeg(<f64> (<f32> -2.0 * abs<f32>(v)));
  const s: f32 = v > 0 ? 1.0 : v < 0 ? -1.0 : 0.0;
  return s * (<f32> 1.0 - e) / (<f32> 1.0 + e);
}

// @ts-ignore: decorator
@inline function stableTanh4(v: v128): v128 {
  const x = f32x4.mul(c4(0), f32x4.abs(v));
  const lo = expNeg2(f64x2.promote_low_f32x4(x));
  const hi = expNeg2(f64x2.promote_low_f32x4(v128.shuffle<f32>(x, x, 2, 3, 0, 1)));
  const e = v128.shuffle<f32>(
    f32x4.demote_f64x2_zero(lo),
    f32x4.demote_f64x2_zero(hi),
    0,
    1,
    4,
    5,
  );
  const zero = c4(1);
  const one = c4(2);
  const s = v128.or(v128.and(f32x4.gt(v, zero), one), v128.and(f32x4.lt(v, zero), c4(3)));
  return f32x4.div(f32x4.mul(s, f32x4.sub(one, e)), f32x4.add(one, e));
}

/**
 * Quantizes z [b, dims, positions] at `z` into codes (same shape, f32) and indices
 * [b, positions] (i32). Returns -1, or the flat index of the first non-finite value of z.
 */
export function fsqQuantize(
  z: usize,
  codes: usize,
  indices: usize,
  b: i32,
  dims: i32,
  positions: i32,
): i32 {
  const n = <usize> positions;
  for (let bi: usize = 0; bi < <usize> b; bi++) {
    const idx = indices + ((bi * n) << 2);
    for (let d = 0; d < dims; d++) {
      const level = tableI32(LEVELS, d);
      const basis = tableI32(BASIS, d);
      const halfL = tableF32(HALF_L, d);
      const offset = tableF32(OFFSET, d);
      const shift = tableF32(SHIFT, d);
      const halfW = level / 2;
      const halfWf = <f32> halfW;
      const row = (bi * <usize> dims + <usize> d) * n;
      const src = z + (row << 2);
      const dst = codes + (row << 2);
      const halfL4 = f32x4.splat(halfL);
      const offset4 = f32x4.splat(offset);
      const shift4 = f32x4.splat(shift);
      const halfW4 = f32x4.splat(halfWf);
      const halfWi4 = i32x4.splat(halfW);
      const basis4 = i32x4.splat(basis);
      let q: usize = 0;
      for (; q + 4 <= n; q += 4) {
        const v = v128.load(src + (q << 2));
        // v - v is 0 for finite v, NaN for infinities and NaN.
        if (!i32x4.all_true(f32x4.eq(f32x4.sub(v, v), c4(1)))) break;
        const bounded = f32x4.sub(f32x4.mul(stableTanh4(f32x4.add(v, shift4)), halfL4), offset4);
        const r = f32x4.nearest(bounded);
        v128.store(dst + (q << 2), f32x4.div(r, halfW4));
        const term = i32x4.mul(i32x4.add(i32x4.trunc_sat_f32x4_s(r), halfWi4), basis4);
        const at = idx + (q << 2);
        v128.store(at, d == 0 ? term : i32x4.add(v128.load(at), term));
      }
      for (; q < n; q++) {
        const v = load<f32>(src + (q << 2));
        if (!isFinite<f32>(v)) return <i32> (row + q);
        const bounded = stableTanh(v + shift) * halfL - offset;
        const r = nearest<f32>(bounded);
        store<f32>(dst + (q << 2), r / halfWf);
        const term = (<i32> r + halfW) * basis;
        const at = idx + (q << 2);
        store<i32>(at, d == 0 ? term : load<i32>(at) + term);
      }
    }
  }
  return -1;
}

/**
 * Indices [b, positions] at `indices` -> codes [b, dims, positions] at `codes`:
 * digit = (index / basis) % L (exact in float64), code = (digit - L / 2) / (L / 2) in float32.
 * Returns -1, or the flat index of the first index outside [0, size).
 */
export function fsqIndicesToCodes(
  indices: usize,
  codes: usize,
  b: i32,
  dims: i32,
  positions: i32,
  size: i32,
): i32 {
  const total = <usize> b * <usize> positions;
  const size4 = i32x4.splat(size);
  let i: usize = 0;
  for (; i + 4 <= total; i += 4) {
    if (!i32x4.all_true(i32x4.lt_u(v128.load(indices + (i << 2)), size4))) break;
  }
  for (; i < total; i++) {
    const v = load<i32>(indices + (i << 2));
    if (v < 0 || v >= size) return <i32> i;
  }
  const n = <usize> positions;
  for (let bi: usize = 0; bi < <usize> b; bi++) {
    const idx = indices + ((bi * n) << 2);
    for (let d = 0; d < dims; d++) {
      const level = <f64> tableI32(LEVELS, d);
      const basis = <f64> tableI32(BASIS, d);
      const halfW = <f32> (tableI32(LEVELS, d) / 2);
      const dst = codes + (((bi * <usize> dims + <usize> d) * n) << 2);
      const level2 = f64x2.splat(level);
      const basis2 = f64x2.splat(basis);
      const halfW4 = f32x4.splat(halfW);
      let q: usize = 0;
      for (; q + 4 <= n; q += 4) {
        const x = v128.load(idx + (q << 2));
        const lo = f64x2.convert_low_i32x4_s(x);
        const hi = f64x2.convert_low_i32x4_s(v128.shuffle<i32>(x, x, 2, 3, 0, 1));
        const qlo = f64x2.floor(f64x2.div(lo, basis2));
        const qhi = f64x2.floor(f64x2.div(hi, basis2));
        const dlo = f64x2.sub(qlo, f64x2.mul(f64x2.floor(f64x2.div(qlo, level2)), level2));
        const dhi = f64x2.sub(qhi, f64x2.mul(f64x2.floor(f64x2.div(qhi, level2)), level2));
        const digit = v128.shuffle<f32>(
          f32x4.demote_f64x2_zero(dlo),
          f32x4.demote_f64x2_zero(dhi),
          0,
          1,
          4,
          5,
        );
        v128.store(dst + (q << 2), f32x4.div(f32x4.sub(digit, halfW4), halfW4));
      }
      for (; q < n; q++) {
        const x = <f64> load<i32>(idx + (q << 2));
        const qd = floor<f64>(x / basis);
        const digit = <f32> (qd - floor<f64>(qd / level) * level);
        store<f32>(dst + (q << 2), (digit - halfW) / halfW);
      }
    }
  }
  return -1;
}

/**
 * Codes [b, dims, positions] at `codes` -> indices [b, positions] at `indices`, digit =
 * code * (L / 2) + L / 2 as the GPU computes it, rounded to the nearest integer. Returns -1, or
 * the flat index of the first code that is not finite or not within 1e-3 of a level
 * (digit outside [0, L - 1]).
 */
export function fsqCodesToIndices(
  codes: usize,
  indices: usize,
  b: i32,
  dims: i32,
  positions: i32,
): i32 {
  const n = <usize> positions;
  const tol: f32 = 1e-3;
  for (let bi: usize = 0; bi < <usize> b; bi++) {
    const idx = indices + ((bi * n) << 2);
    for (let d = 0; d < dims; d++) {
      const level = tableI32(LEVELS, d);
      const basis = tableI32(BASIS, d);
      const halfW = <f32> (level / 2);
      const top = <f32> (level - 1);
      const row = (bi * <usize> dims + <usize> d) * n;
      const src = codes + (row << 2);
      const halfW4 = f32x4.splat(halfW);
      const top4 = f32x4.splat(top);
      const zero4 = f32x4.splat(0.0);
      const tol4 = f32x4.splat(tol);
      const basis4 = i32x4.splat(basis);
      let q: usize = 0;
      for (; q + 4 <= n; q += 4) {
        const v = f32x4.add(f32x4.mul(v128.load(src + (q << 2)), halfW4), halfW4);
        const r = f32x4.nearest(v);
        const ok = v128.and(
          f32x4.le(f32x4.abs(f32x4.sub(v, r)), tol4),
          v128.and(f32x4.ge(r, zero4), f32x4.le(r, top4)),
        );
        if (!i32x4.all_true(ok)) break;
        const term = i32x4.mul(i32x4.trunc_sat_f32x4_s(r), basis4);
        const at = idx + (q << 2);
        v128.store(at, d == 0 ? term : i32x4.add(v128.load(at), term));
      }
      for (; q < n; q++) {
        const v = load<f32>(src + (q << 2)) * halfW + halfW;
        const r = nearest<f32>(v);
        // Written so that NaN fails too.
        if (!(abs<f32>(v - r) <= tol && r >= 0 && r <= top)) return <i32> (row + q);
        const term = <i32> r * basis;
        const at = idx + (q << 2);
        store<i32>(at, d == 0 ? term : load<i32>(at) + term);
      }
    }
  }
  return -1;
}
