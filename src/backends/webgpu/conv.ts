/**
 * Convolution as an implicit GEMM (wgsl/conv.wgsl over wgsl/gemm_core.wgsl).
 *
 * One dispatch per convolution: the input is gathered on the fly (im2col never materialised),
 * with the optional GroupNorm (+ SiLU) of its input, the nearest 2x upsample and the residual
 * add fused in. The kernel extent and the fusions are specialisation constants; shapes,
 * strides and padding travel in `struct Params`.
 * @module
 */

import type { ConvOptions, ConvWeights, Tensor } from "../ops.ts";
import { type ConvGeometry, convGeometry } from "../geometry.ts";
import { joinFrames } from "./frames.ts";
import { defineParams } from "./params.ts";
import type { Constants } from "./pipelines.ts";
import type { Dispatch, GpuRuntime } from "./runtime.ts";
import { type GemmTiles, gemmWorkgroups } from "./gemm.ts";
import { commonElement } from "./precision.ts";
import { tunedTiles } from "./autotune.ts";

/** conv.wgsl's `struct Params`: GEMM sizes, input and output extents, strides, padding, norm. */
const CONV_PARAMS = defineParams("conv.wgsl", [
  ["M", "u32"],
  ["N", "u32"],
  ["K", "u32"],
  ["cin", "u32"],
  ["t_in", "u32"],
  ["h_in", "u32"],
  ["w_in", "u32"],
  ["hw_in", "u32"],
  ["t_out", "u32"],
  ["h_out", "u32"],
  ["w_out", "u32"],
  ["p_out", "u32"],
  ["stride_t", "u32"],
  ["stride_h", "u32"],
  ["stride_w", "u32"],
  ["pad_t", "u32"],
  ["pad_h", "u32"],
  ["pad_w", "u32"],
  ["groups", "u32"],
  ["ch_per_group", "u32"],
  ["stat_frames", "u32"],
  ["_p0", "u32"],
  ["_p1", "u32"],
  ["_p2", "u32"],
]);

/**
 * Records the convolution of `xIn` (see Ops.conv). `g` is its geometry where the caller has it
 * already (the backend, which decides on row bands by it); it is computed here otherwise.
 */
export function conv(
  rt: GpuRuntime,
  tiles: GemmTiles,
  xIn: Tensor,
  w: ConvWeights,
  opts: ConvOptions = {},
  g: ConvGeometry = convGeometry(rt.tensor(xIn).shape, w, opts),
): Tensor {
  if (opts.context) {
    // The carried frames stay on the device: joined in front, they are the padding. (`g` has
    // checked them; the joined input is a conv of its own, with a geometry of its own.)
    const { context, ...rest } = opts;
    const whole = [context, xIn].map((tensor) => ({ tensor, from: 0, to: tensor.shape[2] }));
    const joined = joinFrames(rt, whole);
    try {
      return conv(rt, tiles, joined, w, { ...rest, padTime: 0 });
    } finally {
      rt.release(joined);
    }
  }
  const x = rt.tensor(xIn);
  const { b, cin, tIn, hIn, wIn, kt, kh, kw, st, sh, sw, padT, tOut, hOut, wOut, outShape } = g;
  const norm = opts.norm;
  // Every tensor but the (f32) statistics is stored as T, and so is the output.
  const stored = [x, w.weight, w.bias, norm?.weights.gammaBeta, opts.residual];
  const T = commonElement(
    g.family,
    stored.flatMap((t) => t ? [rt.tensor(t).element] : []),
  );
  const out = rt.alloc(outShape, "f32", "conv", T);
  const pOut = tOut * hOut * wOut;
  const M = w.cout, N = b * pOut, K = cin * kt * kh * kw;
  const params = CONV_PARAMS.pack({
    M,
    N,
    K,
    cin,
    t_in: tIn,
    h_in: hIn,
    w_in: wIn,
    hw_in: hIn * wIn,
    t_out: tOut,
    h_out: hOut,
    w_out: wOut,
    p_out: pOut,
    stride_t: st,
    stride_h: sh,
    stride_w: sw,
    pad_t: padT,
    pad_h: g.padLowH,
    pad_w: g.padLowW,
    groups: norm?.weights.groups ?? 1,
    ch_per_group: norm ? cin / norm.weights.groups : 1,
    stat_frames: norm ? rt.tensor(norm.stats).shape[1] : 1,
  });
  const consts: Constants = {
    KT: kt,
    KH: kh,
    KW: kw,
    NORM: !!norm,
    SILU: !!norm?.silu,
    RESIDUAL: !!opts.residual,
    UPSAMPLE: !!opts.upsample,
    T,
  };
  const record = (t: GemmTiles): Dispatch => ({
    family: g.family,
    pipeline: rt.pipelines.get("conv", "main", { ...consts, ...t }),
    bindings: [
      x,
      rt.tensor(w.weight),
      rt.tensor(w.bias),
      norm ? rt.tensor(norm.stats) : rt.unused,
      norm ? rt.tensor(norm.weights.gammaBeta) : rt.unused,
      opts.residual ? rt.tensor(opts.residual) : rt.unused,
      out,
    ],
    params,
    workgroups: gemmWorkgroups(t, M, N),
    flops: 2 * M * N * K,
  });
  // Binding 6 is the output, which the autotuner replaces while it times the candidates.
  const job = { family: g.family, dims: { M, N, K }, output: 6, build: record };
  rt.dispatch(record(tunedTiles(rt, tiles, job)));
  return out;
}
