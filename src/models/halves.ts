/**
 * The configuration of each half of a checkpoint, worked out in one place for the loader,
 * `cosmos info` and `convert`: the compression a video tokenizer's weights do not show is taken
 * from the variant a model name resolved to, else from the checkpoint's metadata, else from the
 * caller; then each half's architecture is read off its weights by half and kind (config.ts).
 * @module
 */

import type { TensorSource } from "../weights/checkpoint.ts";
import { isAutoencoder, splitHalves } from "../weights/torchscript.ts";
import {
  detectHalf,
  type HalfConfig,
  inferImageDecoder,
  inferImageEncoder,
  inferVideoDecoder,
  inferVideoEncoder,
  isVideoCheckpoint,
  type VideoCompression,
} from "./config.ts";
import type { Architecture, VariantSpec } from "./variants.ts";

/** A checkpoint half and the part it is to play (its parameters must be that half's). */
export interface CheckpointHalf {
  half: "encoder" | "decoder";
  src: TensorSource;
}

/** Where a video tokenizer's compression may come from, besides the checkpoint's metadata. */
export interface InferOptions {
  /** The variant the model name resolved to: a video variant's compression comes first. */
  variant?: VariantSpec;
  /** The caller's compression, used when neither the variant nor the metadata gives one. */
  compression?: VideoCompression;
}

/** Compression factors recorded in a checkpoint's metadata (the fixtures' and our converter's). */
export function compressionFromMetadata(src: TensorSource): VideoCompression | null {
  const raw = src.metadata?.config;
  if (!raw) return null;
  try {
    const cfg = JSON.parse(raw);
    if (Number.isInteger(cfg.spatial_compression) && Number.isInteger(cfg.temporal_compression)) {
      return {
        spatial: cfg.spatial_compression,
        temporal: cfg.temporal_compression,
        legacyMode: cfg.legacy_mode === true,
      };
    }
  } catch {
    // Metadata that is not JSON says nothing about the architecture.
  }
  return null;
}

/** A video tokenizer's compression: the variant's, the first recorded one, or the caller's. */
function videoCompression(
  halves: readonly CheckpointHalf[],
  options: InferOptions,
): VideoCompression | null {
  const { variant } = options;
  if (variant?.kind === "video") {
    return { spatial: variant.spatialCompression, temporal: variant.temporalCompression };
  }
  for (const { src } of halves) {
    const recorded = compressionFromMetadata(src);
    if (recorded) return recorded;
  }
  return options.compression ?? null;
}

/** One half's architecture; `comp` (null for an image tokenizer) chooses the video inference. */
function inferHalf(
  { half, src }: CheckpointHalf,
  comp: VideoCompression | null,
): HalfConfig {
  if (comp) return half === "encoder" ? inferVideoEncoder(src, comp) : inferVideoDecoder(src, comp);
  return half === "encoder" ? inferImageEncoder(src) : inferImageDecoder(src);
}

/**
 * The configuration of each half, in order. A video tokenizer's halves (any half with video
 * weights makes it one) share one compression; null when nothing gives it, for the caller to say
 * so in its own words.
 */
export function inferHalves(
  halves: readonly CheckpointHalf[],
  options: InferOptions = {},
): HalfConfig[] | null {
  let comp: VideoCompression | null = null;
  if (halves.some((h) => isVideoCheckpoint(h.src))) {
    comp = videoCompression(halves, options);
    if (!comp) return null;
  }
  return halves.map((h) => inferHalf(h, comp));
}

/**
 * The halves one checkpoint file holds: both of a whole autoencoder, or the one it has; null
 * when it holds neither.
 */
export function halvesOf(src: TensorSource): CheckpointHalf[] | null {
  if (isAutoencoder(src)) {
    const { encoder, decoder } = splitHalves(src);
    return [{ half: "encoder", src: encoder }, { half: "decoder", src: decoder }];
  }
  const half = detectHalf(src);
  return half ? [{ half, src }] : null;
}

/** What a half's configuration says about the variant it belongs to. */
export function architectureOf(cfg: HalfConfig): Architecture {
  return {
    kind: cfg.kind,
    discrete: cfg.fsqLevels !== null,
    spatialCompression: cfg.spatialCompression,
    temporalCompression: cfg.kind === "video" ? cfg.temporalCompression : 1,
  };
}
