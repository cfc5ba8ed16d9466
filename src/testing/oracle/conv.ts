/**
 * Convolution as the reference's layers compute it, in float64: 3D (images are videos with
 * T = 1), channels-first, with causal time padding (frame 0 replicated, as CausalConv3d pads) and
 * zero spatial padding, strides and asymmetric padding as the downsamplers use them.
 * @module
 */

/** A convolution's weights and geometry. */
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
