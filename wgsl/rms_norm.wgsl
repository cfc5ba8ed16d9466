// RMS norm over channels of channels-first [B, C, ...] (the Wan VAE's RMS_norm), then SiLU
// when `silu` is set: y = x / max(||x||_C, 1e-12) * sqrt(C) * gamma, one thread per (batch,
// position), reading its C values twice (adjacent threads read adjacent positions). Values are
// stored as T (f32, or f16 at precision "f16"); the arithmetic is f32.

// Packed on the host by RMS_NORM_PARAMS in src/backends/webgpu/rms_norm.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  channels: u32, positions: u32, total: u32, silu: u32,
}

@group(0) @binding(0) var<storage, read> src: array<T>;
@group(0) @binding(1) var<storage, read> gamma: array<T>;
@group(0) @binding(2) var<storage, read_write> dst: array<T>;
@group(0) @binding(3) var<uniform> p: Params;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>) {
  let i = gid.x + gid.y * nwg.x * 256u;
  if (i >= p.total) {
    return;
  }
  let b = i / p.positions;
  let base = b * p.channels * p.positions + i % p.positions;
  var sum = 0.0;
  for (var c = 0u; c < p.channels; c++) {
    let v = f32(src[base + c * p.positions]);
    sum += v * v;
  }
  let scale = sqrt(f32(p.channels)) / max(sqrt(sum), 1e-12);
  for (var c = 0u; c < p.channels; c++) {
    let at = base + c * p.positions;
    var v = f32(src[at]) * scale * f32(gamma[c]);
    if (p.silu != 0u) {
      v = v / (1.0 + exp(-v));
    }
    dst[at] = T(v);
  }
}
