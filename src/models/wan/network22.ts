/**
 * The Wan2.2 video VAE's encoder and decoder (github:Wan-Video/Wan2.2 wan/modules/vae2_2.py,
 * `WanVAE_`), built from a state_dict's names as the reference holds them
 * (`encoder.downsamples.1.downsamples.0.residual.2.weight`, ...), on the same streaming engine
 * and blocks as Wan2.1's (./network.ts).
 *
 * Encoder: patchify (2x2 space to channel: 12 channels) -> conv1 -> residual levels
 * (../../nn/wan22_blocks.ts: blocks, resampler, AvgDown3D shortcut) -> middle -> head -> the
 * top-level 1x1x1 conv's mean half. Decoder: conv2 -> conv1 -> middle -> residual levels
 * (DupUp3D shortcuts) -> head (12 channels) -> unpatchify. 16x16 pixels and 4 frames per
 * latent value after frame 0, 48 latent channels, encoder and decoder of their own widths
 * (160 and 256), all read from the checkpoint's shapes.
 *
 * Patchified channels are laid out here as c * 4 + dh * 2 + dw (the shuffle ops' order); the
 * reference's patchify makes c * 4 + dw * 2 + dh, so the encoder's conv1 inputs and the
 * decoder head's outputs are loaded in that order (PATCH_ORDER): the same maths, no copy.
 * @module
 */

import type { Ops, Tensor, Uploader } from "../../backends/ops.ts";
import type { WeightReader } from "../../weights/checkpoint.ts";
import type { Step } from "../graph.ts";
import { WanCausalConv } from "../../nn/wan_conv.ts";
import { wanConvStep, wanHead } from "../../nn/wan_blocks.ts";
import { Wan22Level } from "../../nn/wan22_blocks.ts";
import { localStream } from "../../nn/stream.ts";
import type { LatentStats } from "./latent.ts";
import { decoderStart, encoderEnd } from "./ends.ts";
import { WanNetwork } from "./network.ts";

/** The 2x2 patch of RGB: 12 channels. */
const PATCHED = 12;
const PATCH = { time: 1, space: 2, group: 1 };

/** Our patchified channel k (c, dh, dw) is the reference's channel PATCH_ORDER[k] (c, dw, dh). */
export const PATCH_ORDER: readonly number[] = Array.from(
  { length: PATCHED },
  (_, k) => (k & ~3) | ((k & 1) << 1) | ((k >> 1) & 1),
);

/** Whether a Wan checkpoint's half is Wan2.2's (levels of blocks, not one flat list). */
export function isWan22(w: Pick<WeightReader, "has">, half: "encoder" | "decoder"): boolean {
  return w.has(
    half === "encoder"
      ? "encoder.downsamples.0.downsamples.0.residual.0.gamma"
      : "decoder.upsamples.0.upsamples.0.residual.0.gamma",
  );
}

/** A per-frame op as a step. */
function local(forward: (ops: Ops, x: Tensor) => Tensor): Step {
  return { forward, stream: () => localStream(forward) };
}

/** The levels `${prefix}.${i}` while the checkpoint has them. */
function levels(
  up: Uploader,
  w: WeightReader,
  prefix: string,
  width: number,
  down: boolean,
): { steps: Wan22Level[]; width: number } {
  const steps: Wan22Level[] = [];
  const inner = down ? "downsamples" : "upsamples";
  for (let i = 0; w.has(`${prefix}.${i}.${inner}.0.residual.0.gamma`); i++) {
    const level = new Wan22Level(up, w, `${prefix}.${i}`, width, down);
    steps.push(level);
    width = level.width;
  }
  return { steps, width };
}

/** The compressions levels give, after the 2x2 patch. */
function compression(
  steps: Wan22Level[],
): { spatialCompression: number; temporalCompression: number } {
  let space = 2, time = 1;
  for (const l of steps) {
    if (l.resamples) space *= 2;
    time *= l.fold.time;
  }
  return { spatialCompression: space, temporalCompression: time };
}

/**
 * Wan2.2's encoder: pixels [B, 3, 1 + 4k, H, W] in [-1, 1] (H, W multiples of 16) -> mean
 * [B, z, 1 + k, H / 16, W / 16]; with `stats`, (mean - stats.mean) / stats.std.
 */
export class Wan22Encoder extends WanNetwork {
  constructor(up: Uploader, w: WeightReader, stats: LatentStats | null = null) {
    const dim = w.shape("encoder.conv1.weight")[0];
    const conv1 = new WanCausalConv(
      up,
      w,
      "encoder.conv1",
      PATCHED,
      dim,
      [3, 3, 3],
      undefined,
      undefined,
      {
        input: PATCH_ORDER,
      },
    );
    const body = levels(up, w, "encoder.downsamples", dim, true);
    const end = encoderEnd(up, w, body.width, stats);
    super({
      half: "encoder",
      steps: [
        local((ops, x) => ops.spaceToChannel(x, PATCH)),
        wanConvStep(conv1),
        ...body.steps,
        ...end.steps,
      ],
      timeSteps: body.steps.filter((l) => l.fold.time > 1),
      latentChannels: end.latentChannels,
      ...compression(body.steps),
      baseWidth: dim,
    }, stats);
  }
}

/**
 * Wan2.2's decoder: latent [B, z, t, h, w] -> pixels [B, 3, 1 + 4(t - 1), 16h, 16w], not
 * clamped; with `stats`, of a normalised latent (z x std + mean, folded into the first conv).
 */
export class Wan22Decoder extends WanNetwork {
  constructor(up: Uploader, w: WeightReader, stats: LatentStats | null = null) {
    const start = decoderStart(up, w, stats);
    const body = levels(up, w, "decoder.upsamples", start.width, false);
    super({
      half: "decoder",
      steps: [
        ...start.steps,
        ...body.steps,
        wanHead(up, w, "decoder.head", body.width, PATCHED, { output: PATCH_ORDER }),
        local((ops, x) => ops.channelToSpace(x, PATCH)),
      ],
      timeSteps: body.steps.filter((l) => l.fold.time > 1),
      latentChannels: start.latentChannels,
      ...compression(body.steps),
      baseWidth: body.width,
    }, stats);
  }
}
