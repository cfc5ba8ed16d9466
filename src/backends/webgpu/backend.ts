/**
 * The WebGPU implementation of the op interface: kernel launches over pooled buffers.
 *
 * Ops are recorded into one command encoder and submitted in batches; `read` submits what is
 * pending and maps the result. Uniforms for a batch live in one arena buffer written just before
 * the submit, so a dispatch costs no buffer creation. Validation and out-of-memory errors of a
 * batch are caught with error scopes and rethrown as exceptions naming the kernels involved.
 * @module
 */

import type {
  Backend,
  ConvOptions,
  ConvWeights,
  FsqSpec,
  FusedNorm,
  GroupNormOptions,
  KernelProfile,
  MemoryStats,
  Tensor,
} from "../ops.ts";
import { fmtShape, type HostTensor, numel } from "../../types.ts";
import { acquireGpu, type DeviceOptions, type GpuContext } from "./device.ts";
import { BufferPool, sizeClass } from "./pool.ts";
import { type Constants, PipelineCache } from "./pipelines.ts";
import { fsqConstants } from "../fsq.ts";
import {
  attentionGeometry,
  convGeometry,
  groupNormGeometry,
  haarPlan,
  type Resample,
  resampleDims,
} from "../geometry.ts";

/** resample.wgsl's entry point of each resampler. */
const RESAMPLE_ENTRIES: Record<Resample, string> = {
  poolSpace: "pool_space",
  poolTime: "pool_time",
  upSpace: "up_space",
  upTime: "up_time",
};

/** A tensor living in a pooled GPU buffer. */
export class GpuTensor implements Tensor {
  released = false;
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: "f32" | "i32",
  ) {}
  get bytes(): number {
    return numel(this.shape) * 4;
  }
}

/** GEMM tile shape; see wgsl/gemm_core.wgsl. */
export interface GemmTiles {
  WG_M: number;
  WG_N: number;
  TM: number;
  TN: number;
  BK: number;
}

/** Tiles for discrete GPUs: 64x64 outputs per 256-thread workgroup, 4x4 per thread. */
const GPU_TILES: GemmTiles = { WG_M: 16, WG_N: 16, TM: 4, TN: 4, BK: 16 };
/** Tiles for CPU rasterizers, which run a workgroup on one core in 8-wide SIMD batches. */
const SOFTWARE_TILES: GemmTiles = { WG_M: 16, WG_N: 16, TM: 8, TN: 4, BK: 8 };

/** Elementwise kernels' workgroup size (fixed in their WGSL). */
const ELEMENTWISE_WG = 256;
/** Uniform slots are aligned to this (the WebGPU default minUniformBufferOffsetAlignment). */
const UNIFORM_ALIGN = 256;
const ARENA_BYTES = 64 * 1024;
/** Dispatches per submitted command buffer before an automatic flush. */
const MAX_PENDING_DISPATCHES = 512;
/** Two timestamps per dispatch; WebGPU caps a query set at 4096 queries. */
const MAX_PROFILED_DISPATCHES = 2048;
/** Bytes of attention scores materialised at once (per batch of query rows). */
const ATTENTION_SCORE_BUDGET = 64 * 1024 * 1024;

export interface WebGpuOptions extends DeviceOptions {
  /** Override the GEMM tiles (bench and tests). */
  tiles?: Partial<GemmTiles>;
  /** Bytes of attention scores held at once; smaller means more, shorter query blocks. */
  attentionScoreBytes?: number;
}

interface Binding {
  buffer: GPUBuffer;
  size?: number;
  offset?: number;
}

export class WebGpuOps implements Backend {
  readonly name = "webgpu";
  readonly ctx: GpuContext;
  readonly pool: BufferPool;
  readonly pipelines: PipelineCache;
  readonly tiles: GemmTiles;
  readonly attentionScoreBytes: number;
  #device: GPUDevice;
  #encoder: GPUCommandEncoder | null = null;
  #pendingDispatches = 0;
  #pendingKernels = new Set<string>();
  #arenas: GPUBuffer[] = [];
  #arenaStaging: Uint8Array<ArrayBuffer>[] = [];
  #arenaIndex = 0;
  #arenaOffset = 0;
  #dummy: GPUBuffer;
  #staging = new Map<number, GPUBuffer[]>();
  #lost: string | null = null;
  #profile: {
    querySet: GPUQuerySet;
    resolve: GPUBuffer;
    capacity: number;
    entries: { family: string; flops: number }[];
    totals: KernelProfile;
  } | null = null;

  private constructor(ctx: GpuContext, options: WebGpuOptions) {
    this.ctx = ctx;
    this.#device = ctx.device;
    this.pool = new BufferPool(ctx.device, ctx.limits.maxBufferSize);
    this.pipelines = new PipelineCache(ctx.device);
    this.attentionScoreBytes = options.attentionScoreBytes ?? ATTENTION_SCORE_BUDGET;
    this.tiles = { ...(ctx.isSoftware ? SOFTWARE_TILES : GPU_TILES), ...options.tiles };
    const t = this.tiles;
    if (t.WG_M % t.TN !== 0) {
      // gemm_core gives each thread one B column: THREADS (WG_M * WG_N) must be a multiple of
      // BN (WG_N * TN).
      throw new Error(`Invalid GEMM tiles ${JSON.stringify(t)}: WG_M must be a multiple of TN`);
    }
    this.#dummy = ctx.device.createBuffer({
      size: 256,
      usage: GPUBufferUsage.STORAGE,
      label: "unused binding",
    });
    ctx.device.lost.then((info) => {
      this.#lost = `${info.reason}: ${info.message}`;
    });
  }

  get label(): string {
    return `webgpu (${this.ctx.adapterName})`;
  }

  static async create(options: WebGpuOptions = {}): Promise<WebGpuOps> {
    return new WebGpuOps(await acquireGpu(options), options);
  }

  // ---- tensors -------------------------------------------------------------------------

  #alloc(shape: readonly number[], dtype: "f32" | "i32" = "f32", label = "tensor"): GpuTensor {
    const bytes = numel(shape) * 4;
    if (bytes > this.ctx.limits.maxStorageBufferBindingSize) {
      throw new Error(
        `Tensor ${
          fmtShape(shape)
        } needs ${bytes} bytes: above this adapter's storage binding limit of ${this.ctx.limits.maxStorageBufferBindingSize}`,
      );
    }
    return new GpuTensor(this.pool.acquire(bytes, label), shape, dtype);
  }

  #gpu(t: Tensor): GpuTensor {
    const g = t as GpuTensor;
    if (!(g instanceof GpuTensor)) throw new Error("Tensor belongs to another backend");
    if (g.released) throw new Error(`Tensor ${fmtShape(g.shape)} was used after release`);
    return g;
  }

  upload(t: HostTensor): Tensor {
    const dtype = t.data instanceof Int32Array ? "i32" : "f32";
    if (t.data.length !== numel(t.shape)) {
      throw new Error(
        `Cannot upload tensor: ${t.data.length} values for shape ${fmtShape(t.shape)}`,
      );
    }
    const g = this.#alloc(t.shape, dtype, "upload");
    // Ordered on the queue before any later submit, so pending ops that read `g` see the data.
    this.#device.queue.writeBuffer(
      g.buffer,
      0,
      t.data.buffer as ArrayBuffer,
      t.data.byteOffset,
      g.bytes,
    );
    return g;
  }

  memoryStats(): MemoryStats {
    return this.pool.stats();
  }

  resetPeak(): void {
    this.pool.resetPeak();
  }

  /** A tensor that is never released (weights). */
  constant(t: HostTensor): Tensor {
    return this.upload(t);
  }

  async read(t: Tensor): Promise<HostTensor> {
    const g = this.#gpu(t);
    // Readback buffers are recycled by size class like storage buffers.
    const size = sizeClass(g.bytes);
    const staging = this.#staging.get(size)?.pop() ?? this.#device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      label: "readback",
    });
    const enc = this.#ensureEncoder();
    enc.copyBufferToBuffer(g.buffer, 0, staging, 0, g.bytes);
    let mapped = false;
    try {
      await this.flush();
      await staging.mapAsync(GPUMapMode.READ);
      mapped = true;
      const copy = staging.getMappedRange(0, g.bytes).slice(0);
      const data = g.dtype === "i32" ? new Int32Array(copy) : new Float32Array(copy);
      return { data, shape: [...g.shape] };
    } finally {
      if (mapped) staging.unmap();
      let list = this.#staging.get(size);
      if (!list) this.#staging.set(size, list = []);
      list.push(staging);
    }
  }

  release(t: Tensor): void {
    const g = this.#gpu(t);
    g.released = true;
    this.pool.release(g.buffer);
  }

  // ---- recording and submission --------------------------------------------------------

  #ensureEncoder(): GPUCommandEncoder {
    if (this.#lost) throw new Error(`The WebGPU device was lost (${this.#lost})`);
    if (!this.#encoder) {
      this.#device.pushErrorScope("out-of-memory");
      this.#device.pushErrorScope("validation");
      this.#encoder = this.#device.createCommandEncoder({ label: "cosmos ops" });
    }
    return this.#encoder;
  }

  #uniforms(data: ArrayBuffer): Binding {
    if (data.byteLength > ARENA_BYTES) throw new Error("Uniform block too large");
    if (this.#arenaOffset + data.byteLength > ARENA_BYTES) {
      this.#arenaIndex++;
      this.#arenaOffset = 0;
    }
    if (this.#arenaIndex === this.#arenas.length) {
      this.#arenas.push(this.#device.createBuffer({
        size: ARENA_BYTES,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        label: "uniform arena",
      }));
      this.#arenaStaging.push(new Uint8Array(ARENA_BYTES));
    }
    const offset = this.#arenaOffset;
    this.#arenaStaging[this.#arenaIndex].set(new Uint8Array(data), offset);
    this.#arenaOffset += Math.ceil(data.byteLength / UNIFORM_ALIGN) * UNIFORM_ALIGN;
    return { buffer: this.#arenas[this.#arenaIndex], offset, size: data.byteLength };
  }

  #dispatch(
    pipeline: GPUComputePipeline,
    bindings: (Binding | GpuTensor | null)[],
    workgroups: number,
    family: string,
    flops = 0,
    z = 1,
  ): void {
    const enc = this.#ensureEncoder();
    const entries: GPUBindGroupEntry[] = [];
    bindings.forEach((b, i) => {
      if (b === null) return;
      if (b instanceof GpuTensor) {
        entries.push({ binding: i, resource: { buffer: b.buffer, offset: 0, size: b.bytes } });
      } else {
        entries.push({
          binding: i,
          resource: { buffer: b.buffer, offset: b.offset ?? 0, size: b.size },
        });
      }
    });
    const bindGroup = this.#device.createBindGroup({
      layout: pipeline.getBindGroupLayout(0),
      entries,
      label: family,
    });
    const maxDim = this.ctx.limits.maxComputeWorkgroupsPerDimension;
    const x = Math.min(workgroups, maxDim);
    const y = Math.ceil(workgroups / x);
    if (y > maxDim || z > maxDim) {
      throw new Error(`Dispatch of ${workgroups}x${z} workgroups for ${family} is too large`);
    }
    let timestampWrites: GPUComputePassTimestampWrites | undefined;
    const prof = this.#profile;
    if (prof && prof.entries.length < prof.capacity) {
      const q = prof.entries.length * 2;
      timestampWrites = {
        querySet: prof.querySet,
        beginningOfPassWriteIndex: q,
        endOfPassWriteIndex: q + 1,
      };
      prof.entries.push({ family, flops });
    }
    const pass = enc.beginComputePass({ label: family, timestampWrites });
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    pass.end();
    this.#pendingKernels.add(family);
    if (++this.#pendingDispatches >= MAX_PENDING_DISPATCHES) void this.#submit();
  }

  /** Submits pending work without waiting for it. */
  #submit(): Promise<void> {
    if (!this.#encoder) return Promise.resolve();
    const enc = this.#encoder;
    this.#encoder = null;
    const prof = this.#profile;
    if (prof && prof.entries.length) {
      enc.resolveQuerySet(prof.querySet, 0, prof.entries.length * 2, prof.resolve, 0);
    }
    for (let i = 0; i <= this.#arenaIndex && i < this.#arenas.length; i++) {
      const used = i < this.#arenaIndex ? ARENA_BYTES : this.#arenaOffset;
      if (used) this.#device.queue.writeBuffer(this.#arenas[i], 0, this.#arenaStaging[i], 0, used);
    }
    this.#arenaIndex = 0;
    this.#arenaOffset = 0;
    this.#device.queue.submit([enc.finish()]);
    const kernels = [...this.#pendingKernels].join(", ");
    this.#pendingKernels.clear();
    this.#pendingDispatches = 0;
    const validation = this.#device.popErrorScope();
    const oom = this.#device.popErrorScope();
    return Promise.all([validation, oom]).then(([v, o]) => {
      if (o) throw new Error(`WebGPU ran out of memory in kernels ${kernels}: ${o.message}`);
      if (v) throw new Error(`WebGPU validation error in kernels ${kernels}: ${v.message}`);
    });
  }

  /** Submits pending work and waits until the GPU has finished it. */
  async flush(): Promise<void> {
    const errors = this.#submit();
    await this.#device.queue.onSubmittedWorkDone();
    await errors;
    if (this.#profile) await this.#collectProfile();
    if (this.#lost) throw new Error(`The WebGPU device was lost (${this.#lost})`);
  }

  // ---- profiling (bench) ---------------------------------------------------------------

  /** Starts timing every dispatch with timestamp queries, when the adapter allows it. */
  startProfiling(capacity = MAX_PROFILED_DISPATCHES): boolean {
    if (!this.ctx.features.has("timestamp-query")) return false;
    capacity = Math.min(capacity, MAX_PROFILED_DISPATCHES);
    this.#profile = {
      querySet: this.#device.createQuerySet({ type: "timestamp", count: capacity * 2 }),
      resolve: this.#device.createBuffer({
        size: capacity * 16,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      }),
      capacity,
      entries: [],
      totals: {},
    };
    return true;
  }

  async #collectProfile(): Promise<void> {
    const prof = this.#profile!;
    if (!prof.entries.length) return;
    const n = prof.entries.length * 2;
    const staging = this.#device.createBuffer({
      size: n * 8,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    const enc = this.#device.createCommandEncoder();
    enc.copyBufferToBuffer(prof.resolve, 0, staging, 0, n * 8);
    this.#device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const ts = new BigInt64Array(staging.getMappedRange().slice(0));
    staging.destroy();
    prof.entries.forEach((e, i) => {
      const ms = Number(ts[2 * i + 1] - ts[2 * i]) / 1e6;
      const t = prof.totals[e.family] ??= { ms: 0, dispatches: 0, flops: 0 };
      t.ms += ms;
      t.dispatches++;
      t.flops += e.flops;
    });
    prof.entries = [];
  }

  /** Totals since `startProfiling`, then stops profiling. */
  stopProfiling(): KernelProfile {
    const totals = this.#profile?.totals ?? {};
    if (this.#profile) {
      this.#profile.querySet.destroy();
      this.#profile.resolve.destroy();
    }
    this.#profile = null;
    return totals;
  }

  // ---- ops -----------------------------------------------------------------------------

  conv(xIn: Tensor, w: ConvWeights, opts: ConvOptions = {}): Tensor {
    const x = this.#gpu(xIn);
    const g = convGeometry(x.shape, w, opts);
    const { b, cin, tIn, hIn, wIn, kt, kh, kw, st, sh, sw, padT, tOut, hOut, wOut, outShape } = g;
    const out = this.#alloc(outShape, "f32", "conv");
    const pOut = tOut * hOut * wOut;
    const M = w.cout, N = b * pOut, K = cin * kt * kh * kw;
    const norm = opts.norm;
    const u = new Uint32Array(24);
    u.set([M, N, K, cin, tIn, hIn, wIn, hIn * wIn, tOut, hOut, wOut, pOut, st, sh, sw, padT]);
    u.set([
      g.padLowH,
      g.padLowW,
      norm?.weights.groups ?? 1,
      norm ? cin / norm.weights.groups : 1,
    ], 16);
    u[20] = norm ? this.#gpu(norm.stats).shape[1] : 1;
    const consts: Constants = {
      ...this.tiles,
      KT: kt,
      KH: kh,
      KW: kw,
      NORM: !!norm,
      SILU: !!norm?.silu,
      RESIDUAL: !!opts.residual,
      UPSAMPLE: !!opts.upsample,
    };
    const pipeline = this.pipelines.get("conv", "main", consts);
    const bm = this.tiles.WG_M * this.tiles.TM, bn = this.tiles.WG_N * this.tiles.TN;
    const tiles = Math.ceil(M / bm) * Math.ceil(N / bn);
    this.#dispatch(
      pipeline,
      [
        x,
        this.#gpu(w.weight),
        this.#gpu(w.bias),
        norm ? this.#gpu(norm.stats) : { buffer: this.#dummy },
        norm ? this.#gpu(norm.weights.gammaBeta) : { buffer: this.#dummy },
        opts.residual ? this.#gpu(opts.residual) : { buffer: this.#dummy },
        out,
        this.#uniforms(u.buffer),
      ],
      tiles,
      g.family,
      2 * M * N * K,
    );
    return out;
  }

  groupNormStats(xIn: Tensor, opts: GroupNormOptions): Tensor {
    const x = this.#gpu(xIn);
    const { b, c, frames, spatial } = groupNormGeometry(x.shape, opts);
    const stats = this.#alloc([b, frames, opts.groups, 2], "f32", "norm stats");
    const u = new ArrayBuffer(32);
    new Uint32Array(u).set([c, frames, spatial, opts.groups, c / opts.groups]);
    new Float32Array(u)[5] = opts.eps;
    const pipeline = this.pipelines.get("groupnorm", "stats_main");
    this.#dispatch(
      pipeline,
      [x, stats, null, null, this.#uniforms(u)],
      b * frames * opts.groups,
      "norm",
    );
    return stats;
  }

  groupNorm(xIn: Tensor, norm: FusedNorm): Tensor {
    const x = this.#gpu(xIn);
    const stats = this.#gpu(norm.stats);
    const c = x.shape[1];
    const frames = stats.shape[1];
    const spatial = numel(x.shape.slice(2)) / frames;
    const out = this.#alloc(x.shape, "f32", "groupnorm");
    const u = new ArrayBuffer(32);
    new Uint32Array(u).set([c, frames, spatial, norm.weights.groups, c / norm.weights.groups]);
    new Float32Array(u)[5] = norm.weights.eps;
    new Uint32Array(u)[6] = norm.silu ? 1 : 0;
    const pipeline = this.pipelines.get("groupnorm", "apply_main");
    const wg = Math.ceil(numel(x.shape) / ELEMENTWISE_WG);
    this.#dispatch(
      pipeline,
      [x, stats, this.#gpu(norm.weights.gammaBeta), out, this.#uniforms(u)],
      wg,
      "norm",
    );
    return out;
  }

  /** C = alpha * A B over strided views; see wgsl/matmul.wgsl. Exposed for the bench. */
  matmul(
    a: GpuTensor,
    b: GpuTensor,
    c: GpuTensor,
    dims: { M: number; N: number; K: number; batch?: number; alpha?: number },
    strides: {
      a: [number, number, number, number];
      b: [number, number, number, number];
      c: [number, number, number, number];
    },
    family = "matmul",
  ): void {
    const u = new ArrayBuffer(64);
    const uu = new Uint32Array(u);
    uu.set([dims.M, dims.N, dims.K, 0, ...strides.a, ...strides.b, ...strides.c]);
    new Float32Array(u)[3] = dims.alpha ?? 1;
    const pipeline = this.pipelines.get("matmul", "main", { ...this.tiles });
    const bm = this.tiles.WG_M * this.tiles.TM, bn = this.tiles.WG_N * this.tiles.TN;
    const tiles = Math.ceil(dims.M / bm) * Math.ceil(dims.N / bn);
    const batch = dims.batch ?? 1;
    this.#dispatch(
      pipeline,
      [a, b, c, this.#uniforms(u)],
      tiles,
      family,
      2 * dims.M * dims.N * dims.K * batch,
      batch,
    );
  }

  /** A scratch tensor for the bench. */
  scratch(shape: number[]): GpuTensor {
    return this.#alloc(shape);
  }

  attention(qkvIn: Tensor, kind: "spatial" | "temporal" = "spatial"): Tensor {
    const qkv = this.#gpu(qkvIn);
    const { b, c, frames, pixels, outShape } = attentionGeometry(qkv.shape, kind);
    const c3 = 3 * c;
    const out = this.#alloc(outShape, "f32", "attention");
    const scale = Math.fround(c ** -0.5);
    if (kind === "temporal") {
      const scores = this.#alloc([b, frames, frames, pixels], "f32", "temporal scores");
      const u = new ArrayBuffer(32);
      const total = b * frames * frames * pixels;
      new Uint32Array(u).set([c, frames, pixels, total]);
      new Float32Array(u)[4] = scale;
      this.#dispatch(
        this.pipelines.get("attention_temporal", "scores_main"),
        [qkv, scores, null, this.#uniforms(u)],
        Math.ceil(total / ELEMENTWISE_WG),
        "attention",
        2 * total * c,
      );
      const applied = b * c * frames * pixels;
      const u2 = u.slice(0);
      new Uint32Array(u2)[3] = applied;
      this.#dispatch(
        this.pipelines.get("attention_temporal", "apply_main"),
        [qkv, scores, out, this.#uniforms(u2)],
        Math.ceil(applied / ELEMENTWISE_WG),
        "attention",
        applied * (frames + 1),
      );
      this.release(scores);
      return out;
    }
    // Spatial: frames are the matmul batch; scores exist for one block of query rows at a time
    // (per frame), never the whole N x N.
    const n = pixels;
    const budget = Math.min(this.attentionScoreBytes, this.ctx.limits.maxStorageBufferBindingSize);
    let rows = Math.max(1, Math.floor(budget / (4 * n * frames)));
    if (rows < n && rows > 64) rows -= rows % 64;
    rows = Math.min(rows, n);
    const scores = this.#alloc([frames, rows, n], "f32", "attention scores");
    // Each block's scores are packed as [frames, qr, n], so a short last block needs no masking.
    const vol = frames * n; // one channel of one batch item
    for (let bi = 0; bi < b; bi++) {
      const base = bi * c3 * vol;
      for (let q0 = 0; q0 < n; q0 += rows) {
        const qr = Math.min(rows, n - q0);
        // S[f][i, j] = sum_c q[c, f, q0 + i] k[c, f, j]
        this.matmul(qkv, qkv, scores, { M: qr, N: n, K: c, batch: frames }, {
          a: [base + q0, n, 1, vol],
          b: [base + c * vol, n, vol, 1],
          c: [0, qr * n, n, 1],
        }, "attention");
        const u = new ArrayBuffer(16);
        new Uint32Array(u).set([frames * qr, n]);
        new Float32Array(u)[2] = scale;
        this.#dispatch(
          this.pipelines.get("softmax"),
          [{ buffer: scores.buffer, size: frames * qr * n * 4 }, this.#uniforms(u)],
          frames * qr,
          "attention",
        );
        // out[c, f, q0 + i] = sum_j v[c, f, j] S[f][i, j]
        this.matmul(qkv, scores, out, { M: c, N: qr, K: n, batch: frames }, {
          a: [base + 2 * c * vol, n, vol, 1],
          b: [0, qr * n, 1, n],
          c: [bi * c * vol + q0, n, vol, 1],
        }, "attention");
      }
    }
    this.release(scores);
    return out;
  }

  #resample(xIn: Tensor, op: Resample): Tensor {
    const x = this.#gpu(xIn);
    const outDims = resampleDims(x.shape, op);
    const [b, c, t, h, w] = x.shape;
    const entry = RESAMPLE_ENTRIES[op];
    const out = this.#alloc([b, c, ...outDims], "f32", entry);
    const total = numel(out.shape);
    const u = new Uint32Array([t, h, w, total, ...outDims, 0]);
    this.#dispatch(
      this.pipelines.get("resample", entry),
      [x, out, this.#uniforms(u.buffer)],
      Math.ceil(total / ELEMENTWISE_WG),
      "resample",
    );
    return out;
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

  /** Haar levels (haar.wgsl for images, haar3d.wgsl for video), one dispatch per level. */
  #haar(xIn: Tensor, levels: number, forward: boolean): Tensor {
    const x0 = this.#gpu(xIn);
    const video = x0.shape.length === 5;
    let x: GpuTensor = x0;
    for (const step of haarPlan(x0.shape, levels, forward)) {
      const out = this.#alloc(step.outShape, "f32", "haar");
      const total = step.outShape[0] * step.c * numel(step.half);
      const u = video
        ? new Uint32Array([step.c, ...step.half, total, step.lead, step.trim, step.full])
        : new Uint32Array([step.c, ...step.half, total]);
      this.#dispatch(
        this.pipelines.get(video ? "haar3d" : "haar", forward ? "dwt_main" : "idwt_main"),
        [x, out, this.#uniforms(u.buffer)],
        Math.ceil(total / ELEMENTWISE_WG),
        "haar",
      );
      if (x !== x0) this.release(x);
      x = out;
    }
    return x;
  }

  #fsqUniforms(spec: FsqSpec, positions: number, total: number): ArrayBuffer {
    const k = fsqConstants(spec.levels);
    const u = new ArrayBuffer(16 + 5 * 32);
    const uu = new Uint32Array(u), uf = new Float32Array(u);
    uu.set([positions, spec.levels.length, total]);
    uu.set(spec.levels, 4);
    uu.set(k.basis, 12);
    uf.set(k.halfL, 20);
    uf.set(k.offset, 28);
    uf.set(k.shift, 36);
    return u;
  }

  fsqQuantize(zIn: Tensor, spec: FsqSpec): { codes: Tensor; indices: Tensor } {
    const z = this.#gpu(zIn);
    const [b, d] = z.shape;
    if (d !== spec.levels.length) {
      throw new Error(`FSQ expects ${spec.levels.length} channels, got ${fmtShape(z.shape)}`);
    }
    const rest = z.shape.slice(2);
    const positions = numel(rest);
    const codes = this.#alloc(z.shape, "f32", "fsq codes");
    const indices = this.#alloc([b, ...rest], "i32", "fsq indices");
    const total = b * positions;
    this.#dispatch(
      this.pipelines.get("fsq", "quantize_main"),
      [z, codes, indices, this.#uniforms(this.#fsqUniforms(spec, positions, total))],
      Math.ceil(total / ELEMENTWISE_WG),
      "fsq",
    );
    return { codes, indices };
  }

  fsqDequantize(idxIn: Tensor, spec: FsqSpec): Tensor {
    const idx = this.#gpu(idxIn);
    const [b, ...rest] = idx.shape;
    const positions = numel(rest);
    const codes = this.#alloc([b, spec.levels.length, ...rest], "f32", "fsq codes");
    const total = b * positions;
    this.#dispatch(
      this.pipelines.get("fsq", "dequantize_main"),
      [null, codes, idx, this.#uniforms(this.#fsqUniforms(spec, positions, total))],
      Math.ceil(total / ELEMENTWISE_WG),
      "fsq",
    );
    return codes;
  }

  /** Releases everything the backend owns. */
  destroy(): void {
    this.pool.trim();
    for (const list of this.#staging.values()) list.forEach((b) => b.destroy());
    this.#staging.clear();
    for (const a of this.#arenas) a.destroy();
    this.#dummy.destroy();
    this.#device.destroy();
  }
}
