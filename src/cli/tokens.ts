/**
 * Token and latent files: safetensors with one tensor, `indices` (I32, discrete models) or
 * `latent` (F32, continuous), and in `__metadata__` what `decode` needs to give the original
 * pixels back (model, compression, the padding to crop, how a video was cut and its frame rate)
 * and where they came from. Readable by any safetensors reader.
 *
 * A video's metadata `window` says how it was encoded:
 * - `"whole"` (what `cosmos encode` writes by default): the clip in one exact causal stream,
 *   padded at its end only to 1 + k x tc frames by repeating its last frame;
 *   `last_window_pad` is then `[0, n]`, the n repeated frames (the whole clip is its one
 *   window). Decode it as one latent (`decodeFrames`, a latent frame at a time) and drop the
 *   last n frames. A file with no `window` at all is read the same way.
 * - a number N (`--window N`, and every file written before the default changed): independent
 *   windows of N frames, each 1 + (N - 1) / tc latent frames, decoded one by one; only the
 *   last may be shorter, padded `[before, after]` as given by `last_window_pad`.
 *
 * `frames` is the original frame count in both cases.
 * @module
 */

import {
  encodeSafetensors,
  parseSafetensors,
  parseSafetensorsHeader,
  type SafetensorsEntry,
  type SafetensorsHeader,
} from "../weights/safetensors.ts";
import type { HostTensor } from "../types.ts";
import type { Crop } from "../media/pad.ts";
import { sniffImage } from "../media/image.ts";
import { isZip } from "../weights/formats.ts";
import { tokenInfoOf, WHOLE_CLIP } from "./token_metadata.ts";

export const TOKEN_FORMAT = "cosmos-webgpu tokens";

export { WHOLE_CLIP };

export interface TokenInfo {
  /** The tokenizer's model name ("Cosmos-0.1-Tokenizer-CI8x8", or "CI8x8 (unofficial)"). */
  model: string;
  kind: "image" | "video";
  discrete: boolean;
  spatialCompression: number;
  temporalCompression: number;
  /** The input file the tokens came from. */
  source: string;
  /** Extension of the source ("png", "jpg", "mp4"): the default format to decode to. */
  sourceFormat: string;
  /** Where the original pixels sit in the padded frames the model saw. */
  crop: Crop;
  /** Videos: frames of the original. */
  frames?: number;
  /** Videos: frames per independent window, or null for a clip encoded whole (exactly). */
  window?: number | null;
  /** Videos: frame rate. */
  fps?: number;
  /**
   * Videos: frames added [before, after] in the last window to make 1 + k x tc; for a clip
   * encoded whole, [0, n]: its last frame repeated n times at the end.
   */
  lastWindowPad?: [number, number];
}

export interface TokenFile {
  info: TokenInfo;
  /** `indices` [1, h, w] / [1, t, h, w], or `latent` [1, C, h, w] / [1, C, t, h, w]. */
  tokens: HostTensor;
}

/** The bytes of a token file. */
export function encodeTokenFile(file: TokenFile): Uint8Array {
  const { info, tokens } = file;
  const name = info.discrete ? "indices" : "latent";
  const tensor = info.discrete
    ? { dtype: "I32" as const, shape: tokens.shape, data: tokens.data as Int32Array }
    : { dtype: "F32" as const, shape: tokens.shape, data: tokens.data as Float32Array };
  return encodeSafetensors({ [name]: tensor }, tokenMetadata(info, tokens.shape));
}

/**
 * The `__metadata__` of a token file of tokens of `shape`: also what the streaming writer
 * (token_writer.ts) puts in its header, so that both write the same bytes.
 */
export function tokenMetadata(info: TokenInfo, shape: number[]): Record<string, string> {
  const meta: Record<string, string> = {
    format: TOKEN_FORMAT,
    model: info.model,
    kind: info.kind,
    discrete: String(info.discrete),
    spatial_compression: String(info.spatialCompression),
    temporal_compression: String(info.temporalCompression),
    source: info.source,
    source_format: info.sourceFormat,
    crop: JSON.stringify(info.crop),
    shape: JSON.stringify(shape),
  };
  if (info.kind === "video") {
    meta.frames = String(info.frames);
    meta.window = info.window == null ? WHOLE_CLIP : String(info.window);
    meta.fps = String(info.fps);
    meta.last_window_pad = JSON.stringify(info.lastWindowPad ?? [0, 0]);
  }
  return meta;
}

/**
 * Parses and checks a token file: every metadata field against the tensor it describes (see
 * token_metadata.ts). Messages say what is wrong and what the file looks like: an image, a video
 * or a checkpoint given instead is named as such.
 */
export function readTokenFile(bytes: Uint8Array, source: string): TokenFile {
  const { info, tensor } = tokenHeaderOf(bytes, bytes.length, source);
  const file = parseSafetensors(bytes, source);
  const data = info.discrete ? file.int32(tensor.name) : file.float32(tensor.name);
  return { info, tokens: { data, shape: tensor.shape } };
}

/** A token file's checked header: what it holds, its one tensor, and where its data starts. */
export interface TokenHeader {
  info: TokenInfo;
  tensor: SafetensorsEntry;
  /** Byte offset of the data section in the file. */
  dataStart: number;
}

/**
 * The checks of `readTokenFile` on the header alone: `head` is the file's first bytes (the
 * header whole; see parseSafetensorsHeader), `fileLength` its size, against which every offset
 * is checked, so that a truncated file fails here before any data is read.
 */
export function tokenHeaderOf(head: Uint8Array, fileLength: number, source: string): TokenHeader {
  const notTokens = `"${source}" is not a token file written by cosmos encode`;
  const other = otherFileKind(head);
  if (other?.media) {
    throw new Error(
      `"${source}" is ${other.what}, not a token file: decode takes the .safetensors files that cosmos encode writes (cosmos encode "${source}" makes one)`,
    );
  }
  if (other) {
    throw new Error(
      `"${source}" is ${other.what}, not a token file: pass a checkpoint as --encoder or --decoder`,
    );
  }
  let file: SafetensorsHeader;
  try {
    file = parseSafetensorsHeader(head, fileLength, source);
  } catch (err) {
    const detail = (err as Error).message.replace(
      /^Invalid safetensors file "(?:[^"\\]|\\.)*": /,
      "",
    );
    throw new Error(`${notTokens}, nor any safetensors file (${detail})`);
  }
  if (file.metadata.format !== TOKEN_FORMAT) {
    const looksLikeWeights = file.entries.size > 2;
    throw new Error(
      `${notTokens}${
        looksLikeWeights
          ? ` (it holds ${file.entries.size} tensors: a checkpoint? pass it as --encoder or --decoder)`
          : ""
      }`,
    );
  }
  const { info, tensor } = tokenInfoOf(file.metadata, file.entries, damaged(source));
  return { info, tensor, dataStart: file.dataStart };
}

/** Throws "Token file "x" is damaged: ...". */
export const damaged = (source: string) => (what: string): never => {
  throw new Error(`Token file "${source}" is damaged: ${what}`);
};

/**
 * What a file that is not safetensors is, from its first bytes: the images and videos a user
 * may give `decode` by mistake (`media`), and zip archives (TorchScript checkpoints); null for
 * anything else.
 */
export function otherFileKind(bytes: Uint8Array): { what: string; media: boolean } | null {
  const ascii = (from: number, to: number) => String.fromCharCode(...bytes.subarray(from, to));
  const image = sniffImage(bytes);
  if (image) return { what: `a ${image.toUpperCase()} image`, media: true };
  if (isZip(bytes)) return { what: "a zip archive (a TorchScript checkpoint?)", media: false };
  const video = ascii(4, 8) === "ftyp"
    ? "an MP4/MOV"
    : bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3
    ? "a Matroska/WebM"
    : ascii(0, 4) === "RIFF" && ascii(8, 12) === "AVI "
    ? "an AVI"
    : ascii(0, 4) === "GIF8"
    ? "a GIF"
    : bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 1 && (bytes[3] & 0xf0) === 0xb0
    ? "an MPEG"
    : null;
  return video ? { what: `${video} video`, media: true } : null;
}
