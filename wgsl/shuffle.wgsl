// Space-time blocks folded into channels and back, for the Wan2.2 VAE (its patchify and its
// AvgDown3D / DupUp3D shortcuts; src/backends/shuffle.ts has the exact definitions), one thread
// per output value of [B, C, T, H, W]:
//   space_to_channel: unfolded channel j = ((c * ft + dt) * fs + dh) * fs + dw reads
//                     x[c, t * ft + dt - pad_t, h * fs + dh, w * fs + dw] (0 before frame 0);
//                     output channel o is the mean of unfolded channels [o * group, +group).
//   channel_to_space: output channel o at (t * ft + dt, h * fs + dh, w * fs + dw) reads input
//                     channel (((o * ft + dt) * fs + dh) * fs + dw) / group.

// Packed on the host by SHUFFLE_PARAMS in src/backends/webgpu/shuffle.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
// src and dst are stored as T (f32, or f16 at precision "f16"); the arithmetic is f32.
struct Params {
  c_in: u32, t_in: u32, h_in: u32, w_in: u32,
  c_out: u32, t_out: u32, h_out: u32, w_out: u32,
  ft: u32, fs: u32, group: u32, pad_t: u32,
  total: u32, _pad0: u32, _pad1: u32, _pad2: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

fn index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 256u;
}

fn input_at(b: u32, c: u32, t: u32, h: u32, w: u32) -> f32 {
  return f32(src[(((b * p.c_in + c) * p.t_in + t) * p.h_in + h) * p.w_in + w]);
}

@compute @workgroup_size(256)
fn space_to_channel(@builtin(global_invocation_id) gid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i >= p.total) {
    return;
  }
  let w = i % p.w_out;
  let h = (i / p.w_out) % p.h_out;
  let t = (i / (p.w_out * p.h_out)) % p.t_out;
  let o = (i / (p.w_out * p.h_out * p.t_out)) % p.c_out;
  let b = i / (p.w_out * p.h_out * p.t_out * p.c_out);
  let block = p.ft * p.fs * p.fs;
  var sum = 0.0;
  for (var k = 0u; k < p.group; k++) {
    let j = o * p.group + k;
    let r = j % block;
    let frame = i32(t * p.ft + r / (p.fs * p.fs)) - i32(p.pad_t);
    if (frame >= 0) {
      sum += input_at(b, j / block, u32(frame), h * p.fs + (r / p.fs) % p.fs, w * p.fs + r % p.fs);
    }
  }
  dst[i] = T(select(sum / f32(p.group), sum, p.group == 1u));
}

@compute @workgroup_size(256)
fn channel_to_space(@builtin(global_invocation_id) gid: vec3<u32>,
                    @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = index(gid, nwg);
  if (i >= p.total) {
    return;
  }
  let w = i % p.w_out;
  let h = (i / p.w_out) % p.h_out;
  let t = (i / (p.w_out * p.h_out)) % p.t_out;
  let o = (i / (p.w_out * p.h_out * p.t_out)) % p.c_out;
  let b = i / (p.w_out * p.h_out * p.t_out * p.c_out);
  let j = ((o * p.ft + t % p.ft) * p.fs + h % p.fs) * p.fs + w % p.fs;
  dst[i] = T(input_at(b, j / p.group, t / p.ft, h / p.fs, w / p.fs));
}
