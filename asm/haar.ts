// deno-fmt-ignore-file
// deno-lint-ignore-file
// (AssemblyScript: deno fmt would drop the @inline decorators.)

// One level of the 2D and 3D Haar wavelet transforms, in the arithmetic order of
// wgsl/haar.wgsl and wgsl/haar3d.wgsl, so that CPU and GPU results agree to the last rounding:
// every tap is `R * a + R * b` or `R * a - R * b` in f32 (two products, then one add, no fused
// multiply-add), the 2D result halved (doubled by the inverse), the 3D result divided by
// f32(2 * f32(sqrt 2)) (multiplied by the inverse).
//
// Pointers are byte offsets into this module's memory, laid out by the host. Sizes are those
// of the half-resolution side, as the WGSL kernels' uniforms give them. The inner loops
// run four output columns per SIMD step (pairs of input columns de-interleaved with shuffles),
// then finish the row in scalar code with the same operations.

// @ts-ignore: decorator
@inline const R: f32 = 0.70710678118654757;

// 2 * sqrt(2) as the reference computes it: float32 sqrt(2), doubled (exact in f32).
// @ts-ignore: decorator
@inline const SCALE: f32 = 2.0 * <f32> 1.41421353816986084;

// SIMD constants are loaded from this table (one broadcast load, folded into the arithmetic)
// rather than written as v128 constants, which V8 rebuilds at every use inside a loop.
const K: usize = memory.data<f32>([R, 0.5, 2.0, SCALE], 16);

// @ts-ignore: decorator
@inline function lo(a: f32, b: f32): f32 {
  return R * a + R * b;
}

// @ts-ignore: decorator
@inline function hi(a: f32, b: f32): f32 {
  return R * a - R * b;
}

// @ts-ignore: decorator
@inline function lo4(a: v128, b: v128): v128 {
  const r = v128.load32_splat(K);
  return f32x4.add(f32x4.mul(r, a), f32x4.mul(r, b));
}

// @ts-ignore: decorator
@inline function hi4(a: v128, b: v128): v128 {
  const r = v128.load32_splat(K);
  return f32x4.sub(f32x4.mul(r, a), f32x4.mul(r, b));
}

// @ts-ignore: decorator
@inline function even4(a: v128, b: v128): v128 {
  return v128.shuffle<f32>(a, b, 0, 2, 4, 6);
}

// @ts-ignore: decorator
@inline function odd4(a: v128, b: v128): v128 {
  return v128.shuffle<f32>(a, b, 1, 3, 5, 7);
}

// @ts-ignore: decorator
@inline function f(p: usize, i: usize): f32 {
  return load<f32>(p + (i << 2));
}

/**
 * 2D analysis, [b, c, 2h, 2w] at `src` -> [b, 4c, h, w] at `dst`; output channel blocks
 * [LL, LH, HL, HH], the first letter naming the width filter (haar.wgsl dwt_main).
 */
export function haar2dForward(src: usize, dst: usize, b: i32, c: i32, h: i32, w: i32): void {
  const plane = <usize> h * <usize> w;
  const block = (<usize> c * plane) << 2;
  const w2 = <usize> (2 * w);
  const half = v128.load32_splat(K + 4);
  for (let bc: usize = 0; bc < <usize> b * <usize> c; bc++) {
    const bi = bc / <usize> c;
    const ci = bc % <usize> c;
    const inPlane = src + ((bc * 4 * plane) << 2);
    const outPlane = dst + (((bi * 4 * <usize> c + ci) * plane) << 2);
    for (let row: usize = 0; row < <usize> h; row++) {
      const top = inPlane + ((2 * row * w2) << 2);
      const bot = top + (w2 << 2);
      const o = outPlane + ((row * <usize> w) << 2);
      let j: usize = 0;
      for (; j + 4 <= <usize> w; j += 4) {
        const t = top + (j << 3);
        const u = bot + (j << 3);
        const t0 = v128.load(t);
        const t1 = v128.load(t, 16);
        const u0 = v128.load(u);
        const u1 = v128.load(u, 16);
        const x00 = even4(t0, t1);
        const x01 = odd4(t0, t1);
        const x10 = even4(u0, u1);
        const x11 = odd4(u0, u1);
        const loTop = lo4(x00, x01);
        const loBot = lo4(x10, x11);
        const hiTop = hi4(x00, x01);
        const hiBot = hi4(x10, x11);
        const q = o + (j << 2);
        v128.store(q, f32x4.mul(lo4(loTop, loBot), half));
        v128.store(q + block, f32x4.mul(hi4(loTop, loBot), half));
        v128.store(q + 2 * block, f32x4.mul(lo4(hiTop, hiBot), half));
        v128.store(q + 3 * block, f32x4.mul(hi4(hiTop, hiBot), half));
      }
      for (; j < <usize> w; j++) {
        const x00 = f(top, 2 * j);
        const x01 = f(top, 2 * j + 1);
        const x10 = f(bot, 2 * j);
        const x11 = f(bot, 2 * j + 1);
        const loTop = lo(x00, x01);
        const loBot = lo(x10, x11);
        const hiTop = hi(x00, x01);
        const hiBot = hi(x10, x11);
        const q = o + (j << 2);
        store<f32>(q, lo(loTop, loBot) / 2.0);
        store<f32>(q + block, hi(loTop, loBot) / 2.0);
        store<f32>(q + 2 * block, lo(hiTop, hiBot) / 2.0);
        store<f32>(q + 3 * block, hi(hiTop, hiBot) / 2.0);
      }
    }
  }
}

/** 2D synthesis, [b, 4c, h, w] at `src` -> [b, c, 2h, 2w] at `dst` (haar.wgsl idwt_main). */
export function haar2dInverse(src: usize, dst: usize, b: i32, c: i32, h: i32, w: i32): void {
  const plane = <usize> h * <usize> w;
  const block = (<usize> c * plane) << 2;
  const w2 = <usize> (2 * w);
  const two = v128.load32_splat(K + 8);
  for (let bc: usize = 0; bc < <usize> b * <usize> c; bc++) {
    const bi = bc / <usize> c;
    const ci = bc % <usize> c;
    const inPlane = src + (((bi * 4 * <usize> c + ci) * plane) << 2);
    const outPlane = dst + ((bc * 4 * plane) << 2);
    for (let row: usize = 0; row < <usize> h; row++) {
      const s = inPlane + ((row * <usize> w) << 2);
      const top = outPlane + ((2 * row * w2) << 2);
      const bot = top + (w2 << 2);
      let j: usize = 0;
      for (; j + 4 <= <usize> w; j += 4) {
        const p = s + (j << 2);
        const ll = v128.load(p);
        const lh = v128.load(p + block);
        const hl = v128.load(p + 2 * block);
        const hh = v128.load(p + 3 * block);
        const loTop = lo4(ll, lh);
        const loBot = hi4(ll, lh);
        const hiTop = lo4(hl, hh);
        const hiBot = hi4(hl, hh);
        const e0 = f32x4.mul(lo4(loTop, hiTop), two);
        const o0 = f32x4.mul(hi4(loTop, hiTop), two);
        const e1 = f32x4.mul(lo4(loBot, hiBot), two);
        const o1 = f32x4.mul(hi4(loBot, hiBot), two);
        const t = top + (j << 3);
        const u = bot + (j << 3);
        v128.store(t, v128.shuffle<f32>(e0, o0, 0, 4, 1, 5));
        v128.store(t, v128.shuffle<f32>(e0, o0, 2, 6, 3, 7), 16);
        v128.store(u, v128.shuffle<f32>(e1, o1, 0, 4, 1, 5));
        v128.store(u, v128.shuffle<f32>(e1, o1, 2, 6, 3, 7), 16);
      }
      for (; j < <usize> w; j++) {
        const p = s + (j << 2);
        const ll = load<f32>(p);
        const lh = load<f32>(p + block);
        const hl = load<f32>(p + 2 * block);
        const hh = load<f32>(p + 3 * block);
        const loTop = lo(ll, lh);
        const loBot = hi(ll, lh);
        const hiTop = lo(hl, hh);
        const hiBot = hi(hl, hh);
        const t = top + (j << 3);
        const u = bot + (j << 3);
        store<f32>(t, lo(loTop, hiTop) * 2.0);
        store<f32>(t, hi(loTop, hiTop) * 2.0, 4);
        store<f32>(u, lo(loBot, hiBot) * 2.0);
        store<f32>(u, hi(loBot, hiBot) * 2.0, 4);
      }
    }
  }
}

/**
 * 3D analysis (haar3d.wgsl dwt_main): [b, c, tFull, 2h, 2w] at `src`, with `lead` copies of
 * frame 0 virtually prepended (tFull + lead = 2t), -> [b, 8c, t, h, w] at `dst`. Output blocks
 * [LLL, LLH, LHL, LHH, HLL, HLH, HHL, HHH], letters naming the time, height, width filters.
 */
export function haar3dForward(
  src: usize,
  dst: usize,
  b: i32,
  c: i32,
  t: i32,
  h: i32,
  w: i32,
  lead: i32,
  tFull: i32,
): void {
  const plane = <usize> (4 * h) * <usize> w;
  const vol = <usize> t * <usize> h * <usize> w;
  const block = (<usize> c * vol) << 2;
  const w2 = <usize> (2 * w);
  const scale = v128.load32_splat(K + 12);
  for (let bc: usize = 0; bc < <usize> b * <usize> c; bc++) {
    const bi = bc / <usize> c;
    const ci = bc % <usize> c;
    for (let fr = 0; fr < t; fr++) {
      const f0 = <usize> max(2 * fr - lead, 0);
      const f1 = <usize> max(2 * fr + 1 - lead, 0);
      const frame0 = src + (((bc * <usize> tFull + f0) * plane) << 2);
      const frame1 = src + (((bc * <usize> tFull + f1) * plane) << 2);
      const outFrame = dst +
        ((((bi * 8 * <usize> c + ci) * vol) + <usize> fr * <usize> h * <usize> w) << 2);
      for (let row: usize = 0; row < <usize> h; row++) {
        const a0 = frame0 + ((2 * row * w2) << 2);
        const a1 = a0 + (w2 << 2);
        const b0 = frame1 + ((2 * row * w2) << 2);
        const b1 = b0 + (w2 << 2);
        const o = outFrame + ((row * <usize> w) << 2);
        let j: usize = 0;
        for (; j + 4 <= <usize> w; j += 4) {
          const k = j << 3;
          const p0 = v128.load(a0 + k);
          const p1 = v128.load(a0 + k, 16);
          const q0 = v128.load(a1 + k);
          const q1 = v128.load(a1 + k, 16);
          const r0 = v128.load(b0 + k);
          const r1 = v128.load(b0 + k, 16);
          const s0 = v128.load(b1 + k);
          const s1 = v128.load(b1 + k, 16);
          const x000 = even4(p0, p1);
          const x001 = odd4(p0, p1);
          const x010 = even4(q0, q1);
          const x011 = odd4(q0, q1);
          const x100 = even4(r0, r1);
          const x101 = odd4(r0, r1);
          const x110 = even4(s0, s1);
          const x111 = odd4(s0, s1);
          const l00 = lo4(x000, x100);
          const l01 = lo4(x001, x101);
          const l10 = lo4(x010, x110);
          const l11 = lo4(x011, x111);
          const h00 = hi4(x000, x100);
          const h01 = hi4(x001, x101);
          const h10 = hi4(x010, x110);
          const h11 = hi4(x011, x111);
          const ll0 = lo4(l00, l10);
          const ll1 = lo4(l01, l11);
          const lh0 = hi4(l00, l10);
          const lh1 = hi4(l01, l11);
          const hl0 = lo4(h00, h10);
          const hl1 = lo4(h01, h11);
          const hh0 = hi4(h00, h10);
          const hh1 = hi4(h01, h11);
          const q = o + (j << 2);
          v128.store(q, f32x4.div(lo4(ll0, ll1), scale));
          v128.store(q + block, f32x4.div(hi4(ll0, ll1), scale));
          v128.store(q + 2 * block, f32x4.div(lo4(lh0, lh1), scale));
          v128.store(q + 3 * block, f32x4.div(hi4(lh0, lh1), scale));
          v128.store(q + 4 * block, f32x4.div(lo4(hl0, hl1), scale));
          v128.store(q + 5 * block, f32x4.div(hi4(hl0, hl1), scale));
          v128.store(q + 6 * block, f32x4.div(lo4(hh0, hh1), scale));
          v128.store(q + 7 * block, f32x4.div(hi4(hh0, hh1), scale));
        }
        for (; j < <usize> w; j++) {
          const x000 = f(a0, 2 * j);
          const x001 = f(a0, 2 * j + 1);
          const x010 = f(a1, 2 * j);
          const x011 = f(a1, 2 * j + 1);
          const x100 = f(b0, 2 * j);
          const x101 = f(b0, 2 * j + 1);
          const x110 = f(b1, 2 * j);
          const x111 = f(b1, 2 * j + 1);
          const l00 = lo(x000, x100);
          const l01 = lo(x001, x101);
          const l10 = lo(x010, x110);
          const l11 = lo(x011, x111);
          const h00 = hi(x000, x100);
          const h01 = hi(x001, x101);
          const h10 = hi(x010, x110);
          const h11 = hi(x011, x111);
          const ll0 = lo(l00, l10);
          const ll1 = lo(l01, l11);
          const lh0 = hi(l00, l10);
          const lh1 = hi(l01, l11);
          const hl0 = lo(h00, h10);
          const hl1 = lo(h01, h11);
          const hh0 = hi(h00, h10);
          const hh1 = hi(h01, h11);
          const q = o + (j << 2);
          store<f32>(q, lo(ll0, ll1) / SCALE);
          store<f32>(q + block, hi(ll0, ll1) / SCALE);
          store<f32>(q + 2 * block, lo(lh0, lh1) / SCALE);
          store<f32>(q + 3 * block, hi(lh0, lh1) / SCALE);
          store<f32>(q + 4 * block, lo(hl0, hl1) / SCALE);
          store<f32>(q + 5 * block, hi(hl0, hl1) / SCALE);
          store<f32>(q + 6 * block, lo(hh0, hh1) / SCALE);
          store<f32>(q + 7 * block, hi(hh0, hh1) / SCALE);
        }
      }
    }
  }
}

/**
 * 3D synthesis (haar3d.wgsl idwt_main): [b, 8c, t, h, w] at `src` -> [b, c, 2t - trim, 2h, 2w]
 * at `dst`, the first `trim` output frames dropped.
 */
export function haar3dInverse(
  src: usize,
  dst: usize,
  b: i32,
  c: i32,
  t: i32,
  h: i32,
  w: i32,
  trim: i32,
): void {
  const tFull = <usize> (2 * t - trim);
  const plane = <usize> (4 * h) * <usize> w;
  const vol = <usize> t * <usize> h * <usize> w;
  const block = (<usize> c * vol) << 2;
  const w2 = <usize> (2 * w);
  const scale = v128.load32_splat(K + 12);
  for (let bc: usize = 0; bc < <usize> b * <usize> c; bc++) {
    const bi = bc / <usize> c;
    const ci = bc % <usize> c;
    for (let fr = 0; fr < t; fr++) {
      const inFrame = src +
        ((((bi * 8 * <usize> c + ci) * vol) + <usize> fr * <usize> h * <usize> w) << 2);
      const even = 2 * fr >= trim;
      const odd = 2 * fr + 1 >= trim;
      // Frame pointers are only used when the frame is kept.
      const frame0 = dst + (((bc * tFull + <usize> (2 * fr - trim)) * plane) << 2);
      const frame1 = dst + (((bc * tFull + <usize> (2 * fr + 1 - trim)) * plane) << 2);
      for (let row: usize = 0; row < <usize> h; row++) {
        const s = inFrame + ((row * <usize> w) << 2);
        const off = (2 * row * w2) << 2;
        const a0 = frame0 + off;
        const a1 = a0 + (w2 << 2);
        const b0 = frame1 + off;
        const b1 = b0 + (w2 << 2);
        let j: usize = 0;
        for (; j + 4 <= <usize> w; j += 4) {
          const p = s + (j << 2);
          const s0 = v128.load(p);
          const s1 = v128.load(p + block);
          const s2 = v128.load(p + 2 * block);
          const s3 = v128.load(p + 3 * block);
          const s4 = v128.load(p + 4 * block);
          const s5 = v128.load(p + 5 * block);
          const s6 = v128.load(p + 6 * block);
          const s7 = v128.load(p + 7 * block);
          const ll0 = lo4(s0, s1);
          const ll1 = hi4(s0, s1);
          const lh0 = lo4(s2, s3);
          const lh1 = hi4(s2, s3);
          const hl0 = lo4(s4, s5);
          const hl1 = hi4(s4, s5);
          const hh0 = lo4(s6, s7);
          const hh1 = hi4(s6, s7);
          const l00 = lo4(ll0, lh0);
          const l01 = lo4(ll1, lh1);
          const l10 = hi4(ll0, lh0);
          const l11 = hi4(ll1, lh1);
          const h00 = lo4(hl0, hh0);
          const h01 = lo4(hl1, hh1);
          const h10 = hi4(hl0, hh0);
          const h11 = hi4(hl1, hh1);
          const k = j << 3;
          if (even) {
            const e0 = f32x4.mul(lo4(l00, h00), scale);
            const o0 = f32x4.mul(lo4(l01, h01), scale);
            const e1 = f32x4.mul(lo4(l10, h10), scale);
            const o1 = f32x4.mul(lo4(l11, h11), scale);
            v128.store(a0 + k, v128.shuffle<f32>(e0, o0, 0, 4, 1, 5));
            v128.store(a0 + k, v128.shuffle<f32>(e0, o0, 2, 6, 3, 7), 16);
            v128.store(a1 + k, v128.shuffle<f32>(e1, o1, 0, 4, 1, 5));
            v128.store(a1 + k, v128.shuffle<f32>(e1, o1, 2, 6, 3, 7), 16);
          }
          if (odd) {
            const e0 = f32x4.mul(hi4(l00, h00), scale);
            const o0 = f32x4.mul(hi4(l01, h01), scale);
            const e1 = f32x4.mul(hi4(l10, h10), scale);
            const o1 = f32x4.mul(hi4(l11, h11), scale);
            v128.store(b0 + k, v128.shuffle<f32>(e0, o0, 0, 4, 1, 5));
            v128.store(b0 + k, v128.shuffle<f32>(e0, o0, 2, 6, 3, 7), 16);
            v128.store(b1 + k, v128.shuffle<f32>(e1, o1, 0, 4, 1, 5));
            v128.store(b1 + k, v128.shuffle<f32>(e1, o1, 2, 6, 3, 7), 16);
          }
        }
        for (; j < <usize> w; j++) {
          const p = s + (j << 2);
          const s0 = load<f32>(p);
          const s1 = load<f32>(p + block);
          const s2 = load<f32>(p + 2 * block);
          const s3 = load<f32>(p + 3 * block);
          const s4 = load<f32>(p + 4 * block);
          const s5 = load<f32>(p + 5 * block);
          const s6 = load<f32>(p + 6 * block);
          const s7 = load<f32>(p + 7 * block);
          const ll0 = lo(s0, s1);
          const ll1 = hi(s0, s1);
          const lh0 = lo(s2, s3);
          const lh1 = hi(s2, s3);
          const hl0 = lo(s4, s5);
          const hl1 = hi(s4, s5);
          const hh0 = lo(s6, s7);
          const hh1 = hi(s6, s7);
          const l00 = lo(ll0, lh0);
          const l01 = lo(ll1, lh1);
          const l10 = hi(ll0, lh0);
          const l11 = hi(ll1, lh1);
          const h00 = lo(hl0, hh0);
          const h01 = lo(hl1, hh1);
          const h10 = hi(hl0, hh0);
          const h11 = hi(hl1, hh1);
          const k = j << 3;
          if (even) {
            store<f32>(a0 + k, lo(l00, h00) * SCALE);
            store<f32>(a0 + k, lo(l01, h01) * SCALE, 4);
            store<f32>(a1 + k, lo(l10, h10) * SCALE);
            store<f32>(a1 + k, lo(l11, h11) * SCALE, 4);
          }
          if (odd) {
            store<f32>(b0 + k, hi(l00, h00) * SCALE);
            store<f32>(b0 + k, hi(l01, h01) * SCALE, 4);
            store<f32>(b1 + k, hi(l10, h10) * SCALE);
            store<f32>(b1 + k, hi(l11, h11) * SCALE, 4);
          }
        }
      }
    }
  }
}
