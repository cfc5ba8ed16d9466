/**
 * Finite scalar quantisation (wgsl/fsq.wgsl): codes and indices, and indices back to codes.
 *
 * The per-level constants are derived on the host in float32 (../fsq.ts, shared with the
 * other backends) and travel in `struct Params`, so every backend rounds at the same
 * boundaries.
 * @module
 */

import type { FsqSpec, Tensor } from "../ops.ts";
import { fmtShape, numel } from "../../types.ts";
import { fsqConstants } from "../fsq.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime } from "./runtime.ts";

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

function fsqParams(spec: FsqSpec, positions: number, total: number): ArrayBuffer {
  const k = fsqConstants(spec.levels);
  return FSQ_PARAMS.pack({
    positions,
    dims: spec.levels.length,
    total,
    levels: spec.levels,
    basis: k.basis,
    half_l: k.halfL,
    offset: k.offset,
    shift: k.shift,
  });
}

/** Records the quantisation of [B, D, ...] (see Ops.fsqQuantize). */
export function fsqQuantize(
  rt: GpuRuntime,
  zIn: Tensor,
  spec: FsqSpec,
): { codes: Tensor; indices: Tensor } {
  const z = rt.tensor(zIn);
  const [b, d] = z.shape;
  if (d !== spec.levels.length) {
    throw new Error(`FSQ expects ${spec.levels.length} channels, got ${fmtShape(z.shape)}`);
  }
  const rest = z.shape.slice(2);
  const positions = numel(rest);
  const codes = rt.alloc(z.shape, "f32", "fsq codes");
  const indices = rt.alloc([b, ...rest], "i32", "fsq indices");
  const total = b * positions;
  rt.dispatch({
    family: "fsq",
    pipeline: rt.pipelines.get("fsq", "quantize_main"),
    bindings: [z, codes, indices],
    params: fsqParams(spec, positions, total),
    workgroups: elementwiseGroups(total),
  });
  return { codes, indices };
}

/** Records indices [B, ...] back to codes [B, D, ...] (see Ops.fsqDequantize). */
export function fsqDequantize(rt: GpuRuntime, idxIn: Tensor, spec: FsqSpec): Tensor {
  const idx = rt.tensor(idxIn);
  const [b, ...rest] = idx.shape;
  const positions = numel(rest);
  const codes = rt.alloc([b, spec.levels.length, ...rest], "f32", "fsq codes");
  const total = b * positions;
  rt.dispatch({
    family: "fsq",
    pipeline: rt.pipelines.get("fsq", "dequantize_main"),
    bindings: [null, codes, idx],
    params: fsqParams(spec, positions, total),
    workgroups: elementwiseGroups(total),
  });
  return codes;
}
