/**
 * The Cosmos image tokenizer networks (CI and DI), built from a checkpoint's parameter names.
 *
 * Encoder: Haar patcher -> conv_in -> levels of ResNet blocks (+ attention) with Downsample ->
 * mid (ResNet, attention, ResNet) -> GroupNorm, SiLU, conv_out -> quant_conv [-> FSQ].
 * Decoder: [FSQ indices -> codes ->] post_quant_conv -> conv_in -> mid -> levels of ResNet blocks
 * (+ attention) with Upsample -> GroupNorm, SiLU, conv_out -> inverse Haar.
 * The order of operations lives in ./graph.ts, shared with the video networks.
 * @module
 */

import type { ConvWeights, NormWeights, Ops, Tensor, Uploader } from "../backends/ops.ts";
import type { WeightReader } from "../weights/checkpoint.ts";
import {
  AttnBlock,
  Downsample,
  loadConv2d,
  loadNorm,
  normConv,
  ResnetBlock,
  Upsample,
} from "../nn/blocks.ts";
import type { ImageDecoderConfig, ImageEncoderConfig } from "./config.ts";
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
    block1: new ResnetBlock(up, w, `${prefix}.mid.block_1`, c, c),
    attn: new AttnBlock(up, w, `${prefix}.mid.attn_1`, c),
    block2: new ResnetBlock(up, w, `${prefix}.mid.block_2`, c, c),
  };
}

const conv = (weights: ConvWeights): Step => ({ forward: (ops, x) => ops.conv(x, weights) });
const normSiluConv = (norm: NormWeights, weights: ConvWeights): Step => ({
  forward: (ops, x) => normConv(ops, x, norm, true, weights),
});
const haarLevels = (patchSize: number) => Math.log2(patchSize);

export class ImageEncoder {
  readonly config: ImageEncoderConfig;
  #parts: EncoderParts;

  constructor(up: Uploader, w: WeightReader, config: ImageEncoderConfig) {
    this.config = config;
    const c = config;
    const { levels, width } = buildLevels({
      prefix: "encoder.down",
      order: c.levelWidths.map((_, i) => i),
      widths: c.levelWidths,
      blocksPerLevel: c.numResBlocks,
      attn: c.levelAttn,
      block: (name, cin, cout) => new ResnetBlock(up, w, name, cin, cout),
      attention: (name, ch) => new AttnBlock(up, w, name, ch),
      resample: (i, name, ch) =>
        i < c.numDown ? new Downsample(up, w, `${name}.downsample`, ch) : null,
    }, c.channels);
    const levelsOfHaar = haarLevels(c.patchSize);
    this.#parts = {
      patcherName: "encoder.patcher",
      patch: { forward: (ops, x) => levelsOfHaar > 0 ? ops.haarPatch(x, levelsOfHaar) : x },
      convIn: conv(loadConv2d(up, w, "encoder.conv_in", c.channels, 3 * c.patchSize ** 2, 3)),
      levels,
      mid: loadMid(up, w, "encoder", width),
      out: normSiluConv(
        loadNorm(up, w, "encoder.norm_out", width),
        loadConv2d(up, w, "encoder.conv_out", c.zChannels, width, 3),
      ),
      quantConv: conv(loadConv2d(up, w, "quant_conv", c.latentChannels, c.zChannels, 1)),
    };
  }

  /** [B, 3, H, W] in [-1, 1] -> quant_conv output [B, latent, H/s, W/s]. */
  forward(ops: Ops, x: Tensor, probe?: Probe): Promise<Tensor> {
    return runEncoder(ops, this.#parts, x, probe);
  }
}

export class ImageDecoder {
  readonly config: ImageDecoderConfig;
  #parts: DecoderParts;

  constructor(up: Uploader, w: WeightReader, config: ImageDecoderConfig) {
    this.config = config;
    const c = config;
    const n = c.levelWidths.length;
    const { levels, width } = buildLevels({
      prefix: "decoder.up",
      order: c.levelWidths.map((_, i) => n - 1 - i),
      widths: c.levelWidths,
      blocksPerLevel: c.blocksPerLevel,
      attn: c.levelAttn,
      block: (name, cin, cout) => new ResnetBlock(up, w, name, cin, cout),
      attention: (name, ch) => new AttnBlock(up, w, name, ch),
      resample: (i, name, ch) =>
        i >= n - c.numUp ? new Upsample(up, w, `${name}.upsample`, ch) : null,
    }, c.midChannels);
    const levelsOfHaar = haarLevels(c.patchSize);
    this.#parts = {
      postQuantConv: conv(loadConv2d(up, w, "post_quant_conv", c.zChannels, c.latentChannels, 1)),
      convIn: conv(loadConv2d(up, w, "decoder.conv_in", c.midChannels, c.zChannels, 3)),
      mid: loadMid(up, w, "decoder", c.midChannels),
      levels,
      out: normSiluConv(
        loadNorm(up, w, "decoder.norm_out", width),
        loadConv2d(up, w, "decoder.conv_out", 3 * c.patchSize ** 2, width, 3),
      ),
      unpatch: { forward: (ops, x) => levelsOfHaar > 0 ? ops.haarUnpatch(x, levelsOfHaar) : x },
    };
  }

  /** Latent (or FSQ codes) [B, latent, h, w] -> image [B, 3, h*s, w*s]. */
  forward(ops: Ops, z: Tensor, probe?: Probe): Promise<Tensor> {
    return runDecoder(ops, this.#parts, z, probe);
  }
}
