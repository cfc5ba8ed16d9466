/**
 * The parameter list of a causal video tokenizer checkpoint (CV/DV, the reference's
 * EncoderFactorized / DecoderFactorized), generated from the reference's constructor arguments,
 * the video counterpart of image_checkpoint.ts. Random weights for it come from
 * random_weights.ts's `randomCheckpoint`.
 *
 * src/testing/ holds what the tests and the benchmark (`cosmos bench`, src/bench/bench.ts) share;
 * the benchmark ships with the CLI, so this cannot live under test/.
 * @module
 */

import type { CheckpointShapes as Shapes } from "./random_weights.ts";

/**
 * The reference's video network arguments (networks/configs.py `continuous_video` /
 * `discrete_video`). Plain JSON, so it can be stored in a checkpoint's metadata.
 */
export interface VideoArchitecture {
  /** DV (FSQ) rather than CV: decides the reference's decoder channels_mult quirk. */
  discrete: boolean;
  channels: number;
  /** The encoder's channels_mult; see videoDecoderChannelsMult for the decoder's. */
  channelsMult: number[];
  numResBlocks: number;
  attnResolutions: number[];
  resolution: number;
  patchSize: number;
  spatialCompression: number;
  temporalCompression: number;
  zChannels: number;
  /** Continuous: latent_channels. Discrete: embedding_dim (FSQ dimension). */
  latentChannels: number;
}

/** The official CV/DV configuration for a compression (full width, channels 128). */
export function officialVideoArchitecture(
  discrete: boolean,
  spatial: number,
  temporal: number,
): VideoArchitecture {
  return {
    discrete,
    channels: 128,
    channelsMult: [2, 4, 4],
    numResBlocks: 2,
    attnResolutions: [32],
    resolution: 1024,
    patchSize: 4,
    spatialCompression: spatial,
    temporalCompression: temporal,
    zChannels: 16,
    latentChannels: discrete ? 6 : 16,
  };
}

/**
 * The channels_mult the reference's decoder is built with: CausalContinuousVideoTokenizer
 * replaces it by [2, 4] whenever temporal_compression is 4, whatever the config says (the
 * discrete tokenizer does not).
 */
export function videoDecoderChannelsMult(a: VideoArchitecture): number[] {
  return !a.discrete && a.temporalCompression === 4 ? [2, 4] : a.channelsMult;
}

/** CausalConv3d: `<name>.conv3d.{weight,bias}`. */
function conv(s: Shapes, name: string, cout: number, cin: number, k: [number, number, number]) {
  s.set(`${name}.conv3d.weight`, [cout, cin, ...k]);
  s.set(`${name}.conv3d.bias`, [cout]);
}
/** A (1,3,3) spatial then (3,1,1) temporal CausalConv3d pair (nn.Sequential). */
function factorized(s: Shapes, name: string, cin: number, cout: number) {
  conv(s, `${name}.0`, cout, cin, [1, 3, 3]);
  conv(s, `${name}.1`, cout, cout, [3, 1, 1]);
}
/** CausalNormalize: `<name>.norm.{weight,bias}`. */
function norm(s: Shapes, name: string, c: number) {
  s.set(`${name}.norm.weight`, [c]);
  s.set(`${name}.norm.bias`, [c]);
}
/** CausalResnetBlockFactorized3d. */
function resnet(s: Shapes, name: string, cin: number, cout: number) {
  norm(s, `${name}.norm1`, cin);
  factorized(s, `${name}.conv1`, cin, cout);
  norm(s, `${name}.norm2`, cout);
  factorized(s, `${name}.conv2`, cout, cout);
  if (cin !== cout) conv(s, `${name}.nin_shortcut`, cout, cin, [1, 1, 1]);
}
/** nn.Sequential(CausalAttnBlock, CausalTemporalAttnBlock). */
function attn(s: Shapes, name: string, c: number) {
  for (const part of [0, 1]) {
    norm(s, `${name}.${part}.norm`, c);
    for (const p of ["q", "k", "v", "proj_out"]) conv(s, `${name}.${part}.${p}`, c, c, [1, 1, 1]);
  }
}

/** Names and shapes of encoder_jit()'s state_dict. */
export function videoEncoderShapes(a: VideoArchitecture): Shapes {
  const s: Shapes = new Map();
  const n = a.channelsMult.length;
  factorized(s, "encoder.conv_in", 3 * a.patchSize ** 3, a.channels);
  let res = Math.floor(a.resolution / a.patchSize);
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
    // CausalHybridDownsample3d holds all three convs even where a path is switched off.
    if (i !== n - 1) {
      conv(s, `encoder.down.${i}.downsample.conv1`, blockIn, blockIn, [1, 3, 3]);
      conv(s, `encoder.down.${i}.downsample.conv2`, blockIn, blockIn, [3, 1, 1]);
      conv(s, `encoder.down.${i}.downsample.conv3`, blockIn, blockIn, [1, 1, 1]);
      res = Math.floor(res / 2);
    }
  });
  resnet(s, "encoder.mid.block_1", blockIn, blockIn);
  attn(s, "encoder.mid.attn_1", blockIn);
  resnet(s, "encoder.mid.block_2", blockIn, blockIn);
  norm(s, "encoder.norm_out", blockIn);
  factorized(s, "encoder.conv_out", blockIn, a.zChannels);
  conv(s, "quant_conv", a.latentChannels, a.zChannels, [1, 1, 1]);
  return s;
}

/** Names and shapes of decoder_jit()'s state_dict (the FSQ inverse quantizer has none). */
export function videoDecoderShapes(a: VideoArchitecture): Shapes {
  const s: Shapes = new Map();
  const mult = videoDecoderChannelsMult(a);
  const n = mult.length;
  conv(s, "post_quant_conv", a.zChannels, a.latentChannels, [1, 1, 1]);
  let blockIn = a.channels * mult[n - 1];
  let res = Math.floor(Math.floor(a.resolution / a.patchSize) / 2 ** (n - 1));
  factorized(s, "decoder.conv_in", a.zChannels, blockIn);
  resnet(s, "decoder.mid.block_1", blockIn, blockIn);
  attn(s, "decoder.mid.attn_1", blockIn);
  resnet(s, "decoder.mid.block_2", blockIn, blockIn);
  for (let i = n - 1; i >= 0; i--) {
    const blockOut = a.channels * mult[i];
    for (let j = 0; j < a.numResBlocks + 1; j++) {
      resnet(s, `decoder.up.${i}.block.${j}`, blockIn, blockOut);
      blockIn = blockOut;
      if (a.attnResolutions.includes(res)) attn(s, `decoder.up.${i}.attn.${j}`, blockIn);
    }
    if (i !== 0) {
      conv(s, `decoder.up.${i}.upsample.conv1`, blockIn, blockIn, [3, 1, 1]);
      conv(s, `decoder.up.${i}.upsample.conv2`, blockIn, blockIn, [1, 3, 3]);
      conv(s, `decoder.up.${i}.upsample.conv3`, blockIn, blockIn, [1, 1, 1]);
      res *= 2;
    }
  }
  norm(s, "decoder.norm_out", blockIn);
  factorized(s, "decoder.conv_out", blockIn, 3 * a.patchSize ** 3);
  return s;
}
