/**
 * The oracles' tensors and the plain index arithmetic they share: a float64 tensor type, element
 * access and construction of rank-5 [B, C, T, H, W] tensors. Written without the library's own
 * tensor helpers, so that the oracles stay independent of the code they check.
 *
 * src/testing/oracle/ holds one oracle per op, in plain loops: the tests check every backend
 * against them, and the CPU benchmark times the WebAssembly kernels against the float32 ones,
 * which is why they ship under src/ rather than test/.
 * @module
 */

/** A float64 tensor. */
export interface RefTensor {
  data: Float64Array;
  shape: number[];
}

/** A tensor of either precision, as the oracles read it. */
export interface AnyTensor {
  data: ArrayLike<number>;
  shape: number[];
}

/** The product of a list of extents. */
export function prod(xs: readonly number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

/** Wraps host data (any precision) as a float64 tensor. */
export function refTensor(data: ArrayLike<number>, shape: number[]): RefTensor {
  if (data.length !== prod(shape)) {
    throw new Error(`${data.length} values do not fill shape [${shape}]`);
  }
  return { data: Float64Array.from(data), shape: [...shape] };
}

/** Element (b, c, t, h, w) of a rank-5 tensor, or 0 outside height/width (a zero pad). */
export function at5(x: RefTensor, b: number, c: number, t: number, h: number, w: number): number {
  const [, cs, ts, hs, ws] = x.shape;
  if (h >= hs || w >= ws) return 0;
  return x.data[(((b * cs + c) * ts + t) * hs + h) * ws + w];
}

/** Builds a rank-5 tensor from a function of its indices. */
export function build5(
  shape: number[],
  f: (b: number, c: number, t: number, h: number, w: number) => number,
): RefTensor {
  const [bs, cs, ts, hs, ws] = shape;
  const data = new Float64Array(prod(shape));
  let i = 0;
  for (let b = 0; b < bs; b++) {
    for (let c = 0; c < cs; c++) {
      for (let t = 0; t < ts; t++) {
        for (let h = 0; h < hs; h++) {
          for (let w = 0; w < ws; w++) data[i++] = f(b, c, t, h, w);
        }
      }
    }
  }
  return { data, shape: [...shape] };
}
