/**
 * Small helpers for writing a network as a chain of ops that owns its intermediates.
 * @module
 */

import type { Ops, Tensor } from "../backends/ops.ts";
import { chain } from "../nn/chain.ts";

/** Called with intermediate results named like the reference's modules (tests use it). */
export type Probe = (name: string, t: Tensor) => Promise<void> | void;

/** Anything with a forward step. */
export interface Step {
  forward(ops: Ops, x: Tensor): Tensor;
}

/** The middle of every Cosmos network: ResNet block, attention, ResNet block. */
export interface Mid {
  block1: Step;
  attn: Step;
  block2: Step;
}

export async function runMid(
  ops: Ops,
  mid: Mid,
  x: Tensor,
  keep: Tensor,
  name: string,
  probe?: Probe,
): Promise<Tensor> {
  let h = chain(ops, x, keep, (t) => mid.block1.forward(ops, t));
  h = chain(ops, h, keep, (t) => mid.attn.forward(ops, t));
  await probe?.(`${name}.mid.attn_1`, h);
  return chain(ops, h, keep, (t) => mid.block2.forward(ops, t));
}

/** One resolution level: ResNet blocks, each optionally followed by attention, then a resampler. */
export interface Level {
  blocks: Step[];
  attn: Step[];
  resample: Step | null;
}

/** How to make the parts of a level, under the checkpoint's names. */
export interface LevelFactory {
  /** "encoder.down" or "decoder.up". */
  prefix: string;
  /** Level indices in the order they run. */
  order: number[];
  widths: number[];
  blocksPerLevel: number;
  attn: boolean[];
  block(name: string, cin: number, cout: number): Step;
  attention(name: string, channels: number): Step;
  resample(level: number, name: string, channels: number): Step | null;
}

/** Builds the levels (indexed by level number) and returns the width that leaves the last. */
export function buildLevels(f: LevelFactory, width: number): { levels: Level[]; width: number } {
  const levels: Level[] = [];
  for (const i of f.order) {
    const blocks: Step[] = [], attn: Step[] = [];
    for (let j = 0; j < f.blocksPerLevel; j++) {
      blocks.push(f.block(`${f.prefix}.${i}.block.${j}`, width, f.widths[i]));
      width = f.widths[i];
      if (f.attn[i]) attn.push(f.attention(`${f.prefix}.${i}.attn.${j}`, width));
    }
    levels[i] = { blocks, attn, resample: f.resample(i, `${f.prefix}.${i}`, width) };
  }
  return { levels, width };
}

async function runLevels(
  ops: Ops,
  levels: Level[],
  order: number[],
  h: Tensor,
  keep: Tensor,
  probeFirst: string | null,
  probe?: Probe,
): Promise<Tensor> {
  for (const i of order) {
    const level = levels[i];
    for (const [j, block] of level.blocks.entries()) {
      h = chain(ops, h, keep, (t) => block.forward(ops, t));
      if (level.attn.length) h = chain(ops, h, keep, (t) => level.attn[j].forward(ops, t));
      if (probeFirst && i === order[0] && j === 0) await probe?.(probeFirst, h);
    }
    const resample = level.resample;
    if (resample) h = chain(ops, h, keep, (t) => resample.forward(ops, t));
  }
  return h;
}

/** The parts of an encoder, image or video. */
export interface EncoderParts {
  /** Reference module name of the patcher, for probes. */
  patcherName: string;
  patch(ops: Ops, x: Tensor): Tensor;
  convIn: Step;
  levels: Level[];
  mid: Mid;
  /** norm_out, SiLU, conv_out. */
  out: Step;
  quantConv: Step;
}

/** Pixels -> quant_conv output, releasing every intermediate. */
export async function runEncoder(
  ops: Ops,
  p: EncoderParts,
  x: Tensor,
  probe?: Probe,
): Promise<Tensor> {
  let h = p.patch(ops, x);
  await probe?.(p.patcherName, h);
  h = chain(ops, h, x, (t) => p.convIn.forward(ops, t));
  await probe?.("encoder.conv_in", h);
  const order = p.levels.map((_, i) => i);
  h = await runLevels(ops, p.levels, order, h, x, "encoder.down.0.block.0", probe);
  h = await runMid(ops, p.mid, h, x, "encoder", probe);
  h = chain(ops, h, x, (t) => p.out.forward(ops, t));
  await probe?.("encoder", h);
  h = chain(ops, h, x, (t) => p.quantConv.forward(ops, t));
  await probe?.("quant_conv", h);
  return h;
}

/** The parts of a decoder, image or video. */
export interface DecoderParts {
  postQuantConv: Step;
  convIn: Step;
  mid: Mid;
  /** Indexed by level; run from the last (lowest resolution) to level 0. */
  levels: Level[];
  /** norm_out, SiLU, conv_out. */
  out: Step;
  unpatch(ops: Ops, x: Tensor): Tensor;
}

/** Latent (or FSQ codes) -> pixels, releasing every intermediate. */
export async function runDecoder(
  ops: Ops,
  p: DecoderParts,
  z: Tensor,
  probe?: Probe,
): Promise<Tensor> {
  let h = p.postQuantConv.forward(ops, z);
  await probe?.("post_quant_conv", h);
  h = chain(ops, h, z, (t) => p.convIn.forward(ops, t));
  await probe?.("decoder.conv_in", h);
  h = await runMid(ops, p.mid, h, z, "decoder", probe);
  const order = p.levels.map((_, i) => i).reverse();
  h = await runLevels(ops, p.levels, order, h, z, null, probe);
  h = chain(ops, h, z, (t) => p.out.forward(ops, t));
  await probe?.("decoder.conv_out", h);
  return chain(ops, h, z, (t) => p.unpatch(ops, t));
}
