/**
 * Architecture of a checkpoint half, inferred from its parameter names and shapes.
 *
 * The official encoder.jit / decoder.jit state_dicts (and the fixtures) name every module, so
 * the number of levels, their widths, which levels down/up-sample or attend, the patch size and
 * the latent width can all be read off the weights; nothing is taken from a name or a config.
 * @module
 */

import type { TensorSource } from "../weights/checkpoint.ts";
import { DEFAULT_FSQ_LEVELS } from "../backends/fsq.ts";

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

/** Compression factors of a video tokenizer, which its weights do not reveal. */
export interface VideoCompression {
  /** Pixels per latent position along height and width. */
  spatial: number;
  /** Frames per latent frame (after the first, which has its own). */
  temporal: number;
  /** The reference's legacy_mode for the decoder's temporal upsampling levels (default false). */
  legacyMode?: boolean;
}

export interface VideoEncoderConfig {
  half: "encoder";
  kind: "video";
  patchSize: number;
  channels: number;
  levelWidths: number[];
  numResBlocks: number;
  levelAttn: boolean[];
  /** Per level but the last: which hybrid downsampling paths run. */
  levelDown: { spatial: boolean; temporal: boolean }[];
  zChannels: number;
  latentChannels: number;
  fsqLevels: number[] | null;
  spatialCompression: number;
  temporalCompression: number;
}

export interface VideoDecoderConfig {
  half: "decoder";
  kind: "video";
  patchSize: number;
  midChannels: number;
  levelWidths: number[];
  blocksPerLevel: number;
  levelAttn: boolean[];
  /** By level index (entry 0 unused: level 0 never upsamples). */
  levelUp: { spatial: boolean; temporal: boolean }[];
  zChannels: number;
  latentChannels: number;
  fsqLevels: number[] | null;
  spatialCompression: number;
  temporalCompression: number;
  outChannels: number;
}

export type HalfConfig =
  | ImageEncoderConfig
  | ImageDecoderConfig
  | VideoEncoderConfig
  | VideoDecoderConfig;

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
}

/** Whether a checkpoint half is a video (factorized causal 3D) network. */
export function isVideoCheckpoint(src: TensorSource): boolean {
  const half = detectHalf(src);
  return half !== null && isVideo(src, half);
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
  if (isVideo(src, "encoder")) {
    throw new Error(`Cannot load encoder: "${src.source}" is a video tokenizer, not an image one`);
  }
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
  if (isVideo(src, "decoder")) {
    throw new Error(`Cannot load decoder: "${src.source}" is a video tokenizer, not an image one`);
  }
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

function videoPatch(src: TensorSource, half: string, name: string, ch: number): number {
  const p = Math.round(Math.cbrt(ch / 3));
  if (3 * p ** 3 !== ch || log2Exact(p) < 0) {
    throw new Error(
      `Cannot load ${half}: "${name}" in "${src.source}" has ${ch} patch channels, not 3 x a power-of-two patch volume`,
    );
  }
  return p;
}

function checkCompression(c: VideoCompression, patch: number, levels: number, half: string) {
  for (const [what, f] of [["spatial", c.spatial], ["temporal", c.temporal]] as const) {
    const steps = log2Exact(f) - log2Exact(patch);
    if (log2Exact(f) < 0 || steps < 0 || steps > levels) {
      throw new Error(
        `Cannot load ${half}: ${what} compression ${f} does not fit a patch size of ${patch} and ${levels} levels`,
      );
    }
  }
}

/**
 * The video encoder's architecture. The weights do not say which levels downsample in time or
 * space (every hybrid downsampler has all its convolutions), so the compression factors come
 * from the caller and the levels are derived from them exactly as the reference derives them.
 */
export function inferVideoEncoder(src: TensorSource, comp: VideoCompression): VideoEncoderConfig {
  checkHalf(src, "encoder");
  const h = "encoder";
  const convIn = need(src, h, "encoder.conv_in.0.conv3d.weight");
  const patchSize = videoPatch(src, h, "encoder.conv_in.0.conv3d.weight", convIn[1]);
  const blockKey = (i: number, j: number) => `encoder.down.${i}.block.${j}.conv1.0.conv3d.weight`;
  const levels = count((i) => src.shape(blockKey(i, 0)) !== undefined);
  if (levels === 0) throw new Error(`Cannot load encoder: "${src.source}" has no "encoder.down.0"`);
  checkCompression(comp, patchSize, levels, h);
  const numResBlocks = count((j) => src.shape(blockKey(0, j)) !== undefined);
  const levelWidths = Array.from({ length: levels }, (_, i) => need(src, h, blockKey(i, 0))[0]);
  const levelAttn = Array.from(
    { length: levels },
    (_, i) => src.shape(`encoder.down.${i}.attn.0.0.q.conv3d.weight`) !== undefined,
  );
  const spatialDowns = log2Exact(comp.spatial) - log2Exact(patchSize);
  const temporalDowns = log2Exact(comp.temporal) - log2Exact(patchSize);
  const levelDown = Array.from({ length: levels - 1 }, (_, i) => ({
    spatial: i < spatialDowns,
    temporal: i < temporalDowns,
  }));
  const zChannels = need(src, h, "encoder.conv_out.0.conv3d.weight")[0];
  const latentChannels = need(src, h, "quant_conv.conv3d.weight")[0];
  return {
    half: "encoder",
    kind: "video",
    patchSize,
    channels: convIn[0],
    levelWidths,
    numResBlocks,
    levelAttn,
    levelDown,
    zChannels,
    latentChannels,
    fsqLevels: fsqFor(latentChannels),
    spatialCompression: comp.spatial,
    temporalCompression: comp.temporal,
  };
}

/** The video decoder's architecture; see inferVideoEncoder for why compression is an input. */
export function inferVideoDecoder(src: TensorSource, comp: VideoCompression): VideoDecoderConfig {
  checkHalf(src, "decoder");
  const h = "decoder";
  const convIn = need(src, h, "decoder.conv_in.0.conv3d.weight");
  const convOut = need(src, h, "decoder.conv_out.0.conv3d.weight");
  const patchSize = videoPatch(src, h, "decoder.conv_out.0.conv3d.weight", convOut[0]);
  const blockKey = (i: number, j: number) => `decoder.up.${i}.block.${j}.conv1.0.conv3d.weight`;
  const levels = count((i) => src.shape(blockKey(i, 0)) !== undefined);
  if (levels === 0) throw new Error(`Cannot load decoder: "${src.source}" has no "decoder.up.0"`);
  checkCompression(comp, patchSize, levels, h);
  const blocksPerLevel = count((j) => src.shape(blockKey(0, j)) !== undefined);
  const levelWidths = Array.from({ length: levels }, (_, i) => need(src, h, blockKey(i, 0))[0]);
  const levelAttn = Array.from(
    { length: levels },
    (_, i) => src.shape(`decoder.up.${i}.attn.0.0.q.conv3d.weight`) !== undefined,
  );
  const spatialUps = log2Exact(comp.spatial) - log2Exact(patchSize);
  const temporalUps = log2Exact(comp.temporal) - log2Exact(patchSize);
  // The reference's DecoderFactorized: level i (counted from the lowest resolution) upsamples in
  // time for 0 < i <= temporalUps (legacy: i < temporalUps), and in space with it, or alone
  // while more spatial than temporal steps remain.
  const levelUp = Array.from({ length: levels }, (_, i) => {
    const rev = levels - i - 1;
    const temporal = i === 0
      ? false
      : comp.legacyMode
      ? rev < temporalUps
      : 0 < rev && rev < temporalUps + 1;
    const spatial = i !== 0 && (temporal || (rev < spatialUps && spatialUps > temporalUps));
    return { spatial, temporal };
  });
  const latentChannels = need(src, h, "post_quant_conv.conv3d.weight")[1];
  return {
    half: "decoder",
    kind: "video",
    patchSize,
    midChannels: convIn[0],
    levelWidths,
    blocksPerLevel,
    levelAttn,
    levelUp,
    zChannels: convIn[1],
    latentChannels,
    fsqLevels: fsqFor(latentChannels),
    spatialCompression: comp.spatial,
    temporalCompression: comp.temporal,
    outChannels: 3,
  };
}
