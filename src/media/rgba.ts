/**
 * RGB and RGBA pixel bytes converted each way: the codecs (image.ts) and the browser's
 * `ImageData` (browser/pixels.ts) hold RGBA, the tokenizer's frames RGB. No Deno or Node API
 * here: src/browser/ bundles this module for the browser.
 * @module
 */

/**
 * The first three bytes of each of `pixels` RGBA pixels (alpha dropped, as the reference does).
 * `rgba` must hold at least `pixels * 4` bytes; the callers check it against the image's size.
 */
export function rgbaToRgb(rgba: ArrayLike<number>, pixels: number): Uint8Array {
  const rgb = new Uint8Array(pixels * 3);
  for (let i = 0, j = 0; j < rgb.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return rgb;
}

/** RGB bytes written into `rgba` as opaque RGBA pixels (alpha 255); returns `rgba`. */
export function rgbToRgba<T extends Uint8Array | Uint8ClampedArray>(rgb: Uint8Array, rgba: T): T {
  for (let i = 0, j = 0; i < rgb.length; i += 3, j += 4) {
    rgba[j] = rgb[i];
    rgba[j + 1] = rgb[i + 1];
    rgba[j + 2] = rgb[i + 2];
    rgba[j + 3] = 255;
  }
  return rgba;
}
