/**
 * The building blocks of the Cosmos image networks, written once over the op interface.
 *
 * Each block reads its parameters under the checkpoint's own names (a prefix such as
 * "encoder.down.0.block.1") and fuses what the reference runs as separate modules: GroupNorm
 * and SiLU into the next convolution's loads, the residual add into its epilogue, the nearest
 * upsample into the convolution's addressing, and q/k/v into one 1x1 convolution.
 * `forward` never releases its input; it releases every intermediate it made.
 * @module
 */

import type {
  ConvOptions,
  ConvWeights,
  NormWeights,
  Ops,
  Tensor,
  Uploader,
} from "../backends/ops.ts";
import type { WeightReader } from "../weights/checkpoint.ts";
import { convParams, loadPackedQkv, normParams } from "./params.ts";

/** GroupNorm's group count in the 2D networks (the reference's Normalize). */
export const GROUPS_2D = 32;
/** GroupNorm epsilon throughout the Cosmos tokenizers. */
export const NORM_EPS = 1e-6;

/** Loads `${prefix}.weight` / `${prefix}.bias` of a 2D conv with the expected shape. */
export function loadConv2d(
  ops: Uploader,
  w: WeightReader,
  prefix: string,
  cout: number,
  cin: number,
  k: number,
): ConvWeights {
  const weight = w.take(`${prefix}.weight`, [cout, cin, k, k]);
  const bias = w.take(`${prefix}.bias`, [cout]);
  return convParams(ops, weight, [cout, cin, k, k], bias);
}

export function loadNorm(
  ops: Uploader,
  w: WeightReader,
  prefix: string,
  channels: number,
  groups = GROUPS_2D,
): NormWeights {
  if (channels % groups !== 0) {
    throw new Error(
      `Cannot load ${w.half}: "${prefix}" has ${channels} channels, not divisible into ${groups} groups`,
    );
  }
  return normParams(
    ops,
    w.take(`${prefix}.weight`, [channels]),
    w.take(`${prefix}.bias`, [channels]),
    groups,
    NORM_EPS,
  );
}

/** Normalises (GroupNorm, optional SiLU) `x` into the loads of `conv`. */
export function normConv(
  ops: Ops,
  x: Tensor,
  norm: NormWeights,
  silu: boolean,
  conv: ConvWeights,
  opts: ConvOptions = {},
): Tensor {
  const stats = ops.groupNormStats(x, { groups: norm.groups, eps: norm.eps });
  const y = ops.conv(x, conv, { ...opts, norm: { stats, weights: norm, silu } });
  ops.release(stats);
  return y;
}

/** norm1 -> SiLU -> conv1 -> norm2 -> SiLU -> conv2, plus the (1x1 projected) input. */
export class ResnetBlock {
  norm1: NormWeights;
  conv1: ConvWeights;
  norm2: NormWeights;
  conv2: ConvWeights;
  shortcut: ConvWeights | null;

  constructor(ops: Uploader, w: WeightReader, prefix: string, cin: number, cout: number) {
    this.norm1 = loadNorm(ops, w, `${prefix}.norm1`, cin);
    this.conv1 = loadConv2d(ops, w, `${prefix}.conv1`, cout, cin, 3);
    this.norm2 = loadNorm(ops, w, `${prefix}.norm2`, cout);
    this.conv2 = loadConv2d(ops, w, `${prefix}.conv2`, cout, cout, 3);
    this.shortcut = cin !== cout
      ? loadConv2d(ops, w, `${prefix}.nin_shortcut`, cout, cin, 1)
      : null;
  }

  forward(ops: Ops, x: Tensor): Tensor {
    const h = normConv(ops, x, this.norm1, true, this.conv1);
    const skip = this.shortcut ? ops.conv(x, this.shortcut) : x;
    const out = normConv(ops, h, this.norm2, true, this.conv2, { residual: skip });
    ops.release(h);
    if (skip !== x) ops.release(skip);
    return out;
  }
}

/** Single-head self-attention over all positions, with a residual connection. */
export class AttnBlock {
  norm: NormWeights;
  qkv: ConvWeights;
  proj: ConvWeights;

  constructor(ops: Uploader, w: WeightReader, prefix: string, channels: number) {
    const c = channels;
    this.norm = loadNorm(ops, w, `${prefix}.norm`, c);
    this.qkv = loadPackedQkv(ops, w, (q, part) => `${prefix}.${q}.${part}`, c, [1, 1]);
    this.proj = loadConv2d(ops, w, `${prefix}.proj_out`, c, c, 1);
  }

  forward(ops: Ops, x: Tensor): Tensor {
    const qkv = normConv(ops, x, this.norm, false, this.qkv);
    const attended = ops.attention(qkv);
    ops.release(qkv);
    const out = ops.conv(attended, this.proj, { residual: x });
    ops.release(attended);
    return out;
  }
}

/** Stride-2 3x3 conv after padding one zero row/column at the bottom/right. */
export class Downsample {
  conv: ConvWeights;
  constructor(ops: Uploader, w: WeightReader, prefix: string, channels: number) {
    this.conv = loadConv2d(ops, w, `${prefix}.conv`, channels, channels, 3);
  }
  forward(ops: Ops, x: Tensor): Tensor {
    return ops.conv(x, this.conv, { stride: [1, 2, 2], padLow: [0, 0], padHigh: [1, 1] });
  }
}

/** Nearest 2x upsample then a 3x3 conv, as one fused convolution. */
export class Upsample {
  conv: ConvWeights;
  constructor(ops: Uploader, w: WeightReader, prefix: string, channels: number) {
    this.conv = loadConv2d(ops, w, `${prefix}.conv`, channels, channels, 3);
  }
  forward(ops: Ops, x: Tensor): Tensor {
    return ops.conv(x, this.conv, { upsample: true });
  }
}
