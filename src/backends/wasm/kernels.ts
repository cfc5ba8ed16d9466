/**
 * Loading of the CPU kernels (asm/, embedded in src/generated/wasm.ts) and the memory layout of
 * the standalone CPU functions (standalone.ts). The kernels import their memory, so the host
 * owns it: the WebAssembly backend shares one memory between worker threads, the standalone
 * functions use a private one that grows to fit each call's buffers, laid out one after the
 * other from the module's heap base. WebAssembly memory cannot shrink: it stays at the largest
 * call's size (inputs and outputs, plus one scratch copy for the Haar transforms) for the life
 * of the process.
 *
 * V8 first runs the module with its baseline compiler and swaps in optimized code after some
 * use, so the very first large call runs several times slower than later ones.
 * @module
 */

import { WASM_BASE64 } from "../../generated/wasm.ts";

/** The exports of asm/*.ts. Pointers are byte offsets into the imported memory. */
export interface CpuKernels {
  heapBase(): number;
  fsqTable(): number;
  /** Moves this instance's FSQ constants table to `ptr` (160 bytes). */
  fsqUseTable(ptr: number): void;
  haar2dForward(src: number, dst: number, b: number, c: number, h: number, w: number): void;
  haar2dInverse(src: number, dst: number, b: number, c: number, h: number, w: number): void;
  haar3dForward(
    src: number,
    dst: number,
    b: number,
    c: number,
    t: number,
    h: number,
    w: number,
    lead: number,
    tFull: number,
  ): void;
  haar3dInverse(
    src: number,
    dst: number,
    b: number,
    c: number,
    t: number,
    h: number,
    w: number,
    trim: number,
  ): void;
  fsqQuantize(z: number, codes: number, indices: number, b: number, d: number, p: number): number;
  fsqIndicesToCodes(
    indices: number,
    codes: number,
    b: number,
    d: number,
    p: number,
    size: number,
  ): number;
  fsqCodesToIndices(codes: number, indices: number, b: number, d: number, p: number): number;
  /**
   * asm/gemm.ts: C[m, n] = (accumulate ? C[m, n] : 0) + sum_k A[m, k] B[k, n] (+ bias[m] when
   * bias != 0) for m in [m0, m1), n in [n0, n1); A[m, k] at a + 4 (m sam + k sak), B[k, n] at
   * b + 4 (k sbk + n sbn), C[m, n] at c + 4 (m ldc + n). Pointers in bytes, strides in floats;
   * `scratch` holds gemmScratchBytes(m1 - m0, n1 - n0, k) bytes of the calling thread's own.
   */
  gemm(
    m0: number,
    m1: number,
    n0: number,
    n1: number,
    k: number,
    a: number,
    sam: number,
    sak: number,
    b: number,
    sbk: number,
    sbn: number,
    c: number,
    ldc: number,
    bias: number,
    accumulate: number,
    scratch: number,
  ): void;
  /** Scratch bytes of one `gemm` call over `m` rows, `n` columns and depth `k`. */
  gemmScratchBytes(m: number, n: number, k: number): number;
  /** asm/winograd.ts: bytes of a layer's transformed weights (winogradWeights). */
  winogradWeightsBytes(cout: number, cin: number): number;
  /** Scratch bytes of one thread's winogradConv. */
  winogradScratchBytes(cout: number, cin: number): number;
  /** Torch-layout 3x3 weights w[cout, cin, 3, 3] at `w` -> Winograd weights at `u`. */
  winogradWeights(w: number, u: number, cout: number, cin: number): void;
  /**
   * 3x3 stride-1 convolution, output tiles [t0, t1) (4x4 tiles, row-major over ceil(h / 4) x
   * ceil(w / 4)): Y[cout, h, w] at `y` = conv(X[cin, h + 2, w + 2] at `x`, zero-padded) with the
   * weights `u` of winogradWeights, + bias[co] (bias != 0) + R[cout, h, w] at `res` (res != 0;
   * may equal y). `scratch`: winogradScratchBytes(cout, cin) bytes of the calling thread's own.
   */
  winogradConv(
    x: number,
    u: number,
    bias: number,
    res: number,
    y: number,
    cin: number,
    cout: number,
    h: number,
    w: number,
    t0: number,
    t1: number,
    scratch: number,
  ): void;
}

const PAGE = 65536;
/** wasm32 addresses at most 4 GiB (65536 pages). */
const MAX_BYTES = 65536 * PAGE;

/** An instantiated kernel module and a bump allocator over its memory. */
export class CpuWasm {
  readonly k: CpuKernels;
  readonly memory: WebAssembly.Memory;
  readonly #base: number;

  constructor(k: CpuKernels, memory: WebAssembly.Memory) {
    this.k = k;
    this.memory = memory;
    this.#base = align(k.heapBase());
  }

  /**
   * Reserves consecutive buffers of the given sizes in bytes (each 16-byte aligned), growing
   * the memory when needed, and returns their addresses. Earlier reservations are reused: a
   * call's buffers are only valid until the next call.
   */
  reserve(what: string, ...sizes: number[]): number[] {
    const ptrs: number[] = [];
    let end = this.#base;
    for (const s of sizes) {
      ptrs.push(end);
      end = align(end + s);
    }
    if (end > MAX_BYTES) {
      throw new Error(
        `Cannot ${what}: needs ${end} bytes of WebAssembly memory, more than the 4 GiB limit`,
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end > have) {
      try {
        this.memory.grow(Math.ceil((end - have) / PAGE));
      } catch (err) {
        throw new Error(`Cannot ${what}: could not grow WebAssembly memory to ${end} bytes`, {
          cause: err,
        });
      }
    }
    return ptrs;
  }

  /** A float32 view of `n` values at `ptr` (invalidated when the memory grows). */
  f32(ptr: number, n: number): Float32Array {
    return new Float32Array(this.memory.buffer, ptr, n);
  }

  /** An int32 view of `n` values at `ptr` (invalidated when the memory grows). */
  i32(ptr: number, n: number): Int32Array {
    return new Int32Array(this.memory.buffer, ptr, n);
  }
}

function align(n: number): number {
  return Math.ceil(n / 16) * 16;
}

function decodeBase64(s: string): Uint8Array<ArrayBuffer> {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

/** The builds of the kernels (src/tools/build_embedded.ts WASM_VARIANTS). */
export type WasmVariant = "simd" | "relaxed" | "simd-shared" | "relaxed-shared";

/** (func (param v128 v128 v128) (result v128) f32x4.relaxed_madd): valid where FMA is. */
const RELAXED_PROBE = new Uint8Array([
  0,
  97,
  115,
  109,
  1,
  0,
  0,
  0,
  1,
  8,
  1,
  96,
  3,
  123,
  123,
  123,
  1,
  123,
  3,
  2,
  1,
  0,
  10,
  13,
  1,
  11,
  0,
  32,
  0,
  32,
  1,
  32,
  2,
  253,
  133,
  2,
  11,
]);

/** Whether the runtime has relaxed SIMD (fused multiply-add on v128). */
export function hasRelaxedSimd(): boolean {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

/** Whether the runtime can share a WebAssembly memory between threads. */
export function hasSharedMemory(): boolean {
  try {
    return new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true }).buffer instanceof
      SharedArrayBuffer;
  } catch {
    return false;
  }
}

const compiled = new Map<WasmVariant, Promise<WebAssembly.Module>>();

/** The compiled module of a build variant (compiled once per process). */
export function kernelModule(variant: WasmVariant): Promise<WebAssembly.Module> {
  let m = compiled.get(variant);
  if (!m) {
    m = WebAssembly.compile(decodeBase64(WASM_BASE64[variant]));
    compiled.set(variant, m);
    m.catch(() => compiled.delete(variant));
  }
  return m;
}

/** Instantiates a kernel module over `memory` (several instances may share one). */
export async function instantiateKernels(
  module: WebAssembly.Module,
  memory: WebAssembly.Memory,
): Promise<CpuKernels> {
  const instance = await WebAssembly.instantiate(module, { env: { memory } });
  return instance.exports as unknown as CpuKernels;
}

let shared: Promise<CpuWasm> | null = null;

/** The standalone functions' kernel module, on a private memory, instantiated on first use. */
export function cpuWasm(): Promise<CpuWasm> {
  shared ??= (async () => {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: MAX_BYTES / PAGE });
    const k = await instantiateKernels(
      await kernelModule(hasRelaxedSimd() ? "relaxed" : "simd"),
      memory,
    );
    return new CpuWasm(k, memory);
  })();
  shared.catch(() => shared = null);
  return shared;
}
