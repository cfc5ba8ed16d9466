/**
 * The WebGPU runtime under the ops: tensors in pooled buffers, and kernel dispatch.
 *
 * What it knows is how to run a kernel, not which: the lowering modules beside it (conv, gemm,
 * norm, attention, resample, haar, fsq) pick pipelines and pack parameters, then call
 * `dispatch`. Dispatches are recorded into one command encoder and submitted in batches;
 * `read` submits what is pending and maps the result. Uniforms for a batch live in one arena
 * buffer written just before the submit, so a dispatch costs no buffer creation. Validation
 * and out-of-memory errors of a batch are caught with error scopes and rethrown as exceptions
 * naming the kernels involved. While profiling, each dispatch is timed with timestamp queries.
 * @module
 */

import type { KernelProfile, MemoryStats, Tensor } from "../ops.ts";
import { readTarget } from "../ops.ts";
import { fmtShape, type HostTensor, numel } from "../../types.ts";
import { acquireGpu, type DeviceOptions, type GpuContext } from "./device.ts";
import { BufferPool, sizeClass } from "./pool.ts";
import { PipelineCache } from "./pipelines.ts";
import { TensorScopes } from "../scopes.ts";
import { type ElementType, fromF16, type Precision, storageBytes, toF16 } from "./precision.ts";

/** Elementwise kernels' workgroup size (fixed in their WGSL). */
const ELEMENTWISE_WG = 256;
/** Uniform slots are aligned to this (the WebGPU default minUniformBufferOffsetAlignment). */
const UNIFORM_ALIGN = 256;
const ARENA_BYTES = 64 * 1024;
/** Dispatches per submitted command buffer before an automatic flush. */
const MAX_PENDING_DISPATCHES = 512;
/** Two timestamps per dispatch; WebGPU caps a query set at 4096 queries. */
const MAX_PROFILED_DISPATCHES = 2048;

/** A tensor living in a pooled GPU buffer. */
export class GpuTensor implements Tensor {
  /** Set by `release`; a released tensor may not be used again. */
  released = false;
  /** Wraps a pooled buffer holding `shape` in row-major order. */
  constructor(
    readonly buffer: GPUBuffer,
    readonly shape: readonly number[],
    readonly dtype: "f32" | "i32",
    /** What each element is stored as (see precision.ts): f32 or f16 for floats, i32. */
    readonly element: ElementType = dtype,
  ) {}
  /** Bytes of the tensor's elements (the buffer may be larger: a pool size class). */
  get bytes(): number {
    return storageBytes(numel(this.shape), this.element);
  }
}

/** A buffer range bound to a kernel (the whole buffer when size and offset are left out). */
export interface Binding {
  buffer: GPUBuffer;
  size?: number;
  offset?: number;
}

/** One kernel launch. */
export interface Dispatch {
  /** Kernel family, for profiles and error messages. */
  family: string;
  pipeline: GPUComputePipeline;
  /** Bindings 0, 1, ... in order; null leaves that index unbound (the entry point reads none). */
  bindings: (Binding | GpuTensor | null)[];
  /** The packed `struct Params` (see params.ts), bound right after `bindings`. */
  params: ArrayBuffer;
  /** Workgroups to launch, folded into x and y to respect the per-dimension limit. */
  workgroups: number;
  /** The third dispatch dimension (matmul's batch). Default 1. */
  z?: number;
  /** Floating-point operations, for the profile's GFLOP/s. */
  flops?: number;
}

/** Workgroups for one thread per element of an elementwise kernel. */
export function elementwiseGroups(total: number): number {
  return Math.ceil(total / ELEMENTWISE_WG);
}

/** Device, memory, pipelines and submission: everything the lowering modules run on. */
export class GpuRuntime {
  /** The device and the facts about it. */
  readonly ctx: GpuContext;
  /** Storage buffers recycled by size class. */
  readonly pool: BufferPool;
  /** The tensors made while a scope is open (../scopes.ts). */
  readonly scopes = new TensorScopes<GpuTensor>();
  /** Compiled pipelines by kernel, entry point and constants. */
  readonly pipelines: PipelineCache;
  /** A small storage buffer for bindings that a kernel's specialisation never reads. */
  readonly unused: Binding;
  /** What float tensors are stored as: "f32", or "f16" where asked for (see precision.ts). */
  readonly precision: Precision;
  #device: GPUDevice;
  #encoder: GPUCommandEncoder | null = null;
  #pendingDispatches = 0;
  #pendingKernels = new Set<string>();
  #arenas: GPUBuffer[] = [];
  #arenaStaging: Uint8Array<ArrayBuffer>[] = [];
  #arenaIndex = 0;
  #arenaOffset = 0;
  #staging = new Map<number, GPUBuffer[]>();
  #lost: string | null = null;
  /** The first error of a batch submitted early (see #submitEarly), for the next flush. */
  #earlyError: Error | null = null;
  #profile: {
    querySet: GPUQuerySet;
    resolve: GPUBuffer;
    capacity: number;
    entries: { family: string; flops: number }[];
    totals: KernelProfile;
  } | null = null;

  private constructor(ctx: GpuContext, precision: Precision) {
    this.ctx = ctx;
    this.precision = precision;
    this.#device = ctx.device;
    this.pool = new BufferPool(ctx.device, ctx.limits.maxBufferSize);
    this.pipelines = new PipelineCache(ctx.device, ctx.subgroupsDirective);
    this.unused = {
      buffer: ctx.device.createBuffer({
        size: 256,
        usage: GPUBufferUsage.STORAGE,
        label: "unused binding",
      }),
    };
    ctx.device.lost.then((info) => {
      this.#lost = `${info.reason}: ${info.message}`;
    });
  }

  /** Acquires a device (see device.ts) and the runtime on it. */
  static async create(options: DeviceOptions = {}): Promise<GpuRuntime> {
    return new GpuRuntime(await acquireGpu(options), options.precision ?? "f32");
  }

  // ---- tensors -------------------------------------------------------------------------

  /**
   * Bytes any tensor but an upload may hold: the row bands' budget (bands.ts), which keeps
   * every activation under it; a tensor over it is a bug in a band plan, refused here.
   */
  activationLimit = Infinity;

  /**
   * A new tensor of `shape` from the pool; its contents are undefined. Float tensors are stored
   * at the runtime's precision unless `element` says otherwise (statistics and scores: "f32").
   */
  alloc(
    shape: readonly number[],
    dtype: "f32" | "i32" = "f32",
    label = "tensor",
    element: ElementType = dtype === "i32" ? "i32" : this.precision,
  ): GpuTensor {
    const bytes = storageBytes(numel(shape), element);
    if (label !== "upload" && bytes > this.activationLimit) {
      throw new Error(
        `Tensor ${
          fmtShape(shape)
        } (${label}) needs ${bytes} bytes: above the binding budget of ${this.activationLimit}, and no row bands were planned for it`,
      );
    }
    if (bytes > this.ctx.limits.maxStorageBufferBindingSize) {
      throw new Error(
        `Tensor ${
          fmtShape(shape)
        } needs ${bytes} bytes: above this adapter's storage binding limit of ${this.ctx.limits.maxStorageBufferBindingSize}`,
      );
    }
    const t = new GpuTensor(this.pool.acquire(bytes, label), shape, dtype, element);
    return this.scopes.made(t);
  }

  /** The live GPU tensor behind an op argument; throws for another backend's or a released one. */
  tensor(t: Tensor): GpuTensor {
    const g = t as GpuTensor;
    if (!(g instanceof GpuTensor)) throw new Error("Tensor belongs to another backend");
    if (g.released) throw new Error(`Tensor ${fmtShape(g.shape)} was used after release`);
    return g;
  }

  /** Copies a host tensor into a new GPU tensor. */
  upload(t: HostTensor): GpuTensor {
    const dtype = t.data instanceof Int32Array ? "i32" : "f32";
    if (t.data.length !== numel(t.shape)) {
      throw new Error(
        `Cannot upload tensor: ${t.data.length} values for shape ${fmtShape(t.shape)}`,
      );
    }
    // The buffer may be one that recorded, unsubmitted work still uses (released to the pool
    // since), and writeBuffer runs before that work: submit it first, so the write lands after.
    if (this.#encoder) this.#submitEarly();
    const g = this.alloc(t.shape, dtype, "upload");
    // Ordered on the queue before any later submit, so pending ops that read `g` see the data.
    if (g.element === "f16") {
      this.#device.queue.writeBuffer(g.buffer, 0, toF16(t.data as Float32Array));
      return g;
    }
    this.#device.queue.writeBuffer(
      g.buffer,
      0,
      t.data.buffer as ArrayBuffer,
      t.data.byteOffset,
      g.bytes,
    );
    return g;
  }

  /** Submits pending work, waits for it and copies the tensor back. */
  async read(t: Tensor, into?: Float32Array | Int32Array): Promise<HostTensor> {
    const g = this.tensor(t);
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
      const n = numel(g.shape);
      const data = readTarget(into, n, g.element === "i32" ? "i32" : "f32");
      const range = staging.getMappedRange(0, g.bytes);
      data.set(
        g.element === "i32"
          ? new Int32Array(range, 0, n)
          : g.element === "f16"
          ? fromF16(range, n)
          : new Float32Array(range, 0, n),
      );
      return { data, shape: [...g.shape] };
    } finally {
      if (mapped) staging.unmap();
      let list = this.#staging.get(size);
      if (!list) this.#staging.set(size, list = []);
      list.push(staging);
    }
  }

  /** Returns a tensor's buffer to the pool; the tensor may not be used again. */
  release(t: Tensor): void {
    const g = this.tensor(t);
    g.released = true;
    this.scopes.dropped(g);
    this.pool.release(g.buffer);
  }

  /** The pool's byte counters. */
  memoryStats(): MemoryStats {
    return this.pool.stats();
  }

  /** Forgets the pool's peaks. */
  resetPeak(): void {
    this.pool.resetPeak();
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

  /** A slot of the batch's uniform arena holding `data`. */
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

  /** Records one kernel launch; submits the batch when it is long enough. */
  dispatch(d: Dispatch): void {
    const { family, pipeline, workgroups, flops = 0, z = 1 } = d;
    const bindings = [...d.bindings, this.#uniforms(d.params)];
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
    if (++this.#pendingDispatches >= MAX_PENDING_DISPATCHES) this.#submitEarly();
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

  /**
   * Submits pending work before a flush asks for it (a long batch, an upload); its errors are
   * kept for the next flush to throw, not left as an unhandled rejection.
   */
  #submitEarly(): void {
    this.#submit().catch((err) => {
      this.#earlyError ??= err;
    });
  }

  /** Submits pending work and waits until the GPU has finished it. */
  async flush(): Promise<void> {
    const errors = this.#submit();
    await this.#device.queue.onSubmittedWorkDone();
    this.pool.flushed();
    await errors;
    const early = this.#earlyError;
    this.#earlyError = null;
    if (early) throw early;
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

  /** Releases every buffer the runtime owns, and the device. */
  destroy(): void {
    this.pool.trim();
    for (const list of this.#staging.values()) list.forEach((b) => b.destroy());
    this.#staging.clear();
    for (const a of this.#arenas) a.destroy();
    this.unused.buffer.destroy();
    this.#device.destroy();
  }
}
