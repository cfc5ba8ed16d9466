/**
 * Finite scalar quantisation (wgsl/fsq.wgsl): codes and indices, and indices back to codes.
 *
 * The per-level constants are derived on the host in float32 (../fsq.ts, shared with the
 * other backends) and travel in `struct Params`, so every backend rounds at the same
 * boundaries.
 * @module
 */

import type { FsqSpec, Tensor } from "../ops.ts";
import { fsqDequantizeGeometry, fsqQuantizeGeometry } from "../geometry.ts";
import { fsqConstants } from "../fsq.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime, type GpuTensor } from "./runtime.ts";

/** fsq.wgsl's `struct Params`: sizes, then up to 8 levels and their constants, four per vec4. */
const FSQ_PARAMS = defineParams("fsq.wgsl", [
  ["positions", "u32"],
  ["dims", "u32"],
  ["total", "u32"],
  ["_pad", "u32"],
  ["levels", "array<vec4<u32>, 2>"],
  ["basis", "array<vec4<u32>, 2>"],
  ["half_l", "array<vec4<f32>, 2>"],
  ["offset", "array<vec4<f32>, 2>"],
  ["shift", "array<vec4<f32>, 2>"],
]);

/** Records one fsq.wgsl entry point over `total` positions (B times `positions`). */
function dispatchFsq(
  rt: GpuRuntime,
  entry: "quantize_main" | "dequantize_main",
  bindings: (GpuTensor | null)[],
  launch: { spec: FsqSpec; positions: number; total: number },
): void {
  const { spec, positions, total } = launch;
  const T = bindings[1]!.element;
  const pipeline = rt.pipelines.get("fsq", entry, { T });
  const k = fsqConstants(spec.levels);
  rt.dispatch({
    family: "fsq",
    pipeline,
    bindings,
    params: FSQ_PARAMS.pack({
      positions,
      dims: spec.levels.length,
      total,
      levels: spec.levels,
      basis: k.basis,
      half_l: k.halfL,
      offset: k.offset,
      shift: k.shift,
    }),
    workgroups: elementwiseGroups(total),
  });
}

/** Records the quantisation of [B, D, ...] (see Ops.fsqQuantize). */
export function fsqQuantize(
  rt: GpuRuntime,
  zIn: Tensor,
  spec: FsqSpec,
): { codes: Tensor; indices: Tensor } {
  const z = rt.tensor(zIn);
  const { batch, positions, codesShape, indicesShape } = fsqQuantizeGeometry(z.shape, spec.levels);
  const codes = rt.alloc(codesShape, "f32", "fsq codes", z.element);
  const indices = rt.alloc(indicesShape, "i32", "fsq indices");
  const total = batch * positions;
  dispatchFsq(rt, "quantize_main", [z, codes, indices], { spec, positions, total });
  return { codes, indices };
}

/** Records indices [B, ...] back to codes [B, D, ...] (see Ops.fsqDequantize). */
export function fsqDequantize(rt: GpuRuntime, idxIn: Tensor, spec: FsqSpec): Tensor {
  const idx = rt.tensor(idxIn);
  const { batch, positions, codesShape } = fsqDequantizeGeometry(idx.shape, spec.levels);
  const codes = rt.alloc(codesShape, "f32", "fsq codes");
  const total = batch * positions;
  dispatchFsq(rt, "dequantize_main", [null, codes, idx], { spec, positions, total });
  return codes;
}
