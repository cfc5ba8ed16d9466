/**
 * The blocks of the Wan VAE (github:Wan-Video/Wan2.1 wan/modules/vae.py) over the op interface,
 * each a Step of the streaming engine (../models/graph.ts): RMS norm, the residual block, the
 * single-head spatial attention and the four resamplers.
 *
 * Their causal convs (./wan_conv.ts) carry their last two input frames between steps, as the
 * reference's `feat_cache` does; the temporal resamplers treat a clip's first frame apart, as
 * the reference's first chunk does (it passes frame 0 through untouched), so a stream of any
 * chunking gives the frames of one whole-clip pass.
 * @module
 */

import type { ConvWeights, Ops, RmsNormWeights, Tensor, Uploader } from "../backends/ops.ts";
import type { WeightReader } from "../weights/checkpoint.ts";
import { convParams } from "./params.ts";
import { type ChannelOrder, WanCausalConv, type WanCausalConvStream } from "./wan_conv.ts";
import { allFrames, frameCount, localStream, sliceFrames, type StepStream } from "./stream.ts";

/**
 * A layer over a whole clip and as a stream: what the models' Step (../models/graph.ts) asks
 * of a video layer.
 */
export interface Step {
  forward(ops: Ops, x: Tensor): Tensor;
  stream(): StepStream;
}

/** An RMS_norm's gain `${prefix}.gamma`: [C, 1, 1, 1] in 3D blocks, [C, 1, 1] in attention. */
export function loadRmsNorm(
  up: Uploader,
  w: WeightReader,
  prefix: string,
  c: number,
  images = false,
): RmsNormWeights {
  const gamma = w.take(`${prefix}.gamma`, images ? [c, 1, 1] : [c, 1, 1, 1]);
  return { gamma: up.upload({ data: gamma, shape: [c] }), channels: c };
}

/** A 2D conv `${prefix}.weight` [Cout, Cin, k, k] and `.bias`, applied per frame. */
function loadConv2d(
  up: Uploader,
  w: WeightReader,
  prefix: string,
  cout: number,
  cin: number,
  k: number,
): ConvWeights {
  const shape = [cout, cin, k, k];
  return convParams(up, w.take(`${prefix}.weight`, shape), shape, w.take(`${prefix}.bias`, [cout]));
}

/** The step of a layer written once for a whole clip and a stream (`make` per run). */
function streamed(make: () => StepStream): Step {
  return {
    forward(ops, x) {
      const s = make();
      try {
        return s.step(ops, x);
      } finally {
        s.release(ops);
      }
    },
    stream: make,
  };
}

/** A conv step on the RMS-normalised, SiLU'd input: the blocks' `norm, SiLU, conv`. */
function normConv(
  ops: Ops,
  x: Tensor,
  norm: RmsNormWeights,
  conv: WanCausalConvStream,
  residual?: Tensor,
  carry = true,
): Tensor {
  const h = ops.rmsNorm(x, norm, true);
  const y = conv.step(ops, h, residual, carry);
  ops.release(h);
  return y;
}

/** The encoder's and decoder's first conv (`conv1`), 3x3x3. */
export function wanConvStep(conv: WanCausalConv): Step {
  return streamed(() => {
    const s = conv.stream();
    return { step: (ops, x) => s.step(ops, x), release: (ops) => s.release(ops) };
  });
}

/** The head: RMS norm, SiLU, 3x3x3 conv (`${prefix}.0`, `${prefix}.2`; `order` its outputs'). */
export function wanHead(
  up: Uploader,
  w: WeightReader,
  prefix: string,
  cin: number,
  cout: number,
  order?: ChannelOrder,
): Step {
  const norm = loadRmsNorm(up, w, `${prefix}.0`, cin);
  const conv = new WanCausalConv(
    up,
    w,
    `${prefix}.2`,
    cin,
    cout,
    [3, 3, 3],
    undefined,
    undefined,
    order,
  );
  return streamed(() => {
    const s = conv.stream();
    return { step: (ops, x) => normConv(ops, x, norm, s), release: (ops) => s.release(ops) };
  });
}

/** ResidualBlock: (norm, SiLU, conv) twice, plus the input (through a 1x1x1 conv if widened). */
export class WanResidualBlock implements Step {
  norm1: RmsNormWeights;
  conv1: WanCausalConv;
  norm2: RmsNormWeights;
  conv2: WanCausalConv;
  shortcut: WanCausalConv | null;

  constructor(up: Uploader, w: WeightReader, prefix: string, cin: number, cout: number) {
    this.norm1 = loadRmsNorm(up, w, `${prefix}.residual.0`, cin);
    this.conv1 = new WanCausalConv(up, w, `${prefix}.residual.2`, cin, cout, [3, 3, 3]);
    this.norm2 = loadRmsNorm(up, w, `${prefix}.residual.3`, cout);
    this.conv2 = new WanCausalConv(up, w, `${prefix}.residual.6`, cout, cout, [3, 3, 3]);
    this.shortcut = cin !== cout
      ? new WanCausalConv(up, w, `${prefix}.shortcut`, cin, cout, [1, 1, 1])
      : null;
  }

  forward(ops: Ops, x: Tensor): Tensor {
    return this.#apply(ops, x, this.conv1.stream(), this.conv2.stream(), false);
  }

  stream(): StepStream {
    const c1 = this.conv1.stream(), c2 = this.conv2.stream();
    return {
      step: (ops, x) => this.#apply(ops, x, c1, c2, true),
      release: (ops) => {
        c1.release(ops);
        c2.release(ops);
      },
    };
  }

  #apply(ops: Ops, x: Tensor, c1: WanCausalConvStream, c2: WanCausalConvStream, carry: boolean) {
    const skip = this.shortcut ? this.shortcut.forward(ops, x) : x;
    const h = normConv(ops, x, this.norm1, c1, undefined, carry);
    const out = normConv(ops, h, this.norm2, c2, skip, carry);
    ops.release(h);
    if (skip !== x) ops.release(skip);
    return out;
  }
}

/** AttentionBlock: per frame, RMS norm, 1x1 q/k/v, single-head attention over H x W, 1x1 proj. */
export function wanAttention(up: Uploader, w: WeightReader, prefix: string, c: number): Step {
  const norm = loadRmsNorm(up, w, `${prefix}.norm`, c, true);
  const qkv = loadConv2d(up, w, `${prefix}.to_qkv`, 3 * c, c, 1);
  const proj = loadConv2d(up, w, `${prefix}.proj`, c, c, 1);
  const forward = (ops: Ops, x: Tensor) => {
    const n = ops.rmsNorm(x, norm, false);
    const packed = ops.conv(n, qkv);
    ops.release(n);
    const a = ops.attention(packed, "spatial");
    ops.release(packed);
    const y = ops.conv(a, proj, { residual: x });
    ops.release(a);
    return y;
  };
  return { forward, stream: () => localStream(forward) };
}

/** The resampler modes of the reference's Resample. */
export type ResampleMode = "downsample2d" | "downsample3d" | "upsample2d" | "upsample3d";

/**
 * Resample. Down: zero pad right/bottom, 3x3 stride-2 conv (`resample.1`); in 3D then, past
 * frame 0 (which passes as it is), a stride-2 (3,1,1) conv (`time_conv`) over the frames from
 * the one before. Up: in 3D first, past frame 0, a zero-padded causal (3,1,1) conv to 2C
 * channels whose halves become two frames each; then nearest 2x and a 3x3 conv to C / 2
 * (Wan2.1) or C (Wan2.2): the width the checkpoint's conv has.
 */
export function wanResample(
  up: Uploader,
  w: WeightReader,
  prefix: string,
  c: number,
  mode: ResampleMode,
): Step {
  if (mode === "downsample2d" || mode === "downsample3d") {
    const space = loadConv2d(up, w, `${prefix}.resample.1`, c, c, 3);
    const down = (ops: Ops, x: Tensor) =>
      ops.conv(x, space, { stride: [1, 2, 2], padLow: [0, 0], padHigh: [1, 1] });
    if (mode === "downsample2d") return { forward: down, stream: () => localStream(down) };
    const shape = [c, c, 3, 1, 1];
    const time = convParams(
      up,
      w.take(`${prefix}.time_conv.weight`, shape),
      shape,
      w.take(`${prefix}.time_conv.bias`, [c]),
    );
    return streamed(() => downTimeStream(down, time));
  }
  const space = loadConv2d(
    up,
    w,
    `${prefix}.resample.1`,
    w.shape(`${prefix}.resample.1.weight`)[0],
    c,
    3,
  );
  const upSpace = (ops: Ops, x: Tensor) => ops.conv(x, space, { upsample: true });
  if (mode === "upsample2d") return { forward: upSpace, stream: () => localStream(upSpace) };
  // The time conv's outputs [0, C) are each frame's first copy, [C, 2C) its second.
  const first = new WanCausalConv(up, w, `${prefix}.time_conv`, c, 2 * c, [3, 1, 1], [0, c]);
  const second = new WanCausalConv(up, w, `${prefix}.time_conv`, c, 2 * c, [3, 1, 1], [c, 2 * c]);
  return streamed(() => upTimeStream(upSpace, first, second));
}

/** downsample3d's run: frame 0 passes; later frames pair up behind the frame before them. */
function downTimeStream(down: (ops: Ops, x: Tensor) => Tensor, time: ConvWeights): StepStream {
  let last: Tensor | null = null;
  return {
    step(ops, x) {
      const h = down(ops, x);
      const frames = frameCount(h);
      let out: Tensor;
      if (!last) {
        // The first step: frame 0 as it is, then outputs over frames (0, 1, 2), (2, 3, 4), ...
        if (frames === 1) out = h;
        else {
          const rest = ops.conv(h, time, { stride: [2, 1, 1], padTime: 0 });
          out = ops.joinFrames([{ tensor: h, from: 0, to: 1 }, allFrames(rest)]);
          ops.release(rest);
        }
      } else {
        const input = ops.joinFrames([allFrames(last), allFrames(h)]);
        out = ops.conv(input, time, { stride: [2, 1, 1], padTime: 0 });
        ops.release(input);
        ops.release(last);
      }
      last = ops.joinFrames([{ tensor: h, from: frames - 1, to: frames }], { park: true });
      if (out !== h) ops.release(h);
      return out;
    },
    release(ops) {
      if (last) ops.release(last);
      last = null;
    },
  };
}

/** upsample3d's run: frame 0 passes once; every later frame becomes two (time conv halves). */
function upTimeStream(
  upSpace: (ops: Ops, x: Tensor) => Tensor,
  first: WanCausalConv,
  second: WanCausalConv,
): StepStream {
  // One carried copy of the input serves both halves.
  const a = first.stream();
  let started = false;
  return {
    step(ops, x) {
      const frames = frameCount(x);
      const from = started ? 0 : 1;
      started = true;
      let doubled = x;
      if (frames > from) {
        const rest = from ? sliceFrames(ops, x, from, frames) : x;
        const yb = a.peer(ops, rest, second), ya = a.step(ops, rest);
        if (rest !== x) ops.release(rest);
        const parts = from ? [{ tensor: x, from: 0, to: 1 }] : [];
        for (let t = 0; t < frames - from; t++) {
          parts.push({ tensor: ya, from: t, to: t + 1 }, { tensor: yb, from: t, to: t + 1 });
        }
        doubled = ops.joinFrames(parts);
        ops.release(ya);
        ops.release(yb);
      }
      const y = upSpace(ops, doubled);
      if (doubled !== x) ops.release(doubled);
      return y;
    },
    release(ops) {
      a.release(ops);
    },
  };
}
