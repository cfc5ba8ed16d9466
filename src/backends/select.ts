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
  switch (choice) {
    case "none":
      return { kind: "none", reason: 'loaded with backend: "none"' };
    case "webgpu":
      return { kind: "backend", backend: await WebGpuOps.create(options.webgpu) };
    case "wasm":
      return { kind: "backend", backend: await WasmOps.create(options.wasm) };
  }
  const adapter = await probeAdapter(options.webgpu);
  if (adapter && !adapter.isSoftware) {
    try {
      return { kind: "backend", backend: await WebGpuOps.create(options.webgpu) };
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
      return { kind: "backend", backend: await WebGpuOps.create(options.webgpu) };
    } catch {
      // Fall through to the reason below.
    }
  }
  return {
    kind: "none",
    reason: `no WebGPU adapter${adapter ? " that works" : ""}, and ${wasmError.message}`,
  };
}
