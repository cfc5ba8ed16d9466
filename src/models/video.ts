/**
 * The Cosmos causal video tokenizer networks (CV and DV, the reference's EncoderFactorized and
 * DecoderFactorized), built from a checkpoint's parameter names.
 *
 * Encoder: 3D Haar patcher (frame 0 repeated) -> factorized conv_in -> levels of ResNet blocks
 * (+ space-time attention) with hybrid downsampling -> mid -> norm, SiLU, conv_out ->
 * quant_conv [-> FSQ]. Decoder: the mirror, ending in the inverse 3D Haar (repeats trimmed).
 * The order of operations lives in ./graph.ts, shared with the image networks.
 *
 * Both also run as a stream (`stream()`): the encoder on frame 0, then on tc frames for each
 * later latent frame; the decoder on one latent frame at a time. Every causal layer carries
 * what later frames read of earlier ones (../nn/stream.ts), so the frames that come out equal
 * those of one whole-clip pass, whatever the clip's length, with the memory of one step plus
 * the carried state.
 * @module
 */

import type { NormWeights, Ops, Tensor, Uploader } from "../backends/ops.ts";
import type { WeightReader } from "../weights/checkpoint.ts";
import {
  FactorizedConv,
  HybridDownsample,
  HybridUpsample,
  loadCausalNorm,
  loadConv3d,
  ResnetBlock3d,
} from "../nn/blocks3d.ts";
import { SpaceTimeAttn } from "../nn/attention3d.ts";
import { behindLeadingCopy, localStream } from "../nn/stream.ts";
import type { VideoDecoderConfig, VideoEncoderConfig } from "./config.ts";
import {
  buildLevels,
  type DecoderParts,
  type EncoderParts,
  type Mid,
  type Probe,
  runDecoder,
  runEncoder,
  type Step,
  StreamRun,
} from "./graph.ts";

function loadMid(up: Uploader, w: WeightReader, prefix: string, c: number): Mid {
  return {
    block1: new ResnetBlock3d(up, w, `${prefix}.mid.block_1`, c, c),
    attn: new SpaceTimeAttn(up, w, `${prefix}.mid.attn_1`, c),
    block2: new ResnetBlock3d(up, w, `${prefix}.mid.block_2`, c, c),
  };
}

/** A factorized conv as a step, its input optionally normalised with SiLU. */
function factorized(conv: FactorizedConv, norm?: NormWeights): Step {
  const input = norm ? { weights: norm, silu: true } : undefined;
  return {
    forward: (ops, x) => conv.forward(ops, x, input),
    stream: () => {
      const s = conv.stream();
      return { step: (ops, x) => s.forward(ops, x, input), release: (ops) => s.release(ops) };
    },
  };
}

/** A per-frame step (a 1x1x1 conv): its stream is itself. */
function perFrame(forward: Step["forward"]): Step {
  return { forward, stream: () => localStream(forward) };
}

/**
 * The 3D Haar patcher (or its inverse) as a step. Whole, frame 0 is repeated before the first
 * group (or the first patch - 1 frames dropped after the inverse). As a stream, the first step
 * is a whole clip; every later step gets a copy of its first frame in front, so that its own
 * frames form whole groups, and the copy's output frame is dropped.
 */
function haarStep(run: (ops: Ops, x: Tensor) => Tensor): Step {
  return {
    forward: run,
    stream: () => {
      let started = false;
      return {
        step: (ops, x) => {
          if (!started) {
            started = true;
            return run(ops, x);
          }
          return behindLeadingCopy(ops, x, (t) => run(ops, t));
        },
        release() {},
      };
    },
  };
}

/**
 * One run of a video network over a clip arriving in temporal steps; `step` never releases its
 * input, `release` frees the carried state.
 */
export interface NetworkStream {
  /** The network's output frames for this step's input frames. */
  step(ops: Ops, x: Tensor): Promise<Tensor>;
  /** Frees every layer's carried state. */
  release(): void;
}

export class VideoEncoder {
  readonly config: VideoEncoderConfig;
  #parts: EncoderParts;

  constructor(up: Uploader, w: WeightReader, config: VideoEncoderConfig) {
    this.config = config;
    const c = config;
    const { levels, width } = buildLevels({
      prefix: "encoder.down",
      order: c.levelWidths.map((_, i) => i),
      widths: c.levelWidths,
      blocksPerLevel: c.numResBlocks,
      attn: c.levelAttn,
      block: (name, cin, cout) => new ResnetBlock3d(up, w, name, cin, cout),
      attention: (name, ch) => new SpaceTimeAttn(up, w, name, ch),
      resample: (i, name, ch) => {
        const down = c.levelDown[i];
        return down
          ? new HybridDownsample(up, w, `${name}.downsample`, ch, down.spatial, down.temporal)
          : null;
      },
    }, c.channels);
    const quant = loadConv3d(up, w, "quant_conv", c.latentChannels, c.zChannels, [1, 1, 1]);
    const levelsOfHaar = Math.log2(c.patchSize);
    this.#parts = {
      patcherName: "encoder.patcher3d",
      patch: haarStep((ops, x) => ops.haarPatch(x, levelsOfHaar)),
      convIn: factorized(
        new FactorizedConv(up, w, "encoder.conv_in", 3 * c.patchSize ** 3, c.channels),
      ),
      levels,
      mid: loadMid(up, w, "encoder", width),
      out: factorized(
        new FactorizedConv(up, w, "encoder.conv_out", width, c.zChannels),
        loadCausalNorm(up, w, "encoder.norm_out", width),
      ),
      quantConv: perFrame((ops, x) => ops.conv(x, quant)),
    };
  }

  /** [B, 3, T, H, W] in [-1, 1], T = 1 + k * tc -> [B, latent, 1 + k, H/s, W/s]. */
  forward(ops: Ops, x: Tensor, probe?: Probe): Promise<Tensor> {
    return runEncoder(ops, this.#parts, x, probe);
  }

  /**
   * A run over a clip arriving in steps: frame 0 first ([B, 3, 1, H, W]), then tc frames at a
   * time, each step giving its latent frame; together they equal `forward` of the whole clip.
   */
  stream(ops: Ops): NetworkStream {
    const run = new StreamRun(ops);
    return {
      step: (ops, x) => runEncoder(ops, this.#parts, x, undefined, run.run),
      release: () => run.release(),
    };
  }
}

export class VideoDecoder {
  readonly config: VideoDecoderConfig;
  #parts: DecoderParts;

  constructor(up: Uploader, w: WeightReader, config: VideoDecoderConfig) {
    this.config = config;
    const c = config;
    const n = c.levelWidths.length;
    const { levels, width } = buildLevels({
      prefix: "decoder.up",
      order: c.levelWidths.map((_, i) => n - 1 - i),
      widths: c.levelWidths,
      blocksPerLevel: c.blocksPerLevel,
      attn: c.levelAttn,
      block: (name, cin, cout) => new ResnetBlock3d(up, w, name, cin, cout),
      attention: (name, ch) => new SpaceTimeAttn(up, w, name, ch),
      resample: (i, name, ch) => {
        const u = c.levelUp[i];
        return i !== 0
          ? new HybridUpsample(up, w, `${name}.upsample`, ch, u.spatial, u.temporal)
          : null;
      },
    }, c.midChannels);
    const postQuant = loadConv3d(up, w, "post_quant_conv", c.zChannels, c.latentChannels, [
      1,
      1,
      1,
    ]);
    const levelsOfHaar = Math.log2(c.patchSize);
    this.#parts = {
      postQuantConv: perFrame((ops, x) => ops.conv(x, postQuant)),
      convIn: factorized(new FactorizedConv(up, w, "decoder.conv_in", c.zChannels, c.midChannels)),
      mid: loadMid(up, w, "decoder", c.midChannels),
      levels,
      out: factorized(
        new FactorizedConv(up, w, "decoder.conv_out", width, 3 * c.patchSize ** 3),
        loadCausalNorm(up, w, "decoder.norm_out", width),
      ),
      unpatch: haarStep((ops, x) => ops.haarUnpatch(x, levelsOfHaar)),
    };
  }

  /** Latent (or FSQ codes) [B, latent, t, h, w] -> video [B, 3, 1 + (t-1) * tc, h*s, w*s]. */
  forward(ops: Ops, z: Tensor, probe?: Probe): Promise<Tensor> {
    return runDecoder(ops, this.#parts, z, probe);
  }

  /**
   * A run over latent frames arriving one (or more) at a time: latent frame 0 gives frame 0,
   * every later one tc frames; together they equal `forward` of the whole latent.
   */
  stream(ops: Ops): NetworkStream {
    const run = new StreamRun(ops);
    return {
      step: (ops, z) => runDecoder(ops, this.#parts, z, undefined, run.run),
      release: () => run.release(),
    };
  }
}
