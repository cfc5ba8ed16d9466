// Causal attention along time, independently at every pixel, over a packed q/k/v tensor
// [B, 3C, T, H, W] (the reference's CausalTemporalAttnBlock): frame t attends to frames <= t.
// T is small (latent frames of one window), so scores are a [B, T, T, H*W] tensor:
//   scores_main: S[b, tq, tk, p] = scale * sum_c q[c, tq, p] k[c, tk, p]   for tk <= tq
//   apply_main:  out[b, c, tq, p] = sum_{tk <= tq} softmax_tk(S[b, tq, :, p]) v[c, tk, p]
// Pixels are the fastest index of every thread mapping so that memory accesses coalesce.

// Packed on the host by TEMPORAL_PARAMS in src/backends/webgpu/attention.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  channels: u32, frames: u32, pixels: u32, total: u32,
  scale: f32, _p0: u32, _p1: u32, _p2: u32,
}

@group(0) @binding(0) var<storage, read> qkv: array<f32>;
@group(0) @binding(1) var<storage, read_write> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> out: array<f32>;
@group(0) @binding(3) var<uniform> p: Params;

fn thread_index(gid: vec3<u32>, nwg: vec3<u32>) -> u32 {
  return gid.x + gid.y * nwg.x * 256u;
}

@compute @workgroup_size(256)
fn scores_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.total) {
    return;
  }
  // i = ((b * T + tq) * T + tk) * P + pix
  let pix = i % p.pixels;
  let tk = (i / p.pixels) % p.frames;
  let tq = (i / (p.pixels * p.frames)) % p.frames;
  let b = i / (p.pixels * p.frames * p.frames);
  if (tk > tq) {
    return;
  }
  let plane = p.frames * p.pixels;
  let q_base = b * 3u * p.channels * plane + tq * p.pixels + pix;
  let k_base = b * 3u * p.channels * plane + p.channels * plane + tk * p.pixels + pix;
  var dot = 0.0;
  for (var c = 0u; c < p.channels; c++) {
    dot += qkv[q_base + c * plane] * qkv[k_base + c * plane];
  }
  scores[i] = dot * p.scale;
}

@compute @workgroup_size(256)
fn apply_main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = thread_index(gid, nwg);
  if (i >= p.total) {
    return;
  }
  // i = ((b * C + c) * T + tq) * P + pix
  let pix = i % p.pixels;
  let tq = (i / p.pixels) % p.frames;
  let c = (i / (p.pixels * p.frames)) % p.channels;
  let b = i / (p.pixels * p.frames * p.channels);
  let row = ((b * p.frames + tq) * p.frames) * p.pixels + pix;
  var m = -3.4e38;
  for (var tk = 0u; tk <= tq; tk++) {
    m = max(m, scores[row + tk * p.pixels]);
  }
  let plane = p.frames * p.pixels;
  let v_base = b * 3u * p.channels * plane + (2u * p.channels + c) * plane + pix;
  var sum = 0.0;
  var acc = 0.0;
  for (var tk = 0u; tk <= tq; tk++) {
    let e = exp(scores[row + tk * p.pixels] - m);
    sum += e;
    acc += e * qkv[v_base + tk * p.pixels];
  }
  out[i] = acc / sum;
}
