/**
 * The Wan2.1 video VAE's encoder and decoder (github:Wan-Video/Wan2.1 wan/modules/vae.py,
 * `WanVAE_`), built from a state_dict's names as the reference holds them
 * (`encoder.downsamples.3.residual.2.weight`, `conv1.weight`, ...).
 *
 * Encoder: conv1 (3x3x3) -> `downsamples` (residual blocks, resamplers: 2D, or 3D halving time
 * past frame 0) -> middle (block, attention, block) -> head (norm, SiLU, conv to 2 x z) -> the
 * top-level 1x1x1 `conv1`, of which only the mean's z channels are computed: the latent is the
 * mean (what the diffusion models take; WanVAE.encode returns it). Decoder: top-level `conv2`
 * (1x1x1) -> conv1 -> middle -> `upsamples` -> head (to RGB), not clamped.
 *
 * The layer list, widths and compressions are read from the names and shapes, so a checkpoint
 * of any base width or depth (Wan2.1's is 96, [1, 2, 4, 4]) builds; every tensor's shape is
 * checked as it loads. Both networks run whole or as a stream through the engine's StreamRun
 * (../graph.ts): the encoder on frame 0 then 4 frames per latent frame, the decoder on one
 * latent frame at a time, as the reference's own loop does; the frames equal a whole pass.
 * @module
 */

import type { Ops, Tensor, Uploader } from "../../backends/ops.ts";
import type { WeightReader } from "../../weights/checkpoint.ts";
import { type RunStep, runWhole, type Step, StreamRun } from "../graph.ts";
import type { NetworkStream } from "../video.ts";
import { WanCausalConv } from "../../nn/wan_conv.ts";
import {
  type ResampleMode,
  wanAttention,
  wanConvStep,
  wanHead,
  wanResample,
  WanResidualBlock,
} from "../../nn/wan_blocks.ts";
import { allFrames, sliceFrames } from "../../nn/stream.ts";
import type { LatentStats, WanConfig } from "./latent.ts";
import { decoderStart, encoderEnd } from "./ends.ts";

export type { WanConfig } from "./latent.ts";

/** What a network's layer list says about its shape. */
export interface WanShape {
  /** Latent channels (z_dim: 16 in Wan2.1). */
  latentChannels: number;
  /** Pixels per latent pixel along each side (8 in Wan2.1). */
  spatialCompression: number;
  /** Frames per latent frame after the first (4 in Wan2.1). */
  temporalCompression: number;
}

/**
 * What a version's constructor gives WanNetwork: its steps in order and the shape they make
 * (the config is built from it once, for every version).
 */
export interface WanLayout extends WanShape {
  half: "encoder" | "decoder";
  steps: Step[];
  /** The steps that change time; the ones before the first and after the last run frame-wise. */
  timeSteps: Iterable<Step>;
  /** The encoder's first conv's width, the decoder's last. */
  baseWidth: number;
}

/** The layers of `${prefix}.${k}` for k = 0, 1, ... while the checkpoint has them. */
function sequence(
  up: Uploader,
  w: WeightReader,
  prefix: string,
  down: boolean,
): { steps: Step[]; width: number; resamples: number; temporal: number; timeSteps: Step[] } {
  const steps: Step[] = [], timeSteps: Step[] = [];
  let width = 0, resamples = 0, temporal = 0;
  for (let k = 0;; k++) {
    const at = `${prefix}.${k}`;
    if (w.has(`${at}.residual.0.gamma`)) {
      const cin = w.shape(`${at}.residual.0.gamma`)[0];
      const cout = w.shape(`${at}.residual.2.weight`)[0];
      if (width && cin !== width) {
        throw new Error(
          `Cannot load ${w.half}: "${w.source}" has block "${at}" of ${cin} input channels after a layer of ${width}`,
        );
      }
      steps.push(new WanResidualBlock(up, w, at, cin, cout));
      width = cout;
    } else if (w.has(`${at}.to_qkv.weight`)) {
      steps.push(wanAttention(up, w, at, width));
    } else if (w.has(`${at}.resample.1.weight`)) {
      const time = w.has(`${at}.time_conv.weight`);
      const mode: ResampleMode = `${down ? "down" : "up"}sample${time ? "3d" : "2d"}`;
      steps.push(wanResample(up, w, at, width, mode));
      resamples++;
      if (time) temporal++, timeSteps.push(steps[steps.length - 1]);
      if (!down) width = w.shape(`${at}.resample.1.weight`)[0];
    } else if (k === 0) {
      throw new Error(`Cannot load ${w.half}: "${w.source}" has no layer "${at}"`);
    } else break;
  }
  return { steps, width, resamples, temporal, timeSteps };
}

/** Runs `steps` in order; every intermediate is released, `x` is the caller's. */
function runSteps(run: RunStep, steps: readonly Step[], x: Tensor): Tensor {
  let h = x;
  for (const step of steps) h = run(step, h, h !== x);
  return h;
}

/**
 * `steps` over `x` `per` frames at a time, the outputs joined: the same frames, since every
 * step here is causal per frame and its stream carries what later frames read (`run` is a
 * stream's: this is the engine's StreamRun fed smaller pieces, with no state of its own). `x`
 * is the caller's.
 */
function runFrameWise(
  ops: Ops,
  run: RunStep,
  steps: readonly Step[],
  x: Tensor,
  per: number,
): Tensor {
  const t = x.shape[2];
  if (t <= per || !steps.length) return runSteps(run, steps, x);
  const parts: Tensor[] = [];
  for (let f = 0; f < t; f += per) {
    const sub = sliceFrames(ops, x, f, Math.min(t, f + per));
    parts.push(runSteps(run, steps, sub));
    ops.release(sub);
  }
  const out = ops.joinFrames(parts.map(allFrames));
  for (const p of parts) ops.release(p);
  return out;
}

/**
 * A network as a list of steps, run through the streaming engine whole or step by step. The
 * steps before the first that changes time and after the last (the full-resolution ends of
 * both networks) run a few frames at a time, so that memory stays that of one large frame.
 *
 * Why this beside the backends' row bands (../../backends/bands.ts): the two bound different
 * things. The engine's step is a latent frame, 4 pixel frames, and cannot be smaller (the
 * temporal resamplers turn 4 frames into 1 and back). Row bands split each op's tensors by rows
 * so that none is larger than where the kernels read (the WebAssembly heap, a WebGPU binding),
 * but each op still makes its whole output, bands parked outside the heap (or in other device
 * buffers), before the next op runs: what is held stays that of 4 full-resolution frames. The
 * frame-wise ends run the layers that keep time depth-first on one frame through the same
 * stream, so what is held there is that of one frame. Measured at Wan2.1's width (a random
 * full-width checkpoint, 5 frames of 128 x 128 streamed, tensors over 1 MiB banded): beyond
 * its weights the encoder held 200 MB with bands alone and 136 MB frame-wise, the decoder 284
 * and 204; most of the rest is the causal convs' carried frames, which both keep. It all grows
 * with a frame's pixels (480p has 25 times those of 128 x 128). test/wan_framewise_test.ts
 * checks the same on the fixture. Bands remain what lets a single frame larger than the heap
 * or a binding run at all: the two are used together.
 */
export abstract class WanNetwork implements WanShape {
  /**
   * Pixel-frames a run of frame-wise steps takes at once, counted at the pixel end (the
   * encoder's input frames, the decoder's output frames): one 512 x 512 frame, so one frame of
   * 480p or more. A step of the engine holds 4 frames (1 + 4k for the first), and Wan2.1's
   * width holds some 3 KB per pixel-frame of a step (as measured above, carried frames
   * included): 4 frames of 480p would hold over 4 GiB, more than WebAssembly's memory unbanded
   * and as much outside it banded. Tests lower it to split small clips.
   */
  static subStepPixels = 1 << 18;
  readonly config: WanConfig;
  readonly #steps: readonly Step[];
  /** The steps that change time (temporal resamplers, or Wan2.2 levels that fold time). */
  readonly #timeSteps: ReadonlySet<Step>;

  /** A version's network from its layout; `stats` are those folded into its latent conv. */
  protected constructor(layout: WanLayout, stats: LatentStats | null) {
    const { steps, timeSteps, ...shape } = layout;
    this.config = { ...shape, kind: "video", family: "wan", fsqLevels: null, normalized: stats };
    this.#steps = steps;
    this.#timeSteps = new Set(timeSteps);
  }

  /** `x` through every step, the two ends frame-wise (see the class). */
  #run(ops: Ops, run: RunStep, x: Tensor): Tensor {
    const steps = this.#steps;
    // Frames per sub-step, counted at the pixel end (the decoder's last levels upsample: a
    // frame entering them is a quarter of one leaving them, or less).
    const { half, spatialCompression } = this.config;
    const zoom = half === "encoder" ? 1 : spatialCompression ** 2;
    const frame = x.shape[3] * x.shape[4] * zoom;
    const per = Math.max(1, Math.floor(WanNetwork.subStepPixels / frame));
    const first = steps.findIndex((s) => this.#timeSteps.has(s));
    const last = steps.findLastIndex((s) => this.#timeSteps.has(s));
    const segments = first < 0 ? [{ steps, frameWise: true }] : [
      { steps: steps.slice(0, first), frameWise: true },
      { steps: steps.slice(first, last + 1), frameWise: false },
      { steps: steps.slice(last + 1), frameWise: true },
    ];
    let h = x;
    for (const seg of segments) {
      const y = seg.frameWise
        ? runFrameWise(ops, run, seg.steps, h, per)
        : runSteps(run, seg.steps, h);
      if (h !== x && y !== h) ops.release(h);
      h = y;
    }
    return h;
  }

  get latentChannels(): number {
    return this.config.latentChannels;
  }
  get spatialCompression(): number {
    return this.config.spatialCompression;
  }
  get temporalCompression(): number {
    return this.config.temporalCompression;
  }

  /**
   * The network over a whole clip (or latent). When its full-resolution end splits (more
   * pixel-frames than subStepPixels), as one step of a stream, whose layers carry what the
   * later pieces read (the same frames); else whole, carrying nothing.
   */
  forward(ops: Ops, x: Tensor): Promise<Tensor> {
    const [, , t, h, w] = x.shape;
    const { half, spatialCompression: s, temporalCompression: tc } = this.config;
    const pixelFrames = half === "encoder" ? t * h * w : (1 + (t - 1) * tc) * h * w * s * s;
    if (t === 1 || pixelFrames <= WanNetwork.subStepPixels) {
      return Promise.resolve(runSteps(runWhole(ops), this.#steps, x));
    }
    const run = new StreamRun(ops);
    try {
      return Promise.resolve(this.#run(ops, run.run, x));
    } finally {
      run.release();
    }
  }

  /** A run over a clip (or latent) arriving in the engine's temporal steps. */
  stream(ops: Ops): NetworkStream {
    const run = new StreamRun(ops);
    return {
      step: (_ops, x) => Promise.resolve(this.#run(_ops, run.run, x)),
      release: () => run.release(),
    };
  }
}

/**
 * WanVAE_'s encoder: pixels [B, 3, 1 + 4k, H, W] in [-1, 1] -> mean [B, z, 1 + k, H/8, W/8];
 * with `stats`, (mean - stats.mean) / stats.std (folded into the last conv's weights).
 */
export class WanEncoder extends WanNetwork {
  constructor(up: Uploader, w: WeightReader, stats: LatentStats | null = null) {
    const dim = w.shape("encoder.conv1.weight")[0];
    const conv1 = new WanCausalConv(up, w, "encoder.conv1", 3, dim, [3, 3, 3]);
    const seq = sequence(up, w, "encoder.downsamples", true);
    // The log-variance half of conv1 is not computed: the latent is the mean.
    const end = encoderEnd(up, w, seq.width, stats);
    super({
      half: "encoder",
      steps: [wanConvStep(conv1), ...seq.steps, ...end.steps],
      timeSteps: seq.timeSteps,
      latentChannels: end.latentChannels,
      spatialCompression: 2 ** seq.resamples,
      temporalCompression: 2 ** seq.temporal,
      baseWidth: dim,
    }, stats);
  }
}

/**
 * WanVAE_'s decoder: latent [B, z, t, h, w] -> pixels [B, 3, 1 + 4(t - 1), 8h, 8w], not
 * clamped; with `stats`, of a normalised latent (z x std + mean, folded into the first conv).
 */
export class WanDecoder extends WanNetwork {
  constructor(up: Uploader, w: WeightReader, stats: LatentStats | null = null) {
    const start = decoderStart(up, w, stats);
    const seq = sequence(up, w, "decoder.upsamples", false);
    super({
      half: "decoder",
      steps: [...start.steps, ...seq.steps, wanHead(up, w, "decoder.head", seq.width, 3)],
      timeSteps: seq.timeSteps,
      latentChannels: start.latentChannels,
      spatialCompression: 2 ** seq.resamples,
      temporalCompression: 2 ** seq.temporal,
      baseWidth: seq.width,
    }, stats);
  }
}
