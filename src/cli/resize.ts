/**
 * `--short-size N`: the reference CLI's resampling of an input before it is tokenized. Its
 * `resize_image` scales the short side to N and the long side to round(long x N / short), made
 * even by adding one, then calls mediapy's `resize_image`, which for 8-bit RGB is Pillow's
 * `Image.resize` with the Lanczos filter. That is written out here as Pillow computes it
 * (Resample.c), so the pixels are the reference's: a separable pass over rows then columns, the
 * filter's support widened by the scale when shrinking (antialiasing), coefficients normalised
 * per output pixel and rounded to 22-bit fixed point, sums rounded and clamped to 0..255.
 * @module
 */

import { DEFAULT_MAX_PIXELS, type RgbImage } from "../media/image.ts";

/** The size the reference's `resize_image` gives an image of `width` x `height`. */
export function shortSideSize(
  width: number,
  height: number,
  short: number,
): { width: number; height: number } {
  // Python's int(x + 0.5) of a positive x is Math.floor(x + 0.5); odd lengths get one more.
  const even = (n: number) => (n % 2 === 0 ? n : n + 1);
  if (height <= width) {
    return { height: short, width: even(Math.floor(width * short / height + 0.5)) };
  }
  return { width: short, height: even(Math.floor(height * short / width + 0.5)) };
}

const SUPPORT = 3;
const PRECISION_BITS = 32 - 8 - 2;

function sinc(x: number): number {
  if (x === 0) return 1;
  x *= Math.PI;
  return Math.sin(x) / x;
}

function lanczos(x: number): number {
  return -3 <= x && x < 3 ? sinc(x) * sinc(x / 3) : 0;
}

/** Per output index: the first input index, how many, and their fixed-point weights. */
interface Coefficients {
  first: Int32Array;
  count: Int32Array;
  size: number;
  weights: Int32Array;
}

/** Pillow's precompute_coeffs and normalize_coeffs_8bpc for one axis. */
function coefficients(inSize: number, outSize: number): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(1, scale);
  const support = SUPPORT * filterScale;
  const size = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize), count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * size);
  const k = new Float64Array(size);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) truncates toward zero, as Math.trunc does.
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let sum = 0;
    const ss = 1 / filterScale; // multiplied, as Pillow does: a division can round differently
    for (let x = 0; x < xmax; x++) {
      k[x] = lanczos((x + xmin - center + 0.5) * ss);
      sum += k[x];
    }
    for (let x = 0; x < xmax; x++) {
      const w = sum !== 0 ? k[x] / sum : k[x];
      weights[xx * size + x] = w < 0
        ? Math.trunc(-0.5 + w * (1 << PRECISION_BITS))
        : Math.trunc(0.5 + w * (1 << PRECISION_BITS));
    }
    first[xx] = xmin;
    count[xx] = xmax;
  }
  return { first, count, size, weights };
}

const clip8 = (v: number) => {
  const s = v >> PRECISION_BITS;
  return s < 0 ? 0 : s > 255 ? 255 : s;
};

/** One separable pass: along x (`horizontal`) or y, from `src` to a new image. */
function pass(src: RgbImage, outW: number, outH: number, horizontal: boolean): RgbImage {
  const c = coefficients(horizontal ? src.width : src.height, horizontal ? outW : outH);
  const data = new Uint8Array(outW * outH * 3);
  const half = 1 << (PRECISION_BITS - 1);
  for (let y = 0; y < outH; y++) {
    for (let x = 0; x < outW; x++) {
      const o = horizontal ? x : y;
      const first = c.first[o], n = c.count[o], base = o * c.size;
      let r = half, g = half, b = half;
      for (let i = 0; i < n; i++) {
        const w = c.weights[base + i];
        const at = horizontal ? (y * src.width + first + i) * 3 : ((first + i) * src.width + x) * 3;
        // Products stay below 2^31: 255 x 2^22 x the few taps that sum to about 1.
        r += src.data[at] * w;
        g += src.data[at + 1] * w;
        b += src.data[at + 2] * w;
      }
      const to = (y * outW + x) * 3;
      data[to] = clip8(r);
      data[to + 1] = clip8(g);
      data[to + 2] = clip8(b);
    }
  }
  return { width: outW, height: outH, data };
}

/**
 * `img` resized so its short side is `short`, as the reference CLI's `--short_size` does; a
 * result over the decoder's pixel limit is refused before it is allocated.
 */
export function resizeShortSide(img: RgbImage, short: number, source: string): RgbImage {
  const { width, height } = shortSideSize(img.width, img.height, short);
  if (width * height > DEFAULT_MAX_PIXELS) {
    throw new Error(
      `--short-size ${short} would make "${source}" ${width}x${height}, more than ${DEFAULT_MAX_PIXELS} pixels; give a smaller size`,
    );
  }
  let out = img;
  // Pillow skips a pass whose size does not change; rows first, then columns.
  if (width !== img.width) out = pass(out, width, out.height, true);
  if (height !== img.height) out = pass(out, width, height, false);
  return out;
}
