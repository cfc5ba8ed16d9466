import assert from "node:assert/strict";
import { renderWgslModule, WGSL_OUT } from "../src/tools/build_embedded.ts";

Deno.test("src/generated/wgsl.ts is up to date with wgsl/ (run `deno task build`)", async () => {
  const committed = await Deno.readTextFile(WGSL_OUT);
  assert.equal(committed, await renderWgslModule());
});
