// GroupNorm over channels-first activations viewed as [B, C, F, S]: statistics per
// (b, f, group) over ch_per_group * S values. Images use F = 1, S = H * W (torch's GroupNorm);
// video's per-frame norm uses F = T, S = H * W (the reference folds time into the batch).
//
// `stats` writes (mean, 1 / sqrt(var + eps)) with the biased variance, in two passes over the
// data (mean first, then squared deviations) so large activations lose no precision. The
// normalisation itself is usually fused into the next convolution's loads; `apply` is the
// standalone form (with optional SiLU) for where no convolution follows.
// x, gamma_beta and y are stored as T (f32, or f16 at precision "f16"); every sum is f32, and
// the statistics are f32 at every precision. The sums use reduce_sum, which the host includes
// from reduce_workgroup.wgsl or, where the adapter has subgroups, reduce_subgroup.wgsl.

// Packed on the host by GROUPNORM_PARAMS in src/backends/webgpu/norm.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  channels: u32, frames: u32, spatial: u32, groups: u32,
  ch_per_group: u32, eps: f32, silu: u32, total: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> gamma_beta: array<vec2<T>>;
@group(0) @binding(3) var<storage, read_write> y: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn stats_main(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  lanes: Lanes,
) {
  let slot = wid.x + wid.y * nwg.x; // (b * frames + f) * groups + g
  let g = slot % p.groups;
  let bf = slot / p.groups;
  let f = bf % p.frames;
  let b = bf / p.frames;
  let count = p.ch_per_group * p.spatial;
  let tid = lid.x;

  var s = 0.0;
  for (var i = tid; i < count; i += WG) {
    let c = g * p.ch_per_group + i / p.spatial;
    s += f32(x[((b * p.channels + c) * p.frames + f) * p.spatial + i % p.spatial]);
  }
  let mean = reduce_sum(tid, lanes, s) / f32(count);
  var sq = 0.0;
  for (var i = tid; i < count; i += WG) {
    let c = g * p.ch_per_group + i / p.spatial;
    let d = f32(x[((b * p.channels + c) * p.frames + f) * p.spatial + i % p.spatial]) - mean;
    sq += d * d;
  }
  let variance = reduce_sum(tid, lanes, sq) / f32(count);
  if (tid == 0u) {
    stats[slot] = vec2<f32>(mean, inverseSqrt(variance + p.eps));
  }
}

@compute @workgroup_size(WG)
fn apply_main(
  @builtin(global_invocation_id) gid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
) {
  let i = gid.x + gid.y * nwg.x * WG;
  // Not arrayLength(&y): an f16 tensor of odd length is bound with one pad element.
  if (i >= p.total) {
    return;
  }
  let rest = i / p.spatial;
  let f = rest % p.frames;
  let bc = rest / p.frames;
  let c = bc % p.channels;
  let b = bc / p.channels;
  let st = stats[(b * p.frames + f) * p.groups + c / p.ch_per_group];
  let gb = vec2<f32>(gamma_beta[c]);
  var v = (f32(x[i]) - st.x) * st.y * gb.x + gb.y;
  if (p.silu != 0u) {
    v = v / (1.0 + exp(-v));
  }
  y[i] = T(v);
}
