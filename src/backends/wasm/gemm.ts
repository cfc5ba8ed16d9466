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
