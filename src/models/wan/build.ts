/**
 * Building a Wan VAE tokenizer's networks from its checkpoint halves (the loader's Wan path,
 * ../../load.ts): each half built and fully used, the two halves checked against each other.
 * @module
 */

import type { Uploader } from "../../backends/ops.ts";
import type { TensorSource } from "../../weights/checkpoint.ts";
import { WeightReader } from "../../weights/checkpoint.ts";
import { isWanCheckpoint } from "../../weights/wan_names.ts";
import { type LatentStats, WAN21_LATENT_STATS } from "./latent.ts";
import { WanDecoder, WanEncoder } from "./network.ts";

/** How the loader asks for the latent to be normalised: Wan2.1's statistics, or given ones. */
export type NormalizeOption = boolean | LatentStats;

/**
 * Whether the halves are a Wan VAE's; throws when one is and the other is not (one tokenizer
 * runs one family).
 */
export function isWanHalves(encoder: TensorSource | null, decoder: TensorSource | null): boolean {
  const [e, d] = [encoder, decoder].map((s) => s && isWanCheckpoint(s));
  if (encoder && decoder && e !== d) {
    throw new Error(
      `Cannot load tokenizer: "${(e ? encoder : decoder).source}" holds a Wan VAE and "${
        (e ? decoder : encoder).source
      }" a Cosmos tokenizer; load the two halves of one model`,
    );
  }
  return !!(e || d);
}

/** The Wan networks of the given halves, with every tensor of each used. */
export function buildWan(
  up: Uploader,
  encoderSrc: TensorSource | null,
  decoderSrc: TensorSource | null,
  normalize: NormalizeOption = false,
  checkAllUsed: (reader: WeightReader) => void,
): { encoder: WanEncoder | null; decoder: WanDecoder | null; model: string } {
  const stats = normalize === true ? WAN21_LATENT_STATS : normalize || null;
  let encoder: WanEncoder | null = null, decoder: WanDecoder | null = null;
  if (encoderSrc) {
    const reader = new WeightReader(encoderSrc, "encoder");
    encoder = new WanEncoder(up, reader, stats);
    checkAllUsed(reader);
    reader.close();
  }
  if (decoderSrc) {
    const reader = new WeightReader(decoderSrc, "decoder");
    decoder = new WanDecoder(up, reader, stats);
    checkAllUsed(reader);
    reader.close();
  }
  const [a, b] = [encoder?.config, decoder?.config];
  if (
    a && b && (a.latentChannels !== b.latentChannels ||
      a.spatialCompression !== b.spatialCompression ||
      a.temporalCompression !== b.temporalCompression)
  ) {
    throw new Error(
      `Cannot load tokenizer: the Wan encoder (${a.latentChannels} latent channels, ${a.spatialCompression}x${a.spatialCompression}x${a.temporalCompression}) and decoder (${b.latentChannels}, ${b.spatialCompression}x${b.spatialCompression}x${b.temporalCompression}) do not belong together`,
    );
  }
  const cfg = (a ?? b)!;
  const official = cfg.baseWidth === 96 && cfg.latentChannels === 16 &&
    cfg.spatialCompression === 8 && cfg.temporalCompression === 4;
  const model = official
    ? "Wan2.1-VAE"
    : `Wan VAE (base width ${cfg.baseWidth}, ${cfg.latentChannels} latent channels, ${cfg.temporalCompression}x${cfg.spatialCompression}x${cfg.spatialCompression})`;
  return { encoder, decoder, model };
}
