// deno-fmt-ignore-file
// deno-lint-ignore-file
// (AssemblyScript: deno fmt would drop the @inline decorators.)

// The machine's WebAssembly SIMD multiply-add peak, measured: twelve independent f32x4
// multiply-add chains (fused with relaxed SIMD, as the GEMM micro-kernel's are; a multiply and
// an add without), enough to cover the latency of two FMA units of four cycles. Each item of
// [i0, i1) runs `iters` rounds of the twelve (96 flops a round: 12 x 4 lanes x 2) and adds its
// lanes to the float at `sink`, so that nothing is optimised away (the host reads nothing).

import { microKernel } from "./gemm";

// @ts-ignore: decorator
@inline function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(f32x4.mul(a, b), c);
}

export function fmaPeak(iters: i32, sink: usize, i0: i32, i1: i32): void {
  // Factors computed from a parameter: as constants, the compiler would write them into every
  // multiply-add, and V8 builds a vector constant with several instructions each time.
  const tiny = <f32> iters * 1e-15;
  const a = f32x4.splat(<f32> 0.999999 - tiny);
  const b = f32x4.splat(<f32> 1e-7 + tiny);
  for (let item = i0; item < i1; item++) {
    // Twelve different starting values: equal chains would be merged by the optimiser.
    const f = <f32> item;
    let c0 = f32x4.splat(f), c1 = f32x4.splat(f + 1), c2 = f32x4.splat(f + 2);
    let c3 = f32x4.splat(f + 3), c4 = f32x4.splat(f + 4), c5 = f32x4.splat(f + 5);
    let c6 = f32x4.splat(f + 6), c7 = f32x4.splat(f + 7), c8 = f32x4.splat(f + 8);
    let c9 = f32x4.splat(f + 9), c10 = f32x4.splat(f + 10), c11 = f32x4.splat(f + 11);
    for (let i = 0; i < iters; i++) {
      c0 = madd(c0, a, b); c1 = madd(c1, a, b); c2 = madd(c2, a, b); c3 = madd(c3, a, b);
      c4 = madd(c4, a, b); c5 = madd(c5, a, b); c6 = madd(c6, a, b); c7 = madd(c7, a, b);
      c8 = madd(c8, a, b); c9 = madd(c9, a, b); c10 = madd(c10, a, b); c11 = madd(c11, a, b);
    }
    const s = f32x4.add(f32x4.add(f32x4.add(c0, c1), f32x4.add(c2, c3)),
      f32x4.add(f32x4.add(f32x4.add(c4, c5), f32x4.add(c6, c7)),
        f32x4.add(f32x4.add(c8, c9), f32x4.add(c10, c11))));
    store<f32>(sink, load<f32>(sink) + f32x4.extract_lane(s, 0));
  }
}

/**
 * `iters` calls of the GEMM micro-kernel (asm/gemm.ts) on one packed A micro-panel at `pa` and
 * one B micro-panel at `pb` of depth `kc`, C tile at `c`: the multiply-add rate of the real
 * loop, loads and all, with every operand in L1 (96 flops per k per call). Beside fmaPeak it
 * shows what the loads cost (in Deno, a software bounds check each).
 */
export function microKernelPeak(pa: usize, pb: usize, kc: i32, c: usize, iters: i32): void {
  for (let i = 0; i < iters; i++) microKernel(pa, pb, kc, c, 32, false, 0);
}
