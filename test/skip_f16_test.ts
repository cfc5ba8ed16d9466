/**
 * The f16 tests' skip (skipWithoutF16 in helpers.ts): without shader-f16 a test adds one ignored
 * step saying why and returns; with it, the test runs on. The adapter is stood in for, as no
 * machine here has both kinds.
 */

import assert from "node:assert/strict";
import { hasShaderF16, skipWithoutF16 } from "./helpers.ts";

/** A test context that records the steps it is given. */
function recorder() {
  const steps: { name: string; ignore?: boolean }[] = [];
  const t = {
    step(def: { name: string; ignore?: boolean }) {
      steps.push({ name: def.name, ignore: def.ignore });
      return Promise.resolve(true);
    },
  } as unknown as Pick<Deno.TestContext, "step">;
  return { t, steps };
}

Deno.test("skipWithoutF16: no shader-f16 adds an ignored step that says so and skips", async () => {
  const { t, steps } = recorder();
  assert.equal(await skipWithoutF16(t, () => Promise.resolve(false)), true);
  assert.deepEqual(steps, [{ name: "skipped: no adapter with shader-f16", ignore: true }]);
});

Deno.test("skipWithoutF16: with shader-f16 the test runs on, no step added", async () => {
  const { t, steps } = recorder();
  assert.equal(await skipWithoutF16(t, () => Promise.resolve(true)), false);
  assert.deepEqual(steps, []);
});

Deno.test({
  name: "hasShaderF16 answers what the adapter says, the same promise every time",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const adapter = await navigator.gpu?.requestAdapter();
    assert.equal(await hasShaderF16(), adapter?.features.has("shader-f16") ?? false);
    assert.equal(hasShaderF16(), hasShaderF16());
  },
});
