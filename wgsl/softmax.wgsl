// Row softmax in place, with the attention scale applied to the logits first:
//   row[j] = exp(scale * row[j] - max) / sum. One workgroup per row.
// Scores are f32 at every precision (see src/backends/webgpu/precision.ts). The max and the sum
// are reduce_max / reduce_sum, which the host includes from reduce_workgroup.wgsl or, where the
// adapter has subgroups, reduce_subgroup.wgsl.

// Packed on the host by SOFTMAX_PARAMS in src/backends/webgpu/attention.ts;
// test/webgpu_params_test.ts checks that both list the same fields in the same order.
struct Params {
  rows: u32, cols: u32, scale: f32, _pad: u32,
}

@group(0) @binding(0) var<storage, read_write> s: array<f32>;
@group(0) @binding(1) var<uniform> p: Params;

const WG: u32 = 256u;

@compute @workgroup_size(WG)
fn main(
  @builtin(local_invocation_id) lid: vec3<u32>,
  @builtin(workgroup_id) wid: vec3<u32>,
  @builtin(num_workgroups) nwg: vec3<u32>,
  lanes: Lanes,
) {
  let row = wid.x + wid.y * nwg.x;
  let tid = lid.x;
  // Rows past the end still join the barriers below; they only skip memory accesses.
  let live = row < p.rows;
  let base = row * p.cols;

  var m = -3.4e38;
  if (live) {
    for (var j = tid; j < p.cols; j += WG) {
      m = max(m, p.scale * s[base + j]);
    }
  }
  let row_max = reduce_max(tid, lanes, m);

  var sum = 0.0;
  if (live) {
    for (var j = tid; j < p.cols; j += WG) {
      let e = exp(p.scale * s[base + j] - row_max);
      s[base + j] = e;
      sum += e;
    }
  }
  let inv = 1.0 / reduce_sum(tid, lanes, sum);
  if (live) {
    for (var j = tid; j < p.cols; j += WG) {
      s[base + j] *= inv;
    }
  }
}
