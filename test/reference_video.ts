/**
 * Plain float64 TypeScript versions of the video ops, written for clarity from the reference
 * (Cosmos-Tokenizer's Patcher3D / UnPatcher3D, CausalHybridDownsample3d /
 * CausalHybridUpsample3d, CausalAttnBlock and CausalTemporalAttnBlock), as the oracle for the
 * GPU kernels. Tensors are channels-first [B, C, T, H, W].
 * @module
 */

/** A float64 tensor. */
export interface RefTensor {
  data: Float64Array;
  shape: number[];
}

function prod(xs: readonly number[]): number {
  return xs.reduce((a, b) => a * b, 1);
}

/** Wraps host data (any precision) as a float64 tensor. */
export function refTensor(data: ArrayLike<number>, shape: number[]): RefTensor {
  if (data.length !== prod(shape)) {
    throw new Error(`${data.length} values do not fill shape [${shape}]`);
  }
  return { data: Float64Array.from(data), shape: [...shape] };
}

/** Splits a shape around `axis`: (elements before it, its extent, elements after it). */
function around(shape: number[], axis: number): [number, number, number] {
  return [prod(shape.slice(0, axis)), shape[axis], prod(shape.slice(axis + 1))];
}

/** `count` entries of `axis` starting at `start`. */
export function refSlice(x: RefTensor, axis: number, start: number, count: number): RefTensor {
  const [outer, n, inner] = around(x.shape, axis);
  const shape = [...x.shape];
  shape[axis] = count;
  const data = new Float64Array(outer * count * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < count; i++) {
      for (let k = 0; k < inner; k++) {
        data[(o * count + i) * inner + k] = x.data[(o * n + start + i) * inner + k];
      }
    }
  }
  return { data, shape };
}

/** Concatenation along `axis` (torch.cat). */
export function refConcat(xs: RefTensor[], axis: number): RefTensor {
  const shape = [...xs[0].shape];
  shape[axis] = xs.reduce((a, x) => a + x.shape[axis], 0);
  const [outer, total, inner] = around(shape, axis);
  const data = new Float64Array(outer * total * inner);
  let offset = 0;
  for (const x of xs) {
    const n = x.shape[axis];
    for (let o = 0; o < outer; o++) {
      for (let i = 0; i < n; i++) {
        for (let k = 0; k < inner; k++) {
          data[(o * total + offset + i) * inner + k] = x.data[(o * n + i) * inner + k];
        }
      }
    }
    offset += n;
  }
  return { data, shape };
}

const R = Math.SQRT1_2;

/**
 * The two-tap Haar analysis filter along `axis` with stride 2: pairs (a, b) = (x[2i], x[2i + 1])
 * give low (a + b) / sqrt2 or high (a - b) / sqrt2. As in Patcher3D._dwt, the axis is first
 * reflect-padded by one at the end, which only matters for an odd extent n: the last pair is
 * then (x[n - 1], x[n - 2]) and there are (n + 1) / 2 outputs.
 */
function analyse(x: RefTensor, axis: number, high: boolean): RefTensor {
  const [outer, n, inner] = around(x.shape, axis);
  const half = Math.floor((n + 1 - 2) / 2) + 1;
  const padded = (i: number) => i < n ? i : 2 * (n - 1) - i;
  const shape = [...x.shape];
  shape[axis] = half;
  const data = new Float64Array(outer * half * inner);
  const sign = high ? -1 : 1;
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < half; i++) {
      for (let k = 0; k < inner; k++) {
        const a = x.data[(o * n + padded(2 * i)) * inner + k];
        const b = x.data[(o * n + padded(2 * i + 1)) * inner + k];
        data[(o * half + i) * inner + k] = R * a + sign * R * b;
      }
    }
  }
  return { data, shape };
}

/**
 * The inverse of `analyse` along `axis` (a stride-2 transposed convolution with the same
 * taps): x[2i] = (lo + hi) / sqrt2, x[2i + 1] = (lo - hi) / sqrt2.
 */
function synthesise(lo: RefTensor, hi: RefTensor, axis: number): RefTensor {
  const [outer, half, inner] = around(lo.shape, axis);
  const n = 2 * half;
  const shape = [...lo.shape];
  shape[axis] = n;
  const data = new Float64Array(outer * n * inner);
  for (let o = 0; o < outer; o++) {
    for (let i = 0; i < half; i++) {
      for (let k = 0; k < inner; k++) {
        const l = lo.data[(o * half + i) * inner + k];
        const h = hi.data[(o * half + i) * inner + k];
        data[(o * n + 2 * i) * inner + k] = R * l + R * h;
        data[(o * n + 2 * i + 1) * inner + k] = R * l - R * h;
      }
    }
  }
  return { data, shape };
}

function scaled(x: RefTensor, s: number): RefTensor {
  return { data: x.data.map((v) => v * s), shape: x.shape };
}

const T_AXIS = 2, H_AXIS = 3, W_AXIS = 4;

/**
 * One level of Patcher3D._dwt with rescale: filter time, then height, then width; the 8
 * bands are concatenated along channels as [LLL, LLH, LHL, LHH, HLL, HLH, HHL, HHH] (letters:
 * time, height, width), and the whole is divided by 2 * sqrt2.
 */
export function refDwt3d(x: RefTensor): RefTensor {
  const bands: RefTensor[] = [];
  for (const ht of [false, true]) {
    const xt = analyse(x, T_AXIS, ht);
    for (const hh of [false, true]) {
      const xth = analyse(xt, H_AXIS, hh);
      for (const hw of [false, true]) bands.push(analyse(xth, W_AXIS, hw));
    }
  }
  return scaled(refConcat(bands, 1), 1 / (2 * Math.SQRT2));
}

/** One level of UnPatcher3D._idwt with rescale: width, then height, then time; times 2 * sqrt2. */
export function refIdwt3d(x: RefTensor): RefTensor {
  const c = x.shape[1] / 8;
  if (!Number.isInteger(c)) throw new Error(`Haar synthesis needs 8C channels, got ${x.shape}`);
  const band = (k: number) => refSlice(x, 1, k * c, c);
  // Width: (xLLL, xLLH) -> xLL, ..., (xHHL, xHHH) -> xHH.
  const [ll, lh, hl, hh] = [0, 1, 2, 3].map((k) =>
    synthesise(band(2 * k), band(2 * k + 1), W_AXIS)
  );
  // Height: (xLL, xLH) -> xL, (xHL, xHH) -> xH.
  const l = synthesise(ll, lh, H_AXIS);
  const h = synthesise(hl, hh, H_AXIS);
  // Time.
  return scaled(synthesise(l, h, T_AXIS), 2 * Math.SQRT2);
}

/**
 * Patcher3D._haar: frame 0 is repeated so that it appears 2^levels times, then `levels` DWTs.
 */
export function refHaarPatch3d(x: RefTensor, levels: number): RefTensor {
  const p = 2 ** levels;
  const first = refSlice(x, T_AXIS, 0, 1);
  let y = refConcat([...Array(p - 1).fill(first), x], T_AXIS);
  for (let l = 0; l < levels; l++) y = refDwt3d(y);
  return y;
}

/** UnPatcher3D._ihaar: `levels` inverse DWTs, then the first 2^levels - 1 frames dropped. */
export function refHaarUnpatch3d(x: RefTensor, levels: number): RefTensor {
  const p = 2 ** levels;
  let y = x;
  for (let l = 0; l < levels; l++) y = refIdwt3d(y);
  return refSlice(y, T_AXIS, p - 1, y.shape[T_AXIS] - (p - 1));
}

/** Element (b, c, t, h, w) of a rank-5 tensor, or 0 outside height/width (a zero pad). */
function at5(x: RefTensor, b: number, c: number, t: number, h: number, w: number): number {
  const [, cs, ts, hs, ws] = x.shape;
  if (h >= hs || w >= ws) return 0;
  return x.data[(((b * cs + c) * ts + t) * hs + h) * ws + w];
}

/** Builds a rank-5 tensor from a function of its indices. */
function build5(
  shape: number[],
  f: (b: number, c: number, t: number, h: number, w: number) => number,
) {
  const [bs, cs, ts, hs, ws] = shape;
  const data = new Float64Array(prod(shape));
  let i = 0;
  for (let b = 0; b < bs; b++) {
    for (let c = 0; c < cs; c++) {
      for (let t = 0; t < ts; t++) {
        for (let h = 0; h < hs; h++) {
          for (let w = 0; w < ws; w++) data[i++] = f(b, c, t, h, w);
        }
      }
    }
  }
  return { data, shape: [...shape] };
}

/**
 * CausalHybridDownsample3d's average pools. "space": zero pad one row/column at the
 * bottom/right, then a 2x2 stride-2 average (divisor 4, pad included). "time": frame 0
 * prepended (replication_pad), then frame pairs averaged with stride 2.
 */
export function refAvgPool(x: RefTensor, axis: "space" | "time"): RefTensor {
  const [b, c, t, h, w] = x.shape;
  if (axis === "space") {
    // The padded extent is h + 1; a kernel-2 stride-2 pool gives floor((h + 1 - 2) / 2) + 1.
    const ho = Math.floor((h - 1) / 2) + 1, wo = Math.floor((w - 1) / 2) + 1;
    return build5(
      [b, c, t, ho, wo],
      (bi, ci, ti, y, z) =>
        (at5(x, bi, ci, ti, 2 * y, 2 * z) + at5(x, bi, ci, ti, 2 * y, 2 * z + 1) +
          at5(x, bi, ci, ti, 2 * y + 1, 2 * z) + at5(x, bi, ci, ti, 2 * y + 1, 2 * z + 1)) / 4,
    );
  }
  // Padded frames: p[0] = x[0], p[s] = x[s - 1]; out[t] = (p[2t] + p[2t + 1]) / 2.
  const padded = (s: number) => Math.max(s - 1, 0);
  const to = Math.floor((t + 1 - 2) / 2) + 1;
  return build5(
    [b, c, to, h, w],
    (bi, ci, ti, y, z) =>
      (at5(x, bi, ci, padded(2 * ti), y, z) + at5(x, bi, ci, padded(2 * ti + 1), y, z)) / 2,
  );
}

/**
 * CausalHybridUpsample3d's nearest upsampling. "space": repeat_interleave(2) in height and
 * width. "time": for T > 1, repeat_interleave(2) in time and drop the first frame (T -> 2T - 1);
 * for T = 1 unchanged.
 */
export function refUpsample(x: RefTensor, axis: "space" | "time"): RefTensor {
  const [b, c, t, h, w] = x.shape;
  if (axis === "space") {
    return build5(
      [b, c, t, 2 * h, 2 * w],
      (bi, ci, ti, y, z) => at5(x, bi, ci, ti, Math.floor(y / 2), Math.floor(z / 2)),
    );
  }
  const factor = t > 1 ? 2 : 1;
  // repeated[s] = x[floor(s / factor)]; the output is repeated[factor - 1 + t].
  return build5(
    [b, c, factor * t - (factor - 1), h, w],
    (bi, ci, ti, y, z) => at5(x, bi, ci, Math.floor((ti + factor - 1) / factor), y, z),
  );
}

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
