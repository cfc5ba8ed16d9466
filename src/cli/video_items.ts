/**
 * The video pipelines behind encode, decode and autoencode: a clip streamed through the
 * tokenizer either whole, as one exact causal stream a latent frame at a time (`encodeFrames` /
 * `decodeFrames`, the default), or in the reference CLI's independent windows of `tok.window`
 * frames. Frames come from ffmpeg as they are needed and go out as soon as they are
 * reconstructed; only the frames in flight are held. The per-item entry points in `media.ts`
 * write the files and reports around them.
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";
import type { HostTensor } from "../types.ts";
import { sliceTime } from "../media/windows.ts";
import type { RgbImage } from "../media/image.ts";
import type { Crop, PadMode } from "../media/pad.ts";
import { readVideoFrames, type VideoInfo } from "../media/video.ts";
import {
  clipMeta,
  paddedFrames,
  paddedWindows,
  windowFrames,
  type WindowMeta,
} from "../media/padded_windows.ts";
import type { TokenInfo } from "./tokens.ts";

/** The tokens of an encoder's result: the latent (continuous) or the indices (discrete). */
export const tokensOf = (r: { latent?: HostTensor; indices?: HostTensor }) =>
  (r.latent ?? r.indices)!;

/** Receives each chunk's tokens (a latent frame, or a window) as it comes out, in order. */
export type OnTokens = (tokens: HostTensor) => Promise<void>;

/** A video's bookkeeping once its tokens are all out. */
export interface EncodedVideo {
  /**
   * The tokens of each chunk, in order, when no `onTokens` took them (the dataset tool keeps a
   * clip's tokens); else empty.
   */
  parts: HostTensor[];
  /** Original frames. */
  frames: number;
  /** Frames added [before, after] in the last window (a whole clip: [0, n] at its end). */
  pad: [number, number];
  crop: Crop;
  encodeMs: number;
}

/**
 * Encodes a video as one exact causal stream: frames go into `encodeFrames` as ffmpeg decodes
 * them and each latent frame comes out as soon as its frames are in; `onFrames` counts the
 * original frames done.
 */
export async function encodeWhole(
  tok: Tokenizer,
  input: string,
  info: VideoInfo,
  pad: PadMode,
  onFrames: (n: number) => void,
  onTokens?: OnTokens,
): Promise<EncodedVideo> {
  const parts: HostTensor[] = [];
  const take = onTokens ?? ((t: HostTensor) => Promise.resolve(void parts.push(t)));
  const meta = clipMeta();
  const timing = { readMs: 0 };
  // Each frame is converted before the next is read: one array for them all.
  const frames = readVideoFrames(input, info, Infinity, true);
  const clip = paddedFrames(frames, tok, pad, meta, false, timing);
  let waited = 0, t0 = performance.now();
  for await (const chunk of tok.encodeFrames(clip)) {
    waited += performance.now() - t0;
    await take(tokensOf(chunk));
    // Input frames past the original count are the copies of the last one added at the end.
    const [first, end] = chunk.frames;
    onFrames(Math.max(0, Math.min(end, meta.count) - Math.min(first, meta.count)));
    t0 = performance.now();
  }
  return {
    parts,
    frames: meta.count,
    pad: [0, meta.endPad],
    crop: meta.crop!,
    encodeMs: waited - timing.readMs,
  };
}

/** Encodes a video in the reference CLI's independent windows of `tok.window` frames. */
export async function encodeWindows(
  tok: Tokenizer,
  input: string,
  info: VideoInfo,
  pad: PadMode,
  onFrames: (n: number) => void,
  onTokens?: OnTokens,
): Promise<EncodedVideo> {
  const parts: HostTensor[] = [];
  const take = onTokens ?? ((t: HostTensor) => Promise.resolve(void parts.push(t)));
  const queue: WindowMeta[] = [];
  const timing = { readMs: 0 };
  const clips = paddedWindows(readVideoFrames(input, info), tok, pad, queue, false, timing);
  let frames = 0, lastPad: [number, number] = [0, 0], crop: Crop | null = null;
  let waited = 0, t0 = performance.now();
  for await (const chunk of tok.encodeStream(clips)) {
    waited += performance.now() - t0;
    const meta = queue.shift()!;
    await take(tokensOf(chunk));
    frames += meta.count;
    lastPad = meta.pad;
    crop = meta.crop;
    onFrames(meta.count);
    t0 = performance.now();
  }
  return { parts, frames, pad: lastPad, crop: crop!, encodeMs: waited - timing.readMs };
}

/**
 * A video's latent frames read as they are asked for: a token file's (token_reader.ts), never
 * whole, or a tensor in memory.
 */
export interface LatentFrames {
  /** Latent frames in all (T). */
  readonly total: number;
  /**
   * Latent frames [t0, t1), as the tokens' tensor sliced along time; with `reuse`, possibly in
   * the array an earlier call returned (the caller is done with it by then).
   */
  frames(t0: number, t1: number, reuse?: boolean): Promise<HostTensor>;
}

/** A tensor in memory as LatentFrames. */
function tensorFrames(tokens: HostTensor, axis: number): LatentFrames {
  return {
    total: tokens.shape[axis],
    frames: (t0, t1) => Promise.resolve(sliceTime(tokens, t0, t1, axis)),
  };
}

/**
 * The frames of a token file's video, cropped, its time padding dropped, as they are decoded:
 * a clip encoded whole goes through `decodeFrames` one latent frame at a time (exactly the
 * whole latent, memory flat in its length), each read only when the engine asks for it;
 * windows are read and decoded one by one, each on its own.
 */
export async function* decodedVideo(
  tok: Tokenizer,
  info: TokenInfo,
  tokens: HostTensor | LatentFrames,
  timing: { decodeMs: number },
): AsyncGenerator<RgbImage> {
  const axis = info.discrete ? 1 : 2;
  const source = "data" in tokens ? tensorFrames(tokens, axis) : tokens;
  const total = source.total;
  const tc = info.temporalCompression;
  const [before, after] = info.lastWindowPad ?? [0, 0];
  const crop = info.crop;
  if (info.window == null) {
    // Pixel frames of the whole latent, less the copies of the last frame added at the end.
    const keep = 1 + (total - 1) * tc - after;
    let n = 0, t0 = performance.now();
    // The caller writes each frame out before it asks for the next: the steps' pixels and
    // frames reuse the same arrays (no garbage per step).
    const pool: Uint8Array[] = [];
    // A tensor in memory goes in whole, as before; a file one latent frame at a time, read
    // when the engine asks for it.
    const pieces = "data" in tokens ? [tokens] : latentFrames(source);
    for await (const decoded of tok.decodeFrames(pieces, { reuseOutput: true })) {
      timing.decodeMs += performance.now() - t0;
      for (const frame of windowFrames(decoded, { pad: [0, 0], crop }, pool)) {
        if (n++ < keep) yield frame;
      }
      t0 = performance.now();
    }
    return;
  }
  // Latent frames per window: each window of 1 + k x tc frames became 1 + k latent frames.
  const latentWindow = 1 + (info.window - 1) / tc;
  for (let t = 0; t < total; t += latentWindow) {
    const end = Math.min(total, t + latentWindow);
    // Decoded before the next window is read: its array can be reused.
    const window = await source.frames(t, end, true);
    const t0 = performance.now();
    const decoded = await tok.decode(window);
    timing.decodeMs += performance.now() - t0;
    const pad: [number, number] = end === total ? [before, after] : [0, 0];
    yield* windowFrames(decoded, { pad, crop });
  }
}

/**
 * Each latent frame of `source`, read as it is asked for, in one reused array: decodeFrames
 * copies each piece into its step before it asks for the next.
 */
async function* latentFrames(source: LatentFrames): AsyncGenerator<HostTensor> {
  for (let t = 0; t < source.total; t++) yield await source.frames(t, t + 1, true);
}

/** What a video's reconstruction reports. */
export interface Reconstruction {
  frames: number;
  /** Shape of the whole video's tokens. */
  tokens: number[];
  encodeMs: number;
  decodeMs: number;
}

/** Receives each original frame with its reconstruction, in order. */
export type OnFrame = (original: RgbImage, reconstruction: RgbImage) => Promise<void>;

/**
 * Autoencodes a video as one exact causal stream: frames go into `encodeFrames` as ffmpeg
 * decodes them, each latent frame into `decodeFrames` as soon as it is out, and each
 * reconstructed frame to `onFrame`; only the frames in flight are held.
 */
export async function reconstructWhole(
  tok: Tokenizer,
  input: string,
  info: VideoInfo,
  pad: PadMode,
  onFrame: OnFrame,
): Promise<Reconstruction> {
  const meta = clipMeta();
  const timing = { readMs: 0 };
  const clip = paddedFrames(readVideoFrames(input, info), tok, pad, meta, true, timing);
  let latentFrames = 0, shape: number[] = [], encodeWait = 0;
  const tokens = async function* () {
    let t0 = performance.now();
    for await (const chunk of tok.encodeFrames(clip)) {
      encodeWait += performance.now() - t0;
      const t = tokensOf(chunk);
      shape = t.shape;
      latentFrames++;
      yield t;
      t0 = performance.now();
    }
  };
  let frames = 0, waited = 0, t0 = performance.now();
  // `onFrame` is done with each frame before the next: the steps reuse the same arrays.
  const pool: Uint8Array[] = [];
  for await (const decoded of tok.decodeFrames(tokens(), { reuseOutput: true })) {
    waited += performance.now() - t0;
    for (const rec of windowFrames(decoded, { pad: [0, 0], crop: meta.crop! }, pool)) {
      // Frames come out in order, each after its input went in; once the originals are all
      // taken, what is left are the copies of the last frame added at the end.
      const original = meta.originals.shift();
      if (!original) continue;
      await onFrame(original, rec);
      frames++;
    }
    t0 = performance.now();
  }
  const axis = tok.discrete ? 1 : 2;
  shape = [...shape];
  shape[axis] = latentFrames;
  return {
    frames,
    tokens: shape,
    encodeMs: encodeWait - timing.readMs,
    decodeMs: waited - encodeWait,
  };
}

/**
 * Autoencodes a video in the reference CLI's independent windows of `tok.window` frames: each
 * window encoded and decoded on its own as soon as its frames are in.
 */
export async function reconstructWindows(
  tok: Tokenizer,
  input: string,
  info: VideoInfo,
  pad: PadMode,
  onFrame: OnFrame,
): Promise<Reconstruction> {
  const queue: WindowMeta[] = [];
  const timing = { readMs: 0 };
  const tokenShapes: number[][] = [];
  const clips = paddedWindows(readVideoFrames(input, info), tok, pad, queue, true, timing);
  let frames = 0, waited = 0, decodeMs = 0, t0 = performance.now();
  for await (const chunk of tok.encodeStream(clips)) {
    waited += performance.now() - t0;
    const meta = queue.shift()!;
    const tokens = tokensOf(chunk);
    tokenShapes.push(tokens.shape);
    const t1 = performance.now();
    const decoded = await tok.decode(tokens);
    decodeMs += performance.now() - t1;
    const rec = windowFrames(decoded, meta);
    for (let i = 0; i < rec.length; i++) await onFrame(meta.originals[i], rec[i]);
    frames += rec.length;
    t0 = performance.now();
  }
  // The whole video's token shape: windows joined along time.
  const axis = tok.discrete ? 1 : 2;
  const shape = [...tokenShapes[0]];
  shape[axis] = tokenShapes.reduce((a, t) => a + t[axis], 0);
  return { frames, tokens: shape, encodeMs: waited - timing.readMs, decodeMs };
}
