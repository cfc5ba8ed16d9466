/**
 * Backend choice: "auto" takes WebGPU only on a real GPU and WebAssembly otherwise, explicit
 * choices are honoured or fail clearly, and the WebAssembly backend gives the same numbers on
 * any thread count.
 */

import assert from "node:assert/strict";
import { loadTokenizer } from "../mod.ts";
import { probeAdapter } from "../src/backends/webgpu/device.ts";
import { WasmOps } from "../src/backends/wasm/backend.ts";
import { GPU_TEST, randomArray } from "./helpers.ts";
import { convParams, normParams } from "../src/nn/params.ts";

const dir = new URL("./fixtures/CI8x8/", import.meta.url);
const halves = {
  encoder: new URL("encoder.safetensors", dir).pathname,
  decoder: new URL("decoder.safetensors", dir).pathname,
};

Deno.test({
  name: 'backend "auto" is WebGPU on a hardware adapter and WebAssembly otherwise',
  ...GPU_TEST,
  async fn() {
    const adapter = await probeAdapter();
    const tok = await loadTokenizer({ ...halves });
    try {
      const want = adapter && !adapter.isSoftware ? "webgpu (" : "wasm (";
      assert.ok(
        tok.backend.startsWith(want),
        `auto chose ${tok.backend} (adapter: ${adapter?.name})`,
      );
    } finally {
      await tok.dispose();
    }
  },
});

Deno.test({
  name: 'backend "wasm" tokenizes and says so, with the thread count asked for',
  ...GPU_TEST,
  async fn() {
    const tok = await loadTokenizer({ ...halves, backend: "wasm", wasm: { threads: 1 } });
    try {
      assert.match(tok.backend, /^wasm \((relaxed )?SIMD, 1 thread\)$/);
      const enc = await tok.encode({ data: randomArray(3 * 16 * 16, 1), shape: [1, 3, 16, 16] });
      assert.deepEqual(enc.latent!.shape, [1, 16, 2, 2]);
      assert.ok(tok.memoryStats().peakInUse > 0);
    } finally {
      await tok.dispose();
    }
  },
});

Deno.test("an unknown backend or a bad thread count is a clear load error", async () => {
  await assert.rejects(
    // deno-lint-ignore no-explicit-any
    loadTokenizer({ ...halves, backend: "cuda" as any }),
    /Unknown backend "cuda": expected one of auto, webgpu, wasm, none/,
  );
  await assert.rejects(
    loadTokenizer({ ...halves, backend: "wasm", wasm: { threads: 0 } }),
    /threads must be a positive integer, got 0/,
  );
});

Deno.test({
  name: 'without WebGPU, "webgpu" fails saying so and "auto" falls back to WebAssembly',
  ...GPU_TEST,
  async fn() {
    const nav = globalThis.navigator as unknown as Record<string, unknown>;
    Object.defineProperty(nav, "gpu", { value: undefined, configurable: true });
    try {
      await assert.rejects(
        loadTokenizer({ ...halves, backend: "webgpu" }),
        /WebGPU is not available: this runtime has no navigator.gpu/,
      );
      const tok = await loadTokenizer({ ...halves });
      assert.ok(tok.backend.startsWith("wasm ("), tok.backend);
      await tok.dispose();
    } finally {
      delete nav.gpu;
    }
    assert.ok("gpu" in navigator, "navigator.gpu is back");
  },
});

Deno.test({
  name: "the WebAssembly backend gives identical results on 1 and 3 threads",
  ...GPU_TEST,
  async fn() {
    const results: Float32Array[] = [];
    for (const threads of [1, 3]) {
      const ops = await WasmOps.create({ threads });
      try {
        assert.equal(ops.threads, threads);
        const [cin, cout, h, w] = [24, 40, 19, 23];
        const x = ops.upload({ data: randomArray(2 * cin * h * w, 5), shape: [2, cin, h, w] });
        const conv = convParams(
          ops,
          randomArray(cout * cin * 9, 6, -0.2, 0.2),
          [cout, cin, 3, 3],
          randomArray(cout, 7),
        );
        const norm = normParams(ops, randomArray(cin, 8, 0.5, 1.5), randomArray(cin, 9), 8, 1e-6);
        const stats = ops.groupNormStats(x, { groups: 8, eps: 1e-6 });
        const y = ops.conv(x, conv, { norm: { stats, weights: norm, silu: true } });
        const qkv = ops.conv(
          y,
          convParams(
            ops,
            randomArray(3 * cout * cout, 10, -0.2, 0.2),
            [3 * cout, cout, 1, 1],
            randomArray(3 * cout, 11),
          ),
        );
        results.push((await ops.read(ops.attention(qkv))).data as Float32Array);
      } finally {
        ops.destroy();
      }
    }
    assert.deepEqual(results[1], results[0]);
  },
});

Deno.test({
  name: "cached Winograd weights give the same numbers and go with their layer",
  ...GPU_TEST,
  async fn() {
    const plain = await WasmOps.create({ threads: 2, winogradCacheBytes: 0 });
    const cached = await WasmOps.create({ threads: 2, winogradCacheBytes: 64 << 20 });
    try {
      const [cin, cout, h, w] = [20, 14, 13, 9];
      const data = randomArray(cin * h * w, 21);
      const weight = randomArray(cout * cin * 9, 22, -0.2, 0.2);
      const bias = randomArray(cout, 23);
      const outs: Float32Array[] = [];
      const held: number[] = [];
      for (const ops of [plain, cached]) {
        const before = ops.memoryStats().inUse;
        const conv = convParams(ops, weight, [cout, cin, 3, 3], bias);
        const x = ops.upload({ data, shape: [1, cin, h, w] });
        for (let r = 0; r < 2; r++) {
          const y = ops.conv(x, conv);
          outs.push((await ops.read(y)).data as Float32Array);
          ops.release(y);
        }
        held.push(ops.memoryStats().inUse - before);
        for (const t of [x, conv.weight, conv.bias]) ops.release(t);
        assert.equal(ops.memoryStats().inUse, before, "releasing the layer frees its transform");
      }
      for (const o of outs.slice(1)) assert.deepEqual(o, outs[0]);
      // 36 positions x Cout rounded up to 6 x Cin: kept by the cache only.
      assert.ok(held[1] - held[0] >= 36 * 18 * cin * 4, `held ${held}`);
    } finally {
      plain.destroy();
      cached.destroy();
    }
  },
});

Deno.test({
  name: "idle worker threads stop, the work goes on alone, and they come back",
  ...GPU_TEST,
  async fn() {
    const ops = await WasmOps.create({ threads: 2, idleMs: 30 });
    try {
      const run = async () => {
        const x = ops.upload({ data: randomArray(4 * 3 * 64 * 64, 30), shape: [4, 3, 64, 64] });
        const out = await ops.read(ops.avgPool(
          ops.upload({
            data: randomArray(3 * 8 * 5 * 16 * 16, 31),
            shape: [1, 24, 5, 16, 16],
          }),
          "time",
        ));
        const y = await ops.read(ops.haarPatch(x, 2));
        return [out.data, y.data];
      };
      const first = await run();
      assert.equal(ops.threads, 2);
      await new Promise((r) => setTimeout(r, 150));
      assert.equal(ops.threads, 1, "the worker stopped when idle");
      assert.deepEqual(await run(), first, "the calling thread alone gives the same");
      for (let i = 0; i < 50 && ops.threads < 2; i++) await new Promise((r) => setTimeout(r, 20));
      assert.equal(ops.threads, 2, "the worker came back");
      assert.deepEqual(await run(), first);
    } finally {
      ops.destroy();
    }
  },
});

Deno.test({
  name: "a pool closed while its idle workers restart lets the process exit",
  ...GPU_TEST,
  async fn() {
    // The workers stop when idle; the next launch restarts them in the background, and the
    // backend is destroyed before they are up. Before the fix they then waited for a job
    // forever, and the process never exited.
    const backend = import.meta.resolve("../src/backends/wasm/backend.ts");
    const script = await Deno.makeTempFile({ suffix: ".ts" });
    await Deno.writeTextFile(
      script,
      `import { WasmOps } from ${JSON.stringify(backend)};
const ops = await WasmOps.create({ threads: 2, idleMs: 30 });
const run = () => ops.read(ops.avgPool(ops.upload({
  data: new Float32Array(24 * 5 * 16 * 16), shape: [1, 24, 5, 16, 16] }), "time"));
await run();
await new Promise((r) => setTimeout(r, 150));
await run();
ops.destroy();
console.log("destroyed");
`,
    );
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script],
        stdout: "piped",
        stderr: "piped",
        signal: AbortSignal.timeout(60_000),
      }).output();
      const text = new TextDecoder().decode(out.stdout);
      assert.match(text, /destroyed/, new TextDecoder().decode(out.stderr));
      assert.equal(out.signal, null, "the process exited by itself, not killed by the timeout");
      assert.equal(out.code, 0);
    } finally {
      await Deno.remove(script);
    }
  },
});

Deno.test({
  name: "Winograd convolutions a band of rows at a time give the numbers of whole frames",
  ...GPU_TEST,
  async fn() {
    // Band budget 1 byte: every band is one 4-row tile row (the least it can be).
    const whole = await WasmOps.create({ threads: 2 });
    const banded = await WasmOps.create({ threads: 2, winogradBandBytes: 1 });
    try {
      const [cin, cout, h, w] = [6, 5, 14, 9];
      const weight = randomArray(cout * cin * 9, 31, -0.2, 0.2);
      const bias = randomArray(cout, 32);
      const gamma = randomArray(cin, 33, 0.5, 1.5), beta = randomArray(cin, 34);
      // Images, video frames (staged), upsampled input (upsample: rows doubled), with a fused
      // norm + SiLU and a residual.
      const cases = [
        { shape: [2, cin, h, w], upsample: false },
        { shape: [1, cin, 3, h, w], upsample: false },
        { shape: [1, cin, 2, 7, 5], upsample: true },
      ];
      for (const { shape, upsample } of cases) {
        const outs: Float32Array[] = [];
        for (const ops of [whole, banded]) {
          const conv = convParams(ops, weight, [cout, cin, 3, 3], bias);
          const norm = normParams(ops, gamma, beta, 2);
          const x = ops.upload({ data: randomArray(shape.reduce((a, n) => a * n), 35), shape });
          const outShape = [...shape];
          outShape[1] = cout;
          if (upsample) outShape.splice(-2, 2, 2 * shape.at(-2)!, 2 * shape.at(-1)!);
          const res = ops.upload({
            data: randomArray(outShape.reduce((a, n) => a * n), 36),
            shape: outShape,
          });
          const stats = ops.groupNormStats(x, { groups: 2, eps: 1e-6, perFrame: true });
          const y = ops.conv(x, conv, {
            upsample,
            residual: res,
            norm: { stats, weights: norm, silu: true },
          });
          outs.push((await ops.read(y)).data as Float32Array);
          for (const t of [y, stats, res, x, conv.weight, conv.bias, norm.gammaBeta]) {
            ops.release(t);
          }
        }
        assert.deepEqual(outs[1], outs[0], `${shape} upsample ${upsample}`);
      }
    } finally {
      whole.destroy();
      banded.destroy();
    }
  },
});

Deno.test("bad WebAssembly options fail the load whichever backend auto would take", async () => {
  await assert.rejects(
    loadTokenizer({ ...halves, wasm: { threads: 1.5 } }),
    /threads must be a positive integer, got 1.5/,
  );
  await assert.rejects(
    loadTokenizer({ ...halves, backend: "wasm", wasm: { winogradCacheBytes: -1 } }),
    /winogradCacheBytes must be a number >= 0, got -1/,
  );
  await assert.rejects(
    loadTokenizer({ ...halves, backend: "wasm", wasm: { winogradBandBytes: NaN } }),
    /winogradBandBytes must be a number >= 0, got NaN/,
  );
});
