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
import { inflateSync } from "node:zlib";
import { rgbaToRgb, rgbToRgba } from "./rgba.ts";
import { isJpeg, isPng, jpegFrames, type PngHeader, readPngHeader } from "./image_header.ts";

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
  if (isPng(bytes)) return "png";
  if (isJpeg(bytes)) return "jpeg";
  return null;
}

/** Limits for decoding an image: the server's come from its options, the CLI's are the defaults. */
export interface DecodeLimits {
  /** Largest width and largest height, each (default: no limit of its own). */
  maxSide?: number;
  /** Largest width x height (default DEFAULT_MAX_PIXELS). */
  maxPixels?: number;
}

/**
 * The most pixels an image may have when no limit is given: 250 megapixels, whose [-1, 1]
 * tensor alone is 3 GB, far past what a tokenizer runs on at once.
 */
export const DEFAULT_MAX_PIXELS = 250_000_000;

/** An image larger than the limits it is read under (a server answers 422). */
export class ImageLimitError extends Error {
  constructor(
    message: string,
    /** The size its header gives, when it was read from the header. */
    readonly size: { width: number; height: number } | null,
  ) {
    super(message);
  }
}

function checkLimits(
  width: number,
  height: number,
  source: string,
  limits: DecodeLimits,
): void {
  const maxPixels = limits.maxPixels ?? DEFAULT_MAX_PIXELS;
  const side = limits.maxSide ?? Infinity;
  if (width > side || height > side) {
    throw new ImageLimitError(
      `Cannot read image "${source}": ${width}x${height} is larger than ${side} pixels a side`,
      { width, height },
    );
  }
  if (width * height > maxPixels) {
    throw new ImageLimitError(
      `Cannot read image "${source}": ${width}x${height} is more than ${maxPixels} pixels`,
      { width, height },
    );
  }
}

function damaged(source: string, format: ImageFormat, why: string): Error {
  return new Error(`Cannot read image "${source}": damaged ${format.toUpperCase()} (${why})`);
}

/**
 * The size a PNG or JPEG will decode to, checked against `limits` before anything is decoded:
 * read from a PNG's one IHDR after walking its chunks as pngjs does (image_header.ts), or from
 * a JPEG's frame header (null when the marker walk finds none: jpeg-js's own limits then
 * decide). Throws ImageLimitError when it is too large, an Error for damage the walk sees.
 */
export function readImageSize(
  bytes: Uint8Array,
  source: string,
  limits: DecodeLimits = {},
): { format: ImageFormat; width: number; height: number } | null {
  const format = sniffImage(bytes);
  if (!format) throw new Error(`Cannot read image "${source}": not a PNG or JPEG file`);
  if (format === "png") {
    let header: PngHeader;
    try {
      header = readPngHeader(bytes);
    } catch (err) {
      throw damaged(source, format, (err as Error).message);
    }
    checkLimits(header.width, header.height, source, limits);
    return { format, width: header.width, height: header.height };
  }
  const frames = jpegFrames(bytes);
  for (const f of frames) checkLimits(f.width, f.height, source, limits);
  if (frames.length > 1) {
    throw damaged(source, format, `it has ${frames.length} frame headers (SOF); a JPEG has one`);
  }
  return frames.length ? { format, ...frames[0] } : null;
}

/** The pixels of a PNG whose header passed, decoded with every allocation bounded by it. */
function decodePng(
  bytes: Uint8Array,
  header: PngHeader,
): { width: number; height: number; data: Uint8Array } {
  // A few KB of zlib can claim gigabytes: pngjs inflates an interlaced file's data with no
  // output limit, and stops a plain one at its size with an assertion no one can read. Inflate
  // it here first, bounded by what the header's scanlines hold, so either is refused plainly.
  const idat = Buffer.concat(header.idat.map(([at, n]) => bytes.subarray(at, at + n)));
  try {
    inflateSync(idat, { maxOutputLength: Math.max(1, header.inflatedBytes) });
  } catch (err) {
    if (err instanceof RangeError) {
      throw new Error(
        `its pixel data inflates to more than the ${header.inflatedBytes} bytes its IHDR holds`,
      );
    }
    throw err;
  }
  return PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

/**
 * jpeg-js's memory limit for `pixels`: its blocks (4 bytes per sample per component), sample
 * lines and RGBA output come to about 24 bytes a pixel for 4 full-size components; the rest is
 * for tables and MCU rounding on small images. Never more than 2 GiB.
 */
function jpegMemoryMB(pixels: number): number {
  return Math.min(2048, Math.ceil((pixels * 32) / 2 ** 20) + 64);
}

/**
 * Decodes a PNG or JPEG (told apart by their magic numbers, whatever the file is called) to
 * 8-bit RGB: grey images are spread to three channels and alpha is dropped, as the reference
 * CLI's read_image does. The size is checked against `limits` on what the decoder will
 * produce, before it allocates: a PNG must have one IHDR and its chunks in order; a JPEG's
 * frame headers are checked, and jpeg-js runs with a resolution and memory limit of its own,
 * so a frame the walk did not see is refused as it is read.
 */
export function decodeImage(
  bytes: Uint8Array,
  source: string,
  limits: DecodeLimits = {},
): RgbImage {
  const size = readImageSize(bytes, source, limits);
  const format = sniffImage(bytes)!;
  const maxPixels = Math.min(
    limits.maxPixels ?? DEFAULT_MAX_PIXELS,
    (limits.maxSide ?? Infinity) ** 2,
  );
  let img;
  try {
    if (format === "png") {
      img = decodePng(bytes, readPngHeader(bytes));
    } else {
      img = jpeg.decode(bytes, {
        useTArray: true,
        formatAsRGBA: true,
        maxResolutionInMP: maxPixels / 1e6,
        maxMemoryUsageInMB: jpegMemoryMB(maxPixels),
      });
    }
  } catch (err) {
    const msg = (err as Error).message;
    if (/^max(ResolutionInMP|MemoryUsageInMB) limit exceeded/.test(msg)) {
      throw new ImageLimitError(
        `Cannot read image "${source}": its frame is larger than ${maxPixels} pixels (${msg})`,
        null,
      );
    }
    throw damaged(source, format, msg);
  }
  if (size && (img.width !== size.width || img.height !== size.height)) {
    throw damaged(
      source,
      format,
      `the decoder read ${img.width}x${img.height}, its header says ${size.width}x${size.height}`,
    );
  }
  checkLimits(img.width, img.height, source, limits);
  // The codecs give RGBA (grey and grey+alpha expanded to it): alpha is dropped, as the
  // reference does.
  return {
    width: img.width,
    height: img.height,
    data: rgbaToRgb(img.data, img.width * img.height),
  };
}

/** Encodes RGB pixels as an RGB PNG (colour type 2), or JPEG of the given quality (1-100). */
export function encodeImage(
  img: RgbImage,
  format: ImageFormat,
  quality = 95,
): Uint8Array<ArrayBuffer> {
  const rgba = rgbToRgba(img.data, new Uint8Array(img.width * img.height * 4));
  if (format === "jpeg") {
    return new Uint8Array(
      jpeg.encode({ data: rgba, width: img.width, height: img.height }, quality).data,
    );
  }
  const png = new PNG({ width: img.width, height: img.height });
  png.data.set(rgba);
  // Colour type 2 (RGB, 8 bits): the pixels have no alpha, so none is written (pngjs's default,
  // 6, would add an opaque alpha channel: a third more raw bytes, and a file that says RGBA).
  return new Uint8Array(PNG.sync.write(png, { colorType: 2 }));
}
