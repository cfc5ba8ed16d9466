// One level of the 3D Haar wavelet transform of the reference's Patcher3D/UnPatcher3D, over
// channels-first video [B, C, T, H, W].
//
// Forward ([B, C, T, H, W] -> [B, 8C, T/2, H/2, W/2]): time filter first, then height, then
// width, each a stride-2 two-tap correlation with taps (r, r) for low and (r, -r) for high,
// r = 1/sqrt(2); the result is divided by 2*sqrt(2) (in float32, as the reference does).
// Output channel blocks are [LLL, LLH, LHL, LHH, HLL, HLH, HHL, HHH] of C channels, letters
// naming the time, height and width filters. `lead` frames of frame 0 are virtually prepended
// to the input (the patcher's repetition of the first frame, applied before the first level).
// Inverse: width, then height, then time transposed filters, times 2*sqrt(2); the first `trim`
// output frames are dropped (the unpatcher's trimming, applied after the last level).

// Packed on the host by HAAR3D_PARAMS in src/backends/webgpu/haar.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
// src and dst are stored as T (f32, or f16 at precision "f16"); the arithmetic is f32.
struct Params {
  channels: u32, // C: channels of the full-resolution side
  t: u32, // frames of the half-resolution side
  h: u32,
  w: u32,
  total: u32, // B * C * t * h * w
  lead: u32, // forward: frame-0 copies prepended to the input
  trim: u32, // inverse: leading output frames dropped
  t_full: u32, // frames of the full-resolution tensor in memory (input or output)
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

const R: f32 = 0.70710678118654757;
// 2 * sqrt(2) as the reference computes it: float32 sqrt(2), doubled.
const SCALE: f32 = 2.0 * 1.41421353816986084;

fn lo(a: f32, b: f32) -> f32 {
  return R * a + R * b;
}

fn hi(a: f32, b: f32) -> f32 {
  return R * a - R * b;
}

@compute @workgroup_size(256)
fn dwt_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.total) {
    return;
  }
  let j = i % p.w;
  let row = (i / p.w) % p.h;
  let f = (i / (p.w * p.h)) % p.t;
  let bc = i / (p.w * p.h * p.t);
  let c = bc % p.channels;
  let b = bc / p.channels;
  let w2 = 2u * p.w;
  let plane = 4u * p.h * p.w;
  // Virtual frames 2f and 2f + 1, of which the first `lead` are copies of frame 0.
  let f0 = u32(max(i32(2u * f) - i32(p.lead), 0));
  let f1 = u32(max(i32(2u * f + 1u) - i32(p.lead), 0));
  let base0 = (bc * p.t_full + f0) * plane + 2u * row * w2 + 2u * j;
  let base1 = (bc * p.t_full + f1) * plane + 2u * row * w2 + 2u * j;
  // x[time][height][width]
  let x000 = f32(src[base0]);
  let x001 = f32(src[base0 + 1u]);
  let x010 = f32(src[base0 + w2]);
  let x011 = f32(src[base0 + w2 + 1u]);
  let x100 = f32(src[base1]);
  let x101 = f32(src[base1 + 1u]);
  let x110 = f32(src[base1 + w2]);
  let x111 = f32(src[base1 + w2 + 1u]);
  // Time.
  let l00 = lo(x000, x100);
  let l01 = lo(x001, x101);
  let l10 = lo(x010, x110);
  let l11 = lo(x011, x111);
  let h00 = hi(x000, x100);
  let h01 = hi(x001, x101);
  let h10 = hi(x010, x110);
  let h11 = hi(x011, x111);
  // Height.
  let ll0 = lo(l00, l10);
  let ll1 = lo(l01, l11);
  let lh0 = hi(l00, l10);
  let lh1 = hi(l01, l11);
  let hl0 = lo(h00, h10);
  let hl1 = lo(h01, h11);
  let hh0 = hi(h00, h10);
  let hh1 = hi(h01, h11);
  // Width, in output block order.
  let vol = p.t * p.h * p.w;
  let o = (b * 8u * p.channels + c) * vol + (f * p.h + row) * p.w + j;
  let block = p.channels * vol;
  dst[o] = T(lo(ll0, ll1) / SCALE);
  dst[o + block] = T(hi(ll0, ll1) / SCALE);
  dst[o + 2u * block] = T(lo(lh0, lh1) / SCALE);
  dst[o + 3u * block] = T(hi(lh0, lh1) / SCALE);
  dst[o + 4u * block] = T(lo(hl0, hl1) / SCALE);
  dst[o + 5u * block] = T(hi(hl0, hl1) / SCALE);
  dst[o + 6u * block] = T(lo(hh0, hh1) / SCALE);
  dst[o + 7u * block] = T(hi(hh0, hh1) / SCALE);
}

fn put(bc: u32, frame: u32, offset: u32, v: f32) {
  // Output frames before `trim` are dropped.
  if (frame >= p.trim) {
    dst[(bc * p.t_full + frame - p.trim) * 4u * p.h * p.w + offset] = T(v * SCALE);
  }
}

@compute @workgroup_size(256)
fn idwt_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.total) {
    return;
  }
  let j = i % p.w;
  let row = (i / p.w) % p.h;
  let f = (i / (p.w * p.h)) % p.t;
  let bc = i / (p.w * p.h * p.t);
  let c = bc % p.channels;
  let b = bc / p.channels;
  let vol = p.t * p.h * p.w;
  let s = (b * 8u * p.channels + c) * vol + (f * p.h + row) * p.w + j;
  let block = p.channels * vol;
  // Width: each pair of blocks gives the left (even) and right (odd) columns.
  let ll0 = lo(f32(src[s]), f32(src[s + block]));
  let ll1 = hi(f32(src[s]), f32(src[s + block]));
  let lh0 = lo(f32(src[s + 2u * block]), f32(src[s + 3u * block]));
  let lh1 = hi(f32(src[s + 2u * block]), f32(src[s + 3u * block]));
  let hl0 = lo(f32(src[s + 4u * block]), f32(src[s + 5u * block]));
  let hl1 = hi(f32(src[s + 4u * block]), f32(src[s + 5u * block]));
  let hh0 = lo(f32(src[s + 6u * block]), f32(src[s + 7u * block]));
  let hh1 = hi(f32(src[s + 6u * block]), f32(src[s + 7u * block]));
  // Height: top (even) and bottom (odd) rows.
  let l00 = lo(ll0, lh0);
  let l01 = lo(ll1, lh1);
  let l10 = hi(ll0, lh0);
  let l11 = hi(ll1, lh1);
  let h00 = lo(hl0, hh0);
  let h01 = lo(hl1, hh1);
  let h10 = hi(hl0, hh0);
  let h11 = hi(hl1, hh1);
  // Time: even and odd frames.
  let w2 = 2u * p.w;
  let off = 2u * row * w2 + 2u * j;
  put(bc, 2u * f, off, lo(l00, h00));
  put(bc, 2u * f, off + 1u, lo(l01, h01));
  put(bc, 2u * f, off + w2, lo(l10, h10));
  put(bc, 2u * f, off + w2 + 1u, lo(l11, h11));
  put(bc, 2u * f + 1u, off, hi(l00, h00));
  put(bc, 2u * f + 1u, off + 1u, hi(l01, h01));
  put(bc, 2u * f + 1u, off + w2, hi(l10, h10));
  put(bc, 2u * f + 1u, off + w2 + 1u, hi(l11, h11));
}
