/**
 * The Wan2.2 VAE's residual levels (github:Wan-Video/Wan2.2 wan/modules/vae2_2.py,
 * `Down_ResidualBlock` / `Up_ResidualBlock`) as Steps of the same streaming engine as Wan2.1's
 * blocks (./wan_blocks.ts): a level's residual blocks and resampler, plus a parameter-free
 * shortcut from the level's input, AvgDown3D (space-time folded into channels, groups
 * averaged: Ops.spaceToChannel) or DupUp3D (channels repeated and unfolded: channelToSpace).
 *
 * Time in the shortcuts follows the reference's chunks. AvgDown3D pairs frames within a chunk
 * after zero frames in front up to an even count: its first chunk (frame 0 alone, or 1 + 4k
 * frames) pairs frame 0 with a zero frame, every later chunk (an even count) pairs its own
 * frames; a step of the engine is such a chunk, so each step folds alone, and a later step of
 * an odd count is refused (it would pad mid-clip). DupUp3D on the first chunk drops the first
 * of the two frames each input frame becomes (the reference's `first_chunk`), as the
 * resampler's time conv passes frame 0 once: so the first step drops it, later ones keep all.
 * @module
 */

import type { ConvWeights, Ops, ShuffleOptions, Tensor, Uploader } from "../backends/ops.ts";
import type { WeightReader } from "../weights/checkpoint.ts";
import { convParams } from "./params.ts";
import { dropFrames, frameCount, type StepStream } from "./stream.ts";
import { type ResampleMode, type Step, wanResample, WanResidualBlock } from "./wan_blocks.ts";

/**
 * The identity as a 1x1 conv over `c` channels: the op interface has no addition, and the conv
 * op's residual adds exactly (x * 1 plus zeros is x), for a C x C product per value, a few
 * percent of a level's 3x3x3 convolutions.
 */
function identityConv(up: Uploader, c: number): ConvWeights {
  const eye = new Float32Array(c * c);
  for (let i = 0; i < c; i++) eye[i * c + i] = 1;
  return convParams(up, eye, [c, c, 1, 1, 1], new Float32Array(c));
}

/** A level's residual blocks `${prefix}.${j}` and its resampler after them, if any. */
function levelSteps(
  up: Uploader,
  w: WeightReader,
  prefix: string,
  cin: number,
  down: boolean,
): { steps: Step[]; width: number; space: number; time: number } {
  const steps: Step[] = [];
  let width = cin, j = 0;
  for (; w.has(`${prefix}.${j}.residual.0.gamma`); j++) {
    const cout = w.shape(`${prefix}.${j}.residual.2.weight`)[0];
    steps.push(new WanResidualBlock(up, w, `${prefix}.${j}`, width, cout));
    width = cout;
  }
  if (j === 0) throw new Error(`Cannot load ${w.half}: "${w.source}" has no block "${prefix}.0"`);
  if (!w.has(`${prefix}.${j}.resample.1.weight`)) return { steps, width, space: 1, time: 1 };
  const time = w.has(`${prefix}.${j}.time_conv.weight`);
  const mode: ResampleMode = `${down ? "down" : "up"}sample${time ? "3d" : "2d"}`;
  steps.push(wanResample(up, w, `${prefix}.${j}`, width, mode));
  if (!down) width = w.shape(`${prefix}.${j}.resample.1.weight`)[0];
  return { steps, width, space: 2, time: time ? 2 : 1 };
}

/** One Down_ResidualBlock or Up_ResidualBlock: its main steps plus its shortcut. */
export class Wan22Level implements Step {
  readonly steps: Step[];
  /** Output channels. */
  readonly width: number;
  /** Whether the level halves (down) or doubles (up) space; time too when `fold.time` is 2. */
  readonly resamples: boolean;
  readonly fold: ShuffleOptions;
  readonly #identity: ConvWeights;
  /** Up levels without a resampler have no shortcut (the reference's avg_shortcut None). */
  readonly #shortcut: boolean;

  constructor(
    up: Uploader,
    w: WeightReader,
    prefix: string,
    cin: number,
    readonly down: boolean,
  ) {
    const main = levelSteps(up, w, `${prefix}.${down ? "downsamples" : "upsamples"}`, cin, down);
    this.steps = main.steps;
    this.width = main.width;
    this.resamples = main.space === 2;
    const block = main.time * main.space * main.space;
    // AvgDown3D averages (cin x block) / cout unfolded channels; DupUp3D repeats each input
    // channel (cout x block) / cin times.
    const [num, den] = down ? [cin * block, this.width] : [this.width * block, cin];
    this.#shortcut = down || this.resamples;
    if (this.#shortcut && num % den) {
      throw new Error(
        `Cannot load ${w.half}: "${w.source}" has level "${prefix}" of ${cin} -> ${this.width} channels, which its ${main.time}x${main.space}x${main.space} shortcut cannot ${
          down ? "average" : "repeat"
        } evenly`,
      );
    }
    this.fold = { time: main.time, space: main.space, group: num / den };
    this.#identity = identityConv(up, this.width);
  }

  forward(ops: Ops, x: Tensor): Tensor {
    const s = this.stream();
    try {
      return s.step(ops, x);
    } finally {
      s.release(ops);
    }
  }

  stream(): StepStream {
    const streams = this.steps.map((s) => s.stream());
    let first = true;
    return {
      step: (ops, x) => {
        let h = x;
        for (const s of streams) {
          const y = s.step(ops, h);
          if (h !== x) ops.release(h);
          h = y;
        }
        if (!this.#shortcut) return h;
        const sc = this.#shortcutOf(ops, x, first);
        first = false;
        const out = ops.conv(h, this.#identity, { residual: sc });
        if (h !== x) ops.release(h);
        if (sc !== x) ops.release(sc);
        return out;
      },
      release: (ops) => {
        for (const s of streams) s.release(ops);
      },
    };
  }

  #shortcutOf(ops: Ops, x: Tensor, first: boolean): Tensor {
    const { time, space, group } = this.fold;
    if (this.down) {
      if (time === 2 && !first && frameCount(x) % 2) {
        throw new Error(
          `Cannot stream: a step after the first brought ${
            frameCount(x)
          } frames to a level that pairs frames; steps must end on latent frames`,
        );
      }
      return time === 1 && space === 1 && group === 1 ? x : ops.spaceToChannel(x, this.fold);
    }
    const y = ops.channelToSpace(x, this.fold);
    return first ? dropFrames(ops, y, time - 1) : y;
  }
}
