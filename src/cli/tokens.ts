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

import { encodeSafetensors, parseSafetensors } from "../weights/safetensors.ts";
import { fmtShape, type HostTensor } from "../types.ts";
import type { Crop } from "../media/pad.ts";

export const TOKEN_FORMAT = "cosmos-webgpu tokens";

/** Metadata `window` of a video encoded whole, in one exact causal stream. */
export const WHOLE_CLIP = "whole";

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
    shape: JSON.stringify(tokens.shape),
  };
  if (info.kind === "video") {
    meta.frames = String(info.frames);
    meta.window = info.window == null ? WHOLE_CLIP : String(info.window);
    meta.fps = String(info.fps);
    meta.last_window_pad = JSON.stringify(info.lastWindowPad ?? [0, 0]);
  }
  const name = info.discrete ? "indices" : "latent";
  const tensor = info.discrete
    ? { dtype: "I32" as const, shape: tokens.shape, data: tokens.data as Int32Array }
    : { dtype: "F32" as const, shape: tokens.shape, data: tokens.data as Float32Array };
  return encodeSafetensors({ [name]: tensor }, meta);
}

/** Parses and checks a token file; messages say what is wrong and what the file looks like. */
export function readTokenFile(bytes: Uint8Array, source: string): TokenFile {
  const file = parseSafetensors(bytes, source);
  const m = file.metadata;
  if (m.format !== TOKEN_FORMAT) {
    const looksLikeWeights = file.entries.size > 2;
    throw new Error(
      `"${source}" is not a token file written by cosmos encode${
        looksLikeWeights
          ? ` (it holds ${file.entries.size} tensors: a checkpoint? pass it as --encoder or --decoder)`
          : ""
      }`,
    );
  }
  const fail = (what: string): never => {
    throw new Error(`Token file "${source}" is damaged: ${what}`);
  };
  const json = <T>(key: string): T => {
    try {
      return JSON.parse(m[key]) as T;
    } catch {
      return fail(`metadata "${key}" is ${JSON.stringify(m[key])}`);
    }
  };
  const kind = m.kind === "video"
    ? "video"
    : m.kind === "image"
    ? "image"
    : fail(`kind "${m.kind}"`);
  const discrete = m.discrete === "true";
  const name = discrete ? "indices" : "latent";
  if (!file.has(name)) fail(`no "${name}" tensor`);
  const shape = file.entries.get(name)!.shape;
  const rank = (discrete ? 3 : 4) + (kind === "video" ? 1 : 0);
  if (shape.length !== rank) fail(`"${name}" has shape ${fmtShape(shape)}, expected rank ${rank}`);
  const tokens = { data: discrete ? file.int32(name) : file.float32(name), shape };
  const info: TokenInfo = {
    model: m.model ?? fail("no model name"),
    kind,
    discrete,
    spatialCompression: Number(m.spatial_compression),
    temporalCompression: Number(m.temporal_compression),
    source: m.source ?? "",
    sourceFormat: m.source_format ?? (kind === "video" ? "mp4" : "png"),
    crop: json<Crop>("crop"),
    frames: kind === "video" ? Number(m.frames) : undefined,
    window: kind === "video" ? windowOf(m.window, fail) : undefined,
    fps: kind === "video" ? Number(m.fps) : undefined,
    lastWindowPad: kind === "video" ? json<[number, number]>("last_window_pad") : undefined,
  };
  if (!(info.spatialCompression > 0) || !(info.temporalCompression > 0)) {
    fail("no compression factors");
  }
  // Decoding drops these frames: a file may not claim more than making 1 + k x tc takes.
  const pad = info.lastWindowPad;
  if (
    pad !== undefined &&
    !(Array.isArray(pad) && pad.length === 2 && pad.every((n) => Number.isInteger(n) && n >= 0) &&
      pad[0] + pad[1] < info.temporalCompression)
  ) {
    fail(`metadata "last_window_pad" is ${JSON.stringify(pad)}`);
  }
  return { info, tokens };
}

/** A video's `window` metadata: null for a clip encoded whole ("whole", or none), else N. */
function windowOf(value: string | undefined, fail: (what: string) => never): number | null {
  if (value === undefined || value === WHOLE_CLIP) return null;
  const n = Number(value);
  return Number.isInteger(n) && n > 0 ? n : fail(`metadata "window" is ${JSON.stringify(value)}`);
}
