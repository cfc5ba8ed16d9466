/**
 * Cutting videos into temporal windows and joining them back, on host tensors.
 *
 * The reference tokenizes a long video in independent windows of frames (17 in its CLI); each
 * window of 1 + k * tc frames becomes 1 + k latent frames, and decodes back on its own.
 * @module
 */

import { fmtShape, type HostTensor } from "../types.ts";

/** The reference CLI's default temporal window. */
export const DEFAULT_WINDOW = 17;

/** Frames [t0, t1) of a [B, C, T, ...] tensor (or [B, T, ...] with `timeAxis` 1). */
export function sliceTime(x: HostTensor, t0: number, t1: number, timeAxis = 2): HostTensor {
  const shape = x.shape;
  const outer = shape.slice(0, timeAxis).reduce((a, b) => a * b, 1);
  const t = shape[timeAxis];
  const inner = shape.slice(timeAxis + 1).reduce((a, b) => a * b, 1);
  const n = t1 - t0;
  const Ctor = x.data.constructor as Float32ArrayConstructor | Int32ArrayConstructor;
  const data = new Ctor(outer * n * inner);
  for (let o = 0; o < outer; o++) {
    data.set(x.data.subarray((o * t + t0) * inner, (o * t + t1) * inner), o * n * inner);
  }
  return { data, shape: [...shape.slice(0, timeAxis), n, ...shape.slice(timeAxis + 1)] };
}

/** Concatenates tensors along the time axis. */
export function concatTime(parts: HostTensor[], timeAxis = 2): HostTensor {
  if (parts.length === 1) return parts[0];
  const first = parts[0].shape;
  const outer = first.slice(0, timeAxis).reduce((a, b) => a * b, 1);
  const inner = first.slice(timeAxis + 1).reduce((a, b) => a * b, 1);
  const total = parts.reduce((a, p) => a + p.shape[timeAxis], 0);
  const Ctor = parts[0].data.constructor as Float32ArrayConstructor | Int32ArrayConstructor;
  const data = new Ctor(outer * total * inner);
  let t0 = 0;
  for (const p of parts) {
    const n = p.shape[timeAxis];
    for (let o = 0; o < outer; o++) {
      data.set(
        p.data.subarray(o * n * inner, (o + 1) * n * inner),
        (o * total + t0) * inner,
      );
    }
    t0 += n;
  }
  return { data, shape: [...first.slice(0, timeAxis), total, ...first.slice(timeAxis + 1)] };
}

/** Checks a window length: 1 + k * tc frames. */
export function checkWindow(window: number, tc: number): void {
  if (!Number.isInteger(window) || window < 1 || (window - 1) % tc !== 0) {
    throw new Error(
      `Invalid temporal window ${window}: it must be 1 + k x ${tc} frames (e.g. ${1 + 2 * tc})`,
    );
  }
}

/**
 * Frame ranges of the windows of a `frames`-long video. Every window must hold 1 + k * tc frames:
 * full windows do by construction, and a shorter last one must too, else this throws with the
 * nearest lengths that work (the documented policy: no implicit padding).
 */
export function windowRanges(frames: number, window: number, tc: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let t0 = 0; t0 < frames; t0 += window) ranges.push([t0, Math.min(frames, t0 + window)]);
  const [a, b] = ranges[ranges.length - 1];
  const last = b - a;
  if ((last - 1) % tc !== 0) {
    const shorter = frames - ((last - 1) % tc);
    if (ranges.length === 1) {
      throw new Error(
        `Cannot encode ${frames} frames: this tokenizer takes 1 + k x ${tc} frames (e.g. ${shorter} or ${
          shorter + tc
        })`,
      );
    }
    throw new Error(
      `Cannot encode ${frames} frames: windows of ${window} leave a last window of ${last} frames, and every window needs 1 + k x ${tc} frames (use ${shorter} or ${
        shorter + tc
      } frames, or another window length)`,
    );
  }
  return ranges;
}

/** Checks that parts share every extent but time, for messages before joining. */
export function checkSameFrameShape(a: HostTensor, b: HostTensor, timeAxis = 2): void {
  const sa = a.shape.filter((_, i) => i !== timeAxis),
    sb = b.shape.filter((_, i) => i !== timeAxis);
  if (fmtShape(sa) !== fmtShape(sb)) {
    throw new Error(`Frames of shape ${fmtShape(b.shape)} do not continue ${fmtShape(a.shape)}`);
  }
}
