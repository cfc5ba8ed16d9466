// Finite scalar quantisation over channels-first [B, D, P] tensors (P = spatial/temporal
// positions, D = number of levels, at most 8).
//
// quantize: per channel d with L levels, bounded = tanh(z + shift) * half_l - offset, rounded
// half to even (torch.round), then scaled to [-1, 1] by L / 2 (integer division). The index is
// sum_d digit_d * basis_d with digit = code * (L/2) + L/2. half_l, offset and shift are computed
// on the host in float32 as the reference computes them.
// dequantize: digits = (index / basis) % L, code = (digit - L/2) / (L/2).
// z and codes are stored as T (f32, or f16 at precision "f16": the codes k / (L/2) are exact
// in f16 for every level count up to 2048); the arithmetic is f32.

// Packed on the host by FSQ_PARAMS in src/backends/webgpu/fsq.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  positions: u32, dims: u32, total: u32, _pad: u32,
  levels: array<vec4<u32>, 2>,
  basis: array<vec4<u32>, 2>,
  half_l: array<vec4<f32>, 2>,
  offset: array<vec4<f32>, 2>,
  shift: array<vec4<f32>, 2>,
}

@group(0) @binding(0) var<storage, read> z: array<T>;
@group(0) @binding(1) var<storage, read_write> codes: array<T>;
@group(0) @binding(2) var<storage, read_write> indices: array<i32>;
@group(0) @binding(3) var<uniform> p: Params;

// Written out because some drivers evaluate the built-in tanh as sinh / cosh, which is NaN for
// large inputs; the absolute error of this form is ~1e-7, far below the rounding step.
fn stable_tanh(v: f32) -> f32 {
  let e = exp(-2.0 * abs(v));
  return sign(v) * (1.0 - e) / (1.0 + e);
}

fn lv(d: u32) -> u32 {
  return p.levels[d / 4u][d % 4u];
}

@compute @workgroup_size(256)
fn quantize_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.total) {
    return;
  }
  let b = i / p.positions;
  let q = i % p.positions;
  var index = 0.0;
  for (var d = 0u; d < p.dims; d++) {
    let o = (b * p.dims + d) * p.positions + q;
    let half_l = p.half_l[d / 4u][d % 4u];
    let bounded = stable_tanh(f32(z[o]) + p.shift[d / 4u][d % 4u]) * half_l - p.offset[d / 4u][d % 4u];
    let half_w = f32(lv(d) / 2u);
    let code = round(bounded) / half_w;
    codes[o] = T(code);
    index += (code * half_w + half_w) * f32(p.basis[d / 4u][d % 4u]);
  }
  indices[i] = i32(index);
}

@compute @workgroup_size(256)
fn dequantize_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.total) {
    return;
  }
  let b = i / p.positions;
  let q = i % p.positions;
  let index = u32(indices[i]);
  for (var d = 0u; d < p.dims; d++) {
    let half_w = f32(lv(d) / 2u);
    let digit = f32((index / p.basis[d / 4u][d % 4u]) % lv(d));
    codes[(b * p.dims + d) * p.positions + q] = T((digit - half_w) / half_w);
  }
}
