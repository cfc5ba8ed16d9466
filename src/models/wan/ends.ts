/**
 * The layers both Wan VAEs (2.1 and 2.2) have alike at the latent end, written once: the
 * encoder after its levels (middle, head, the mean half of the last conv) and the decoder
 * before its levels (the first convs, middle), the latent statistics folded into the convs
 * next to the latent. What differs between the versions (the levels, Wan2.2's 2x2 patch at the
 * pixel end) is in ./network.ts and ./network22.ts.
 * @module
 */

import type { Ops, Tensor, Uploader } from "../../backends/ops.ts";
import type { WeightReader } from "../../weights/checkpoint.ts";
import type { Step } from "../graph.ts";
import { WanCausalConv } from "../../nn/wan_conv.ts";
import { wanAttention, wanConvStep, wanHead, WanResidualBlock } from "../../nn/wan_blocks.ts";
import { localStream } from "../../nn/stream.ts";
import { checkStats, type LatentStats } from "./latent.ts";

/**
 * The encoder's last conv (`conv1`, 1x1x1 over the head's 2 x z channels), of which the first z
 * outputs are the latent's mean, with `stats` folded in where the latent is normalised:
 * (W x + b - mean) / std, row by row.
 */
function latentMeanConv(
  up: Uploader,
  w: WeightReader,
  stats: LatentStats | null,
): { z2: number; mean: WanCausalConv } {
  const z2 = w.shape("encoder.head.2.weight")[0];
  if (z2 % 2 !== 0) {
    throw new Error(
      `Cannot load encoder: "${w.source}" has a head of ${z2} channels; it gives the mean and log-variance, 2 x z`,
    );
  }
  const z = z2 / 2;
  if (stats) checkStats(stats, z);
  const normalize = stats
    ? (weight: Float32Array, bias: Float32Array) => {
      for (let o = 0; o < z; o++) {
        const s = 1 / stats.std[o];
        for (let i = 0; i < z2; i++) weight[o * z2 + i] *= s;
        bias[o] = (bias[o] - stats.mean[o]) * s;
      }
    }
    : undefined;
  return { z2, mean: new WanCausalConv(up, w, "conv1", z2, z2, [1, 1, 1], [0, z], normalize) };
}

/**
 * The decoder's first conv (`conv2`, 1x1x1 over the z latent channels), with `stats` folded in
 * where the latent is normalised: W (std x + mean) + b, columns scaled and W mean added to the
 * bias.
 */
function latentConv(
  up: Uploader,
  w: WeightReader,
  stats: LatentStats | null,
): { z: number; conv2: WanCausalConv } {
  const z = w.shape("conv2.weight")[0];
  if (stats) checkStats(stats, z);
  const denormalize = stats
    ? (weight: Float32Array, bias: Float32Array) => {
      for (let o = 0; o < z; o++) {
        let shift = 0;
        for (let i = 0; i < z; i++) {
          shift += weight[o * z + i] * stats.mean[i];
          weight[o * z + i] *= stats.std[i];
        }
        bias[o] += shift;
      }
    }
    : undefined;
  return { z, conv2: new WanCausalConv(up, w, "conv2", z, z, [1, 1, 1], [0, z], denormalize) };
}

/** The middle: residual block, attention, residual block (`${prefix}.0` to `.2`). */
function middle(up: Uploader, w: WeightReader, prefix: string, c: number): Step[] {
  return [
    new WanResidualBlock(up, w, `${prefix}.0`, c, c),
    wanAttention(up, w, `${prefix}.1`, c),
    new WanResidualBlock(up, w, `${prefix}.2`, c, c),
  ];
}

/** A 1x1x1 conv as a step (per frame: its stream is itself). */
function pointwise(conv: WanCausalConv): Step {
  const forward = (ops: Ops, x: Tensor) => conv.forward(ops, x);
  return { forward, stream: () => localStream(forward) };
}

/**
 * The encoder's steps after its levels, from their output `width`: middle, head (to the mean
 * and log-variance, 2 x z) and the mean half of `conv1`, normalised with `stats` if given.
 */
export function encoderEnd(
  up: Uploader,
  w: WeightReader,
  width: number,
  stats: LatentStats | null,
): { steps: Step[]; latentChannels: number } {
  const { z2, mean } = latentMeanConv(up, w, stats);
  return {
    steps: [
      ...middle(up, w, "encoder.middle", width),
      wanHead(up, w, "encoder.head", width, z2),
      pointwise(mean),
    ],
    latentChannels: z2 / 2,
  };
}

/**
 * The decoder's steps before its levels: `conv2` (1x1x1, `stats` folded in if given), `conv1`
 * (3x3x3) and the middle, at the width the levels then take.
 */
export function decoderStart(
  up: Uploader,
  w: WeightReader,
  stats: LatentStats | null,
): { steps: Step[]; latentChannels: number; width: number } {
  const { z, conv2 } = latentConv(up, w, stats);
  const width = w.shape("decoder.conv1.weight")[0];
  const conv1 = new WanCausalConv(up, w, "decoder.conv1", z, width, [3, 3, 3]);
  return {
    steps: [pointwise(conv2), wanConvStep(conv1), ...middle(up, w, "decoder.middle", width)],
    latentChannels: z,
    width,
  };
}
