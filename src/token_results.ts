/**
 * What a tokenizer's calls return (latents, or FSQ indices and codes; stream chunks) and the
 * small rules around them: the stream options' check, and joining windows' results in time.
 * @module
 */

import type { HostTensor } from "./types.ts";
import { concatTime } from "./media/windows.ts";

/** What encode returns: the latent, or FSQ indices and codes. */
export interface EncodeResult {
  /** Continuous tokenizers: the latent [B, C, h, w] (video: [B, C, t, h, w]). */
  latent?: HostTensor;
  /** Discrete tokenizers: FSQ indices [B, h, w] (video: [B, t, h, w]) in [0, codebookSize). */
  indices?: HostTensor;
  /** Discrete tokenizers: the quantized code values [B, D, ...], each in [-1, 1]. */
  codes?: HostTensor;
}

/** One chunk of a stream: its tokens and the input frames it covers. */
export interface StreamChunk extends EncodeResult {
  /** Chunk number, from 0: the window (with the `window` option), else the latent frame. */
  window: number;
  /** Input frames [start, end) of the whole stream. */
  frames: [number, number];
}

/** How `encodeFrames` and `decodeFrames` step through a video. */
export interface StreamOptions {
  /**
   * Latent frames the network runs at once after latent frame 0 (default 1): more means fewer,
   * larger products (faster) and more memory per step; the results are the same.
   */
  latentFramesPerStep?: number;
  /**
   * `decodeFrames`: yield every step's pixels in one array that the next step overwrites (copy
   * what you keep) instead of a new array a step, so that a long clip makes no garbage per step
   * (the collector's timing then cannot move the process's peak memory). The CLI and the server
   * write each frame out before they ask for the next. Default false.
   */
  reuseOutput?: boolean;
}

export function checkPerStep(options: StreamOptions): number {
  const n = options?.latentFramesPerStep ?? 1;
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new Error(`Cannot stream: latentFramesPerStep must be a whole number >= 1, got ${n}`);
  }
  return n;
}

/** Joins per-window results along time. */
export function joinResults(parts: EncodeResult[]): EncodeResult {
  if (parts.length === 1) return parts[0];
  const out: EncodeResult = {};
  if (parts[0].latent) out.latent = concatTime(parts.map((p) => p.latent!));
  if (parts[0].indices) out.indices = concatTime(parts.map((p) => p.indices!), 1);
  if (parts[0].codes) out.codes = concatTime(parts.map((p) => p.codes!));
  return out;
}
