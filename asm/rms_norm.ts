// deno-fmt-ignore-file
// deno-lint-ignore-file
// (AssemblyScript: deno fmt would drop the @inline decorators.)

// The Wan VAE's RMS norm over channels (then SiLU when `silu` != 0) of a channels-first
// [B, C, P] tensor: y = x / max(||x||_C, 1e-12) * sqrt(C) * gamma[c] at every position. It
// follows wgsl/rms_norm.wgsl operation for operation (f32 sums of squares over the channels in
// order, the scale, then (x * scale) * gamma), so both backends round alike, four positions to
// a vector. SiLU's exp is a vector exp (below) within 2 ulp of Math.exp over the range SiLU
// needs, so that the pass stays memory-bound rather than bound by a scalar exp per value.
//
// Work is split in items of 16 positions of one batch item (the last of each batch item
// possibly shorter); items never write where another writes, so threads take ranges of them.

// @ts-ignore: decorator
@inline const BLOCK: i32 = 16;

// exp(x) = 2^n exp(r), n = round(x log2 e), r = x - n ln 2 (ln 2 in two parts, so r is exact
// to f32), exp(r) by its Taylor series to r^7 (|r| <= ln 2 / 2: truncation below 6e-9), then
// 2^n put in the exponent bits. x is clamped to [-87, 88], where 2^n stays a normal float:
// exp(88) is 1.7e38, and SiLU of a value below -88 is then v / 1.7e38, a signed zero or
// denormal as with the exact exp.
const K: usize = memory.data<f32>([
  -87.0,                // 0: lowest x
  88.0,                 // 1: highest x
  1.4426950408889634,   // 2: log2 e
  0.693359375,          // 3: ln 2, high part (few bits: n * it is exact)
  -2.12194440e-4,       // 4: ln 2, low part
  1.0,                  // 5
  0.5,                  // 6: 1 / 2!
  0.16666666666666666,  // 7: 1 / 3!
  0.041666666666666664, // 8: 1 / 4!
  0.008333333333333333, // 9: 1 / 5!
  0.001388888888888889, // 10: 1 / 6!
  1.984126984126984e-4, // 11: 1 / 7!
  1e-12,                // 12: the norm's floor (F.normalize's eps)
], 16);

// SIMD constants are broadcast-loaded from the table above rather than written as v128
// constants, which V8 rebuilds at every use inside a loop (as in fsq.ts).
// @ts-ignore: decorator
@inline function k4(i: usize): v128 {
  return v128.load32_splat(K + (i << 2));
}

// @ts-ignore: decorator
@inline function exp4(x0: v128): v128 {
  const x = f32x4.min(f32x4.max(x0, k4(0)), k4(1));
  const n = f32x4.nearest(f32x4.mul(x, k4(2)));
  const r = f32x4.sub(f32x4.sub(x, f32x4.mul(n, k4(3))), f32x4.mul(n, k4(4)));
  let p = f32x4.add(f32x4.mul(k4(11), r), k4(10));
  p = f32x4.add(f32x4.mul(p, r), k4(9));
  p = f32x4.add(f32x4.mul(p, r), k4(8));
  p = f32x4.add(f32x4.mul(p, r), k4(7));
  p = f32x4.add(f32x4.mul(p, r), k4(6));
  p = f32x4.add(f32x4.mul(p, r), k4(5));
  p = f32x4.add(f32x4.mul(p, r), k4(5));
  const scale = i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23);
  return f32x4.mul(p, scale);
}

// @ts-ignore: decorator
@inline function silu4(v: v128): v128 {
  return f32x4.div(v, f32x4.add(k4(5), exp4(f32x4.neg(v))));
}

// @ts-ignore: decorator
@inline function scaleOf(sum: v128, root: v128): v128 {
  return f32x4.div(root, f32x4.max(f32x4.sqrt(sum), k4(12)));
}

// @ts-ignore: decorator
@inline function apply4(v: v128, scale: v128, g: v128, silu: i32): v128 {
  const y = f32x4.mul(f32x4.mul(v, scale), g);
  return silu ? silu4(y) : y;
}

/** Positions [p0, p0 + 16) at `src` (channel rows `plane` floats apart): four vectors each. */
function block16(
  src: usize, dst: usize, gamma: usize, channels: i32, plane: usize, root: v128, silu: i32,
): void {
  let s0 = f32x4.splat(0), s1 = s0, s2 = s0, s3 = s0;
  for (let c = 0; c < channels; c++) {
    const at = src + ((<usize> c * plane) << 2);
    const v0 = v128.load(at), v1 = v128.load(at, 16), v2 = v128.load(at, 32), v3 = v128.load(at, 48);
    s0 = f32x4.add(s0, f32x4.mul(v0, v0));
    s1 = f32x4.add(s1, f32x4.mul(v1, v1));
    s2 = f32x4.add(s2, f32x4.mul(v2, v2));
    s3 = f32x4.add(s3, f32x4.mul(v3, v3));
  }
  const a0 = scaleOf(s0, root), a1 = scaleOf(s1, root);
  const a2 = scaleOf(s2, root), a3 = scaleOf(s3, root);
  for (let c = 0; c < channels; c++) {
    const off = (<usize> c * plane) << 2;
    const at = src + off, to = dst + off;
    const g = v128.load32_splat(gamma + (<usize> c << 2));
    v128.store(to, apply4(v128.load(at), a0, g, silu));
    v128.store(to, apply4(v128.load(at, 16), a1, g, silu), 16);
    v128.store(to, apply4(v128.load(at, 32), a2, g, silu), 32);
    v128.store(to, apply4(v128.load(at, 48), a3, g, silu), 48);
  }
}

/** One position (the tail of a batch item's last block), through the same vector arithmetic. */
function single(
  src: usize, dst: usize, gamma: usize, channels: i32, plane: usize, root: v128, silu: i32,
): void {
  let s = f32x4.splat(0);
  for (let c = 0; c < channels; c++) {
    const v = v128.load32_splat(src + ((<usize> c * plane) << 2));
    s = f32x4.add(s, f32x4.mul(v, v));
  }
  const a = scaleOf(s, root);
  for (let c = 0; c < channels; c++) {
    const off = (<usize> c * plane) << 2;
    const g = v128.load32_splat(gamma + (<usize> c << 2));
    const y = apply4(v128.load32_splat(src + off), a, g, silu);
    store<f32>(dst + off, f32x4.extract_lane(y, 0));
  }
}

/**
 * Items [i0, i1) of the RMS norm of x [B, C, P] into y (another buffer), gamma[C]: item i is
 * positions [16 j, 16 j + 16) (cut at P) of batch item i / ceil(P / 16), j = i % ceil(P / 16).
 */
export function rmsNormRows(
  x: usize, y: usize, gamma: usize, channels: i32, positions: i32, silu: i32, i0: i32, i1: i32,
): void {
  const blocks = (positions + BLOCK - 1) / BLOCK;
  const root = f32x4.splat(Mathf.sqrt(<f32> channels));
  const plane = <usize> positions;
  for (let item = i0; item < i1; item++) {
    const b = item / blocks;
    const p0 = (item % blocks) * BLOCK;
    const n = min(BLOCK, positions - p0);
    const base = (<usize> b * <usize> channels * plane + <usize> p0) << 2;
    if (n === BLOCK) {
      block16(x + base, y + base, gamma, channels, plane, root, silu);
    } else {
      for (let i = 0; i < n; i++) {
        const off = base + (<usize> i << 2);
        single(x + off, y + off, gamma, channels, plane, root, silu);
      }
    }
  }
}
