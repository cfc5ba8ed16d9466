/**
 * Precision "f16" on WebGPU: that f16 compute returns what it should (denoland/deno#23125 made
 * it return zeros), the storage path (conversion, odd lengths, memory halved, no mixing), the
 * option's errors, `tok.precision`, and the reductions' two variants (workgroup memory,
 * subgroups). The fixture fidelity at f16 is f16_fixtures_test.ts.
 */

import assert from "node:assert/strict";
import { FIXTURES, GPU_TEST, gpuOps, randomArray } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { WebGpuOps } from "../src/backends/webgpu/backend.ts";
import { kernelSource } from "../src/backends/webgpu/pipelines.ts";
import {
  f16Bits,
  f16Value,
  fromF16,
  storageBytes,
  toF16,
} from "../src/backends/webgpu/precision.ts";
import { createBackend } from "../src/backends/select.ts";

const HAS_F16 = await (async () => {
  const adapter = await navigator.gpu?.requestAdapter();
  return adapter?.features.has("shader-f16") ?? false;
})();

let shared: Promise<WebGpuOps> | null = null;
function f16Ops(): Promise<WebGpuOps> {
  shared ??= WebGpuOps.create({ precision: "f16" });
  return shared;
}

/** A test that needs an adapter with shader-f16 (ignored where there is none). */
function f16Test(name: string, fn: (ops: WebGpuOps) => Promise<void>): void {
  Deno.test({ name, ignore: !HAS_F16, ...GPU_TEST, fn: async () => fn(await f16Ops()) });
}

const CI8 = new URL("CI8x8/", FIXTURES);

// ---- f16 compute is not zeros (denoland/deno#23125) ------------------------------------

f16Test(
  "a tiny f16 kernel returns the known non-zero values (denoland/deno#23125)",
  async (ops) => {
    const device = ops.ctx.device;
    const module = device.createShaderModule({
      code: `enable f16;
      @group(0) @binding(0) var<storage, read> x: array<f16>;
      @group(0) @binding(1) var<storage, read_write> y: array<f16>;
      @compute @workgroup_size(4) fn main(@builtin(global_invocation_id) g: vec3<u32>) {
        y[g.x] = x[g.x] * 2.0h + 0.5h; // f16 arithmetic, not only f16 storage
      }`,
    });
    const pipeline = device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint: "main" },
    });
    const input = new Float32Array([1, -1.5, 0.25, 100]);
    const x = device.createBuffer({
      size: 8,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST,
    });
    const y = device.createBuffer({
      size: 8,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC,
    });
    const staging = device.createBuffer({
      size: 8,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    device.queue.writeBuffer(x, 0, toF16(input));
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(
      0,
      device.createBindGroup({
        layout: pipeline.getBindGroupLayout(0),
        entries: [{ binding: 0, resource: { buffer: x } }, { binding: 1, resource: { buffer: y } }],
      }),
    );
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(y, 0, staging, 0, 8);
    device.queue.submit([enc.finish()]);
    await staging.mapAsync(GPUMapMode.READ);
    const got = fromF16(staging.getMappedRange().slice(0), 4);
    staging.unmap();
    [x, y, staging].forEach((b) => b.destroy());
    assert.deepEqual([...got], [2.5, -2.5, 1, 200.5]);
  },
);

f16Test("f16 tensors go through a kernel and back exactly, odd lengths included", async (ops) => {
  // Every value here is exact in f16, and nearest 2x upsampling only copies them.
  const data = new Float32Array([1, -2, 0.5, 3.25, -1024, 0.125, 7, -0.75, 1.5]);
  const x = ops.upload({ data, shape: [1, 1, 1, 3, 3] });
  const up = ops.upsample(x, "space");
  const got = await ops.read(up);
  assert.deepEqual(got.shape, [1, 1, 1, 6, 6]);
  for (let h = 0; h < 6; h++) {
    for (let w = 0; w < 6; w++) {
      assert.equal(got.data[h * 6 + w], data[(h >> 1) * 3 + (w >> 1)], `(${h}, ${w})`);
    }
  }
  assert.deepEqual([...(await ops.read(x)).data], [...data]);
  ops.release(x);
  ops.release(up);
});

f16Test("joinFrames copies f16 frames exactly where runs have odd lengths", async (ops) => {
  const a = randomArray(2 * 3 * 3 * 3, 5);
  const b = randomArray(2 * 2 * 3 * 3, 6);
  const round = (v: Float32Array) => v.map((x) => f16Value(f16Bits(x)));
  const ta = ops.upload({ data: a, shape: [1, 2, 3, 3, 3] });
  const tb = ops.upload({ data: b, shape: [1, 2, 2, 3, 3] });
  const joined = ops.joinFrames([{ tensor: ta, from: 1, to: 3 }, { tensor: tb, from: 0, to: 1 }]);
  const got = (await ops.read(joined)).data;
  const ra = round(a), rb = round(b);
  const want: number[] = [];
  for (let c = 0; c < 2; c++) {
    want.push(...ra.slice(c * 27 + 9, c * 27 + 27), ...rb.slice(c * 18, c * 18 + 9));
  }
  assert.deepEqual([...got], want);
  [ta, tb, joined].forEach((t) => ops.release(t));
});

f16Test("an f16 tensor takes half the GPU bytes of an f32 one", async (ops) => {
  const f32 = await gpuOps();
  assert.ok(f32, "the shared f32 backend");
  const n = 65_536; // 2^16: both sizes are pool classes of their own, so nothing rounds
  const data = randomArray(n, 1);
  const before16 = ops.memoryStats().inUse, before32 = f32.memoryStats().inUse;
  const t16 = ops.upload({ data, shape: [n] });
  const t32 = f32.upload({ data, shape: [n] });
  const used16 = ops.memoryStats().inUse - before16;
  const used32 = f32.memoryStats().inUse - before32;
  ops.release(t16);
  f32.release(t32);
  assert.equal(used32, 4 * n, "f32: 4 bytes a value");
  assert.equal(used16, 2 * n, "f16: 2 bytes a value");
});

Deno.test("f16 conversion rounds to nearest even and pads odd lengths to whole words", () => {
  assert.equal(storageBytes(3, "f16"), 8);
  assert.equal(storageBytes(4, "f16"), 8);
  assert.equal(storageBytes(3, "f32"), 12);
  const values = [
    0,
    -0,
    1,
    -2,
    65504,
    65520,
    1e-8,
    5.960464477539063e-8,
    1 + 2 ** -11,
    1 + 3 * 2 ** -11,
  ];
  // 65520 rounds up to infinity; 1e-8 to zero; 1 + 2^-11 is a tie (to 1), 1 + 3 * 2^-11 to 1 + 2^-9.
  const want = [0, -0, 1, -2, 65504, Infinity, 0, 5.960464477539063e-8, 1, 1 + 2 ** -9];
  assert.deepEqual(values.map((v) => f16Value(f16Bits(v))), want);
  const bits = toF16(new Float32Array(values));
  assert.equal(bits.length, 10);
  assert.deepEqual([...bits], values.map(f16Bits), "Float16Array and the fallback agree");
  assert.deepEqual([...fromF16(bits.buffer, values.length)], want);
  assert.deepEqual([...toF16(new Float32Array([1, 2, 3]))], [0x3c00, 0x4000, 0x4200, 0]);
});

// ---- the option and its errors ---------------------------------------------------------

f16Test("precision f16 shows on the tokenizer and its backend; f32 is the default", async () => {
  const paths = {
    encoder: new URL("encoder.safetensors", CI8).pathname,
    decoder: new URL("decoder.safetensors", CI8).pathname,
  };
  const tok = await loadTokenizer({ ...paths, backend: "webgpu", precision: "f16" });
  try {
    assert.equal(tok.precision, "f16");
    assert.match(tok.backend, /^webgpu f16 \(/);
    // The weights are stored at half their f32 size.
    const half = tok.memoryStats().inUse;
    const f32 = await loadTokenizer({ ...paths, backend: "webgpu" });
    assert.equal(f32.precision, "f32");
    assert.match(f32.backend, /^webgpu \(/);
    const full = f32.memoryStats().inUse;
    await f32.dispose();
    assert.ok(half < 0.6 * full, `f16 weights take ${half} bytes, f32 ${full}`);
  } finally {
    await tok.dispose();
  }
  const wasm = await loadTokenizer({ ...paths, backend: "wasm" });
  assert.equal(wasm.precision, "f32");
  await wasm.dispose();
});

Deno.test({
  name: "precision f16 on an adapter without shader-f16 is an error saying what to do",
  ignore: !navigator.gpu,
  ...GPU_TEST,
  async fn() {
    await assert.rejects(
      () => WebGpuOps.create({ precision: "f16", withoutFeatures: ["shader-f16"] }),
      /^Error: Cannot use precision "f16": the WebGPU adapter .+ lacks the shader-f16 feature; use precision "f32" \(the default\)$/,
    );
    await assert.rejects(
      () =>
        loadTokenizer({
          encoder: new URL("encoder.safetensors", CI8).pathname,
          precision: "f16",
          webgpu: { withoutFeatures: ["shader-f16"] },
        }),
      /lacks the shader-f16 feature/,
      '"auto" with f16 does not fall back to WebAssembly at f32',
    );
  },
});

Deno.test("precision f16 on the WebAssembly backend is an error", async () => {
  await assert.rejects(
    () =>
      loadTokenizer({
        encoder: new URL("encoder.safetensors", CI8).pathname,
        backend: "wasm",
        precision: "f16",
      }),
    /^Error: Cannot use precision "f16" on the WebAssembly backend, which stores and computes in f32: use backend "webgpu" \(an adapter with shader-f16\), or precision "f32"$/,
  );
});

Deno.test("an unknown precision is an error naming the ones there are", async () => {
  await assert.rejects(
    () => createBackend("wasm", { precision: "bf16" as "f16" }),
    /^Error: Cannot create the backend: unknown precision "bf16"; expected "f32" or "f16"$/,
  );
});

Deno.test({
  name: "a shared backend of another precision is an error",
  ignore: !navigator.gpu,
  ...GPU_TEST,
  async fn() {
    const ops = await gpuOps();
    assert.ok(ops);
    await assert.rejects(
      () =>
        loadTokenizer({
          encoder: new URL("encoder.safetensors", CI8).pathname,
          backend: ops,
          precision: "f16",
        }),
      /^Error: Cannot load tokenizer with precision "f16": the shared backend webgpu \(.+\) stores f32; create it with that precision, or leave precision out$/,
    );
  },
});

f16Test(
  "a kernel fed tensors of two precisions says so instead of reading garbage",
  async (ops) => {
    const f32 = await gpuOps();
    assert.ok(f32);
    const x = ops.upload({ data: randomArray(2 * 4 * 4, 2), shape: [1, 2, 1, 4, 4] });
    const bias = ops.upload({ data: new Float32Array(2), shape: [2] });
    // A weight uploaded through the f32 backend: stored as f32, bound beside f16 tensors.
    const w32 = f32.upload({ data: new Float32Array(4), shape: [2, 2, 1, 1, 1] });
    assert.throws(
      () => ops.conv(x, { weight: w32, bias, cout: 2, cin: 2, kernel: [1, 1, 1] }),
      /^Error: Cannot run conv.*: its tensors mix f16 and f32 storage \(upload every tensor through the same backend\)$/,
    );
    f32.release(w32);
    [x, bias].forEach((t) => ops.release(t));
  },
);

// ---- reductions: workgroup memory or subgroups -----------------------------------------

Deno.test("the reductions' subgroup variant is chosen by SUBGROUPS and enables the extension", () => {
  for (const kernel of ["groupnorm", "softmax"]) {
    const plain = kernelSource(kernel, { T: "f32" });
    assert.doesNotMatch(plain, /^enable subgroups;/m, kernel);
    assert.ok(!plain.includes("subgroupAdd"), kernel);
    assert.match(plain, /@builtin\(local_invocation_index\) index: u32/);
    const sub = kernelSource(kernel, { T: "f16", SUBGROUPS: true });
    assert.ok(sub.startsWith("enable f16;\nenable subgroups;\n"), sub.slice(0, 60));
    assert.match(sub, /subgroupAdd\(v\)/);
    assert.match(sub, /subgroupMax\(v\)/);
    // Deno 2.9's Naga refuses the directive and has the built-ins without it.
    const naga = kernelSource(kernel, { T: "f32", SUBGROUPS: true }, false);
    assert.doesNotMatch(naga, /^enable subgroups;/m, kernel);
    assert.match(naga, /subgroupAdd\(v\)/, kernel);
  }
  assert.throws(() => kernelSource("frames", { T: "f64" as "f32" }), /Invalid shader type T: f64/);
});
