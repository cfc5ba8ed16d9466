/**
 * Video frames on their way into a tokenizer, padded to what it takes, with the bookkeeping to
 * undo the padding. Two ways, shared by the CLI and the server:
 *
 * - `paddedFrames`: the whole clip, frame by frame (for a tokenizer without the `window`
 *   option, which streams the clip exactly): each frame padded in space, and at the end the
 *   last frame repeated until the clip holds 1 + k x tc frames.
 * - `paddedWindows`: the reference CLI's independent windows of `window` frames, each padded in
 *   space and, when it is a short last window, in time (split before and after).
 *
 * `windowFrames` crops the decoded frames back.
 * @module
 */

import type { HostTensor } from "../types.ts";
import type { RgbImage } from "./image.ts";
import { type Crop, cropImage, padImage, type PadMode } from "./pad.ts";
import { framesToTensor, tensorToFrames } from "./tensor.ts";
import { sliceTime } from "./windows.ts";

/** What paddedWindows needs to know of the tokenizer (a Tokenizer has all three). */
export interface WindowGeometry {
  /** Frames per window. */
  streamWindow: number;
  /** Frames per latent frame: a window holds 1 + k x this many. */
  temporalCompression: number;
  /** Pixels per latent pixel: frames are padded to multiples of it. */
  spatialCompression: number;
}

/** One window's bookkeeping: what to drop and crop once it is decoded, and what it held. */
export interface WindowMeta {
  /** The original frames of the window (kept for metrics only when asked). */
  originals: RgbImage[];
  /** Frames added before and after (only the last window may have any). */
  pad: [number, number];
  crop: Crop;
  /** Original frames in the window. */
  count: number;
}

/**
 * Groups frames into the tokenizer's windows of `window` frames, each padded in space to the
 * model's multiple; a short last window is padded in time to 1 + k x tc frames by repeating its
 * first and last frames (the reference's edge padding, split before and after as it splits it).
 * Each window's bookkeeping goes into `queue` before the window is yielded.
 */
export async function* paddedWindows(
  frames: AsyncIterable<RgbImage>,
  tok: WindowGeometry,
  padMode: PadMode,
  queue: WindowMeta[],
  keepOriginals: boolean,
  timing: { readMs: number },
): AsyncGenerator<HostTensor> {
  const window = tok.streamWindow, tc = tok.temporalCompression;
  let padded: RgbImage[] = [], originals: RgbImage[] = [];
  let crop: Crop | null = null;
  let t0 = performance.now();
  const emit = (pad: [number, number]) => {
    const count = padded.length;
    const before = Array(pad[0]).fill(padded[0]);
    const after = Array(pad[1]).fill(padded[padded.length - 1]);
    queue.push({ originals: keepOriginals ? originals : [], pad, crop: crop!, count });
    const tensor = framesToTensor([...before, ...padded, ...after], true);
    padded = [];
    originals = [];
    return tensor;
  };
  for await (const frame of frames) {
    const p = padImage(frame, tok.spatialCompression, padMode);
    crop ??= p.crop;
    padded.push(p.image);
    if (keepOriginals) originals.push(frame);
    if (padded.length === window) {
      const tensor = emit([0, 0]);
      timing.readMs += performance.now() - t0;
      yield tensor;
      t0 = performance.now();
    }
  }
  if (padded.length) {
    const extra = (tc - ((padded.length - 1) % tc)) % tc;
    const tensor = emit([extra >> 1, extra - (extra >> 1)]);
    timing.readMs += performance.now() - t0;
    yield tensor;
  }
}

/** What `paddedFrames` needs to know of the tokenizer (a Tokenizer has both). */
export interface FrameGeometry {
  /** Frames per latent frame: the clip is made 1 + k x this many. */
  temporalCompression: number;
  /** Pixels per latent pixel: frames are padded to multiples of it. */
  spatialCompression: number;
}

/** The bookkeeping of a clip streamed by `paddedFrames`, filled in as its frames pass. */
export interface ClipMeta {
  /** Original frames read so far (all of them once the stream has ended). */
  count: number;
  /** Copies of the last frame added at the end (known once the stream has ended). */
  endPad: number;
  /** Where the original pixels sit in the padded frames (known from the first frame). */
  crop: Crop | null;
  /**
   * The original frames read and not yet taken (shift them as their reconstructions come out;
   * only when asked for): a causal stream holds only the frames still in flight.
   */
  originals: RgbImage[];
  /** Whether the source has ended (and `endPad` frames were added). */
  ended: boolean;
}

/** A fresh ClipMeta for `paddedFrames` to fill in. */
export function clipMeta(): ClipMeta {
  return { count: 0, endPad: 0, crop: null, originals: [], ended: false };
}

/**
 * The frames of a whole clip one by one, as [1, 3, H, W] tensors in [-1, 1] padded in space to
 * the model's multiple, for a tokenizer's exact stream (`encodeFrames`). The clip must hold
 * 1 + k x tc frames; it is padded only at its end, by repeating its last frame, because a
 * streamed source (ffmpeg decoding a file) tells its frame count only when it ends: frames
 * added at the start would have to be known before the first one goes in. `meta` records the
 * count, the padding and the crop. Every frame is written into the same tensor, valid until the
 * next frame is asked for (the engine copies or uploads each before it takes the next).
 */
export async function* paddedFrames(
  frames: AsyncIterable<RgbImage>,
  tok: FrameGeometry,
  padMode: PadMode,
  meta: ClipMeta,
  keepOriginals: boolean,
  timing: { readMs: number },
): AsyncGenerator<HostTensor> {
  const tc = tok.temporalCompression;
  let last: HostTensor | null = null;
  let t0 = performance.now();
  for await (const frame of frames) {
    const p = padImage(frame, tok.spatialCompression, padMode);
    meta.crop ??= p.crop;
    meta.count++;
    if (keepOriginals) meta.originals.push(frame);
    last = framesToTensor([p.image], false, last?.data as Float32Array | undefined);
    timing.readMs += performance.now() - t0;
    yield last;
    t0 = performance.now();
  }
  timing.readMs += performance.now() - t0;
  meta.endPad = meta.count ? (tc - ((meta.count - 1) % tc)) % tc : 0;
  meta.ended = true;
  for (let i = 0; i < meta.endPad; i++) yield last!;
}

/**
 * The frames of a decoded window, with its time padding and space padding cropped off; with
 * `pool`, in arrays reused from call to call (tensorToFrames) where no crop copies them.
 */
export function windowFrames(
  decoded: HostTensor,
  meta: Pick<WindowMeta, "pad" | "crop">,
  pool?: Uint8Array[],
): RgbImage[] {
  const t = decoded.shape[2];
  const kept = meta.pad[0] || meta.pad[1]
    ? sliceTime(decoded, meta.pad[0], t - meta.pad[1])
    : decoded;
  return tensorToFrames(kept, pool).map((f) => cropImage(f, meta.crop));
}
