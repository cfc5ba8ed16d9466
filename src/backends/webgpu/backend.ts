/**
 * The WebGPU backend: the op interface over the runtime (runtime.ts) and one lowering module
 * per kernel family.
 *
 * `WebGpuOps` holds no kernel logic: each op is a call into conv.ts, norm.ts, attention.ts,
 * resample.ts, haar.ts, fsq.ts or frames.ts with the runtime and this backend's configuration
 * (GEMM tiles, attention score budget); memory, submission, errors and profiling are the
 * runtime's.
 * This module is the backend's entry point, so it also exports the types its members name.
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
  convGeometry,
  groupNormGeometry,
  haarPlan,
  joinFramesGeometry,
  type Resample,
  resampleDims,
} from "../geometry.ts";
import type { DeviceOptions, GpuContext } from "./device.ts";
import type { BufferPool } from "./pool.ts";
import { GpuRuntime, type GpuTensor } from "./runtime.ts";
import {
  chooseTiles,
  type GemmTiles,
  matmul,
  type MatmulDims,
  type MatmulStrides,
} from "./gemm.ts";
import { conv } from "./conv.ts";
import { groupNorm, groupNormStats } from "./norm.ts";
import { rmsNorm } from "./rms_norm.ts";
import { shuffle } from "./shuffle.ts";
import { channelToSpaceGeometry, spaceToChannelGeometry } from "../shuffle.ts";
import { attention } from "./attention.ts";
import { resample } from "./resample.ts";
import { haar } from "./haar.ts";
import { fsqDequantize, fsqQuantize } from "./fsq.ts";
import { joinFrames } from "./frames.ts";
import { type AnyGpuTensor, BandedTensor, RowBands } from "./bands.ts";
import type { TensorScope } from "../scopes.ts";
import {
  blockRows,
  haarRows,
  needsBands,
  resampleRows,
  type RowMap,
  SAME_ROWS,
  withWhole,
} from "../bands.ts";
import type { Precision } from "./precision.ts";
import { autotuneEnabled, Autotuner } from "./autotune.ts";

export type { Autotuner, GemmTiles, GpuTensor, Precision };

/** Bytes of attention scores materialised at once (per batch of query rows). */
const ATTENTION_SCORE_BUDGET = 64 * 1024 * 1024;

/** Options of `WebGpuOps.create`: the adapter wanted, and tuning for the bench and tests. */
export interface WebGpuOptions extends DeviceOptions {
  /** Override the GEMM tiles (bench and tests). */
  tiles?: Partial<GemmTiles>;
  /** Bytes of attention scores held at once; smaller means more, shorter query blocks. */
  attentionScoreBytes?: number;
  /**
   * Largest activation a kernel binds, in bytes; larger ones are held and processed in row
   * bands (bands.ts). Default, and at most, the adapter's storage binding and buffer limits;
   * smaller values are for tests (a device cannot be asked for limits below WebGPU's
   * defaults).
   */
  maxBindingBytes?: number;
  /**
   * Time tile candidates per shape class and keep the fastest (autotune.ts). Default: the
   * COSMOS_AUTOTUNE environment variable, else off. Ignored when `tiles` is given.
   */
  autotune?: boolean;
}

/** The op interface on WebGPU. */
export class WebGpuOps implements Backend {
  /** The backend's name in options and reports. */
  readonly name = "webgpu";
  /** GEMM tiles of the convolutions and matmuls. */
  readonly tiles: GemmTiles;
  /** Bytes of attention scores held at once. */
  readonly attentionScoreBytes: number;
  /** The tile autotuner, when tuning is on and the adapter can time kernels. */
  readonly autotuner: Autotuner | null;
  #rt: GpuRuntime;
  #bands: RowBands;

  private constructor(rt: GpuRuntime, options: WebGpuOptions, tuner: Autotuner | null) {
    this.#rt = rt;
    this.autotuner = tuner;
    const { maxStorageBufferBindingSize, maxBufferSize } = rt.ctx.limits;
    const wanted = options.maxBindingBytes;
    if (wanted !== undefined && !(Number.isSafeInteger(wanted) && wanted > 0)) {
      throw new Error(
        `Invalid maxBindingBytes ${wanted}: expected a positive whole number of bytes`,
      );
    }
    const budget = Math.min(wanted ?? Infinity, maxStorageBufferBindingSize, maxBufferSize);
    this.#bands = new RowBands(rt, budget);
    rt.activationLimit = budget;
    this.attentionScoreBytes = Math.min(
      options.attentionScoreBytes ?? ATTENTION_SCORE_BUDGET,
      this.#bands.budget,
    );
    this.tiles = chooseTiles(rt.ctx, options.tiles);
  }

  /** Acquires a WebGPU device and the backend on it. */
  static async create(options: WebGpuOptions = {}): Promise<WebGpuOps> {
    const tune = !options.tiles && autotuneEnabled(options.autotune);
    const rt = await GpuRuntime.create(options);
    return new WebGpuOps(rt, options, tune ? await Autotuner.create(rt) : null);
  }

  /** What runs the ops, e.g. "webgpu (NVIDIA H100)", or "webgpu f16 (NVIDIA H100)". */
  get label(): string {
    const f16 = this.precision === "f16" ? " f16" : "";
    return `webgpu${f16} (${this.ctx.adapterName})`;
  }

  /** What float tensors are stored as: "f32" (the default) or "f16"; kernels compute in f32. */
  get precision(): Precision {
    return this.#rt.precision;
  }

  /** The device and the facts about it. */
  get ctx(): GpuContext {
    return this.#rt.ctx;
  }

  /** Bytes an activation binding may hold before it is split into row bands. */
  get maxBindingBytes(): number {
    return this.#bands.budget;
  }

  /** Ops that have run in row bands so far (tests, the bench). */
  get bandedOps(): number {
    return this.#bands.bandedOps;
  }

  /** The buffer pool (its counters are `memoryStats`). */
  get pool(): BufferPool {
    return this.#rt.pool;
  }

  // ---- tensors and lifecycle -----------------------------------------------------------

  upload(t: HostTensor): Tensor {
    return this.#bands.over(t.shape) ? this.#bands.upload(t) : this.#rt.upload(t);
  }

  read(t: Tensor, into?: Float32Array | Int32Array): Promise<HostTensor> {
    return t instanceof BandedTensor ? this.#bands.read(t, into) : this.#rt.read(t, into);
  }

  release(t: Tensor): void {
    if (t instanceof BandedTensor) this.#bands.release(t);
    else this.#rt.release(t);
  }

  /** Whether an op on these tensors, making `outShape`, runs in row bands. */
  #banded(outShape: readonly number[], ...inputs: (Tensor | undefined)[]): boolean {
    return needsBands(this.#bands, outShape, ...inputs);
  }

  /** `run` on `tensors`, banded ones joined whole (an op with no banded form). */
  #whole<T>(tensors: (Tensor | undefined)[], run: (whole: (Tensor | undefined)[]) => T): T {
    return withWhole(this.#bands, tensors, run);
  }

  /**
   * `op`, in row bands of its output when its input or output needs them: an op whose output
   * rows read the input rows `rows.inRows` gives, and may end only where `rows.boundary` holds
   * (a norm over channels, a resampler, a Haar transform, a shuffle).
   */
  #rowMapped(
    x: Tensor,
    outShape: readonly number[],
    rows: { inRows: RowMap; boundary: (row: number) => boolean },
    op: (t: Tensor) => Tensor,
    what: string,
  ): Tensor {
    if (!this.#banded(outShape, x)) return op(x);
    return this.#bands.rowMap(
      x as AnyGpuTensor,
      outShape,
      "f32",
      rows,
      (t) => op(t) as GpuTensor,
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

  /** spaceToChannel (`fold`) or channelToSpace. */
  #shuffle(x: Tensor, opts: ShuffleOptions, fold: boolean): Tensor {
    const { outShape } = (fold ? spaceToChannelGeometry : channelToSpaceGeometry)(x.shape, opts);
    const rows = blockRows(opts.space, fold, x.shape[3]);
    const run = (t: Tensor) => shuffle(this.#rt, t, opts, fold);
    return this.#rowMapped(x, outShape, rows, run, fold ? "spaceToChannel" : "channelToSpace");
  }

  /** Bytes of the buffer pool: in use, allocated, and their peaks. */
  memoryStats(): MemoryStats {
    return this.#rt.memoryStats();
  }

  resetPeak(): void {
    this.#rt.resetPeak();
  }

  flush(): Promise<void> {
    return this.#rt.flush();
  }

  /** Starts timing every dispatch with timestamp queries, when the adapter allows it. */
  startProfiling(capacity?: number): boolean {
    return this.#rt.startProfiling(capacity);
  }

  stopProfiling(): KernelProfile {
    return this.#rt.stopProfiling();
  }

  trackTensors(): TensorScope {
    return this.#rt.scopes.open();
  }

  /** Releases everything the backend owns. */
  destroy(): void {
    this.#rt.destroy();
  }

  // ---- ops -----------------------------------------------------------------------------

  /** Convolution with optional fused GroupNorm (+ SiLU), upsample and residual. */
  conv(x: Tensor, w: ConvWeights, opts: ConvOptions = {}): Tensor {
    const g = convGeometry(x.shape, w, opts);
    if (!this.#banded(g.outShape, x, opts.residual, opts.context)) {
      return conv(this.#rt, this.tiles, x, w, opts, g);
    }
    return this.#bands.conv(
      x as AnyGpuTensor,
      opts,
      g,
      (t, o) => conv(this.#rt, this.tiles, t, w, o) as GpuTensor,
    );
  }

  groupNormStats(x: Tensor, opts: GroupNormOptions): Tensor {
    if (!(x instanceof BandedTensor)) return groupNormStats(this.#rt, x, opts);
    return this.#bands.groupNormStats(x, groupNormGeometry(x.shape, opts), opts.groups, opts.eps);
  }

  groupNorm(x: Tensor, norm: FusedNorm): Tensor {
    const run = (t: Tensor) => groupNorm(this.#rt, t, norm);
    return this.#rowMapped(x, x.shape, SAME_ROWS, run, "a GroupNorm");
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
    const config = { tiles: this.tiles, scoreBytes: this.attentionScoreBytes };
    return this.#whole(
      [qkv, opts?.keysValues],
      ([q, kv]) => attention(this.#rt, config, q!, kind, kv ? { ...opts, keysValues: kv } : opts),
    );
  }

  avgPool(x: Tensor, axis: "space" | "time"): Tensor {
    return this.#resample(x, axis === "space" ? "poolSpace" : "poolTime");
  }

  upsample(x: Tensor, axis: "space" | "time"): Tensor {
    return this.#resample(x, axis === "space" ? "upSpace" : "upTime");
  }

  spaceToChannel(x: Tensor, opts: ShuffleOptions): Tensor {
    return this.#shuffle(x, opts, true);
  }

  channelToSpace(x: Tensor, opts: ShuffleOptions): Tensor {
    return this.#shuffle(x, opts, false);
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

  /** `park` changes nothing here: GPU memory has no address-space limit to keep state out of. */
  joinFrames(parts: readonly FrameRange[], _opts?: JoinOptions): Tensor {
    const g = joinFramesGeometry(parts);
    if (!this.#banded(g.outShape, ...parts.map((p) => p.tensor))) {
      return joinFrames(this.#rt, parts);
    }
    return this.#bands.joinFrames(parts, g.outShape, g.dtype);
  }

  // ---- for the bench -------------------------------------------------------------------

  /** C = alpha * A B over strided views; see wgsl/matmul.wgsl. Exposed for the bench. */
  matmul(
    a: GpuTensor,
    b: GpuTensor,
    c: GpuTensor,
    dims: MatmulDims,
    strides: MatmulStrides,
    family = "matmul",
  ): void {
    matmul(this.#rt, this.tiles, { a, b, c }, dims, strides, family);
  }

  /** A scratch tensor for the bench. */
  scratch(shape: number[]): GpuTensor {
    return this.#rt.alloc(shape);
  }
}
