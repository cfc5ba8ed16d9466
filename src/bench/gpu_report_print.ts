/**
 * The adapter's facts for `deno task gpu-report`, and the lines it prints as it goes.
 * @module
 */

import type { FidelityRow } from "./gpu_fidelity.ts";
import type { BenchRow } from "./gpu_timing.ts";

/** What the adapter says of itself, as the JSON holds it. */
export interface AdapterFacts {
  /** description, else vendor/architecture/device (as the backend names it). */
  name: string;
  vendor: string;
  architecture: string;
  device: string;
  /**
   * The adapter's description; Deno's GPUAdapterInfo has no separate driver field, and for
   * Vulkan this is the device name the driver reports.
   */
  description: string;
  isFallbackAdapter: boolean;
  subgroupMinSize?: number;
  subgroupMaxSize?: number;
  /** Which Vulkan ICD files the loader was pointed at, if any (VK_ICD_FILENAMES and the like). */
  icd: Record<string, string>;
  features: string[];
  limits: Record<string, number>;
}

/** Requests the adapter the backend would get and reads its facts; throws when there is none. */
export async function reportAdapter(): Promise<AdapterFacts> {
  const gpu = (globalThis.navigator as { gpu?: GPU }).gpu;
  const adapter = await gpu?.requestAdapter({ powerPreference: "high-performance" });
  if (!adapter) {
    throw new Error(
      "No WebGPU adapter found: install a GPU driver with Vulkan support (see GPU.md), or Mesa's lavapipe for a CPU fallback",
    );
  }
  const info = adapter.info as GPUAdapterInfo & {
    isFallbackAdapter?: boolean;
    subgroupMinSize?: number;
    subgroupMaxSize?: number;
  };
  const limits: Record<string, number> = {};
  const al = adapter.limits as unknown as Record<string, number>;
  for (const key in al) if (typeof al[key] === "number") limits[key] = al[key];
  const icd: Record<string, string> = {};
  for (const name of ["VK_ICD_FILENAMES", "VK_DRIVER_FILES", "VK_ADD_DRIVER_FILES"]) {
    const v = Deno.env.get(name);
    if (v) icd[name] = v;
  }
  return {
    name: info.description ||
      [info.vendor, info.architecture, info.device].filter((s) => s).join(" ") || "unknown",
    vendor: info.vendor,
    architecture: info.architecture,
    device: info.device,
    description: info.description,
    isFallbackAdapter: info.isFallbackAdapter === true,
    subgroupMinSize: info.subgroupMinSize,
    subgroupMaxSize: info.subgroupMaxSize,
    icd,
    features: [...adapter.features].sort(),
    limits,
  };
}

/** Prints the adapter's facts. */
export function printAdapter(a: AdapterFacts): void {
  console.log(
    `adapter   ${a.name} (vendor ${a.vendor}, device ${a.device}${
      a.architecture ? `, ${a.architecture}` : ""
    }${a.isFallbackAdapter ? ", fallback" : ""})`,
  );
  if (Object.keys(a.icd).length) console.log(`icd       ${JSON.stringify(a.icd)}`);
  console.log(`features  ${a.features.join(" ")}`);
  const l = a.limits;
  console.log(
    `limits    maxBufferSize ${l.maxBufferSize}, maxStorageBufferBindingSize ${l.maxStorageBufferBindingSize}, ` +
      `maxComputeWorkgroupStorageSize ${l.maxComputeWorkgroupStorageSize}, ` +
      `maxComputeInvocationsPerWorkgroup ${l.maxComputeInvocationsPerWorkgroup}`,
  );
}

/** Prints one fixture case. */
export function printFidelity(r: FidelityRow): void {
  const idx = r.indexMismatch === undefined
    ? ""
    : `, indices differ ${(100 * r.indexMismatch).toFixed(3)}%`;
  console.log(
    `fidelity  ${r.variant.padEnd(9)} ${r.case.padEnd(9)} ${r.precision}  max rel error ${
      r.maxRelError.toExponential(2)
    } (tolerance ${r.tolerance})${idx}  ${r.pass ? "ok" : "OUT OF TOLERANCE"}  ${r.ms} ms`,
  );
}

/** Prints one timed size and its kernels. */
export function printBench(r: BenchRow): void {
  const f = r.msPerFrame;
  console.log(
    `bench     ${r.model} ${r.size}${r.calibration ? " (calibration)" : ""}  encode ${
      f.encode.toFixed(1)
    } ms/frame, decode ${f.decode.toFixed(1)} ms/frame, total ${f.total.toFixed(1)} ms/frame; ` +
      `warm-up ${(r.warmupMs / 1000).toFixed(1)} s; peak ${
        r.peakActivationsMiB.toFixed(0)
      } MiB; GPU ${r.gpuMs.toFixed(0)} ms, ${
        (r.gflop / (r.gpuMs / 1000 || 1)).toFixed(1)
      } GFLOP/s overall`,
  );
  for (const [family, k] of Object.entries(r.kernels)) {
    console.log(
      `            ${family.padEnd(12)} ${k.ms.toFixed(1).padStart(9)} ms ${
        String(k.dispatches).padStart(5)
      } dispatches${k.flops ? `  ${k.gflops.toFixed(1).padStart(8)} GFLOP/s` : ""}`,
    );
  }
}
