/**
 * What the Wan VAE's users need beside its networks: the latent statistics the diffusion models
 * normalise with, and the configuration a tokenizer reports.
 * @module
 */

/** Per-channel statistics of a latent: the diffusion models take (mu - mean) / std. */
export interface LatentStats {
  /** One mean per latent channel. */
  mean: readonly number[];
  /** One standard deviation per latent channel (positive). */
  std: readonly number[];
}

/**
 * Wan2.1's latent statistics (16 channels; `WanVAE` in wan/modules/vae.py, and diffusers'
 * AutoencoderKLWan `latents_mean` / `latents_std`), which Cosmos-Predict2 and 2.5 use too.
 */
export const WAN21_LATENT_STATS: LatentStats = {
  mean: [
    -0.7571,
    -0.7089,
    -0.9113,
    0.1075,
    -0.1745,
    0.9653,
    -0.1517,
    1.5508,
    0.4134,
    -0.0715,
    0.5517,
    -0.3632,
    -0.1922,
    -0.9497,
    0.2503,
    -0.2921,
  ],
  std: [
    2.8184,
    1.4541,
    2.3275,
    2.6558,
    1.2196,
    1.7708,
    2.6052,
    2.0743,
    3.2687,
    2.1526,
    2.8652,
    1.5579,
    1.6382,
    1.1253,
    2.8251,
    1.916,
  ],
};

/** A Wan network's configuration, as a tokenizer reads it (the fields Cosmos' configs share). */
export interface WanConfig {
  half: "encoder" | "decoder";
  kind: "video";
  /** The family, which Cosmos' configs do not have. */
  family: "wan";
  /** A Wan VAE is continuous. */
  fsqLevels: null;
  /** z_dim (16 in Wan2.1). */
  latentChannels: number;
  /** 8 in Wan2.1. */
  spatialCompression: number;
  /** 4 in Wan2.1. */
  temporalCompression: number;
  /** The first conv's width (96 in Wan2.1). */
  baseWidth: number;
  /** The statistics the latent is normalised with, or null for the raw mean. */
  normalized: LatentStats | null;
}

/** Throws unless `stats` has `channels` means and as many positive, finite deviations. */
export function checkStats(stats: LatentStats, channels: number): void {
  const ok = (v: readonly number[], positive: boolean) =>
    Array.isArray(v) && v.length === channels &&
    v.every((x) => typeof x === "number" && Number.isFinite(x) && (!positive || x > 0));
  if (!ok(stats?.mean, false) || !ok(stats?.std, true)) {
    throw new Error(
      `Cannot normalise the latent: give ${channels} finite means and ${channels} positive, finite standard deviations (one per latent channel)`,
    );
  }
}
