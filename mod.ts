/**
 * cosmos-webgpu: the NVIDIA Cosmos tokenizers (image and video, continuous and discrete) on
 * WebGPU.
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

export { loadTokenizer, Tokenizer } from "./src/tokenizer.ts";
export type { EncodeResult, LoadOptions, StreamChunk, WeightsInput } from "./src/tokenizer.ts";
export type { VideoCompression } from "./src/models/config.ts";
export type { HostTensor } from "./src/types.ts";
export { findVariant, VARIANTS } from "./src/models/variants.ts";
export { resolveCheckpoint } from "./src/hub/hub.ts";
export type { DownloadProgress, ResolvedCheckpoint, ResolveOptions } from "./src/hub/hub.ts";
export type { VariantSpec } from "./src/models/variants.ts";
export { encodeSafetensors, parseSafetensors } from "./src/weights/safetensors.ts";
// CPU (WebAssembly) Haar wavelet and FSQ, for servers with tokens or pixels and no GPU.
export {
  fsqCodesToIndices,
  fsqIndicesToCodes,
  fsqQuantize,
  haarPatch,
  haarUnpatch,
} from "./src/cpu/mod.ts";
export type { SafetensorsFile } from "./src/weights/safetensors.ts";
