/**
 * The WebAssembly implementation of the op interface, for machines with no GPU: every op runs
 * in the AssemblyScript kernels of asm/ on one linear memory, split over worker threads that
 * share it where the runtime allows (Deno does), on the calling thread alone otherwise.
 *
 * Ops run eagerly and synchronously as they are called; `read` only copies out. This class only
 * delegates: the memory, threads, launcher and profiling are the runtime's (runtime.ts), and
 * each op family is lowered in its own module (conv.ts, norm.ts, attention.ts, resample.ts,
 * haar.ts, fsq.ts, frames.ts; the matrix product they share in gemm.ts).
 * @module
 */

import type {
  AttentionOptions,
  Backend,
  ConvOptions,
  ConvWeights,
  FrameRange,
  FsqSpec,
  FusedNorm,
  GroupNormOptions,
  JoinOptions,
  KernelProfile,
  MemoryStats,
  RmsNormWeights,
  ShuffleOptions,
  Tensor,
} from "../ops.ts";
import { fmtShape, type HostTensor } from "../../types.ts";
import {
  bandedConv,
  bandedRowMap,
  blockRows,
  haarRows,
  needsBands,
  resampleRows,
  type RowMap,
  SAME_ROWS,
  withWhole,
} from "../bands.ts";
import {
  convGeometry,
  groupNormGeometry,
  haarPlan,
  joinFramesGeometry,
  type Resample,
  resampleDims,
} from "../geometry.ts";
import { WasmBands } from "./bands.ts";
import type { TensorScope } from "../scopes.ts";
import { WasmBandedTensor } from "./parking.ts";
import type { WasmVariant } from "./kernels.ts";
import type { WasmHeap } from "./heap.ts";
import { type WasmOptions, WasmRuntime } from "./runtime.ts";
import { gemm } from "./gemm.ts";
import { conv } from "./conv.ts";
import { groupNorm, groupNormStats } from "./norm.ts";
import { rmsNorm } from "./rms_norm.ts";
import { channelToSpace, spaceToChannel } from "./shuffle.ts";
import { channelToSpaceGeometry, spaceToChannelGeometry } from "../shuffle.ts";
import { attention } from "./attention.ts";
import { resample } from "./resample.ts";
import { haar } from "./haar.ts";
import { fsqDequantize, fsqQuantize } from "./fsq.ts";
import { joinFrames } from "./frames.ts";

// The backend's public names, where select.ts, the tokenizer and mod.ts take them from.
export { checkWasmOptions, type WasmOptions, WasmTensor } from "./runtime.ts";

/** The op interface on WebAssembly SIMD (see the module doc). */
export class WasmOps implements Backend {
  readonly name = "wasm";
  readonly #rt: WasmRuntime;
  readonly #bands: WasmBands;

  private constructor(rt: WasmRuntime) {
    this.#rt = rt;
    this.#bands = new WasmBands(rt, rt.maxTensorBytes);
  }

  /** Compiles the kernels (once per process), lays out the memory and starts the threads. */
  static async create(options: WasmOptions = {}): Promise<WasmOps> {
    return new WasmOps(await WasmRuntime.create(options));
  }

  /** What runs the ops, e.g. "wasm (relaxed SIMD, 16 threads)". */
  get label(): string {
    return this.#rt.label;
  }

  /** The build of the kernels in use. */
  get variant(): WasmVariant {
    return this.#rt.variant;
  }

  /** The tensors' heap (the bench allocates its ceiling's matrices there). */
  get heap(): WasmHeap {
    return this.#rt.heap;
  }

  /** Bytes of gathered convolution columns held at once. */
  get columnBytes(): number {
    return this.#rt.columnBytes;
  }

  /** Bytes of attention scores held at once. */
  get attentionScoreBytes(): number {
    return this.#rt.attentionScoreBytes;
  }

  /** Threads that take part in a launch now (the calling one included). */
  get threads(): number {
    return this.#rt.threads;
  }

  /** Bytes an activation may hold in the heap before it is held in row bands outside it. */
  get maxTensorBytes(): number {
    return this.#bands.budget;
  }

  /** Ops that have run in row bands so far (tests, the bench). */
  get bandedOps(): number {
    return this.#bands.bandedOps;
  }

  upload(t: HostTensor): Tensor {
    return this.#bands.over(t.shape) ? this.#bands.upload(t) : this.#rt.upload(t);
  }

  // deno-lint-ignore require-await
  async read(t: Tensor, into?: Float32Array | Int32Array): Promise<HostTensor> {
    // Async so that a refused `into` rejects, as on WebGPU, rather than throwing.
    return t instanceof WasmBandedTensor ? this.#bands.read(t, into) : this.#rt.read(t, into);
  }

  release(t: Tensor): void {
    if (t instanceof WasmBandedTensor) this.#bands.release(t);
    else this.#rt.release(t);
  }

  // ---- row bands (../bands.ts, bands.ts) -------------------------------------------------

  /** Whether an op on these tensors, making `outShape`, runs in row bands. */
  #banded(outShape: readonly number[], ...inputs: (Tensor | undefined)[]): boolean {
    return needsBands(this.#bands, outShape, ...inputs);
  }

  /** `run` on `tensors`, banded ones joined whole (an op with no banded form). */
  #whole<T>(tensors: (Tensor | undefined)[], run: (whole: (Tensor | undefined)[]) => T): T {
    return withWhole(this.#bands, tensors, run);
  }

  /** `op`, in row bands of its output when its input or output needs them. */
  #rowMapped(
    x: Tensor,
    outShape: readonly number[],
    rows: { inRows: RowMap; boundary: (row: number) => boolean },
    op: (t: Tensor) => Tensor,
    what: string,
  ): Tensor {
    if (!this.#banded(outShape, x)) return op(x);
    return bandedRowMap(
      this.#bands,
      x,
      outShape,
      "f32",
      rows,
      op,
      `${what} of ${fmtShape(x.shape)}`,
    );
  }

  #resample(x: Tensor, op: Resample): Tensor {
    const outShape = [x.shape[0], x.shape[1], ...resampleDims(x.shape, op)];
    const rows = resampleRows(op, x.shape[x.shape.length - 2]);
    return this.#rowMapped(x, outShape, rows, (t) => resample(this.#rt, t, op), op);
  }

  #haar(x: Tensor, levels: number, forward: boolean): Tensor {
    const outShape = haarPlan(x.shape, levels, forward).at(-1)?.outShape ?? x.shape;
    const run = (t: Tensor) => haar(this.#rt, t, levels, forward);
    if (levels === 0) return run(x);
    const rows = haarRows(levels, forward, x.shape[x.shape.length - 2]);
    return this.#rowMapped(x, outShape, rows, run, "a Haar transform");
  }

  memoryStats(): MemoryStats {
    const parking = this.#rt.parking;
    return {
      ...this.#rt.heap.stats(),
      parked: parking.held,
      peakParked: parking.peak,
      parkedAllocated: parking.allocated,
      peakParkedAllocated: parking.peakAllocated,
    };
  }

  resetPeak(): void {
    this.#rt.heap.resetPeak();
    this.#rt.parking.resetPeak();
  }

  /** Ops run as they are called: nothing is ever pending. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  startProfiling(): boolean {
    return this.#rt.startProfiling();
  }

  stopProfiling(): KernelProfile {
    return this.#rt.stopProfiling();
  }

  /**
   * Per op family since `startProfiling`: thread-milliseconds (op time x threads) and the part
   * spent inside kernels; the difference is the threads' idle time (the bench prints it).
   */
  threadProfile(): Record<string, { threadMs: number; busyMs: number }> {
    return this.#rt.threadProfile();
  }

  /**
   * GFLOP/s of independent f32x4 multiply-adds (asm/peak.ts) on every thread: the SIMD peak
   * this runtime reaches on this machine, best of `repeats` runs of about `ms` each.
   */
  fmaPeakGflops(ms = 100, repeats = 3): number {
    const rt = this.#rt, items = 4 * rt.threads;
    const sink = rt.heap.alloc(64, "peak sink");
    try {
      // Many short runs first: V8 runs a kernel in its baseline compiler until it has been
      // called enough, on every worker's instance.
      for (let r = 0; r < 200; r++) rt.launch("fmaPeak", { iters: 1 << 10, sink }, items, 1);
      let iters = 1 << 14, best = 0;
      for (let r = 0; r < repeats + 3; r++) {
        const t0 = performance.now();
        rt.launch("fmaPeak", { iters, sink }, items, 1);
        const t = performance.now() - t0;
        // Grow the run until it lasts `ms`.
        if (t < ms / 2) iters = Math.min(iters * 4, 1 << 30);
        else best = Math.max(best, items * iters * 96 / t / 1e6);
      }
      return best;
    } finally {
      rt.heap.free(sink);
    }
  }

  /**
   * C[m, n] (+)= sum_k A[m, k] B[k, n] (+ bias[m]) over strided views (element strides; C rows
   * `ldc` apart), split over the threads by blocks of rows and columns (gemm.ts).
   */
  gemm(
    a: number,
    sam: number,
    sak: number,
    b: number,
    sbk: number,
    sbn: number,
    c: number,
    ldc: number,
    dims: { M: number; N: number; K: number },
    bias = 0,
    accumulate = false,
  ): void {
    gemm(this.#rt, { a, sam, sak, b, sbk, sbn, c, ldc, ...dims, bias, accumulate });
  }

  conv(x: Tensor, w: ConvWeights, opts: ConvOptions = {}): Tensor {
    const g = convGeometry(x.shape, w, opts);
    if (!this.#banded(g.outShape, x, opts.residual, opts.context)) {
      return conv(this.#rt, x, w, opts);
    }
    return bandedConv(this.#bands, x, opts, g, (t, o) => conv(this.#rt, t, w, o));
  }

  groupNormStats(x: Tensor, opts: GroupNormOptions): Tensor {
    if (!(x instanceof WasmBandedTensor)) return groupNormStats(this.#rt, x, opts);
    return this.#bands.groupNormStats(x, groupNormGeometry(x.shape, opts), opts.groups, opts.eps);
  }

  groupNorm(x: Tensor, norm: FusedNorm): Tensor {
    return this.#rowMapped(
      x,
      x.shape,
      SAME_ROWS,
      (t) => groupNorm(this.#rt, t, norm),
      "a GroupNorm",
    );
  }

  rmsNorm(x: Tensor, weights: RmsNormWeights, silu: boolean): Tensor {
    const run = (t: Tensor) => rmsNorm(this.#rt, t, weights, silu);
    return this.#rowMapped(x, x.shape, SAME_ROWS, run, "an RMS norm");
  }

  attention(
    qkv: Tensor,
    kind: "spatial" | "temporal" = "spatial",
    opts?: AttentionOptions,
  ): Tensor {
    return this.#whole(
      [qkv, opts?.keysValues],
      ([q, kv]) => attention(this.#rt, q!, kind, kv ? { ...opts, keysValues: kv } : opts),
    );
  }

  avgPool(x: Tensor, axis: "space" | "time"): Tensor {
    return this.#resample(x, axis === "space" ? "poolSpace" : "poolTime");
  }

  upsample(x: Tensor, axis: "space" | "time"): Tensor {
    return this.#resample(x, axis === "space" ? "upSpace" : "upTime");
  }

  haarPatch(x: Tensor, levels: number): Tensor {
    return this.#haar(x, levels, true);
  }

  haarUnpatch(x: Tensor, levels: number): Tensor {
    return this.#haar(x, levels, false);
  }

  fsqQuantize(z: Tensor, spec: FsqSpec): { codes: Tensor; indices: Tensor } {
    return this.#whole([z], ([t]) => fsqQuantize(this.#rt, t!, spec));
  }

  fsqDequantize(indices: Tensor, spec: FsqSpec): Tensor {
    return this.#whole([indices], ([t]) => fsqDequantize(this.#rt, t!, spec));
  }

  spaceToChannel(x: Tensor, opts: ShuffleOptions): Tensor {
    const { outShape } = spaceToChannelGeometry(x.shape, opts);
    const rows = blockRows(opts.space, true, x.shape[3]);
    return this.#rowMapped(
      x,
      outShape,
      rows,
      (t) => spaceToChannel(this.#rt, t, opts),
      "spaceToChannel",
    );
  }

  channelToSpace(x: Tensor, opts: ShuffleOptions): Tensor {
    const { outShape } = channelToSpaceGeometry(x.shape, opts);
    const rows = blockRows(opts.space, false, x.shape[3]);
    return this.#rowMapped(
      x,
      outShape,
      rows,
      (t) => channelToSpace(this.#rt, t, opts),
      "channelToSpace",
    );
  }

  joinFrames(parts: readonly FrameRange[], opts?: JoinOptions): Tensor {
    const g = joinFramesGeometry(parts);
    const banded = parts.some((p) => p.tensor instanceof WasmBandedTensor);
    if (!banded && (opts?.park || !this.#bands.over(g.outShape))) {
      return joinFrames(this.#rt, parts, opts);
    }
    return this.#bands.joinFrames(parts, g, !!opts?.park);
  }

  trackTensors(): TensorScope {
    return this.#rt.scopes.open();
  }

  /** Stops the worker threads; the memory goes with the last reference to the backend. */
  destroy(): void {
    this.#rt.destroy();
  }
}
