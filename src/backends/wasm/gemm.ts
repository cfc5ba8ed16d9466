/**
 * The WebAssembly backend's matrix product over strided views, split over every thread: the
 * one lowering to asm/gemm.ts that convolutions (conv.ts), attention (attention.ts) and the
 * bench's ceiling share.
 * @module
 */

import type { KernelArgs } from "./kernels.ts";
import { CHUNKS_PER_THREAD, type WasmRuntime } from "./runtime.ts";

/**
 * C[m, n] (+)= sum_k A[m, k] B[k, n] (+ bias[m]) for m < M, n < N, k < K: pointers in bytes,
 * strides in elements (C rows `ldc` apart), as gemmBlocks names them.
 */
export type Product =
  & Pick<KernelArgs<"gemmBlocks">, "a" | "sam" | "sak" | "b" | "sbk" | "sbn" | "c" | "ldc">
  & {
    M: number;
    N: number;
    K: number;
    /** Per-row bias (a pointer), 0 or absent for none. */
    bias?: number;
    /** Add to C instead of overwriting it. */
    accumulate?: boolean;
  };

/** Runs a product on every thread, by blocks of rows and columns. */
export function gemm(rt: WasmRuntime, p: Product): void {
  const { M, N, K } = p;
  // Blocks of whole rows where there are enough columns to keep every thread busy, so each
  // block reuses its packed rows; blocks of rows too where there are not.
  const want = rt.threads * CHUNKS_PER_THREAD;
  const blockN = Math.max(64, Math.ceil(N / want / 16) * 16);
  const colBlocks = Math.ceil(N / blockN);
  const blockM = colBlocks >= want ? M : Math.max(16, Math.ceil(M * colBlocks / want / 16) * 16);
  const blocks = Math.ceil(M / blockM) * colBlocks;
  rt.launch(
    "gemmBlocks",
    {
      a: p.a,
      sam: p.sam,
      sak: p.sak,
      b: p.b,
      sbk: p.sbk,
      sbn: p.sbn,
      c: p.c,
      ldc: p.ldc,
      bias: p.bias ?? 0,
      accumulate: p.accumulate ? 1 : 0,
      k: K,
      m: M,
      n: N,
      blockM,
      blockN,
    },
    blocks,
    1,
  );
}

/**
 * A matrix packed once (asm/gemm.ts packPanels) for every product of a call that multiplies by
 * it, rather than again by every block of C that `gemm` hands a thread: with C split by columns
 * over threads, each thread would pack all of A, a large part of the work of a narrow product
 * (a video's deep layers). `ptr` is the caller's to free.
 */
export interface PackedA {
  ptr: number;
  M: number;
  K: number;
}

/** Bytes of packed A past which callers keep to `gemm` (its packing is bounded per block). */
export const PACKED_MAX_BYTES = 16 << 20;

/** Panels of 6 rows (the micro-kernel's tile height) over `m` rows. */
function panels(m: number): number {
  return Math.ceil(m / 6);
}

/**
 * A[M, K] (element (m, k) at a + 4 (m sam + k sak)) packed on every thread, or null when it
 * would take more than PACKED_MAX_BYTES (or M or K is 0).
 */
export function packA(
  rt: WasmRuntime,
  a: number,
  sam: number,
  sak: number,
  M: number,
  K: number,
): PackedA | null {
  if (M <= 0 || K <= 0) return null;
  const bytes = rt.kernels.packedBytes(M, K);
  if (bytes > PACKED_MAX_BYTES) return null;
  const ptr = rt.heap.alloc(bytes, "packed weights");
  rt.launch("packPanels", { a, sam, sak, m: M, k: K, dst: ptr }, panels(M));
  return { ptr, M, K };
}

/**
 * C[m, n] (+)= sum_k A[m, k] B[k, n] (+ bias[m]) for the packed A and n < N: B[k, n] at
 * b + 4 (k sbk + n), or at rows[k] + 4 n for an i32 table of K byte addresses at `rows`
 * (rows of different tensors, or shifted frames of one, with no gathered copy). Split over
 * every thread by blocks of columns, and of rows where there are too few columns.
 */
export function gemmPacked(
  rt: WasmRuntime,
  A: PackedA,
  p: Pick<Product, "c" | "ldc" | "N" | "bias" | "accumulate"> & {
    b: number;
    sbk: number;
    rows?: number;
  },
): void {
  const { M, K } = A;
  const N = p.N;
  if (N <= 0) return;
  const want = rt.threads * CHUNKS_PER_THREAD;
  const blockN = Math.max(64, Math.ceil(N / want / 16) * 16);
  const colBlocks = Math.ceil(N / blockN);
  // Row blocks are whole panels: a multiple of 48 rows, several panels each.
  const blockM = colBlocks >= want
    ? panels(M) * 6
    : Math.max(48, Math.ceil(M * colBlocks / want / 48) * 48);
  rt.launch(
    "gemmPackedBlocks",
    {
      ap: A.ptr,
      b: p.b,
      sbk: p.sbk,
      rows: p.rows ?? 0,
      c: p.c,
      ldc: p.ldc,
      bias: p.bias ?? 0,
      accumulate: p.accumulate ? 1 : 0,
      k: K,
      m: M,
      n: N,
      blockM,
      blockN,
    },
    Math.ceil(M / blockM) * colBlocks,
    1,
  );
}
