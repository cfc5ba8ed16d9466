// One level of the 2D Haar wavelet transform, as the reference's Patcher/UnPatcher compute it.
//
// Forward ([B, C, H, W] -> [B, 4C, H/2, W/2]): the width filter runs first, then the height
// filter, each a stride-2 two-tap correlation with taps (r, r) for low and (r, -r) for high,
// r = 1/sqrt(2); the result is halved. Output channel blocks are [LL, LH, HL, HH] of C channels
// each, the first letter naming the width filter. The reference applies this twice for patch
// size 4, and the arithmetic order here follows it so results agree to the last rounding.
// Inverse: the transposed filters (height first, then width), the result doubled.

// Packed on the host by HAAR_PARAMS in src/backends/webgpu/haar.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
// src and dst are stored as T (f32, or f16 at precision "f16"); the arithmetic is f32.
struct Params {
  channels: u32, // C of the forward input (= output channels / 4 ... of the inverse's output)
  h: u32, // height of the half-resolution side
  w: u32, // width of the half-resolution side
  total: u32, // threads needed: B * C * h * w
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

const R: f32 = 0.70710678118654757;

@compute @workgroup_size(256)
fn dwt_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.total) {
    return;
  }
  let j = i % p.w;
  let row = (i / p.w) % p.h;
  let bc = i / (p.w * p.h);
  let c = bc % p.channels;
  let b = bc / p.channels;
  let w2 = 2u * p.w;
  let base = bc * (4u * p.h * p.w) + 2u * row * w2 + 2u * j;
  let x00 = f32(src[base]);
  let x01 = f32(src[base + 1u]);
  let x10 = f32(src[base + w2]);
  let x11 = f32(src[base + w2 + 1u]);
  let lo_top = R * x00 + R * x01;
  let lo_bot = R * x10 + R * x11;
  let hi_top = R * x00 - R * x01;
  let hi_bot = R * x10 - R * x11;
  let plane = p.h * p.w;
  let o = (b * 4u * p.channels + c) * plane + row * p.w + j;
  let block = p.channels * plane;
  dst[o] = T((R * lo_top + R * lo_bot) / 2.0);
  dst[o + block] = T((R * lo_top - R * lo_bot) / 2.0);
  dst[o + 2u * block] = T((R * hi_top + R * hi_bot) / 2.0);
  dst[o + 3u * block] = T((R * hi_top - R * hi_bot) / 2.0);
}

@compute @workgroup_size(256)
fn idwt_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.total) {
    return;
  }
  let j = i % p.w;
  let row = (i / p.w) % p.h;
  let bc = i / (p.w * p.h);
  let c = bc % p.channels;
  let b = bc / p.channels;
  let plane = p.h * p.w;
  let block = p.channels * plane;
  let s = (b * 4u * p.channels + c) * plane + row * p.w + j;
  let ll = f32(src[s]);
  let lh = f32(src[s + block]);
  let hl = f32(src[s + 2u * block]);
  let hh = f32(src[s + 3u * block]);
  // Height: low/high rows of the width-low and width-high planes.
  let lo_top = R * ll + R * lh;
  let lo_bot = R * ll - R * lh;
  let hi_top = R * hl + R * hh;
  let hi_bot = R * hl - R * hh;
  let w2 = 2u * p.w;
  let o = bc * (4u * plane) + 2u * row * w2 + 2u * j;
  dst[o] = T((R * lo_top + R * hi_top) * 2.0);
  dst[o + 1u] = T((R * lo_top - R * hi_top) * 2.0);
  dst[o + w2] = T((R * lo_bot + R * hi_bot) * 2.0);
  dst[o + w2 + 1u] = T((R * lo_bot - R * hi_bot) * 2.0);
}
