/**
 * cosmos-webgpu: the NVIDIA Cosmos tokenizers (image and video, continuous and discrete) on
 * WebGPU, or on WebAssembly SIMD threads where there is no GPU (`backend` in loadTokenizer).
 *
 * This root module is the tokenizer and everything its options and results mention. Focused
 * entry points hold the parts that are useful on their own (see deno.json's `exports`):
 * `./cpu` (Haar wavelet and FSQ on WebAssembly, no device), `./safetensors` (the strict
 * reader and writer), `./hub` (official checkpoints from the Hugging Face hub and its cache),
 * `./metrics` (PSNR and SSIM as the Cosmos evaluation computes them), `./server` (an HTTP
 * handler around a tokenizer) and `./cli` (the `cosmos` command). The CPU functions, the hub
 * client and the safetensors codec are exported here too, as they always were, so that one
 * import (or the single-file browser bundle, dist/cosmos-webgpu.js) has them all.
 *
 * @example Encode an image and decode it back
 * ```ts ignore
 * import { loadTokenizer } from "./mod.ts";
 * const tok = await loadTokenizer({ model: "Cosmos-0.1-Tokenizer-CI8x8" });
 * const enc = await tok.encode({ data: new Float32Array(3 * 256 * 256), shape: [1, 3, 256, 256] });
 * const rec = await tok.decode(enc.latent ?? enc.indices!);
 * await tok.dispose();
 * ```
 * @module
 */

// The tokenizer: loading, running, results.
export { loadTokenizer } from "./src/load.ts";
export type { LoadOptions } from "./src/load.ts";
export { Tokenizer } from "./src/tokenizer.ts";
export type { EncodeResult, FrameTokens, StreamChunk, StreamOptions } from "./src/tokenizer.ts";
export type { Probe } from "./src/models/graph.ts";
export type { WeightsInput } from "./src/weights/source.ts";
export type { VideoCompression } from "./src/models/config.ts";
export type { HostTensor } from "./src/types.ts";
// The official variants.
export { findVariant, VARIANTS } from "./src/models/variants.ts";
export type { Architecture, VariantSpec } from "./src/models/variants.ts";
// The Wan2.1 VAE (the tokenizer of Cosmos-Predict2 and 2.5): its latent statistics.
export { WAN21_LATENT_STATS, WAN22_LATENT_STATS } from "./src/models/wan/latent.ts";
export type { LatentStats } from "./src/models/wan/latent.ts";
// Backends: what `backend`, `wasm` and `webgpu` in LoadOptions take, and the op interface a
// backend passed as `backend` implements.
export type { BackendChoice } from "./src/backends/select.ts";
export type { WasmOptions } from "./src/backends/wasm/backend.ts";
export type { GemmTiles, WebGpuOptions } from "./src/backends/webgpu/backend.ts";
export type { DeviceOptions } from "./src/backends/webgpu/device.ts";
export type {
  AttentionOptions,
  Backend,
  ConvOptions,
  ConvWeights,
  FrameRange,
  FsqSpec,
  FusedNorm,
  GroupNormOptions,
  JoinOptions,
  KernelProfile,
  MemoryStats,
  NormWeights,
  Ops,
  RmsNormWeights,
  ShuffleOptions,
  Tensor,
} from "./src/backends/ops.ts";
export type { TensorScope } from "./src/backends/scopes.ts";
// Also at ./hub, ./safetensors and ./cpu.
export { resolveCheckpoint } from "./src/hub/hub.ts";
export type { DownloadProgress, ResolvedCheckpoint, ResolveOptions } from "./src/hub/hub.ts";
export { encodeSafetensors, parseSafetensors } from "./src/weights/safetensors.ts";
export type {
  SafetensorsDtype,
  SafetensorsEntry,
  SafetensorsFile,
} from "./src/weights/safetensors.ts";
export {
  fsqCodesToIndices,
  fsqIndicesToCodes,
  fsqQuantize,
  haarPatch,
  haarUnpatch,
} from "./src/backends/wasm/standalone.ts";
