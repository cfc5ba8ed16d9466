/**
 * Row bands, the part every backend shares: which rows each band of an op's output holds, and
 * which input rows it reads.
 *
 * A backend holds a tensor too large for where its kernels read (a WebGPU binding, capped by the
 * adapter; the WebAssembly heap, 4 GiB at most) as row bands, and runs an op over one once per
 * output band, on a window of its input rows:
 * - a convolution's window has the halo its taps read (zero padding only where the window
 *   reaches past the image), so every output value is computed from the same inputs as without
 *   bands;
 * - pooling, upsampling, the Haar transforms and per-row norms map rows to rows (boundaries on
 *   the rows where their blocks start);
 * - GroupNorm's statistics span a whole frame (each backend reduces them over the bands);
 * - attention and FSQ run at the lowest resolution only: a banded input is joined first.
 * Where the bands live (device buffers, JavaScript memory) and how a window is copied together
 * is the backend's `BandStore`; the plans and the per-band loops here are the same for all.
 * @module
 */

import type { ConvOptions, Tensor } from "./ops.ts";
import type { Resample } from "./geometry.ts";
import { fmtShape } from "../types.ts";

/** Index of the row axis: H of [B, C, H, W] and of [B, C, T, H, W]. */
export function rowAxis(shape: readonly number[]): number {
  return shape.length - 2;
}

/** `shape` with `rows` rows. */
export function withRows(shape: readonly number[], rows: number): number[] {
  const s = [...shape];
  s[rowAxis(s)] = rows;
  return s;
}

/** [planes (B x C), frames (T, or 1 for an image), rows, width] of an image or video shape. */
export function planeView(shape: readonly number[]): [number, number, number, number] {
  const video = shape.length === 5;
  return [shape[0] * shape[1], video ? shape[2] : 1, shape[shape.length - 2], shape.at(-1)!];
}

/** Rows [start, end) of an output band. */
export interface BandPlan {
  start: number;
  end: number;
}

/**
 * Output bands of `rows` rows: each as long as `fits(start, end)` allows, ending only where
 * `boundary(end)` holds (or at `rows`); `tooBig(start)` is the error when not even one row fits.
 */
export function planBands(
  rows: number,
  fits: (start: number, end: number) => boolean,
  boundary: (row: number) => boolean,
  tooBig: (start: number) => Error,
): BandPlan[] {
  const plans: BandPlan[] = [];
  for (let start = 0; start < rows;) {
    let end = start;
    // Grow while the next valid boundary still fits.
    for (let e = start + 1; e <= rows; e++) {
      if (e < rows && !boundary(e)) continue;
      if (!fits(start, e)) break;
      end = e;
    }
    if (end === start) throw tooBig(start);
    plans.push({ start, end });
    start = end;
  }
  return plans;
}

/** Where a backend's bands live and how they are read and made. */
export interface BandStore<T extends Tensor> {
  /** Bytes a window, band or whole tensor may hold. */
  readonly budget: number;
  /** Bytes of a tensor of `shape`. */
  bytes(shape: readonly number[]): number;
  /** Rows [r0, r1) of `t` as one tensor the kernels read, and whether it is new (to release). */
  window(t: T, r0: number, r1: number): { tensor: T; made: boolean };
  /** Frees a tensor `window` made. */
  releaseWindow(t: T): void;
  /** The bands `make` returns for each plan, as one tensor of `shape`. */
  assemble(
    shape: readonly number[],
    dtype: "f32" | "i32",
    plans: readonly BandPlan[],
    make: (p: BandPlan) => T,
  ): T;
  /** The error when a band from row `start` of `what` cannot fit the budget. */
  tooBig(what: string, start: number): Error;
  /**
   * Rows a convolution's output bands start on, where the store's convs take a padding of -1
   * (a window from half-way through an upsampled row): the WebAssembly Winograd kernel's 4-row
   * tiles, so that a band's sums are those of the whole frame, bit for bit. Without it bands
   * start anywhere but a fused upsample's windows on whole input rows.
   */
  convRowAlign?(g: ConvRows): number;
}

/** What the per-op routing below asks of a backend's bands. */
export interface BandRouting<T extends Tensor> {
  /** Whether a tensor of `shape` is over the budget (and so made or read in bands). */
  over(shape: readonly number[]): boolean;
  /** Whether `t` is held in bands. */
  isBanded(t: Tensor): boolean;
  /** `t` whole where the kernels read it (joined when banded), and whether that is new. */
  whole(t: T): { tensor: T; made: boolean };
  releaseWindow(t: T): void;
}

/** Whether an op on `inputs`, making `outShape`, runs in row bands. */
export function needsBands<T extends Tensor>(
  r: BandRouting<T>,
  outShape: readonly number[],
  ...inputs: (Tensor | undefined)[]
): boolean {
  return r.over(outShape) || inputs.some((t) => t && (r.isBanded(t) || r.over(t.shape)));
}

/**
 * `run` on `tensors` with the banded ones joined whole, for an op that has no banded form (it
 * runs at the lowest resolution only); the joined copies are freed after.
 */
export function withWhole<T extends Tensor, R>(
  r: BandRouting<T>,
  tensors: (T | undefined)[],
  run: (whole: (T | undefined)[]) => R,
): R {
  const joined = tensors.map((t) => t && r.isBanded(t) ? r.whole(t) : { tensor: t, made: false });
  try {
    return run(joined.map((j) => j.tensor));
  } finally {
    for (const j of joined) if (j.made) r.releaseWindow(j.tensor!);
  }
}

/** The geometry of a convolution that its row bands need (from geometry.ts's ConvGeometry). */
export interface ConvRows {
  hIn: number;
  sh: number;
  kh: number;
  kw: number;
  sw: number;
  kt: number;
  padLowH: number;
  padLowW: number;
  padHighW: number;
  up: number;
  outShape: number[];
}

/**
 * A convolution in output row bands. Output row r reads (virtual, after a fused upsample `up`)
 * input rows r * sh - padLow + [0, kh); each band's window holds the real rows those reach,
 * padded with zeros only past the image's edges, as the whole conv is. The residual's window is
 * the band's own rows; a carried context's, the input window's rows.
 */
export function bandedConv<T extends Tensor>(
  store: BandStore<T>,
  x: T,
  opts: ConvOptions,
  g: ConvRows,
  run: (x: T, opts: ConvOptions) => T,
): T {
  const { hIn, sh, kh, padLowH, up } = g;
  const hOut = g.outShape[rowAxis(g.outShape)];
  const virtualRows = (r0: number, r1: number) => [r0 * sh - padLowH, (r1 - 1) * sh - padLowH + kh];
  const windowRows = (r0: number, r1: number) => {
    const [v0, v1] = virtualRows(r0, r1);
    const c0 = Math.max(0, v0), c1 = Math.min(hIn * up, v1);
    return [Math.floor(c0 / up), Math.ceil(c1 / up)];
  };
  const inRow = store.bytes(withRows(x.shape, 1));
  const outRow = store.bytes(withRows(g.outShape, 1));
  const context = opts.context as T | undefined;
  const ctxRow = context ? store.bytes(withRows(context.shape, 1)) : 0;
  const fits = (r0: number, r1: number) => {
    const [a, b] = windowRows(r0, r1);
    const n = b - a;
    // A conv may join carried frames in front of its window (WebGPU's conv.ts): one binding.
    return n * (inRow + ctxRow) <= store.budget && (r1 - r0) * outRow <= store.budget;
  };
  // With a fused 2x upsample a window starts and ends on whole input rows: both ends of a
  // boundary's virtual rows must be even, unless the store's convs take a padding of -1 (a
  // window starting or ending half-way through an upsampled row), as those with an alignment do.
  const align = store.convRowAlign?.(g);
  const boundary = (every: number | undefined) => (r: number) => {
    if (every !== undefined) return r % every === 0;
    if (up === 1) return true;
    const [v0] = virtualRows(r, r + 1);
    const [, v1] = virtualRows(r - 1, r);
    return v0 % 2 === 0 && v1 % 2 === 0;
  };
  const what = `a conv's output ${fmtShape(g.outShape)}`;
  const tooBig = (start: number) => store.tooBig(what, start);
  let plans: BandPlan[];
  try {
    plans = planBands(hOut, fits, boundary(align), tooBig);
  } catch (err) {
    // Aligned bands are a preference: a budget they cannot meet takes rows one by one.
    if (align === undefined || align === 1) throw err;
    plans = planBands(hOut, fits, boundary(1), tooBig);
  }
  const residual = opts.residual as T | undefined;
  return store.assemble(g.outShape, "f32", plans, ({ start, end }) => {
    const [v0, v1] = virtualRows(start, end);
    const [a, b] = windowRows(start, end);
    const temps: T[] = [];
    const take = (t: T, r0: number, r1: number) => {
      const win = store.window(t, r0, r1);
      if (win.made) temps.push(win.tensor);
      return win.tensor;
    };
    try {
      return run(take(x, a, b), {
        ...opts,
        padLow: [a * up - v0, g.padLowW],
        padHigh: [v1 - b * up, g.padHighW],
        residual: residual && take(residual, start, end),
        context: context && take(context, a, b),
      });
    } finally {
      for (const t of temps) store.releaseWindow(t);
    }
  });
}

/** Input rows [a, b) that output rows [r0, r1) of a row-mapping op read. */
export type RowMap = (r0: number, r1: number) => [number, number];

/**
 * An op mapping output rows [r0, r1) to input rows `inRows(r0, r1)` (pooling, upsampling,
 * Haar, per-row norm), run per output band on its input window.
 */
export function bandedRowMap<T extends Tensor>(
  store: BandStore<T>,
  x: T,
  outShape: readonly number[],
  outDtype: "f32" | "i32",
  rows: { inRows: RowMap; boundary: (row: number) => boolean },
  run: (window: T, band: BandPlan) => T,
  what: string,
): T {
  const inRow = store.bytes(withRows(x.shape, 1));
  const outRow = store.bytes(withRows(outShape, 1));
  const fits = (r0: number, r1: number) => {
    const [a, b] = rows.inRows(r0, r1);
    return (b - a) * inRow <= store.budget && (r1 - r0) * outRow <= store.budget;
  };
  const plans = planBands(
    outShape[rowAxis(outShape)],
    fits,
    rows.boundary,
    (start) => store.tooBig(what, start),
  );
  return store.assemble(outShape, outDtype, plans, (p) => {
    const [a, b] = rows.inRows(p.start, p.end);
    const win = store.window(x, a, b);
    try {
      return run(win.tensor, p);
    } finally {
      if (win.made) store.releaseWindow(win.tensor);
    }
  });
}

/** Rows to rows, one for one (norms with given statistics, norms over channels). */
export const SAME_ROWS = {
  inRows: (r0: number, r1: number): [number, number] => [r0, r1],
  boundary: () => true,
};

/** The rows a resampler's output band reads from an input of `h` rows. */
export function resampleRows(
  op: Resample,
  h: number,
): { inRows: RowMap; boundary: (r: number) => boolean } {
  return {
    inRows: (r0, r1) =>
      op === "poolSpace"
        ? [2 * r0, Math.min(h, 2 * r1)]
        : op === "upSpace"
        ? [r0 / 2, r1 / 2]
        : [r0, r1],
    boundary: (r) => op !== "upSpace" || r % 2 === 0,
  };
}

/**
 * The rows an op folding blocks of `f` rows into one (`fold`: Haar, spaceToChannel) or
 * unfolding one into `f` reads from an input of `h` rows.
 */
export function blockRows(
  f: number,
  fold: boolean,
  h: number,
): { inRows: RowMap; boundary: (r: number) => boolean } {
  return {
    inRows: (r0, r1) => fold ? [r0 * f, Math.min(h, r1 * f)] : [r0 / f, r1 / f],
    boundary: (r) => fold || r % f === 0,
  };
}

/** The rows a Haar transform of `levels` levels reads from an input of `h` rows. */
export function haarRows(
  levels: number,
  forward: boolean,
  h: number,
): { inRows: RowMap; boundary: (r: number) => boolean } {
  return blockRows(2 ** levels, forward, h);
}
