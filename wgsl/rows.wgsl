// A block of rows and frames copied between tensors viewed as [P, T, H, W] (P = B * C planes;
// images have T = 1), for joinFrames and the row bands of src/backends/webgpu/bands.ts: frames
// [from_frame, from_frame + frames) and rows [from_row, from_row + rows) of `src` go to frames
// [to_frame, ...) and rows [to_row, ...) of `dst`, one thread per value. Values move as T, an
// alias the host declares: u32 words for f32 and i32 tensors (bit for bit), f16 for tensors
// stored as f16.

// Packed on the host by ROWS_PARAMS in src/backends/webgpu/frames.ts (joinFrames, and the row
// bands of bands.ts);
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  total: u32,       // values copied: P * frames * rows * width
  width: u32,       // W, the same in both
  rows: u32,
  frames: u32,
  src_frames: u32,  // T and H of src
  src_rows: u32,
  from_frame: u32,
  from_row: u32,
  dst_frames: u32,  // T and H of dst
  dst_rows: u32,
  to_frame: u32,
  to_row: u32,
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
  let x = i % p.width;
  let r = (i / p.width) % p.rows;
  let f = (i / (p.width * p.rows)) % p.frames;
  let plane = i / (p.width * p.rows * p.frames);
  let s = ((plane * p.src_frames + p.from_frame + f) * p.src_rows + p.from_row + r) * p.width + x;
  let d = ((plane * p.dst_frames + p.to_frame + f) * p.dst_rows + p.to_row + r) * p.width + x;
  dst[d] = src[s];
}
