/**
 * The WebAssembly backend's runtime: what every op lowering (conv.ts, norm.ts, attention.ts,
 * resample.ts, haar.ts, fsq.ts) runs on. It owns the one linear memory (module statics, the
 * thread control block, one scratch area per thread, then the heap of tensors), the worker
 * threads that share it where the runtime allows (Deno does), the one launcher that runs a
 * kernel over a range of items on every thread, per-family profiling, and the Winograd weight
 * cache (tied to the lifetime of the weight tensors it transforms).
 * @module
 */

import type { ConvWeights, KernelProfile, Tensor } from "../ops.ts";
import { readTarget } from "../ops.ts";
import { fmtShape, type HostTensor, numel } from "../../types.ts";
import {
  type CpuKernels,
  FSQ_TABLE_BYTES,
  hasRelaxedSimd,
  hasSharedMemory,
  instantiateKernels,
  type KernelArgs,
  kernelModule,
  type LaunchArgs,
  positional,
  type RangeKernel,
  scratchIndex,
  type WasmVariant,
} from "./kernels.ts";
import { WasmHeap } from "./heap.ts";
import { ParkedTensor, ParkingLot, WasmBandedTensor } from "./parking.ts";
import { CONTROL_BYTES, ThreadPool } from "./threads.ts";
import { TensorScopes } from "../scopes.ts";
import {
  ATTENTION_SCORE_BYTES,
  checkWasmOptions,
  COLUMN_BYTES,
  defaultParkedBytes,
  MAX_TENSOR_BYTES,
  type WasmOptions,
  WINOGRAD_BAND_BYTES,
  WINOGRAD_CACHE_BYTES,
  WINOGRAD_CACHE_MAX_PIXELS,
  WINOGRAD_MAX_CHANNELS,
} from "./options.ts";

export { checkWasmOptions, type WasmOptions };

/** A tensor in the WebAssembly heap. */
export class WasmTensor implements Tensor {
  released = false;
  constructor(
    readonly ptr: number,
    readonly shape: readonly number[],
    readonly dtype: "f32" | "i32",
  ) {}
  get size(): number {
    return numel(this.shape);
  }
}

/** Work items per chunk handed to a thread: enough chunks to balance, few enough to be cheap. */
export const CHUNKS_PER_THREAD = 4;

/** Whether this thread may block in Atomics.wait (a browser's main thread may not). */
function canBlock(): boolean {
  try {
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 1, 0);
    return true;
  } catch {
    return false;
  }
}

function defaultThreads(): number {
  const n = (globalThis.navigator as { hardwareConcurrency?: number } | undefined)
    ?.hardwareConcurrency;
  return Number.isInteger(n) && n! > 0 ? n! : 1;
}

/** Memory, threads, launcher and profiling of one WebAssembly backend. */
export class WasmRuntime {
  /** What runs the ops, e.g. "wasm (relaxed SIMD, 16 threads)". */
  readonly label: string;
  readonly variant: WasmVariant;
  readonly heap: WasmHeap;
  /** Stream state kept outside the heap between steps (parking.ts). */
  readonly parking: ParkingLot;
  /** The tensors made while a scope is open (scopes.ts), in the heap and parked. */
  readonly scopes = new TensorScopes<Tensor>();
  /** The calling thread's instance of the kernels (for the kernels called directly). */
  readonly kernels: CpuKernels;
  /** Bytes of each thread's scratch area. */
  readonly scratchBytes: number;
  readonly columnBytes: number;
  readonly winogradBandBytes: number;
  readonly attentionScoreBytes: number;
  /** Bytes an activation may hold in the heap before it is banded (bands.ts). */
  readonly maxTensorBytes: number;
  readonly #pool: ThreadPool | null;
  readonly #scratch: number;
  readonly #winogradBudget: number;
  /** Transformed weights kept between calls, by weight tensor, in least recently used order. */
  #winogradCache = new Map<WasmTensor, { ptr: number; bytes: number }>();
  /** Layers whose caching was decided (at their first call). */
  #winogradDecided = new WeakSet<WasmTensor>();
  #winogradCached = 0;
  #profile: KernelProfile | null = null;
  #threadProfile: Record<string, { threadMs: number; busyMs: number }> = {};
  /** Kernel milliseconds without a pool (one thread), as the pool counts its threads'. */
  #soloBusyMs = 0;
  #destroyed = false;

  private constructor(
    k: CpuKernels,
    memory: WebAssembly.Memory,
    variant: WasmVariant,
    pool: ThreadPool | null,
    heapBase: number,
    scratch: number,
    scratchBytes: number,
    options: WasmOptions,
  ) {
    this.kernels = k;
    this.scratchBytes = scratchBytes;
    this.#winogradBudget = options.winogradCacheBytes ?? WINOGRAD_CACHE_BYTES;
    this.variant = variant;
    this.#pool = pool;
    this.#scratch = scratch;
    this.heap = new WasmHeap(memory, heapBase, options.heapBytes);
    this.maxTensorBytes = options.maxTensorBytes ?? MAX_TENSOR_BYTES;
    this.parking = new ParkingLot(
      options.parkedBytes ?? defaultParkedBytes(),
      (bytes) => this.heap.setParked(bytes),
      this.scopes,
    );
    this.columnBytes = options.columnBytes ?? COLUMN_BYTES;
    this.winogradBandBytes = options.winogradBandBytes ?? WINOGRAD_BAND_BYTES;
    this.attentionScoreBytes = options.attentionScoreBytes ?? ATTENTION_SCORE_BYTES;
    this.label = `wasm (${variant.startsWith("relaxed") ? "relaxed SIMD" : "SIMD"}, ${
      pool ? pool.threads : 1
    } thread${pool && pool.threads > 1 ? "s" : ""})`;
  }

  /** Compiles (once per process) and instantiates the kernels, lays out memory, starts threads. */
  static async create(options: WasmOptions = {}): Promise<WasmRuntime> {
    checkWasmOptions(options);
    const threads = options.threads ?? defaultThreads();
    const threaded = threads > 1 && hasSharedMemory() && canBlock();
    const fma = (options.relaxedSimd ?? true) && hasRelaxedSimd();
    const variant = `${fma ? "relaxed" : "simd"}${threaded ? "-shared" : ""}` as WasmVariant;
    let module: WebAssembly.Module;
    try {
      module = await kernelModule(variant);
    } catch (err) {
      throw new Error(
        `The WebAssembly backend cannot run here: this runtime does not compile its kernels ` +
          `(they need WebAssembly SIMD${fma ? " and relaxed SIMD" : ""}): ${
            (err as Error).message
          }`,
        { cause: err },
      );
    }
    const memory = new WebAssembly.Memory({
      initial: 32,
      maximum: 65536,
      shared: threaded,
    } as WebAssembly.MemoryDescriptor);
    const k = await instantiateKernels(module, memory);
    // Layout: module statics, the thread control block, one scratch area per thread, the heap.
    const control = Math.ceil(k.heapBase() / 64) * 64;
    const scratch = control + Math.ceil((CONTROL_BYTES + FSQ_TABLE_BYTES) / 64) * 64;
    const n = threaded ? threads : 1;
    // Per-thread scratch: GEMM packing at its largest blocks, or a Winograd convolution's
    // transformed tiles at the widest official layer.
    const scratchBytes = Math.ceil(
      Math.max(
        k.gemmScratchBytes(1 << 16, 1 << 16, 1 << 16),
        k.winogradScratchBytes(WINOGRAD_MAX_CHANNELS, WINOGRAD_MAX_CHANNELS),
        k.winogradWeightsScratchBytes(),
      ) / 64,
    ) * 64;
    const heapBase = scratch + n * scratchBytes;
    const grow = Math.ceil((heapBase - memory.buffer.byteLength) / 65536);
    if (grow > 0) memory.grow(grow);
    // The FSQ constants live past the statics, which a worker starting would overwrite.
    k.fsqUseTable(control + CONTROL_BYTES);
    const pool = threaded
      ? await ThreadPool.create({
        module,
        memory,
        kernels: k as unknown as Record<string, unknown>,
        workers: threads - 1,
        control,
        scratch: Array.from({ length: n }, (_, i) => scratch + i * scratchBytes),
        idleMs: options.idleMs,
      })
      : null;
    return new WasmRuntime(k, memory, variant, pool, heapBase, scratch, scratchBytes, options);
  }

  /** Threads that take part in a launch now (the calling one included). */
  get threads(): number {
    return this.#pool?.threads ?? 1;
  }

  // ---- tensors -------------------------------------------------------------------------

  /** A fresh tensor of the heap (`what` names it in out-of-memory errors). */
  alloc(shape: readonly number[], dtype: "f32" | "i32" = "f32", what = "tensor"): WasmTensor {
    const t = new WasmTensor(this.heap.alloc(numel(shape) * 4, what), shape, dtype);
    return this.scopes.made(t) as WasmTensor;
  }

  /** `t` as this backend's live tensor, or the error of using it. */
  tensor(t: Tensor): WasmTensor {
    const w = t as WasmTensor;
    if (t instanceof ParkedTensor) {
      throw new Error(
        `Tensor ${fmtShape(t.shape)} is parked (stream state kept outside the heap): only ` +
          `joinFrames, read, release, conv's context and attention's keysValues take it`,
      );
    }
    if (t instanceof WasmBandedTensor) {
      throw new Error(
        `Tensor ${fmtShape(t.shape)} is held in row bands outside the heap: an op took it ` +
          `without its band plan`,
      );
    }
    if (!(w instanceof WasmTensor)) throw new Error("Tensor belongs to another backend");
    if (w.released) throw new Error(`Tensor ${fmtShape(w.shape)} was used after release`);
    if (this.#destroyed) throw new Error("The WebAssembly backend was disposed");
    return w;
  }

  /**
   * `t` as this backend's live tensor, in the heap or parked (for the ops that also take parked
   * stream state: joinFrames, read, release, conv's context, attention's keysValues).
   */
  stored(t: Tensor): WasmTensor | ParkedTensor {
    if (!(t instanceof ParkedTensor)) return this.tensor(t);
    if (t.released) throw new Error(`Tensor ${fmtShape(t.shape)} was used after release`);
    if (this.#destroyed) throw new Error("The WebAssembly backend was disposed");
    return t;
  }

  /** A float32 view of `n` values at `ptr` (invalidated when the memory grows). */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.heap.memory.buffer, ptr, n);
  }

  /** Copies a host tensor into the heap. */
  upload(t: HostTensor): WasmTensor {
    if (t.data.length !== numel(t.shape)) {
      throw new Error(
        `Cannot upload tensor: ${t.data.length} values for shape ${fmtShape(t.shape)}`,
      );
    }
    const dtype = t.data instanceof Int32Array ? "i32" : "f32";
    const w = this.alloc(t.shape, dtype, "upload");
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * 4);
    new Uint8Array(this.heap.memory.buffer, w.ptr, bytes.length).set(bytes);
    return w;
  }

  /** Copies a tensor out of the heap. */
  read(t: Tensor, into?: Float32Array | Int32Array): HostTensor {
    const w = this.stored(t);
    if (w instanceof ParkedTensor) return this.#readParked(w, into);
    const data = readTarget(into, w.size, w.dtype);
    const memory = this.heap.memory.buffer;
    data.set(
      w.dtype === "i32"
        ? new Int32Array(memory, w.ptr, w.size)
        : new Float32Array(memory, w.ptr, w.size),
    );
    return { data, shape: [...w.shape] };
  }

  /** Returns a tensor's block (and its cached Winograd weights, if any) to the heap. */
  release(t: Tensor): void {
    const w = this.stored(t);
    if (w instanceof ParkedTensor) return this.parking.release(w);
    w.released = true;
    this.scopes.dropped(w);
    this.heap.free(w.ptr);
    this.#dropTransformed(w);
  }

  #readParked(t: ParkedTensor, into?: Float32Array | Int32Array): HostTensor {
    const [b, c, frames, h, w] = t.shape;
    const data = readTarget(into, t.size, t.dtype);
    const words = new Int32Array(data.buffer, data.byteOffset, data.length);
    this.parking.copyOut(t, 0, frames, b * c, h * w, words, 0, frames * h * w);
    return { data, shape: [...t.shape] };
  }

  // ---- the Winograd weight cache -------------------------------------------------------

  #dropTransformed(w: WasmTensor): void {
    const cached = this.#winogradCache.get(w);
    if (!cached) return;
    this.#winogradCache.delete(w);
    this.#winogradCached -= cached.bytes;
    this.heap.free(cached.ptr);
  }

  /**
   * A layer's Winograd weights for a call of `pixels` output pixels: from the cache, or
   * transformed now on every thread (then kept when small calls and the budget allow; `owned`
   * says the caller frees them).
   */
  winogradWeights(w: ConvWeights, pixels: number): { ptr: number; owned: boolean } {
    const weight = this.tensor(w.weight);
    const hit = this.#winogradCache.get(weight);
    if (hit) return { ptr: hit.ptr, owned: false };
    const bytes = this.kernels.winogradWeightsBytes(w.cout, w.cin);
    const ptr = this.heap.alloc(bytes, "Winograd weights");
    this.launch(
      "winogradWeightsPanels",
      { w: weight.ptr, u: ptr, cout: w.cout, cin: w.cin },
      Math.ceil(w.cout / 6),
    );
    // Kept only while it fits: the layers kept stay (see winogradCacheBytes).
    // Decided once per layer, at its first call, so that the memory a pass holds afterwards
    // does not grow when later calls are smaller (a stream's steps after a whole clip).
    if (this.#winogradDecided.has(weight)) return { ptr, owned: true };
    this.#winogradDecided.add(weight);
    const small = pixels <= WINOGRAD_CACHE_MAX_PIXELS;
    if (!small || this.#winogradCached + bytes > this.#winogradBudget) return { ptr, owned: true };
    this.#winogradCache.set(weight, { ptr, bytes });
    this.#winogradCached += bytes;
    return { ptr, owned: false };
  }

  // ---- launching -----------------------------------------------------------------------

  /**
   * Runs a kernel over its items [0, total) on every thread, in chunks of `chunk` items
   * (default: a few chunks per thread); each thread passes its own scratch area where the
   * kernel takes one.
   */
  launch<K extends RangeKernel>(
    kernel: K,
    args: LaunchArgs<K>,
    total: number,
    chunk = Math.ceil(total / (this.threads * CHUNKS_PER_THREAD)),
  ): void {
    const a = positional(kernel, { ...args, scratch: 0 } as KernelArgs<K>);
    const scratchArg = scratchIndex(kernel);
    if (this.#pool) this.#pool.run(kernel, a, total, Math.max(1, chunk), scratchArg);
    else {
      if (scratchArg >= 0) a[scratchArg] = this.#scratch;
      const t0 = performance.now();
      (this.kernels[kernel] as (...a: number[]) => void)(...a, 0, total);
      this.#soloBusyMs += performance.now() - t0;
    }
  }

  /** Runs `f`, timed under `family` while profiling. */
  timed<T>(family: string, flops: number, f: () => T): T {
    if (!this.#profile) return f();
    const t0 = performance.now(), busy0 = this.#busyMs();
    const r = f();
    const ms = performance.now() - t0;
    const e = this.#profile[family] ??= { ms: 0, dispatches: 0, flops: 0 };
    e.ms += ms;
    e.dispatches++;
    e.flops += flops;
    const t = this.#threadProfile[family] ??= { threadMs: 0, busyMs: 0 };
    t.threadMs += ms * this.threads;
    t.busyMs += this.#busyMs() - busy0;
    return r;
  }

  /** Milliseconds spent inside kernels so far, added over the threads. */
  #busyMs(): number {
    return this.#pool ? this.#pool.busyMs : this.#soloBusyMs;
  }

  /**
   * Per family, since `startProfiling`: thread-milliseconds (op time x threads) and the part of
   * them spent inside kernels; the rest is the threads' idle time (waiting for a launch's last
   * chunk, for the host's code between launches, for workers to wake).
   */
  threadProfile(): Record<string, { threadMs: number; busyMs: number }> {
    return this.#threadProfile;
  }

  /** Times every op by family until `stopProfiling`. */
  startProfiling(): boolean {
    this.#profile = {};
    this.#threadProfile = {};
    return true;
  }

  /** Totals since `startProfiling`, and stops profiling. */
  stopProfiling(): KernelProfile {
    const p = this.#profile ?? {};
    this.#profile = null;
    return p;
  }

  /** Stops the worker threads; the memory goes with the last reference to the runtime. */
  destroy(): void {
    this.#destroyed = true;
    this.#pool?.close();
    this.parking.clear();
  }
}
