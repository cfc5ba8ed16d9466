// deno-fmt-ignore-file
// deno-lint-ignore-file
// (AssemblyScript: deno fmt would drop the @inline decorators.)

// The WebAssembly backend's layer kernels other than the matrix products (gemm.ts): convolution
// input gathering (im2col) with GroupNorm, SiLU, nearest upsampling, zero and causal padding
// fused in, GroupNorm statistics and application, row softmax, causal temporal attention and
// the video resamplers. They follow the WGSL kernels of the WebGPU backend (wgsl/) operation for
// operation, so that both backends round alike, but for SiLU's exponential: a polynomial four
// at a time here (exp4), the GPU's exp() there, each within a few ulps.
//
// Every function takes its share of the work as a range [start, end) of independent items, so
// the host can hand ranges to several threads sharing one memory; items never write where
// another item writes. Pointers are byte offsets into the memory.

// @ts-ignore: decorator
@inline function f(p: usize, i: usize): f32 {
  return load<f32>(p + (i << 2));
}

// @ts-ignore: decorator
@inline function put(p: usize, i: usize, v: f32): void {
  store<f32>(p + (i << 2), v);
}

/**
 * e^x of four floats: x = n ln 2 + r (|r| <= ln 2 / 2, ln 2 in two parts so that r is exact),
 * e^r by its Taylor series to r^7 (the next term is under 6e-9 of the result, a tenth of a
 * float32 ulp) in Horner's form, and 2^n from the exponent bits. Within 2 float32 ulps of e^x;
 * x is held to [-87, 88], where 2^n is a normal float (SiLU's result is unchanged by that:
 * v / (1 + e^-v) is v to float32 precision for v > 87 and smaller than 1e-36 in magnitude for
 * v < -88). NaN stays NaN. Multiplies and adds only (no fused multiply-add), so every build
 * gives the same values.
 */
// @ts-ignore: decorator
@inline function exp4(x: v128): v128 {
  x = f32x4.max(f32x4.min(x, f32x4.splat(88.0)), f32x4.splat(-87.0));
  const n = f32x4.nearest(f32x4.mul(x, f32x4.splat(1.44269504)));
  let r = f32x4.sub(x, f32x4.mul(n, f32x4.splat(0.693359375)));
  r = f32x4.add(r, f32x4.mul(n, f32x4.splat(2.12194440e-4)));
  let p = f32x4.splat(<f32> (1.0 / 5040.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32> (1.0 / 720.0)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32> (1.0 / 120.0)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32> (1.0 / 24.0)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(<f32> (1.0 / 6.0)));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(0.5));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  p = f32x4.add(f32x4.mul(p, r), f32x4.splat(1.0));
  return f32x4.mul(p, i32x4.shl(i32x4.add(i32x4.trunc_sat_f32x4_s(n), i32x4.splat(127)), 23));
}

/** SiLU of four floats: v / (1 + e^-v). */
// @ts-ignore: decorator
@inline function silu4(v: v128): v128 {
  return f32x4.div(v, f32x4.add(f32x4.splat(1.0), exp4(f32x4.neg(v))));
}

/** SiLU of one float, by silu4: every value the same whichever loop computes it. */
// @ts-ignore: decorator
@inline function silu(v: f32): f32 {
  return f32x4.extract_lane(silu4(f32x4.splat(v)), 0);
}

/**
 * to[j] = (from[j] - mean) rstd g + bt (then SiLU when act != 0) for j < n: four at a time, in
 * the scalar expression's order (so the same values).
 */
// @ts-ignore: decorator
@inline function normRun(
  from: usize, to: usize, n: i32, mean: f32, rstd: f32, g: f32, bt: f32, act: i32,
): void {
  const vm = f32x4.splat(mean), vr = f32x4.splat(rstd), vg = f32x4.splat(g), vb = f32x4.splat(bt);
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const at = <usize> j << 2;
    let v = f32x4.add(f32x4.mul(f32x4.mul(f32x4.sub(v128.load(from + at), vm), vr), vg), vb);
    if (act) v = silu4(v);
    v128.store(to + at, v);
  }
  for (; j < n; j++) {
    let v = (f(from, <usize> j) - mean) * rstd * g + bt;
    if (act) v = silu(v);
    put(to, <usize> j, v);
  }
}

/**
 * im2col's run of `run` outputs of one row at stride 1 with no upsampling: output j reads
 * src[w0 + j] (zero where that is outside [0, wIn)), normalised (then SiLU) when stats != 0.
 * The inside four at a time (normRun): the same values as the scalar loop.
 */
// @ts-ignore: decorator
@inline function gatherRow(
  src: usize, dst: usize, run: i32, w0: i32, wIn: i32, stats: usize, mean: f32, rstd: f32,
  g: f32, bt: f32, act: i32,
): void {
  // Outputs [ja, jb) read inside the row.
  const ja = min(run, max(0, -w0));
  const jb = max(ja, min(run, wIn - w0));
  if (ja > 0) memory.fill(dst, 0, <usize> ja << 2);
  if (jb < run) memory.fill(dst + (<usize> jb << 2), 0, <usize> (run - jb) << 2);
  const from = src + (<usize> (w0 + ja) << 2);
  const to = dst + (<usize> ja << 2);
  const n = jb - ja;
  if (stats) normRun(from, to, n, mean, rstd, g, bt, act);
  else memory.copy(to, from, <usize> n << 2);
}

/**
 * Rows [k0, k1) of the column matrix col[K, len] of one batch item's convolution, K = cin * kt
 * * kh * kw in the weight's (ci, tap) order, for output positions q0 .. q0 + len - 1 (q runs
 * over tOut * hOut * wOut). Taps outside the (upsampled) image read 0; taps before frame 0 read
 * frame 0. With stats != 0 each value is normalised first: (v - mean) * rstd * gamma + beta,
 * then SiLU if silu != 0, so padding stays an exact zero as in torch.
 */
export function im2col(
  x: usize, col: usize, cin: i32, tIn: i32, hIn: i32, wIn: i32,
  kt: i32, kh: i32, kw: i32, tOut: i32, hOut: i32, wOut: i32,
  st: i32, sh: i32, sw: i32, padT: i32, padH: i32, padW: i32, up: i32,
  stats: usize, gammaBeta: usize, groups: i32, statFrames: i32, act: i32,
  q0: i32, len: i32, k0: i32, k1: i32,
): void {
  const taps = kt * kh * kw;
  const hw = hIn * wIn;
  const hLim = hIn * up, wLim = wIn * up;
  const cpg = stats ? cin / groups : 1;
  for (let k = k0; k < k1; k++) {
    const ci = k / taps;
    const tap = k % taps;
    const dt = tap / (kh * kw);
    const dh = (tap / kw) % kh;
    const dw = tap % kw;
    let g: f32 = 1.0, bt: f32 = 0.0;
    if (stats) {
      g = f(gammaBeta, 2 * ci);
      bt = f(gammaBeta, 2 * ci + 1);
    }
    const row = col + ((<usize> k * <usize> len) << 2);
    let q = q0;
    let n = 0;
    while (n < len) {
      const to = q / (hOut * wOut);
      const ho = (q / wOut) % hOut;
      let wo = q % wOut;
      // One output row at a time: (t, h) are fixed along it.
      const run = min(wOut - wo, len - n);
      let t = to * st - padT + dt;
      if (t < 0) t = 0;
      let h = ho * sh - padH + dh;
      const rowOut = row + (<usize> n << 2);
      if (h < 0 || h >= hLim) {
        memory.fill(rowOut, 0, <usize> run << 2);
      } else {
        if (up > 1) h = h / up;
        const src = x + ((<usize> (ci * tIn + t) * <usize> hw + <usize> (h * wIn)) << 2);
        let mean: f32 = 0.0, rstd: f32 = 1.0;
        if (stats) {
          const frame = statFrames > 1 ? t : 0;
          const s = stats + (<usize> ((frame * groups + ci / cpg) * 2) << 2);
          mean = load<f32>(s);
          rstd = load<f32>(s, 4);
        }
        if (sw == 1 && up == 1) {
          gatherRow(src, rowOut, run, wo - padW + dw, wIn, stats, mean, rstd, g, bt, act);
        } else {
          for (let j = 0; j < run; j++) {
            let w = (wo + j) * sw - padW + dw;
            let v: f32 = 0.0;
            if (w >= 0 && w < wLim) {
              if (up > 1) w = w / up;
              v = f(src, <usize> w);
              if (stats) {
                v = (v - mean) * rstd * g + bt;
                if (act) v = silu(v);
              }
            }
            put(rowOut, <usize> j, v);
          }
        }
      }
      n += run;
      q += run;
    }
  }
}

/**
 * GroupNorm statistics of x viewed as [B, C, F, S], slots (b, f, g) in [s0, s1): writes
 * (mean, 1 / sqrt(var + eps)) with the biased variance, from two passes in float64.
 */
export function groupNormStats(
  x: usize, stats: usize, channels: i32, frames: i32, spatial: i32, groups: i32, eps: f32,
  s0: i32, s1: i32,
): void {
  const cpg = channels / groups;
  const count = <f64> cpg * <f64> spatial;
  for (let slot = s0; slot < s1; slot++) {
    const g = slot % groups;
    const bf = slot / groups;
    const fr = bf % frames;
    const b = bf / frames;
    let sum: f64 = 0;
    for (let c = g * cpg; c < (g + 1) * cpg; c++) {
      const p = x + ((<usize> ((b * channels + c) * frames + fr) * <usize> spatial) << 2);
      for (let i = 0; i < spatial; i++) sum += <f64> f(p, <usize> i);
    }
    const mean = <f32> (sum / count);
    let sq: f64 = 0;
    for (let c = g * cpg; c < (g + 1) * cpg; c++) {
      const p = x + ((<usize> ((b * channels + c) * frames + fr) * <usize> spatial) << 2);
      for (let i = 0; i < spatial; i++) {
        const d = <f64> (f(p, <usize> i) - mean);
        sq += d * d;
      }
    }
    const variance = <f32> (sq / count);
    put(stats, <usize> (2 * slot), mean);
    put(stats, <usize> (2 * slot + 1), 1.0 / Mathf.sqrt(variance + eps));
  }
}

/**
 * Half of groupNormStats for slots too few to keep every thread busy (a video's one group per
 * frame): items [i0, i1) of slots x parts, item (slot, p) covering part p of the slot's
 * channels (channels g cpg + [p cpg / parts, (p + 1) cpg / parts), rounded down). Pass 0 writes
 * the float64 sum of the part's values to partials[item]; pass 1 the float64 sum of squared
 * deviations (taken in float32) from the float32 mean at stats[2 slot]. The host adds the parts
 * and finishes as groupNormStats does.
 */
export function groupNormPartials(
  x: usize, stats: usize, partials: usize, channels: i32, frames: i32, spatial: i32,
  groups: i32, parts: i32, pass: i32, i0: i32, i1: i32,
): void {
  const cpg = channels / groups;
  for (let item = i0; item < i1; item++) {
    const slot = item / parts;
    const part = item % parts;
    const g = slot % groups;
    const bf = slot / groups;
    const fr = bf % frames;
    const b = bf / frames;
    const c0 = g * cpg + part * cpg / parts;
    const c1 = g * cpg + (part + 1) * cpg / parts;
    const mean: f32 = pass ? f(stats, <usize> (2 * slot)) : 0;
    let sum: f64 = 0;
    for (let c = c0; c < c1; c++) {
      const p = x + ((<usize> ((b * channels + c) * frames + fr) * <usize> spatial) << 2);
      if (pass) {
        for (let i = 0; i < spatial; i++) {
          const d = <f64> (f(p, <usize> i) - mean);
          sum += d * d;
        }
      } else {
        for (let i = 0; i < spatial; i++) sum += <f64> f(p, <usize> i);
      }
    }
    store<f64>(partials + (<usize> item << 3), sum);
  }
}

/** y = GroupNorm(x) (then SiLU if act) for the planes (b, c, f) in [p0, p1) of [B, C, F, S]. */
export function groupNormApply(
  x: usize, y: usize, stats: usize, gammaBeta: usize, channels: i32, frames: i32, spatial: i32,
  groups: i32, act: i32, p0: i32, p1: i32,
): void {
  const cpg = channels / groups;
  for (let plane = p0; plane < p1; plane++) {
    const fr = plane % frames;
    const c = (plane / frames) % channels;
    const b = plane / (frames * channels);
    const s = stats + (<usize> (((b * frames + fr) * groups + c / cpg) * 2) << 2);
    const mean = load<f32>(s), rstd = load<f32>(s, 4);
    const g = f(gammaBeta, 2 * c), bt = f(gammaBeta, 2 * c + 1);
    const src = x + ((<usize> plane * <usize> spatial) << 2);
    const dst = y + ((<usize> plane * <usize> spatial) << 2);
    normRun(src, dst, spatial, mean, rstd, g, bt, act);
  }
}

/** In-place softmax of rows [r0, r1) of s[rows, n] after scaling the logits by `scale`. */
export function softmaxRows(s: usize, n: i32, scale: f32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) {
    const row = s + ((<usize> r * <usize> n) << 2);
    let m: f32 = -3.4e38;
    for (let j = 0; j < n; j++) m = max(m, scale * f(row, <usize> j));
    let sum: f32 = 0.0;
    for (let j = 0; j < n; j++) {
      const e = Mathf.exp(scale * f(row, <usize> j) - m);
      put(row, <usize> j, e);
      sum += e;
    }
    const inv: f32 = 1.0 / sum;
    for (let j = 0; j < n; j++) put(row, <usize> j, f(row, <usize> j) * inv);
  }
}

/**
 * Causal attention along time at pixels [p0, p1) of b * pixels, for the query frames [q0, T)
 * into out [B, C, T - q0, P]. The operands are where src/backends/geometry.ts's TemporalLayout
 * says (in floats): packed q/k/v [B, 3C, T, P] (q and kv the same tensor), or queries
 * [B, C, T - q0, P] apart from keys and values [B, 2C, T, P]. `scratch` holds T floats per call.
 */
export function temporalAttention(
  q: usize, kv: usize, out: usize, channels: i32, frames: i32, pixels: i32, scale: f32, q0: i32,
  qBatch: i32, qPlane: i32, qShift: i32, kBase: i32, kvBatch: i32, kvPlane: i32,
  scratch: usize, p0: i32, p1: i32,
): void {
  const outPlane = <usize> (frames - q0) * <usize> pixels;
  const vOff = <usize> channels * <usize> kvPlane;
  for (let item = p0; item < p1; item++) {
    const b = item / pixels;
    const pix = item % pixels;
    const qb = q + ((<usize> b * <usize> qBatch + <usize> pix) << 2);
    const k = kv + ((<usize> kBase + <usize> b * <usize> kvBatch + <usize> pix) << 2);
    const v = k + (vOff << 2);
    const o = out + ((<usize> b * <usize> channels * outPlane + <usize> pix) << 2);
    for (let tq = q0; tq < frames; tq++) {
      const qt = qb + ((<usize> (tq - qShift) * <usize> pixels) << 2);
      let m: f32 = -3.4e38;
      for (let tk = 0; tk <= tq; tk++) {
        let dot: f32 = 0.0;
        for (let c = 0; c < channels; c++) {
          dot += f(qt, <usize> c * <usize> qPlane) *
            f(k, <usize> c * <usize> kvPlane + <usize> tk * <usize> pixels);
        }
        const sc = dot * scale;
        put(scratch, <usize> tk, sc);
        m = max(m, sc);
      }
      let sum: f32 = 0.0;
      for (let tk = 0; tk <= tq; tk++) {
        const e = Mathf.exp(f(scratch, <usize> tk) - m);
        put(scratch, <usize> tk, e);
        sum += e;
      }
      for (let c = 0; c < channels; c++) {
        const at = <usize> c * <usize> kvPlane;
        let acc: f32 = 0.0;
        for (let tk = 0; tk <= tq; tk++) {
          acc += f(scratch, <usize> tk) / sum * f(v, at + <usize> tk * <usize> pixels);
        }
        put(o, <usize> c * outPlane + <usize> (tq - q0) * <usize> pixels, acc);
      }
    }
  }
}

/**
 * One chunk of keys and values, frames [k0, k0 + kFrames) of T, of causal temporal attention
 * for the query frames [q0, T), with the softmax kept online: `ml` holds, per (b, query, pixel),
 * the running maximum and sum of exp(score - maximum), and `acc` [B, C, T - q0, P] the running
 * sum of exp(score - maximum) v. Chunks go in order from k0 = 0 (which starts the sums); the
 * `last` one divides acc by the sum, leaving the attention's output in acc. The chunk is
 * [B, 2C, kFrames, P] (k, then v); the queries are laid out as in temporalAttention.
 */
export function temporalAttentionChunk(
  q: usize, kv: usize, acc: usize, ml: usize, channels: i32, frames: i32, pixels: i32,
  scale: f32, q0: i32, qBatch: i32, qPlane: i32, qShift: i32, k0: i32, kFrames: i32, last: i32,
  scratch: usize, p0: i32, p1: i32,
): void {
  const queries = frames - q0;
  const outPlane = <usize> queries * <usize> pixels;
  const kvPlane = <usize> kFrames * <usize> pixels;
  const vOff = <usize> channels * kvPlane;
  for (let item = p0; item < p1; item++) {
    const b = item / pixels;
    const pix = item % pixels;
    const qb = q + ((<usize> b * <usize> qBatch + <usize> pix) << 2);
    const k = kv + ((<usize> b * 2 * <usize> channels * kvPlane + <usize> pix) << 2);
    const v = k + (vOff << 2);
    const o = acc + ((<usize> b * <usize> channels * outPlane + <usize> pix) << 2);
    for (let tq = q0; tq < frames; tq++) {
      const qt = qb + ((<usize> (tq - qShift) * <usize> pixels) << 2);
      const at = <usize> ((b * queries + tq - q0) * pixels + pix) * 2;
      const ot = <usize> (tq - q0) * <usize> pixels;
      let m: f32 = -3.4e38;
      let sum: f32 = 0.0;
      if (k0 > 0) {
        m = f(ml, at);
        sum = f(ml, at + 1);
      } else {
        for (let c = 0; c < channels; c++) put(o, <usize> c * outPlane + ot, 0.0);
      }
      const n = min(kFrames, tq - k0 + 1);
      if (n > 0) {
        let mNew = m;
        for (let j = 0; j < n; j++) {
          let dot: f32 = 0.0;
          for (let c = 0; c < channels; c++) {
            dot += f(qt, <usize> c * <usize> qPlane) *
              f(k, <usize> c * kvPlane + <usize> j * <usize> pixels);
          }
          const sc = dot * scale;
          put(scratch, <usize> j, sc);
          mNew = max(mNew, sc);
        }
        const alpha = Mathf.exp(m - mNew);
        sum *= alpha;
        for (let j = 0; j < n; j++) {
          const e = Mathf.exp(f(scratch, <usize> j) - mNew);
          put(scratch, <usize> j, e);
          sum += e;
        }
        for (let c = 0; c < channels; c++) {
          const vc = <usize> c * kvPlane;
          let a: f32 = f(o, <usize> c * outPlane + ot) * alpha;
          for (let j = 0; j < n; j++) {
            a += f(scratch, <usize> j) * f(v, vc + <usize> j * <usize> pixels);
          }
          put(o, <usize> c * outPlane + ot, a);
        }
        m = mNew;
      }
      put(ml, at, m);
      put(ml, at + 1, sum);
      if (last) {
        const inv: f32 = 1.0 / sum;
        for (let c = 0; c < channels; c++) {
          put(o, <usize> c * outPlane + ot, f(o, <usize> c * outPlane + ot) * inv);
        }
      }
    }
  }
}

// Video resampling over planes (b, c) in [p0, p1) of [B, C, T, H, W]; see wgsl/resample.wgsl.

/** 2x2 average with stride 2, taps past the bottom/right edge reading 0. */
export function poolSpace(src: usize, dst: usize, t: i32, h: i32, w: i32, p0: i32, p1: i32): void {
  const ho = (h + 1) / 2, wo = (w + 1) / 2;
  for (let plane = p0; plane < p1; plane++) {
    for (let tt = 0; tt < t; tt++) {
      const s = src + ((<usize> (plane * t + tt) * <usize> (h * w)) << 2);
      const d = dst + ((<usize> (plane * t + tt) * <usize> (ho * wo)) << 2);
      for (let i = 0; i < ho; i++) {
        for (let j = 0; j < wo; j++) {
          const a = f(s, <usize> (2 * i * w + 2 * j));
          const bb: f32 = 2 * j + 1 < w ? f(s, <usize> (2 * i * w + 2 * j + 1)) : 0.0;
          const c: f32 = 2 * i + 1 < h ? f(s, <usize> ((2 * i + 1) * w + 2 * j)) : 0.0;
          const e: f32 = 2 * i + 1 < h && 2 * j + 1 < w
            ? f(s, <usize> ((2 * i + 1) * w + 2 * j + 1)) : 0.0;
          put(d, <usize> (i * wo + j), (a + bb + c + e) / 4.0);
        }
      }
    }
  }
}

/** Frame pairs (2t - 1, 2t) averaged, frame -1 reading frame 0: T -> (T - 1) / 2 + 1. */
export function poolTime(src: usize, dst: usize, t: i32, hw: i32, p0: i32, p1: i32): void {
  const to = (t - 1) / 2 + 1;
  for (let plane = p0; plane < p1; plane++) {
    for (let tt = 0; tt < to; tt++) {
      const prev = max(2 * tt - 1, 0);
      const a = src + ((<usize> (plane * t + prev) * <usize> hw) << 2);
      const b = src + ((<usize> (plane * t + 2 * tt) * <usize> hw) << 2);
      const d = dst + ((<usize> (plane * to + tt) * <usize> hw) << 2);
      for (let i = 0; i < hw; i++) put(d, <usize> i, (f(a, <usize> i) + f(b, <usize> i)) / 2.0);
    }
  }
}

/** Nearest 2x in height and width. */
export function upSpace(src: usize, dst: usize, t: i32, h: i32, w: i32, p0: i32, p1: i32): void {
  for (let plane = p0; plane < p1; plane++) {
    for (let tt = 0; tt < t; tt++) {
      const s = src + ((<usize> (plane * t + tt) * <usize> (h * w)) << 2);
      const d = dst + ((<usize> (plane * t + tt) * <usize> (4 * h * w)) << 2);
      for (let i = 0; i < 2 * h; i++) {
        for (let j = 0; j < 2 * w; j++) {
          put(d, <usize> (i * 2 * w + j), f(s, <usize> ((i >> 1) * w + (j >> 1))));
        }
      }
    }
  }
}

/** Nearest 2x in time without the leading duplicate: T -> 2T - 1, frame t reads (t + 1) / 2. */
export function upTime(src: usize, dst: usize, t: i32, hw: i32, p0: i32, p1: i32): void {
  const to = max(2 * t - 1, 1);
  for (let plane = p0; plane < p1; plane++) {
    for (let tt = 0; tt < to; tt++) {
      memory.copy(
        dst + ((<usize> (plane * to + tt) * <usize> hw) << 2),
        src + ((<usize> (plane * t + (tt + 1) / 2) * <usize> hw) << 2),
        <usize> hw << 2,
      );
    }
  }
}

import { gemm } from "./gemm";
import { winogradConv } from "./winograd";

/**
 * gemm (gemm.ts) over blocks [start, end) of a grid of blockM x blockN output blocks (row-major
 * over the blocks), so threads can share one product. `scratch` is the thread's packing area.
 */
export function gemmBlocks(
  a: usize, sam: i32, sak: i32, b: usize, sbk: i32, sbn: i32, c: usize, ldc: i32,
  bias: usize, accumulate: i32, k: i32, m: i32, n: i32, blockM: i32, blockN: i32,
  scratch: usize, start: i32, end: i32,
): void {
  const cols = (n + blockN - 1) / blockN;
  for (let item = start; item < end; item++) {
    const m0 = (item / cols) * blockM;
    const n0 = (item % cols) * blockN;
    gemm(m0, min(m, m0 + blockM), n0, min(n, n0 + blockN), k, a, sam, sak, b, sbk, sbn, c, ldc,
      bias, accumulate, scratch);
  }
}

/**
 * winogradConv over the 4-row bands of tiles [r0, r1), numbered over all frames (frames x
 * ceil(h / 4) of them): threads split whole tile rows.
 */
export function winogradRows(
  x: usize, u: usize, bias: usize, res: usize, y: usize, cin: i32, cout: i32, h: i32, w: i32,
  frames: i32, ys: i32, scratch: usize, r0: i32, r1: i32,
): void {
  const tilesW = (w + 3) / 4;
  winogradConv(x, u, bias, res, y, cin, cout, h, w, frames, ys, r0 * tilesW, r1 * tilesW, scratch);
}
