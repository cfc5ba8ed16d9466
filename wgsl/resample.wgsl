// Fixed resampling of channels-first video [B, C, T, H, W] (images: T = 1), one thread per
// output value, for the video networks' hybrid down/up-sampling paths:
//   pool_space: 2x2 average with stride 2; taps past the bottom/right edge read 0 (the
//               reference zero-pads by one before avg_pool3d, and counts the pad).
//   pool_time:  average of frame pairs (2t - 1, 2t) with frame -1 reading frame 0 (the
//               reference's causal replication pad before avg_pool3d (2, 1, 1)).
//   up_space:   nearest 2x in height and width.
//   up_time:    nearest 2x in time without the leading duplicate: T -> 2T - 1, output frame t
//               reads (t + 1) / 2 (repeat_interleave then dropping the first frame).

// Packed on the host by RESAMPLE_PARAMS in src/backends/webgpu/resample.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
// src and dst are stored as T (f32, or f16 at precision "f16"); the arithmetic is f32.
struct Params {
  t_in: u32, h_in: u32, w_in: u32, total: u32,
  t_out: u32, h_out: u32, w_out: u32, _pad: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

struct Pos {
  plane: u32, // b * C + c
  t: u32,
  h: u32,
  w: u32,
}

fn position(gid: vec3<u32>, nwg: vec3<u32>) -> Pos {
  let i = gid.x + gid.y * nwg.x * 256u;
  let w = i % p.w_out;
  let h = (i / p.w_out) % p.h_out;
  let t = (i / (p.w_out * p.h_out)) % p.t_out;
  return Pos(i / (p.w_out * p.h_out * p.t_out), t, h, w);
}

fn at(plane: u32, t: u32, h: u32, w: u32) -> f32 {
  if (h >= p.h_in || w >= p.w_in) {
    return 0.0;
  }
  return f32(src[((plane * p.t_in + t) * p.h_in + h) * p.w_in + w]);
}

fn out_index(o: Pos) -> u32 {
  return ((o.plane * p.t_out + o.t) * p.h_out + o.h) * p.w_out + o.w;
}

@compute @workgroup_size(256)
fn pool_space(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  if (gid.x + gid.y * nwg.x * 256u >= p.total) {
    return;
  }
  let o = position(gid, nwg);
  let h = 2u * o.h;
  let w = 2u * o.w;
  let s = at(o.plane, o.t, h, w) + at(o.plane, o.t, h, w + 1u) + at(o.plane, o.t, h + 1u, w) +
    at(o.plane, o.t, h + 1u, w + 1u);
  dst[out_index(o)] = T(s / 4.0);
}

@compute @workgroup_size(256)
fn pool_time(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  if (gid.x + gid.y * nwg.x * 256u >= p.total) {
    return;
  }
  let o = position(gid, nwg);
  let prev = u32(max(i32(2u * o.t) - 1, 0));
  dst[out_index(o)] = T((at(o.plane, prev, o.h, o.w) + at(o.plane, 2u * o.t, o.h, o.w)) / 2.0);
}

@compute @workgroup_size(256)
fn up_space(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  if (gid.x + gid.y * nwg.x * 256u >= p.total) {
    return;
  }
  let o = position(gid, nwg);
  dst[out_index(o)] = T(at(o.plane, o.t, o.h / 2u, o.w / 2u));
}

@compute @workgroup_size(256)
fn up_time(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  if (gid.x + gid.y * nwg.x * 256u >= p.total) {
    return;
  }
  let o = position(gid, nwg);
  dst[out_index(o)] = T(at(o.plane, (o.t + 1u) / 2u, o.h, o.w));
}
