/**
 * Finite scalar quantisation on the WebAssembly backend (asm/fsq.ts), on the calling thread:
 * the per-level constants (src/backends/fsq.ts) are written to the instance's table before each
 * call, and a non-finite value or out-of-range index fails the op with its flat index.
 * @module
 */

import type { FsqSpec, Tensor } from "../ops.ts";
import { fsqConstants } from "../fsq.ts";
import { fsqDequantizeGeometry, fsqQuantizeGeometry } from "../geometry.ts";
import { callKernel, writeFsqTable } from "./kernels.ts";
import type { WasmRuntime } from "./runtime.ts";

/** Writes the levels' constants to the table the FSQ kernels read. */
function loadTable(rt: WasmRuntime, spec: FsqSpec): void {
  const c = fsqConstants(spec.levels);
  writeFsqTable(rt.heap.memory.buffer, rt.kernels.fsqTable(), spec.levels, c);
}

/** Codes and indices of z [B, D, ...] (the op interface's `fsqQuantize`). */
export function fsqQuantize(
  rt: WasmRuntime,
  zIn: Tensor,
  spec: FsqSpec,
): { codes: Tensor; indices: Tensor } {
  const z = rt.tensor(zIn);
  const g = fsqQuantizeGeometry(z.shape, spec.levels);
  const codes = rt.alloc(g.codesShape, "f32", "fsq codes");
  const indices = rt.alloc(g.indicesShape, "i32", "fsq indices");
  loadTable(rt, spec);
  const bad = callKernel(rt.kernels, "fsqQuantize", {
    z: z.ptr,
    codes: codes.ptr,
    indices: indices.ptr,
    b: g.batch,
    dims: spec.levels.length,
    positions: g.positions,
  });
  if (bad >= 0) {
    rt.release(codes);
    rt.release(indices);
    throw new Error(`FSQ input holds a non-finite value at flat index ${bad}`);
  }
  return { codes, indices };
}

/** Indices [B, ...] back to codes [B, D, ...] (the op interface's `fsqDequantize`). */
export function fsqDequantize(rt: WasmRuntime, idxIn: Tensor, spec: FsqSpec): Tensor {
  const idx = rt.tensor(idxIn);
  const g = fsqDequantizeGeometry(idx.shape, spec.levels);
  const codes = rt.alloc(g.codesShape, "f32", "fsq codes");
  loadTable(rt, spec);
  const size = fsqConstants(spec.levels).codebookSize;
  const bad = callKernel(rt.kernels, "fsqIndicesToCodes", {
    indices: idx.ptr,
    codes: codes.ptr,
    b: g.batch,
    dims: spec.levels.length,
    positions: g.positions,
    size,
  });
  if (bad >= 0) {
    rt.release(codes);
    throw new Error(`FSQ index at flat index ${bad} is outside [0, ${size})`);
  }
  return codes;
}
