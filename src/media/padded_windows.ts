/**
 * A stream of video frames grouped into the tokenizer's windows, each padded in space to the
 * model's multiple and, when it is a short last window, in time to 1 + k x tc frames; the
 * bookkeeping to undo the padding travels beside each window, and `windowFrames` undoes it on
 * the decoded window. Shared by the CLI and the server.
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

/** The frames of a decoded window, with its time padding and space padding cropped off. */
export function windowFrames(
  decoded: HostTensor,
  meta: Pick<WindowMeta, "pad" | "crop">,
): RgbImage[] {
  const t = decoded.shape[2];
  const kept = meta.pad[0] || meta.pad[1]
    ? sliceTime(decoded, meta.pad[0], t - meta.pad[1])
    : decoded;
  return tensorToFrames(kept).map((f) => cropImage(f, meta.crop));
}
