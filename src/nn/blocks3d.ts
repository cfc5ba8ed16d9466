/**
 * The factorized causal 3D blocks of the Cosmos video networks, over the op interface (their
 * attention blocks are in ./attention3d.ts).
 *
 * Every 3x3x3 convolution of the reference is a (1,3,3) spatial conv followed by a (3,1,1)
 * temporal conv whose padding repeats the first frame; GroupNorm has one group and runs per
 * frame; attention is spatial (per frame) then causal temporal (per pixel). Fusions as in the
 * 2D blocks: norm + SiLU into the next conv's loads, residual adds into conv epilogues.
 *
 * Each block also runs step by step over a video arriving in pieces (`stream()`, see
 * ./stream.ts), with the same results as over the whole clip: the order of its ops is written
 * once, and only the temporal ones (causal convs, temporal pooling and upsampling, temporal
 * attention) carry frames between steps.
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
import { convParams, normParams } from "./params.ts";
import { NORM_EPS } from "./blocks.ts";
import { chain } from "./chain.ts";
import {
  behindLeadingCopy,
  CausalConvStream,
  CausalWindow,
  frameCount,
  sliceFrames,
  type StepStream,
} from "./stream.ts";

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

/** `conv` of `x` normalised per frame (and SiLU'd) as it loads. */
export function causalNormConv(
  ops: Ops,
  x: Tensor,
  norm: NormWeights,
  silu: boolean,
  conv: ConvWeights,
  opts: ConvOptions = {},
): Tensor {
  return causalNormConvs(ops, x, norm, silu, [conv], opts)[0];
}

/** Several convs of the same normalised input, its statistics computed once. */
export function causalNormConvs(
  ops: Ops,
  x: Tensor,
  norm: NormWeights,
  silu: boolean,
  convs: readonly ConvWeights[],
  opts: ConvOptions = {},
): Tensor[] {
  const stats = ops.groupNormStats(x, { groups: norm.groups, eps: norm.eps, perFrame: true });
  const ys = convs.map((conv) =>
    ops.conv(x, conv, { ...opts, norm: { stats, weights: norm, silu } })
  );
  ops.release(stats);
  return ys;
}

/** A norm (and SiLU) applied to a conv's input as it loads. */
export interface InputNorm {
  weights: NormWeights;
  silu: boolean;
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
  forward(ops: Ops, x: Tensor, norm?: InputNorm, residual?: Tensor): Tensor {
    const h = this.spatialPart(ops, x, norm);
    const y = ops.conv(h, this.temporal, { residual });
    ops.release(h);
    return y;
  }

  /** The per-frame half: the spatial conv of the (normalised) input. */
  spatialPart(ops: Ops, x: Tensor, norm?: InputNorm): Tensor {
    return norm
      ? causalNormConv(ops, x, norm.weights, norm.silu, this.spatial)
      : ops.conv(x, this.spatial);
  }

  /** A run over a stream: `forward` step by step, the temporal conv carrying its context. */
  stream(): FactorizedConvStream {
    return new FactorizedConvStream(this);
  }
}

/** A FactorizedConv over a video arriving in steps (see FactorizedConv.stream). */
export class FactorizedConvStream {
  readonly #conv: FactorizedConv;
  readonly #time: CausalConvStream;
  constructor(conv: FactorizedConv) {
    this.#conv = conv;
    this.#time = new CausalConvStream(conv.temporal);
  }

  /** This step's frames of FactorizedConv.forward. */
  forward(ops: Ops, x: Tensor, norm?: InputNorm, residual?: Tensor): Tensor {
    const h = this.#conv.spatialPart(ops, x, norm);
    const y = this.#time.step(ops, h, residual);
    ops.release(h);
    return y;
  }

  /** Frees the carried frames. */
  release(ops: Ops): void {
    this.#time.release(ops);
  }
}

/** What ResnetBlock3d needs of its convs: FactorizedConv, or its stream. */
type FactorizedForward = Pick<FactorizedConv, "forward">;

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
    return this.#apply(ops, x, this.conv1, this.conv2, false);
  }

  /** `forward`, releasing `x` once its shortcut is made (see Step.forwardOwning). */
  forwardOwning(ops: Ops, x: Tensor): Tensor {
    return this.#apply(ops, x, this.conv1, this.conv2, true);
  }

  /** The block step by step: its two factorized convs carry their temporal context. */
  stream(): StepStream {
    const c1 = this.conv1.stream(), c2 = this.conv2.stream();
    return {
      step: (ops, x) => this.#apply(ops, x, c1, c2, false),
      stepOwning: (ops, x) => this.#apply(ops, x, c1, c2, true),
      release: (ops) => {
        c1.release(ops);
        c2.release(ops);
      },
    };
  }

  /** With `owned`, `x` is released as soon as nothing more reads it. */
  #apply(
    ops: Ops,
    x: Tensor,
    conv1: FactorizedForward,
    conv2: FactorizedForward,
    owned: boolean,
  ): Tensor {
    const h = conv1.forward(ops, x, { weights: this.norm1, silu: true });
    const skip = this.shortcut ? ops.conv(x, this.shortcut) : x;
    // A block that widens or narrows reads its input for the shortcut last: with the input
    // gone, conv2 runs beside h and the shortcut only (at a decoder's first full-resolution
    // block, a 512-channel input twice the size of either).
    if (owned && skip !== x) ops.release(x);
    const out = conv2.forward(ops, h, { weights: this.norm2, silu: true }, skip);
    ops.release(h);
    if (skip !== x) ops.release(skip);
    else if (owned) ops.release(x);
    return out;
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
    return this.#apply(ops, x, (t) => this.#time(ops, t));
  }

  /**
   * The downsampler step by step: the temporal path carries the padded frames its stride-2
   * window still reads (one frame, on the engine's aligned steps of 1 then 2 frames).
   */
  stream(): StepStream {
    const window = new CausalWindow(3, 2, 2);
    return {
      step: (ops, x) => this.#apply(ops, x, (t) => this.#timeStep(ops, t, window)),
      release: (ops) => window.release(ops),
    };
  }

  #apply(ops: Ops, x: Tensor, time: (x: Tensor) => Tensor): Tensor {
    if (!this.spatial && !this.temporal) return x;
    let h = x;
    if (this.spatial) h = chain(ops, h, x, (t) => this.#space(ops, t));
    if (this.temporal) h = chain(ops, h, x, time);
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

  /**
   * One step of #time. Output j of the strided conv reads window frames 2j..2j+2, and its pair
   * average is that of frames 2j+1 and 2j+2: pooling the window gives it at index j + 1.
   */
  #timeStep(ops: Ops, x: Tensor, window: CausalWindow): Tensor {
    const { input, outputs } = window.next(ops, x);
    const pooledAll = ops.avgPool(input, "time");
    const pooled = sliceFrames(ops, pooledAll, 1, 1 + outputs);
    ops.release(pooledAll);
    const y = ops.conv(input, this.conv2!, { stride: [2, 1, 1], padTime: 0, residual: pooled });
    ops.release(pooled);
    ops.release(input);
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
    return this.#apply(ops, x, (t) => this.#time(ops, t), false);
  }

  /** `forward`, releasing `x` as soon as it is read (see Step.forwardOwning). */
  forwardOwning(ops: Ops, x: Tensor): Tensor {
    return this.#apply(ops, x, (t) => this.#time(ops, t), true);
  }

  /**
   * The upsampler step by step: the first step's frames are repeated as a whole clip's are
   * (frame 0 once, the others twice), every later frame twice; the temporal conv carries its
   * context.
   */
  stream(): StepStream {
    const conv = this.temporal ? new CausalConvStream(this.conv1!) : null;
    let started = false;
    const time = (ops: Ops, t: Tensor) => {
      const repeated = started ? this.#repeatEvery(ops, t) : this.#repeatClip(ops, t);
      started = true;
      const y = conv!.step(ops, repeated, repeated);
      if (repeated !== t) ops.release(repeated);
      return y;
    };
    return {
      step: (ops, x) => this.#apply(ops, x, (t) => time(ops, t), false),
      stepOwning: (ops, x) => this.#apply(ops, x, (t) => time(ops, t), true),
      release: (ops) => conv?.release(ops),
    };
  }

  /** With `owned`, `x` is released as soon as it is read. */
  #apply(ops: Ops, x: Tensor, time: (x: Tensor) => Tensor, owned: boolean): Tensor {
    if (!this.spatial && !this.temporal) return x;
    // `h` is ours to release unless it is the caller's `x`.
    let h = x, ours = owned;
    if (this.temporal) {
      const t = time(h);
      if (ours) ops.release(h);
      h = t, ours = true;
    }
    if (this.spatial) {
      h = this.#space(ops, h, ours);
      ours = true;
    }
    const y = ops.conv(h, this.conv3!);
    if (ours) ops.release(h);
    return y;
  }

  /** Frames repeated (T -> 2T - 1), plus a causal temporal conv of them. */
  #time(ops: Ops, x: Tensor): Tensor {
    const repeated = this.#repeatClip(ops, x);
    const y = ops.conv(repeated, this.conv1!, { residual: repeated });
    if (repeated !== x) ops.release(repeated);
    return y;
  }

  /** A clip's frames repeated: T -> 2T - 1; a single frame is not repeated (time_factor 1). */
  #repeatClip(ops: Ops, x: Tensor): Tensor {
    return frameCount(x) > 1 ? ops.upsample(x, "time") : x;
  }

  /** Every frame twice: the clip repeated behind a copy of its first frame, the copy dropped. */
  #repeatEvery(ops: Ops, x: Tensor): Tensor {
    return behindLeadingCopy(ops, x, (t) => ops.upsample(t, "time"));
  }

  /** Nearest 2x in space, plus a spatial conv of it; with `owned`, `x` released once read. */
  #space(ops: Ops, x: Tensor, owned: boolean): Tensor {
    const repeated = ops.upsample(x, "space");
    if (owned) ops.release(x);
    const y = ops.conv(repeated, this.conv2!, { residual: repeated });
    ops.release(repeated);
    return y;
  }
}
