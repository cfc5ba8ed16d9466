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

/** How the WebAssembly backend runs: threads, SIMD flavour, memory budgets. */
export interface WasmOptions {
  /** Threads (the calling one included). Default: the machine's logical cores. */
  threads?: number;
  /** Use fused multiply-add where the runtime has relaxed SIMD. Default true. */
  relaxedSimd?: boolean;
  /** Bytes of gathered convolution columns held at once. */
  columnBytes?: number;
  /**
   * Bytes of a Winograd convolution's zero-padded input held at once: larger frames are
   * convolved a band of rows at a time (default 16 MiB).
   */
  winogradBandBytes?: number;
  /**
   * Bytes kept outside the heap (a stream's carried frames and attention caches between steps,
   * and row bands), at most: past it a stream fails with a clear error rather than exhausting
   * the process. Default 16 GiB, or three quarters of the machine's memory where that is less
   * and the runtime may read it (Deno with --allow-sys). The caches grow with a clip's length:
   * 2 x 59 MB per latent frame at 720p for the official video tokenizers, on top of 1.35 GiB of
   * carried frames; the Wan2.1 VAE's 720p decode carries about 8.9 GB.
   */
  parkedBytes?: number;
  /** Bytes of attention scores held at once. */
  attentionScoreBytes?: number;
  /**
   * Bytes of Winograd-transformed 3x3 weights kept between calls, for the layers whose first
   * call has at most WINOGRAD_CACHE_MAX_PIXELS output pixels (where the transform is a large
   * part of the work: 40% at 3 frames of 16x16 with 512 channels, a few % at 64x64): the first
   * such layers stay while they fit, and the others are transformed into a transient buffer on
   * every call (evicting the least recently used instead would keep nothing when a pass cycles
   * through more layers than fit; deciding at the first call keeps a pass's memory from growing
   * later). A transform is 4x its layer's weights (36 positions
   * against 9 taps). Default 128 MiB (WINOGRAD_CACHE_BYTES); 0 transforms on every call.
   */
  winogradCacheBytes?: number;
  /** Worker threads stop after this many idle milliseconds (restarting on demand). */
  idleMs?: number;
  /**
   * Bytes an activation may hold in the heap: a larger one (a step of a 4K video) is held as
   * row bands outside it, and each op over it runs a band at a time (bands.ts). Default 512 MiB:
   * nothing at 1080p or below is banded, and a 4K step's heap stays well under 4 GiB.
   */
  maxTensorBytes?: number;
  /**
   * Bytes the WebAssembly memory may grow to (default, and at most, wasm32's 4 GiB): an
   * allocation past it fails with an error naming what needed the memory.
   */
  heapBytes?: number;
}

/** Channels up to which 3x3 convolutions take the Winograd path (its scratch is sized for them). */
const WINOGRAD_MAX_CHANNELS = 512;
const COLUMN_BYTES = 8 << 20;
const WINOGRAD_BAND_BYTES = 16 << 20;
/**
 * The default Winograd weight cache: with it, the streaming figures of the README (720p encode
 * 2.46 GB, decode 2.66 GB peak RSS) grow by 128 MiB at most, still under a quarter of the
 * reference's 11.3 GB.
 */
export const WINOGRAD_CACHE_BYTES = 128 << 20;
/**
 * Output pixels per call up to which a convolution's transform is cached: a 720p clip's
 * layers are all larger (its latent frames are 90 x 160), so its memory is unchanged.
 */
export const WINOGRAD_CACHE_MAX_PIXELS = 4096;
const PARKED_BYTES = 16 * 2 ** 30;

/**
 * The default `parkedBytes`: PARKED_BYTES, or 3/4 of the machine's memory where that is less.
 * The memory is read only where it is allowed already: asking would prompt a user at a terminal.
 */
export function defaultParkedBytes(): number {
  const deno = (globalThis as {
    Deno?: {
      permissions?: { querySync?(d: { name: "sys"; kind: "systemMemoryInfo" }): { state: string } };
      systemMemoryInfo?(): { total: number };
    };
  }).Deno;
  try {
    const state = deno?.permissions?.querySync?.({ name: "sys", kind: "systemMemoryInfo" }).state;
    const total = state === "granted" ? deno?.systemMemoryInfo?.().total : undefined;
    if (total && total > 0) return Math.min(PARKED_BYTES, Math.floor(total * 0.75));
  } catch {
    // A runtime without these APIs: the fixed default.
  }
  return PARKED_BYTES;
}
const MAX_TENSOR_BYTES = 512 << 20;
const ATTENTION_SCORE_BYTES = 4 << 20;
/** Work items per chunk handed to a thread: enough chunks to balance, few enough to be cheap. */
export const CHUNKS_PER_THREAD = 4;

/** Throws on options no backend could honour. */
export function checkWasmOptions(options: WasmOptions): void {
  const t = options.threads;
  if (t !== undefined && (!Number.isInteger(t) || t < 1)) {
    throw new Error(`threads must be a positive integer, got ${t}`);
  }
  const budgets = [
    "columnBytes",
    "winogradBandBytes",
    "parkedBytes",
    "attentionScoreBytes",
    "winogradCacheBytes",
    "idleMs",
    "heapBytes",
  ] as const;
  for (const k of budgets) {
    const v = options[k];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
      throw new Error(`${k} must be a number >= 0, got ${v}`);
    }
  }
  const m = options.maxTensorBytes;
  if (m !== undefined && !(Number.isFinite(m) && m >= 64)) {
    throw new Error(`maxTensorBytes must be a number >= 64, got ${m}`);
  }
  const h = options.heapBytes;
  if (h !== undefined && h > 2 ** 32) {
    throw new Error(`heapBytes must be at most 4 GiB (wasm32's address space), got ${h}`);
  }
}

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
    return new WasmTensor(this.heap.alloc(numel(shape) * 4, what), shape, dtype);
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
  read(t: Tensor): HostTensor {
    const w = this.stored(t);
    if (w instanceof ParkedTensor) return this.#readParked(w);
    const bytes = new Uint8Array(this.heap.memory.buffer, w.ptr, w.size * 4).slice();
    const data = w.dtype === "i32" ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
    return { data, shape: [...w.shape] };
  }

  /** Returns a tensor's block (and its cached Winograd weights, if any) to the heap. */
  release(t: Tensor): void {
    const w = this.stored(t);
    if (w instanceof ParkedTensor) return this.parking.release(w);
    w.released = true;
    this.heap.free(w.ptr);
    this.#dropTransformed(w);
  }

  #readParked(t: ParkedTensor): HostTensor {
    const [b, c, frames, h, w] = t.shape;
    const words = new Int32Array(t.size);
    this.parking.copyOut(t, 0, frames, b * c, h * w, words, 0, frames * h * w);
    const data = t.dtype === "i32" ? words : new Float32Array(words.buffer);
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
