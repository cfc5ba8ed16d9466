/**
 * The parameter list of an image tokenizer checkpoint, generated from the reference's
 * constructor arguments (channels, channels_mult, ...), and random weights for it.
 *
 * Used to build official-width models with random weights for the bench, and checkpoints of
 * widths and depths the fixtures do not have for tests: what the reference would name and shape,
 * derived the way its Encoder/Decoder constructors derive it.
 * @module
 */

import { encodeSafetensors } from "../weights/safetensors.ts";

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

type Shapes = Map<string, number[]>;

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

/**
 * A safetensors checkpoint with these shapes and seeded random F32 values: weights uniform with
 * variance 1 / fan_in (activations keep their scale through the depth), norms near identity.
 */
export function randomCheckpoint(shapes: Shapes, seed: number): Uint8Array {
  let state = seed >>> 0;
  const rand = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNorm = /norm[^.]*\.(weight|bias)$/.test(name);
    const fanIn = shape.length > 1 ? n / shape[0] : 1;
    const bound = Math.sqrt(3 / fanIn);
    for (let i = 0; i < n; i++) {
      const u = 2 * rand() - 1;
      if (isNorm) data[i] = name.endsWith("weight") ? 1 + 0.1 * u : 0.1 * u;
      else if (name.endsWith("bias")) data[i] = 0.05 * u;
      else data[i] = bound * u;
    }
    tensors[name] = { dtype: "F32", shape, data };
  }
  return encodeSafetensors(tensors, { source: "cosmos-webgpu random weights", seed: `${seed}` });
}
