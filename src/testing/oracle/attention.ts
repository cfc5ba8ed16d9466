/**
 * Attention as the reference's attention blocks compute it, in float64, over packed q/k/v:
 * spatial (AttnBlock, and CausalAttnBlock per frame) and causal temporal
 * (CausalTemporalAttnBlock, per pixel).
 * @module
 */

import { at5, type RefTensor, refTensor } from "./tensor.ts";

/** softmax_j(q . k_j / sqrt(C)) over the allowed keys, applied to the values. */
function attend(q: number[], keys: number[][], values: number[][]): number[] {
  const scale = 1 / Math.sqrt(q.length);
  const s = keys.map((k) => k.reduce((acc, kc, c) => acc + kc * q[c], 0) * scale);
  const max = Math.max(...s);
  const e = s.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, v) => a + v, 0);
  return q.map((_, c) => values.reduce((acc, v, j) => acc + e[j] * v[c], 0) / sum);
}

/**
 * Attention over packed q/k/v [B, 3C, T, H, W] -> [B, C, T, H, W].
 * "spatial" (CausalAttnBlock, time2batch): per (b, frame), every position attends to all H*W
 * positions of that frame. "temporal" (CausalTemporalAttnBlock, space2batch): per (b, pixel),
 * frame t attends to frames s <= t (the tril mask).
 */
export function refAttention3d(qkv: RefTensor, kind: "spatial" | "temporal"): RefTensor {
  const [b, c3, t, h, w] = qkv.shape;
  const c = c3 / 3;
  // The C-vector of part `part` (0 q, 1 k, 2 v) at (bi, ti, pixel).
  const vec = (part: number, bi: number, ti: number, pix: number) =>
    Array.from(
      { length: c },
      (_, ci) => at5(qkv, bi, part * c + ci, ti, Math.floor(pix / w), pix % w),
    );
  const n = h * w;
  const out = new Float64Array(b * c * t * n);
  for (let bi = 0; bi < b; bi++) {
    for (let ti = 0; ti < t; ti++) {
      for (let pix = 0; pix < n; pix++) {
        const q = vec(0, bi, ti, pix);
        let keys: number[][], values: number[][];
        if (kind === "spatial") {
          keys = Array.from({ length: n }, (_, j) => vec(1, bi, ti, j));
          values = Array.from({ length: n }, (_, j) => vec(2, bi, ti, j));
        } else {
          keys = Array.from({ length: ti + 1 }, (_, s) => vec(1, bi, s, pix));
          values = Array.from({ length: ti + 1 }, (_, s) => vec(2, bi, s, pix));
        }
        attend(q, keys, values).forEach((v, ci) => {
          out[((bi * c + ci) * t + ti) * n + pix] = v;
        });
      }
    }
  }
  return { data: out, shape: [b, c, t, h, w] };
}

/**
 * Image attention on bare data: softmax(q^T k / sqrt(C)) applied to v over packed [B, 3C, N],
 * returning [B, C, N] as float32 (an image is a one-frame video of N pixels for the reference).
 */
export function refAttention(qkv: Float32Array, b: number, c: number, n: number): Float32Array {
  return Float32Array.from(refAttention3d(refTensor(qkv, [b, 3 * c, 1, 1, n]), "spatial").data);
}
