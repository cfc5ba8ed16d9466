/**
 * The configuration of each half of a checkpoint, worked out in one place for the loader,
 * `cosmos info` and `convert`: the compression a video tokenizer's weights do not show is taken
 * from its TorchScript archive's traced code (traced_code.ts), else from the variant a model name
 * resolved to, else from an official name of the folder or repo it came from, else from the
 * checkpoint's metadata, else from the caller; then each half's architecture is read off its
 * weights by half and kind (config.ts), and checked against what the traced code says each
 * level runs.
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
import type { TracedHalf } from "../weights/traced_code.ts";

/** A checkpoint half and the part it is to play (its parameters must be that half's). */
export interface CheckpointHalf {
  half: "encoder" | "decoder";
  src: TensorSource;
}

/** Where a video tokenizer's compression may come from, besides the checkpoint's metadata. */
export interface InferOptions {
  /** The variant the model name resolved to: a video variant's compression comes first. */
  variant?: VariantSpec;
  /**
   * The variant an official folder or repo name ("Cosmos-0.1-Tokenizer-DV4x8x8/encoder.jit")
   * stands for: a video variant's compression is used after the model name's, and not checked.
   */
  nameHint?: VariantSpec;
  /** The caller's compression, used when nothing above gives one. */
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

/** The traced code's reading of a half, when its archive has one. */
function tracedOf({ half, src }: CheckpointHalf): TracedHalf | undefined {
  return src.traced?.[half];
}

/** What the traced code of the halves says, once the halves are checked to agree. */
function tracedCompression(halves: readonly CheckpointHalf[]): VideoCompression | null {
  let first: { h: CheckpointHalf; t: TracedHalf } | null = null;
  for (const h of halves) {
    const t = tracedOf(h);
    if (!t) continue;
    if (first && (first.t.spatial !== t.spatial || first.t.temporal !== t.temporal)) {
      const say = (x: TracedHalf) => `${x.temporal}x${x.spatial}x${x.spatial}`;
      throw new Error(
        `Cannot load tokenizer: the traced code of ${first.h.half} "${first.h.src.source}" says ${
          say(first.t)
        } and that of ${h.half} "${h.src.source}" says ${say(t)}; they do not belong together`,
      );
    }
    first ??= { h, t };
  }
  return first && { spatial: first.t.spatial, temporal: first.t.temporal };
}

/** A video variant's compression, if `v` is one. */
function variantCompression(v: VariantSpec | undefined): VideoCompression | null {
  return v?.kind === "video"
    ? { spatial: v.spatialCompression, temporal: v.temporalCompression }
    : null;
}

/**
 * A video tokenizer's compression: the traced code's, the variant's, the name hint's, the first
 * recorded one, or the caller's.
 */
function videoCompression(
  halves: readonly CheckpointHalf[],
  options: InferOptions,
): VideoCompression | null {
  const named = tracedCompression(halves) ?? variantCompression(options.variant) ??
    variantCompression(options.nameHint);
  if (named) return named;
  for (const { src } of halves) {
    const recorded = compressionFromMetadata(src);
    if (recorded) return recorded;
  }
  return options.compression ?? null;
}

/** One half's architecture; `comp` (null for an image tokenizer) chooses the video inference. */
function inferHalf(h: CheckpointHalf, comp: VideoCompression | null): HalfConfig {
  const { half, src } = h;
  if (!comp) return half === "encoder" ? inferImageEncoder(src) : inferImageDecoder(src);
  if (half === "encoder") return checkTraced(h, inferVideoEncoder(src, comp));
  const traced = tracedOf(h);
  const cfg = inferVideoDecoder(src, comp);
  // The reference's legacy_mode moves the decoder's temporal upsampling one level: what the
  // traced code shows each level running tells which one the checkpoint was made with.
  if (traced && !comp.legacyMode && !resamplersMatch(cfg, traced)) {
    const legacy = inferVideoDecoder(src, { ...comp, legacyMode: true });
    if (resamplersMatch(legacy, traced)) return legacy;
  }
  return checkTraced(h, cfg);
}

/** Whether each level of `cfg` resamples as the traced code shows. */
function resamplersMatch(cfg: HalfConfig, traced: TracedHalf): boolean {
  if (cfg.kind !== "video") return false;
  const levels = cfg.half === "encoder" ? cfg.levelDown : cfg.levelUp;
  return traced.resamplers.every((r) => {
    const want = levels[r.level] ?? { spatial: false, temporal: false };
    return want.spatial === r.spatial && want.temporal === r.temporal;
  });
}

/** `cfg`, once checked against the traced code of its half (patch size, each resampler). */
function checkTraced(h: CheckpointHalf, cfg: HalfConfig): HalfConfig {
  const traced = tracedOf(h);
  if (!traced) return cfg;
  const fail = (detail: string): never => {
    throw new Error(`Cannot load ${h.half}: the traced code of "${h.src.source}" ${detail}`);
  };
  if (cfg.patchSize !== traced.patchSize) {
    fail(
      `patches by ${traced.patchSize}, but its weights are those of patch size ${cfg.patchSize}`,
    );
  }
  if (!resamplersMatch(cfg, traced)) {
    const runs = traced.resamplers.map((r) =>
      `level ${r.level}: ${
        [r.spatial && "space", r.temporal && "time"].filter(Boolean).join(" and ") || "nothing"
      }`
    );
    const t = cfg.kind === "video" ? cfg.temporalCompression : 1, s = cfg.spatialCompression;
    fail(
      `resamples ${
        runs.join(", ")
      }, which no ${t}x${s}x${s} tokenizer does; the archive is not a Cosmos tokenizer's`,
    );
  }
  return cfg;
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
