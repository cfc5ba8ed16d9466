/**
 * The order of operations of every Cosmos network (image and video, encoder and decoder),
 * written once as a chain of steps that owns its intermediates. A network runs whole
 * (`forward` of each step over the whole input) or, for video, as one temporal step of a
 * stream (each step's `stream()` carrying its state between calls): the same order either way.
 * @module
 */

import type { Ops, Tensor } from "../backends/ops.ts";
import type { StepStream } from "../nn/stream.ts";

/** Called with intermediate results named like the reference's modules (tests use it). */
export type Probe = (name: string, t: Tensor) => Promise<void> | void;

/** A layer (or a fused run of layers) of a network. */
export interface Step {
  /** The layer over the whole input. */
  forward(ops: Ops, x: Tensor): Tensor;
  /**
   * `forward` of an input the layer may release: it does so as soon as nothing more reads it
   * (before the layer's last tensors are made: a lower peak). Optional: without it the input
   * is released after `forward`.
   */
  forwardOwning?(ops: Ops, x: Tensor): Tensor;
  /** A run of the layer over a video arriving in temporal steps (video layers only). */
  stream?(): StepStream;
}

/**
 * How a network applies each of its steps: whole, or as one step of a stream. With `owned`,
 * `x` is the network's intermediate: released by the time the step returns (unless the step
 * returned it, as an identity resampler does); otherwise it is the caller's and kept.
 */
export type RunStep = (step: Step, x: Tensor, owned: boolean) => Tensor;

/** `plain(x)`, or `owning(x)` when `x` is owned and the layer can release it itself. */
function applyStep(
  ops: Ops,
  x: Tensor,
  owned: boolean,
  plain: (x: Tensor) => Tensor,
  owning?: (x: Tensor) => Tensor,
): Tensor {
  if (owned && owning) return owning(x);
  const y = plain(x);
  if (owned && y !== x) ops.release(x);
  return y;
}

/** Every step over the whole input. */
export function runWhole(ops: Ops): RunStep {
  return (step, x, owned) =>
    applyStep(
      ops,
      x,
      owned,
      (t) => step.forward(ops, t),
      step.forwardOwning && ((t) => step.forwardOwning!(ops, t)),
    );
}

/**
 * One run of a network over a video arriving in temporal steps: `run` applies each of the
 * network's steps through that step's own stream, created on first use; `release` frees what
 * every stream carries.
 */
export class StreamRun {
  #streams = new Map<Step, StepStream>();
  constructor(readonly ops: Ops) {}

  readonly run: RunStep = (step, x, owned) => {
    let s = this.#streams.get(step);
    if (!s) {
      if (!step.stream) throw new Error("Cannot stream: a step of this network has no stream");
      s = step.stream();
      this.#streams.set(step, s);
    }
    const stream = s;
    return applyStep(
      this.ops,
      x,
      owned,
      (t) => stream.step(this.ops, t),
      stream.stepOwning && ((t) => stream.stepOwning!(this.ops, t)),
    );
  };

  /**
   * Frees every stream's carried state, once (again it does nothing). After a failed step a
   * layer may hold a tensor it had released already: every other layer's state is still freed,
   * and the first error thrown after.
   */
  release(): void {
    const streams = [...this.#streams.values()];
    this.#streams.clear();
    let first: unknown;
    for (const s of streams) {
      try {
        s.release(this.ops);
      } catch (err) {
        first ??= err;
      }
    }
    if (first !== undefined) throw first;
  }
}

/** The middle of every Cosmos network: ResNet block, attention, ResNet block. */
export interface Mid {
  block1: Step;
  attn: Step;
  block2: Step;
}

async function runMid(
  run: RunStep,
  mid: Mid,
  x: Tensor,
  keep: Tensor,
  name: string,
  probe?: Probe,
): Promise<Tensor> {
  let h = run(mid.block1, x, x !== keep);
  h = run(mid.attn, h, h !== keep);
  await probe?.(`${name}.mid.attn_1`, h);
  return run(mid.block2, h, h !== keep);
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
  run: RunStep,
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
      h = run(block, h, h !== keep);
      if (level.attn.length) h = run(level.attn[j], h, h !== keep);
      if (probeFirst && i === order[0] && j === 0) await probe?.(probeFirst, h);
    }
    const resample = level.resample;
    if (resample) h = run(resample, h, h !== keep);
  }
  return h;
}

/** The parts of an encoder, image or video. */
export interface EncoderParts {
  /** Reference module name of the patcher, for probes. */
  patcherName: string;
  /** The Haar patcher (it may return its input: patch size 1). */
  patch: Step;
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
  run: RunStep = runWhole(ops),
): Promise<Tensor> {
  let h = run(p.patch, x, false);
  await probe?.(p.patcherName, h);
  h = run(p.convIn, h, h !== x);
  await probe?.("encoder.conv_in", h);
  const order = p.levels.map((_, i) => i);
  h = await runLevels(run, p.levels, order, h, x, "encoder.down.0.block.0", probe);
  h = await runMid(run, p.mid, h, x, "encoder", probe);
  h = run(p.out, h, h !== x);
  await probe?.("encoder", h);
  h = run(p.quantConv, h, h !== x);
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
  /** The inverse Haar patcher (it may return its input: patch size 1). */
  unpatch: Step;
}

/** Latent (or FSQ codes) -> pixels, releasing every intermediate. */
export async function runDecoder(
  ops: Ops,
  p: DecoderParts,
  z: Tensor,
  probe?: Probe,
  run: RunStep = runWhole(ops),
): Promise<Tensor> {
  let h = run(p.postQuantConv, z, false);
  await probe?.("post_quant_conv", h);
  h = run(p.convIn, h, h !== z);
  await probe?.("decoder.conv_in", h);
  h = await runMid(run, p.mid, h, z, "decoder", probe);
  const order = p.levels.map((_, i) => i).reverse();
  h = await runLevels(run, p.levels, order, h, z, null, probe);
  h = run(p.out, h, h !== z);
  await probe?.("decoder.conv_out", h);
  return run(p.unpatch, h, h !== z);
}
