/**
 * Plain TypeScript versions of the kernels, written for clarity, as the oracle for the GPU ones.
 * Shapes are channels-first; images are videos with T = 1.
 * @module
 */

export interface RefConv {
  weight: Float32Array; // [cout, cin, kt, kh, kw]
  bias: Float32Array;
  cout: number;
  cin: number;
  k: [number, number, number];
  stride?: [number, number, number];
  padLow?: [number, number];
  padHigh?: [number, number];
  padTime?: number;
}

/** 3D convolution with causal (replicate frame 0) time padding and zero spatial padding. */
export function refConv(
  x: Float32Array,
  [b, cin, t, h, w]: number[],
  c: RefConv,
): { data: Float32Array; shape: number[] } {
  const [kt, kh, kw] = c.k;
  const [st, sh, sw] = c.stride ?? [1, 1, 1];
  const [plh, plw] = c.padLow ?? [(kh - 1) / 2, (kw - 1) / 2];
  const [phh, phw] = c.padHigh ?? [(kh - 1) / 2, (kw - 1) / 2];
  const pt = c.padTime ?? kt - 1;
  const to = Math.floor((t + pt - kt) / st) + 1;
  const ho = Math.floor((h + plh + phh - kh) / sh) + 1;
  const wo = Math.floor((w + plw + phw - kw) / sw) + 1;
  const out = new Float32Array(b * c.cout * to * ho * wo);
  for (let bi = 0; bi < b; bi++) {
    for (let co = 0; co < c.cout; co++) {
      for (let oz = 0; oz < to; oz++) {
        for (let oy = 0; oy < ho; oy++) {
          for (let ox = 0; ox < wo; ox++) {
            let acc = c.bias[co];
            for (let ci = 0; ci < cin; ci++) {
              for (let dz = 0; dz < kt; dz++) {
                const iz = Math.max(0, oz * st + dz - pt);
                for (let dy = 0; dy < kh; dy++) {
                  const iy = oy * sh + dy - plh;
                  if (iy < 0 || iy >= h) continue;
                  for (let dx = 0; dx < kw; dx++) {
                    const ix = ox * sw + dx - plw;
                    if (ix < 0 || ix >= w) continue;
                    acc += c.weight[(((co * cin + ci) * kt + dz) * kh + dy) * kw + dx] *
                      x[(((bi * cin + ci) * t + iz) * h + iy) * w + ix];
                  }
                }
              }
            }
            out[(((bi * c.cout + co) * to + oz) * ho + oy) * wo + ox] = acc;
          }
        }
      }
    }
  }
  return { data: out, shape: [b, c.cout, to, ho, wo] };
}

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

/** softmax(q^T k / sqrt(C)) applied to v, over packed [B, 3C, N]; returns [B, C, N]. */
export function refAttention(qkv: Float32Array, b: number, c: number, n: number): Float32Array {
  const out = new Float32Array(b * c * n);
  const scale = 1 / Math.sqrt(c);
  const row = new Float64Array(n);
  for (let bi = 0; bi < b; bi++) {
    const base = bi * 3 * c * n;
    for (let i = 0; i < n; i++) {
      let max = -Infinity;
      for (let j = 0; j < n; j++) {
        let d = 0;
        for (let ci = 0; ci < c; ci++) {
          d += qkv[base + ci * n + i] * qkv[base + (c + ci) * n + j];
        }
        row[j] = d * scale;
        max = Math.max(max, row[j]);
      }
      let sum = 0;
      for (let j = 0; j < n; j++) sum += row[j] = Math.exp(row[j] - max);
      for (let ci = 0; ci < c; ci++) {
        let acc = 0;
        for (let j = 0; j < n; j++) acc += row[j] * qkv[base + (2 * c + ci) * n + j];
        out[(bi * c + ci) * n + i] = acc / sum;
      }
    }
  }
  return out;
}

/** One level of the reference's 2D Haar DWT (written from its definition, in float64). */
export function refHaar(x: Float32Array, [b, c, h, w]: number[]): Float32Array {
  const out = new Float32Array(x.length);
  const h2 = h / 2, w2 = w / 2;
  for (let bi = 0; bi < b; bi++) {
    for (let ci = 0; ci < c; ci++) {
      for (let i = 0; i < h2; i++) {
        for (let j = 0; j < w2; j++) {
          const at = (y: number, z: number) => x[((bi * c + ci) * h + y) * w + z];
          const a = at(2 * i, 2 * j), bb = at(2 * i, 2 * j + 1);
          const cc = at(2 * i + 1, 2 * j), d = at(2 * i + 1, 2 * j + 1);
          // Orthonormal taps 1/sqrt2 twice then /2: each band is a +-sum / 4.
          const bands = [a + bb + cc + d, a + bb - cc - d, a - bb + cc - d, a - bb - cc + d];
          bands.forEach((v, s) => {
            out[((bi * 4 * c + s * c + ci) * h2 + i) * w2 + j] = v / 4;
          });
        }
      }
    }
  }
  return out;
}

/** FSQ in float64 from the paper's definition; returns codes and indices. */
export function refFsq(
  z: Float32Array,
  b: number,
  levels: number[],
  positions: number,
): { codes: Float32Array; indices: Int32Array } {
  const d = levels.length;
  const codes = new Float32Array(z.length);
  const indices = new Int32Array(b * positions);
  for (let bi = 0; bi < b; bi++) {
    for (let p = 0; p < positions; p++) {
      let idx = 0, basis = 1;
      for (let k = 0; k < d; k++) {
        const l = levels[k];
        const halfL = (l - 1) * 1.001 / 2;
        const offset = l % 2 === 0 ? 0.5 : 0;
        const shift = Math.atanh(offset / halfL);
        const v = Math.tanh(z[(bi * d + k) * positions + p] + shift) * halfL - offset;
        // Round half to even, as torch.round does.
        let r = Math.round(v);
        if (Math.abs(v % 1) === 0.5 && r % 2 !== 0) r -= 1;
        const hw = Math.floor(l / 2);
        codes[(bi * d + k) * positions + p] = r / hw;
        idx += (r + hw) * basis;
        basis *= l;
      }
      indices[bi * positions + p] = idx;
    }
  }
  return { codes, indices };
}
