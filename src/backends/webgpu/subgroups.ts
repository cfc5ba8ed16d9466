/**
 * Whether this device's subgroups are laid out as wgsl/reduce_subgroup.wgsl assumes.
 *
 * WGSL says nothing of how a workgroup's invocations are split into subgroups; the reductions
 * assume what Vulkan, Metal and D3D12 drivers do for a one-dimensional workgroup: subgroup k is
 * invocations [k * size, (k + 1) * size) by local_invocation_index, every subgroup full, and
 * the size dividing the workgroup. One dispatch of a 256-invocation workgroup (the reductions'
 * size) checks this once per device; where it does not hold, the device is used without
 * subgroups (device.ts), so a driver that lays them out otherwise costs speed, not results.
 * The probe also finds whether the shader compiler wants the standard `enable subgroups;`
 * (browsers' Tint does) or refuses it (the Naga of Deno 2.9, which has the built-ins without it).
 * @module
 */

/** The reductions' workgroup size (WG in groupnorm.wgsl and softmax.wgsl). */
const WG = 256;

const PROBE = `
@group(0) @binding(0) var<storage, read_write> ok: array<u32, ${WG}>;
@compute @workgroup_size(${WG})
fn main(
  @builtin(local_invocation_index) i: u32,
  @builtin(subgroup_invocation_id) lane: u32,
  @builtin(subgroup_size) size: u32,
) {
  let first = i - lane;
  let holds = lane == i % size && subgroupMin(i) == first && subgroupMax(i) == first + size - 1u &&
    subgroupAdd(1u) == size && ${WG}u % size == 0u;
  ok[i] = select(0u, 1u, holds);
}`;

/** What the probe found: whether the reductions may use subgroups, and how to enable them. */
export interface SubgroupSupport {
  /** Every invocation of the probe was where the reductions expect it. */
  usable: boolean;
  /** The compiler takes (and needs) `enable subgroups;`; false where it refuses the directive. */
  directive: boolean;
}

/** Runs the probe, with the directive and then without it. */
export async function probeSubgroups(device: GPUDevice): Promise<SubgroupSupport> {
  for (const directive of [true, false]) {
    const holds = await layoutHolds(device, directive);
    if (holds !== null) return { usable: holds, directive };
  }
  return { usable: false, directive: true };
}

/** True or false as the probe found; null where the probe did not compile. */
async function layoutHolds(device: GPUDevice, directive: boolean): Promise<boolean | null> {
  device.pushErrorScope("validation");
  const bytes = 4 * WG;
  const out = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
  });
  const staging = device.createBuffer({
    size: bytes,
    usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
  });
  try {
    const code = (directive ? "enable subgroups;" : "") + PROBE;
    const module = device.createShaderModule({ code, label: "subgroup layout probe" });
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: out } }],
      }),
    );
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(out, 0, staging, 0, bytes);
    device.queue.submit([enc.finish()]);
    if (await device.popErrorScope()) return null;
    await staging.mapAsync(GPUMapMode.READ);
    const ok = new Uint32Array(staging.getMappedRange());
    const holds = ok.every((v) => v === 1);
    staging.unmap();
    return holds;
  } catch {
    return null;
  } finally {
    out.destroy();
    staging.destroy();
  }
}
