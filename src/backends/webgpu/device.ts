/**
 * Adapter and device acquisition.
 *
 * The limits that matter for a convolutional autoencoder are the storage binding size and the
 * buffer size: activations of a 1024x1024 image at full width reach hundreds of MiB, so we ask
 * the adapter for everything it can give rather than the WebGPU defaults (128 MiB binding).
 * Features are asked for only where something uses them: timestamp queries (profiles),
 * `shader-f16` for precision "f16" (an error where the adapter lacks it), and `subgroups` for
 * the reductions (norm.ts, attention.ts) wherever the device can have them and lays them out as
 * the reductions expect (subgroups.ts).
 * @module
 */

import { checkPrecision } from "./precision.ts";
import { probeSubgroups } from "./subgroups.ts";

/** What the caller may ask of the adapter. */
export interface DeviceOptions {
  /** Prefer a fallback (CPU rasterizer) adapter; mostly for tests. */
  forceFallbackAdapter?: boolean;
  /** Which adapter to ask for where there are several; default "high-performance". */
  powerPreference?: GPUPowerPreference;
  /**
   * What float tensors are stored as: "f32" (the default), or "f16" (half the memory; needs the
   * adapter's `shader-f16`). Kernels compute in f32 either way.
   */
  precision?: "f32" | "f16";
  /**
   * Adapter features to act as if missing (for tests: the error of precision "f16" without
   * `shader-f16`, the reductions without `subgroups`).
   */
  withoutFeatures?: readonly string[];
}

/** A device with the facts about it the runtime needs. */
export interface GpuContext {
  device: GPUDevice;
  adapterInfo: GPUAdapterInfo;
  /** A human-readable adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
  adapterName: string;
  /** True for software rasterizers (llvmpipe, lavapipe, SwiftShader). */
  isSoftware: boolean;
  features: Set<string>;
  /** Whether kernels using subgroups start with `enable subgroups;` (see subgroups.ts). */
  subgroupsDirective: boolean;
  limits: {
    maxStorageBufferBindingSize: number;
    maxBufferSize: number;
    maxComputeWorkgroupsPerDimension: number;
    minUniformBufferOffsetAlignment: number;
    maxComputeWorkgroupStorageSize: number;
    maxComputeInvocationsPerWorkgroup: number;
  };
}

const SOFTWARE_ADAPTER = /llvmpipe|lavapipe|swiftshader|software/i;

/** A readable adapter name, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)". */
function adapterNameOf(info: GPUAdapterInfo): string {
  return info.description || [info.vendor, info.architecture, info.device]
    .filter((s) => s).join(" ") ||
    "unknown adapter";
}

function isSoftwareAdapter(info: GPUAdapterInfo, name: string): boolean {
  return SOFTWARE_ADAPTER.test(name) ||
    (info as { isFallbackAdapter?: boolean }).isFallbackAdapter === true;
}

/**
 * The adapter WebGPU would give, without creating a device: its name and whether it is a CPU
 * rasterizer; null when the runtime has no WebGPU or no adapter.
 */
export async function probeAdapter(
  options: DeviceOptions = {},
): Promise<{ name: string; isSoftware: boolean } | null> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) return null;
  const adapter = await gpu.requestAdapter({
    powerPreference: options.powerPreference ?? "high-performance",
    forceFallbackAdapter: options.forceFallbackAdapter ?? false,
  }).catch(() => null);
  if (!adapter) return null;
  const name = adapterNameOf(adapter.info);
  return { name, isSoftware: isSoftwareAdapter(adapter.info, name) };
}

/**
 * Acquires a WebGPU device with the adapter's largest buffer limits.
 *
 * @throws when the runtime has no WebGPU or no adapter is found, with what to do about it.
 */
export async function acquireGpu(options: DeviceOptions = {}): Promise<GpuContext> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  if (!gpu) {
    throw new Error(
      "WebGPU is not available: this runtime has no navigator.gpu (Deno 2.x exposes it by default; in a browser use one with WebGPU enabled)",
    );
  }
  const adapter = await gpu.requestAdapter({
    powerPreference: options.powerPreference ?? "high-performance",
    forceFallbackAdapter: options.forceFallbackAdapter ?? false,
  });
  if (!adapter) {
    throw new Error(
      "No WebGPU adapter found: install a GPU driver with Vulkan support, or Mesa (llvmpipe/lavapipe) for a CPU fallback",
    );
  }
  const al = adapter.limits;
  const requiredLimits: Record<string, number> = {
    maxStorageBufferBindingSize: al.maxStorageBufferBindingSize,
    maxBufferSize: al.maxBufferSize,
    maxComputeWorkgroupStorageSize: al.maxComputeWorkgroupStorageSize,
    maxComputeInvocationsPerWorkgroup: al.maxComputeInvocationsPerWorkgroup,
    maxComputeWorkgroupSizeX: al.maxComputeWorkgroupSizeX,
    maxComputeWorkgroupSizeY: al.maxComputeWorkgroupSizeY,
    maxStorageBuffersPerShaderStage: al.maxStorageBuffersPerShaderStage,
  };
  const precision = checkPrecision(options.precision ?? "f32", "Cannot create a WebGPU device");
  const hidden = new Set(options.withoutFeatures ?? []);
  const has = (f: string) => adapter.features.has(f as GPUFeatureName) && !hidden.has(f);
  const name = adapterNameOf(adapter.info);
  if (precision === "f16" && !has("shader-f16")) {
    throw new Error(
      `Cannot use precision "f16": the WebGPU adapter ${name} lacks the shader-f16 feature; use precision "f32" (the default)`,
    );
  }
  const wanted: GPUFeatureName[] = [];
  if (has("timestamp-query")) wanted.push("timestamp-query");
  if (precision === "f16") wanted.push("shader-f16");
  const request = (features: GPUFeatureName[]) =>
    adapter.requestDevice({ requiredLimits, requiredFeatures: features });
  // Deno 2.9 leaves subgroups out of adapter.features even where a device can have them
  // (lavapipe's can), so there they are asked for, and done without where the request fails.
  // Browsers list them; there a refused request could leave the adapter spent.
  const trySubgroups = !hidden.has("subgroups") &&
    (adapter.features.has("subgroups" as GPUFeatureName) || "Deno" in globalThis);
  let device: GPUDevice;
  try {
    device = trySubgroups
      ? await request([...wanted, "subgroups" as GPUFeatureName]).catch(() => request(wanted))
      : await request(wanted);
  } catch (err) {
    throw new Error(`Cannot create a WebGPU device: ${(err as Error).message}`);
  }
  const features = new Set([...device.features].filter((f) => !hidden.has(f)));
  const subgroups = features.has("subgroups")
    ? await probeSubgroups(device)
    : { usable: false, directive: true };
  if (!subgroups.usable) features.delete("subgroups");
  const info = adapter.info;
  const adapterName = adapterNameOf(info);
  const dl = device.limits;
  return {
    device,
    adapterInfo: info,
    adapterName,
    isSoftware: isSoftwareAdapter(info, adapterName),
    features,
    subgroupsDirective: subgroups.directive,
    limits: {
      maxStorageBufferBindingSize: dl.maxStorageBufferBindingSize,
      maxBufferSize: dl.maxBufferSize,
      maxComputeWorkgroupsPerDimension: dl.maxComputeWorkgroupsPerDimension,
      minUniformBufferOffsetAlignment: dl.minUniformBufferOffsetAlignment,
      maxComputeWorkgroupStorageSize: dl.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: dl.maxComputeInvocationsPerWorkgroup,
    },
  };
}

/**
 * Whether the adapter grants a device `feature`, found by asking for one (then destroyed) from
 * a fresh adapter: Deno 2.9 lists only the standard features in adapter.features, while
 * requestDevice also takes wgpu's own (e.g. "wgpu-cooperative-matrix", for tensor cores) and
 * grants "subgroups" unlisted. False for a name the runtime does not know, and without WebGPU.
 */
export async function adapterGrants(
  feature: string,
  options: DeviceOptions = {},
): Promise<boolean> {
  const gpu = (globalThis.navigator as { gpu?: GPU } | undefined)?.gpu;
  const adapter = await gpu?.requestAdapter({
    powerPreference: options.powerPreference ?? "high-performance",
    forceFallbackAdapter: options.forceFallbackAdapter ?? false,
  }).catch(() => null);
  if (!adapter) return false;
  try {
    const device = await adapter.requestDevice({
      requiredFeatures: [feature as GPUFeatureName],
    });
    const granted = device.features.has(feature as GPUFeatureName);
    device.destroy();
    return granted;
  } catch {
    return false;
  }
}
