/**
 * Buffer pool behaviour through the tokenizer: no leaks, no allocation in steady state.
 */

import assert from "node:assert/strict";
import { gpuTest, randomArray } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";

const DIR = new URL("./fixtures/DI8x8/", import.meta.url);

gpuTest(
  "encode()/decode() return every buffer and allocate nothing new in steady state",
  async (ops) => {
    const tok = await loadTokenizer({
      encoder: new URL("encoder.safetensors", DIR),
      decoder: new URL("decoder.safetensors", DIR),
      backend: ops,
    });
    const input = { data: randomArray(3 * 32 * 40, 5), shape: [1, 3, 32, 40] };
    const before = tok.memoryStats();
    const warm = await tok.encode(input);
    await tok.decode(warm.indices!);
    const afterWarm = tok.memoryStats();
    assert.equal(afterWarm.inUse, before.inUse, "bytes in use after a call returns to the start");
    await tok.encode(input);
    await tok.decode(warm.indices!);
    const steady = tok.memoryStats();
    assert.equal(steady.created, afterWarm.created, "no buffer created by a repeated call");
    assert.equal(steady.inUse, before.inUse);
    assert.ok(steady.peakInUse > before.inUse, "the peak counts the activations");
    await tok.dispose();
    assert.ok(tok.memoryStats().inUse < before.inUse, "dispose() returns the weights");
  },
);

Deno.test("a loaded tokenizer does not keep its checkpoint's bytes", async () => {
  // The checkpoint's bytes are referenced only weakly here; after a full GC they must be gone
  // while the tokenizer lives (and still works). A subprocess, for V8's --expose-gc.
  const script = `
    import { loadTokenizer } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
    const dir = ${JSON.stringify(new URL("./fixtures/CV4x8x8/", import.meta.url).href)};
    let bytes = await Deno.readFile(new URL("decoder.safetensors", dir));
    const ref = new WeakRef(bytes.buffer);
    const tok = await loadTokenizer({ decoder: bytes, backend: "wasm", wasm: { threads: 1 } });
    bytes = null;
    for (let i = 0; i < 3; i++) {
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 50));
    }
    const z = { data: new Float32Array(tok.latentChannels * 2 * 4 * 4), shape: [1, tok.latentChannels, 2, 4, 4] };
    const px = await tok.decode(z);
    console.log(JSON.stringify({ kept: ref.deref() !== undefined, frames: px.shape[2] }));
    await tok.dispose();
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--v8-flags=--expose-gc", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const result = JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  assert.deepEqual(result, { kept: false, frames: 5 });
});

gpuTest(
  "a stream's growing cache does not pile up outgrown buffers in the WebGPU pool",
  async (ops) => {
    // Each step joins the cache anew one frame larger (as a temporal attention's is) and reads
    // a result, as a stream's step does. The buffer the cache outgrew is never asked for
    // again: the pool must let it go, or it would hold every size the cache ever had.
    const frame = { data: randomArray(64 * 32 * 32, 3), shape: [1, 64, 1, 32, 32] };
    const frameBytes = 64 * 32 * 32 * 4;
    const x = ops.upload(frame);
    let cache = ops.joinFrames([{ tensor: x, from: 0, to: 1 }], { park: true });
    const steps = 24;
    let held = 0;
    for (let t = 1; t < steps; t++) {
      const next = ops.joinFrames([{ tensor: cache, from: 0, to: t }, {
        tensor: x,
        from: 0,
        to: 1,
      }], { park: true });
      ops.release(cache);
      cache = next;
      const y = ops.upsample(x, "space");
      await ops.read(y);
      ops.release(y);
      held = ops.memoryStats().allocated;
    }
    const cacheBytes = steps * frameBytes;
    // Live: the cache, x and a step's upsampled frame; free: a few recent steps' buffers.
    assert.ok(
      held < 3 * cacheBytes,
      `${held} bytes allocated for a ${cacheBytes}-byte cache`,
    );
    ops.release(cache);
    ops.release(x);
  },
);
