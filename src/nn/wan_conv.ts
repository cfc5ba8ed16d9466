/**
 * The Wan VAE's CausalConv3d: a full (kt, kh, kw) convolution, causal in time with kt - 1 zero
 * frames before the clip (not the Cosmos convs' repeated frame 0), spatially zero-padded to
 * keep the frame size.
 *
 * It runs as kt per-frame (1, kh, kw) convolutions, one per time tap, summed through the conv
 * op's residual: output frame t = sum over taps i of W_i * S[t + i] + bias, where S is the
 * input behind kt - 1 zero frames. Per-frame convs are what both backends do fastest (Winograd
 * for 3x3 on WebAssembly), and no zero frame is ever made: a tap whose frame would be padding
 * is left out of that output's sum. The same code runs the whole clip (one step) and a stream
 * (each step carrying the last kt - 1 input frames, parked), so the two agree exactly.
 * @module
 */

import type { ConvWeights, FrameRange, Ops, Tensor, Uploader } from "../backends/ops.ts";
import type { WeightReader } from "../weights/checkpoint.ts";
import { convParams } from "./params.ts";
import { frameCount } from "./stream.ts";

/** One time tap's per-frame conv, with and without the bias (only one tap of a sum adds it). */
interface Tap {
  withBias: ConvWeights;
  noBias: ConvWeights;
}

/**
 * Channel orders a conv's weights are loaded in, where this implementation lays channels out
 * otherwise than the checkpoint: layer channel i is checkpoint channel order[i].
 */
export interface ChannelOrder {
  input?: readonly number[];
  output?: readonly number[];
}

/**
 * Loads `${prefix}.weight` [Cout, Cin, kt, kh, kw] (or a 2D conv's [Cout, Cin, kh, kw]) and
 * `${prefix}.bias`, keeping output channels [rows[0], rows[1]) (default all), as one per-frame
 * conv per time tap. `adjust` may change a 1x1x1 conv's kept weights [Cout, Cin] and bias
 * before they upload (a folded affine map of its input or output); `order` permutes the
 * channels (Wan2.2's patchified ones: ../models/wan/patch.ts).
 */
export class WanCausalConv {
  readonly taps: Tap[];
  readonly cout: number;

  constructor(
    up: Uploader,
    w: WeightReader,
    readonly prefix: string,
    readonly cin: number,
    cout: number,
    readonly kernel: [number, number, number],
    rows: [number, number] = [0, cout],
    adjust?: (weight: Float32Array, bias: Float32Array) => void,
    order: ChannelOrder = {},
  ) {
    const [kt, kh, kw] = kernel;
    const weight = w.take(`${prefix}.weight`, [cout, cin, kt, kh, kw]);
    const bias = w.take(`${prefix}.bias`, [cout]);
    this.cout = rows[1] - rows[0];
    const plane = kh * kw;
    const row = (o: number) => order.output ? order.output[rows[0] + o] : rows[0] + o;
    const col = (i: number) => order.input ? order.input[i] : i;
    const kept = Float32Array.from({ length: this.cout }, (_, o) => bias[row(o)]);
    if (adjust && kt !== 1) throw new Error(`${prefix}: only a 1x1x1 conv's weights are adjusted`);
    const zero = new Float32Array(this.cout);
    this.taps = [];
    for (let tap = 0; tap < kt; tap++) {
      const wt = new Float32Array(this.cout * cin * plane);
      for (let o = 0; o < this.cout; o++) {
        for (let i = 0; i < cin; i++) {
          const from = ((row(o) * cin + col(i)) * kt + tap) * plane;
          wt.set(weight.subarray(from, from + plane), (o * cin + i) * plane);
        }
      }
      adjust?.(wt, kept);
      const shape = [this.cout, cin, 1, kh, kw];
      const withBias = convParams(up, wt, shape, kept);
      // The same weights, a zero bias: a backend keys its transformed weights by the tensor.
      const noBias = { ...withBias, bias: up.upload({ data: zero, shape: [this.cout] }) };
      this.taps.push({ withBias, noBias });
    }
  }

  /** The conv over a whole clip (plus `residual`, one frame per output frame). */
  forward(ops: Ops, x: Tensor, residual?: Tensor): Tensor {
    return new WanCausalConvStream(this).step(ops, x, residual, false);
  }

  /** A run over a clip arriving in steps. */
  stream(): WanCausalConvStream {
    return new WanCausalConvStream(this);
  }
}

/** A WanCausalConv step by step: it carries the last kt - 1 input frames (fewer at first). */
export class WanCausalConvStream {
  #history: Tensor | null = null;
  constructor(readonly conv: WanCausalConv) {}

  /**
   * This step's output frames (one per input frame), plus `residual` when given. With `carry`
   * (the default) the last input frames are kept for the next step.
   */
  step(ops: Ops, x: Tensor, residual?: Tensor, carry = true): Tensor {
    return this.#run(ops, x, this.conv.taps, residual, carry);
  }

  /**
   * The outputs of `other`, a conv of the same input (the same kernel and input channels), over
   * this step's frames and this stream's carried ones, carrying nothing: two convs of one input
   * share one carried copy of it. Call it before this stream's own `step` of the same frames.
   */
  peer(ops: Ops, x: Tensor, other: WanCausalConv): Tensor {
    if (other.taps.length !== this.conv.taps.length || other.cin !== this.conv.cin) {
      throw new Error(
        `${other.prefix}: a peer conv must have ${this.conv.prefix}'s kernel and input`,
      );
    }
    return this.#run(ops, x, other.taps, undefined, false);
  }

  #run(ops: Ops, x: Tensor, taps: readonly Tap[], residual: Tensor | undefined, carry: boolean) {
    const kt = taps.length;
    const history = this.#history;
    const held = history ? frameCount(history) : 0;
    // The virtual sequence S: `pad` zero frames, the carried frames, then x.
    const pad = kt - 1 - held, frames = frameCount(x);
    /** S[from, to) as joinFrames parts (never a padding frame: the callers see to that). */
    const parts = (from: number, to: number): FrameRange[] => {
      const out: FrameRange[] = [];
      const a = from - pad, b = to - pad;
      if (history && a < held) out.push({ tensor: history, from: a, to: Math.min(b, held) });
      if (b > held) out.push({ tensor: x, from: Math.max(a, held) - held, to: b - held });
      return out;
    };
    // Output t reads S[t + i] at tap i: every tap once t >= pad, taps i >= pad - t before.
    const pieces: Tensor[] = [];
    const ranges: [number, number][] = [];
    for (let t = 0; t < Math.min(pad, frames); t++) ranges.push([t, t + 1]);
    if (pad < frames) ranges.push([pad, frames]);
    for (const [a, b] of ranges) {
      let acc = residual
        ? (ranges.length === 1 ? residual : ops.joinFrames([{ tensor: residual, from: a, to: b }]))
        : undefined;
      const ownAcc = residual !== undefined && ranges.length > 1;
      let first = true, owned = ownAcc;
      for (let i = Math.max(0, pad - a); i < kt; i++) {
        const src = parts(a + i, b + i);
        const whole = src.length === 1 && src[0].tensor === x && src[0].from === 0 &&
          src[0].to === frames;
        const input = whole ? x : ops.joinFrames(src);
        const tap = first ? taps[i].withBias : taps[i].noBias;
        const y = ops.conv(input, tap, { residual: acc });
        if (input !== x) ops.release(input);
        if (acc && owned) ops.release(acc);
        acc = y, owned = true, first = false;
      }
      pieces.push(acc!);
    }
    if (carry && kt > 1) {
      const keep = Math.min(kt - 1, held + frames);
      const next = parts(kt - 1 + frames - keep, kt - 1 + frames);
      this.#history = ops.joinFrames(next, { park: true });
      if (history) ops.release(history);
    }
    if (pieces.length === 1) return pieces[0];
    const out = ops.joinFrames(pieces.map((p) => ({ tensor: p, from: 0, to: frameCount(p) })));
    for (const p of pieces) ops.release(p);
    return out;
  }

  /** Frees the carried frames. */
  release(ops: Ops): void {
    if (this.#history) ops.release(this.#history);
    this.#history = null;
  }
}
