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
// The host transforms the weights once per layer (winogradWeights, asm/winograd_weights.ts),
// laid out as the GEMM micro-kernel's packed A: U[pos][co / MR][ci][co % MR], 36 positions,
// Cout padded with zeros to a multiple of MR. winogradConv then computes output tiles [t0, t1)
// (4x4 tiles numbered row-major over ceil(H / 4) x ceil(W / 4)) in blocks of NB tiles (16 to
// 128, by the size of U): the input transform of the block into V[pos][tile / NR][ci][tile % NR]
// (the micro-kernel's packed B), 36 GEMMs M[co][pos] = U[pos] V[pos] (Cout x NB), and the output
// transform with bias and residual.
// Threads sharing one memory split the tiles, each with its own scratch (winogradScratchBytes);
// or, for calls of few tiles, the output channels (winogradInput, then winogradOutput, below).

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

/** Scratch bytes of one thread's winogradConv. */
export function winogradScratchBytes(cout: i32, cin: i32): i32 {
  const nb = blockTiles(cout, cin);
  return (36 * cin * nb + 36 * roundUp(cout, MR) * nb + 36 * 4 * 2) * 4 + 64;
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
 * The input transform of four tiles t .. t + 3 (of which `valid` are real tiles: lanes past them
 * are zeros) of one channel of X (`channel`: its first frame's padded plane) into the four
 * lanes of V at dst, position p at dst + p * vPos (bytes). Four tiles side by side in a tile
 * row, inside X, take vector loads; others a lane-by-lane gather with the same arithmetic.
 */
// @ts-ignore: decorator
@inline function inputTiles(
  channel: usize, t: i32, valid: i32, tilesW: i32, tilesF: i32, framePlane: usize,
  hp: i32, wp: i32, dst: usize, vPos: usize, tmp: usize, tmp2: usize,
): void {
  const c15 = v128.load32_splat(KV);
  const c25 = v128.load32_splat(KV, 4);
  const half = v128.load32_splat(KV, 8);
  const two = v128.load32_splat(KV, 12);
  const rowBytes = <usize> wp << 2;
  const tf = t % tilesF;
  const plane = channel + ((<usize> (t / tilesF) * framePlane) << 2);
  const r0 = tf / tilesW * 4;
  const c0 = tf % tilesW * 4;
  // Rows of the patch (B^T along each row, into tmp), then columns (B^T down each column).
  if (valid >= 4 && c0 + 18 <= wp && r0 + 6 <= hp) {
    // Each row of the 6 x 18 patch as five loads (the last of two floats), transposed to the 6
    // tile-lane vectors.
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
      const tl = t + l;
      const tlf = tl % tilesF;
      const r1 = tlf / tilesW * 4;
      const c1 = tlf % tilesW * 4;
      let src = channel + ((<usize> (tl / tilesF) * framePlane) << 2) + <usize> r1 * rowBytes +
        (<usize> c1 << 2);
      for (let i = 0; i < 6; i++) {
        const d = lane + <usize> (i * 96);
        for (let j = 0; j < 6; j++) {
          const inside = l < valid && r1 + i < hp && c1 + j < wp;
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
  for (let j = 0; j < 6; j++) {
    const s = tmp + (<usize> j << 4);
    bt6(
      v128.load(s), v128.load(s, 96), v128.load(s, 192), v128.load(s, 288),
      v128.load(s, 384), v128.load(s, 480), dst + <usize> j * vPos, 6 * vPos,
      c15, c25, half, two,
    );
  }
}

/**
 * The 36 products M[co][pos][tile] = U[pos] V[pos] for output channels [i0, i1) (multiples of
 * MR) and ntP tiles: U with positions uPos bytes apart, V (depth cin, ntP tiles) with positions
 * vPos apart, M's row of channel i0 at Mb (rows mRow bytes apart, positions ps apart).
 */
// @ts-ignore: decorator
@inline function multiply(
  u: usize, uPos: usize, v: usize, vPos: usize, Mb: usize, mRow: usize, ps: usize, cin: i32,
  i0: i32, i1: i32, ntP: i32,
): void {
  for (let pos = 0; pos < 36; pos++) {
    const a = u + <usize> pos * uPos;
    const b = v + <usize> pos * vPos;
    const c = Mb + <usize> pos * ps;
    for (let i = i0; i < i1; i += MR) {
      const pa = a + (<usize> (i * cin) << 2);
      const pc = c + <usize> (i - i0) * mRow;
      for (let j = 0; j < ntP; j += NR) {
        microKernel(pa, b + (<usize> (j * cin) << 2), cin, pc + (<usize> j << 2), mRow, false, 0);
      }
    }
  }
}

/**
 * The output transform of tiles t .. t + nt - 1 for output channels [co0, co1): A^T along the
 * rows of M (channel co0's row at Mb, rows mRow bytes apart, positions ps apart; into tmp),
 * then down the columns (into tmp2), + bias (+ R) on the way to Y, four tiles to a vector.
 */
// @ts-ignore: decorator
@inline function outputTiles(
  Mb: usize, mRow: usize, ps: usize, bias: usize, res: usize, y: usize, ys: i32, co0: i32,
  co1: i32, t: i32, nt: i32, tilesW: i32, tilesF: i32, h: i32, w: i32, tmp: usize, tmp2: usize,
): void {
  for (let co = co0; co < co1; co++) {
    const bv = bias ? v128.load32_splat(bias + (<usize> co << 2)) : f32x4.splat(0);
    const outChannel = <usize> co * <usize> ys;
    const hw = <usize> h * <usize> w;
    const mco = Mb + <usize> (co - co0) * mRow;
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
      const tg = t + g;
      const tf = tg % tilesF;
      const outPlane = outChannel + <usize> (tg / tilesF) * hw;
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
        const tl = tg + l;
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

/**
 * Output tiles [t0, t1) of the convolution of X (at `x`, [cin, frames, h + 2, w + 2], each frame
 * zero-padded) with the transformed weights `u` (winogradWeights) into Y (at `y`: channel co's
 * [frames, h, w] at co * ys floats), plus bias[co] when bias != 0, plus R (at `res`, laid out as
 * Y) when res != 0 (res may equal y). Tiles are 4x4, numbered row-major over frames x
 * ceil(h / 4) x ceil(w / 4); `scratch` holds winogradScratchBytes(cout, cin) bytes of the calling
 * thread's own.
 *
 * Per block of NB tiles: V[pos][tile / NR][ci][tile % NR] (the GEMM's packed B), M[co][pos][tile]
 * (so that the output transform reads it in order), every output channel. Each block reads all
 * of U: a call over few tiles is better split by output channels (winogradInput and
 * winogradOutput).
 */
export function winogradConv(
  x: usize, u: usize, bias: usize, res: usize, y: usize,
  cin: i32, cout: i32, h: i32, w: i32, frames: i32, ys: i32, t0: i32, t1: i32, scratch: usize,
): void {
  const tilesW = (w + 3) >> 2;
  const tilesF = ((h + 3) >> 2) * tilesW;
  const framePlane = <usize> (h + 2) * <usize> (w + 2);
  const coutP = roundUp(cout, MR);
  const NB = blockTiles(cout, cin);
  const vPos = <usize> (cin * NB) << 2;
  const uPos = <usize> (coutP * cin) << 2;
  const mRow = <usize> (36 * NB) << 2;
  const V = (scratch + 15) & ~(<usize> 15);
  const Mb = V + 36 * vPos;
  const tmp = Mb + <usize> coutP * mRow;
  const tmp2 = tmp + 36 * 16;
  for (let tb = t0; tb < t1; tb += NB) {
    const nt = min(NB, t1 - tb);
    const ntP = roundUp(nt, NR);
    for (let ci = 0; ci < cin; ci++) {
      const channel = x + ((<usize> ci * <usize> frames * framePlane) << 2);
      for (let g = 0; g < ntP; g += 4) {
        const dst = V + (<usize> (((g >> 3) * cin + ci) * NR + (g & 4)) << 2);
        inputTiles(channel, tb + g, nt - g, tilesW, tilesF, framePlane, h + 2, w + 2, dst, vPos, tmp, tmp2);
      }
    }
    multiply(u, uPos, V, vPos, Mb, mRow, <usize> NB << 2, cin, 0, coutP, ntP);
    outputTiles(Mb, mRow, <usize> NB << 2, bias, res, y, ys, 0, cout, tb, nt, tilesW, tilesF, h, w, tmp, tmp2);
  }
}

// ---- Few tiles: two passes, split by output channels ---------------------------------------
//
// A call of few tiles (a video's deep layers: 3 frames of 16 x 16 are 48 tiles) split over
// threads by tiles leaves each thread a sliver of N for every read of all of U (37 MB at 512
// channels), so the products stream U from memory once per thread's piece at a few flops per
// byte. Instead: winogradInput transforms every tile of the call once, split by input channels,
// into one shared V; winogradOutput multiplies and transforms back a range of output channels
// over all the tiles, so U is read once in all and each of its values serves every tile. The
// arithmetic is winogradConv's, in the same order: the results are equal bit for bit.

/** Bytes of winogradInput's V: `tiles` tiles (rounded up to NR) of `cin` channels. */
export function winogradInputBytes(cin: i32, tiles: i32): i32 {
  return 36 * cin * roundUp(tiles, NR) * 4;
}

/** Scratch bytes of one thread's winogradInput. */
export function winogradInputScratchBytes(): i32 {
  return 36 * 4 * 2 * 4 + 64;
}

/**
 * Input channels [c0, c1) of V (at `v`, winogradInputBytes(cin, tiles)) for every tile of X
 * (at `x`, [cin, frames, h + 2, w + 2], each frame zero-padded; tiles = frames ceil(h / 4)
 * ceil(w / 4)), laid out as winogradConv's block of all the tiles: V[pos][tile / NR][ci][tile %
 * NR], zeros past the last tile. `scratch`: winogradInputScratchBytes() bytes of the thread's own.
 */
export function winogradInput(
  x: usize, v: usize, cin: i32, h: i32, w: i32, frames: i32, scratch: usize, c0: i32, c1: i32,
): void {
  const tilesW = (w + 3) >> 2;
  const tilesF = ((h + 3) >> 2) * tilesW;
  const tiles = frames * tilesF;
  const ntP = roundUp(tiles, NR);
  const framePlane = <usize> (h + 2) * <usize> (w + 2);
  const vPos = <usize> (cin * ntP) << 2;
  const tmp = (scratch + 15) & ~(<usize> 15);
  const tmp2 = tmp + 36 * 16;
  for (let ci = c0; ci < c1; ci++) {
    const channel = x + ((<usize> ci * <usize> frames * framePlane) << 2);
    for (let g = 0; g < ntP; g += 4) {
      const dst = v + (<usize> (((g >> 3) * cin + ci) * NR + (g & 4)) << 2);
      inputTiles(channel, g, tiles - g, tilesW, tilesF, framePlane, h + 2, w + 2, dst, vPos, tmp, tmp2);
    }
  }
}

/** Scratch bytes of one thread's winogradOutput over `panels` panels of MR output channels. */
export function winogradOutputScratchBytes(panels: i32, tiles: i32): i32 {
  return (panels * MR * 36 * roundUp(tiles, NR) + 36 * 4 * 2) * 4 + 64;
}

/**
 * Panels [p0, p1) of MR output channels (ceil(cout / MR) of them) of the convolution whose
 * input transform winogradInput wrote to `v`: M = U V for those channels over every tile, then
 * the output transform into Y with bias and residual, as winogradConv does (the same arguments
 * and layouts). `scratch`: winogradOutputScratchBytes(p1 - p0, tiles) bytes of the thread's own.
 */
export function winogradOutput(
  v: usize, u: usize, bias: usize, res: usize, y: usize,
  cin: i32, cout: i32, h: i32, w: i32, frames: i32, ys: i32, scratch: usize, p0: i32, p1: i32,
): void {
  const tilesW = (w + 3) >> 2;
  const tilesF = ((h + 3) >> 2) * tilesW;
  const tiles = frames * tilesF;
  const ntP = roundUp(tiles, NR);
  const vPos = <usize> (cin * ntP) << 2;
  const uPos = <usize> (roundUp(cout, MR) * cin) << 2;
  const mRow = <usize> (36 * ntP) << 2;
  const Mb = (scratch + 15) & ~(<usize> 15);
  const tmp = Mb + <usize> ((p1 - p0) * MR) * mRow;
  const tmp2 = tmp + 36 * 16;
  const i0 = p0 * MR;
  multiply(u, uPos, v, vPos, Mb, mRow, <usize> ntP << 2, cin, i0, p1 * MR, ntP);
  outputTiles(Mb, mRow, <usize> ntP << 2, bias, res, y, ys, i0, min(p1 * MR, cout), 0, tiles, tilesW, tilesF, h, w, tmp, tmp2);
}
