/**
 * The factorized causal 3D blocks of the Cosmos video networks, over the op interface.
 *
 * Every 3x3x3 convolution of the reference is a (1,3,3) spatial conv followed by a (3,1,1)
 * temporal conv whose padding repeats the first frame; GroupNorm has one group and runs per
 * frame; attention is spatial (per frame) then causal temporal (per pixel). Fusions as in the
 * 2D blocks: norm + SiLU into the next conv's loads, residual adds into conv epilogues.
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
import { NORM_EPS } from "./blocks.ts";
import { chain } from "./chain.ts";

/** Loads a CausalConv3d (`${prefix}.conv3d.weight` / `.bias`). */
export function loadConv3d(
  up: Uploader,
  w: WeightReader,
  prefix: string,
  cout: number,
  cin: number,
  k: [number, number, number],
): ConvWeights {
  const shape = [cout, cin, ...k];
  const weight = w.take(`${prefix}.conv3d.weight`, shape);
  const bias = w.take(`${prefix}.conv3d.bias`, [cout]);
  return convParams(up, weight, shape, bias);
}

/** CausalNormalize with one group: statistics per frame. */
export function loadCausalNorm(
  up: Uploader,
  w: WeightReader,
  prefix: string,
  c: number,
): NormWeights {
  return normParams(
    up,
    w.take(`${prefix}.norm.weight`, [c]),
    w.take(`${prefix}.norm.bias`, [c]),
    1,
    NORM_EPS,
  );
}

function causalNormConv(
  ops: Ops,
  x: Tensor,
  norm: NormWeights,
  silu: boolean,
  conv: ConvWeights,
  opts: ConvOptions = {},
): Tensor {
  const stats = ops.groupNormStats(x, { groups: norm.groups, eps: norm.eps, perFrame: true });
  const y = ops.conv(x, conv, { ...opts, norm: { stats, weights: norm, silu } });
  ops.release(stats);
  return y;
}

/** (1,3,3) spatial conv then (3,1,1) causal temporal conv: `${prefix}.0`, `${prefix}.1`. */
export class FactorizedConv {
  spatial: ConvWeights;
  temporal: ConvWeights;
  constructor(up: Uploader, w: WeightReader, prefix: string, cin: number, cout: number) {
    this.spatial = loadConv3d(up, w, `${prefix}.0`, cout, cin, [1, 3, 3]);
    this.temporal = loadConv3d(up, w, `${prefix}.1`, cout, cout, [3, 1, 1]);
  }

  /** With the input optionally normalised on load and a residual added at the end. */
  forward(ops: Ops, x: Tensor, norm?: { weights: NormWeights; silu: boolean }, residual?: Tensor) {
    const h = norm
      ? causalNormConv(ops, x, norm.weights, norm.silu, this.spatial)
      : ops.conv(x, this.spatial);
    const y = ops.conv(h, this.temporal, { residual });
    ops.release(h);
    return y;
  }
}

/** CausalResnetBlockFactorized3d. */
export class ResnetBlock3d {
  norm1: NormWeights;
  conv1: FactorizedConv;
  norm2: NormWeights;
  conv2: FactorizedConv;
  shortcut: ConvWeights | null;

  constructor(up: Uploader, w: WeightReader, prefix: string, cin: number, cout: number) {
    this.norm1 = loadCausalNorm(up, w, `${prefix}.norm1`, cin);
    this.conv1 = new FactorizedConv(up, w, `${prefix}.conv1`, cin, cout);
    this.norm2 = loadCausalNorm(up, w, `${prefix}.norm2`, cout);
    this.conv2 = new FactorizedConv(up, w, `${prefix}.conv2`, cout, cout);
    this.shortcut = cin !== cout
      ? loadConv3d(up, w, `${prefix}.nin_shortcut`, cout, cin, [1, 1, 1])
      : null;
  }

  forward(ops: Ops, x: Tensor): Tensor {
    const h = this.conv1.forward(ops, x, { weights: this.norm1, silu: true });
    const skip = this.shortcut ? ops.conv(x, this.shortcut) : x;
    const out = this.conv2.forward(ops, h, { weights: this.norm2, silu: true }, skip);
    ops.release(h);
    if (skip !== x) ops.release(skip);
    return out;
  }
}

/** CausalAttnBlock ("spatial") or CausalTemporalAttnBlock ("temporal"). */
export class AttnBlock3d {
  norm: NormWeights;
  qkv: ConvWeights;
  proj: ConvWeights;

  constructor(
    up: Uploader,
    w: WeightReader,
    prefix: string,
    c: number,
    readonly kind: "spatial" | "temporal",
  ) {
    this.norm = loadCausalNorm(up, w, `${prefix}.norm`, c);
    this.qkv = loadPackedQkv(up, w, (q, part) => `${prefix}.${q}.conv3d.${part}`, c, [1, 1, 1]);
    this.proj = loadConv3d(up, w, `${prefix}.proj_out`, c, c, [1, 1, 1]);
  }

  forward(ops: Ops, x: Tensor): Tensor {
    const qkv = causalNormConv(ops, x, this.norm, false, this.qkv);
    const attended = ops.attention(qkv, this.kind);
    ops.release(qkv);
    const out = ops.conv(attended, this.proj, { residual: x });
    ops.release(attended);
    return out;
  }
}

/** A spatial attention block followed by a causal temporal one (`${prefix}.0`, `.1`). */
export class SpaceTimeAttn {
  spatial: AttnBlock3d;
  temporal: AttnBlock3d;
  constructor(up: Uploader, w: WeightReader, prefix: string, c: number) {
    this.spatial = new AttnBlock3d(up, w, `${prefix}.0`, c, "spatial");
    this.temporal = new AttnBlock3d(up, w, `${prefix}.1`, c, "temporal");
  }
  forward(ops: Ops, x: Tensor): Tensor {
    const h = this.spatial.forward(ops, x);
    const y = this.temporal.forward(ops, h);
    ops.release(h);
    return y;
  }
}

/**
 * A resampler's conv, loaded only when its path runs. The official checkpoints hold all three
 * convs of every hybrid resampler whatever is switched on (diffusers' do not); the unused ones
 * are accounted for but never uploaded.
 */
function optionalConv3d(
  up: Uploader,
  w: WeightReader,
  used: boolean,
  prefix: string,
  c: number,
  k: [number, number, number],
): ConvWeights | null {
  if (used) return loadConv3d(up, w, prefix, c, c, k);
  w.skip(`${prefix}.conv3d.weight`, `${prefix}.conv3d.bias`);
  return null;
}

/**
 * CausalHybridDownsample3d: in space, a stride-2 (1,3,3) conv of the bottom/right zero-padded
 * input plus its 2x2 average; in time, a stride-2 causal (3,1,1) conv plus the average of frame
 * pairs; then a 1x1x1 conv. With neither path enabled it is the identity.
 */
export class HybridDownsample {
  conv1: ConvWeights | null;
  conv2: ConvWeights | null;
  conv3: ConvWeights | null;
  constructor(
    up: Uploader,
    w: WeightReader,
    prefix: string,
    c: number,
    readonly spatial: boolean,
    readonly temporal: boolean,
  ) {
    this.conv1 = optionalConv3d(up, w, spatial, `${prefix}.conv1`, c, [1, 3, 3]);
    this.conv2 = optionalConv3d(up, w, temporal, `${prefix}.conv2`, c, [3, 1, 1]);
    this.conv3 = optionalConv3d(up, w, spatial || temporal, `${prefix}.conv3`, c, [1, 1, 1]);
  }

  forward(ops: Ops, x: Tensor): Tensor {
    if (!this.spatial && !this.temporal) return x;
    let h = x;
    if (this.spatial) h = chain(ops, h, x, (t) => this.#space(ops, t));
    if (this.temporal) h = chain(ops, h, x, (t) => this.#time(ops, t));
    return chain(ops, h, x, (t) => ops.conv(t, this.conv3!));
  }

  /** Stride-2 conv of the bottom/right zero-padded input, plus its 2x2 average. */
  #space(ops: Ops, x: Tensor): Tensor {
    const pooled = ops.avgPool(x, "space");
    const y = ops.conv(x, this.conv1!, {
      stride: [1, 2, 2],
      padLow: [0, 0],
      padHigh: [1, 1],
      residual: pooled,
    });
    ops.release(pooled);
    return y;
  }

  /** Stride-2 causal temporal conv, plus the average of frame pairs. */
  #time(ops: Ops, x: Tensor): Tensor {
    const pooled = ops.avgPool(x, "time");
    // The reference prepends frame 0 once, then CausalConv3d prepends it once more.
    const y = ops.conv(x, this.conv2!, { stride: [2, 1, 1], padTime: 2, residual: pooled });
    ops.release(pooled);
    return y;
  }
}

/**
 * CausalHybridUpsample3d: in time, frames repeated (T -> 2T - 1) plus a causal (3,1,1) conv of
 * them; in space, nearest 2x plus a (1,3,3) conv of it; then a 1x1x1 conv. With neither path
 * enabled it is the identity.
 */
export class HybridUpsample {
  conv1: ConvWeights | null;
  conv2: ConvWeights | null;
  conv3: ConvWeights | null;
  constructor(
    up: Uploader,
    w: WeightReader,
    prefix: string,
    c: number,
    readonly spatial: boolean,
    readonly temporal: boolean,
  ) {
    this.conv1 = optionalConv3d(up, w, temporal, `${prefix}.conv1`, c, [3, 1, 1]);
    this.conv2 = optionalConv3d(up, w, spatial, `${prefix}.conv2`, c, [1, 3, 3]);
    this.conv3 = optionalConv3d(up, w, spatial || temporal, `${prefix}.conv3`, c, [1, 1, 1]);
  }

  forward(ops: Ops, x: Tensor): Tensor {
    if (!this.spatial && !this.temporal) return x;
    let h = x;
    if (this.temporal) h = chain(ops, h, x, (t) => this.#time(ops, t));
    if (this.spatial) h = chain(ops, h, x, (t) => this.#space(ops, t));
    return chain(ops, h, x, (t) => ops.conv(t, this.conv3!));
  }

  /** Frames repeated (T -> 2T - 1), plus a causal temporal conv of them. */
  #time(ops: Ops, x: Tensor): Tensor {
    // A single frame is not repeated (the reference's time_factor is 1 then).
    const repeated = x.shape[2] > 1 ? ops.upsample(x, "time") : x;
    const y = ops.conv(repeated, this.conv1!, { residual: repeated });
    if (repeated !== x) ops.release(repeated);
    return y;
  }

  /** Nearest 2x in space, plus a spatial conv of it. */
  #space(ops: Ops, x: Tensor): Tensor {
    const repeated = ops.upsample(x, "space");
    const y = ops.conv(repeated, this.conv2!, { residual: repeated });
    ops.release(repeated);
    return y;
  }
}
