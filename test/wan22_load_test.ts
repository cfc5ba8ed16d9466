/**
 * Loading the Wan2.2 VAE: its torch.save state_dict (`Wan2.2_VAE.pth`'s names) and diffusers'
 * AutoencoderKLWan safetensors of the same weights (convert_vae_22's names) give the same
 * tokenizer, bit for bit; `Wan-AI/Wan2.2-TI2V-5B`-style hub repos holding `Wan2.2_VAE.pth` load
 * by repo id from a hub on 127.0.0.1; `cosmos info` describes both files; names outside
 * diffusers' are refused by name.
 */

import assert from "node:assert/strict";
import { assertClose, FIXTURES, wasmOps } from "./helpers.ts";
import { encodeSafetensors, loadTokenizer, parseSafetensors } from "../mod.ts";

const DIR = new URL("wan22/", FIXTURES);
const PTH = new URL("weights.pth", DIR).pathname;
const DIFFUSERS = new URL("diffusers/diffusion_pytorch_model.safetensors", DIR).pathname;
const TEST = { sanitizeResources: false, sanitizeOps: false };
const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;

async function readCase(name: string) {
  const file = parseSafetensors(
    await Deno.readFile(new URL(`case_${name}.safetensors`, DIR)),
    name,
  );
  const t = (k: string) => ({ data: file.float32(k), shape: file.entries.get(k)!.shape });
  return { input: t("input"), mu: t("mu"), reconstruction: t("reconstruction") };
}

Deno.test({
  name: "Wan2.2 under diffusers' names loads to the same tokenizer as its .pth",
  ...TEST,
  async fn() {
    const c = await readCase("5x32x32");
    const results = [];
    for (const file of [PTH, DIFFUSERS]) {
      const tok = await loadTokenizer({ encoder: file, decoder: file, ops: await wasmOps() });
      try {
        const { latent } = await tok.encode(c.input);
        results.push({ latent: latent!.data, pixels: (await tok.decode(c.mu)).data });
      } finally {
        await tok.dispose();
      }
    }
    assert.deepEqual(results[1].latent, results[0].latent);
    assert.deepEqual(results[1].pixels, results[0].pixels);
    assertClose(results[0].latent, c.mu.data, 1e-4, "mu");
  },
});

Deno.test({
  name: "Wan2.2 diffusers names outside AutoencoderKLWan's are refused by name",
  ...TEST,
  async fn() {
    const file = parseSafetensors(await Deno.readFile(DIFFUSERS), "diffusers");
    const tensors: Record<string, { dtype: "F32"; shape: number[]; data: Float32Array }> = {};
    for (const [name, e] of file.entries) {
      const renamed = name.replace(
        "encoder.down_blocks.1.downsampler.",
        "encoder.down_blocks.1.pooler.",
      );
      tensors[renamed] = { dtype: "F32", shape: e.shape, data: file.float32(name) };
    }
    const dir = await Deno.makeTempDir();
    const ops = await wasmOps();
    try {
      await Deno.writeFile(`${dir}/bad.safetensors`, encodeSafetensors(tensors, {}));
      await assert.rejects(
        () => loadTokenizer({ encoder: `${dir}/bad.safetensors`, ops }),
        /Cannot read Wan VAE "[^"]*bad\.safetensors": tensor "encoder\.down_blocks\.1\.pooler\.resample\.1\.(?:weight|bias)" is not a name of diffusers' AutoencoderKLWan/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("cosmos info describes a Wan2.2 .pth and its diffusers safetensors", async () => {
  for (
    const [file, format] of [[PTH, "torch.save state_dict"], [
      DIFFUSERS,
      "safetensors, diffusers AutoencoderKLWan names",
    ]]
  ) {
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "info", file],
      env: { NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.match(text, new RegExp(`format +${format}, 196 tensors`));
    assert.match(
      text,
      /model +Wan VAE \(base width 8, 48 latent channels, 4x16x16\) \(video, continuous, 4x16x16 compression, 48 latent channels\)/,
    );
  }
});

Deno.test({
  name: "loadTokenizer loads Wan2.2_VAE.pth of a hub repo by its id",
  ...TEST,
  async fn() {
    const bytes = await Deno.readFile(PTH);
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const sha = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    const seen: string[] = [];
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const path = new URL(req.url).pathname;
      seen.push(`${req.method} ${path}`);
      if (!path.startsWith("/Wan-AI/Wan2.2-TI2V-5B/resolve/")) {
        return new Response("Repository not found", { status: 401 });
      }
      if (!path.endsWith("/Wan2.2_VAE.pth")) {
        return new Response("Entry not found", { status: 404 });
      }
      const headers = {
        "X-Repo-Commit": "0123456789abcdef0123456789abcdef01234567",
        ETag: `"${sha}"`,
        "Content-Length": String(bytes.length),
      };
      return new Response(req.method === "HEAD" ? null : bytes, { headers });
    });
    const cacheDir = await Deno.makeTempDir();
    try {
      const tok = await loadTokenizer({
        model: "Wan-AI/Wan2.2-TI2V-5B",
        hub: { endpoint: `http://127.0.0.1:${server.addr.port}`, cacheDir, onProgress() {} },
        ops: await wasmOps(),
      });
      try {
        assert.equal(tok.model, "Wan VAE (base width 8, 48 latent channels, 4x16x16)");
        const c = await readCase("1x32x48");
        assertClose((await tok.encode(c.input)).latent!.data, c.mu.data, 1e-4, "mu");
      } finally {
        await tok.dispose();
      }
      assert.equal(seen.filter((r) => r.startsWith("GET")).length, 1, seen.join("\n"));
    } finally {
      await server.shutdown();
      await Deno.remove(cacheDir, { recursive: true });
    }
  },
});
