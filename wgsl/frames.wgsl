// One part of Ops.joinFrames: frames [from, from + n) of a video tensor [B, C, T_in, H, W]
// copied to frames [offset, offset + n) of the output [B, C, T_out, H, W], one thread per value.
// For a fixed (b, c) plane both runs are contiguous, so the copy is a strided one: plane k's
// n * H * W values go from k * T_in * H * W + from * H * W to k * T_out * H * W + offset * H * W.
// Values move as T, an alias the host declares: u32 words for f32 and i32 tensors (bit for bit),
// f16 for tensors stored as f16 (each value copied as it is).

// Packed on the host by FRAMES_PARAMS in src/backends/webgpu/frames.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  total: u32,      // values copied: B * C * n * H * W
  run: u32,        // n * H * W: the values of one plane's run
  src_plane: u32,  // T_in * H * W
  src_start: u32,  // from * H * W
  dst_plane: u32,  // T_out * H * W
  dst_start: u32,  // offset * H * W
  _pad0: u32, _pad1: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read_write> dst: array<T>;
@group(0) @binding(2) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.total) {
    return;
  }
  let plane = i / p.run;
  let k = i - plane * p.run;
  dst[plane * p.dst_plane + p.dst_start + k] = src[plane * p.src_plane + p.src_start + k];
}
