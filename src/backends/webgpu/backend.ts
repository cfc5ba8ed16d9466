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
  Tensor,
} from "../ops.ts";
import type { HostTensor } from "../../types.ts";
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
import { attention } from "./attention.ts";
import { resample } from "./resample.ts";
import { haar } from "./haar.ts";
import { fsqDequantize, fsqQuantize } from "./fsq.ts";
import { joinFrames } from "./frames.ts";

export type { GemmTiles, GpuTensor };

/** Bytes of attention scores materialised at once (per batch of query rows). */
const ATTENTION_SCORE_BUDGET = 64 * 1024 * 1024;

/** Options of `WebGpuOps.create`: the adapter wanted, and tuning for the bench and tests. */
export interface WebGpuOptions extends DeviceOptions {
  /** Override the GEMM tiles (bench and tests). */
  tiles?: Partial<GemmTiles>;
  /** Bytes of attention scores held at once; smaller means more, shorter query blocks. */
  attentionScoreBytes?: number;
}

/** The op interface on WebGPU. */
export class WebGpuOps implements Backend {
  /** The backend's name in options and reports. */
  readonly name = "webgpu";
  /** GEMM tiles of the convolutions and matmuls. */
  readonly tiles: GemmTiles;
  /** Bytes of attention scores held at once. */
  readonly attentionScoreBytes: number;
  #rt: GpuRuntime;

  private constructor(rt: GpuRuntime, options: WebGpuOptions) {
    this.#rt = rt;
    this.attentionScoreBytes = options.attentionScoreBytes ?? ATTENTION_SCORE_BUDGET;
    this.tiles = chooseTiles(rt.ctx, options.tiles);
  }

  /** Acquires a WebGPU device and the backend on it. */
  static async create(options: WebGpuOptions = {}): Promise<WebGpuOps> {
    return new WebGpuOps(await GpuRuntime.create(options), options);
  }

  /** What runs the ops, e.g. "webgpu (NVIDIA H100)". */
  get label(): string {
    return `webgpu (${this.ctx.adapterName})`;
  }

  /** The device and the facts about it. */
  get ctx(): GpuContext {
    return this.#rt.ctx;
  }

  /** The buffer pool (its counters are `memoryStats`). */
  get pool(): BufferPool {
    return this.#rt.pool;
  }

  // ---- tensors and lifecycle -----------------------------------------------------------

  upload(t: HostTensor): Tensor {
    return this.#rt.upload(t);
  }

  read(t: Tensor): Promise<HostTensor> {
    return this.#rt.read(t);
  }

  release(t: Tensor): void {
    this.#rt.release(t);
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

  /** Releases everything the backend owns. */
  destroy(): void {
    this.#rt.destroy();
  }

  // ---- ops -----------------------------------------------------------------------------

  /** Convolution with optional fused GroupNorm (+ SiLU), upsample and residual. */
  conv(x: Tensor, w: ConvWeights, opts: ConvOptions = {}): Tensor {
    return conv(this.#rt, this.tiles, x, w, opts);
  }

  groupNormStats(x: Tensor, opts: GroupNormOptions): Tensor {
    return groupNormStats(this.#rt, x, opts);
  }

  groupNorm(x: Tensor, norm: FusedNorm): Tensor {
    return groupNorm(this.#rt, x, norm);
  }

  rmsNorm(x: Tensor, weights: RmsNormWeights, silu: boolean): Tensor {
    return rmsNorm(this.#rt, x, weights, silu);
  }

  attention(
    qkv: Tensor,
    kind: "spatial" | "temporal" = "spatial",
    opts?: AttentionOptions,
  ): Tensor {
    const config = { tiles: this.tiles, scoreBytes: this.attentionScoreBytes };
    return attention(this.#rt, config, qkv, kind, opts);
  }

  avgPool(x: Tensor, axis: "space" | "time"): Tensor {
    return resample(this.#rt, x, axis === "space" ? "poolSpace" : "poolTime");
  }

  upsample(x: Tensor, axis: "space" | "time"): Tensor {
    return resample(this.#rt, x, axis === "space" ? "upSpace" : "upTime");
  }

  haarPatch(x: Tensor, levels: number): Tensor {
    return haar(this.#rt, x, levels, true);
  }

  haarUnpatch(x: Tensor, levels: number): Tensor {
    return haar(this.#rt, x, levels, false);
  }

  fsqQuantize(z: Tensor, spec: FsqSpec): { codes: Tensor; indices: Tensor } {
    return fsqQuantize(this.#rt, z, spec);
  }

  fsqDequantize(indices: Tensor, spec: FsqSpec): Tensor {
    return fsqDequantize(this.#rt, indices, spec);
  }

  /** `park` changes nothing here: GPU memory has no address-space limit to keep state out of. */
  joinFrames(parts: readonly FrameRange[], _opts?: JoinOptions): Tensor {
    return joinFrames(this.#rt, parts);
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
