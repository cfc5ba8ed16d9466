/**
 * cosmos-webgpu: the NVIDIA Cosmos tokenizers (image and video, continuous and discrete) on
 * WebGPU, or on WebAssembly SIMD threads where there is no GPU (`backend` in loadTokenizer).
 *
 * @example
 * ```ts
 * import { loadTokenizer } from "./mod.ts";
 * const tok = await loadTokenizer({ encoder: "enc.safetensors", decoder: "dec.safetensors" });
 * const enc = await tok.encode({ data: new Float32Array(3 * 256 * 256), shape: [1, 3, 256, 256] });
 * const rec = await tok.decode(enc.latent ?? enc.indices!);
 * await tok.dispose();
 * ```
 * @module
 */

export { loadTokenizer } from "./src/load.ts";
export type { LoadOptions } from "./src/load.ts";
export { Tokenizer } from "./src/tokenizer.ts";
export type { EncodeResult, StreamChunk } from "./src/tokenizer.ts";
export type { WeightsInput } from "./src/weights/source.ts";
export type { VideoCompression } from "./src/models/config.ts";
export type { HostTensor } from "./src/types.ts";
export { findVariant, VARIANTS } from "./src/models/variants.ts";
export { resolveCheckpoint } from "./src/hub/hub.ts";
export type { DownloadProgress, ResolvedCheckpoint, ResolveOptions } from "./src/hub/hub.ts";
export type { Architecture, VariantSpec } from "./src/models/variants.ts";
export { encodeSafetensors, parseSafetensors } from "./src/weights/safetensors.ts";
// CPU (WebAssembly) Haar wavelet and FSQ, for servers with tokens or pixels and no GPU.
export {
  fsqCodesToIndices,
  fsqIndicesToCodes,
  fsqQuantize,
  haarPatch,
  haarUnpatch,
} from "./src/backends/wasm/standalone.ts";
export type { SafetensorsFile } from "./src/weights/safetensors.ts";
// Backends: what `backend`, `wasm` and `webgpu` in LoadOptions take.
export type { BackendChoice } from "./src/backends/select.ts";
export type { WasmOptions } from "./src/backends/wasm/backend.ts";
export type { WebGpuOptions } from "./src/backends/webgpu/backend.ts";
export type { Backend, MemoryStats } from "./src/backends/ops.ts";
