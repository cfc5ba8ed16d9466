/**
 * Subgroups on WebGPU: the reductions of GroupNorm statistics and softmax through subgroup
 * operations (wgsl/reduce_subgroup.wgsl) give what the workgroup-memory tree gives
 * (wgsl/reduce_workgroup.wgsl) within f32 rounding, at both precisions; and the device uses
 * subgroups only where it has them and they are laid out as the reductions expect.
 * Lavapipe's device has subgroups (size 8) although Deno lists none among the adapter's features.
 */

import assert from "node:assert/strict";
import { assertClose, GPU_TEST, randomArray } from "./helpers.ts";
import { WebGpuOps } from "../src/backends/webgpu/backend.ts";
import { acquireGpu, adapterGrants } from "../src/backends/webgpu/device.ts";
import { probeSubgroups } from "../src/backends/webgpu/subgroups.ts";
import type { Backend, Tensor } from "../src/backends/ops.ts";

const HAS_GPU = !!(await navigator.gpu?.requestAdapter());

/** The device's subgroups as the backend found them; null without an adapter. */
const WITH = HAS_GPU ? await WebGpuOps.create() : null;
const WITHOUT = HAS_GPU ? await WebGpuOps.create({ withoutFeatures: ["subgroups"] }) : null;
const HAS_SUBGROUPS = WITH?.ctx.features.has("subgroups") ?? false;

/** GroupNorm statistics and the standalone norm, per clip and per frame, and attention. */
async function reductions(ops: Backend): Promise<Record<string, Float32Array>> {
  const out: Record<string, Float32Array> = {};
  const keep: Tensor[] = [];
  const read = async (name: string, t: Tensor) => {
    keep.push(t);
    out[name] = (await ops.read(t)).data as Float32Array;
  };
  // 1000 values per group: not a multiple of the workgroup, so the tails count too; an offset
  // mean, so the two passes (mean, then squared deviations) both matter.
  const x = ops.upload({
    data: randomArray(2 * 8 * 5 * 200, 3, -2, 3),
    shape: [2, 8, 5, 10, 20],
  });
  const gammaBeta = ops.upload({ data: randomArray(16, 4), shape: [8, 2] });
  keep.push(x, gammaBeta);
  for (const perFrame of [false, true]) {
    const stats = ops.groupNormStats(x, { groups: 4, eps: 1e-6, perFrame });
    await read(`stats perFrame=${perFrame}`, stats);
    const weights = { gammaBeta, channels: 8, groups: 4, eps: 1e-6 };
    await read(`norm perFrame=${perFrame}`, ops.groupNorm(x, { stats, weights, silu: true }));
  }
  // Softmax rows of 900 scores (30 x 30 pixels), scaled logits up to ~10.
  const qkv = ops.upload({ data: randomArray(1 * 3 * 16 * 900, 5, -3, 3), shape: [1, 48, 30, 30] });
  keep.push(qkv);
  await read("attention", ops.attention(qkv));
  keep.forEach((t) => ops.release(t));
  return out;
}

Deno.test({
  name: "subgroup reductions equal the workgroup-memory ones within f32 rounding (f32 and f16)",
  ignore: !HAS_SUBGROUPS,
  ...GPU_TEST,
  async fn() {
    assert.ok(WITH && WITHOUT && !WITHOUT.ctx.features.has("subgroups"));
    const adapter = await navigator.gpu.requestAdapter();
    const pairs: [string, Backend, Backend][] = [["f32", WITH, WITHOUT]];
    const with16 = adapter?.features.has("shader-f16")
      ? await WebGpuOps.create({ precision: "f16" })
      : null;
    const without16 = with16
      ? await WebGpuOps.create({ precision: "f16", withoutFeatures: ["subgroups"] })
      : null;
    if (with16 && without16) pairs.push(["f16", with16, without16]);
    for (const [precision, a, b] of pairs) {
      const got = await reductions(a), want = await reductions(b);
      for (const name of Object.keys(want)) {
        // f16 outputs round to 11 bits: a last-bit f32 difference may flip one rounding.
        const tol = precision === "f32" ? 2e-6 : 1e-3;
        const err = assertClose(got[name], want[name], tol, `${precision} ${name}`);
        console.log(`${precision} ${name}: subgroups vs workgroup memory ${err.toExponential(2)}`);
      }
    }
    with16?.destroy();
    without16?.destroy();
  },
});

Deno.test({
  name: "the subgroup probe finds this device's layout; without the feature none is used",
  ignore: !HAS_GPU,
  ...GPU_TEST,
  async fn() {
    const ctx = await acquireGpu();
    try {
      if (ctx.device.features.has("subgroups")) {
        const found = await probeSubgroups(ctx.device);
        assert.equal(found.directive, ctx.subgroupsDirective);
        assert.equal(found.usable, ctx.features.has("subgroups"));
        console.log(`subgroups: usable ${found.usable}, enable directive ${found.directive}`);
      }
    } finally {
      ctx.device.destroy();
    }
    const none = await acquireGpu({ withoutFeatures: ["subgroups"] });
    try {
      assert.ok(!none.device.features.has("subgroups"), "not even requested");
      assert.ok(!none.features.has("subgroups"));
    } finally {
      none.device.destroy();
    }
  },
});

Deno.test({
  name: "adapterGrants() asks for a device: subgroups unlisted yet granted, unknown names refused",
  ignore: !HAS_GPU,
  ...GPU_TEST,
  async fn() {
    const adapter = (await navigator.gpu.requestAdapter())!;
    assert.equal(await adapterGrants("timestamp-query"), adapter.features.has("timestamp-query"));
    assert.equal(await adapterGrants("no-such-feature"), false);
    const sub = await adapterGrants("subgroups");
    const coop = await adapterGrants("wgpu-cooperative-matrix");
    console.log(
      `${adapter.info.description}: subgroups listed ${
        adapter.features.has("subgroups")
      }, granted ${sub}; wgpu-cooperative-matrix granted ${coop}`,
    );
    // What acquireGpu found agrees with what a plain request is granted.
    assert.equal(sub, WITH!.ctx.device.features.has("subgroups"));
  },
});
