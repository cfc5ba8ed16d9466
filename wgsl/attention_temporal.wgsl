// Causal attention along time, independently at every pixel, over a packed q/k/v tensor
// [B, 3C, T, H, W] (the reference's CausalTemporalAttnBlock): frame t attends to frames <= t.
// The operands are where src/backends/geometry.ts's TemporalLayout says (in floats): packed (q
// and kv bound to the same tensor), or queries [B, C, T - q0, H, W] apart from keys and values
// [B, 2C, T, H, W], as a stream's cache keeps them.
// Only the query frames tq in [q0, T) are computed (all of them unless a stream's step asks for
// its new frames), so scores are a [B, Q, T, H*W] tensor, Q = T - q0, and out is [B, C, Q, P]:
//   scores_main: S[b, tq - q0, tk, p] = scale * sum_c q[c, tq, p] k[c, tk, p]   for tk <= tq
//   apply_main:  out[b, c, tq - q0, p] = sum_{tk <= tq} softmax_tk(S[b, tq - q0, :, p]) v[c, tk, p]
// Pixels are the fastest index of every thread mapping so that memory accesses coalesce.
// q, kv and out are stored as T (f32, or f16 at precision "f16"); scores are f32 at every
// precision, and every sum is f32.

// Packed on the host by TEMPORAL_PARAMS in src/backends/webgpu/attention.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  channels: u32, frames: u32, pixels: u32, total: u32,
  scale: f32, q0: u32, queries: u32, q_batch: u32,
  q_plane: u32, q_shift: u32, k_base: u32, kv_batch: u32,
  kv_plane: u32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> q: array<T>;
@group(0) @binding(1) var<storage, read> kv: array<T>;
@group(0) @binding(2) var<storage, read_write> scores: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<T>;
@group(0) @binding(4) var<uniform> p: Params;

fn thread_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn scores_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.total) {
    return;
  }
  // i = ((b * Q + tq - q0) * T + tk) * P + pix
  let pix = i % p.pixels;
  let tk = (i / p.pixels) % p.frames;
  let tq = p.q0 + (i / (p.pixels * p.frames)) % p.queries;
  let b = i / (p.pixels * p.frames * p.queries);
  if (tk > tq) {
    return;
  }
  let q_base = b * p.q_batch + (tq - p.q_shift) * p.pixels + pix;
  let k_base = p.k_base + b * p.kv_batch + tk * p.pixels + pix;
  var dot = 0.0;
  for (var c = 0u; c < p.channels; c++) {
    dot += f32(q[q_base + c * p.q_plane]) * f32(kv[k_base + c * p.kv_plane]);
  }
  scores[i] = dot * p.scale;
}

@compute @workgroup_size(256)
fn apply_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.total) {
    return;
  }
  // i = ((b * C + c) * Q + tq - q0) * P + pix
  let pix = i % p.pixels;
  let tq = p.q0 + (i / p.pixels) % p.queries;
  let c = (i / (p.pixels * p.queries)) % p.channels;
  let b = i / (p.pixels * p.queries * p.channels);
  let row = ((b * p.queries + tq - p.q0) * p.frames) * p.pixels + pix;
  var m = -3.4e38;
  for (var tk = 0u; tk <= tq; tk++) {
    m = max(m, scores[row + tk * p.pixels]);
  }
  let v_base = p.k_base + b * p.kv_batch + (p.channels + c) * p.kv_plane + pix;
  var sum = 0.0;
  var acc = 0.0;
  for (var tk = 0u; tk <= tq; tk++) {
    let e = exp(scores[row + tk * p.pixels] - m);
    sum += e;
    acc += e * f32(kv[v_base + tk * p.pixels]);
  }
  out[i] = T(acc / sum);
}
