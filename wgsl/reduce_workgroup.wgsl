// Workgroup-wide sum and max of one f32 per invocation, through workgroup memory (a tree of
// log2(WG) barriers): the reductions of groupnorm.wgsl and softmax.wgsl where the adapter has no
// subgroups. reduce_subgroup.wgsl defines the same names with subgroup operations; the host
// includes one or the other. The including kernel defines WG (its workgroup size, a power of
// two) and passes its entry point's `Lanes`, which this variant does not read.
// Every invocation of the workgroup must call these in uniform control flow.

struct Lanes {
  @builtin(local_invocation_index) index: u32,
}

var<workgroup> partial: array<f32, WG>;

fn reduce_sum(tid: u32, lanes: Lanes, v: f32) -> f32 {
  partial[tid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      partial[tid] += partial[tid + s];
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}

fn reduce_max(tid: u32, lanes: Lanes, v: f32) -> f32 {
  partial[tid] = v;
  workgroupBarrier();
  for (var s = WG / 2u; s > 0u; s >>= 1u) {
    if (tid < s) {
      partial[tid] = max(partial[tid], partial[tid + s]);
    }
    workgroupBarrier();
  }
  let total = partial[0];
  workgroupBarrier();
  return total;
}
