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
