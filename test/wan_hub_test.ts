/**
 * Wan VAE checkpoints by hub repo id, against an imitation of the Hugging Face hub's file API on
 * 127.0.0.1: `Wan-AI/Wan2.1-T2V-1.3B` holds `Wan2.1_VAE.pth` (both halves in one file), the
 * diffusers repos hold `vae/diffusion_pytorch_model.safetensors`. The file is downloaded once
 * into the cache and loads offline afterwards. Nothing here reaches the internet.
 */

import assert from "node:assert/strict";
import { assertClose, FIXTURES, wasmOps } from "./helpers.ts";
import { loadTokenizer, parseSafetensors } from "../mod.ts";
import { resolveCheckpoint } from "../src/hub/hub.ts";
import { fetchCheckpoint } from "../src/browser/hub.ts";

const DIR = new URL("wan/", FIXTURES);
const COMMIT = "89abcdef0123456789abcdef0123456789abcdef";
const TEST = { sanitizeResources: false, sanitizeOps: false };

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** A hub answering resolve/ HEAD and GET for `repos` (repo -> file -> bytes). */
async function startHub(repos: Record<string, Record<string, Uint8Array<ArrayBuffer>>>) {
  const seen: string[] = [];
  const files = new Map<string, { bytes: Uint8Array<ArrayBuffer>; sha: string }>();
  for (const [repo, entries] of Object.entries(repos)) {
    for (const [name, bytes] of Object.entries(entries)) {
      files.set(`${repo}/${name}`, { bytes, sha: await sha256(bytes) });
    }
  }
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    seen.push(`${req.method} ${url.pathname}`);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    const file = m && files.get(`${m[1]}/${m[3]}`);
    if (!m || !(m[1] in repos)) return new Response("Repository not found", { status: 401 });
    if (!file) return new Response("Entry not found", { status: 404 });
    const headers = {
      "X-Repo-Commit": COMMIT,
      ETag: `"${file.sha}"`,
      "Content-Length": String(file.bytes.length),
    };
    return new Response(req.method === "HEAD" ? null : file.bytes, { headers });
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    seen,
    close: () => server.shutdown(),
  };
}

async function readCase(name: string) {
  const file = parseSafetensors(
    await Deno.readFile(new URL(`case_${name}.safetensors`, DIR)),
    name,
  );
  const t = (k: string) => ({ data: file.float32(k), shape: file.entries.get(k)!.shape });
  return { input: t("input"), mu: t("mu") };
}

const REPOS = async () => ({
  "Wan-AI/Wan2.1-T2V-1.3B": {
    "Wan2.1_VAE.pth": await Deno.readFile(new URL("weights.pth", DIR)),
    "README.md": new TextEncoder().encode("# Wan2.1"),
  },
  "Wan-AI/Wan2.1-T2V-1.3B-Diffusers": {
    "vae/diffusion_pytorch_model.safetensors": await Deno.readFile(
      new URL("diffusers/diffusion_pytorch_model.safetensors", DIR),
    ),
    "vae/config.json": await Deno.readFile(new URL("diffusers/config.json", DIR)),
  },
  "acme/empty": { "README.md": new TextEncoder().encode("nothing") },
});

for (const repo of ["Wan-AI/Wan2.1-T2V-1.3B", "Wan-AI/Wan2.1-T2V-1.3B-Diffusers"]) {
  Deno.test({
    name: `loadTokenizer loads the Wan VAE of hub repo ${repo}, then offline from the cache`,
    ...TEST,
    async fn() {
      const hub = await startHub(await REPOS());
      const cacheDir = await Deno.makeTempDir();
      try {
        const opts = { endpoint: hub.endpoint, cacheDir, onProgress() {} };
        const c = await readCase("9x32x32");
        for (const offline of [false, true]) {
          const before = hub.seen.length;
          const tok = await loadTokenizer({
            model: repo,
            hub: { ...opts, offline },
            ops: await wasmOps(),
          });
          try {
            assert.match(tok.model, /^Wan VAE \(base width 8/);
            const { latent } = await tok.encode(c.input);
            assertClose(latent!.data, c.mu.data, 1e-4, "mu");
          } finally {
            await tok.dispose();
          }
          if (offline) assert.equal(hub.seen.length, before, "offline asks nothing");
        }
        // The one file both halves share was fetched once.
        assert.equal(hub.seen.filter((r) => r.startsWith("GET")).length, 1, hub.seen.join("\n"));
        const files = await resolveCheckpoint(repo, { ...opts, offline: true });
        assert.equal(files.encoder, files.decoder);
        assert.equal(files.revision, COMMIT);
        // One half asked for: the same file, the other half left out.
        const one = await resolveCheckpoint(repo, { ...opts, offline: true, halves: ["decoder"] });
        assert.deepEqual([one.encoder, one.decoder], ["", files.decoder]);
      } finally {
        await hub.close();
        await Deno.remove(cacheDir, { recursive: true });
      }
    },
  });
}

Deno.test({
  name: "a hub repo with neither half files nor a whole VAE file is refused by name",
  ...TEST,
  async fn() {
    const hub = await startHub(await REPOS());
    const cacheDir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        () => resolveCheckpoint("acme/empty", { endpoint: hub.endpoint, cacheDir }),
        /^Error: acme\/empty has no checkpoint file: tried encoder\.jit, encoder\.safetensors, decoder\.jit, decoder\.safetensors, Wan2\.2_VAE\.pth, Wan2\.1_VAE\.pth and vae\/diffusion_pytorch_model\.safetensors, in that order; /,
      );
      await assert.rejects(
        () => resolveCheckpoint("acme/empty", { endpoint: hub.endpoint, cacheDir, offline: true }),
        /encoder\.jit.*offline \(offline: true or HF_HUB_OFFLINE\) and not cached/,
      );
    } finally {
      await hub.close();
      await Deno.remove(cacheDir, { recursive: true });
    }
  },
});

Deno.test({
  name: "browser hub: a Wan repo's one VAE file is fetched once for both halves, then cached",
  ...TEST,
  async fn() {
    const hub = await startHub(await REPOS());
    const cacheName = `cosmos-wan-test-${crypto.randomUUID()}`;
    const pth = await Deno.readFile(new URL("weights.pth", DIR));
    try {
      const opts = { endpoint: hub.endpoint, cacheName };
      const first = await fetchCheckpoint("Wan-AI/Wan2.1-T2V-1.3B", opts);
      assert.equal(first.cached, false);
      assert.deepEqual(first.encoder, pth);
      assert.equal(first.decoder, first.encoder);
      assert.equal(hub.seen.filter((r) => r.endsWith("/Wan2.1_VAE.pth")).length, 1);
      const again = await fetchCheckpoint("Wan-AI/Wan2.1-T2V-1.3B", opts);
      assert.equal(again.cached, true);
      const decoderOnly = await fetchCheckpoint("Wan-AI/Wan2.1-T2V-1.3B", {
        ...opts,
        halves: ["decoder"],
      });
      assert.deepEqual([decoderOnly.encoder.length, decoderOnly.decoder.length], [0, pth.length]);
      const tok = await loadTokenizer({
        encoder: first.encoder,
        decoder: first.decoder,
        ops: await wasmOps(),
      });
      try {
        const c = await readCase("1x32x48");
        assertClose((await tok.encode(c.input)).latent!.data, c.mu.data, 1e-4, "mu");
      } finally {
        await tok.dispose();
      }
      await assert.rejects(
        () => fetchCheckpoint("acme/empty", opts),
        /^Error: acme\/empty has no checkpoint file at http:\/\/127\.0\.0\.1:\d+\/acme\/empty\/resolve\/main\/: tried encoder\.jit, encoder\.safetensors, decoder\.jit, decoder\.safetensors, Wan2\.2_VAE\.pth, Wan2\.1_VAE\.pth and vae\/diffusion_pytorch_model\.safetensors, in that order; /,
      );
    } finally {
      await hub.close();
      await caches.delete(cacheName);
    }
  },
});
