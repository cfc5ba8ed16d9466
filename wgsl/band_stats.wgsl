// GroupNorm statistics of a tensor held as row bands (src/backends/webgpu/bands.ts): the same
// (mean, 1 / sqrt(var + eps)) per (b, f, group) as groupnorm.wgsl's stats_main, in the same two
// passes (the mean first, then squared deviations from it), each pass one dispatch per band
// writing that band's partial sums, then one dispatch combining them.
//
// A band is viewed as [B, C, F, S] with S its own spatial extent; `count` is the values of a
// whole group (ch_per_group * the full S), so every band's sums are divided by the same total.
// x is stored as T (f32, or f16 at precision "f16"); every sum and the statistics are f32. The
// sums use reduce_sum, which the host includes from reduce_workgroup.wgsl or reduce_subgroup.wgsl.

// Packed on the host by BAND_STATS_PARAMS in src/backends/webgpu/bands.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  channels: u32, frames: u32, spatial: u32, groups: u32,
  ch_per_group: u32, eps: f32, band: u32, bands: u32,
  count: u32, slots: u32, _p0: u32, _p1: u32,
}

@group(0) @binding(0) var<storage, read> x: array<T>;
@group(0) @binding(1) var<storage, read_write> sums: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<vec2<f32>>;
@group(0) @binding(3) var<uniform> p: Params;

const WG: u32 = 256u;

// The band's value `i` of group slot (b, f, g), i < ch_per_group * spatial, as f32.
fn value(slot: u32, i: u32) -> f32 {
  let g = slot % p.groups;
  let bf = slot / p.groups;
  let f = bf % p.frames;
  let b = bf / p.frames;
  let c = g * p.ch_per_group + i / p.spatial;
  return f32(x[((b * p.channels + c) * p.frames + f) * p.spatial + i % p.spatial]);
}

fn slot_of(wid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return wid.x + wid.y * nwg.x;
}

// Pass 1, per band: the band's sum of each slot.
@compute @workgroup_size(WG)
fn sum_main(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  lanes: Lanes,
) {
  let slot = slot_of(wid, nwg);
  var s = 0.0;
  for (var i = lid.x; i < p.ch_per_group * p.spatial; i += WG) {
    s += value(slot, i);
  }
  let total = reduce_sum(lid.x, lanes, s);
  if (lid.x == 0u) {
    sums[p.band * p.slots + slot] = total;
  }
}

// Pass 2, per band: the band's sum of squared deviations from the mean (stats[slot].x).
@compute @workgroup_size(WG)
fn sq_main(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  lanes: Lanes,
) {
  let slot = slot_of(wid, nwg);
  let mean = stats[slot].x;
  var s = 0.0;
  for (var i = lid.x; i < p.ch_per_group * p.spatial; i += WG) {
    let d = value(slot, i) - mean;
    s += d * d;
  }
  let total = reduce_sum(lid.x, lanes, s);
  if (lid.x == 0u) {
    sums[p.band * p.slots + slot] = total;
  }
}

fn band_total(slot: u32) -> f32 {
  var s = 0.0;
  for (var k = 0u; k < p.bands; k++) {
    s += sums[k * p.slots + slot];
  }
  return s;
}

// After pass 1: stats[slot] = (mean, 0).
@compute @workgroup_size(WG)
fn mean_main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let slot = gid.x;
  if (slot < p.slots) {
    stats[slot] = vec2<f32>(band_total(slot) / f32(p.count), 0.0);
  }
}

// After pass 2: stats[slot] = (mean, rstd).
@compute @workgroup_size(WG)
fn finish_main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let slot = gid.x;
  if (slot < p.slots) {
    let variance = band_total(slot) / f32(p.count);
    stats[slot] = vec2<f32>(stats[slot].x, inverseSqrt(variance + p.eps));
  }
}
