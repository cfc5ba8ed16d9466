/**
 * Turning host weight arrays into backend parameters.
 * @module
 */

import type { ConvWeights, NormWeights, Uploader } from "../backends/ops.ts";
import type { WeightReader } from "../weights/checkpoint.ts";

/** Uploads a conv's weight ([Cout, Cin, (kt,) kh, kw]) and bias ([Cout]). */
export function convParams(
  ops: Uploader,
  weight: Float32Array,
  shape: readonly number[],
  bias: Float32Array,
): ConvWeights {
  const [cout, cin, ...k] = shape;
  const kernel: [number, number, number] = k.length === 3
    ? [k[0], k[1], k[2]]
    : [1, k[0] ?? 1, k[1] ?? 1];
  if (bias.length !== cout) {
    throw new Error(`Conv bias has ${bias.length} values, expected ${cout}`);
  }
  return {
    weight: ops.upload({ data: weight, shape: [cout, cin * kernel[0] * kernel[1] * kernel[2]] }),
    bias: ops.upload({ data: bias, shape: [cout] }),
    cout,
    cin,
    kernel,
  };
}

/** Uploads GroupNorm's affine parameters, interleaved as the kernels read them. */
export function normParams(
  ops: Uploader,
  gamma: Float32Array,
  beta: Float32Array,
  groups: number,
  eps = 1e-6,
): NormWeights {
  const channels = gamma.length;
  const gb = new Float32Array(2 * channels);
  for (let c = 0; c < channels; c++) {
    gb[2 * c] = gamma[c];
    gb[2 * c + 1] = beta[c];
  }
  return { gammaBeta: ops.upload({ data: gb, shape: [channels, 2] }), channels, groups, eps };
}

/**
 * q, k and v of an attention block (three 1x1 convs of the same input) as one conv with 3C
 * outputs, so they cost one GEMM; or the `heads` asked for, in that order (k and v alone: what
 * a temporal attention's cache keeps). `name` gives each tensor's checkpoint name.
 */
export function loadPackedQkv(
  up: Uploader,
  w: WeightReader,
  name: (which: "q" | "k" | "v", part: "weight" | "bias") => string,
  c: number,
  kernel: readonly number[],
  heads: readonly ("q" | "k" | "v")[] = ["q", "k", "v"],
): ConvWeights {
  const weight = new Float32Array(heads.length * c * c);
  const bias = new Float32Array(heads.length * c);
  heads.forEach((which, i) => {
    weight.set(w.take(name(which, "weight"), [c, c, ...kernel]), i * c * c);
    bias.set(w.take(name(which, "bias"), [c]), i * c);
  });
  return convParams(up, weight, [heads.length * c, c, ...kernel], bias);
}
