/**
 * Small helpers for writing a network as a chain of ops that owns its intermediates.
 * @module
 */

import type { Ops, Tensor } from "../backends/ops.ts";

/** Called with intermediate results named like the reference's modules (tests use it). */
export type Probe = (name: string, t: Tensor) => Promise<void> | void;

/** Anything with a forward step. */
export interface Step {
  forward(ops: Ops, x: Tensor): Tensor;
}

/**
 * Runs `step` on `x` and releases `x`, unless `x` is the caller's tensor (`keep`) or the step
 * returned it unchanged (an identity resampler).
 */
export function chain(ops: Ops, x: Tensor, keep: Tensor, step: (x: Tensor) => Tensor): Tensor {
  const y = step(x);
  if (x !== keep && y !== x) ops.release(x);
  return y;
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
