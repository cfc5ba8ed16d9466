/**
 * Building a Wan VAE tokenizer's networks from its checkpoint halves (the loader's Wan path,
 * ../../load.ts): each half built and fully used, the two halves checked against each other.
 * @module
 */

import type { Uploader } from "../../backends/ops.ts";
import type { TensorSource } from "../../weights/checkpoint.ts";
import { WeightReader } from "../../weights/checkpoint.ts";
import { isWanCheckpoint } from "../../weights/wan_names.ts";
import { type LatentStats, WAN21_LATENT_STATS, WAN22_LATENT_STATS } from "./latent.ts";
import { WanDecoder, WanEncoder, type WanNetwork, type WanShape } from "./network.ts";
import { isWan22, Wan22Decoder, Wan22Encoder } from "./network22.ts";

/**
 * How the loader asks for the latent to be normalised: the version's own statistics (Wan2.1's
 * or Wan2.2's), or given ones.
 */
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

/** Each half's network class: Wan2.1's, Wan2.2's. */
const NETWORKS = {
  encoder: [WanEncoder, Wan22Encoder],
  decoder: [WanDecoder, Wan22Decoder],
} as const;

/** The Wan networks of the given halves, with every tensor of each used. */
export function buildWan(
  up: Uploader,
  encoderSrc: TensorSource | null,
  decoderSrc: TensorSource | null,
  normalize: NormalizeOption = false,
  checkAllUsed: (reader: WeightReader) => void,
): { encoder: WanNetwork | null; decoder: WanNetwork | null; model: string } {
  const statsFor = (v22: boolean) =>
    normalize === true ? (v22 ? WAN22_LATENT_STATS : WAN21_LATENT_STATS) : normalize || null;
  const build = (src: TensorSource | null, half: "encoder" | "decoder"): WanNetwork | null => {
    if (!src) return null;
    const reader = new WeightReader(src, half);
    const v22 = isWan22(reader, half);
    const network = new NETWORKS[half][v22 ? 1 : 0](up, reader, statsFor(v22));
    checkAllUsed(reader);
    reader.close();
    return network;
  };
  const encoder = build(encoderSrc, "encoder");
  const decoder = build(decoderSrc, "decoder");
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
  return { encoder, decoder, model: wanModelName((a ?? b)!) };
}

/** "Wan2.1-VAE" / "Wan2.2-VAE" for their architectures, else a description of the one given. */
export function wanModelName(c: WanShape & { baseWidth: number; half?: string }): string {
  const is = (width: number, z: number, s: number) =>
    c.baseWidth === width && c.latentChannels === z && c.spatialCompression === s &&
    c.temporalCompression === 4;
  if (is(96, 16, 8)) return "Wan2.1-VAE";
  // Wan2.2's encoder starts at 160 channels, its decoder ends at 256.
  if (is(c.half === "decoder" ? 256 : 160, 48, 16)) return "Wan2.2-VAE";
  return `Wan VAE (base width ${c.baseWidth}, ${c.latentChannels} latent channels, ${c.temporalCompression}x${c.spatialCompression}x${c.spatialCompression})`;
}

/**
 * A Wan half's shape from its tensor names and shapes alone (`cosmos info`: nothing is
 * uploaded or checked beyond what it reads).
 */
export function describeWanHalf(
  src: TensorSource,
  half: "encoder" | "decoder",
): WanShape & { baseWidth: number; half: "encoder" | "decoder" } {
  // Wan2.2's resamplers sit inside its levels (`encoder.downsamples.i.downsamples.j`), after
  // its 2x2 patch.
  const level = half === "encoder" ? "encoder\\.downsamples" : "decoder\\.upsamples";
  const inner = half === "encoder" ? "downsamples" : "upsamples";
  const at = `^${level}\\.\\d+\\.(?:${inner}\\.\\d+\\.)?`;
  const resample = new RegExp(`${at}resample\\.1\\.weight$`);
  const time = new RegExp(`${at}time_conv\\.weight$`);
  const names = src.names();
  const shape = (name: string) => src.shape(name)?.[0] ?? 0;
  const patch = isWan22({ has: (n) => src.shape(n) !== undefined }, half) ? 2 : 1;
  return {
    latentChannels: half === "encoder" ? shape("encoder.head.2.weight") / 2 : shape("conv2.weight"),
    spatialCompression: patch * 2 ** names.filter((n) => resample.test(n)).length,
    temporalCompression: 2 ** names.filter((n) => time.test(n)).length,
    baseWidth: half === "encoder"
      ? shape("encoder.conv1.weight")
      : src.shape("decoder.head.2.weight")?.[1] ?? 0,
    half,
  };
}
