/**
 * The WebAssembly implementation of the op interface, for machines with no GPU: every op runs
 * in the AssemblyScript kernels of asm/ on one linear memory, split over worker threads that
 * share it where the runtime allows (Deno does), on the calling thread alone otherwise.
 *
 * Ops run eagerly and synchronously as they are called; `read` only copies out. GroupNorm, SiLU,
 * upsampling and padding are applied while a convolution gathers its input. 3x3 stride-1
 * convolutions are Winograd F(4x4, 3x3) on a padded copy of each image or frame; 1x1 and causal
 * temporal convolutions multiply the input directly; the rest are matrix products over gathered
 * columns, a bounded block at a time. Spatial attention holds the scores of one block of query
 * rows.
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
import { fsqConstants } from "../fsq.ts";
import {
  type CpuKernels,
  hasRelaxedSimd,
  hasSharedMemory,
  instantiateKernels,
  kernelModule,
  type WasmVariant,
} from "./kernels.ts";
import { WasmHeap } from "./heap.ts";
import {
  attentionGeometry,
  type ConvGeometry,
  convGeometry,
  groupNormGeometry,
  haarPlan,
  type Resample,
  resampleDims,
} from "../geometry.ts";
import { CONTROL_BYTES, ThreadPool } from "./threads.ts";

/** The exports of asm/nn.ts besides the CPU functions'. */
interface NnKernels extends CpuKernels {
  im2col(...args: number[]): void;
  groupNormStats(...args: number[]): void;
  groupNormApply(...args: number[]): void;
  softmaxRows(...args: number[]): void;
  temporalAttention(...args: number[]): void;
  poolSpace(...args: number[]): void;
  poolTime(...args: number[]): void;
  upSpace(...args: number[]): void;
  upTime(...args: number[]): void;
  gemmBlocks(...args: number[]): void;
  winogradRows(...args: number[]): void;
  winogradWeightsRange(...args: number[]): void;
}

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

export interface WasmOptions {
  /** Threads (the calling one included). Default: the machine's logical cores. */
  threads?: number;
  /** Use fused multiply-add where the runtime has relaxed SIMD. Default true. */
  relaxedSimd?: boolean;
  /** Bytes of gathered convolution columns held at once. */
  columnBytes?: number;
  /** Bytes of attention scores held at once. */
  attentionScoreBytes?: number;
  /**
   * Bytes of Winograd-transformed 3x3 weights kept between calls (least recently used first
   * out). Default 0: each convolution transforms its weights into a transient buffer, so weights
   * are held once; a transform writes 4x the layer's weights, which costs about as much as the
   * convolution itself at 32x32. A budget the size of the network's 3x3 weights times 4
   * (about 1.2 GB for CI8x8) roughly halves encode and decode times.
   */
  winogradCacheBytes?: number;
  /** Worker threads stop after this many idle milliseconds (restarting on demand). */
  idleMs?: number;
}

/** asm/fsq.ts's constants table. */
const FSQ_TABLE_BYTES = 160;
/** Channels up to which 3x3 convolutions take the Winograd path (its scratch is sized for them). */
const WINOGRAD_MAX_CHANNELS = 512;
const COLUMN_BYTES = 8 << 20;
const ATTENTION_SCORE_BYTES = 4 << 20;
/** Work items per chunk handed to a thread: enough chunks to balance, few enough to be cheap. */
const CHUNKS_PER_THREAD = 4;

/** Throws on options no backend could honour. */
export function checkWasmOptions(options: WasmOptions): void {
  const t = options.threads;
  if (t !== undefined && (!Number.isInteger(t) || t < 1)) {
    throw new Error(`threads must be a positive integer, got ${t}`);
  }
  for (const k of ["columnBytes", "attentionScoreBytes", "winogradCacheBytes", "idleMs"] as const) {
    const v = options[k];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
      throw new Error(`${k} must be a number >= 0, got ${v}`);
    }
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

export class WasmOps implements Backend {
  readonly name = "wasm";
  readonly label: string;
  readonly variant: WasmVariant;
  readonly heap: WasmHeap;
  readonly columnBytes: number;
  readonly attentionScoreBytes: number;
  readonly #k: NnKernels;
  readonly #pool: ThreadPool | null;
  readonly #scratch: number;
  readonly #scratchBytes: number;
  readonly #winogradBudget: number;
  /** Transformed weights kept between calls, by weight tensor, in least recently used order. */
  #winogradCache = new Map<WasmTensor, { ptr: number; bytes: number }>();
  #winogradCached = 0;
  #profile: KernelProfile | null = null;
  #destroyed = false;

  private constructor(
    k: NnKernels,
    memory: WebAssembly.Memory,
    variant: WasmVariant,
    pool: ThreadPool | null,
    heapBase: number,
    scratch: number,
    scratchBytes: number,
    options: WasmOptions,
  ) {
    this.#k = k;
    this.#scratchBytes = scratchBytes;
    this.#winogradBudget = options.winogradCacheBytes ?? 0;
    this.variant = variant;
    this.#pool = pool;
    this.#scratch = scratch;
    this.heap = new WasmHeap(memory, heapBase);
    this.columnBytes = options.columnBytes ?? COLUMN_BYTES;
    this.attentionScoreBytes = options.attentionScoreBytes ?? ATTENTION_SCORE_BYTES;
    this.label = `wasm (${variant.startsWith("relaxed") ? "relaxed SIMD" : "SIMD"}, ${
      pool ? pool.threads : 1
    } thread${pool && pool.threads > 1 ? "s" : ""})`;
  }

  static async create(options: WasmOptions = {}): Promise<WasmOps> {
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
    const k = await instantiateKernels(module, memory) as NnKernels;
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
    return new WasmOps(k, memory, variant, pool, heapBase, scratch, scratchBytes, options);
  }

  get threads(): number {
    return this.#pool?.threads ?? 1;
  }

  // ---- tensors -------------------------------------------------------------------------

  #alloc(shape: readonly number[], dtype: "f32" | "i32" = "f32", what = "tensor"): WasmTensor {
    return new WasmTensor(this.heap.alloc(numel(shape) * 4, what), shape, dtype);
  }

  #t(t: Tensor): WasmTensor {
    const w = t as WasmTensor;
    if (!(w instanceof WasmTensor)) throw new Error("Tensor belongs to another backend");
    if (w.released) throw new Error(`Tensor ${fmtShape(w.shape)} was used after release`);
    if (this.#destroyed) throw new Error("The WebAssembly backend was disposed");
    return w;
  }

  #f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.heap.memory.buffer, ptr, n);
  }

  upload(t: HostTensor): Tensor {
    if (t.data.length !== numel(t.shape)) {
      throw new Error(
        `Cannot upload tensor: ${t.data.length} values for shape ${fmtShape(t.shape)}`,
      );
    }
    const dtype = t.data instanceof Int32Array ? "i32" : "f32";
    const w = this.#alloc(t.shape, dtype, "upload");
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.length * 4);
    new Uint8Array(this.heap.memory.buffer, w.ptr, bytes.length).set(bytes);
    return w;
  }

  read(t: Tensor): Promise<HostTensor> {
    const w = this.#t(t);
    const bytes = new Uint8Array(this.heap.memory.buffer, w.ptr, w.size * 4).slice();
    const data = w.dtype === "i32" ? new Int32Array(bytes.buffer) : new Float32Array(bytes.buffer);
    return Promise.resolve({ data, shape: [...w.shape] });
  }

  release(t: Tensor): void {
    const w = this.#t(t);
    w.released = true;
    this.heap.free(w.ptr);
    this.#dropTransformed(w);
  }

  #dropTransformed(w: WasmTensor): void {
    const cached = this.#winogradCache.get(w);
    if (!cached) return;
    this.#winogradCache.delete(w);
    this.#winogradCached -= cached.bytes;
    this.heap.free(cached.ptr);
  }

  /**
   * A layer's Winograd weights: from the cache, or transformed now on every thread (then kept
   * when the budget allows; `owned` says the caller frees them).
   */
  #winogradWeights(w: ConvWeights): { ptr: number; owned: boolean } {
    const weight = this.#t(w.weight);
    const hit = this.#winogradCache.get(weight);
    if (hit) {
      this.#winogradCache.delete(weight);
      this.#winogradCache.set(weight, hit);
      return { ptr: hit.ptr, owned: false };
    }
    const bytes = this.#k.winogradWeightsBytes(w.cout, w.cin);
    const ptr = this.heap.alloc(bytes, "Winograd weights");
    this.#run(
      "winogradWeightsRange",
      [weight.ptr, ptr, w.cout, w.cin],
      Math.ceil(w.cout / 6) * 6,
    );
    if (bytes > this.#winogradBudget) return { ptr, owned: true };
    for (const [old] of this.#winogradCache) {
      if (this.#winogradCached + bytes <= this.#winogradBudget) break;
      this.#dropTransformed(old);
    }
    this.#winogradCache.set(weight, { ptr, bytes });
    this.#winogradCached += bytes;
    return { ptr, owned: false };
  }

  memoryStats(): MemoryStats {
    return this.heap.stats();
  }

  resetPeak(): void {
    this.heap.resetPeak();
  }

  /** Ops run as they are called: nothing is ever pending. */
  flush(): Promise<void> {
    return Promise.resolve();
  }

  // ---- launching -----------------------------------------------------------------------

  /**
   * Runs kernel(...args, start, end) over [0, total) on every thread, in chunks of `chunk` items
   * (default: a few chunks per thread). Where `scratchArg` indexes args, each thread passes its
   * own scratch area there.
   */
  #run(
    kernel: keyof NnKernels,
    args: number[],
    total: number,
    scratchArg = -1,
    chunk = Math.ceil(total / (this.threads * CHUNKS_PER_THREAD)),
  ): void {
    if (this.#pool) this.#pool.run(kernel, args, total, Math.max(1, chunk), scratchArg);
    else {
      if (scratchArg >= 0) args[scratchArg] = this.#scratch;
      (this.#k[kernel] as (...a: number[]) => void)(...args, 0, total);
    }
  }

  #timed<T>(family: string, flops: number, f: () => T): T {
    if (!this.#profile) return f();
    const t0 = performance.now();
    const r = f();
    const e = this.#profile[family] ??= { ms: 0, dispatches: 0, flops: 0 };
    e.ms += performance.now() - t0;
    e.dispatches++;
    e.flops += flops;
    return r;
  }

  /** Times every op by family until `stopProfiling`. */
  startProfiling(): boolean {
    this.#profile = {};
    return true;
  }

  stopProfiling(): KernelProfile {
    const p = this.#profile ?? {};
    this.#profile = null;
    return p;
  }

  /**
   * C[m, n] (+)= sum_k A[m, k] B[k, n] (+ bias[m]) over strided views (element strides; C rows
   * `ldc` apart), split over the threads by blocks of rows and columns.
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
    const { M, N, K } = dims;
    // Blocks of whole rows where there are enough columns to keep every thread busy, so each
    // block reuses its packed rows; blocks of rows too where there are not.
    const want = this.threads * CHUNKS_PER_THREAD;
    const blockN = Math.max(64, Math.ceil(N / want / 16) * 16);
    const colBlocks = Math.ceil(N / blockN);
    const blockM = colBlocks >= want ? M : Math.max(16, Math.ceil(M * colBlocks / want / 16) * 16);
    const blocks = Math.ceil(M / blockM) * colBlocks;
    this.#run(
      "gemmBlocks",
      [
        a,
        sam,
        sak,
        b,
        sbk,
        sbn,
        c,
        ldc,
        bias,
        accumulate ? 1 : 0,
        K,
        M,
        N,
        blockM,
        blockN,
        0,
      ],
      blocks,
      15,
      1,
    );
  }

  // ---- ops -----------------------------------------------------------------------------

  conv(xIn: Tensor, w: ConvWeights, opts: ConvOptions = {}): Tensor {
    const x = this.#t(xIn);
    const g = convGeometry(x.shape, w, opts);
    const { b, cin, tIn, hIn, wIn, kt, kh, kw, st, sh, sw, padT, up, tOut, hOut, wOut } = g;
    const [plH, plW, phH, phW] = [g.padLowH, g.padLowW, g.padHighH, g.padHighW];
    const M = w.cout, P = tOut * hOut * wOut, K = cin * kt * kh * kw;
    const pIn = tIn * hIn * wIn;
    const out = this.#alloc(g.outShape, "f32", "conv");
    const weight = this.#t(w.weight).ptr, bias = this.#t(w.bias).ptr;
    const residual = opts.residual ? this.#t(opts.residual) : null;
    if (residual) this.#f32(out.ptr, out.size).set(this.#f32(residual.ptr, residual.size));
    const norm = opts.norm;
    const direct = K === cin && st === 1 && sh === 1 && sw === 1 && up === 1 && !norm &&
      plH + phH + plW + phW + padT === 0;
    const family = g.family;
    // Causal (kt, 1, 1) convolutions multiply frames directly, one tap at a time.
    const temporal = family === "conv-time" && st === 1 && sh === 1 && sw === 1 && up === 1 &&
      plH + phH + plW + phW === 0;
    const winograd = kt === 1 && kh === 3 && kw === 3 && st === 1 && sh === 1 && sw === 1 &&
      plH === 1 && plW === 1 && phH === 1 && phW === 1 &&
      this.#k.winogradScratchBytes(M, cin) <= this.#scratchBytes;
    this.#timed(family, 2 * M * K * P * b, () => {
      if (winograd) {
        this.#winograd(x, w, opts, out, [b, cin, tIn, hIn, wIn], up);
        return;
      }
      if (temporal) {
        this.#temporal(x, w, opts, out, g);
        return;
      }
      if (direct) {
        for (let bi = 0; bi < b; bi++) {
          this.gemm(
            weight,
            K,
            1,
            x.ptr + 4 * bi * cin * pIn,
            pIn,
            1,
            out.ptr + 4 * bi * M * P,
            P,
            { M, N: P, K },
            bias,
            !!residual,
          );
        }
        return;
      }
      const len = Math.max(1, Math.min(P, Math.floor(this.columnBytes / (4 * K))));
      const col = this.heap.alloc(4 * K * len, "convolution columns");
      try {
        for (let bi = 0; bi < b; bi++) {
          for (let q0 = 0; q0 < P; q0 += len) {
            const n = Math.min(len, P - q0);
            this.#run("im2col", [
              x.ptr + 4 * bi * cin * pIn,
              col,
              cin,
              tIn,
              hIn,
              wIn,
              kt,
              kh,
              kw,
              tOut,
              hOut,
              wOut,
              st,
              sh,
              sw,
              padT,
              plH,
              plW,
              up,
              ...this.#gatherNorm(norm, bi),
              q0,
              n,
            ], K);
            this.gemm(
              weight,
              K,
              1,
              col,
              n,
              1,
              out.ptr + 4 * (bi * M * P + q0),
              P,
              { M, N: n, K },
              bias,
              !!residual,
            );
          }
        }
      } finally {
        this.heap.free(col);
      }
    });
    return out;
  }

  /**
   * im2col's normalisation arguments for batch item `bi`: (stats, gammaBeta, groups, stat
   * frames, silu), or no normalisation.
   */
  #gatherNorm(norm: FusedNorm | undefined, bi: number): number[] {
    if (!norm) return [0, 0, 1, 1, 0];
    const stats = this.#t(norm.stats);
    const { groups } = norm.weights;
    const frames = stats.shape[1];
    return [
      stats.ptr + 4 * bi * frames * groups * 2,
      this.#t(norm.weights.gammaBeta).ptr,
      groups,
      frames,
      norm.silu ? 1 : 0,
    ];
  }

  /**
   * A 3x3, stride 1, pad 1 convolution by Winograd F(4x4, 3x3) (asm/winograd.ts): per image or
   * frame, the input is gathered once into a zero-padded plane (normalised, upsampled), then
   * transformed, multiplied and transformed back by bands of tile rows on every thread. The
   * weights are transformed per call into a transient buffer unless a cache budget is set.
   */
  #winograd(
    x: WasmTensor,
    w: ConvWeights,
    opts: ConvOptions,
    out: WasmTensor,
    [b, cin, frames, hIn, wIn]: number[],
    up: number,
  ): void {
    const cout = w.cout;
    const h = hIn * up, wd = wIn * up, hp = h + 2, wp = wd + 2;
    const plane = h * wd, pIn = frames * hIn * wIn;
    const { ptr: u, owned } = this.#winogradWeights(w);
    const xp = this.heap.alloc(4 * cin * hp * wp, "padded input");
    // Frames of a video are planes `frames` apart in each channel: staged through a buffer.
    const stage = frames > 1 ? this.heap.alloc(4 * cout * plane, "conv output frame") : 0;
    const mem = () => new Float32Array(this.heap.memory.buffer);
    try {
      const norm = opts.norm;
      const bias = this.#t(w.bias).ptr;
      const rows = Math.ceil(h / 4);
      for (let bi = 0; bi < b; bi++) {
        const outBase = out.ptr + 4 * bi * cout * frames * plane;
        for (let f = 0; f < frames; f++) {
          // A 1x1 "convolution" with pad 1 gathers the padded, normalised, upsampled frame.
          this.#run("im2col", [
            x.ptr + 4 * bi * cin * pIn,
            xp,
            cin,
            frames,
            hIn,
            wIn,
            1,
            1,
            1,
            frames,
            hp,
            wp,
            1,
            1,
            1,
            0,
            1,
            1,
            up,
            ...this.#gatherNorm(norm, bi),
            f * hp * wp,
            hp * wp,
          ], cin);
          const y = stage || outBase;
          if (stage && opts.residual) {
            // The residual was copied into `out`; bring this frame's into the stage.
            const m = mem();
            for (let c = 0; c < cout; c++) {
              const src = (outBase >> 2) + (c * frames + f) * plane;
              m.copyWithin((stage >> 2) + c * plane, src, src + plane);
            }
          }
          this.#run(
            "winogradRows",
            [
              xp,
              u,
              bias,
              opts.residual ? y : 0,
              y,
              cin,
              cout,
              h,
              wd,
              0,
            ],
            rows,
            9,
            1,
          );
          if (stage) {
            const m = mem();
            for (let c = 0; c < cout; c++) {
              const dst = (outBase >> 2) + (c * frames + f) * plane;
              m.copyWithin(dst, (stage >> 2) + c * plane, (stage >> 2) + (c + 1) * plane);
            }
          }
        }
      }
    } finally {
      if (owned) this.heap.free(u);
      this.heap.free(xp);
      if (stage) this.heap.free(stage);
    }
  }

  /**
   * A causal temporal convolution (kt, 1, 1) as kt accumulating products per output frame:
   * out[:, t] = bias + sum_dt W[:, :, dt] x[:, max(t - padT + dt, 0)], on the input itself (or
   * its normalised copy), with no gathered columns.
   */
  #temporal(x: WasmTensor, w: ConvWeights, opts: ConvOptions, out: WasmTensor, g: ConvGeometry) {
    const { b, cin, tIn, hIn, wIn, kt, padT, tOut } = g;
    const cout = w.cout, hw = hIn * wIn;
    const norm = opts.norm;
    const src = norm ? this.groupNorm(x, norm) as WasmTensor : x;
    try {
      const weight = this.#t(w.weight).ptr, bias = this.#t(w.bias).ptr;
      for (let bi = 0; bi < b; bi++) {
        const xb = src.ptr + 4 * bi * cin * tIn * hw;
        const ob = out.ptr + 4 * bi * cout * tOut * hw;
        // Tap dt of output frames t >= t0 reads frames t - padT + dt, consecutive in memory:
        // one product over all of them. Earlier frames read frame 0, one product each.
        for (let dt = 0; dt < kt; dt++) {
          const product = (t: number, frames: number, frame: number) =>
            this.gemm(
              weight + 4 * dt,
              cin * kt,
              kt,
              xb + 4 * frame * hw,
              tIn * hw,
              1,
              ob + 4 * t * hw,
              tOut * hw,
              { M: cout, N: frames * hw, K: cin },
              dt === 0 ? bias : 0,
              dt > 0 || !!opts.residual,
            );
          const t0 = Math.min(tOut, Math.max(0, padT - dt));
          for (let t = 0; t < t0; t++) product(t, 1, 0);
          if (t0 < tOut) product(t0, tOut - t0, t0 - padT + dt);
        }
      }
    } finally {
      if (src !== x) this.release(src);
    }
  }

  groupNormStats(xIn: Tensor, opts: GroupNormOptions): Tensor {
    const x = this.#t(xIn);
    const { b, c, frames, spatial } = groupNormGeometry(x.shape, opts);
    const stats = this.#alloc([b, frames, opts.groups, 2], "f32", "norm stats");
    this.#timed("norm", 0, () =>
      this.#run("groupNormStats", [
        x.ptr,
        stats.ptr,
        c,
        frames,
        spatial,
        opts.groups,
        opts.eps,
      ], b * frames * opts.groups));
    return stats;
  }

  groupNorm(xIn: Tensor, norm: FusedNorm): Tensor {
    const x = this.#t(xIn);
    const stats = this.#t(norm.stats);
    const [b, c] = x.shape;
    const frames = stats.shape[1];
    const spatial = numel(x.shape.slice(2)) / frames;
    const out = this.#alloc(x.shape, "f32", "groupnorm");
    this.#timed("norm", 0, () =>
      this.#run("groupNormApply", [
        x.ptr,
        out.ptr,
        stats.ptr,
        this.#t(norm.weights.gammaBeta).ptr,
        c,
        frames,
        spatial,
        norm.weights.groups,
        norm.silu ? 1 : 0,
      ], b * c * frames));
    return out;
  }

  attention(qkvIn: Tensor, kind: "spatial" | "temporal" = "spatial"): Tensor {
    const qkv = this.#t(qkvIn);
    const { b, c, frames, pixels: n, outShape } = attentionGeometry(qkv.shape, kind);
    const c3 = 3 * c;
    const out = this.#alloc(outShape, "f32", "attention");
    const scale = Math.fround(c ** -0.5);
    if (kind === "temporal") {
      if (4 * frames > this.#scratchBytes) throw new Error(`Too many frames (${frames}) to attend`);
      this.#timed(
        "attention",
        4 * b * frames * frames * n * c,
        () =>
          this.#run(
            "temporalAttention",
            [
              qkv.ptr,
              out.ptr,
              c,
              frames,
              n,
              scale,
              0,
            ],
            b * n,
            6,
          ),
      );
      return out;
    }
    const rows = Math.max(1, Math.min(n, Math.floor(this.attentionScoreBytes / (4 * n))));
    const scores = this.heap.alloc(4 * rows * n, "attention scores");
    const vol = frames * n;
    try {
      this.#timed("attention", 4 * b * frames * n * n * c, () => {
        for (let bi = 0; bi < b; bi++) {
          const base = qkv.ptr + 4 * bi * c3 * vol;
          for (let f = 0; f < frames; f++) {
            for (let q0 = 0; q0 < n; q0 += rows) {
              const qr = Math.min(rows, n - q0);
              // S[i, j] = sum_c q[c, f, q0 + i] k[c, f, j]
              this.gemm(
                base + 4 * (f * n + q0),
                1,
                vol,
                base + 4 * (c * vol + f * n),
                vol,
                1,
                scores,
                n,
                { M: qr, N: n, K: c },
              );
              this.#run("softmaxRows", [scores, n, scale], qr);
              // out[c, f, q0 + i] = sum_j v[c, f, j] S[i, j]
              this.gemm(
                base + 4 * (2 * c * vol + f * n),
                vol,
                1,
                scores,
                1,
                n,
                out.ptr + 4 * (bi * c * vol + f * n + q0),
                vol,
                { M: c, N: qr, K: n },
              );
            }
          }
        }
      });
    } finally {
      this.heap.free(scores);
    }
    return out;
  }

  #resample(xIn: Tensor, op: Resample): Tensor {
    const x = this.#t(xIn);
    const outDims = resampleDims(x.shape, op);
    const [b, c, t, h, w] = x.shape;
    const out = this.#alloc([b, c, ...outDims], "f32", op);
    const dims = op === "poolSpace" || op === "upSpace" ? [t, h, w] : [t, h * w];
    this.#timed("resample", 0, () => this.#run(op, [x.ptr, out.ptr, ...dims], b * c));
    return out;
  }

  avgPool(x: Tensor, axis: "space" | "time"): Tensor {
    return this.#resample(x, axis === "space" ? "poolSpace" : "poolTime");
  }

  upsample(x: Tensor, axis: "space" | "time"): Tensor {
    return this.#resample(x, axis === "space" ? "upSpace" : "upTime");
  }

  haarPatch(xIn: Tensor, levels: number): Tensor {
    return this.#timed("haar", 0, () => this.#haar(this.#t(xIn), levels, true));
  }

  haarUnpatch(xIn: Tensor, levels: number): Tensor {
    return this.#timed("haar", 0, () => this.#haar(this.#t(xIn), levels, false));
  }

  /** Haar levels on the calling thread (memory-bound: threads would gain little). */
  #haar(x0: WasmTensor, levels: number, forward: boolean): Tensor {
    const k = this.#k;
    let x = x0;
    for (const s of haarPlan(x0.shape, levels, forward)) {
      const out = this.#alloc(s.outShape, "f32", "haar");
      const b = s.outShape[0];
      if (s.half.length === 2) {
        const [h, w] = s.half;
        if (forward) k.haar2dForward(x.ptr, out.ptr, b, s.c, h, w);
        else k.haar2dInverse(x.ptr, out.ptr, b, s.c, h, w);
      } else {
        const [t, h, w] = s.half;
        if (forward) k.haar3dForward(x.ptr, out.ptr, b, s.c, t, h, w, s.lead, s.full);
        else k.haar3dInverse(x.ptr, out.ptr, b, s.c, t, h, w, s.trim);
      }
      if (x !== x0) this.release(x);
      x = out;
    }
    if (x === x0) {
      // No levels: a copy, so the caller owns what it gets as with any op.
      const copy = this.#alloc(x0.shape, "f32", "haar");
      this.#f32(copy.ptr, copy.size).set(this.#f32(x0.ptr, x0.size));
      return copy;
    }
    return x;
  }

  #fsqTable(spec: FsqSpec): void {
    const c = fsqConstants(spec.levels);
    const table = this.#k.fsqTable();
    const buf = this.heap.memory.buffer;
    new Int32Array(buf, table, 8).set(spec.levels);
    new Int32Array(buf, table + 32, 8).set(c.basis);
    new Float32Array(buf, table + 64, 8).set(c.halfL);
    new Float32Array(buf, table + 96, 8).set(c.offset);
    new Float32Array(buf, table + 128, 8).set(c.shift);
  }

  fsqQuantize(zIn: Tensor, spec: FsqSpec): { codes: Tensor; indices: Tensor } {
    const z = this.#t(zIn);
    const [b, d] = z.shape;
    if (d !== spec.levels.length) {
      throw new Error(`FSQ expects ${spec.levels.length} channels, got ${fmtShape(z.shape)}`);
    }
    const rest = z.shape.slice(2);
    const positions = numel(rest);
    const codes = this.#alloc(z.shape, "f32", "fsq codes");
    const indices = this.#alloc([b, ...rest], "i32", "fsq indices");
    this.#fsqTable(spec);
    const bad = this.#k.fsqQuantize(z.ptr, codes.ptr, indices.ptr, b, d, positions);
    if (bad >= 0) {
      this.release(codes);
      this.release(indices);
      throw new Error(`FSQ input holds a non-finite value at flat index ${bad}`);
    }
    return { codes, indices };
  }

  fsqDequantize(idxIn: Tensor, spec: FsqSpec): Tensor {
    const idx = this.#t(idxIn);
    const [b, ...rest] = idx.shape;
    const positions = numel(rest);
    const d = spec.levels.length;
    const codes = this.#alloc([b, d, ...rest], "f32", "fsq codes");
    this.#fsqTable(spec);
    const size = fsqConstants(spec.levels).codebookSize;
    const bad = this.#k.fsqIndicesToCodes(idx.ptr, codes.ptr, b, d, positions, size);
    if (bad >= 0) {
      this.release(codes);
      throw new Error(`FSQ index at flat index ${bad} is outside [0, ${size})`);
    }
    return codes;
  }

  /** Stops the worker threads; the memory goes with the last reference to the backend. */
  destroy(): void {
    this.#destroyed = true;
    this.#pool?.close();
  }
}
