/**
 * Architecture of a checkpoint half, inferred from its parameter names and shapes.
 *
 * The official encoder.jit / decoder.jit state_dicts (and the fixtures) name every module, so
 * the number of levels, their widths, which levels down/up-sample or attend, the patch size and
 * the latent width can all be read off the weights; nothing is taken from a name or a config.
 * @module
 */

import type { TensorSource } from "../weights/checkpoint.ts";
import { DEFAULT_FSQ_LEVELS } from "../nn/fsq.ts";

export interface ImageEncoderConfig {
  half: "encoder";
  kind: "image";
  /** Haar patch size (1, 2, 4, ...). */
  patchSize: number;
  /** conv_in output channels. */
  channels: number;
  /** Output channels of each level's ResNet blocks. */
  levelWidths: number[];
  numResBlocks: number;
  /** Levels 0..numDown-1 end with a Downsample. */
  numDown: number;
  /** Whether each level has attention blocks after its ResNet blocks. */
  levelAttn: boolean[];
  /** Encoder output channels (conv_out). */
  zChannels: number;
  /** quant_conv output channels: the latent width, or the FSQ dimension. */
  latentChannels: number;
  /** FSQ levels for a discrete tokenizer, null for a continuous one. */
  fsqLevels: number[] | null;
  spatialCompression: number;
}

export interface ImageDecoderConfig {
  half: "decoder";
  kind: "image";
  patchSize: number;
  /** Width of conv_in's output and the middle blocks. */
  midChannels: number;
  /** Output channels of each level's ResNet blocks, by level index (0 = full resolution). */
  levelWidths: number[];
  /** ResNet blocks per level (the reference's num_res_blocks + 1). */
  blocksPerLevel: number;
  /** Levels L-numUp..L-1 end with an Upsample. */
  numUp: number;
  levelAttn: boolean[];
  zChannels: number;
  latentChannels: number;
  fsqLevels: number[] | null;
  spatialCompression: number;
  outChannels: number;
}

export type HalfConfig = ImageEncoderConfig | ImageDecoderConfig;

function count(f: (i: number) => boolean): number {
  let n = 0;
  while (f(n)) n++;
  return n;
}

/** log2 of a power of two, or -1. */
function log2Exact(n: number): number {
  const l = Math.round(Math.log2(n));
  return 2 ** l === n ? l : -1;
}

/** Which half a file holds, from its parameter names. */
export function detectHalf(src: TensorSource): "encoder" | "decoder" | null {
  const names = src.names();
  const enc = names.some((n) => n.startsWith("encoder."));
  const dec = names.some((n) => n.startsWith("decoder."));
  if (enc && !dec) return "encoder";
  if (dec && !enc) return "decoder";
  return null;
}

function isVideo(src: TensorSource, half: string): boolean {
  return src.shape(`${half}.conv_in.0.conv3d.weight`) !== undefined ||
    src.shape(`${half}.conv_in.conv3d.weight`) !== undefined;
}

function need(src: TensorSource, half: string, name: string): number[] {
  const s = src.shape(name);
  if (!s) throw new Error(`Cannot load ${half}: "${src.source}" has no tensor "${name}"`);
  return s;
}

const article = (half: string) => (half === "encoder" ? "an" : "a");

/** Checks that `src` holds the `expected` half of a supported tokenizer. */
function checkHalf(src: TensorSource, expected: "encoder" | "decoder"): void {
  const half = detectHalf(src);
  if (half === null) {
    throw new Error(
      `Cannot load ${expected}: "${src.source}" holds no Cosmos tokenizer ${expected} (no "${expected}.*" parameters)`,
    );
  }
  if (half !== expected) {
    throw new Error(
      `Cannot load ${expected}: "${src.source}" holds ${article(half)} ${half}, not ${
        article(expected)
      } ${expected} (were the encoder and decoder files swapped?)`,
    );
  }
  if (isVideo(src, half)) {
    throw new Error(
      `Cannot load ${expected}: "${src.source}" is a video tokenizer ${half}; this version runs the image tokenizers (CI, DI) only`,
    );
  }
}

function patchFromChannels(src: TensorSource, half: string, name: string, ch: number): number {
  const p = Math.sqrt(ch / 3);
  if (!Number.isInteger(p) || log2Exact(p) < 0) {
    throw new Error(
      `Cannot load ${half}: "${name}" in "${src.source}" has ${ch} patch channels, not 3 x a power-of-two patch area`,
    );
  }
  return p;
}

/** FSQ is recognised by a quantizer of exactly the default level count. */
function fsqFor(latentChannels: number): number[] | null {
  return latentChannels === DEFAULT_FSQ_LEVELS.length ? [...DEFAULT_FSQ_LEVELS] : null;
}

export function inferImageEncoder(src: TensorSource): ImageEncoderConfig {
  checkHalf(src, "encoder");
  const h = "encoder";
  const convIn = need(src, h, "encoder.conv_in.weight");
  const patchSize = patchFromChannels(src, h, "encoder.conv_in.weight", convIn[1]);
  const levels = count((i) => src.shape(`encoder.down.${i}.block.0.conv1.weight`) !== undefined);
  if (levels === 0) throw new Error(`Cannot load encoder: "${src.source}" has no "encoder.down.0"`);
  const numResBlocks = count((j) =>
    src.shape(`encoder.down.0.block.${j}.conv1.weight`) !== undefined
  );
  const levelWidths = Array.from(
    { length: levels },
    (_, i) => need(src, h, `encoder.down.${i}.block.0.conv1.weight`)[0],
  );
  const numDown = count((i) => src.shape(`encoder.down.${i}.downsample.conv.weight`) !== undefined);
  const levelAttn = Array.from(
    { length: levels },
    (_, i) => src.shape(`encoder.down.${i}.attn.0.q.weight`) !== undefined,
  );
  const zChannels = need(src, h, "encoder.conv_out.weight")[0];
  const latentChannels = need(src, h, "quant_conv.weight")[0];
  return {
    half: "encoder",
    kind: "image",
    patchSize,
    channels: convIn[0],
    levelWidths,
    numResBlocks,
    numDown,
    levelAttn,
    zChannels,
    latentChannels,
    fsqLevels: fsqFor(latentChannels),
    spatialCompression: patchSize * 2 ** numDown,
  };
}

export function inferImageDecoder(src: TensorSource): ImageDecoderConfig {
  checkHalf(src, "decoder");
  const h = "decoder";
  const convIn = need(src, h, "decoder.conv_in.weight");
  const convOut = need(src, h, "decoder.conv_out.weight");
  const patchSize = patchFromChannels(src, h, "decoder.conv_out.weight", convOut[0]);
  const levels = count((i) => src.shape(`decoder.up.${i}.block.0.conv1.weight`) !== undefined);
  if (levels === 0) throw new Error(`Cannot load decoder: "${src.source}" has no "decoder.up.0"`);
  const blocksPerLevel = count((j) =>
    src.shape(`decoder.up.0.block.${j}.conv1.weight`) !== undefined
  );
  const levelWidths = Array.from(
    { length: levels },
    (_, i) => need(src, h, `decoder.up.${i}.block.0.conv1.weight`)[0],
  );
  const numUp = count((k) =>
    src.shape(`decoder.up.${levels - 1 - k}.upsample.conv.weight`) !== undefined
  );
  const levelAttn = Array.from(
    { length: levels },
    (_, i) => src.shape(`decoder.up.${i}.attn.0.q.weight`) !== undefined,
  );
  const latentChannels = need(src, h, "post_quant_conv.weight")[1];
  return {
    half: "decoder",
    kind: "image",
    patchSize,
    midChannels: convIn[0],
    levelWidths,
    blocksPerLevel,
    numUp,
    levelAttn,
    zChannels: convIn[1],
    latentChannels,
    fsqLevels: fsqFor(latentChannels),
    spatialCompression: patchSize * 2 ** numUp,
    outChannels: 3,
  };
}
