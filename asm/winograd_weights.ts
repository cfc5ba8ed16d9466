// deno-fmt-ignore-file
// deno-lint-ignore-file
// (AssemblyScript: deno fmt would drop the @inline decorators.)

// The weight transform of the Winograd F(4x4, 3x3) convolution (asm/winograd.ts): torch-layout
// 3x3 weights w[Cout, Cin, 3, 3] -> U = G g G^T, laid out as the GEMM micro-kernel's packed A:
// U[pos][co / MR][ci][co % MR], 36 positions, Cout padded with zeros to a multiple of MR. G's
// thirds and fifteenths are applied in float64 and rounded once (see asm/winograd.ts for the
// interpolation points and why).

// The micro-kernel's tile height (asm/gemm.ts).
// @ts-ignore: decorator
@inline const MR: i32 = 6;

// @ts-ignore: decorator
@inline function roundUp(a: i32, b: i32): i32 {
  return (a + b - 1) / b * b;
}

// @ts-ignore: decorator
@inline function min(a: i32, b: i32): i32 {
  return a < b ? a : b;
}

/** Bytes of the transformed weights of a layer. */
export function winogradWeightsBytes(cout: i32, cin: i32): i32 {
  return 36 * roundUp(cout, MR) * cin * 4;
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
