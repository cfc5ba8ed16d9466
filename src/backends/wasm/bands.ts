/**
 * Row bands on the WebAssembly backend: activations too large for the heap, held outside it.
 *
 * The kernels read one linear memory of at most 4 GiB (wasm32), and a step of a 4K video holds
 * tensors of a gigabyte or more. An activation over `maxTensorBytes` is held as row bands in
 * JavaScript memory (`WasmBandedTensor`: each band a parked tensor, counted against
 * `parkedBytes` with the stream state), and an op over one runs per output band (the plans and
 * loops are ../bands.ts's, shared with WebGPU): the band's input window is copied into the heap,
 * the op runs there as it would on a small frame, and its output band is copied out. The heap
 * then holds the weights, a window and a band at a time. GroupNorm's statistics over a banded
 * frame are summed here over the bands, in float64 in the kernel's order within each band, so
 * they round to the kernel's values.
 * @module
 */

import type { FrameRange, Tensor } from "../ops.ts";
import { readTarget } from "../ops.ts";
import type { JoinFramesGeometry } from "../geometry.ts";
import {
  type BandPlan,
  type BandRouting,
  type BandStore,
  type ConvRows,
  planBands,
  planeView,
  withRows,
} from "../bands.ts";
import { fmtShape, type HostTensor, numel } from "../../types.ts";
import type { WasmRuntime, WasmTensor } from "./runtime.ts";
import { overlaps, ParkedTensor, WasmBandedTensor } from "./parking.ts";

/** Where a backend tensor's values are: the heap, parked whole, or parked in bands. */
type Stored = WasmTensor | ParkedTensor | WasmBandedTensor;

/** A run of `n` rows (n x width words) of plane `k`, frame `f`, from row `r`, at words[at]. */
interface RowRun {
  k: number;
  f: number;
  r: number;
  n: number;
  words: Int32Array;
  at: number;
}

/** The row runs of frames [f0, f1) and rows [r0, r1) of `t`, in no particular order. */
function* rowRuns(
  heap: Int32Array,
  t: Stored,
  [f0, f1]: [number, number],
  [r0, r1]: [number, number],
): Generator<RowRun> {
  if (t instanceof WasmBandedTensor) {
    for (let i = 0; i < t.bands.length; i++) {
      const s = t.starts[i], e = t.starts[i + 1] ?? t.shape[t.shape.length - 2];
      const a = Math.max(r0, s), b = Math.min(r1, e);
      if (a >= b) continue;
      for (const run of rowRuns(heap, t.bands[i], [f0, f1], [a - s, b - s])) {
        yield { ...run, r: run.r + s };
      }
    }
    return;
  }
  const [planes, frames, rows, width] = planeView(t.shape);
  if (t instanceof ParkedTensor) {
    for (const { chunk, start, from, to } of overlaps(t, f0, f1)) {
      for (let k = 0; k < planes; k++) {
        for (let f = from; f < to; f++) {
          const at = ((k * chunk.frames + f - start) * rows + r0) * width;
          yield { k, f, r: r0, n: r1 - r0, words: chunk.data, at };
        }
      }
    }
    return;
  }
  for (let k = 0; k < planes; k++) {
    for (let f = f0; f < f1; f++) {
      const at = t.ptr / 4 + ((k * frames + f) * rows + r0) * width;
      yield { k, f, r: r0, n: r1 - r0, words: heap, at };
    }
  }
}

/**
 * Copies frames [f0, f1) and rows [r0, r1) of `src` into `dst`, a planes x `dstFrames` x
 * (r1 - r0) x width block from word `at`, at its frame `t0`.
 */
function copyRows(
  heap: Int32Array,
  src: Stored,
  frames: [number, number],
  rows: [number, number],
  dst: { words: Int32Array; at: number; frames: number; t0: number },
): void {
  const width = src.shape.at(-1)!, n = rows[1] - rows[0];
  for (const run of rowRuns(heap, src, frames, rows)) {
    const to = dst.at + ((run.k * dst.frames + dst.t0 + run.f - frames[0]) * n + run.r - rows[0]) *
        width;
    dst.words.set(run.words.subarray(run.at, run.at + run.n * width), to);
  }
}

/** The WebAssembly backend's row bands, under a byte budget per tensor in the heap. */
export class WasmBands implements BandStore<Tensor>, BandRouting<Tensor> {
  /** Ops that ran in bands, for tests and the bench. */
  bandedOps = 0;
  constructor(readonly rt: WasmRuntime, readonly budget: number) {}

  bytes(shape: readonly number[]): number {
    return numel(shape) * 4;
  }

  /** Whether a tensor of `shape` is over the budget (only images and video are banded). */
  over(shape: readonly number[]): boolean {
    return shape.length >= 4 && this.bytes(shape) > this.budget;
  }

  tooBig(what: string, start: number): Error {
    return new Error(
      `Cannot split ${what} into row bands of at most ${this.budget} bytes (the WebAssembly ` +
        `backend's maxTensorBytes): one band from row ${start} needs more; raise ` +
        `wasm.maxTensorBytes or use a smaller frame`,
    );
  }

  /** Winograd's 4-row tiles (conv.ts): a band's sums are then the whole frame's, bit for bit. */
  convRowAlign(g: ConvRows): number {
    return g.kt === 1 && g.kh === 3 && g.kw === 3 && g.sh === 1 && g.sw === 1 ? 4 : 1;
  }

  #heap(): Int32Array {
    return new Int32Array(this.rt.heap.memory.buffer);
  }

  /** `t` as a live tensor of this backend, wherever it is held. */
  stored(t: Tensor): Stored {
    if (!(t instanceof WasmBandedTensor)) return this.rt.stored(t);
    if (t.released) throw new Error(`Tensor ${fmtShape(t.shape)} was used after release`);
    return t;
  }

  /** Rows [r0, r1) of `t` (heap, parked or banded) as a heap tensor; new ones are `made`. */
  window(t: Tensor, r0: number, r1: number): { tensor: Tensor; made: boolean } {
    const src = this.stored(t);
    const [, frames, rows] = planeView(src.shape);
    if (
      !(src instanceof ParkedTensor || src instanceof WasmBandedTensor) && r0 === 0 && r1 === rows
    ) {
      return { tensor: src, made: false };
    }
    const out = this.rt.alloc(withRows(src.shape, r1 - r0), src.dtype, "band window");
    const heap = this.#heap();
    copyRows(heap, src, [0, frames], [r0, r1], { words: heap, at: out.ptr / 4, frames, t0: 0 });
    return { tensor: out, made: true };
  }

  isBanded(t: Tensor): boolean {
    return t instanceof WasmBandedTensor;
  }

  /** `t` whole in the heap (joined when banded or parked; the caller releases it when `made`). */
  whole(t: Tensor): { tensor: Tensor; made: boolean } {
    return this.window(t, 0, t.shape[t.shape.length - 2]);
  }

  releaseWindow(t: Tensor): void {
    this.rt.release(t);
  }

  /** A heap tensor's values parked as a band (the heap tensor is released). */
  #park(t: WasmTensor): ParkedTensor {
    const [, frames] = planeView(t.shape);
    const heap = this.#heap();
    const band = this.rt.parking.hold(t.shape, t.dtype, frames, (dst) => {
      dst.set(heap.subarray(t.ptr / 4, t.ptr / 4 + t.size));
    });
    this.rt.release(t);
    return band;
  }

  assemble(
    shape: readonly number[],
    dtype: "f32" | "i32",
    plans: readonly BandPlan[],
    make: (p: BandPlan) => Tensor,
  ): Tensor {
    this.bandedOps++;
    if (plans.length === 1) return this.#checked(make(plans[0]), shape, plans[0]);
    const bands: ParkedTensor[] = [];
    try {
      for (const p of plans) bands.push(this.#park(this.#checked(make(p), shape, p)));
    } catch (err) {
      for (const b of bands) this.rt.parking.release(b);
      throw err;
    }
    return new WasmBandedTensor(shape, dtype, bands, plans.map((p) => p.start));
  }

  /** `band` as a heap tensor with the plan's rows of `shape` (or the error of a wrong plan). */
  #checked(band: Tensor, shape: readonly number[], p: BandPlan): WasmTensor {
    const want = fmtShape(withRows(shape, p.end - p.start));
    const t = this.rt.tensor(band);
    if (fmtShape(t.shape) !== want) {
      this.rt.release(t);
      throw new Error(`Row band ${fmtShape(t.shape)} is not ${want}: a band plan is wrong`);
    }
    return t;
  }

  /** Frees every band. */
  release(t: WasmBandedTensor): void {
    if (t.released) throw new Error(`Tensor ${fmtShape(t.shape)} was used after release`);
    t.released = true;
    for (const b of t.bands) this.rt.parking.release(b);
  }

  /** Bands of `shape`'s rows, each at most the budget. */
  #plan(shape: readonly number[], what: string): BandPlan[] {
    const rowBytes = this.bytes(withRows(shape, 1));
    return planBands(
      shape[shape.length - 2],
      (a, b) => (b - a) * rowBytes <= this.budget,
      () => true,
      (start) => this.tooBig(what, start),
    );
  }

  /** Bands made in JavaScript memory, each filled by `fill` (its words, planes x frames x rows). */
  #held(
    shape: readonly number[],
    dtype: "f32" | "i32",
    plans: readonly BandPlan[],
    fill: (p: BandPlan, dst: Int32Array) => void,
  ): WasmBandedTensor {
    const [, frames] = planeView(shape);
    const bands: ParkedTensor[] = [];
    try {
      for (const p of plans) {
        const rows = withRows(shape, p.end - p.start);
        bands.push(this.rt.parking.hold(rows, dtype, frames, (dst) => fill(p, dst)));
      }
    } catch (err) {
      for (const b of bands) this.rt.parking.release(b);
      throw err;
    }
    this.bandedOps++;
    return new WasmBandedTensor(shape, dtype, bands, plans.map((p) => p.start));
  }

  /** A host tensor over the budget, held in bands. */
  upload(t: HostTensor): WasmBandedTensor {
    if (t.data.length !== numel(t.shape)) {
      throw new Error(
        `Cannot upload tensor: ${t.data.length} values for shape ${fmtShape(t.shape)}`,
      );
    }
    const [planes, frames, rows, width] = planeView(t.shape);
    const words = new Int32Array(t.data.buffer, t.data.byteOffset, t.data.length);
    const dtype = t.data instanceof Int32Array ? "i32" : "f32";
    const plans = this.#plan(t.shape, `an input ${fmtShape(t.shape)}`);
    return this.#held(t.shape, dtype, plans, ({ start, end }, dst) => {
      const n = end - start;
      for (let q = 0; q < planes * frames; q++) {
        const from = (q * rows + start) * width;
        dst.set(words.subarray(from, from + n * width), q * n * width);
      }
    });
  }

  /** A banded tensor copied out whole. */
  read(t: WasmBandedTensor, into?: Float32Array | Int32Array): HostTensor {
    const [, frames, rows] = planeView(t.shape);
    const data = readTarget(into, numel(t.shape), t.dtype);
    const words = new Int32Array(data.buffer, data.byteOffset, data.length);
    copyRows(this.#heap(), t, [0, frames], [0, rows], { words, at: 0, frames, t0: 0 });
    return { data, shape: [...t.shape] };
  }

  /**
   * Ops.joinFrames where a part is banded or the result is over the budget: the result parked
   * whole with `park` (a stream's carried frames), else in the heap or (over the budget) in bands.
   */
  joinFrames(parts: readonly FrameRange[], g: JoinFramesGeometry, park: boolean): Tensor {
    const inputs = parts.map((p) => this.stored(p.tensor));
    const rows = g.outShape[3];
    /** Writes rows [r0, r1) of every part's frames into a planes x frames x rows block. */
    const fill = (r0: number, r1: number, words: Int32Array, at: number) => {
      const heap = this.#heap();
      parts.forEach((part, i) => {
        const dst = { words, at, frames: g.outShape[2], t0: g.offsets[i] };
        copyRows(heap, inputs[i], [part.from, part.to], [r0, r1], dst);
      });
    };
    if (park) {
      // One chunk per frame, as every parked join (parking.ts).
      return this.rt.parking.join(parts, g, (i) => ({
        copy: (f, dst) => {
          const src = inputs[i];
          copyRows(this.#heap(), src, [f, f + 1], [0, rows], {
            words: dst,
            at: 0,
            frames: 1,
            t0: 0,
          });
        },
      }));
    }
    if (!this.over(g.outShape)) {
      const out = this.rt.alloc(g.outShape, g.dtype, "joinFrames");
      fill(0, rows, this.#heap(), out.ptr / 4);
      return out;
    }
    const plans = this.#plan(g.outShape, `joined frames ${fmtShape(g.outShape)}`);
    return this.#held(g.outShape, g.dtype, plans, (p, dst) => fill(p.start, p.end, dst, 0));
  }

  /**
   * GroupNorm statistics [B, F, G, 2] (mean, rstd) of a banded `x` viewed as [B, C, F, S]: the
   * sums of asm/nn.ts's groupNormStats (float64 over float32 values, the mean and variance
   * rounded to float32, deviations taken in float32), over the bands.
   */
  groupNormStats(
    x: WasmBandedTensor,
    geo: { b: number; c: number; frames: number; spatial: number },
    groups: number,
    eps: number,
  ): Tensor {
    const { b, c, frames } = geo;
    const [, tAll] = planeView(x.shape);
    const perStat = tAll / frames, cpg = c / groups;
    const count = cpg * geo.spatial;
    const stats = this.rt.alloc([b, frames, groups, 2], "f32", "norm stats");
    const out = new Float32Array(b * frames * groups * 2);
    const values = x.bands.map(({ chunks: [{ data }] }) =>
      new Float32Array(data.buffer, data.byteOffset, data.length)
    );
    const f32 = Math.fround;
    /** Calls `visit` on every run of values of group slot (bi, fr, g). */
    const each = (
      bi: number,
      fr: number,
      g: number,
      visit: (v: Float32Array, a: number, e: number) => void,
    ) => {
      for (let ch = g * cpg; ch < (g + 1) * cpg; ch++) {
        const k = bi * c + ch;
        for (let t = fr * perStat; t < (fr + 1) * perStat; t++) {
          x.bands.forEach((band, i) => {
            const [, , rows, width] = planeView(band.shape);
            const n = rows * width, at = (k * tAll + t) * n;
            visit(values[i], at, at + n);
          });
        }
      }
    };
    this.rt.timed("norm", 0, () => {
      for (let bi = 0; bi < b; bi++) {
        for (let fr = 0; fr < frames; fr++) {
          for (let g = 0; g < groups; g++) {
            let sum = 0;
            each(bi, fr, g, (v, a, e) => {
              for (let j = a; j < e; j++) sum += v[j];
            });
            const mean = f32(sum / count);
            let sq = 0;
            each(bi, fr, g, (v, a, e) => {
              for (let j = a; j < e; j++) {
                const d = f32(v[j] - mean);
                sq += d * d;
              }
            });
            const variance = f32(sq / count);
            const slot = (bi * frames + fr) * groups + g;
            out[2 * slot] = mean;
            out[2 * slot + 1] = f32(1 / f32(Math.sqrt(f32(variance + f32(eps)))));
          }
        }
      }
    });
    this.rt.f32(stats.ptr, out.length).set(out);
    return stats;
  }
}
