/**
 * RMS norm over channels (the Wan VAE's RMS_norm: F.normalize over dim 1, times sqrt(C) and
 * gamma), optionally followed by SiLU, in float64.
 * @module
 */

/** y = x / max(||x||_C, 1e-12) * sqrt(C) * gamma over [B, C, P]; optional SiLU. */
export function refRmsNorm(
  x: Float32Array,
  [b, c, p]: number[],
  gamma: Float32Array,
  silu: boolean,
): Float32Array {
  const out = new Float32Array(x.length);
  for (let bi = 0; bi < b; bi++) {
    for (let pi = 0; pi < p; pi++) {
      const idx = (ci: number) => (bi * c + ci) * p + pi;
      let sq = 0;
      for (let ci = 0; ci < c; ci++) sq += x[idx(ci)] ** 2;
      const scale = Math.sqrt(c) / Math.max(Math.sqrt(sq), 1e-12);
      for (let ci = 0; ci < c; ci++) {
        let v = x[idx(ci)] * scale * gamma[ci];
        if (silu) v = v / (1 + Math.exp(-v));
        out[idx(ci)] = v;
      }
    }
  }
  return out;
}
