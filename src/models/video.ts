/**
 * The Cosmos causal video tokenizer networks (CV and DV, the reference's EncoderFactorized and
 * DecoderFactorized), built from a checkpoint's parameter names.
 *
 * Encoder: 3D Haar patcher (frame 0 repeated) -> factorized conv_in -> levels of ResNet blocks
 * (+ space-time attention) with hybrid downsampling -> mid -> norm, SiLU, conv_out ->
 * quant_conv [-> FSQ]. Decoder: the mirror, ending in the inverse 3D Haar (repeats trimmed).
 * @module
 */

import type { ConvWeights, NormWeights, Ops, Tensor, Uploader } from "../backends/ops.ts";
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
import { chain, type Mid, type Probe, runMid } from "./graph.ts";

interface Level {
  blocks: ResnetBlock3d[];
  attn: SpaceTimeAttn[];
  resample: HybridDownsample | HybridUpsample | null;
}

function loadMid(up: Uploader, w: WeightReader, prefix: string, c: number): Mid {
  return {
    block1: new ResnetBlock3d(up, w, `${prefix}.mid.block_1`, c, c),
    attn: new SpaceTimeAttn(up, w, `${prefix}.mid.attn_1`, c),
    block2: new ResnetBlock3d(up, w, `${prefix}.mid.block_2`, c, c),
  };
}

export class VideoEncoder {
  readonly config: VideoEncoderConfig;
  #convIn: FactorizedConv;
  #levels: Level[] = [];
  #mid: Mid;
  #normOut: NormWeights;
  #convOut: FactorizedConv;
  #quantConv: ConvWeights;

  constructor(up: Uploader, w: WeightReader, config: VideoEncoderConfig) {
    this.config = config;
    const c = config;
    this.#convIn = new FactorizedConv(up, w, "encoder.conv_in", 3 * c.patchSize ** 3, c.channels);
    let width = c.channels;
    c.levelWidths.forEach((out, i) => {
      const blocks: ResnetBlock3d[] = [], attn: SpaceTimeAttn[] = [];
      for (let j = 0; j < c.numResBlocks; j++) {
        blocks.push(new ResnetBlock3d(up, w, `encoder.down.${i}.block.${j}`, width, out));
        width = out;
        if (c.levelAttn[i]) {
          attn.push(new SpaceTimeAttn(up, w, `encoder.down.${i}.attn.${j}`, width));
        }
      }
      const down = c.levelDown[i];
      const resample = down
        ? new HybridDownsample(
          up,
          w,
          `encoder.down.${i}.downsample`,
          width,
          down.spatial,
          down.temporal,
        )
        : null;
      this.#levels.push({ blocks, attn, resample });
    });
    this.#mid = loadMid(up, w, "encoder", width);
    this.#normOut = loadCausalNorm(up, w, "encoder.norm_out", width);
    this.#convOut = new FactorizedConv(up, w, "encoder.conv_out", width, c.zChannels);
    this.#quantConv = loadConv3d(up, w, "quant_conv", c.latentChannels, c.zChannels, [1, 1, 1]);
  }

  /** [B, 3, T, H, W] in [-1, 1], T = 1 + k * tc -> [B, latent, 1 + k, H/s, W/s]. */
  async forward(ops: Ops, x: Tensor, probe?: Probe): Promise<Tensor> {
    const levels = Math.log2(this.config.patchSize);
    let h = ops.haarPatch(x, levels);
    await probe?.("encoder.patcher3d", h);
    h = chain(ops, h, x, (t) => this.#convIn.forward(ops, t));
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
    h = chain(
      ops,
      h,
      x,
      (t) => this.#convOut.forward(ops, t, { weights: this.#normOut, silu: true }),
    );
    await probe?.("encoder", h);
    h = chain(ops, h, x, (t) => ops.conv(t, this.#quantConv));
    await probe?.("quant_conv", h);
    return h;
  }
}

export class VideoDecoder {
  readonly config: VideoDecoderConfig;
  #postQuant: ConvWeights;
  #convIn: FactorizedConv;
  #mid: Mid;
  #levels: Level[] = [];
  #normOut: NormWeights;
  #convOut: FactorizedConv;

  constructor(up: Uploader, w: WeightReader, config: VideoDecoderConfig) {
    this.config = config;
    const c = config;
    this.#postQuant = loadConv3d(up, w, "post_quant_conv", c.zChannels, c.latentChannels, [
      1,
      1,
      1,
    ]);
    this.#convIn = new FactorizedConv(up, w, "decoder.conv_in", c.zChannels, c.midChannels);
    this.#mid = loadMid(up, w, "decoder", c.midChannels);
    let width = c.midChannels;
    for (let i = c.levelWidths.length - 1; i >= 0; i--) {
      const out = c.levelWidths[i];
      const blocks: ResnetBlock3d[] = [], attn: SpaceTimeAttn[] = [];
      for (let j = 0; j < c.blocksPerLevel; j++) {
        blocks.push(new ResnetBlock3d(up, w, `decoder.up.${i}.block.${j}`, width, out));
        width = out;
        if (c.levelAttn[i]) attn.push(new SpaceTimeAttn(up, w, `decoder.up.${i}.attn.${j}`, width));
      }
      const u = c.levelUp[i];
      const resample = i !== 0
        ? new HybridUpsample(up, w, `decoder.up.${i}.upsample`, width, u.spatial, u.temporal)
        : null;
      this.#levels[i] = { blocks, attn, resample };
    }
    this.#normOut = loadCausalNorm(up, w, "decoder.norm_out", width);
    this.#convOut = new FactorizedConv(up, w, "decoder.conv_out", width, 3 * c.patchSize ** 3);
  }

  /** Latent (or FSQ codes) [B, latent, t, h, w] -> video [B, 3, 1 + (t-1) * tc, h*s, w*s]. */
  async forward(ops: Ops, z: Tensor, probe?: Probe): Promise<Tensor> {
    let h = ops.conv(z, this.#postQuant);
    await probe?.("post_quant_conv", h);
    h = chain(ops, h, z, (t) => this.#convIn.forward(ops, t));
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
    h = chain(
      ops,
      h,
      z,
      (t) => this.#convOut.forward(ops, t, { weights: this.#normOut, silu: true }),
    );
    await probe?.("decoder.conv_out", h);
    return chain(ops, h, z, (t) => ops.haarUnpatch(t, Math.log2(this.config.patchSize)));
  }
}
