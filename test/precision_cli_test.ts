/**
 * `cosmos --precision`: f16 end to end through the CLI on WebGPU (the JSON line names the
 * backend that ran), and the flag's errors. Subprocesses, as a user runs it.
 */

import assert from "node:assert/strict";
import { FIXTURES, GPU_TEST } from "./helpers.ts";
import { encodeImage } from "../src/media/image.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const CI8 = (half: string) => new URL(`CI8x8/${half}.safetensors`, FIXTURES).pathname;
const CI = ["--encoder", CI8("encoder"), "--decoder", CI8("decoder")];

const HAS_F16 = await (async () => {
  const adapter = await navigator.gpu?.requestAdapter();
  return adapter?.features.has("shader-f16") ?? false;
})();

async function cosmos(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

const dir = Deno.makeTempDirSync({ prefix: "cosmos-precision-" });
const image = { width: 32, height: 24, data: new Uint8Array(32 * 24 * 3).map((_, i) => i % 251) };
Deno.writeFileSync(`${dir}/a.png`, encodeImage(image, "png"));

Deno.test({
  name: "cosmos autoencode --precision f16 runs on WebGPU at f16 and says so",
  ignore: !HAS_F16,
  ...GPU_TEST,
  async fn() {
    const args = ["autoencode", `${dir}/a.png`, ...CI, "--backend", "webgpu", "--json", "-y"];
    const r = await cosmos([...args, "--precision", "f16", "-o", `${dir}/b.png`]);
    assert.equal(r.code, 0, r.stderr);
    const line = JSON.parse(r.stdout.trim().split("\n").at(-1)!);
    assert.match(line.backend, /^webgpu f16 \(/);
    assert.ok(line.psnr > 0, r.stdout);
  },
});

Deno.test("cosmos --precision errors: an unknown value, and f16 on the WebAssembly backend", async () => {
  const bad = await cosmos(["encode", `${dir}/a.png`, ...CI, "--precision", "f8"]);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /cosmos encode: --precision must be f32 or f16, got "f8"/);
  const wasm = await cosmos([
    "encode",
    `${dir}/a.png`,
    ...CI,
    "--backend",
    "wasm",
    "--precision",
    "f16",
    "-o",
    `${dir}/a.cosmos`,
  ]);
  assert.equal(wasm.code, 1, wasm.stderr);
  assert.match(wasm.stderr, /Cannot use precision "f16" on the WebAssembly backend/);
});
