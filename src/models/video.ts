/**
 * The Cosmos causal video tokenizer networks (CV and DV, the reference's EncoderFactorized and
 * DecoderFactorized), built from a checkpoint's parameter names.
 *
 * Encoder: 3D Haar patcher (frame 0 repeated) -> factorized conv_in -> levels of ResNet blocks
 * (+ space-time attention) with hybrid downsampling -> mid -> norm, SiLU, conv_out ->
 * quant_conv [-> FSQ]. Decoder: the mirror, ending in the inverse 3D Haar (repeats trimmed).
 * The order of operations lives in ./graph.ts, shared with the image networks.
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
  SpaceTimeAttn,
} from "../nn/blocks3d.ts";
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
} from "./graph.ts";

function loadMid(up: Uploader, w: WeightReader, prefix: string, c: number): Mid {
  return {
    block1: new ResnetBlock3d(up, w, `${prefix}.mid.block_1`, c, c),
    attn: new SpaceTimeAttn(up, w, `${prefix}.mid.attn_1`, c),
    block2: new ResnetBlock3d(up, w, `${prefix}.mid.block_2`, c, c),
  };
}

const plain = (conv: FactorizedConv): Step => ({ forward: (ops, x) => conv.forward(ops, x) });
const normSilu = (norm: NormWeights, conv: FactorizedConv): Step => ({
  forward: (ops, x) => conv.forward(ops, x, { weights: norm, silu: true }),
});

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
      patch: (ops, x) => ops.haarPatch(x, levelsOfHaar),
      convIn: plain(new FactorizedConv(up, w, "encoder.conv_in", 3 * c.patchSize ** 3, c.channels)),
      levels,
      mid: loadMid(up, w, "encoder", width),
      out: normSilu(
        loadCausalNorm(up, w, "encoder.norm_out", width),
        new FactorizedConv(up, w, "encoder.conv_out", width, c.zChannels),
      ),
      quantConv: { forward: (ops, x) => ops.conv(x, quant) },
    };
  }

  /** [B, 3, T, H, W] in [-1, 1], T = 1 + k * tc -> [B, latent, 1 + k, H/s, W/s]. */
  forward(ops: Ops, x: Tensor, probe?: Probe): Promise<Tensor> {
    return runEncoder(ops, this.#parts, x, probe);
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
      postQuantConv: { forward: (ops, x) => ops.conv(x, postQuant) },
      convIn: plain(new FactorizedConv(up, w, "decoder.conv_in", c.zChannels, c.midChannels)),
      mid: loadMid(up, w, "decoder", c.midChannels),
      levels,
      out: normSilu(
        loadCausalNorm(up, w, "decoder.norm_out", width),
        new FactorizedConv(up, w, "decoder.conv_out", width, 3 * c.patchSize ** 3),
      ),
      unpatch: (ops, x) => ops.haarUnpatch(x, levelsOfHaar),
    };
  }

  /** Latent (or FSQ codes) [B, latent, t, h, w] -> video [B, 3, 1 + (t-1) * tc, h*s, w*s]. */
  forward(ops: Ops, z: Tensor, probe?: Probe): Promise<Tensor> {
    return runDecoder(ops, this.#parts, z, probe);
  }
}
