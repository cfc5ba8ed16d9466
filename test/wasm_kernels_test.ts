/**
 * The host's declaration of the asm/ kernels (KERNELS in src/backends/wasm/kernels.ts) against
 * the AssemblyScript sources: every `export function` of asm/*.ts is declared, and each
 * declaration names the parameters of the asm signature in the same order (the named ones, then
 * the launcher's range pair), so a signature changed in asm/ can no longer shift the arguments
 * the host passes. Reads the sources only: no WebAssembly runs.
 */

import assert from "node:assert/strict";
import { type KernelName, KERNELS } from "../src/backends/wasm/kernels.ts";

const ASM_DIR = new URL("../asm/", import.meta.url);

/** `export function name(a: T, b: T, ...)` of an AssemblyScript source: name -> parameters. */
function exportedSignatures(source: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const m of source.matchAll(/^export function (\w+)\s*\(([^)]*)\)/gm)) {
    const params = m[2].split(",").map((p) => p.trim()).filter((p) => p !== "")
      .map((p) => p.split(":")[0].trim());
    out.set(m[1], params);
  }
  return out;
}

async function asmSignatures(): Promise<Map<string, { file: string; params: string[] }>> {
  const all = new Map<string, { file: string; params: string[] }>();
  for await (const e of Deno.readDir(ASM_DIR)) {
    if (!e.isFile || !e.name.endsWith(".ts")) continue;
    const source = await Deno.readTextFile(new URL(e.name, ASM_DIR));
    for (const [name, params] of exportedSignatures(source)) {
      assert.ok(!all.has(name), `${name} is exported by two asm files`);
      all.set(name, { file: `asm/${e.name}`, params });
    }
  }
  return all;
}

Deno.test("exportedSignatures() reads multi-line parameter lists", () => {
  const sigs = exportedSignatures(
    "// export function commented(x: i32): void {}\n" +
      "export function one(a: usize, b: i32,\n  c: f32,\n): void {\n}\n" +
      "export function none(): usize { return 0; }\n" +
      "function local(q: i32): void {}\n",
  );
  assert.deepEqual([...sigs], [["one", ["a", "b", "c"]], ["none", []]]);
});

Deno.test("KERNELS declares every export of asm/ and nothing else", async () => {
  const asm = await asmSignatures();
  assert.ok(asm.size > 0, "no exports found in asm/");
  assert.deepEqual(Object.keys(KERNELS).sort(), [...asm.keys()].sort());
});

Deno.test("KERNELS names each kernel's parameters as asm/ does, in its order", async () => {
  const asm = await asmSignatures();
  for (const name of Object.keys(KERNELS) as KernelName[]) {
    const decl: { params: readonly string[]; range?: readonly string[] } = KERNELS[name];
    const declared = [...decl.params, ...(decl.range ?? [])];
    const found = asm.get(name);
    assert.ok(found, `${name} is not exported by asm/`);
    assert.deepEqual(declared, found.params, `${name} (${found.file})`);
  }
});
