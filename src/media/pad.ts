/**
 * Spatial padding of frames to the multiple a model takes, split before and after as the
 * reference splits it, and the crop that undoes it.
 * @module
 */

import type { RgbImage } from "./image.ts";

/** Where an image sits inside its padded version. */
export interface Crop {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Padding before and after an extent so it becomes a multiple of `multiple`, split as the reference splits it. */
export function padAmounts(size: number, multiple: number): [number, number] {
  const pad = (multiple - (size % multiple)) % multiple;
  return [pad >> 1, pad - (pad >> 1)];
}

/** numpy's "reflect" index (the edge itself is not repeated), for any distance outside [0, n). */
function reflectIndex(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

/** How padding is filled: mirrored pixels, or black. */
export type PadMode = "reflect" | "zero";

/**
 * Pads a frame on all sides to multiples of `multiple`: by reflection (default), or with black
 * ("zero"), which is what the reference's pad_image_batch does. Returns the crop that undoes it.
 */
export function padImage(img: RgbImage, multiple: number, mode: PadMode = "reflect"): {
  image: RgbImage;
  crop: Crop;
} {
  const [top, bottom] = padAmounts(img.height, multiple);
  const [left, right] = padAmounts(img.width, multiple);
  const crop = { top, left, height: img.height, width: img.width };
  if (top + bottom + left + right === 0) return { image: img, crop };
  const width = img.width + left + right, height = img.height + top + bottom;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const inY = y - top;
    const rowInside = inY >= 0 && inY < img.height;
    if (!rowInside && mode === "zero") continue;
    const sy = reflectIndex(inY, img.height);
    for (let x = 0; x < width; x++) {
      const inX = x - left;
      if (mode === "zero" && (inX < 0 || inX >= img.width)) continue;
      const sx = reflectIndex(inX, img.width);
      const s = (sy * img.width + sx) * 3, d = (y * width + x) * 3;
      data[d] = img.data[s];
      data[d + 1] = img.data[s + 1];
      data[d + 2] = img.data[s + 2];
    }
  }
  return { image: { width, height, data }, crop };
}

/** The region `crop` of a frame. */
export function cropImage(img: RgbImage, crop: Crop): RgbImage {
  if (crop.top === 0 && crop.left === 0 && crop.width === img.width && crop.height === img.height) {
    return img;
  }
  const data = new Uint8Array(crop.width * crop.height * 3);
  for (let y = 0; y < crop.height; y++) {
    const s = ((crop.top + y) * img.width + crop.left) * 3;
    data.set(img.data.subarray(s, s + crop.width * 3), y * crop.width * 3);
  }
  return { width: crop.width, height: crop.height, data };
}
