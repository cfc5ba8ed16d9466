/**
 * This machine's WebAssembly SIMD peak, the yardstick of the bench's per-op-family fractions:
 * computed as FMA units x f32x4 lanes x 2 flops x clock x threads, and measured by the kernel of
 * asm/peak.ts. The clock is /proc/cpuinfo's (Linux; the base clock a VM reports); the FMA units
 * per core are not discoverable from WebAssembly: 2 is every x86 core since Haswell and Zen 2 for
 * 128-bit vectors (relaxed SIMD's f32x4 fma lowers to one vfmadd on xmm registers).
 * @module
 */

import type { WasmOps } from "../backends/wasm/backend.ts";
import { callKernel, cpuWasm } from "../backends/wasm/kernels.ts";

/** The peak, with how it was reckoned. */
export interface SimdPeak {
  /** GFLOP/s from the formula (or the measured figure where the clock is unknown). */
  computed: number;
  /** GFLOP/s of independent multiply-adds on every thread. */
  measured: number;
  /** The formula with its numbers. */
  formula: string;
}

/** FMA units per core assumed for 128-bit vectors (see the module doc). */
export const FMA_UNITS = 2;

/**
 * The highest "cpu MHz" of /proc/cpuinfo, or undefined where it cannot be read. Read through
 * cat: Deno lets a script read /proc itself only with every permission.
 */
export function cpuMhz(): number | undefined {
  try {
    const out = new Deno.Command("cat", { args: ["/proc/cpuinfo"], stderr: "null" }).outputSync();
    const text = new TextDecoder().decode(out.stdout);
    const mhz = [...text.matchAll(/^cpu MHz\s*:\s*([\d.]+)/gm)].map((m) => Number(m[1]));
    return mhz.length ? Math.max(...mhz) : undefined;
  } catch {
    return undefined;
  }
}

/** The peak of `ops`'s threads on this machine. */
export function simdPeak(ops: WasmOps): SimdPeak {
  const measured = ops.fmaPeakGflops();
  const mhz = cpuMhz();
  const threads = ops.threads;
  if (!mhz) {
    return { computed: measured, measured, formula: "clock unknown: the measured figure" };
  }
  const computed = FMA_UNITS * 4 * 2 * (mhz / 1000) * threads;
  return {
    computed,
    measured,
    formula: `${FMA_UNITS} FMA units x 4 lanes (f32x4) x 2 flops x ${
      (mhz / 1000).toFixed(2)
    } GHz x ${threads} threads`,
  };
}

/** One thread's GFLOP/s of independent FMAs and of the GEMM micro-kernel with its data in L1. */
export interface KernelPeak {
  fma: number;
  microKernel: number;
}

/**
 * Measures, on one thread, the GEMM micro-kernel (asm/peak.ts microKernelPeak: its real loop of
 * loads and multiply-adds on panels in L1) beside independent multiply-adds (fmaPeak): the
 * share of the peak the kernel can reach at all, whatever the blocking around it. Each is the
 * best of `rounds` short runs, interleaved, so that a shared machine's load falls on both.
 */
export async function kernelPeak(rounds = 40): Promise<KernelPeak> {
  const w = await cpuWasm();
  const kc = 256, calls = 2000;
  const [pa, pb, pc, sink] = w.reserve(
    "measure the micro-kernel",
    6 * kc * 4,
    8 * kc * 4,
    6 * 32 * 4,
    16,
  );
  w.f32(pa, 6 * kc).fill(1e-3);
  w.f32(pb, 8 * kc).fill(1e-3);
  const flops = 96 * kc * calls;
  const run = (f: () => void) => {
    const t0 = performance.now();
    f();
    return flops / (performance.now() - t0) / 1e6;
  };
  const kernel = () => callKernel(w.k, "microKernelPeak", { pa, pb, kc, c: pc, iters: calls });
  const fma = () => w.k.fmaPeak(flops / 96, sink, 0, 1);
  let best = { fma: 0, microKernel: 0 };
  // The first calls run before V8's optimising tier: warm both up.
  for (let r = 0; r < rounds + 5; r++) {
    const [f, k] = [run(fma), run(kernel)];
    if (r >= 5) best = { fma: Math.max(best.fma, f), microKernel: Math.max(best.microKernel, k) };
  }
  return best;
}
