/**
 * GroupNorm (optionally followed by SiLU) as the reference's normalisation layers compute it, in
 * float64: statistics per batch item, group and frame (per frame is how the video models'
 * CausalNormalize applies it; images have one frame).
 * @module
 */

/** GroupNorm over [B, C, F, S] with statistics per (b, f, group); optional SiLU. */
export function refGroupNorm(
  x: Float32Array,
  [b, c, f, s]: number[],
  gamma: Float32Array,
  beta: Float32Array,
  groups: number,
  eps: number,
  silu: boolean,
): Float32Array {
  const out = new Float32Array(x.length);
  const cpg = c / groups;
  for (let bi = 0; bi < b; bi++) {
    for (let fi = 0; fi < f; fi++) {
      for (let g = 0; g < groups; g++) {
        let sum = 0, sq = 0;
        const idx = (ci: number, si: number) => ((bi * c + ci) * f + fi) * s + si;
        for (let ci = g * cpg; ci < (g + 1) * cpg; ci++) {
          for (let si = 0; si < s; si++) sum += x[idx(ci, si)];
        }
        const mean = sum / (cpg * s);
        for (let ci = g * cpg; ci < (g + 1) * cpg; ci++) {
          for (let si = 0; si < s; si++) sq += (x[idx(ci, si)] - mean) ** 2;
        }
        const rstd = 1 / Math.sqrt(sq / (cpg * s) + eps);
        for (let ci = g * cpg; ci < (g + 1) * cpg; ci++) {
          for (let si = 0; si < s; si++) {
            let v = (x[idx(ci, si)] - mean) * rstd * gamma[ci] + beta[ci];
            if (silu) v = v / (1 + Math.exp(-v));
            out[idx(ci, si)] = v;
          }
        }
      }
    }
  }
  return out;
}
