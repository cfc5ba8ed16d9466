/**
 * Official checkpoints as people download them: every official name form, an official-named
 * folder, and the model-card name against a hub imitation on 127.0.0.1 (nothing here reaches
 * the internet).
 */

import assert from "node:assert/strict";
import { findVariant, loadTokenizer } from "../mod.ts";
import { officialRepo, variantOfPath } from "../src/models/variants.ts";
import { resolveCheckpoint } from "../src/hub/hub.ts";
import { HAS_FFMPEG } from "./helpers.ts";

/** The CV4x8x8 reference fixtures: .jit files without code/, so only a name says 4x8x8. */
const PLAIN = new URL("./fixtures/CV4x8x8/", import.meta.url);
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

Deno.test("official names: every release, the Cosmos-Tokenizer-* aliases, nvidia/, LowRes, short", () => {
  const cases: [string, string][] = [
    ["Cosmos-0.1-Tokenizer-CV4x8x8", "Cosmos-0.1-Tokenizer-CV4x8x8"],
    ["nvidia/Cosmos-0.1-Tokenizer-DV8x8x8", "Cosmos-0.1-Tokenizer-DV8x8x8"],
    ["Cosmos-1.0-Tokenizer-CV8x8x8", "Cosmos-1.0-Tokenizer-CV8x8x8"],
    ["nvidia/Cosmos-1.0-Tokenizer-DV8x16x16", "Cosmos-1.0-Tokenizer-DV8x16x16"],
    ["nvidia/Cosmos-Tokenizer-CV4x8x8", "Cosmos-0.1-Tokenizer-CV4x8x8"],
    ["Cosmos-Tokenizer-CV8x8x8", "Cosmos-0.1-Tokenizer-CV8x8x8"],
    ["Cosmos-Tokenizer-DI16x16", "Cosmos-0.1-Tokenizer-DI16x16"],
    ["Cosmos-1.0-Tokenizer-CV4x8x8-LowRes", "Cosmos-1.0-Tokenizer-CV4x8x8-LowRes"],
    ["nvidia/Cosmos-1.0-Tokenizer-DV4x8x8-LowRes", "Cosmos-1.0-Tokenizer-DV4x8x8-LowRes"],
    ["Cosmos-1.0-Tokenizer-CI16x16-LowRes", "Cosmos-1.0-Tokenizer-CI16x16-LowRes"],
    ["CV4x8x8", "Cosmos-0.1-Tokenizer-CV4x8x8"],
    ["CV8x8x8", "Cosmos-1.0-Tokenizer-CV8x8x8"],
    ["DI8x8-LowRes", "Cosmos-1.0-Tokenizer-DI8x8-LowRes"],
    ["cosmos-0.1-tokenizer-ci8x8", "Cosmos-0.1-Tokenizer-CI8x8"],
  ];
  for (const [name, want] of cases) assert.equal(findVariant(name).name, want, name);
  const low = findVariant("Cosmos-1.0-Tokenizer-DV4x8x8-LowRes");
  assert.deepEqual([low.kind, low.discrete, low.temporalCompression, low.spatialCompression], [
    "video",
    true,
    4,
    8,
  ]);
  // An alias stays an alias on the hub (whose redirect, and a Python client's cache, know it).
  assert.equal(officialRepo("nvidia/Cosmos-Tokenizer-CV4x8x8"), "nvidia/Cosmos-Tokenizer-CV4x8x8");
  assert.equal(officialRepo("CV4x8x8"), "nvidia/Cosmos-0.1-Tokenizer-CV4x8x8");
  assert.equal(officialRepo("acme/ft"), null);
});

Deno.test("official names: an unknown name lists the known ones and the forms", () => {
  for (const bad of ["Cosmos-Tokenizer-CV4x8x8-LowRes", "Cosmos-2.0-Tokenizer-CV4x8x8", "CX9x9"]) {
    assert.throws(
      () => findVariant(bad),
      new RegExp(
        `Unknown model "${
          bad.replace(/[.]/g, "\\.")
        }": expected one of Cosmos-0\\.1-Tokenizer-CI8x8, .*Cosmos-1\\.0-Tokenizer-DV4x8x8-LowRes \\(also with "nvidia/", as the Cosmos-Tokenizer-\\* aliases`,
      ),
    );
  }
});

Deno.test("official names: a folder or hub-cache path named for a variant", () => {
  assert.equal(
    variantOfPath("/x/Cosmos-0.1-Tokenizer-DV4x8x8/encoder.jit")?.name,
    "Cosmos-0.1-Tokenizer-DV4x8x8",
  );
  assert.equal(
    variantOfPath(`/c/models--nvidia--Cosmos-Tokenizer-CV4x8x8/snapshots/${COMMIT}/decoder.jit`)
      ?.name,
    "Cosmos-0.1-Tokenizer-CV4x8x8",
  );
  assert.equal(
    variantOfPath("/x/Cosmos-0.1-Tokenizer-CV4x8x8/", true)?.name,
    "Cosmos-0.1-Tokenizer-CV4x8x8",
  );
  assert.equal(variantOfPath("/x/checkpoints/encoder.jit"), null);
  assert.equal(
    variantOfPath(`/c/models--acme--Cosmos-0.1-Tokenizer-CV4x8x8/snapshots/${COMMIT}/e.jit`),
    null,
  );
});

/** A folder named as NVIDIA's README downloads into, holding the fixture's .jit files. */
async function officialFolder(): Promise<{ tmp: string; dir: string }> {
  const tmp = await Deno.makeTempDir();
  const dir = `${tmp}/Cosmos-0.1-Tokenizer-CV4x8x8`;
  await Deno.mkdir(dir);
  for (const f of ["encoder.jit", "decoder.jit"]) {
    await Deno.copyFile(new URL(f, PLAIN), `${dir}/${f}`);
  }
  return { tmp, dir };
}

Deno.test("official names: an official-named folder loads by path alone, as a model or as files", async () => {
  const { tmp, dir } = await officialFolder();
  try {
    for (
      const options of [
        { model: dir },
        { encoder: `${dir}/encoder.jit`, decoder: `${dir}/decoder.jit` },
        { encoder: `${dir}/encoder.jit` },
      ]
    ) {
      const tok = await loadTokenizer({ ...options, backend: "none" });
      assert.equal(tok.model, "Cosmos-0.1-Tokenizer-CV4x8x8");
      await tok.dispose();
    }
    // The same files in a folder of another name say nothing of their compression.
    const other = `${tmp}/checkpoints`;
    await Deno.rename(dir, other);
    await assert.rejects(
      loadTokenizer({ model: other, backend: "none" }),
      /its weights do not say its compression/,
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});

/** A hub imitation serving `repo`'s files: HEAD/GET resolve/ as the hub answers them. */
function startHub(repo: string, files: Record<string, Uint8Array<ArrayBuffer>>) {
  const paths: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
    const url = new URL(req.url);
    paths.push(`${req.method} ${url.pathname}`);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/[^/]+\/(.+)$/.exec(url.pathname);
    if (!m || m[1] !== repo) return new Response("Repository not found", { status: 401 });
    const bytes = files[m[2]];
    if (!bytes) {
      return new Response("Entry not found", { status: 404, headers: { "X-Repo-Commit": COMMIT } });
    }
    const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const sha = [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
    const headers = {
      "X-Repo-Commit": COMMIT,
      ETag: `"${sha}"`,
      "Content-Length": String(bytes.length),
    };
    return new Response(req.method === "HEAD" ? null : bytes, { headers });
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    paths,
    close: () => server.shutdown(),
  };
}

Deno.test("official names: --model nvidia/Cosmos-Tokenizer-CV4x8x8 loads from a hub on 127.0.0.1", async () => {
  const repo = "nvidia/Cosmos-Tokenizer-CV4x8x8";
  const files = {
    "encoder.jit": await Deno.readFile(new URL("encoder.jit", PLAIN)),
    "decoder.jit": await Deno.readFile(new URL("decoder.jit", PLAIN)),
  };
  const hub = startHub(repo, files);
  const cacheDir = await Deno.makeTempDir();
  try {
    const tok = await loadTokenizer({
      model: repo,
      hub: { endpoint: hub.endpoint, cacheDir, onProgress() {} },
      backend: "none",
    });
    assert.equal(tok.model, "Cosmos-0.1-Tokenizer-CV4x8x8");
    await tok.dispose();
    const got = await Deno.readFile(
      `${cacheDir}/models--nvidia--Cosmos-Tokenizer-CV4x8x8/snapshots/${COMMIT}/encoder.jit`,
    );
    assert.deepEqual(got, files["encoder.jit"]);
  } finally {
    await hub.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test("official names: a tokenizer that only encodes downloads only the encoder", async () => {
  const repo = "nvidia/Cosmos-0.1-Tokenizer-CV4x8x8";
  const hub = startHub(repo, {
    "encoder.jit": await Deno.readFile(new URL("encoder.jit", PLAIN)),
    "decoder.jit": await Deno.readFile(new URL("decoder.jit", PLAIN)),
  });
  const cacheDir = await Deno.makeTempDir();
  try {
    const tok = await loadTokenizer({
      model: "CV4x8x8",
      halves: ["encoder"],
      hub: { endpoint: hub.endpoint, cacheDir, onProgress() {} },
      backend: "none",
    });
    assert.equal(tok.model, "Cosmos-0.1-Tokenizer-CV4x8x8");
    await tok.dispose();
    assert.ok(hub.paths.some((p) => p.endsWith("/encoder.jit")), hub.paths.join("\n"));
    assert.ok(!hub.paths.some((p) => p.includes("decoder")), hub.paths.join("\n"));
    const dec = await resolveCheckpoint(repo, {
      endpoint: hub.endpoint,
      cacheDir,
      halves: ["decoder"],
    });
    assert.equal(dec.encoder, "");
    assert.match(dec.decoder, /decoder\.jit$/);
    await assert.rejects(
      resolveCheckpoint(repo, { endpoint: hub.endpoint, cacheDir, halves: [] }),
      /Cannot resolve "nvidia\/Cosmos-0\.1-Tokenizer-CV4x8x8": halves must name "encoder", "decoder" or both/,
    );
  } finally {
    await hub.close();
    await Deno.remove(cacheDir, { recursive: true });
  }
});

Deno.test({
  name: "official names: cosmos encode --model downloads only the encoder, decode only the decoder",
  ignore: !HAS_FFMPEG,
  async fn() {
    const repo = "nvidia/Cosmos-0.1-Tokenizer-CV4x8x8";
    const hub = startHub(repo, {
      "encoder.jit": await Deno.readFile(new URL("encoder.jit", PLAIN)),
      "decoder.jit": await Deno.readFile(new URL("decoder.jit", PLAIN)),
    });
    const dir = await Deno.makeTempDir();
    try {
      const made = new Deno.Command("ffmpeg", {
        args: ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=8", "-frames:v", "9"]
          .concat([`${dir}/v.mp4`]),
      }).outputSync();
      assert.ok(made.success, "ffmpeg made the clip");
      const cli = (...args: string[]) =>
        new Deno.Command(Deno.execPath(), {
          args: ["run", "-A", new URL("../src/cli/main.ts", import.meta.url).pathname, ...args],
          env: { HF_ENDPOINT: hub.endpoint, HF_HUB_CACHE: `${dir}/cache` },
          stdout: "piped",
          stderr: "piped",
        }).output();
      const enc = await cli(
        "encode",
        `${dir}/v.mp4`,
        "--model",
        "CV4x8x8",
        "--backend",
        "wasm",
        "-o",
        `${dir}/t.safetensors`,
      );
      assert.equal(enc.code, 0, new TextDecoder().decode(enc.stderr));
      assert.ok(hub.paths.some((p) => p.endsWith("/encoder.jit")), hub.paths.join("\n"));
      assert.ok(!hub.paths.some((p) => p.includes("decoder")), hub.paths.join("\n"));
      hub.paths.length = 0;
      const dec = await cli(
        "decode",
        `${dir}/t.safetensors`,
        "--model",
        "CV4x8x8",
        "--backend",
        "wasm",
        "-o",
        `${dir}/out.mp4`,
      );
      assert.equal(dec.code, 0, new TextDecoder().decode(dec.stderr));
      assert.ok(hub.paths.some((p) => p.endsWith("/decoder.jit")), hub.paths.join("\n"));
      assert.ok(!hub.paths.some((p) => p.includes("encoder")), hub.paths.join("\n"));
    } finally {
      await hub.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
