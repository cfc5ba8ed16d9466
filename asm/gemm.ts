// deno-fmt-ignore-file
// deno-lint-ignore-file
// (AssemblyScript: deno fmt would drop the @inline decorators.)

// Single-precision GEMM with general strides, for the WebAssembly backend:
//
//   C[m, n] = (accumulate ? C[m, n] : 0) + sum_k A[m, k] * B[k, n] (+ bias[m] when bias != 0)
//
// for m in [m0, m1), n in [n0, n1), where A[m, k] is the f32 at a + 4 * (m * sam + k * sak),
// B[k, n] at b + 4 * (k * sbk + n * sbn) and C[m, n] at c + 4 * (m * ldc + n). Pointers are byte
// offsets into this module's memory; strides are in elements (f32), and may be any i32.
//
// Goto/BLIS blocking: for each block of NC columns, for each block of KC depth, the B block is
// packed into micro-panels of NR columns (k-major, zero-padded past n1), then for each block of
// MC rows the A block is packed into micro-panels of MR rows (k-major, MR floats per k,
// zero-padded past m1: the layout asm/winograd.ts gives its transformed weights), and the
// MR x NR micro-kernel runs over every pair of micro-panels (B micro-panel in L1, A block in
// L2). Tiles cut by m1 or n1 go through a small buffer in scratch. There is no static mutable
// state and no allocation: each thread passes its own `scratch` (gemmScratchBytes) and a range
// of C of its own, so threads sharing one memory can split C into disjoint ranges (splitting
// columns, each thread packs only its part of B).
//
// The multiply-add is fused (f32x4.relaxed_madd) when built with --enable relaxed-simd, and a
// multiply then an add otherwise. Earlier measurements, single-thread on a Zen 4 EPYC (V8 of
// Deno 2.9.6), 512 x 4096 x 4608, A loaded with splats: 6 x 8 tiles 32 GFLOP/s plain, 41
// relaxed; 5 x 8 30 / 38; 4 x 8 31 / 37; A packed pre-broadcast (a vector per float) 34 / 46;
// KC 128..512, MC 48..192 and NC 512..2048 within 3% of each other. On the Ice Lake Xeon where
// the shuffles of microKernel were measured, both earlier loops were bound by Deno's bounds
// checks (see microKernel).

// @ts-ignore: decorator
@inline const MR: i32 = 6;
// @ts-ignore: decorator
@inline const NR: i32 = 8;
// @ts-ignore: decorator
@inline const KC: i32 = 256;
// @ts-ignore: decorator
@inline const MC: i32 = 96;
// @ts-ignore: decorator
@inline const NC: i32 = 2048;

// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  else return f32x4.add(c, f32x4.mul(a, b));
}

// @ts-ignore: decorator
@inline function min(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

// @ts-ignore: decorator
@inline function roundUp(a: i32, b: i32): i32 {
  return (a + b - 1) / b * b;
}

/**
 * The MR x NR micro-kernel: C tile (rows `ldc` bytes apart) = (beta ? C : 0) + sum over `kc` of
 * the packed A micro-panel `pa` (MR floats per k) times the packed B micro-panel `pb` (NR floats
 * per k), + bias[i] for each row i when bias != 0. Every pointer is 16-byte aligned except c.
 */
export function microKernel(pa: usize, pb: usize, kc: i32, c: usize, ldc: usize, beta: bool, bias: usize): void {
  let c00 = f32x4.splat(0), c01 = c00, c10 = c00, c11 = c00, c20 = c00, c21 = c00;
  let c30 = c00, c31 = c00, c40 = c00, c41 = c00, c50 = c00, c51 = c00;
  // Rows 0-3 of each k from one vector and rows 4-5 from a second one 8 bytes on (its lanes 2
  // and 3), each broadcast by a shuffle, rather than six load-and-splats: Deno runs WebAssembly
  // without a trap handler, so every memory access is an explicit bounds check, and the checks,
  // not the multiply-adds, bound this loop. Unrolled twice (fewer pointer updates and branches
  // beside the checks). Measured in L1 on an Ice Lake Xeon (relaxed SIMD, fraction of the FMA
  // peak, per-core CPU time): 68% unrolled, 63% not, against 51% for six splats (and 59% for six
  // pre-broadcast vectors, the earlier packing at four times the bytes; 95% for either with no
  // bounds checks, --v8-flags=--no-wasm-bounds-checks).
  let k = 0;
  for (; k + 2 <= kc; k += 2) {
    let b0 = v128.load(pb, 0), b1 = v128.load(pb, 16);
    let v = v128.load(pa);
    let a = v128.shuffle<f32>(v, v, 0, 0, 0, 0); c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.shuffle<f32>(v, v, 1, 1, 1, 1); c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.shuffle<f32>(v, v, 2, 2, 2, 2); c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.shuffle<f32>(v, v, 3, 3, 3, 3); c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    v = v128.load(pa, 8);
    a = v128.shuffle<f32>(v, v, 2, 2, 2, 2); c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    a = v128.shuffle<f32>(v, v, 3, 3, 3, 3); c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    b0 = v128.load(pb, 32); b1 = v128.load(pb, 48);
    v = v128.load(pa, 24);
    a = v128.shuffle<f32>(v, v, 0, 0, 0, 0); c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.shuffle<f32>(v, v, 1, 1, 1, 1); c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.shuffle<f32>(v, v, 2, 2, 2, 2); c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.shuffle<f32>(v, v, 3, 3, 3, 3); c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    v = v128.load(pa, 32);
    a = v128.shuffle<f32>(v, v, 2, 2, 2, 2); c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    a = v128.shuffle<f32>(v, v, 3, 3, 3, 3); c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
    pa += 2 * MR << 2;
    pb += 2 * NR << 2;
  }
  if (k < kc) {
    const b0 = v128.load(pb, 0), b1 = v128.load(pb, 16);
    let v = v128.load(pa);
    let a = v128.shuffle<f32>(v, v, 0, 0, 0, 0); c00 = madd(a, b0, c00); c01 = madd(a, b1, c01);
    a = v128.shuffle<f32>(v, v, 1, 1, 1, 1); c10 = madd(a, b0, c10); c11 = madd(a, b1, c11);
    a = v128.shuffle<f32>(v, v, 2, 2, 2, 2); c20 = madd(a, b0, c20); c21 = madd(a, b1, c21);
    a = v128.shuffle<f32>(v, v, 3, 3, 3, 3); c30 = madd(a, b0, c30); c31 = madd(a, b1, c31);
    v = v128.load(pa, 8);
    a = v128.shuffle<f32>(v, v, 2, 2, 2, 2); c40 = madd(a, b0, c40); c41 = madd(a, b1, c41);
    a = v128.shuffle<f32>(v, v, 3, 3, 3, 3); c50 = madd(a, b0, c50); c51 = madd(a, b1, c51);
  }
  if (bias) {
    let s = v128.load32_splat(bias);
    c00 = f32x4.add(c00, s); c01 = f32x4.add(c01, s);
    s = v128.load32_splat(bias, 4);
    c10 = f32x4.add(c10, s); c11 = f32x4.add(c11, s);
    s = v128.load32_splat(bias, 8);
    c20 = f32x4.add(c20, s); c21 = f32x4.add(c21, s);
    s = v128.load32_splat(bias, 12);
    c30 = f32x4.add(c30, s); c31 = f32x4.add(c31, s);
    if (MR >= 5) {
      s = v128.load32_splat(bias, 16);
      c40 = f32x4.add(c40, s); c41 = f32x4.add(c41, s);
    }
    if (MR >= 6) {
      s = v128.load32_splat(bias, 20);
      c50 = f32x4.add(c50, s); c51 = f32x4.add(c51, s);
    }
  }
  if (beta) {
    c00 = f32x4.add(c00, v128.load(c)); c01 = f32x4.add(c01, v128.load(c, 16));
    c += ldc;
    c10 = f32x4.add(c10, v128.load(c)); c11 = f32x4.add(c11, v128.load(c, 16));
    c += ldc;
    c20 = f32x4.add(c20, v128.load(c)); c21 = f32x4.add(c21, v128.load(c, 16));
    c += ldc;
    c30 = f32x4.add(c30, v128.load(c)); c31 = f32x4.add(c31, v128.load(c, 16));
    if (MR >= 5) {
      c += ldc;
      c40 = f32x4.add(c40, v128.load(c)); c41 = f32x4.add(c41, v128.load(c, 16));
    }
    if (MR >= 6) {
      c += ldc;
      c50 = f32x4.add(c50, v128.load(c)); c51 = f32x4.add(c51, v128.load(c, 16));
    }
    c -= <usize> (MR - 1) * ldc;
  }
  v128.store(c, c00); v128.store(c, c01, 16);
  c += ldc;
  v128.store(c, c10); v128.store(c, c11, 16);
  c += ldc;
  v128.store(c, c20); v128.store(c, c21, 16);
  c += ldc;
  v128.store(c, c30); v128.store(c, c31, 16);
  if (MR >= 5) {
    c += ldc;
    v128.store(c, c40); v128.store(c, c41, 16);
  }
  if (MR >= 6) {
    c += ldc;
    v128.store(c, c50); v128.store(c, c51, 16);
  }
}

/**
 * The micro-kernel on a tile of C cut to `mr` x `nr` (at most MR x NR): full tiles go straight
 * to C, cut ones through `tile` (MR * NR floats) and `tbias` (MR floats) in scratch.
 */
// @ts-ignore: decorator
@inline function microTile(
  pa: usize, pb: usize, kc: i32, c: usize, ldc: i32, mr: i32, nr: i32, beta: bool, bias: usize,
  tile: usize, tbias: usize,
): void {
  if (mr == MR && nr == NR) {
    microKernel(pa, pb, kc, c, <usize> ldc << 2, beta, bias);
    return;
  }
  for (let i = 0; i < mr; i++) {
    const src = c + (<usize> (i * ldc) << 2);
    const dst = tile + (<usize> (i * NR) << 2);
    for (let j = 0; j < nr; j++) store<f32>(dst + (<usize> j << 2), beta ? load<f32>(src + (<usize> j << 2)) : 0);
  }
  if (bias) {
    for (let i = 0; i < MR; i++) store<f32>(tbias + (<usize> i << 2), i < mr ? load<f32>(bias + (<usize> i << 2)) : 0);
  }
  microKernel(pa, pb, kc, tile, NR << 2, true, bias ? tbias : 0);
  for (let i = 0; i < mr; i++) {
    const dst = c + (<usize> (i * ldc) << 2);
    const src = tile + (<usize> (i * NR) << 2);
    for (let j = 0; j < nr; j++) store<f32>(dst + (<usize> j << 2), load<f32>(src + (<usize> j << 2)));
  }
}

/** Packs B[k0 .. k0 + kc, n0 .. n0 + nc) into NR-column micro-panels at `dst`, zero-padded. */
function packB(b: usize, sbk: i32, sbn: i32, k0: i32, kc: i32, n0: i32, nc: i32, dst: usize): void {
  for (let j = 0; j < nc; j += NR) {
    const nr = min(NR, nc - j);
    let src = b + (<usize> (k0 * sbk + (n0 + j) * sbn) << 2);
    const step = <usize> sbk << 2;
    if (sbn == 1 && nr == NR) {
      for (let k = 0; k < kc; k++) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        src += step;
        dst += NR << 2;
      }
    } else if (sbk == 1 && nr == NR) {
      // B stored transposed (attention's scores as the B of P V): four k of each of the eight
      // columns by vector loads, transposed in registers, instead of 32 scalar loads.
      const cs = <usize> sbn << 2;
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        transpose4(src, cs, dst);
        transpose4(src + 4 * cs, cs, dst + 16);
        src += 16;
        dst += (4 * NR) << 2;
      }
      for (; k < kc; k++) {
        let p = src;
        for (let jj = 0; jj < NR; jj++) {
          store<f32>(dst + (<usize> jj << 2), load<f32>(p));
          p += cs;
        }
        src += 4;
        dst += NR << 2;
      }
    } else {
      const cs = <usize> sbn << 2;
      for (let k = 0; k < kc; k++) {
        let p = src;
        for (let jj = 0; jj < NR; jj++) {
          store<f32>(dst + (<usize> jj << 2), jj < nr ? load<f32>(p) : 0);
          p += cs;
        }
        src += step;
        dst += NR << 2;
      }
    }
  }
}

/**
 * Four columns of B stored transposed (column j's four consecutive k at src + j cs) into four
 * k-rows of a micro-panel: row k's four floats at dst + k NR floats.
 */
// @ts-ignore: decorator
@inline function transpose4(src: usize, cs: usize, dst: usize): void {
  const r0 = v128.load(src), r1 = v128.load(src + cs);
  const r2 = v128.load(src + 2 * cs), r3 = v128.load(src + 3 * cs);
  const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5), t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
  const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7), t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
  v128.store(dst, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
  v128.store(dst + (NR << 2), v128.shuffle<f32>(t0, t1, 2, 3, 6, 7));
  v128.store(dst + (2 * NR << 2), v128.shuffle<f32>(t2, t3, 0, 1, 4, 5));
  v128.store(dst + (3 * NR << 2), v128.shuffle<f32>(t2, t3, 2, 3, 6, 7));
}

/**
 * Packs A[m0 .. m0 + mc, k0 .. k0 + kc) into MR-row micro-panels at `dst` (MR floats per k,
 * k-major, rows past mc zero): the micro-kernel's layout.
 */
function packA(a: usize, sam: i32, sak: i32, m0: i32, mc: i32, k0: i32, kc: i32, dst: usize): void {
  const ks = <usize> sak << 2;
  const rs = <usize> sam << 2;
  for (let i = 0; i < mc; i += MR) {
    const mr = min(MR, mc - i);
    const src = a + (<usize> ((m0 + i) * sam + k0 * sak) << 2);
    if (mr == MR && sak == 1) {
      // Rows contiguous in k: read each row in turn, writing every MR-th float.
      for (let r = 0; r < MR; r++) {
        let p = src + <usize> r * rs;
        let q = dst + (<usize> r << 2);
        for (let k = 0; k < kc; k++) {
          store<f32>(q, load<f32>(p));
          p += 4;
          q += MR << 2;
        }
      }
    } else if (mr == MR && sam == 1) {
      // A stored transposed (attention's queries): each k's six rows are consecutive, copied
      // as two overlapping vectors (floats 0-3 and 2-5).
      let p = src;
      let q = dst;
      for (let k = 0; k < kc; k++) {
        v128.store(q, v128.load(p));
        v128.store(q, v128.load(p, 8), 8);
        p += ks;
        q += MR << 2;
      }
    } else {
      let p = src;
      let q = dst;
      for (let k = 0; k < kc; k++) {
        for (let r = 0; r < MR; r++) store<f32>(q + (<usize> r << 2), r < mr ? load<f32>(p + <usize> r * rs) : 0);
        p += ks;
        q += MR << 2;
      }
    }
    dst += <usize> (MR * kc) << 2;
  }
}

/** Scratch bytes `gemm` needs for a range of `m` rows, `n` columns and depth `k`. */
export function gemmScratchBytes(m: i32, n: i32, k: i32): i32 {
  const mc = roundUp(min(MC, m), MR);
  const nc = roundUp(min(NC, n), NR);
  const kc = min(KC, k);
  return (mc * kc + kc * nc + MR * NR + MR) * 4 + 64;
}

/**
 * C[m0 .. m1, n0 .. n1) = (accumulate ? C : 0) + A B (+ bias[m] when bias != 0), the sum over
 * k in [0, K). See the top of this file for the layout; `scratch` holds gemmScratchBytes(m1 -
 * m0, n1 - n0, K) bytes of this thread's own.
 */
export function gemm(
  m0: i32, m1: i32, n0: i32, n1: i32, K: i32,
  a: usize, sam: i32, sak: i32,
  b: usize, sbk: i32, sbn: i32,
  c: usize, ldc: i32,
  bias: usize, accumulate: i32, scratch: usize,
): void {
  const M = m1 - m0;
  const N = n1 - n0;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    // No products: C = (accumulate ? C : 0) + bias.
    for (let i = m0; i < m1; i++) {
      const bi: f32 = bias ? load<f32>(bias + (<usize> i << 2)) : 0;
      for (let j = n0; j < n1; j++) {
        const p = c + (<usize> (i * ldc + j) << 2);
        store<f32>(p, (accumulate ? load<f32>(p) : 0) + bi);
      }
    }
    return;
  }
  const base = (scratch + 15) & ~(<usize> 15);
  const mcMax = roundUp(min(MC, M), MR);
  const ncMax = roundUp(min(NC, N), NR);
  const kcMax = min(KC, K);
  const ap = base;
  const bp = ap + (<usize> (mcMax * kcMax) << 2);
  const tile = bp + (<usize> (kcMax * ncMax) << 2);
  const tbias = tile + (<usize> (MR * NR) << 2);
  for (let jc = n0; jc < n1; jc += NC) {
    const nc = min(NC, n1 - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      const first = pc == 0;
      const beta = !first || accumulate != 0;
      packB(b, sbk, sbn, pc, kc, jc, nc, bp);
      for (let ic = m0; ic < m1; ic += MC) {
        const mc = min(MC, m1 - ic);
        packA(a, sam, sak, ic, mc, pc, kc, ap);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const pb = bp + (<usize> (jr * kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const mr = min(MR, mc - ir);
            const cp = c + (<usize> ((ic + ir) * ldc + jc + jr) << 2);
            const bb = first && bias ? bias + (<usize> (ic + ir) << 2) : 0;
            microTile(ap + (<usize> (ir * kc) << 2), pb, kc, cp, ldc, mr, nr, beta, bb, tile, tbias);
          }
        }
      }
    }
  }
}

// ---- Products on a pre-packed A -----------------------------------------------------------
//
// A layer's weights are the A of every product it makes, and `gemm` packs its block of A again
// for every block of C a thread takes (with C split by columns over threads, every thread packs
// all of A). packPanels packs the whole of A once per call, on every thread, into panels of MR
// rows over the whole depth: panel p holds rows [p MR, p MR + MR) as K runs of MR floats
// (packA's layout, rows past M zero), so the micro-panel of depth block [k0, k0 + kc) starts at
// ap + 4 MR (p K + k0). gemmPacked then only packs B. Its B is either strided rows (row k at
// b + 4 k sbk) or, when `rows` != 0, the rows of a table of K byte addresses (i32 at rows + 4 k):
// the rows of a causal temporal convolution, tap dt of input channel ci reading a frame shifted
// by dt, with no gathered copy. Columns are contiguous (n at + 4 n) either way.

/** Bytes of packPanels' output for `m` rows and depth `k`. */
export function packedBytes(m: i32, k: i32): i32 {
  return roundUp(m, MR) * k * 4;
}

/** Row panels [p0, p1) (ceil(m / MR) of them) of A [m, k] (strides sam, sak) into `dst`. */
export function packPanels(a: usize, sam: i32, sak: i32, m: i32, k: i32, dst: usize, p0: i32, p1: i32): void {
  for (let p = p0; p < p1; p++) {
    const m0 = p * MR;
    packA(a, sam, sak, m0, min(MR, m - m0), 0, k, dst + (<usize> (m0 * k) << 2));
  }
}

/** packB of rows given by address: B[k, n] is the f32 at load<i32>(rows + 4 k) + 4 n. */
function packBRows(rows: usize, k0: i32, kc: i32, n0: i32, nc: i32, dst: usize): void {
  for (let j = 0; j < nc; j += NR) {
    const nr = min(NR, nc - j);
    let r = rows + (<usize> k0 << 2);
    const col = <usize> (n0 + j) << 2;
    if (nr == NR) {
      for (let k = 0; k < kc; k++) {
        const src = <usize> load<i32>(r) + col;
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
        r += 4;
        dst += NR << 2;
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const src = <usize> load<i32>(r) + col;
        for (let jj = 0; jj < NR; jj++) {
          store<f32>(dst + (<usize> jj << 2), jj < nr ? load<f32>(src + (<usize> jj << 2)) : 0);
        }
        r += 4;
        dst += NR << 2;
      }
    }
  }
}

/**
 * C[m0 .. m1, n0 .. n1) = (accumulate ? C : 0) + A B (+ bias[m]) with A packed by packPanels
 * at `ap` (m0 a multiple of MR), B as described above; `scratch` holds gemmScratchBytes(m1 -
 * m0, n1 - n0, K) bytes of this thread's own (more than this needs).
 */
export function gemmPacked(
  m0: i32, m1: i32, n0: i32, n1: i32, K: i32,
  ap: usize, b: usize, sbk: i32, rows: usize,
  c: usize, ldc: i32, bias: usize, accumulate: i32, scratch: usize,
): void {
  if (m1 <= m0 || n1 <= n0) return;
  if (K <= 0) {
    gemm(m0, m1, n0, n1, 0, 0, 0, 0, 0, 0, 0, c, ldc, bias, accumulate, scratch);
    return;
  }
  const base = (scratch + 15) & ~(<usize> 15);
  const ncMax = roundUp(min(NC, n1 - n0), NR);
  const kcMax = min(KC, K);
  const bp = base;
  const tile = bp + (<usize> (kcMax * ncMax) << 2);
  const tbias = tile + (<usize> (MR * NR) << 2);
  for (let jc = n0; jc < n1; jc += NC) {
    const nc = min(NC, n1 - jc);
    for (let pc = 0; pc < K; pc += KC) {
      const kc = min(KC, K - pc);
      const first = pc == 0;
      const beta = !first || accumulate != 0;
      if (rows) packBRows(rows, pc, kc, jc, nc, bp);
      else packB(b, sbk, 1, pc, kc, jc, nc, bp);
      // Blocks of MC rows, so that the A block stays in L2 while the B micro-panels sweep it.
      for (let ic = m0; ic < m1; ic += MC) {
        const mc = min(MC, m1 - ic);
        for (let jr = 0; jr < nc; jr += NR) {
          const nr = min(NR, nc - jr);
          const pb = bp + (<usize> (jr * kc) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const i = ic + ir;
            const mr = min(MR, m1 - i);
            const pa = ap + (<usize> (i * K + pc * MR) << 2);
            const cp = c + (<usize> (i * ldc + jc + jr) << 2);
            const bb = first && bias ? bias + (<usize> i << 2) : 0;
            microTile(pa, pb, kc, cp, ldc, mr, nr, beta, bb, tile, tbias);
          }
        }
      }
    }
  }
}

/** gemmPacked over the blocks [start, end) of a grid of blockM (a multiple of MR) x blockN blocks. */
export function gemmPackedBlocks(
  ap: usize, b: usize, sbk: i32, rows: usize, c: usize, ldc: i32, bias: usize, accumulate: i32,
  k: i32, m: i32, n: i32, blockM: i32, blockN: i32, scratch: usize, start: i32, end: i32,
): void {
  const cols = (n + blockN - 1) / blockN;
  for (let item = start; item < end; item++) {
    const m0 = (item / cols) * blockM;
    const n0 = (item % cols) * blockN;
    gemmPacked(m0, min(m, m0 + blockM), n0, min(n, n0 + blockN), k, ap, b, sbk, rows, c, ldc,
      bias, accumulate, scratch);
  }
}
