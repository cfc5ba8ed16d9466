/**
 * The package as users import it from a URL: mod.ts itself and the bundled
 * dist/cosmos-webgpu.js, both served over HTTP on 127.0.0.1 and imported by a fresh Deno
 * process that also fetches its weights from the server, giving the local import's result.
 */

import assert from "node:assert/strict";
import { DIST_OUT, renderDist } from "../src/tools/build_dist.ts";
import { renderDts, TYPES_DIR } from "../src/tools/build_dts.ts";
import { BACKENDS, backendTest } from "./helpers.ts";
import { fsqIndicesToCodes, loadTokenizer, parseSafetensors } from "../mod.ts";

const ROOT = new URL("../", import.meta.url);

Deno.test("dist/cosmos-webgpu.js is up to date with the sources (run `deno task build`)", async () => {
  const committed = await Deno.readTextFile(DIST_OUT);
  assert.equal(committed, await renderDist());
  assert.ok(!/\bDeno\./.test(committed), "the bundle calls no Deno API directly");
});

Deno.test("dist/cosmos-webgpu.d.ts and dist/types/ are up to date with the sources (run `deno task build`)", async () => {
  const dist = new URL("../dist/", import.meta.url);
  const expected = await renderDts();
  const committed = new Map<string, string>();
  const walk = async (dir: string) => {
    for await (const e of Deno.readDir(new URL(dir, dist))) {
      if (e.isDirectory) await walk(`${dir}${e.name}/`);
      else committed.set(dir + e.name, await Deno.readTextFile(new URL(dir + e.name, dist)));
    }
  };
  await walk(TYPES_DIR);
  committed.set("cosmos-webgpu.d.ts", await Deno.readTextFile(new URL("cosmos-webgpu.d.ts", dist)));
  // The same files (none missing, none left over from a removed module), with the same text.
  assert.deepEqual([...committed.keys()].sort(), [...expected.keys()].sort());
  for (const [path, text] of expected) assert.equal(committed.get(path), text, `dist/${path}`);
});

const TYPES: Record<string, string> = {
  ts: "application/typescript",
  js: "application/javascript",
  json: "application/json",
};

/** Serves the repository read-only; returns its base URL and a function to stop it. */
function serveRepository(): { base: string; close: () => Promise<void> } {
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const path = decodeURIComponent(new URL(req.url).pathname);
    if (path.includes("..")) return new Response("bad path", { status: 400 });
    try {
      const body = await Deno.readFile(new URL(`.${path}`, ROOT));
      const ext = path.split(".").pop() ?? "";
      return new Response(body, {
        headers: { "content-type": TYPES[ext] ?? "application/octet-stream" },
      });
    } catch {
      return new Response("not found", { status: 404 });
    }
  });
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    close: () => server.shutdown(),
  };
}

/** What the child process runs: import by URL, load weights by URL, encode the fixture input. */
const CHILD = `
const [entry, base, backend] = Deno.args;
const api = await import(entry);
const dir = base + "/test/fixtures/CI8x8/";
const tok = await api.loadTokenizer({
  encoder: dir + "encoder.safetensors",
  decoder: new URL(dir + "decoder.safetensors"),
  backend,
});
const bytes = new Uint8Array(await (await fetch(dir + "case_48x80.safetensors")).arrayBuffer());
const c = api.parseSafetensors(bytes);
const enc = await tok.encode({ data: c.float32("input"), shape: c.entries.get("input").shape });
await tok.dispose();
// The WebAssembly CPU functions travel in both too.
const cpu = await api.fsqIndicesToCodes({ data: new Int32Array([0, 1, 63999]), shape: [1, 3] });
console.log(JSON.stringify({
  backend: tok.backend,
  shape: enc.latent.shape,
  data: Array.from(enc.latent.data),
  codes: Array.from(cpu.data),
}));
`;

for (const backend of BACKENDS) {
  backendTest(
    "mod.ts and dist/cosmos-webgpu.js imported by URL tokenize like the local import",
    backend,
    async (ops) => {
      const dir = new URL("./fixtures/CI8x8/", import.meta.url);
      const tok = await loadTokenizer({
        encoder: new URL("encoder.safetensors", dir),
        decoder: new URL("decoder.safetensors", dir),
        backend: ops,
      });
      const c = parseSafetensors(await Deno.readFile(new URL("case_48x80.safetensors", dir)));
      const local = await tok.encode({
        data: c.float32("input"),
        shape: c.entries.get("input")!.shape,
      });
      await tok.dispose();
      const localCodes = await fsqIndicesToCodes({
        data: new Int32Array([0, 1, 63999]),
        shape: [1, 3],
      });

      const { base, close } = serveRepository();
      const scratch = await Deno.makeTempDir();
      try {
        for (const entry of ["mod.ts", "dist/cosmos-webgpu.js"]) {
          const host = new URL(base).host;
          const out = await new Deno.Command(Deno.execPath(), {
            args: [
              "run",
              "--no-lock",
              "--no-config",
              `--allow-import=${host}`,
              `--allow-net=${host}`,
              "--allow-env",
              "-",
              `${base}/${entry}`,
              base,
              backend,
            ],
            cwd: scratch,
            stdin: "piped",
            stdout: "piped",
            stderr: "piped",
            env: { DENO_DIR: `${scratch}/deno_dir`, NO_COLOR: "1" },
          }).spawn();
          const writer = out.stdin.getWriter();
          await writer.write(new TextEncoder().encode(CHILD));
          await writer.close();
          const { code, stdout, stderr } = await out.output();
          const err = new TextDecoder().decode(stderr);
          assert.equal(code, 0, `importing ${entry} by URL failed:\n${err}`);
          const got = JSON.parse(new TextDecoder().decode(stdout).trim().split("\n").pop()!);
          assert.ok(got.backend.startsWith(`${backend} (`), `${entry} ran on ${got.backend}`);
          assert.deepEqual(got.shape, local.latent!.shape, entry);
          assert.deepEqual(got.data, Array.from(local.latent!.data), `${entry} latent`);
          assert.deepEqual(got.codes, Array.from(localCodes.data), `${entry} CPU FSQ`);
        }
      } finally {
        await close();
        await Deno.remove(scratch, { recursive: true });
      }
    },
  );
}
