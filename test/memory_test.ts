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
