/**
 * The kernel module of asm/ (embedded in src/generated/wasm.ts) as the host sees it: every
 * export's parameters declared once by name (KERNELS), the positional calls derived from them,
 * and loading (build variants, feature detection, compilation, instantiation). Also the memory
 * layout of the standalone CPU functions (standalone.ts) and of the kernel tests and benchmarks:
 * an instance on a private memory that grows to fit each call's buffers, laid out one after the
 * other from the module's heap base. WebAssembly memory cannot shrink: it stays at the largest
 * call's size (inputs and outputs, plus one scratch copy for the Haar transforms) for the life
 * of the process.
 *
 * Host code calls a kernel of more than three parameters by name, through `callKernel` (on the
 * calling thread) or the backend's launcher (runtime.ts, on every thread); the object becomes
 * the positional call in the order of KERNELS, which test/wasm_kernels_test.ts checks against
 * the asm signatures, so no argument position is counted by hand anywhere.
 *
 * V8 first runs the module with its baseline compiler and swaps in optimized code after some
 * use, so the very first large call runs several times slower than later ones.
 * @module
 */

import { WASM_BASE64 } from "../../generated/wasm.ts";
import type { FsqConstants } from "../fsq.ts";

/** How the host calls one export of asm/. */
interface KernelDecl {
  /** The parameters a caller names, in the order and with the names of the asm signature. */
  readonly params: readonly string[];
  /**
   * The two trailing parameters of a kernel that works over a range [start, end) of
   * independent items: the launcher fills them with each chunk a thread takes.
   */
  readonly range?: readonly [string, string];
  /** The kernel returns a number (an address, a size, or -1 / the index of a bad value). */
  readonly returns?: "number";
}

/**
 * Every export of asm/*.ts. Pointers are byte offsets into the imported memory, strides and
 * sizes in elements, flags 0 or 1.
 */
// deno-fmt-ignore: laid out as the asm signatures are, a few names to a line.
export const KERNELS = {
  // ---- asm/memory.ts
  /** First byte past the module's static data. */
  heapBase: { params: [], returns: "number" },

  // ---- asm/fsq.ts: [b, dims, positions] tensors, constants in the table at fsqTable().
  /** Moves this instance's FSQ constants table to `p` (160 bytes). */
  fsqUseTable: { params: ["p"] },
  /** Address of the FSQ constants table the host fills before each call. */
  fsqTable: { params: [], returns: "number" },
  /** z -> codes and indices; -1, or the flat index of the first non-finite value. */
  fsqQuantize: {
    params: ["z", "codes", "indices", "b", "dims", "positions"], returns: "number",
  },
  /** indices -> codes; -1, or the flat index of the first index outside [0, size). */
  fsqIndicesToCodes: {
    params: ["indices", "codes", "b", "dims", "positions", "size"], returns: "number",
  },
  /** codes -> indices; -1, or the flat index of the first code off the grid. */
  fsqCodesToIndices: {
    params: ["codes", "indices", "b", "dims", "positions"], returns: "number",
  },

  // ---- asm/gemm.ts
  /** The 6x8 micro-kernel, exported for asm/winograd.ts; the host does not call it. */
  microKernel: { params: ["pa", "pb", "kc", "c", "ldc", "beta", "bias"] },
  /** Scratch bytes of one `gemm` call over `m` rows, `n` columns and depth `k`. */
  gemmScratchBytes: { params: ["m", "n", "k"], returns: "number" },
  /**
   * C[m, n] = (accumulate ? C[m, n] : 0) + sum_k A[m, k] B[k, n] (+ bias[m] when bias != 0)
   * for m in [m0, m1), n in [n0, n1); A[m, k] at a + 4 (m sam + k sak), B[k, n] at
   * b + 4 (k sbk + n sbn), C[m, n] at c + 4 (m ldc + n). `scratch` holds
   * gemmScratchBytes(m1 - m0, n1 - n0, K) bytes of the calling thread's own.
   */
  gemm: {
    params: [
      "m0", "m1", "n0", "n1", "K",
      "a", "sam", "sak",
      "b", "sbk", "sbn",
      "c", "ldc",
      "bias", "accumulate", "scratch",
    ],
  },

  /** Bytes of packPanels' output for `m` rows of depth `k`. */
  packedBytes: { params: ["m", "k"], returns: "number" },
  /** Row panels [p0, p1) of 6 rows of A [m, k] (strides sam, sak), packed once for gemmPacked. */
  packPanels: { params: ["a", "sam", "sak", "m", "k", "dst"], range: ["p0", "p1"] },
  /**
   * `gemm` with A packed by packPanels at `ap` (m0 a multiple of 6): B[k, n] at b + 4 (k sbk +
   * n), or at the address rows[k] + 4 n when the i32 table `rows` != 0.
   */
  gemmPacked: {
    params: [
      "m0", "m1", "n0", "n1", "K",
      "ap", "b", "sbk", "rows",
      "c", "ldc", "bias", "accumulate", "scratch",
    ],
  },
  /** `gemmPacked` over the blocks [start, end) of a grid of blockM x blockN output blocks. */
  gemmPackedBlocks: {
    params: [
      "ap", "b", "sbk", "rows", "c", "ldc", "bias", "accumulate",
      "k", "m", "n", "blockM", "blockN", "scratch",
    ],
    range: ["start", "end"],
  },

  // ---- asm/haar.ts: sizes of the half-resolution side.
  /** [b, c, 2h, 2w] at `src` -> [b, 4c, h, w] at `dst`. */
  haar2dForward: { params: ["src", "dst", "b", "c", "h", "w"] },
  /** [b, 4c, h, w] at `src` -> [b, c, 2h, 2w] at `dst`. */
  haar2dInverse: { params: ["src", "dst", "b", "c", "h", "w"] },
  /** [b, c, tFull, 2h, 2w], `lead` copies of frame 0 prepended -> [b, 8c, t, h, w]. */
  haar3dForward: { params: ["src", "dst", "b", "c", "t", "h", "w", "lead", "tFull"] },
  /** [b, 8c, t, h, w] -> [b, c, 2t - trim, 2h, 2w], the first `trim` frames dropped. */
  haar3dInverse: { params: ["src", "dst", "b", "c", "t", "h", "w", "trim"] },

  // ---- asm/nn.ts: the backend's layer kernels, each over a range of independent items.
  /**
   * Rows [k0, k1) of one batch item's convolution columns col[K, len] (K = cin kt kh kw), for
   * output positions q0 .. q0 + len - 1, normalised on load when stats != 0 (then SiLU when
   * act != 0).
   */
  im2col: {
    params: [
      "x", "col", "cin", "tIn", "hIn", "wIn",
      "kt", "kh", "kw", "tOut", "hOut", "wOut",
      "st", "sh", "sw", "padT", "padH", "padW", "up",
      "stats", "gammaBeta", "groups", "statFrames", "act",
      "q0", "len",
    ],
    range: ["k0", "k1"],
  },
  /** (mean, rstd) of the GroupNorm slots (b, f, g) in [s0, s1) of x [B, C, F, S]. */
  groupNormStats: {
    params: ["x", "stats", "channels", "frames", "spatial", "groups", "eps"],
    range: ["s0", "s1"],
  },
  /**
   * Float64 sums (pass 0) or sums of squared deviations from the mean at stats (pass 1) of part
   * p of the channels of GroupNorm slot s, item s parts + p in [i0, i1), into `partials`.
   */
  groupNormPartials: {
    params: [
      "x", "stats", "partials", "channels", "frames", "spatial", "groups", "parts", "pass",
    ],
    range: ["i0", "i1"],
  },
  /** y = GroupNorm(x) (then SiLU when act != 0) for the planes (b, c, f) in [p0, p1). */
  groupNormApply: {
    params: [
      "x", "y", "stats", "gammaBeta", "channels", "frames", "spatial",
      "groups", "act",
    ],
    range: ["p0", "p1"],
  },
  /** In-place softmax of rows [r0, r1) of s[rows, n], logits scaled by `scale`. */
  softmaxRows: { params: ["s", "n", "scale"], range: ["r0", "r1"] },
  /**
   * Causal attention along time at pixels [p0, p1), query frames [q0, frames); `scratch` holds
   * `frames` floats.
   */
  temporalAttention: {
    params: [
      "q", "kv", "out", "channels", "frames", "pixels", "scale", "q0",
      "qBatch", "qPlane", "qShift", "kBase", "kvBatch", "kvPlane", "scratch",
    ],
    range: ["p0", "p1"],
  },
  /**
   * One chunk of keys and values (frames [k0, k0 + kFrames)) of causal temporal attention with
   * an online softmax (running max and sum in `ml`, values in `acc`); `scratch` holds `kFrames`
   * floats.
   */
  temporalAttentionChunk: {
    params: [
      "q", "kv", "acc", "ml", "channels", "frames", "pixels", "scale", "q0",
      "qBatch", "qPlane", "qShift", "k0", "kFrames", "last", "scratch",
    ],
    range: ["p0", "p1"],
  },
  /** 2x2 average pooling of the planes (b, c) in [p0, p1) of [B, C, T, H, W]. */
  poolSpace: { params: ["src", "dst", "t", "h", "w"], range: ["p0", "p1"] },
  /** Frame pairs averaged: T -> (T - 1) / 2 + 1. */
  poolTime: { params: ["src", "dst", "t", "hw"], range: ["p0", "p1"] },
  /** Nearest 2x in height and width. */
  upSpace: { params: ["src", "dst", "t", "h", "w"], range: ["p0", "p1"] },
  /** Nearest 2x in time without the leading duplicate: T -> 2T - 1. */
  upTime: { params: ["src", "dst", "t", "hw"], range: ["p0", "p1"] },
  /** `gemm` over the blocks [start, end) of a grid of blockM x blockN output blocks. */
  gemmBlocks: {
    params: [
      "a", "sam", "sak", "b", "sbk", "sbn", "c", "ldc",
      "bias", "accumulate", "k", "m", "n", "blockM", "blockN",
      "scratch",
    ],
    range: ["start", "end"],
  },
  /** `winogradConv` over the 4-row bands of tiles [r0, r1) of all the frames. */
  winogradRows: {
    params: ["x", "u", "bias", "res", "y", "cin", "cout", "h", "w", "frames", "ys", "scratch"],
    range: ["r0", "r1"],
  },

  // ---- asm/peak.ts
  /** Items [i0, i1) of `iters` rounds of twelve independent f32x4 multiply-adds (the SIMD peak). */
  fmaPeak: { params: ["iters", "sink"], range: ["i0", "i1"] },
  /** `iters` micro-kernel calls of depth `kc` on panels in L1 (96 kc flops each). */
  microKernelPeak: { params: ["pa", "pb", "kc", "c", "iters"] },

  // ---- asm/rms_norm.ts
  /** RMS norm (+ SiLU) of x [B, C, P] into y: items [i0, i1) of 16 positions of a batch item. */
  rmsNormRows: { params: ["x", "y", "gamma", "channels", "positions", "silu"], range: ["i0", "i1"] },

  // ---- asm/winograd_weights.ts
  /** Bytes of a layer's transformed weights (winogradWeights). */
  winogradWeightsBytes: { params: ["cout", "cin"], returns: "number" },
  /** Torch-layout 3x3 weights w[cout, cin, 3, 3] at `w` -> Winograd weights at `u`. */
  winogradWeights: { params: ["w", "u", "cout", "cin"] },
  /** Output channels [co0, co1) of winogradWeights (up to cout rounded up to 6). */
  winogradWeightsRange: { params: ["w", "u", "cout", "cin"], range: ["co0", "co1"] },
  /**
   * Panels [p0, p1) of 6 output channels of winogradWeights (ceil(cout / 6) of them), through
   * `scratch` (winogradWeightsScratchBytes) so that U is written in runs: the host's transform.
   */
  winogradWeightsPanels: {
    params: ["w", "u", "cout", "cin", "scratch"],
    range: ["p0", "p1"],
  },
  /** Scratch bytes of one thread's winogradWeightsPanels. */
  winogradWeightsScratchBytes: { params: [], returns: "number" },

  // ---- asm/winograd.ts
  /** Scratch bytes of one thread's winogradConv. */
  winogradScratchBytes: { params: ["cout", "cin"], returns: "number" },
  /**
   * 3x3 stride-1 convolution, output tiles [t0, t1) (4x4 tiles, row-major over frames x
   * ceil(h / 4) x ceil(w / 4)): Y at `y` (channel co's [frames, h, w] at co * ys floats) =
   * conv(X[cin, frames, h + 2, w + 2] at `x`, each frame zero-padded) with the weights `u` of
   * winogradWeights, + bias[co] (bias != 0) + R at `res`, laid out as Y (res != 0; may equal y).
   * `scratch`: winogradScratchBytes(cout, cin) bytes of the calling thread's own.
   */
  winogradConv: {
    params: [
      "x", "u", "bias", "res", "y",
      "cin", "cout", "h", "w", "frames", "ys", "t0", "t1", "scratch",
    ],
  },
  /** Bytes of winogradInput's transformed tiles: all `tiles` tiles of `cin` channels. */
  winogradInputBytes: { params: ["cin", "tiles"], returns: "number" },
  /** Scratch bytes of one thread's winogradInput. */
  winogradInputScratchBytes: { params: [], returns: "number" },
  /**
   * Input channels [c0, c1) of the input transform of every tile of X (winogradConv's X) into
   * `v` (winogradInputBytes), for winogradOutput.
   */
  winogradInput: {
    params: ["x", "v", "cin", "h", "w", "frames", "scratch"],
    range: ["c0", "c1"],
  },
  /** Scratch bytes of one thread's winogradOutput over `panels` panels of 6 output channels. */
  winogradOutputScratchBytes: { params: ["panels", "tiles"], returns: "number" },
  /**
   * Panels [p0, p1) of 6 output channels of winogradConv over every tile, from winogradInput's
   * `v`: the same Y, bit for bit, with U read once for all the tiles.
   */
  winogradOutput: {
    params: [
      "v", "u", "bias", "res", "y", "cin", "cout", "h", "w", "frames", "ys", "scratch",
    ],
    range: ["p0", "p1"],
  },
} as const satisfies Record<string, KernelDecl>;

type Decls = typeof KERNELS;
/** The name of an export of asm/. */
export type KernelName = keyof Decls;
/** A kernel's arguments by name (the range parameters of a launched kernel excluded). */
export type KernelArgs<K extends KernelName> = {
  readonly [P in Decls[K]["params"][number]]: number;
};
/** The parameter a launch fills with each thread's own scratch area. */
export const SCRATCH = "scratch";
/** A launched kernel's arguments: the launcher fills the scratch and the range. */
export type LaunchArgs<K extends KernelName> = Omit<KernelArgs<K>, typeof SCRATCH>;
/** The kernels that work over a range of items, launched on every thread. */
export type RangeKernel = {
  [K in KernelName]: Decls[K] extends { range: readonly [string, string] } ? K : never;
}[KernelName];
/** The kernels called once on the calling thread. */
export type DirectKernel = Exclude<KernelName, RangeKernel>;

type Numbers<T extends readonly unknown[]> = { -readonly [I in keyof T]: number };
type Positional<K extends KernelName> = [
  ...Numbers<Decls[K]["params"]>,
  ...(K extends RangeKernel ? [start: number, end: number] : []),
];
type Result<K extends KernelName> = Decls[K] extends { returns: "number" } ? number : void;

/** The exports of an instance, positional as WebAssembly has them (typed from KERNELS). */
export type CpuKernels = { readonly [K in KernelName]: (...args: Positional<K>) => Result<K> };

/** A kernel's named arguments in its asm order (the range parameters not included). */
export function positional<K extends KernelName>(kernel: K, args: KernelArgs<K>): number[] {
  const named = args as Readonly<Record<string, number>>;
  return KERNELS[kernel].params.map((p: string) => named[p]);
}

/** Where a launched kernel takes its scratch area: the index of `scratch` in its params, or -1. */
export function scratchIndex(kernel: KernelName): number {
  return (KERNELS[kernel].params as readonly string[]).indexOf(SCRATCH);
}

/** Calls a kernel on the calling thread with its arguments by name. */
export function callKernel<K extends DirectKernel>(
  k: CpuKernels,
  kernel: K,
  args: KernelArgs<K>,
): Result<K> {
  return (k[kernel] as (...a: number[]) => Result<K>)(...positional(kernel, args));
}

/** Bytes of asm/fsq.ts's constants table. */
export const FSQ_TABLE_BYTES = 160;

/**
 * Writes FSQ levels and their constants to the table at `table` in asm/fsq.ts's layout:
 * i32 levels[8], i32 basis[8], f32 halfL[8], f32 offset[8], f32 shift[8].
 */
export function writeFsqTable(
  buffer: ArrayBufferLike,
  table: number,
  levels: readonly number[],
  c: FsqConstants,
): void {
  new Int32Array(buffer, table, 8).set(levels);
  new Int32Array(buffer, table + 32, 8).set(c.basis);
  new Float32Array(buffer, table + 64, 8).set(c.halfL);
  new Float32Array(buffer, table + 96, 8).set(c.offset);
  new Float32Array(buffer, table + 128, 8).set(c.shift);
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
// deno-fmt-ignore: the module's bytes, a section to a line.
const RELAXED_PROBE = new Uint8Array([
  0, 97, 115, 109, 1, 0, 0, 0,
  1, 8, 1, 96, 3, 123, 123, 123, 1, 123,
  3, 2, 1, 0,
  10, 13, 1, 11, 0, 32, 0, 32, 1, 32, 2, 253, 133, 2, 11,
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
