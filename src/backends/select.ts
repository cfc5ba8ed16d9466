/**
 * Which backend a tokenizer runs on. "auto" takes WebGPU on a real GPU and WebAssembly
 * otherwise: a CPU rasterizer (llvmpipe, lavapipe, SwiftShader) runs the network several times
 * slower than the WebAssembly kernels on the same cores, so it is used only when asked for by
 * name ("webgpu"), or when WebAssembly cannot run here.
 * @module
 */

import type { Backend } from "./ops.ts";
import { WebGpuOps, type WebGpuOptions } from "./webgpu/backend.ts";
import { probeAdapter } from "./webgpu/device.ts";
import { checkWasmOptions, WasmOps, type WasmOptions } from "./wasm/backend.ts";

/** A backend by name; "none" loads weights for checking and token/code conversion only. */
export type BackendChoice = "auto" | "webgpu" | "wasm" | "none";

export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "webgpu", "wasm", "none"];

export interface BackendOptions {
  webgpu?: WebGpuOptions;
  wasm?: WasmOptions;
}

/** The backend created, or null with the reason there is none. */
export type Selected = { ops: Backend; reason: null } | { ops: null; reason: string };

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
  switch (choice) {
    case "none":
      return { ops: null, reason: 'loaded with backend: "none"' };
    case "webgpu":
      return { ops: await WebGpuOps.create(options.webgpu), reason: null };
    case "wasm":
      return { ops: await WasmOps.create(options.wasm), reason: null };
  }
  const adapter = await probeAdapter(options.webgpu);
  if (adapter && !adapter.isSoftware) {
    try {
      return { ops: await WebGpuOps.create(options.webgpu), reason: null };
    } catch {
      // The adapter would not give a device: WebAssembly still works.
    }
  }
  let wasmError: Error;
  try {
    return { ops: await WasmOps.create(options.wasm), reason: null };
  } catch (err) {
    wasmError = err as Error;
  }
  if (adapter) {
    try {
      return { ops: await WebGpuOps.create(options.webgpu), reason: null };
    } catch {
      // Fall through to the reason below.
    }
  }
  return {
    ops: null,
    reason: `no WebGPU adapter${adapter ? " that works" : ""}, and ${wasmError.message}`,
  };
}
