/**
 * Which backend a tokenizer runs on. "auto" takes WebGPU on a real GPU and WebAssembly
 * otherwise: a CPU rasterizer (llvmpipe, lavapipe, SwiftShader) runs the network several times
 * slower than the WebAssembly kernels on the same cores, so it is used only when asked for by
 * name ("webgpu"), or when WebAssembly cannot run here. Precision "f16" exists on WebGPU only,
 * so asking for it makes "auto" mean "webgpu" (any adapter with `shader-f16`, or fail).
 * @module
 */

import type { Backend } from "./ops.ts";
import { WebGpuOps, type WebGpuOptions } from "./webgpu/backend.ts";
import { probeAdapter } from "./webgpu/device.ts";
import { checkPrecision, type Precision } from "./webgpu/precision.ts";
import { checkWasmOptions, WasmOps, type WasmOptions } from "./wasm/backend.ts";

/** A backend by name; "none" loads weights for checking and token/code conversion only. */
export type BackendChoice = "auto" | "webgpu" | "wasm" | "none";

export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "webgpu", "wasm", "none"];

export interface BackendOptions {
  webgpu?: WebGpuOptions;
  wasm?: WasmOptions;
  /** What float tensors are stored as (WebGPU only); overrides `webgpu.precision`. */
  precision?: Precision;
}

/** The backend created, or the reason there is none. */
export type Selected = { kind: "backend"; backend: Backend } | { kind: "none"; reason: string };

/** Creates the backend `choice` names; an explicit choice that cannot be had throws. */
export async function createBackend(
  choice: BackendChoice,
  options: BackendOptions = {},
): Promise<Selected> {
  if (!BACKEND_CHOICES.includes(choice)) {
    throw new Error(
      `Unknown backend "${choice}": expected one of ${BACKEND_CHOICES.join(", ")}`,
    );
  }
  // A mistake in the options is an error whichever backend "auto" would have taken.
  if (options.wasm) checkWasmOptions(options.wasm);
  const precision = checkPrecision(
    options.precision ?? options.webgpu?.precision ?? "f32",
    "Cannot create the backend",
  );
  const webgpu: WebGpuOptions = { ...options.webgpu, precision };
  if (precision === "f16" && choice === "wasm") {
    throw new Error(
      'Cannot use precision "f16" on the WebAssembly backend, which stores and computes in f32: use backend "webgpu" (an adapter with shader-f16), or precision "f32"',
    );
  }
  switch (choice) {
    case "none":
      return { kind: "none", reason: 'loaded with backend: "none"' };
    case "webgpu":
      return { kind: "backend", backend: await WebGpuOps.create(webgpu) };
    case "wasm":
      return { kind: "backend", backend: await WasmOps.create(options.wasm) };
  }
  // Only WebGPU has f16: falling back to WebAssembly would quietly run f32.
  if (precision === "f16") return { kind: "backend", backend: await WebGpuOps.create(webgpu) };
  const adapter = await probeAdapter(options.webgpu);
  if (adapter && !adapter.isSoftware) {
    try {
      return { kind: "backend", backend: await WebGpuOps.create(webgpu) };
    } catch {
      // The adapter would not give a device: WebAssembly still works.
    }
  }
  let wasmError: Error;
  try {
    return { kind: "backend", backend: await WasmOps.create(options.wasm) };
  } catch (err) {
    wasmError = err as Error;
  }
  if (adapter) {
    try {
      return { kind: "backend", backend: await WebGpuOps.create(webgpu) };
    } catch {
      // Fall through to the reason below.
    }
  }
  return {
    kind: "none",
    reason: `no WebGPU adapter${adapter ? " that works" : ""}, and ${wasmError.message}`,
  };
}
