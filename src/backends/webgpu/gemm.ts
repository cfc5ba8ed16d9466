/**
 * The tiled matrix product (wgsl/matmul.wgsl over wgsl/gemm_core.wgsl) and its tile shapes.
 *
 * The convolution (conv.ts) runs on the same GEMM core with its own loaders; both take their
 * tile shape from here, chosen per adapter kind and overridable for the bench. The strided
 * matmul is attention's (scores and their product with v, read in place from a packed q/k/v
 * tensor) and the bench's ceiling.
 * @module
 */

import type { GpuContext } from "./device.ts";
import { defineParams } from "./params.ts";
import type { Dispatch, GpuRuntime, GpuTensor } from "./runtime.ts";
import { tunedTiles } from "./autotune.ts";

/** GEMM tile shape; see wgsl/gemm_core.wgsl. */
export interface GemmTiles {
  /** Threads of a workgroup along M. */
  WG_M: number;
  /** Threads of a workgroup along N. */
  WG_N: number;
  /** Outputs per thread along M. */
  TM: number;
  /** Outputs per thread along N. */
  TN: number;
  /** Depth of the K slice staged in workgroup memory per step. */
  BK: number;
}

/** Tiles for discrete GPUs: 64x64 outputs per 256-thread workgroup, 4x4 per thread. */
const GPU_TILES: GemmTiles = { WG_M: 16, WG_N: 16, TM: 4, TN: 4, BK: 16 };
/** Tiles for CPU rasterizers, which run a workgroup on one core in 8-wide SIMD batches. */
const SOFTWARE_TILES: GemmTiles = { WG_M: 16, WG_N: 16, TM: 8, TN: 4, BK: 8 };

/** The tiles for this adapter, with the caller's overrides; throws for a shape the core cannot run. */
export function chooseTiles(ctx: GpuContext, overrides: Partial<GemmTiles> = {}): GemmTiles {
  const t = { ...(ctx.isSoftware ? SOFTWARE_TILES : GPU_TILES), ...overrides };
  if (t.WG_M % t.TN !== 0) {
    // gemm_core gives each thread one B column: THREADS (WG_M * WG_N) must be a multiple of
    // BN (WG_N * TN).
    throw new Error(`Invalid GEMM tiles ${JSON.stringify(t)}: WG_M must be a multiple of TN`);
  }
  return t;
}

/** Workgroups covering an M x N output, one output tile each. */
export function gemmWorkgroups(tiles: GemmTiles, M: number, N: number): number {
  const bm = tiles.WG_M * tiles.TM, bn = tiles.WG_N * tiles.TN;
  return Math.ceil(M / bm) * Math.ceil(N / bn);
}

/** matmul.wgsl's `struct Params`: sizes, alpha, then (offset, batch, row, column) strides. */
const MATMUL_PARAMS = defineParams("matmul.wgsl", [
  ["M", "u32"],
  ["N", "u32"],
  ["K", "u32"],
  ["alpha", "f32"],
  ["a_off", "u32"],
  ["a_sb", "u32"],
  ["a_sm", "u32"],
  ["a_sk", "u32"],
  ["b_off", "u32"],
  ["b_sb", "u32"],
  ["b_sk", "u32"],
  ["b_sn", "u32"],
  ["c_off", "u32"],
  ["c_sb", "u32"],
  ["c_sm", "u32"],
  ["c_sn", "u32"],
]);

/** Sizes of a (batched) matrix product C = alpha * A B. */
export interface MatmulDims {
  /** Rows of A and C. */
  M: number;
  /** Columns of B and C. */
  N: number;
  /** Columns of A, rows of B. */
  K: number;
  /** Independent products (the dispatch's z). Default 1. */
  batch?: number;
  /** Default 1. */
  alpha?: number;
}

/**
 * Element strides of the three views: [offset, batch, row, column], i.e. A [off, sb, sm, sk],
 * B [off, sb, sk, sn], C [off, sb, sm, sn].
 */
export interface MatmulStrides {
  a: [number, number, number, number];
  b: [number, number, number, number];
  c: [number, number, number, number];
}

/** Records C = alpha * A B over strided views (profiled under `family`). */
export function matmul(
  rt: GpuRuntime,
  tiles: GemmTiles,
  operands: { a: GpuTensor; b: GpuTensor; c: GpuTensor },
  dims: MatmulDims,
  strides: MatmulStrides,
  family = "matmul",
): void {
  const [a_off, a_sb, a_sm, a_sk] = strides.a;
  const [b_off, b_sb, b_sk, b_sn] = strides.b;
  const [c_off, c_sb, c_sm, c_sn] = strides.c;
  const params = MATMUL_PARAMS.pack({
    M: dims.M,
    N: dims.N,
    K: dims.K,
    alpha: dims.alpha ?? 1,
    a_off,
    a_sb,
    a_sm,
    a_sk,
    b_off,
    b_sb,
    b_sk,
    b_sn,
    c_off,
    c_sb,
    c_sm,
    c_sn,
  });
  const batch = dims.batch ?? 1;
  const record = (t: GemmTiles): Dispatch => ({
    family,
    pipeline: rt.pipelines.get("matmul", "main", {
      ...t,
      // Each operand's own storage type: attention multiplies f16 activations with f32 scores.
      A_T: operands.a.element,
      B_T: operands.b.element,
      C_T: operands.c.element,
    }),
    bindings: [operands.a, operands.b, operands.c],
    params,
    workgroups: gemmWorkgroups(t, dims.M, dims.N),
    z: batch,
    flops: 2 * dims.M * dims.N * dims.K * batch,
  });
  // Binding 2 (C) is the output, which the autotuner replaces while it times the candidates.
  const job = { family, dims: { M: dims.M, N: dims.N, K: dims.K, batch }, output: 2 };
  rt.dispatch(record(tunedTiles(rt, tiles, { ...job, build: record })));
}
