/**
 * Running the causal video layers one temporal step at a time, exactly as over the whole clip.
 *
 * The video networks are causal: output frame t depends on input frames <= t only. A layer with
 * temporal reach (a causal temporal conv, temporal pooling, causal temporal attention, the
 * temporal upsampler, the 3D Haar patcher) can therefore run on a clip piece by piece if it
 * carries, from one step to the next, the frames of its input that later outputs still read.
 * Each such layer's `stream()` returns a `StepStream` holding exactly that state, so state that
 * belongs to a layer lives with the layer, and one stream object exists per run (several runs
 * of one tokenizer never share state). Per-frame layers (spatial convs, per-frame GroupNorm,
 * spatial attention, 1x1x1 convs) need none: their stream is the layer itself.
 *
 * The engine above (src/models/video.ts) steps the encoder on frame 0, then on tc frames per
 * latent frame, and the decoder on one latent frame at a time; each layer's steps are then
 * aligned (a stride-2 layer always sees its frames in whole pairs).
 *
 * Carried state is parked between steps (`joinFrames` with `park`): idle until the layer's
 * next step, it may live outside the backend's working memory (on WebAssembly, out of the
 * 4 GiB heap, which then holds the weights and one step's tensors only).
 * @module
 */

import type { ConvWeights, FrameRange, Ops, Tensor } from "../backends/ops.ts";

/** One run of a layer over a video that arrives in temporal steps. */
export interface StepStream {
  /** The layer's output frames for this step's input frames. Does not release `x`. */
  step(ops: Ops, x: Tensor): Tensor;
  /** `step` of an `x` it releases as soon as nothing more reads it (see Step.forwardOwning). */
  stepOwning?(ops: Ops, x: Tensor): Tensor;
  /** Frees what the stream carries; it cannot step afterwards. */
  release(ops: Ops): void;
}

/** Frames along time of a video tensor [B, C, T, H, W]. */
export function frameCount(x: Tensor): number {
  return x.shape[2];
}

/** Every frame of `x`, as a part of `joinFrames`. */
export function allFrames(x: Tensor): FrameRange {
  return { tensor: x, from: 0, to: frameCount(x) };
}

/** Frames [from, to) of `x` as a new tensor. */
export function sliceFrames(ops: Ops, x: Tensor, from: number, to: number): Tensor {
  return ops.joinFrames([{ tensor: x, from, to }]);
}

/**
 * `run` over `x` with a copy of its first frame in front, less the copy's output frame: how a
 * later step of a layer that treats a clip's first frame specially (the Haar patcher's
 * repeated frame 0, the temporal upsampler's single frame 0) runs its frames like any others.
 */
export function behindLeadingCopy(ops: Ops, x: Tensor, run: (x: Tensor) => Tensor): Tensor {
  const padded = ops.joinFrames([{ tensor: x, from: 0, to: 1 }, allFrames(x)]);
  const y = run(padded);
  ops.release(padded);
  return dropFrames(ops, y, 1);
}

/** The stream of a layer with no temporal reach: every step is the layer applied to the step. */
export function localStream(forward: (ops: Ops, x: Tensor) => Tensor): StepStream {
  return { step: forward, release() {} };
}

/** The frames of `x` after the first `drop`, releasing `x` (which the caller made). */
export function dropFrames(ops: Ops, x: Tensor, drop: number): Tensor {
  if (drop === 0) return x;
  const rest = sliceFrames(ops, x, drop, frameCount(x));
  ops.release(x);
  return rest;
}

/**
 * The padded input of a causal temporal window (kt taps, stride st, `padTime` copies of frame 0
 * before the clip), step by step. It carries the padded input's frames from the first tap of
 * the next output on: kt - 1 frames for a stride-1 conv, one for a stride-2 one on aligned
 * steps.
 */
export class CausalWindow {
  #carried: Tensor | null = null;
  #started = false;

  constructor(readonly taps: number, readonly stride: number, readonly padTime: number) {}

  /**
   * The frames the outputs of this step read (carried frames, then `x`; the caller releases
   * it) and how many outputs they make.
   */
  next(ops: Ops, x: Tensor): { input: Tensor; outputs: number } {
    const parts: FrameRange[] = [];
    if (this.#started) {
      if (this.#carried) parts.push(allFrames(this.#carried));
    } else {
      for (let i = 0; i < this.padTime; i++) parts.push({ tensor: x, from: 0, to: 1 });
      this.#started = true;
    }
    parts.push(allFrames(x));
    const input = ops.joinFrames(parts);
    const length = frameCount(input);
    const outputs = length >= this.taps ? Math.floor((length - this.taps) / this.stride) + 1 : 0;
    if (outputs === 0) {
      ops.release(input);
      throw new Error(
        `Cannot stream: a causal temporal window of ${this.taps} taps got ${length} frames`,
      );
    }
    // The old frames are in `input` now: freed first, so the new ones can take their storage.
    if (this.#carried) ops.release(this.#carried);
    const keepFrom = outputs * this.stride;
    this.#carried = keepFrom < length
      ? ops.joinFrames([{ tensor: input, from: keepFrom, to: length }], { park: true })
      : null;
    return { input, outputs };
  }

  /** Frees the carried frames. */
  release(ops: Ops): void {
    if (this.#carried) ops.release(this.#carried);
    this.#carried = null;
  }
}

/**
 * A causal temporal convolution (kt, 1, 1) of stride 1, step by step: the same outputs as
 * `ops.conv` over the whole clip. The first step pads as the whole clip does (frame 0
 * repeated); later steps read the kt - 1 frames carried from the step before as the conv's
 * `context`, so the carried frames are never joined to the step's (on WebAssembly they stay
 * parked, read a frame at a time).
 */
export class CausalConvStream {
  #carried: Tensor | null = null;

  constructor(readonly weights: ConvWeights) {}

  /** This step's outputs, plus `residual` (one frame per output) when given. */
  step(ops: Ops, x: Tensor, residual?: Tensor): Tensor {
    const kt = this.weights.kernel[0], frames = frameCount(x);
    const carried = this.#carried;
    const y = ops.conv(x, this.weights, carried ? { context: carried, residual } : { residual });
    // The last kt - 1 frames of (carried or frame 0 repeated, then x) carry to the next step.
    const parts: FrameRange[] = [];
    const before = kt - 1 - Math.min(frames, kt - 1);
    if (before > 0) {
      if (carried) parts.push({ tensor: carried, from: kt - 1 - before, to: kt - 1 });
      else for (let i = 0; i < before; i++) parts.push({ tensor: x, from: 0, to: 1 });
    }
    parts.push({ tensor: x, from: frames - (kt - 1 - before), to: frames });
    this.#carried = ops.joinFrames(parts, { park: true });
    if (carried) ops.release(carried);
    return y;
  }

  /** Frees the carried frames. */
  release(ops: Ops): void {
    if (this.#carried) ops.release(this.#carried);
    this.#carried = null;
  }
}
