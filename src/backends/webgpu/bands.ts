/**
 * Row bands: activations larger than a storage binding may hold, and the ops over them.
 *
 * A WebGPU kernel binds each tensor whole, and a binding is capped by the adapter
 * (`maxStorageBufferBindingSize`: 128 MiB by default, a few GiB at most), while one step of a
 * 1080p video holds tensors of hundreds of MB. A tensor over the cap is held as row bands
 * (`BandedTensor`: [..., rows_i, W] pieces, each its own buffer), and an op that reads or makes
 * one runs once per output band, on a window of its input rows:
 * - a convolution's window has the halo its taps read (zero padding where the window reaches
 *   past the image, the neighbour's rows elsewhere), so every output value is computed from
 *   the same inputs, in the same order, as without bands;
 * - pooling, upsampling and the Haar transforms map rows to rows (boundaries are chosen on the
 *   rows where their blocks start);
 * - GroupNorm's statistics span a whole frame: they are reduced over the bands in two passes,
 *   the mean first, then squared deviations (wgsl/band_stats.wgsl), as the unbanded kernel does;
 *   applying them is per row;
 * - attention and FSQ run at the lowest resolution only: a banded input is joined first.
 * Bands are chosen so that every binding of a dispatch (window, output, residual, carried
 * frames) fits the budget; a single row that cannot is refused with the sizes.
 * @module
 */

import type { ConvOptions, FrameRange, Tensor } from "../ops.ts";
import { readTarget } from "../ops.ts";
import { fmtShape, type HostTensor, numel } from "../../types.ts";
import {
  bandedConv,
  bandedRowMap,
  type BandPlan,
  type BandRouting,
  type BandStore,
  type ConvRows,
  planBands,
  rowAxis,
  type RowMap,
  withRows,
} from "../bands.ts";
import { defineParams } from "./params.ts";
import { type GpuRuntime, GpuTensor } from "./runtime.ts";
import { copyBlock, planeView } from "./frames.ts";
import { type ElementType, storageBytes } from "./precision.ts";

/** band_stats.wgsl's `struct Params`. */
const BAND_STATS_PARAMS = defineParams("band_stats.wgsl", [
  ["channels", "u32"],
  ["frames", "u32"],
  ["spatial", "u32"],
  ["groups", "u32"],
  ["ch_per_group", "u32"],
  ["eps", "f32"],
  ["band", "u32"],
  ["bands", "u32"],
  ["count", "u32"],
  ["slots", "u32"],
  ["_p0", "u32"],
  ["_p1", "u32"],
]);

/** A tensor held as row bands: band i holds rows [starts[i], starts[i + 1]) (the last to H). */
export class BandedTensor {
  /** Set by `release`. */
  released = false;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: "f32" | "i32",
    readonly bands: readonly GpuTensor[],
    readonly starts: readonly number[],
    /** What each band's elements are stored as (see precision.ts). */
    readonly element: ElementType,
  ) {}
}

/** A GPU tensor, whole or in bands. */
export type AnyGpuTensor = GpuTensor | BandedTensor;

export type { BandPlan };

/** The row bands of the WebGPU backend, under a byte budget per binding. */
export class RowBands implements BandStore<AnyGpuTensor>, BandRouting<AnyGpuTensor> {
  /** Ops that ran in bands, for tests and the bench. */
  bandedOps = 0;
  constructor(readonly rt: GpuRuntime, readonly budget: number) {}

  /** Bytes of a tensor of `shape` stored as `element` (default: the runtime's precision). */
  bytes(shape: readonly number[], element: ElementType = this.rt.precision): number {
    return storageBytes(numel(shape), element);
  }

  /** Whether a tensor of `shape` is over the budget (only images and video are banded). */
  over(shape: readonly number[]): boolean {
    return shape.length >= 4 && this.bytes(shape) > this.budget;
  }

  /** The error when a band from row `start` of `what` cannot fit the budget. */
  tooBig(what: string, start: number): Error {
    return new Error(
      `Cannot split ${what} into row bands of at most ${this.budget} bytes (the storage binding limit): one band from row ${start} needs more; use a smaller frame or a device with a larger limit`,
    );
  }

  /** Output bands of `rows` rows (see bands.ts's planBands). */
  plan(
    rows: number,
    fits: (start: number, end: number) => boolean,
    boundary: (row: number) => boolean,
    what: string,
  ): BandPlan[] {
    return planBands(rows, fits, boundary, (start) => this.tooBig(what, start));
  }

  /**
   * Copies frames [f0, f1) and rows [r0, r1) of `src` (whole or banded) into `dst` at frame
   * `t0`, row 0 on.
   */
  copyInto(
    src: AnyGpuTensor,
    frames: [number, number],
    r0: number,
    r1: number,
    dst: GpuTensor,
    t0: number,
  ): void {
    const pieces = src instanceof BandedTensor
      ? src.bands.map((b, i) => ({ t: b, start: src.starts[i] }))
      : [{ t: src, start: 0 }];
    for (const { t, start } of pieces) {
      const a = Math.max(r0, start), b = Math.min(r1, start + planeView(t.shape)[2]);
      if (a >= b) continue;
      copyBlock(
        this.rt,
        t,
        dst,
        { frames, rows: [a - start, b - start], at: [t0, a - r0] },
        "rows",
      );
    }
  }

  /**
   * Rows [r0, r1) of `t` as one tensor, and whether it is a new one (to release): a band or
   * the whole tensor is returned as it is.
   */
  window(t: AnyGpuTensor, r0: number, r1: number): { tensor: GpuTensor; made: boolean } {
    if (t instanceof GpuTensor) {
      if (r0 === 0 && r1 === t.shape[rowAxis(t.shape)]) return { tensor: t, made: false };
    } else {
      const i = t.starts.indexOf(r0);
      if (i >= 0 && (t.starts[i + 1] ?? t.shape[rowAxis(t.shape)]) === r1) {
        return { tensor: t.bands[i], made: false };
      }
    }
    const out = this.rt.alloc(withRows(t.shape, r1 - r0), t.dtype, "band window", t.element);
    const frames = planeView(t.shape)[1];
    this.copyInto(t, [0, frames], r0, r1, out, 0);
    return { tensor: out, made: true };
  }

  isBanded(t: Tensor): boolean {
    return t instanceof BandedTensor;
  }

  /** `t` whole (joined when banded; the caller releases it when `made`). */
  whole(t: AnyGpuTensor): { tensor: GpuTensor; made: boolean } {
    return this.window(t, 0, t.shape[rowAxis(t.shape)]);
  }

  /** The bands made by `make(start, end)` for each plan, as one tensor of `shape`. */
  assemble(
    shape: readonly number[],
    dtype: "f32" | "i32",
    plans: readonly BandPlan[],
    make: (p: BandPlan) => GpuTensor,
  ): AnyGpuTensor {
    this.bandedOps++;
    const bands: GpuTensor[] = [];
    try {
      for (const p of plans) {
        const band = make(p);
        bands.push(band);
        const want = fmtShape(withRows(shape, p.end - p.start));
        if (fmtShape(band.shape) !== want) {
          throw new Error(`Row band ${fmtShape(band.shape)} is not ${want}: a band plan is wrong`);
        }
      }
    } catch (err) {
      for (const b of bands) this.rt.release(b);
      throw err;
    }
    if (bands.length === 1) return bands[0];
    return new BandedTensor(shape, dtype, bands, plans.map((p) => p.start), bands[0].element);
  }

  /** Frees every band. */
  release(t: BandedTensor): void {
    if (t.released) throw new Error(`Tensor ${fmtShape(t.shape)} was used after release`);
    t.released = true;
    for (const b of t.bands) this.rt.release(b);
  }

  /** A host tensor over the budget, uploaded in bands. */
  upload(t: HostTensor): AnyGpuTensor {
    const [planes, frames, rows, width] = planeView(t.shape);
    const rowBytes = this.bytes(withRows(t.shape, 1));
    const plans = this.plan(
      rows,
      (a, b) => (b - a) * rowBytes <= this.budget,
      () => true,
      `an input ${fmtShape(t.shape)}`,
    );
    const Ctor = t.data instanceof Int32Array ? Int32Array : Float32Array;
    return this.assemble(t.shape, t.data instanceof Int32Array ? "i32" : "f32", plans, (p) => {
      const n = p.end - p.start;
      const data = new Ctor(planes * frames * n * width);
      for (let q = 0; q < planes * frames; q++) {
        const from = (q * rows + p.start) * width;
        data.set(t.data.subarray(from, from + n * width), q * n * width);
      }
      return this.rt.upload({ data, shape: withRows(t.shape, n) });
    });
  }

  /** A banded tensor read back whole. */
  async read(t: BandedTensor, into?: Float32Array | Int32Array): Promise<HostTensor> {
    const [planes, frames, rows, width] = planeView(t.shape);
    const parts = [];
    for (const b of t.bands) parts.push(await this.rt.read(b));
    const data = readTarget(into, numel(t.shape), t.dtype);
    parts.forEach((part, i) => {
      const n = planeView(part.shape)[2];
      for (let q = 0; q < planes * frames; q++) {
        const src = part.data.subarray(q * n * width, (q + 1) * n * width);
        data.set(src, (q * rows + t.starts[i]) * width);
      }
    });
    return { data, shape: [...t.shape] };
  }

  // ---- ops -----------------------------------------------------------------------------

  /** A convolution in output row bands (bands.ts's bandedConv). */
  conv(
    x: AnyGpuTensor,
    opts: ConvOptions,
    g: ConvRows,
    run: (x: GpuTensor, opts: ConvOptions) => GpuTensor,
  ): AnyGpuTensor {
    return bandedConv<AnyGpuTensor>(this, x, opts, g, (t, o) => run(t as GpuTensor, o));
  }

  /** An op mapping rows to rows, run per output band on its input window (bandedRowMap). */
  rowMap(
    x: AnyGpuTensor,
    outShape: readonly number[],
    outDtype: "f32" | "i32",
    rows: { inRows: RowMap; boundary: (row: number) => boolean },
    run: (window: GpuTensor, band: BandPlan) => GpuTensor,
    what: string,
  ): AnyGpuTensor {
    return bandedRowMap<AnyGpuTensor>(
      this,
      x,
      outShape,
      outDtype,
      rows,
      (t, p) => run(t as GpuTensor, p),
      what,
    );
  }

  /** Frees a window `window` made. */
  releaseWindow(t: AnyGpuTensor): void {
    this.rt.release(t as GpuTensor);
  }

  /** Ops.joinFrames with banded parts or a result over the budget. */
  joinFrames(
    parts: readonly FrameRange[],
    outShape: readonly number[],
    dtype: "f32" | "i32",
  ): AnyGpuTensor {
    const outRow = this.bytes(withRows(outShape, 1));
    const plans = this.plan(
      outShape[3],
      (a, b) => (b - a) * outRow <= this.budget,
      () => true,
      `joined frames ${fmtShape(outShape)}`,
    );
    return this.assemble(outShape, dtype, plans, ({ start, end }) => {
      const element = (parts[0].tensor as AnyGpuTensor).element;
      const band = this.rt.alloc(
        withRows(outShape, end - start),
        dtype,
        "joinFrames band",
        element,
      );
      let t0 = 0;
      for (const part of parts) {
        this.copyInto(part.tensor as AnyGpuTensor, [part.from, part.to], start, end, band, t0);
        t0 += part.to - part.from;
      }
      return band;
    });
  }

  /**
   * GroupNorm statistics [B, F, G, 2] of a banded tensor viewed as [B, C, F, S] per band:
   * partial sums per band, combined, in two passes (band_stats.wgsl).
   */
  groupNormStats(
    x: BandedTensor,
    geo: { b: number; c: number; frames: number; spatial: number },
    groups: number,
    eps: number,
  ): GpuTensor {
    const { b, c, frames, spatial } = geo;
    const slots = b * frames * groups;
    // Statistics and sums stay f32 at every precision (as norm.ts's).
    const stats = this.rt.alloc([b, frames, groups, 2], "f32", "norm stats", "f32");
    const partial = this.rt.alloc([x.bands.length, slots], "f32", "norm partial sums", "f32");
    const constants = { T: x.element, SUBGROUPS: this.rt.ctx.features.has("subgroups") };
    const rows = x.shape[rowAxis(x.shape)];
    const base = {
      channels: c,
      frames,
      groups,
      ch_per_group: c / groups,
      eps,
      bands: x.bands.length,
      count: (c / groups) * spatial,
      slots,
    };
    const pass = (entry: "sum_main" | "sq_main") =>
      x.bands.forEach((band, i) => {
        const bandRows = band.shape[rowAxis(band.shape)];
        this.rt.dispatch({
          family: "norm",
          pipeline: this.rt.pipelines.get("band_stats", entry, constants),
          bindings: [band, partial, entry === "sq_main" ? stats : null],
          params: BAND_STATS_PARAMS.pack({ ...base, spatial: spatial / rows * bandRows, band: i }),
          workgroups: slots,
        });
      });
    const combine = (entry: "mean_main" | "finish_main") =>
      this.rt.dispatch({
        family: "norm",
        pipeline: this.rt.pipelines.get("band_stats", entry, constants),
        bindings: [null, partial, stats],
        params: BAND_STATS_PARAMS.pack({ ...base, spatial, band: 0 }),
        workgroups: Math.ceil(slots / 256),
      });
    pass("sum_main");
    combine("mean_main");
    pass("sq_main");
    combine("finish_main");
    this.rt.release(partial);
    return stats;
  }
}
