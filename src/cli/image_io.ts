/**
 * Images in and out of the CLI: PNG and JPEG through well-kept pure-JS npm codecs (pngjs for
 * PNG: every bit depth, palette, grey and interlaced files; jpeg-js for JPEG: baseline and
 * progressive, with memory limits for untrusted uploads), and the reference CLI's conversions
 * between 0..255 RGB pixels and the tokenizer's [-1, 1] channels-first tensors.
 * @module
 */

// Pinned here rather than in deno.json's import map: an install from a URL
// (`deno install -g -A -n cosmos <url>/src/cli/main.ts`) sees no deno.json.
// deno-lint-ignore no-import-prefix
import { PNG } from "npm:pngjs@7.0.0";
// deno-lint-ignore no-import-prefix
import jpeg from "npm:jpeg-js@0.4.4";
import { Buffer } from "node:buffer";
import type { HostTensor } from "../types.ts";

/** An RGB image or video frame: `height` rows of `width` pixels, 3 bytes each (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export type ImageFormat = "png" | "jpeg";

/** The image format a path's extension names, or null. */
export function imageFormatOf(path: string): ImageFormat | null {
  const ext = path.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  if (ext === "png") return "png";
  if (ext === "jpg" || ext === "jpeg") return "jpeg";
  return null;
}

/** The format the bytes start like (magic numbers), or null. */
export function sniffImage(bytes: Uint8Array): ImageFormat | null {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e) {
    return "png";
  }
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) {
    return "jpeg";
  }
  return null;
}

/** Limits for decoding untrusted images (the server); the CLI trusts its files. */
export interface DecodeLimits {
  /** Largest width x height accepted, checked from the header before decoding. */
  maxPixels?: number;
}

/** Width and height from a PNG's IHDR or a JPEG's SOF marker, without decoding. */
export function imageSize(bytes: Uint8Array): { width: number; height: number } | null {
  const format = sniffImage(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (format === "png") {
    if (bytes.length < 24) return null;
    return { width: view.getUint32(16), height: view.getUint32(20) };
  }
  if (format === "jpeg") {
    let i = 2;
    while (i + 9 < bytes.length) {
      if (bytes[i] !== 0xff) return null;
      const marker = bytes[i + 1];
      const length = view.getUint16(i + 2);
      // SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
      if (
        marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc
      ) {
        return { width: view.getUint16(i + 7), height: view.getUint16(i + 5) };
      }
      i += 2 + length;
    }
  }
  return null;
}

/** RGBA (or grey+alpha expanded to RGBA by the codec) to RGB, dropping alpha as the reference does. */
function dropAlpha(rgba: Uint8Array, width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < data.length; i += 3, j += 4) {
    data[i] = rgba[j];
    data[i + 1] = rgba[j + 1];
    data[i + 2] = rgba[j + 2];
  }
  return { width, height, data };
}

/**
 * Decodes a PNG or JPEG (told apart by their magic numbers, whatever the file is called) to
 * 8-bit RGB: grey images are spread to three channels and alpha is dropped, as the reference
 * CLI's read_image does.
 */
export function decodeImage(
  bytes: Uint8Array,
  source: string,
  limits: DecodeLimits = {},
): RgbImage {
  const format = sniffImage(bytes);
  if (!format) {
    throw new Error(`Cannot read image "${source}": not a PNG or JPEG file`);
  }
  const size = imageSize(bytes);
  if (limits.maxPixels !== undefined && size && size.width * size.height > limits.maxPixels) {
    throw new Error(
      `Cannot read image "${source}": ${size.width}x${size.height} is more than ${limits.maxPixels} pixels`,
    );
  }
  try {
    if (format === "png") {
      const png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      return dropAlpha(png.data, png.width, png.height);
    }
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: limits.maxPixels ? Math.ceil(limits.maxPixels / 1e6) : 250,
      maxMemoryUsageInMB: 2048,
    });
    return dropAlpha(img.data, img.width, img.height);
  } catch (err) {
    throw new Error(
      `Cannot read image "${source}": damaged ${format.toUpperCase()} (${(err as Error).message})`,
    );
  }
}

/** Encodes RGB pixels as PNG, or JPEG of the given quality (1-100). */
export function encodeImage(
  img: RgbImage,
  format: ImageFormat,
  quality = 95,
): Uint8Array<ArrayBuffer> {
  const rgba = new Uint8Array(img.width * img.height * 4);
  for (let i = 0, j = 0; i < img.data.length; i += 3, j += 4) {
    rgba[j] = img.data[i];
    rgba[j + 1] = img.data[i + 1];
    rgba[j + 2] = img.data[i + 2];
    rgba[j + 3] = 255;
  }
  if (format === "jpeg") {
    return new Uint8Array(
      jpeg.encode({ data: rgba, width: img.width, height: img.height }, quality).data,
    );
  }
  const png = new PNG({ width: img.width, height: img.height });
  png.data.set(rgba);
  return new Uint8Array(PNG.sync.write(png));
}

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

/**
 * Frames of one size to a tensor with values in [-1, 1]: one image gives [1, 3, H, W]; with
 * `video`, frames give [1, 3, T, H, W].
 */
export function framesToTensor(frames: RgbImage[], video: boolean): HostTensor {
  const { width, height } = frames[0];
  const plane = width * height, t = frames.length;
  const data = new Float32Array(3 * t * plane);
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
 * tensor2numpy does: (x + 1) / 2, clamped to [0, 1], times 255, plus 0.5, truncated.
 */
export function tensorToFrames(t: HostTensor): RgbImage[] {
  const video = t.shape.length === 5;
  const [height, width] = t.shape.slice(-2);
  const frames = video ? t.shape[2] : 1;
  const plane = width * height;
  const out: RgbImage[] = [];
  for (let ti = 0; ti < frames; ti++) {
    const data = new Uint8Array(plane * 3);
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
