/**
 * `deno task convert`: canonical safetensors from .jit and safetensors inputs, with the variant,
 * compression and provenance in the metadata, loading back with no options.
 */

import assert from "node:assert/strict";
import { assertClose, gpuTest } from "./helpers.ts";
import { convertCheckpoint } from "../src/tools/convert.ts";
import { encodeSafetensors, loadTokenizer, parseSafetensors } from "../mod.ts";

const dir = (v: string) => new URL(`./fixtures/${v}/`, import.meta.url);
const path = (v: string, f: string) => new URL(f, dir(v)).pathname;

Deno.test("convertCheckpoint() writes metadata and F32 values equal to the upcast input", async () => {
  const out = await convertCheckpoint(path("CI8x8", "encoder.safetensors"));
  const converted = parseSafetensors(out.bytes);
  const original = parseSafetensors(await Deno.readFile(path("CI8x8", "encoder.safetensors")));
  assert.equal(out.variant, "Cosmos-0.1-Tokenizer-CI8x8");
  assert.equal(converted.metadata.variant, "Cosmos-0.1-Tokenizer-CI8x8");
  assert.equal(converted.metadata.halves, "encoder");
  assert.equal(converted.metadata.source_format, "safetensors");
  assert.deepEqual(JSON.parse(converted.metadata.config).spatial_compression, 8);
  assert.deepEqual([...converted.entries.keys()].sort(), [...original.entries.keys()].sort());
  for (const name of original.entries.keys()) {
    assert.equal(converted.entries.get(name)!.dtype, "F32");
    assert.deepEqual(converted.float32(name), original.float32(name), name);
  }
});

Deno.test("convertCheckpoint() needs the compression of a video checkpoint and checks --model", async () => {
  await assert.rejects(
    convertCheckpoint(path("CV4x8x8", "encoder.jit")),
    /weights do not say its compression; pass --model NAME or --spatial S --temporal T/,
  );
  await assert.rejects(
    convertCheckpoint(path("CI8x8", "encoder.safetensors"), { model: "DI8x8" }),
    /holds a Cosmos-0\.1-Tokenizer-CI8x8 checkpoint, not Cosmos-0\.1-Tokenizer-DI8x8/,
  );
  await assert.rejects(
    convertCheckpoint(
      encodeSafetensors({ x: { dtype: "F32", shape: [1], data: new Float32Array(1) } }),
    ),
    /holds no Cosmos tokenizer encoder or decoder/,
  );
});

gpuTest(
  "a .jit converted with its model name loads with no options and tokenizes the same",
  async (ops) => {
    const enc = await convertCheckpoint(path("CV4x8x8", "encoder.jit"), { model: "CV4x8x8" });
    const dec = await convertCheckpoint(path("CV4x8x8", "decoder.jit"), {
      compression: { spatial: 8, temporal: 4 },
    });
    assert.equal(parseSafetensors(enc.bytes).metadata.source_format, "torchscript");
    const tok = await loadTokenizer({ encoder: enc.bytes, decoder: dec.bytes, backend: ops });
    assert.equal(tok.model, "Cosmos-0.1-Tokenizer-CV4x8x8");
    const c = parseSafetensors(await Deno.readFile(path("CV4x8x8", "case_9x32x32.safetensors")));
    const want = (n: string) => ({ data: c.float32(n), shape: c.entries.get(n)!.shape });
    const { latent } = await tok.encode(want("input"));
    assertClose(latent!.data, want("latent").data, 1e-4, "latent");
    const rec = await tok.decode(want("latent"));
    assertClose(rec.data, want("reconstruction").data, 1e-4, "reconstruction");
    await tok.dispose();
  },
);
