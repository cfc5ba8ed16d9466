/**
 * The reference CLI's conversions between 0..255 RGB frames (HWC) and the tokenizer's [-1, 1]
 * channels-first tensors.
 * @module
 */

import type { HostTensor } from "../types.ts";
import type { RgbImage } from "./image.ts";

/**
 * Frames of one size to a tensor with values in [-1, 1]: one image gives [1, 3, H, W]; with
 * `video`, frames give [1, 3, T, H, W]. Written into `into` when it has the size (a stream's
 * reused array), else into a new array.
 */
export function framesToTensor(
  frames: RgbImage[],
  video: boolean,
  into?: Float32Array,
): HostTensor {
  const { width, height } = frames[0];
  const plane = width * height, t = frames.length;
  const data = into?.length === 3 * t * plane ? into : new Float32Array(3 * t * plane);
  frames.forEach((f, ti) => {
    if (f.width !== width || f.height !== height) {
      throw new Error(`Frame ${ti} is ${f.width}x${f.height}, not ${width}x${height}`);
    }
    for (let p = 0; p < plane; p++) {
      for (let c = 0; c < 3; c++) data[(c * t + ti) * plane + p] = f.data[p * 3 + c] / 127.5 - 1;
    }
  });
  return { data, shape: video ? [1, 3, t, height, width] : [1, 3, height, width] };
}

/**
 * A [1, 3, H, W] or [1, 3, T, H, W] tensor back to 0..255 frames the way the reference's
 * tensor2numpy does: (x + 1) / 2, clamped to [0, 1], times 255, plus 0.5, truncated. With
 * `pool`, frame i is written into `pool[i]` when that has the size (else a new array, kept
 * there for the next call): a stream's frames then reuse the same arrays step after step.
 */
export function tensorToFrames(t: HostTensor, pool?: Uint8Array[]): RgbImage[] {
  const video = t.shape.length === 5;
  const [height, width] = t.shape.slice(-2);
  const frames = video ? t.shape[2] : 1;
  const plane = width * height;
  const out: RgbImage[] = [];
  for (let ti = 0; ti < frames; ti++) {
    const data = pool?.[ti]?.length === plane * 3 ? pool[ti] : new Uint8Array(plane * 3);
    if (pool) pool[ti] = data;
    for (let c = 0; c < 3; c++) {
      const base = (c * frames + ti) * plane;
      for (let p = 0; p < plane; p++) {
        const v = Math.min(1, Math.max(0, (t.data[base + p] + 1) / 2));
        data[p * 3 + c] = Math.floor(v * 255 + 0.5);
      }
    }
    out.push({ width, height, data });
  }
  return out;
}
