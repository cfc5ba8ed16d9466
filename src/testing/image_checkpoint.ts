/**
 * The parameter list of an image tokenizer checkpoint (CI/DI), generated from the reference's
 * constructor arguments (channels, channels_mult, ...): what the reference would name and shape,
 * derived the way its Encoder/Decoder constructors derive it. With random weights
 * (random_weights.ts) it gives official-width models for the benchmark and checkpoints of widths
 * and depths the fixtures do not have for tests.
 *
 * src/testing/ holds what the tests and the benchmark (`cosmos bench`, src/bench/bench.ts) share;
 * the benchmark ships with the CLI, so this cannot live under test/.
 * @module
 */

import type { CheckpointShapes as Shapes } from "./random_weights.ts";

/** The reference's image network arguments (networks/configs.py). */
export interface ImageArchitecture {
  channels: number;
  channelsMult: number[];
  numResBlocks: number;
  attnResolutions: number[];
  resolution: number;
  patchSize: number;
  spatialCompression: number;
  zChannels: number;
  /** Continuous: latent_channels. Discrete: embedding_dim (FSQ dimension). */
  latentChannels: number;
}

/** The official CI/DI configuration for a spatial compression (full width, channels 128). */
export function officialImageArchitecture(discrete: boolean, spatial: number): ImageArchitecture {
  return {
    channels: 128,
    channelsMult: [2, 4, 4],
    numResBlocks: 2,
    attnResolutions: [32],
    resolution: 1024,
    patchSize: 4,
    spatialCompression: spatial,
    zChannels: discrete ? 256 : 16,
    latentChannels: discrete ? 6 : 16,
  };
}

function conv(s: Shapes, name: string, cout: number, cin: number, k: number) {
  s.set(`${name}.weight`, [cout, cin, k, k]);
  s.set(`${name}.bias`, [cout]);
}
function norm(s: Shapes, name: string, c: number) {
  s.set(`${name}.weight`, [c]);
  s.set(`${name}.bias`, [c]);
}
function resnet(s: Shapes, name: string, cin: number, cout: number) {
  norm(s, `${name}.norm1`, cin);
  conv(s, `${name}.conv1`, cout, cin, 3);
  norm(s, `${name}.norm2`, cout);
  conv(s, `${name}.conv2`, cout, cout, 3);
  if (cin !== cout) conv(s, `${name}.nin_shortcut`, cout, cin, 1);
}
function attn(s: Shapes, name: string, c: number) {
  norm(s, `${name}.norm`, c);
  for (const p of ["q", "k", "v", "proj_out"]) conv(s, `${name}.${p}`, c, c, 1);
}

/** Names and shapes of encoder_jit()'s state_dict. */
export function imageEncoderShapes(a: ImageArchitecture): Shapes {
  const s: Shapes = new Map();
  const numDown = Math.log2(a.spatialCompression) - Math.log2(a.patchSize);
  conv(s, "encoder.conv_in", a.channels, 3 * a.patchSize ** 2, 3);
  let res = a.resolution / a.patchSize;
  const inMult = [1, ...a.channelsMult];
  let blockIn = a.channels;
  a.channelsMult.forEach((mult, i) => {
    blockIn = a.channels * inMult[i];
    const blockOut = a.channels * mult;
    for (let j = 0; j < a.numResBlocks; j++) {
      resnet(s, `encoder.down.${i}.block.${j}`, blockIn, blockOut);
      blockIn = blockOut;
      if (a.attnResolutions.includes(res)) attn(s, `encoder.down.${i}.attn.${j}`, blockIn);
    }
    if (i < numDown) {
      conv(s, `encoder.down.${i}.downsample.conv`, blockIn, blockIn, 3);
      res /= 2;
    }
  });
  resnet(s, "encoder.mid.block_1", blockIn, blockIn);
  attn(s, "encoder.mid.attn_1", blockIn);
  resnet(s, "encoder.mid.block_2", blockIn, blockIn);
  norm(s, "encoder.norm_out", blockIn);
  conv(s, "encoder.conv_out", a.zChannels, blockIn, 3);
  conv(s, "quant_conv", a.latentChannels, a.zChannels, 1);
  return s;
}

/** Names and shapes of decoder_jit()'s state_dict. */
export function imageDecoderShapes(a: ImageArchitecture): Shapes {
  const s: Shapes = new Map();
  const n = a.channelsMult.length;
  const numUp = Math.log2(a.spatialCompression) - Math.log2(a.patchSize);
  conv(s, "post_quant_conv", a.zChannels, a.latentChannels, 1);
  let blockIn = a.channels * a.channelsMult[n - 1];
  let res = a.resolution / a.patchSize / 2 ** (n - 1);
  conv(s, "decoder.conv_in", blockIn, a.zChannels, 3);
  resnet(s, "decoder.mid.block_1", blockIn, blockIn);
  attn(s, "decoder.mid.attn_1", blockIn);
  resnet(s, "decoder.mid.block_2", blockIn, blockIn);
  for (let i = n - 1; i >= 0; i--) {
    const blockOut = a.channels * a.channelsMult[i];
    for (let j = 0; j < a.numResBlocks + 1; j++) {
      resnet(s, `decoder.up.${i}.block.${j}`, blockIn, blockOut);
      blockIn = blockOut;
      if (a.attnResolutions.includes(res)) attn(s, `decoder.up.${i}.attn.${j}`, blockIn);
    }
    if (i >= n - numUp) {
      conv(s, `decoder.up.${i}.upsample.conv`, blockIn, blockIn, 3);
      res *= 2;
    }
  }
  norm(s, "decoder.norm_out", blockIn);
  conv(s, "decoder.conv_out", 3 * a.patchSize ** 2, blockIn, 3);
  return s;
}
