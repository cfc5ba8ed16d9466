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

/**
 * Wan2.2's latent statistics (48 channels; `Wan2_2_VAE` in wan/modules/vae2_2.py, and
 * diffusers' AutoencoderKLWan config of Wan2.2), for its TI2V models.
 */
export const WAN22_LATENT_STATS: LatentStats = {
  mean: [
    -0.2289,
    -0.0052,
    -0.1323,
    -0.2339,
    -0.2799,
    0.0174,
    0.1838,
    0.1557,
    -0.1382,
    0.0542,
    0.2813,
    0.0891,
    0.157,
    -0.0098,
    0.0375,
    -0.1825,
    -0.2246,
    -0.1207,
    -0.0698,
    0.5109,
    0.2665,
    -0.2108,
    -0.2158,
    0.2502,
    -0.2055,
    -0.0322,
    0.1109,
    0.1567,
    -0.0729,
    0.0899,
    -0.2799,
    -0.123,
    -0.0313,
    -0.1649,
    0.0117,
    0.0723,
    -0.2839,
    -0.2083,
    -0.052,
    0.3748,
    0.0152,
    0.1957,
    0.1433,
    -0.2944,
    0.3573,
    -0.0548,
    -0.1681,
    -0.0667,
  ],
  std: [
    0.4765,
    1.0364,
    0.4514,
    1.1677,
    0.5313,
    0.499,
    0.4818,
    0.5013,
    0.8158,
    1.0344,
    0.5894,
    1.0901,
    0.6885,
    0.6165,
    0.8454,
    0.4978,
    0.5759,
    0.3523,
    0.7135,
    0.6804,
    0.5833,
    1.4146,
    0.8986,
    0.5659,
    0.7069,
    0.5338,
    0.4889,
    0.4917,
    0.4069,
    0.4999,
    0.6866,
    0.4093,
    0.5709,
    0.6065,
    0.6415,
    0.4944,
    0.5726,
    1.2042,
    0.5458,
    1.6887,
    0.3971,
    1.06,
    0.3943,
    0.5537,
    0.5444,
    0.4089,
    0.7468,
    0.7744,
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
  /** z_dim (16 in Wan2.1, 48 in Wan2.2). */
  latentChannels: number;
  /** 8 in Wan2.1, 16 in Wan2.2 (its 2x2 patch included). */
  spatialCompression: number;
  /** 4 in Wan2.1. */
  temporalCompression: number;
  /** The encoder's first conv's width, the decoder's last (96 in Wan2.1; 160, 256 in Wan2.2). */
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
