/**
 * Between what a browser draws and what the tokenizer takes: RGBA `ImageData` (a canvas's
 * getImageData, or a `VideoFrame` drawn on a canvas) and [-1, 1] channels-first tensors, with the
 * padding to the model's multiple that the `cosmos` CLI applies and the crop that undoes it.
 *
 * @example An image through a tokenizer and back onto a canvas
 * ```ts ignore
 * import { imageDataToTensor, loadTokenizer, tensorToImageData } from "./cosmos-webgpu.js";
 * const tok = await loadTokenizer({ encoder: "encoder.jit", decoder: "decoder.jit" });
 * const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
 * const { tensor, crop } = imageDataToTensor(pixels, { multiple: tok.spatialCompression });
 * const rec = await tok.decode((await tok.encode(tensor)).latent!);
 * canvas.getContext("2d").putImageData(tensorToImageData(rec, crop)[0], 0, 0);
 * ```
 * @module
 */

import type { HostTensor } from "../types.ts";
import type { RgbImage } from "../media/image.ts";
import { type Crop, cropImage, padImage, type PadMode } from "../media/pad.ts";
import { framesToTensor, tensorToFrames } from "../media/tensor.ts";
import { rgbaToRgb, rgbToRgba } from "../media/rgba.ts";

/** RGBA pixels, row by row, 4 bytes each: an `ImageData`, or anything shaped like one. */
export interface Pixels {
  width: number;
  height: number;
  data: Uint8ClampedArray | Uint8Array;
}

/** How `imageDataToTensor` pads. */
export interface PixelsToTensorOptions {
  /** Pad each side to a multiple of this (the tokenizer's `spatialCompression`); default 1. */
  multiple?: number;
  /** Mirrored pixels ("reflect", the default) or black ("zero"), as the CLI's `--pad`. */
  pad?: PadMode;
}

/** RGBA to RGB, after checking that the pixels are as many as the size says. */
export function pixelsToRgb(p: Pixels, what = "image"): RgbImage {
  const { width, height, data } = p;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new Error(`Cannot read ${what}: its size ${width}x${height} is not a positive size`);
  }
  if (data.length !== width * height * 4) {
    throw new Error(
      `Cannot read ${what}: a ${width}x${height} RGBA image holds ${
        width * height * 4
      } bytes, got ${data.length}`,
    );
  }
  return { width, height, data: rgbaToRgb(data, width * height) };
}

/** RGB to RGBA (opaque), as an `ImageData` where the runtime has one. */
export function rgbToPixels(img: RgbImage): Pixels {
  const data = rgbToRgba(img.data, new Uint8ClampedArray(img.width * img.height * 4));
  const Ctor = (globalThis as { ImageData?: new (d: Uint8ClampedArray, w: number) => Pixels })
    .ImageData;
  return Ctor ? new Ctor(data, img.width) : { width: img.width, height: img.height, data };
}

function padded(frames: Pixels[], options: PixelsToTensorOptions): { rgb: RgbImage[]; crop: Crop } {
  const multiple = options.multiple ?? 1;
  if (!Number.isInteger(multiple) || multiple < 1) {
    throw new Error(`multiple must be a positive integer, got ${multiple}`);
  }
  if (!frames.length) throw new Error("Cannot make a tensor of no frames");
  let crop: Crop | undefined;
  const rgb = frames.map((f, i) => {
    const out = padImage(
      pixelsToRgb(f, frames.length > 1 ? `frame ${i}` : "image"),
      multiple,
      options.pad,
    );
    crop ??= out.crop;
    return out.image;
  });
  return { rgb, crop: crop! };
}

/**
 * An image's pixels as the tokenizer's [1, 3, H, W] tensor in [-1, 1], padded to `multiple`;
 * `crop` is the region of the padded tensor that is the image (for `tensorToImageData`).
 */
export function imageDataToTensor(
  image: Pixels,
  options: PixelsToTensorOptions = {},
): { tensor: HostTensor; crop: Crop } {
  const { rgb, crop } = padded([image], options);
  return { tensor: framesToTensor(rgb, false), crop };
}

/** Frames of one size (a clip) as a video tokenizer's [1, 3, T, H, W] tensor, likewise. */
export function framesToVideoTensor(
  frames: Pixels[],
  options: PixelsToTensorOptions = {},
): { tensor: HostTensor; crop: Crop } {
  const { rgb, crop } = padded(frames, options);
  return { tensor: framesToTensor(rgb, true), crop };
}

/**
 * A decoded [1, 3, H, W] or [1, 3, T, H, W] tensor as RGBA frames (one per frame), rounded as
 * the reference rounds, cropped to `crop` where given.
 */
export function tensorToImageData(t: HostTensor, crop?: Crop): Pixels[] {
  if (t.shape.length !== 4 && t.shape.length !== 5 || t.shape[0] !== 1 || t.shape[1] !== 3) {
    throw new Error(
      `Cannot draw a tensor of shape [${
        t.shape.join(", ")
      }]: expected [1, 3, H, W] or [1, 3, T, H, W]`,
    );
  }
  return tensorToFrames(t).map((f) => rgbToPixels(crop ? cropImage(f, crop) : f));
}

/** What `videoFrameToImageData` needs of a `VideoFrame` (or an `ImageBitmap`). */
export interface DrawableFrame {
  readonly displayWidth?: number;
  readonly displayHeight?: number;
  readonly width?: number;
  readonly height?: number;
}

/**
 * A `VideoFrame` (or `ImageBitmap`, or a video element) as RGBA pixels, drawn on an
 * `OffscreenCanvas`; the frame is not closed.
 */
export function videoFrameToImageData(frame: DrawableFrame): Pixels {
  const width = frame.displayWidth ?? frame.width ?? 0;
  const height = frame.displayHeight ?? frame.height ?? 0;
  const Canvas = (globalThis as {
    OffscreenCanvas?: new (w: number, h: number) => {
      getContext(kind: "2d", o?: unknown): {
        drawImage(f: unknown, x: number, y: number): void;
        getImageData(x: number, y: number, w: number, h: number): Pixels;
      } | null;
    };
  }).OffscreenCanvas;
  if (!Canvas) throw new Error("Cannot draw a video frame: this runtime has no OffscreenCanvas");
  if (!(width > 0 && height > 0)) {
    throw new Error(`Cannot draw a video frame of size ${width}x${height}`);
  }
  const ctx = new Canvas(width, height).getContext("2d", { willReadFrequently: true });
  if (!ctx) throw new Error("Cannot draw a video frame: no 2D canvas context");
  ctx.drawImage(frame, 0, 0);
  return ctx.getImageData(0, 0, width, height);
}
