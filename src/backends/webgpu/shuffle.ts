/**
 * Ops.spaceToChannel / channelToSpace on WebGPU (wgsl/shuffle.wgsl): one thread per output
 * value; the geometry and its checks are ../shuffle.ts, shared with the other backend.
 * @module
 */

import type { Tensor } from "../ops.ts";
import { numel } from "../../types.ts";
import { channelToSpaceGeometry, type ShuffleOptions, spaceToChannelGeometry } from "../shuffle.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime } from "./runtime.ts";

/** shuffle.wgsl's `struct Params`. */
const SHUFFLE_PARAMS = defineParams("shuffle.wgsl", [
  ["c_in", "u32"],
  ["t_in", "u32"],
  ["h_in", "u32"],
  ["w_in", "u32"],
  ["c_out", "u32"],
  ["t_out", "u32"],
  ["h_out", "u32"],
  ["w_out", "u32"],
  ["ft", "u32"],
  ["fs", "u32"],
  ["group", "u32"],
  ["pad_t", "u32"],
  ["total", "u32"],
  ["_pad0", "u32"],
  ["_pad1", "u32"],
  ["_pad2", "u32"],
]);

/** Records spaceToChannel (`fold`) or channelToSpace of `xIn`. */
export function shuffle(rt: GpuRuntime, xIn: Tensor, o: ShuffleOptions, fold: boolean): Tensor {
  const x = rt.tensor(xIn);
  const g = fold ? spaceToChannelGeometry(x.shape, o) : channelToSpaceGeometry(x.shape, o);
  const entry = fold ? "space_to_channel" : "channel_to_space";
  const out = rt.alloc(g.outShape, "f32", entry, x.element);
  const total = numel(g.outShape);
  const [, c_in, t_in, h_in, w_in] = x.shape;
  const [, c_out, t_out, h_out, w_out] = g.outShape;
  rt.dispatch({
    family: "resample",
    pipeline: rt.pipelines.get("shuffle", entry, { T: x.element }),
    bindings: [x, out],
    params: SHUFFLE_PARAMS.pack({
      c_in,
      t_in,
      h_in,
      w_in,
      c_out,
      t_out,
      h_out,
      w_out,
      ft: o.time,
      fs: o.space,
      group: o.group,
      pad_t: g.pad,
      total,
    }),
    workgroups: elementwiseGroups(total),
  });
  return out;
}
