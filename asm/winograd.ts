// deno-fmt-ignore-file
// deno-lint-ignore-file
// (AssemblyScript: deno fmt would drop the @inline decorators.)

// 3x3 stride-1 convolution by Winograd F(4x4, 3x3), for the WebAssembly backend:
//
//   Y[co, h, w] = bias[co] + sum_{ci, i, j} W[co, ci, i, j] X[ci, h + i, w + j] (+ R[co, h, w])
//
// X is the zero-padded input [Cin, F, H + 2, W + 2] (F frames, each padded alone), Y and the
// residual R hold channel co's F frames [F, H, W] at co * ys floats (ys >= F H W: a band of rows
// or a frame of a larger tensor is written in place); f32; any H, W >= 1 (edge tiles are cut).
// Tiles of all F frames are numbered together, so small frames make one product. Pointers are
// byte offsets into this module's memory.
//
// Interpolation points 0, 1, -1, 1/2, -2 (and infinity) rather than the usual 0, +-1, +-2: the
// transforms' coefficients are smaller and better balanced, which makes the float32 result
// about five times more accurate (max |err| / max |ref| 4.5e-6 against 2.4e-5 for 512 input
// channels, kaiming weights, N(0, 1) inputs; F(2x2, 3x3) 9e-7, F(6x6, 3x3) 2e-5, the float32
// direct sum 2.4e-6). B^T and A^T are exact in float32; G (thirds and fifteenths) is applied in
// float64 by the weight transform, rounded once.
//
// The host transforms the weights once per layer (winogradWeights, into winogradWeightsBytes),
// laid out as the GEMM micro-kernel's packed A: U[pos][co / MR][ci][co % MR], 36 positions,
// Cout padded with zeros to a multiple of MR. winogradConv then computes output tiles [t0, t1)
// (4x4 tiles numbered row-major over ceil(H / 4) x ceil(W / 4)) in blocks of NB tiles (16 to
// 128, by the size of U): the input transform of the block into V[pos][tile / NR][ci][tile % NR]
// (the micro-kernel's packed B), 36 GEMMs M[co][pos] = U[pos] V[pos] (Cout x NB), and the output
// transform with bias and residual.
// Threads sharing one memory split the tiles, each with its own scratch (winogradScratchBytes).

import { microKernel } from "./gemm";

// The micro-kernel's tile (asm/gemm.ts).
// @ts-ignore: decorator
@inline const MR: i32 = 6;
// @ts-ignore: decorator
@inline const NR: i32 = 8;
/**
 * Tiles per block (a multiple of NR): small when U fits in the last-level cache, so that the
 * block's V and M stay near L2; large when U streams from memory once per block. Measured
 * (effective GFLOP/s, relaxed SIMD) 128 channels @ 256^2: 16 tiles 129, 32 128, 64 125; 256 @
 * 128^2: 16..64 within 1%; 512 @ 64^2: 32 145, 64 151, 128 154.
 */
// @ts-ignore: decorator
@inline function blockTiles(cout: i32, cin: i32): i32 {
  const u = 36 * roundUp(cout, MR) * cin * 4;
  return u > (16 << 20) ? 128 : u > (4 << 20) ? 64 : 16;
}

// B^T, G and A^T of F(4x4, 3x3) with points 0, 1, -1, 1/2, -2, infinity (Toom-Cook):
//   B^T = [1 -3/2 -2  3/2 1 0; 0 -1 1/2 5/2 1 0; 0 1 -5/2 1/2 1 0; 0 -2 -1 2 1 0;
//          0 1/2 -1 -1/2 1 0; 0 1 -3/2 -2 3/2 1]
//   G   = [1 0 0; 1/3 1/3 1/3; -1/3 1/3 -1/3; -16/15 -8/15 -4/15; 1/15 -2/15 4/15; 0 0 1]
//   A^T = [1 1 1 1 1 0; 0 1 -1 1/2 -2 0; 0 1 1 1/4 4 0; 0 1 -1 1/8 -8 1]
const KV: usize = memory.data<f32>([1.5, 2.5, 0.5, 2.0, 0.25, 4.0, 0.125, 8.0], 16);

// @ts-ignore: decorator
@inline function roundUp(a: i32, b: i32): i32 {
  return (a + b - 1) / b * b;
}

/** Bytes of the transformed weights of a layer. */
export function winogradWeightsBytes(cout: i32, cin: i32): i32 {
  return 36 * roundUp(cout, MR) * cin * 4;
}

/** Scratch bytes of one thread's winogradConv. */
export function winogradScratchBytes(cout: i32, cin: i32): i32 {
  const nb = blockTiles(cout, cin);
  return (36 * cin * nb + 36 * roundUp(cout, MR) * nb + 36 * 4 * 2) * 4 + 64;
}

/** Torch-layout weights w[Cout, Cin, 3, 3] at `w` -> U at `u` (winogradWeightsBytes). */
export function winogradWeights(w: usize, u: usize, cout: i32, cin: i32): void {
  winogradWeightsRange(w, u, cout, cin, 0, roundUp(cout, MR));
}

/**
 * Output channels [co0, co1) of winogradWeights (up to roundUp(cout, 6): the padding channels
 * are zeroed), so threads can share a layer's transform: U = G g G^T per (co, ci), in float64
 * and rounded once. Straight-line code: the layer is transformed on every call, so this is hot.
 */
export function winogradWeightsRange(
  w: usize, u: usize, cout: i32, cin: i32, co0: i32, co1: i32,
): void {
  const coutP = roundUp(cout, MR);
  const posStride = <usize> (coutP * cin) << 2;
  const third: f64 = 1.0 / 3.0;
  const fifteenth: f64 = 1.0 / 15.0;
  for (let co = co0; co < co1; co++) {
    const panel = co / MR;
    const r = co % MR;
    for (let ci = 0; ci < cin; ci++) {
      const dst = u + (<usize> ((panel * cin + ci) * MR + r) << 2);
      if (co >= cout) {
        for (let p = 0; p < 36; p++) store<f32>(dst + <usize> p * posStride, 0);
        continue;
      }
      transformOne(w + (<usize> ((co * cin + ci) * 9) << 2), dst, posStride, third, fifteenth);
    }
  }
}

// Input channels per block of winogradWeightsPanels.
// @ts-ignore: decorator
@inline const CB: i32 = 8;

/** Scratch bytes of one thread's winogradWeightsPanels. */
export function winogradWeightsScratchBytes(): i32 {
  return 36 * CB * MR * 4 + 16;
}

/**
 * Panels [p0, p1) of MR output channels of winogradWeights, the same values: each block of MR
 * channels x CB input channels is transformed into `scratch` laid out as U ([36][CB][MR]), then
 * copied out as 36 runs of CB x MR contiguous floats. Writing each (co, ci)'s 36 values straight
 * to U scatters them over 36 places a layer's width apart, which caches and store buffers serve
 * badly: 62 ms against 1.7 ms single-thread for 256 channels against 128 (4x the values),
 * measured on a 2.8 GHz Xeon.
 */
export function winogradWeightsPanels(
  w: usize, u: usize, cout: i32, cin: i32, scratch: usize, p0: i32, p1: i32,
): void {
  const coutP = roundUp(cout, MR);
  const posStride = <usize> (coutP * cin) << 2;
  const tmp = (scratch + 15) & ~(<usize> 15);
  const tmpPos = <usize> (CB * MR) << 2;
  const third: f64 = 1.0 / 3.0;
  const fifteenth: f64 = 1.0 / 15.0;
  for (let panel = p0; panel < p1; panel++) {
    for (let ci0 = 0; ci0 < cin; ci0 += CB) {
      const nb = min(CB, cin - ci0);
      // Two output channels at a time, one to each f64x2 lane (the same operations as
      // transformOne's, so the same values); channels past cout (the last panel's padding) one
      // at a time, stored as +0 (zero taps would give -0 at some positions).
      for (let r = 0; r < MR; r += 2) {
        const co = panel * MR + r;
        for (let j = 0; j < nb; j++) {
          const src = w + (<usize> ((co * cin + ci0 + j) * 9) << 2);
          const dst = tmp + (<usize> (j * MR + r) << 2);
          if (co + 1 < cout) {
            transformPair(src, <usize> (cin * 9) << 2, dst, tmpPos);
            continue;
          }
          for (let l = 0; l < 2; l++) {
            const d = dst + (<usize> l << 2);
            if (co + l < cout) transformOne(src, d, tmpPos, third, fifteenth);
            else for (let p = 0; p < 36; p++) store<f32>(d + <usize> p * tmpPos, 0);
          }
        }
      }
      const out = u + (<usize> ((panel * cin + ci0) * MR) << 2);
      const run = <usize> (nb * MR) << 2;
      for (let p = 0; p < 36; p++) memory.copy(out + <usize> p * posStride, tmp + <usize> p * tmpPos, run);
    }
  }
}

/** Tap k of two channels' 3x3 taps (at src and src + next bytes) as f64x2. */
// @ts-ignore: decorator
@inline function tap2(src: usize, next: usize, k: usize): v128 {
  const a = <f64> load<f32>(src + (k << 2));
  return f64x2.replace_lane(f64x2.splat(a), 1, <f64> load<f32>(src + next + (k << 2)));
}

/**
 * transformOne for two channels at once, one per f64x2 lane: their U at dst (lane 0) and
 * dst + 4 (lane 1), position p at p * posStride.
 */
// @ts-ignore: decorator
@inline function transformPair(src: usize, next: usize, dst: usize, posStride: usize): void {
  const third = f64x2.splat(1.0 / 3.0);
  const fifteenth = f64x2.splat(1.0 / 15.0);
  const two = f64x2.splat(2), four = f64x2.splat(4), eight = f64x2.splat(8), sixteen = f64x2.splat(16);
  const g00 = tap2(src, next, 0), g01 = tap2(src, next, 1), g02 = tap2(src, next, 2);
  const g10 = tap2(src, next, 3), g11 = tap2(src, next, 4), g12 = tap2(src, next, 5);
  const g20 = tap2(src, next, 6), g21 = tap2(src, next, 7), g22 = tap2(src, next, 8);
  rowOut2(dst, posStride, 0, g00, g01, g02, third, fifteenth, two, four, eight, sixteen);
  rowOut2(dst, posStride, 1,
    f64x2.mul(f64x2.add(f64x2.add(g00, g10), g20), third),
    f64x2.mul(f64x2.add(f64x2.add(g01, g11), g21), third),
    f64x2.mul(f64x2.add(f64x2.add(g02, g12), g22), third), third, fifteenth, two, four, eight, sixteen);
  rowOut2(dst, posStride, 2,
    f64x2.mul(f64x2.sub(f64x2.add(f64x2.neg(g00), g10), g20), third),
    f64x2.mul(f64x2.sub(f64x2.add(f64x2.neg(g01), g11), g21), third),
    f64x2.mul(f64x2.sub(f64x2.add(f64x2.neg(g02), g12), g22), third), third, fifteenth, two, four, eight, sixteen);
  rowOut2(dst, posStride, 3,
    f64x2.mul(f64x2.sub(f64x2.sub(f64x2.mul(f64x2.neg(sixteen), g00), f64x2.mul(eight, g10)), f64x2.mul(four, g20)), fifteenth),
    f64x2.mul(f64x2.sub(f64x2.sub(f64x2.mul(f64x2.neg(sixteen), g01), f64x2.mul(eight, g11)), f64x2.mul(four, g21)), fifteenth),
    f64x2.mul(f64x2.sub(f64x2.sub(f64x2.mul(f64x2.neg(sixteen), g02), f64x2.mul(eight, g12)), f64x2.mul(four, g22)), fifteenth),
    third, fifteenth, two, four, eight, sixteen);
  rowOut2(dst, posStride, 4,
    f64x2.mul(f64x2.add(f64x2.sub(g00, f64x2.mul(two, g10)), f64x2.mul(four, g20)), fifteenth),
    f64x2.mul(f64x2.add(f64x2.sub(g01, f64x2.mul(two, g11)), f64x2.mul(four, g21)), fifteenth),
    f64x2.mul(f64x2.add(f64x2.sub(g02, f64x2.mul(two, g12)), f64x2.mul(four, g22)), fifteenth),
    third, fifteenth, two, four, eight, sixteen);
  rowOut2(dst, posStride, 5, g20, g21, g22, third, fifteenth, two, four, eight, sixteen);
}

/** rowOut for two channels: each value's lanes rounded to float32 and stored side by side. */
// @ts-ignore: decorator
@inline function rowOut2(
  dst: usize, posStride: usize, i: i32, a: v128, b: v128, c: v128, third: v128, fifteenth: v128,
  two: v128, four: v128, eight: v128, sixteen: v128,
): void {
  const base = dst + <usize> (i * 6) * posStride;
  v128.store64_lane(base, f32x4.demote_f64x2_zero(a), 0);
  v128.store64_lane(base + posStride, f32x4.demote_f64x2_zero(f64x2.mul(f64x2.add(f64x2.add(a, b), c), third)), 0);
  v128.store64_lane(base + 2 * posStride, f32x4.demote_f64x2_zero(f64x2.mul(f64x2.sub(f64x2.add(f64x2.neg(a), b), c), third)), 0);
  v128.store64_lane(base + 3 * posStride, f32x4.demote_f64x2_zero(f64x2.mul(f64x2.sub(f64x2.sub(f64x2.mul(f64x2.neg(sixteen), a), f64x2.mul(eight, b)), f64x2.mul(four, c)), fifteenth)), 0);
  v128.store64_lane(base + 4 * posStride, f32x4.demote_f64x2_zero(f64x2.mul(f64x2.add(f64x2.sub(a, f64x2.mul(two, b)), f64x2.mul(four, c)), fifteenth)), 0);
  v128.store64_lane(base + 5 * posStride, f32x4.demote_f64x2_zero(c), 0);
}

/** U = G g G^T of the 3x3 taps at `src`, position p stored at dst + p * posStride. */
// @ts-ignore: decorator
@inline function transformOne(src: usize, dst: usize, posStride: usize, third: f64, fifteenth: f64): void {
  const g00 = <f64> load<f32>(src), g01 = <f64> load<f32>(src, 4), g02 = <f64> load<f32>(src, 8);
  const g10 = <f64> load<f32>(src, 12), g11 = <f64> load<f32>(src, 16), g12 = <f64> load<f32>(src, 20);
  const g20 = <f64> load<f32>(src, 24), g21 = <f64> load<f32>(src, 28), g22 = <f64> load<f32>(src, 32);
  rowOut(dst, posStride, 0, g00, g01, g02, third, fifteenth);
  rowOut(dst, posStride, 1, (g00 + g10 + g20) * third, (g01 + g11 + g21) * third,
    (g02 + g12 + g22) * third, third, fifteenth);
  rowOut(dst, posStride, 2, (-g00 + g10 - g20) * third, (-g01 + g11 - g21) * third,
    (-g02 + g12 - g22) * third, third, fifteenth);
  rowOut(dst, posStride, 3, (-16 * g00 - 8 * g10 - 4 * g20) * fifteenth,
    (-16 * g01 - 8 * g11 - 4 * g21) * fifteenth, (-16 * g02 - 8 * g12 - 4 * g22) * fifteenth,
    third, fifteenth);
  rowOut(dst, posStride, 4, (g00 - 2 * g10 + 4 * g20) * fifteenth,
    (g01 - 2 * g11 + 4 * g21) * fifteenth, (g02 - 2 * g12 + 4 * g22) * fifteenth,
    third, fifteenth);
  rowOut(dst, posStride, 5, g20, g21, g22, third, fifteenth);
}

/** Stores row i of (G g) G^T, from row (a, b, c) of G g, at positions i * 6 + k. */
// @ts-ignore: decorator
@inline function rowOut(
  dst: usize, posStride: usize, i: i32, a: f64, b: f64, c: f64, third: f64, fifteenth: f64,
): void {
  const base = dst + <usize> (i * 6) * posStride;
  store<f32>(base, <f32> a);
  store<f32>(base + posStride, <f32> ((a + b + c) * third));
  store<f32>(base + 2 * posStride, <f32> ((-a + b - c) * third));
  store<f32>(base + 3 * posStride, <f32> ((-16 * a - 8 * b - 4 * c) * fifteenth));
  store<f32>(base + 4 * posStride, <f32> ((a - 2 * b + 4 * c) * fifteenth));
  store<f32>(base + 5 * posStride, <f32> c);
}

// @ts-ignore: decorator
@inline function min(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/**
 * Stores y = B^T x of six vectors at dst + i * ds (bytes), with the constants 3/2, 5/2, 1/2, 2.
 * Sums left to right; the products by 1/2 and 2 are exact.
 */
// @ts-ignore: decorator
@inline function bt6(
  x0: v128, x1: v128, x2: v128, x3: v128, x4: v128, x5: v128, dst: usize, ds: usize,
  c15: v128, c25: v128, half: v128, two: v128,
): void {
  // 1 -3/2 -2 3/2 1 0
  v128.store(dst, f32x4.add(f32x4.add(f32x4.sub(f32x4.sub(x0, f32x4.mul(c15, x1)), f32x4.mul(two, x2)), f32x4.mul(c15, x3)), x4));
  // 0 -1 1/2 5/2 1 0
  v128.store(dst + ds, f32x4.add(f32x4.add(f32x4.sub(f32x4.mul(half, x2), x1), f32x4.mul(c25, x3)), x4));
  // 0 1 -5/2 1/2 1 0
  v128.store(dst + 2 * ds, f32x4.add(f32x4.add(f32x4.sub(x1, f32x4.mul(c25, x2)), f32x4.mul(half, x3)), x4));
  // 0 -2 -1 2 1 0
  v128.store(dst + 3 * ds, f32x4.add(f32x4.add(f32x4.sub(f32x4.neg(f32x4.mul(two, x1)), x2), f32x4.mul(two, x3)), x4));
  // 0 1/2 -1 -1/2 1 0
  v128.store(dst + 4 * ds, f32x4.add(f32x4.sub(f32x4.sub(f32x4.mul(half, x1), x2), f32x4.mul(half, x3)), x4));
  // 0 1 -3/2 -2 3/2 1
  v128.store(dst + 5 * ds, f32x4.add(f32x4.add(f32x4.sub(f32x4.sub(x1, f32x4.mul(c15, x2)), f32x4.mul(two, x3)), f32x4.mul(c15, x4)), x5));
}

/** Stores y = A^T m of six vectors at dst + r * ds (bytes); every product is exact. */
// @ts-ignore: decorator
@inline function at6(m0: v128, m1: v128, m2: v128, m3: v128, m4: v128, m5: v128, dst: usize, ds: usize): void {
  const p = f32x4.add(m1, m2);
  const q = f32x4.sub(m1, m2);
  // 1 1 1 1 1 0
  v128.store(dst, f32x4.add(f32x4.add(f32x4.add(m0, p), m3), m4));
  // 0 1 -1 1/2 -2 0
  v128.store(dst + ds, f32x4.sub(f32x4.add(q, f32x4.mul(v128.load32_splat(KV, 8), m3)), f32x4.mul(v128.load32_splat(KV, 12), m4)));
  // 0 1 1 1/4 4 0
  v128.store(dst + 2 * ds, f32x4.add(f32x4.add(p, f32x4.mul(v128.load32_splat(KV, 16), m3)), f32x4.mul(v128.load32_splat(KV, 20), m4)));
  // 0 1 -1 1/8 -8 1
  v128.store(dst + 3 * ds, f32x4.add(f32x4.sub(f32x4.add(q, f32x4.mul(v128.load32_splat(KV, 24), m3)), f32x4.mul(v128.load32_splat(KV, 28), m4)), m5));
}

/** Transposes the 4x4 block of rows a, b, c, d (lane j of row i -> lane i of column j). */
// @ts-ignore: decorator
@inline function col(a: v128, b: v128, c: v128, d: v128, j: i32): v128 {
  if (j == 0) return v128.shuffle<f32>(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 0, 4, 1, 5), 0, 1, 4, 5);
  if (j == 1) return v128.shuffle<f32>(v128.shuffle<f32>(a, b, 0, 4, 1, 5), v128.shuffle<f32>(c, d, 0, 4, 1, 5), 2, 3, 6, 7);
  if (j == 2) return v128.shuffle<f32>(v128.shuffle<f32>(a, b, 2, 6, 3, 7), v128.shuffle<f32>(c, d, 2, 6, 3, 7), 0, 1, 4, 5);
  return v128.shuffle<f32>(v128.shuffle<f32>(a, b, 2, 6, 3, 7), v128.shuffle<f32>(c, d, 2, 6, 3, 7), 2, 3, 6, 7);
}

/**
 * Output tiles [t0, t1) of the convolution of X (at `x`, [cin, frames, h + 2, w + 2], each frame
 * zero-padded) with the transformed weights `u` (winogradWeights) into Y (at `y`: channel co's
 * [frames, h, w] at co * ys floats), plus bias[co] when bias != 0, plus R (at `res`, laid out as
 * Y) when res != 0 (res may equal y). Tiles are 4x4, numbered row-major over frames x
 * ceil(h / 4) x ceil(w / 4); `scratch` holds winogradScratchBytes(cout, cin) bytes of the calling
 * thread's own.
 *
 * Per block: V[pos][tile / NR][ci][tile % NR] (the GEMM's packed B), M[co][pos][tile] (so that
 * the output transform reads it in order). The transforms run four tiles to a vector; tiles
 * whose patch crosses the edge of X or Y, or that are not four side by side in a tile row, go
 * through a lane-by-lane gather or scatter with the same arithmetic.
 */
export function winogradConv(
  x: usize, u: usize, bias: usize, res: usize, y: usize,
  cin: i32, cout: i32, h: i32, w: i32, frames: i32, ys: i32, t0: i32, t1: i32, scratch: usize,
): void {
  const tilesW = (w + 3) >> 2;
  const tilesF = ((h + 3) >> 2) * tilesW;
  const framePlane = <usize> (h + 2) * <usize> (w + 2);
  const coutP = roundUp(cout, MR);
  const hp = h + 2;
  const wp = w + 2;
  const rowBytes = <usize> wp << 2;
  const NB = blockTiles(cout, cin);
  const vPos = <usize> (cin * NB) << 2;
  const uPos = <usize> (coutP * cin) << 2;
  const mRow = <usize> (36 * NB) << 2;
  const V = (scratch + 15) & ~(<usize> 15);
  const Mb = V + 36 * vPos;
  const tmp = Mb + <usize> coutP * mRow;
  const tmp2 = tmp + 36 * 16;
  const c15 = v128.load32_splat(KV);
  const c25 = v128.load32_splat(KV, 4);
  const half = v128.load32_splat(KV, 8);
  const two = v128.load32_splat(KV, 12);
  for (let tb = t0; tb < t1; tb += NB) {
    const nt = min(NB, t1 - tb);
    const ntP = roundUp(nt, NR);
    // Input transform, four tiles to a vector: rows of the patch (B^T along each row, into tmp),
    // then columns (B^T down each column, into V).
    for (let ci = 0; ci < cin; ci++) {
      const channel = x + ((<usize> ci * <usize> frames * framePlane) << 2);
      for (let g = 0; g < ntP; g += 4) {
        const t = tb + g;
        const tf = t % tilesF;
        const plane = channel + ((<usize> (t / tilesF) * framePlane) << 2);
        const r0 = tf / tilesW * 4;
        const c0 = tf % tilesW * 4;
        if (g + 4 <= nt && c0 + 18 <= wp && r0 + 6 <= hp) {
          // Four tiles side by side in one tile row, inside X: each row of the 6 x 18 patch as
          // five loads (the last of two floats), transposed to the 6 tile-lane vectors.
          let src = plane + <usize> r0 * rowBytes + (<usize> c0 << 2);
          for (let i = 0; i < 6; i++) {
            const v0 = v128.load(src);
            const v1 = v128.load(src, 16);
            const v2 = v128.load(src, 32);
            const v3 = v128.load(src, 48);
            const v4 = v128.load64_zero(src, 64);
            bt6(
              col(v0, v1, v2, v3, 0), col(v0, v1, v2, v3, 1), col(v0, v1, v2, v3, 2),
              col(v0, v1, v2, v3, 3), col(v1, v2, v3, v4, 0), col(v1, v2, v3, v4, 1),
              tmp + <usize> (i * 96), 16, c15, c25, half, two,
            );
            src += rowBytes;
          }
        } else {
          for (let l = 0; l < 4; l++) {
            const lane = tmp2 + (<usize> l << 2);
            const tl = tb + g + l;
            const tlf = tl % tilesF;
            const r1 = tlf / tilesW * 4;
            const c1 = tlf % tilesW * 4;
            let src = channel + ((<usize> (tl / tilesF) * framePlane) << 2) + <usize> r1 * rowBytes +
              (<usize> c1 << 2);
            for (let i = 0; i < 6; i++) {
              const d = lane + <usize> (i * 96);
              for (let j = 0; j < 6; j++) {
                const inside = g + l < nt && r1 + i < hp && c1 + j < wp;
                store<f32>(d + (<usize> j << 4), inside ? load<f32>(src + (<usize> j << 2)) : 0);
              }
              src += rowBytes;
            }
          }
          for (let i = 0; i < 6; i++) {
            const d = tmp2 + <usize> (i * 96);
            bt6(
              v128.load(d), v128.load(d, 16), v128.load(d, 32), v128.load(d, 48), v128.load(d, 64),
              v128.load(d, 80), tmp + <usize> (i * 96), 16, c15, c25, half, two,
            );
          }
        }
        const dst = V + (<usize> (((g >> 3) * cin + ci) * NR + (g & 4)) << 2);
        for (let j = 0; j < 6; j++) {
          const s = tmp + (<usize> j << 4);
          bt6(
            v128.load(s), v128.load(s, 96), v128.load(s, 192), v128.load(s, 288),
            v128.load(s, 384), v128.load(s, 480), dst + <usize> j * vPos, 6 * vPos,
            c15, c25, half, two,
          );
        }
      }
    }
    // M[co][pos] = U[pos] V[pos], Cout x ntP for each position.
    for (let pos = 0; pos < 36; pos++) {
      const a = u + <usize> pos * uPos;
      const b = V + <usize> pos * vPos;
      const c = Mb + (<usize> (pos * NB) << 2);
      for (let i = 0; i < coutP; i += MR) {
        const pa = a + (<usize> (i * cin) << 2);
        const pc = c + <usize> i * mRow;
        for (let j = 0; j < ntP; j += NR) {
          microKernel(pa, b + (<usize> (j * cin) << 2), cin, pc + (<usize> j << 2), mRow, false, 0);
        }
      }
    }
    // Output transform, four tiles to a vector: A^T along the rows of M (into tmp), then down
    // the columns (into tmp2), + bias (+ R) on the way to Y.
    for (let co = 0; co < cout; co++) {
      const bv = bias ? v128.load32_splat(bias + (<usize> co << 2)) : f32x4.splat(0);
      const outChannel = <usize> co * <usize> ys;
      const hw = <usize> h * <usize> w;
      const mco = Mb + <usize> co * mRow;
      const ps = <usize> NB << 2;
      for (let g = 0; g < nt; g += 4) {
        let src = mco + (<usize> g << 2);
        for (let i = 0; i < 6; i++) {
          at6(
            v128.load(src), v128.load(src + ps), v128.load(src + 2 * ps), v128.load(src + 3 * ps),
            v128.load(src + 4 * ps), v128.load(src + 5 * ps), tmp + <usize> (i * 64), 16,
          );
          src += 6 * ps;
        }
        for (let c = 0; c < 4; c++) {
          const s = tmp + (<usize> c << 4);
          at6(
            v128.load(s), v128.load(s, 64), v128.load(s, 128), v128.load(s, 192), v128.load(s, 256),
            v128.load(s, 320), tmp2 + (<usize> c << 4), 64,
          );
        }
        const t = tb + g;
        const tf = t % tilesF;
        const outPlane = outChannel + <usize> (t / tilesF) * hw;
        const r0 = tf / tilesW * 4;
        const c0 = tf % tilesW * 4;
        if (g + 4 <= nt && c0 + 16 <= w && r0 + 4 <= h) {
          // Four whole tiles side by side: each output row transposed to four tiles' rows.
          for (let r = 0; r < 4; r++) {
            const o = tmp2 + <usize> (r * 64);
            const o0 = v128.load(o);
            const o1 = v128.load(o, 16);
            const o2 = v128.load(o, 32);
            const o3 = v128.load(o, 48);
            let y0 = f32x4.add(col(o0, o1, o2, o3, 0), bv);
            let y1 = f32x4.add(col(o0, o1, o2, o3, 1), bv);
            let y2 = f32x4.add(col(o0, o1, o2, o3, 2), bv);
            let y3 = f32x4.add(col(o0, o1, o2, o3, 3), bv);
            const at = (outPlane + <usize> (r0 + r) * <usize> w + <usize> c0) << 2;
            if (res) {
              const rp = res + at;
              y0 = f32x4.add(y0, v128.load(rp));
              y1 = f32x4.add(y1, v128.load(rp, 16));
              y2 = f32x4.add(y2, v128.load(rp, 32));
              y3 = f32x4.add(y3, v128.load(rp, 48));
            }
            const yp = y + at;
            v128.store(yp, y0);
            v128.store(yp, y1, 16);
            v128.store(yp, y2, 32);
            v128.store(yp, y3, 48);
          }
          continue;
        }
        const b: f32 = bias ? load<f32>(bias + (<usize> co << 2)) : 0;
        const lanes = min(4, nt - g);
        for (let l = 0; l < lanes; l++) {
          const tl = tb + g + l;
          const tlf = tl % tilesF;
          const lanePlane = outChannel + <usize> (tl / tilesF) * hw;
          const r1 = tlf / tilesW * 4;
          const c1 = tlf % tilesW * 4;
          const rows = min(4, h - r1);
          const cols = min(4, w - c1);
          const lane = tmp2 + (<usize> l << 2);
          for (let r = 0; r < rows; r++) {
            const at = (lanePlane + <usize> (r1 + r) * <usize> w + <usize> c1) << 2;
            for (let cc = 0; cc < cols; cc++) {
              let v = load<f32>(lane + (<usize> (r * 4 + cc) << 4)) + b;
              if (res) v += load<f32>(res + at + (<usize> cc << 2));
              store<f32>(y + at + (<usize> cc << 2), v);
            }
          }
        }
      }
    }
  }
}
