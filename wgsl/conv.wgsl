// Convolution as implicit GEMM over channels-first activations [B, C, T, H, W] (images: T = 1).
//
//   M = Cout, N = B * To * Ho * Wo, K = Cin * KT * KH * KW (the weight's own row-major layout)
//
// Host constants: KT, KH, KW (kernel extent), NORM (apply GroupNorm from precomputed stats to
// each loaded input), SILU (then x * sigmoid(x)), RESIDUAL (add a tensor shaped like the output),
// UPSAMPLE (read the input through a nearest 2x spatial upsample), plus the gemm_core tile sizes.
// Padding: spatial zero padding pad_h/pad_w on the low side, the high side being whatever the
// output size implies (so Downsample's right/bottom pad is just Ho = H / 2). Temporal padding is
// causal: indices before frame 0 read frame 0, as the reference's replication pad does.
// The normalised value is computed before padding, so padded taps are exact zeros as in torch.
// Tensors are stored as T (f32, or f16 at precision "f16", an alias the host declares); loads
// widen to f32, the GEMM accumulates in f32, and only the stored result is narrowed to T.

// Packed on the host by CONV_PARAMS in src/backends/webgpu/conv.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  M: u32, N: u32, K: u32, cin: u32,
  t_in: u32, h_in: u32, w_in: u32, hw_in: u32,
  t_out: u32, h_out: u32, w_out: u32, p_out: u32,
  stride_t: u32, stride_h: u32, stride_w: u32, pad_t: u32,
  pad_h: u32, pad_w: u32, groups: u32, ch_per_group: u32,
  stat_frames: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read> weight: array<T>;
@group(0) @binding(2) var<storage, read> bias: array<T>;
@group(0) @binding(3) var<storage, read> stats: array<vec2<f32>>; // (mean, rstd) per (b, frame, group)
@group(0) @binding(4) var<storage, read> gamma_beta: array<vec2<T>>; // per input channel
@group(0) @binding(5) var<storage, read> residual: array<T>;
@group(0) @binding(6) var<storage, read_write> out: array<T>;
@group(0) @binding(7) var<uniform> p: Params;

const KTAPS: u32 = KT * KH * KW;

fn gemm_dims() -> vec3<u32> {
  return vec3<u32>(p.M, p.N, p.K);
}

fn load_a(batch: u32, m: u32, k: u32) -> f32 {
  if (m >= p.M || k >= p.K) {
    return 0.0;
  }
  return f32(weight[m * p.K + k]);
}

// Where one output position's receptive field starts, worked out once per tile column.
struct Column {
  valid: bool,
  // Offset of (b, channel 0, frame 0, row 0, col 0) in x; the batch's first stats slot.
  x_base: u32,
  stat_base: u32,
  t0: i32,
  h0: i32,
  w0: i32,
}

fn column(batch: u32, n: u32) -> Column {
  let b = n / p.p_out;
  let q = n % p.p_out;
  let hw_out = p.h_out * p.w_out;
  let to = q / hw_out;
  let ho = (q / p.w_out) % p.h_out;
  let wo = q % p.w_out;
  return Column(
    n < p.N,
    b * p.cin * p.t_in * p.hw_in,
    b * p.stat_frames * p.groups,
    i32(to * p.stride_t) - i32(p.pad_t),
    i32(ho * p.stride_h) - i32(p.pad_h),
    i32(wo * p.stride_w) - i32(p.pad_w),
  );
}

fn load_b(col: Column, k: u32) -> f32 {
  if (!col.valid || k >= p.K) {
    return 0.0;
  }
  let ci = k / KTAPS;
  let tap = k % KTAPS;
  let kt = tap / (KH * KW);
  let kh = (tap / KW) % KH;
  let kw = tap % KW;
  // Causal temporal tap: clamp to frame 0.
  let t = u32(max(col.t0 + i32(kt), 0));
  var h = col.h0 + i32(kh);
  var w = col.w0 + i32(kw);
  var h_lim = i32(p.h_in);
  var w_lim = i32(p.w_in);
  if (UPSAMPLE) {
    h_lim = 2 * h_lim;
    w_lim = 2 * w_lim;
  }
  if (h < 0 || w < 0 || h >= h_lim || w >= w_lim) {
    return 0.0;
  }
  if (UPSAMPLE) {
    h = h / 2;
    w = w / 2;
  }
  var v = f32(x[col.x_base + (ci * p.t_in + t) * p.hw_in + u32(h) * p.w_in + u32(w)]);
  if (NORM) {
    let frame = select(0u, t, p.stat_frames > 1u);
    let s = stats[col.stat_base + frame * p.groups + ci / p.ch_per_group];
    let gb = vec2<f32>(gamma_beta[ci]);
    v = (v - s.x) * s.y * gb.x + gb.y;
  }
  if (SILU) {
    v = v / (1.0 + exp(-v));
  }
  return v;
}

fn store_c(batch: u32, m: u32, n: u32, acc: f32) {
  let b = n / p.p_out;
  let q = n % p.p_out;
  let o = (b * p.M + m) * p.p_out + q;
  var v = acc + f32(bias[m]);
  if (RESIDUAL) {
    v += f32(residual[o]);
  }
  out[o] = T(v);
}
