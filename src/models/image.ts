/**
 * The Cosmos image tokenizer networks (CI and DI), built from a checkpoint's parameter names.
 *
 * Encoder: Haar patcher -> conv_in -> levels of ResNet blocks (+ attention) with Downsample ->
 * mid (ResNet, attention, ResNet) -> GroupNorm, SiLU, conv_out -> quant_conv [-> FSQ].
 * Decoder: [FSQ indices -> codes ->] post_quant_conv -> conv_in -> mid -> levels of ResNet blocks
 * (+ attention) with Upsample -> GroupNorm, SiLU, conv_out -> inverse Haar.
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
import { chain, type Mid, type Probe, runMid } from "./graph.ts";

export type { Probe } from "./graph.ts";

interface Level {
  blocks: ResnetBlock[];
  attn: AttnBlock[];
  resample: Downsample | Upsample | null;
}

function loadMid(ops: Uploader, w: WeightReader, prefix: string, c: number): Mid {
  return {
    block1: new ResnetBlock(ops, w, `${prefix}.mid.block_1`, c, c),
    attn: new AttnBlock(ops, w, `${prefix}.mid.attn_1`, c),
    block2: new ResnetBlock(ops, w, `${prefix}.mid.block_2`, c, c),
  };
}

export class ImageEncoder {
  readonly config: ImageEncoderConfig;
  #convIn: ConvWeights;
  #levels: Level[] = [];
  #mid: Mid;
  #normOut: NormWeights;
  #convOut: ConvWeights;
  #quantConv: ConvWeights;

  constructor(ops: Uploader, w: WeightReader, config: ImageEncoderConfig) {
    this.config = config;
    const c = config;
    this.#convIn = loadConv2d(ops, w, "encoder.conv_in", c.channels, 3 * c.patchSize ** 2, 3);
    let width = c.channels;
    c.levelWidths.forEach((out, i) => {
      const blocks: ResnetBlock[] = [], attn: AttnBlock[] = [];
      for (let j = 0; j < c.numResBlocks; j++) {
        blocks.push(new ResnetBlock(ops, w, `encoder.down.${i}.block.${j}`, width, out));
        width = out;
        if (c.levelAttn[i]) attn.push(new AttnBlock(ops, w, `encoder.down.${i}.attn.${j}`, width));
      }
      const resample = i < c.numDown
        ? new Downsample(ops, w, `encoder.down.${i}.downsample`, width)
        : null;
      this.#levels.push({ blocks, attn, resample });
    });
    this.#mid = loadMid(ops, w, "encoder", width);
    this.#normOut = loadNorm(ops, w, "encoder.norm_out", width);
    this.#convOut = loadConv2d(ops, w, "encoder.conv_out", c.zChannels, width, 3);
    this.#quantConv = loadConv2d(ops, w, "quant_conv", c.latentChannels, c.zChannels, 1);
  }

  /** [B, 3, H, W] in [-1, 1] -> quant_conv output [B, latent, H/s, W/s]. */
  async forward(ops: Ops, x: Tensor, probe?: Probe): Promise<Tensor> {
    const levels = Math.log2(this.config.patchSize);
    let h = levels > 0 ? ops.haarPatch(x, levels) : x;
    await probe?.("encoder.patcher", h);
    h = chain(ops, h, x, (t) => ops.conv(t, this.#convIn));
    await probe?.("encoder.conv_in", h);
    for (const [i, level] of this.#levels.entries()) {
      for (const [j, block] of level.blocks.entries()) {
        h = chain(ops, h, x, (t) => block.forward(ops, t));
        if (level.attn.length) h = chain(ops, h, x, (t) => level.attn[j].forward(ops, t));
        if (i === 0 && j === 0) await probe?.("encoder.down.0.block.0", h);
      }
      const resample = level.resample;
      if (resample) h = chain(ops, h, x, (t) => resample.forward(ops, t));
    }
    h = await runMid(ops, this.#mid, h, x, "encoder", probe);
    h = chain(ops, h, x, (t) => normConv(ops, t, this.#normOut, true, this.#convOut));
    await probe?.("encoder", h);
    h = chain(ops, h, x, (t) => ops.conv(t, this.#quantConv));
    await probe?.("quant_conv", h);
    return h;
  }
}

export class ImageDecoder {
  readonly config: ImageDecoderConfig;
  #postQuant: ConvWeights;
  #convIn: ConvWeights;
  #mid: Mid;
  /** By level index; run from the last (lowest resolution) to level 0. */
  #levels: Level[] = [];
  #normOut: NormWeights;
  #convOut: ConvWeights;

  constructor(ops: Uploader, w: WeightReader, config: ImageDecoderConfig) {
    this.config = config;
    const c = config;
    this.#postQuant = loadConv2d(ops, w, "post_quant_conv", c.zChannels, c.latentChannels, 1);
    this.#convIn = loadConv2d(ops, w, "decoder.conv_in", c.midChannels, c.zChannels, 3);
    this.#mid = loadMid(ops, w, "decoder", c.midChannels);
    let width = c.midChannels;
    const n = c.levelWidths.length;
    for (let i = n - 1; i >= 0; i--) {
      const out = c.levelWidths[i];
      const blocks: ResnetBlock[] = [], attn: AttnBlock[] = [];
      for (let j = 0; j < c.blocksPerLevel; j++) {
        blocks.push(new ResnetBlock(ops, w, `decoder.up.${i}.block.${j}`, width, out));
        width = out;
        if (c.levelAttn[i]) attn.push(new AttnBlock(ops, w, `decoder.up.${i}.attn.${j}`, width));
      }
      const resample = i >= n - c.numUp
        ? new Upsample(ops, w, `decoder.up.${i}.upsample`, width)
        : null;
      this.#levels[i] = { blocks, attn, resample };
    }
    this.#normOut = loadNorm(ops, w, "decoder.norm_out", width);
    this.#convOut = loadConv2d(ops, w, "decoder.conv_out", 3 * c.patchSize ** 2, width, 3);
  }

  /** Latent (or FSQ codes) [B, latent, h, w] -> image [B, 3, h*s, w*s]. */
  async forward(ops: Ops, z: Tensor, probe?: Probe): Promise<Tensor> {
    let h = ops.conv(z, this.#postQuant);
    await probe?.("post_quant_conv", h);
    h = chain(ops, h, z, (t) => ops.conv(t, this.#convIn));
    await probe?.("decoder.conv_in", h);
    h = await runMid(ops, this.#mid, h, z, "decoder", probe);
    for (let i = this.#levels.length - 1; i >= 0; i--) {
      const level = this.#levels[i];
      for (const [j, block] of level.blocks.entries()) {
        h = chain(ops, h, z, (t) => block.forward(ops, t));
        if (level.attn.length) h = chain(ops, h, z, (t) => level.attn[j].forward(ops, t));
      }
      const resample = level.resample;
      if (resample) h = chain(ops, h, z, (t) => resample.forward(ops, t));
    }
    h = chain(ops, h, z, (t) => normConv(ops, t, this.#normOut, true, this.#convOut));
    await probe?.("decoder.conv_out", h);
    const levels = Math.log2(this.config.patchSize);
    return levels > 0 ? chain(ops, h, z, (t) => ops.haarUnpatch(t, levels)) : h;
  }
}
