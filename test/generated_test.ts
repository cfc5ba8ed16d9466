import assert from "node:assert/strict";
import {
  renderWasmModule,
  renderWgslModule,
  WASM_OUT,
  WGSL_OUT,
} from "../src/tools/build_embedded.ts";

Deno.test("src/generated/wgsl.ts is up to date with wgsl/ (run `deno task build`)", async () => {
  const committed = await Deno.readTextFile(WGSL_OUT);
  assert.equal(committed, await renderWgslModule());
});

// Compiles asm/ in memory (about a second) and compares the bytes.
Deno.test("src/generated/wasm.ts is up to date with asm/ (run `deno task build`)", async () => {
  const committed = await Deno.readTextFile(WASM_OUT);
  assert.ok(committed === await renderWasmModule(), "src/generated/wasm.ts is stale");
});

Deno.test("renderWasmModule() is deterministic", async () => {
  assert.equal(await renderWasmModule(), await renderWasmModule());
});
