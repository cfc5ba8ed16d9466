/**
 * Image files in and out, for the CLI and the server: PNG and JPEG through well-kept pure-JS npm
 * codecs (pngjs for PNG: every bit depth, palette, grey and interlaced files; jpeg-js for JPEG:
 * baseline and progressive, with memory limits for untrusted uploads), told apart by their
 * magic numbers, and their size read from the header before anything is decoded.
 * @module
 */

// Pinned here rather than in deno.json's import map: an install from a URL
// (`deno install -g -A -n cosmos <url>/src/cli/main.ts`) sees no deno.json.
// deno-lint-ignore no-import-prefix
import { PNG } from "npm:pngjs@7.0.0";
// deno-lint-ignore no-import-prefix
import jpeg from "npm:jpeg-js@0.4.4";
import { Buffer } from "node:buffer";

/** An RGB image or video frame: `height` rows of `width` pixels, 3 bytes each (HWC). */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** The image file formats read and written. */
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
