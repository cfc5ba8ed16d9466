/**
 * Checkpoint format detection: TorchScript archives (`.jit`, a ZIP), torch.save state_dicts
 * (`.pth`, the same ZIP) and safetensors files load through the same call.
 * @module
 */

import { fromDiffusers, isDiffusersCheckpoint } from "./diffusers.ts";
import { requireFinite, safetensorsSource, type TensorSource } from "./checkpoint.ts";
import { parseSafetensors } from "./safetensors.ts";
import { isAutoencoder, parseTorchScript, readTorchScript, splitHalves } from "./torchscript.ts";
import { isWanCheckpoint, wanHalf } from "./wan_names.ts";

/** Whether the bytes start like a ZIP archive (a TorchScript `.jit` file). */
export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b &&
    ((bytes[2] === 3 && bytes[3] === 4) || (bytes[2] === 5 && bytes[3] === 6));
}

/**
 * With `half` ("encoder" or "decoder"), the tensors of that half when `src` is a whole
 * autoencoder (autoencoder.jit); otherwise `src` itself.
 */
function pickHalf(src: TensorSource, half: string | undefined): TensorSource {
  if (half === undefined) return src;
  if (half !== "encoder" && half !== "decoder") {
    throw new Error(`Cannot pick half "${half}" of "${src.source}": use "encoder" or "decoder"`);
  }
  // A Wan VAE (reference or diffusers names) first: diffusers' names look like Cosmos' too.
  if (isWanCheckpoint(src)) return wanHalf(src, half);
  // Before isAutoencoder: a diffusers file also has encoder.* and decoder.* names.
  if (isDiffusersCheckpoint(src)) return fromDiffusers(src)[half];
  if (!isAutoencoder(src)) return src;
  return splitHalves(src)[half];
}

/**
 * Parses a checkpoint, TorchScript (sniffed by the ZIP magic "PK\x03\x04") or safetensors.
 * TorchScript members must be stored, as torch writes them; {@link readCheckpoint} also inflates
 * deflated ones.
 * @param half "encoder" or "decoder": from an autoencoder checkpoint, take only that half
 */
export function parseCheckpoint(bytes: Uint8Array, source: string, half?: string): TensorSource {
  const src = isZip(bytes)
    ? parseTorchScript(bytes, source)
    : safetensorsSource(parseSafetensors(bytes, source));
  return pickHalf(src, half);
}

/** How {@link readCheckpoint} reads a file. */
export interface ReadOptions {
  /**
   * Refuse a tensor holding NaN or an infinity when it is read (a load; a converter copies what
   * it finds). The message names the tensor as the file does (a diffusers name, in a diffusers
   * file) and says which half was being loaded.
   */
  finite?: "encoder" | "decoder";
}

/** Like {@link parseCheckpoint}, also reading TorchScript archives with deflated members. */
export async function readCheckpoint(
  bytes: Uint8Array,
  source: string,
  half?: string,
  options: ReadOptions = {},
): Promise<TensorSource> {
  const file = isZip(bytes)
    ? await readTorchScript(bytes, source)
    : safetensorsSource(parseSafetensors(bytes, source));
  return pickHalf(options.finite ? requireFinite(file, options.finite) : file, half);
}
