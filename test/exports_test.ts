/**
 * The package's public surface: deno.json's `exports` map, the entry points it names, and the
 * doc lint that keeps them documented (`deno task check` and .ci/run).
 */
import assert from "node:assert/strict";

const config = JSON.parse(await Deno.readTextFile("deno.json"));
const exportsMap: Record<string, string> = config.exports;

/** What each sub-path must offer a user, by name (not all of its exports). */
const EXPECTED: Record<string, string[]> = {
  ".": ["loadTokenizer", "Tokenizer", "findVariant", "VARIANTS"],
  "./cpu": ["haarPatch", "haarUnpatch", "fsqQuantize", "fsqIndicesToCodes", "fsqCodesToIndices"],
  "./safetensors": ["parseSafetensors", "encodeSafetensors", "f16ToF32", "bf16ToF32"],
  "./hub": ["resolveCheckpoint"],
  "./metrics": ["psnr", "ssim", "psnrFromMse", "QualityMeter"],
  "./server": ["createTokenizeHandler", "DEFAULT_LIMITS"],
  "./cli": ["main"],
};

Deno.test("deno.json exports every documented sub-path, each a file with a module doc", async () => {
  assert.deepEqual(Object.keys(exportsMap).sort(), Object.keys(EXPECTED).sort());
  for (const [sub, path] of Object.entries(exportsMap)) {
    const text = await Deno.readTextFile(path);
    const doc = /^(?:#![^\n]*\n)?\/\*\*([\s\S]*?)\*\//.exec(text);
    assert.ok(doc && doc[1].includes("@module"), `${sub} (${path}) opens with no @module doc`);
  }
});

Deno.test("each sub-path imports by the package's name and offers what it documents", async () => {
  for (const [sub, names] of Object.entries(EXPECTED)) {
    const specifier = sub === "." ? config.name : `${config.name}/${sub.slice(2)}`;
    const mod = await import(specifier);
    for (const name of names) {
      assert.ok(name in mod, `${specifier} does not export ${name}`);
    }
  }
});

Deno.test("deno task check doc-lints exactly the exported entry points", () => {
  const check: string = config.tasks.check;
  const lint = /deno doc --lint ([^&]+)/.exec(check);
  assert.ok(lint, "deno task check runs no deno doc --lint");
  const linted = lint[1].trim().split(/\s+/).map((p) => p.replace(/^\.\//, "")).sort();
  const exported = Object.values(exportsMap).map((p) => p.replace(/^\.\//, "")).sort();
  assert.deepEqual(linted, exported);
});
