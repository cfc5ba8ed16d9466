// Workgroup-wide sum and max of one f32 per invocation with subgroup operations: each subgroup
// reduces in registers, its first lane leaves the result in workgroup memory, and every
// invocation folds those WG / subgroup_size values in the same order (so all agree, bit for
// bit): two barriers instead of reduce_workgroup.wgsl's log2(WG) + 2. The host includes this
// variant (after `enable subgroups;` where the compiler takes it) only where the adapter has subgroups and its subgroups were
// found to be consecutive, aligned runs of local_invocation_index (device.ts probes this):
// subgroup k of a workgroup is invocations [k * size, (k + 1) * size).
// Every invocation of the workgroup must call these in uniform control flow.

struct Lanes {
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
}

var<workgroup> partial: array<f32, WG>;

fn reduce_sum(tid: u32, lanes: Lanes, v: f32) -> f32 {
  let s = subgroupAdd(v);
  if (lanes.lane == 0u) {
    partial[tid / lanes.size] = s;
  }
  workgroupBarrier();
  var total = 0.0;
  for (var k = 0u; k < WG / lanes.size; k++) {
    total += partial[k];
  }
  workgroupBarrier();
  return total;
}

fn reduce_max(tid: u32, lanes: Lanes, v: f32) -> f32 {
  let s = subgroupMax(v);
  if (lanes.lane == 0u) {
    partial[tid / lanes.size] = s;
  }
  workgroupBarrier();
  var total = -3.4e38;
  for (var k = 0u; k < WG / lanes.size; k++) {
    total = max(total, partial[k]);
  }
  workgroupBarrier();
  return total;
}
