/**
 * Frame ranges of video tensors joined along time (Ops.joinFrames, wgsl/rows.wgsl), for
 * carrying frames from one step of a causal streaming network to the next.
 *
 * One dispatch per part, recorded like every kernel into the runtime's batched encoder, so it
 * is ordered with the kernels before and after it, covered by the batch's error scopes, and
 * profiled under the family "frames". A dispatch rather than `copyBufferToBuffer` per (b, c)
 * run: the runtime records only dispatches, and a part of B * C planes would be B * C copies.
 * The checks and the output shape come from geometry.ts, shared with the other backends. The
 * copy is rows.wgsl's block copy, which the row bands (bands.ts) use for their windows too.
 * @module
 */

import type { FrameRange, Tensor } from "../ops.ts";
import { joinFramesGeometry } from "../geometry.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime, type GpuTensor } from "./runtime.ts";
import { commonElement } from "./precision.ts";

/** rows.wgsl's `struct Params`. */
const ROWS_PARAMS = defineParams("rows.wgsl", [
  ["total", "u32"],
  ["width", "u32"],
  ["rows", "u32"],
  ["frames", "u32"],
  ["src_frames", "u32"],
  ["src_rows", "u32"],
  ["from_frame", "u32"],
  ["from_row", "u32"],
  ["dst_frames", "u32"],
  ["dst_rows", "u32"],
  ["to_frame", "u32"],
  ["to_row", "u32"],
]);

import { planeView } from "../bands.ts";
export { planeView };

/** A block of frames and rows of `src`, and where in `dst` it goes (see rows.wgsl). */
export interface Block {
  /** Frames [from, to) of `src`. */
  frames: [number, number];
  /** Rows [from, to) of `src`. */
  rows: [number, number];
  /** The first frame and row of `dst` written. */
  at: [number, number];
}

/** Records the copy of a block of `src` into `dst` (same planes and width), one dispatch. */
export function copyBlock(
  rt: GpuRuntime,
  src: GpuTensor,
  dst: GpuTensor,
  block: Block,
  family: string,
): void {
  const [planes, srcFrames, srcRows, width] = planeView(src.shape);
  const [, dstFrames, dstRows] = planeView(dst.shape);
  const frames = block.frames[1] - block.frames[0], rows = block.rows[1] - block.rows[0];
  const total = planes * frames * rows * width;
  // f32 and i32 move as u32 words, bit for bit; f16 as f16.
  const T = commonElement(family, [src.element, dst.element]) === "f16" ? "f16" : "u32";
  rt.dispatch({
    family,
    pipeline: rt.pipelines.get("rows", "main", { T }),
    bindings: [src, dst],
    params: ROWS_PARAMS.pack({
      total,
      width,
      rows,
      frames,
      src_frames: srcFrames,
      src_rows: srcRows,
      from_frame: block.frames[0],
      from_row: block.rows[0],
      dst_frames: dstFrames,
      dst_rows: dstRows,
      to_frame: block.at[0],
      to_row: block.at[1],
    }),
    workgroups: elementwiseGroups(total),
  });
}

/** Records the copies of Ops.joinFrames into a new tensor. */
export function joinFrames(rt: GpuRuntime, parts: readonly FrameRange[]): Tensor {
  const inputs = parts.map((p) => rt.tensor(p.tensor));
  const g = joinFramesGeometry(parts);
  const element = commonElement("joinFrames", inputs.map((x) => x.element));
  const out = rt.alloc(g.outShape, g.dtype, "joinFrames", element);
  const h = g.outShape[3];
  parts.forEach((part, i) => {
    copyBlock(rt, inputs[i], out, {
      frames: [part.from, part.to],
      rows: [0, h],
      at: [g.offsets[i], 0],
    }, "frames");
  });
  return out;
}
