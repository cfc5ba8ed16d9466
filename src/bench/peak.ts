/**
 * This machine's WebAssembly SIMD peak, the yardstick of the bench's per-op-family fractions:
 * computed as FMA units x f32x4 lanes x 2 flops x clock x threads, and measured by the kernel of
 * asm/peak.ts. The clock is /proc/cpuinfo's (Linux; the base clock a VM reports); the FMA units
 * per core are not discoverable from WebAssembly: 2 is every x86 core since Haswell and Zen 2 for
 * 128-bit vectors (relaxed SIMD's f32x4 fma lowers to one vfmadd on xmm registers).
 * @module
 */

import type { WasmOps } from "../backends/wasm/backend.ts";

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
