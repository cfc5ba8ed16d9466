/**
 * A tokenizer loaded with no WebGPU device: the weights are still checked, encode/decode say
 * why they cannot run, and the parts that need no network (FSQ index/code conversion) work on
 * the CPU.
 */

import assert from "node:assert/strict";
import { loadTokenizer, parseSafetensors } from "../mod.ts";

const dir = (v: string) => new URL(`./fixtures/${v}/`, import.meta.url);
const file = (v: string, f: string) => new URL(f, dir(v)).pathname;

Deno.test("a tokenizer without a device converts indices and codes on the CPU, exactly", async () => {
  const tok = await loadTokenizer({
    encoder: file("DV8x8x8", "encoder.safetensors"),
    decoder: file("DV8x8x8", "decoder.safetensors"),
    backend: "none",
  });
  assert.equal(tok.backend, 'none (loaded with backend: "none")');
  assert.equal(tok.model, "Cosmos-0.1-Tokenizer-DV8x8x8");
  const c = parseSafetensors(await Deno.readFile(file("DV8x8x8", "case_17x32x48.safetensors")));
  const indices = { data: c.int32("indices"), shape: c.entries.get("indices")!.shape };
  const codes = { data: c.float32("codes"), shape: c.entries.get("codes")!.shape };
  const gotCodes = await tok.indicesToCodes(indices);
  assert.deepEqual(gotCodes.shape, codes.shape);
  assert.deepEqual([...gotCodes.data].map((v) => v + 0), [...codes.data].map((v) => v + 0));
  assert.deepEqual([...(await tok.codesToIndices(codes)).data], [...indices.data]);
  await assert.rejects(
    tok.encode({ data: new Float32Array(3 * 9 * 16 * 16), shape: [1, 3, 9, 16, 16] }),
    /Cannot encode: this tokenizer has no backend \(loaded with backend: "none"\); indicesToCodes and codesToIndices work without one/,
  );
  await assert.rejects(tok.decode(indices), /Cannot decode: this tokenizer has no backend/);
  assert.equal(tok.memoryStats().inUse, 0);
  await tok.dispose();
});

Deno.test("a tokenizer without a device still checks its weights and its kind", async () => {
  await assert.rejects(
    loadTokenizer({ encoder: file("CI8x8", "decoder.safetensors"), backend: "none" }),
    /holds a decoder, not an encoder/,
  );
  const ci = await loadTokenizer({
    encoder: file("CI8x8", "encoder.safetensors"),
    backend: "none",
  });
  await assert.rejects(
    ci.indicesToCodes({ data: new Int32Array(4), shape: [1, 2, 2] }),
    /Cannot indicesToCodes: Cosmos-0\.1-Tokenizer-CI8x8 is a continuous tokenizer, it has no codes/,
  );
  await ci.dispose();
});
