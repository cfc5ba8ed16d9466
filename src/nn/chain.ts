/**
 * Running a sequence of ops that owns its intermediates.
 * @module
 */

import type { Ops, Tensor } from "../backends/ops.ts";

/**
 * Runs `step` on `x` and releases `x`, unless `x` is the caller's tensor (`keep`) or the step
 * returned it unchanged (an identity resampler).
 */
export function chain(ops: Ops, x: Tensor, keep: Tensor, step: (x: Tensor) => Tensor): Tensor {
  const y = step(x);
  if (x !== keep && y !== x) ops.release(x);
  return y;
}
