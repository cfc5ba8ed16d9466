/**
 * resolveCheckpoint against a local imitation of the Hugging Face hub's file API: downloads into
 * the huggingface_hub cache layout, cache hits without network, resumed and corrupted downloads,
 * tokens, errors, and a cache written the way the Python client writes it. Nothing here reaches
 * the internet.
 */

import assert from "node:assert/strict";
import { gpuTest } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { resolveCheckpoint } from "../src/hub/hub.ts";

const FIXTURES = new URL("./fixtures/CI8x8/", import.meta.url);
const REPO = "acme/cosmos-ci8x8-ft";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

interface Seen {
  method: string;
  path: string;
  range: string | null;
  auth: string | null;
}

interface FakeHub {
  endpoint: string;
  requests: Seen[];
  close(): Promise<void>;
}

interface HubOptions {
  /** repo -> file -> bytes. */
  repos: Record<string, Record<string, Uint8Array<ArrayBuffer>>>;
  /** Required Authorization token; requests without it get 401. */
  token?: string;
  /** Serve these bytes instead of the real ones (a corrupted transfer). */
  corrupt?: boolean;
}

/** A hub imitation: resolve/ answers HEAD and GET with a 302 to /blobs/<sha256>. */
async function startHub(opts: HubOptions): Promise<FakeHub> {
  const files = new Map<string, Uint8Array<ArrayBuffer>>(); // sha256 -> bytes
  const meta = new Map<string, { sha: string; size: number }>(); // "repo/file" -> ...
  for (const [repo, entries] of Object.entries(opts.repos)) {
    for (const [name, bytes] of Object.entries(entries)) {
      const sha = await sha256(bytes);
      files.set(sha, bytes);
      meta.set(`${repo}/${name}`, { sha, size: bytes.length });
    }
  }
  const requests: Seen[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const url = new URL(req.url);
    requests.push({
      method: req.method,
      path: url.pathname,
      range: req.headers.get("range"),
      auth: req.headers.get("authorization"),
    });
    if (opts.token && req.headers.get("authorization") !== `Bearer ${opts.token}`) {
      return new Response("Invalid credentials", { status: 401, statusText: "Unauthorized" });
    }
    const blob = /^\/blobs\/([0-9a-f]{64})$/.exec(url.pathname);
    if (blob && files.has(blob[1])) {
      let bytes = files.get(blob[1])!;
      if (opts.corrupt) bytes = bytes.map((b) => b ^ 0xff);
      const range = /^bytes=(\d+)-$/.exec(req.headers.get("range") ?? "");
      if (range) {
        const start = Number(range[1]);
        if (start >= bytes.length) return new Response(null, { status: 416 });
        return new Response(bytes.slice(start), {
          status: 206,
          headers: { "Content-Range": `bytes ${start}-${bytes.length - 1}/${bytes.length}` },
        });
      }
      return new Response(bytes);
    }
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (!m || !(m[1] in opts.repos)) {
      return new Response("Repository not found", { status: 401, statusText: "Unauthorized" });
    }
    const entry = meta.get(`${m[1]}/${m[3]}`);
    if (!entry) {
      return new Response("Entry not found", {
        status: 404,
        headers: { "X-Repo-Commit": COMMIT, "X-Error-Code": "EntryNotFound" },
      });
    }
    // As the hub answers for an LFS file: a redirect to the CDN, with the file's sha256.
    return new Response(null, {
      status: 302,
      headers: {
        Location: `${url.origin}/blobs/${entry.sha}`,
        "X-Repo-Commit": COMMIT,
        "X-Linked-Etag": `"${entry.sha}"`,
        "X-Linked-Size": String(entry.size),
        ETag: `W/"not-the-file-etag"`,
      },
    });
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

const fixture = (name: string) => Deno.readFile(new URL(name, FIXTURES));

async function ftRepo(): Promise<Record<string, Uint8Array<ArrayBuffer>>> {
  return {
    "encoder.safetensors": await fixture("encoder.safetensors"),
    "decoder.safetensors": await fixture("decoder.safetensors"),
  };
}

const HF_VARS = [
  "HF_HOME",
  "HF_HUB_CACHE",
  "HF_ENDPOINT",
  "HF_TOKEN",
  "HF_TOKEN_PATH",
  "HF_HUB_OFFLINE",
];

/** A test with a fresh temp dir as HF_HOME and no other HF_* variables (restored after). */
function hubTest(name: string, fn: (tmp: string) => Promise<void>): void {
  Deno.test(name, async () => {
    const saved = HF_VARS.map((v) => [v, Deno.env.get(v)] as const);
    const tmp = await Deno.makeTempDir({ prefix: "hub_test_" });
    try {
      for (const v of HF_VARS) Deno.env.delete(v);
      Deno.env.set("HF_HOME", tmp);
      await fn(tmp);
    } finally {
      for (const [v, value] of saved) {
        if (value === undefined) Deno.env.delete(v);
        else Deno.env.set(v, value);
      }
      await Deno.remove(tmp, { recursive: true });
    }
  });
}

/** A port nothing listens on. */
function closedPort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

hubTest("downloads into the huggingface_hub cache layout, then needs no network", async (tmp) => {
  const files = await ftRepo();
  const hub = await startHub({ repos: { [REPO]: files } });
  try {
    const cache = `${tmp}/hub`;
    const progress: number[] = [];
    Deno.env.set("HF_ENDPOINT", hub.endpoint);
    const r = await resolveCheckpoint(REPO, { onProgress: (p) => progress.push(p.bytes) });
    const folder = `${cache}/models--acme--cosmos-ci8x8-ft`;
    assert.deepEqual(r, {
      encoder: `${folder}/snapshots/${COMMIT}/encoder.safetensors`,
      decoder: `${folder}/snapshots/${COMMIT}/decoder.safetensors`,
      repo: REPO,
      revision: COMMIT,
    });
    for (const half of ["encoder", "decoder"]) {
      const name = `${half}.safetensors`;
      const sha = await sha256(files[name]);
      const link = `${folder}/snapshots/${COMMIT}/${name}`;
      assert.equal(await Deno.readLink(link), `../../blobs/${sha}`);
      assert.deepEqual(await Deno.readFile(`${folder}/blobs/${sha}`), files[name]);
      assert.deepEqual(await Deno.readFile(link), files[name]);
    }
    assert.equal(await Deno.readTextFile(`${folder}/refs/main`), COMMIT);
    const blobs = [...Deno.readDirSync(`${folder}/blobs`)].map((e) => e.name);
    assert.equal(blobs.length, 2, `no .incomplete left: ${blobs}`);
    assert.ok(progress.length > 0);
    // .jit is tried first and absent (404), then the safetensors file is fetched.
    const heads = hub.requests.filter((q) => q.method === "HEAD").map((q) => q.path).sort();
    assert.deepEqual(heads, [
      `/${REPO}/resolve/main/decoder.jit`,
      `/${REPO}/resolve/main/decoder.safetensors`,
      `/${REPO}/resolve/main/encoder.jit`,
      `/${REPO}/resolve/main/encoder.safetensors`,
    ]);

    const count = hub.requests.length;
    assert.deepEqual(await resolveCheckpoint(REPO), r);
    assert.deepEqual(await resolveCheckpoint(REPO, { offline: true }), r);
    Deno.env.set("HF_HUB_OFFLINE", "1");
    assert.deepEqual(await resolveCheckpoint(REPO), r);
    assert.equal(hub.requests.length, count, "cache hits made no request");
  } finally {
    await hub.close();
  }
});

hubTest("official names map to nvidia/<name> and fetch the .jit files", async (tmp) => {
  const jit = { "encoder.jit": new Uint8Array([1, 2, 3]), "decoder.jit": new Uint8Array([4, 5]) };
  const repo = "nvidia/Cosmos-0.1-Tokenizer-DV4x8x8";
  const hub = await startHub({ repos: { [repo]: jit } });
  try {
    for (const name of ["DV4x8x8", "Cosmos-0.1-Tokenizer-DV4x8x8", repo]) {
      const r = await resolveCheckpoint(name, { endpoint: hub.endpoint, cacheDir: tmp });
      assert.equal(r.repo, repo);
      assert.equal(
        r.encoder,
        `${tmp}/models--nvidia--Cosmos-0.1-Tokenizer-DV4x8x8/snapshots/${COMMIT}/encoder.jit`,
      );
      assert.deepEqual(await Deno.readFile(r.decoder), jit["decoder.jit"]);
    }
    assert.equal(hub.requests.filter((q) => q.path.endsWith(".safetensors")).length, 0);
    await assert.rejects(resolveCheckpoint("XY9x9", { cacheDir: tmp }), /Unknown model "XY9x9"/);
  } finally {
    await hub.close();
  }
});

/** What a repo with no checkpoint file is told to do instead. */
const NO_CHECKPOINT_REMEDY =
  "download the checkpoint and pass its files as encoder and decoder (CLI: --encoder and --decoder; one file as both where it holds the whole VAE)";

hubTest("a repo with no checkpoint file names every file tried, in order", async (tmp) => {
  const unrelated = new TextEncoder().encode("not a checkpoint");
  const hub = await startHub({
    repos: {
      "acme/empty": {},
      // Files near the names tried, none of them one: only an exact name counts.
      "acme/other": {
        "README.md": unrelated,
        "model.safetensors": unrelated,
        "encoder.pt": unrelated,
        "vae/config.json": unrelated,
        "Wan2.1_VAE.pth.bak": unrelated,
      },
    },
  });
  const whole = "Wan2.2_VAE.pth, Wan2.1_VAE.pth and vae/diffusion_pytorch_model.safetensors";
  const halves = "encoder.jit, encoder.safetensors, decoder.jit, decoder.safetensors";
  try {
    for (const repo of ["acme/empty", "acme/other"]) {
      const before = hub.requests.length;
      await assert.rejects(
        resolveCheckpoint(repo, { endpoint: hub.endpoint, cacheDir: tmp }),
        (err: Error) => {
          assert.equal(
            err.message,
            `${repo} has no checkpoint file: tried ${halves}, ${whole}, in that order; ${NO_CHECKPOINT_REMEDY}`,
          );
          return true;
        },
      );
      // The message is what was asked: the halves' files (both at once), then the whole files.
      const asked = hub.requests.slice(before).map((q) => q.path.split("/resolve/main/")[1]);
      assert.deepEqual(asked.slice(0, 4).sort(), halves.split(", ").sort());
      assert.deepEqual(asked.slice(4), whole.replace(" and ", ", ").split(", "));
    }
    await assert.rejects(
      resolveCheckpoint("acme/other", {
        endpoint: hub.endpoint,
        cacheDir: tmp,
        revision: "v1",
        halves: ["decoder"],
      }),
      (err: Error) => {
        assert.equal(
          err.message,
          `acme/other has no checkpoint file at revision "v1": tried decoder.jit, decoder.safetensors, ${whole}, in that order; ${NO_CHECKPOINT_REMEDY}`,
        );
        return true;
      },
    );
  } finally {
    await hub.close();
  }
});

hubTest("a repo with one half's files only says which files the other half lacks", async (tmp) => {
  const hub = await startHub({
    repos: { "acme/half": { "encoder.safetensors": await fixture("encoder.safetensors") } },
  });
  try {
    await assert.rejects(
      resolveCheckpoint("acme/half", { endpoint: hub.endpoint, cacheDir: tmp }),
      /^Error: acme\/half has no decoder\.jit or decoder\.safetensors$/,
    );
  } finally {
    await hub.close();
  }
});

hubTest("resumes a partial download with a Range request", async (tmp) => {
  const files = await ftRepo();
  const hub = await startHub({ repos: { [REPO]: files } });
  try {
    const enc = files["encoder.safetensors"];
    const sha = await sha256(enc);
    const blobs = `${tmp}/models--acme--cosmos-ci8x8-ft/blobs`;
    await Deno.mkdir(blobs, { recursive: true });
    const half = Math.floor(enc.length / 2);
    await Deno.writeFile(`${blobs}/${sha}.incomplete`, enc.subarray(0, half));
    const seen: number[] = [];
    const r = await resolveCheckpoint(REPO, {
      endpoint: hub.endpoint,
      cacheDir: tmp,
      onProgress: (p) => p.file === "encoder.safetensors" && seen.push(p.bytes),
    });
    // The GET of resolve/ carries the Range header through the redirect to the blob.
    const ranged = hub.requests.filter((q) => q.range !== null);
    assert.deepEqual(ranged.map((q) => [q.method, q.path, q.range]), [
      ["GET", `/${REPO}/resolve/main/encoder.safetensors`, `bytes=${half}-`],
      ["GET", `/blobs/${sha}`, `bytes=${half}-`],
    ]);
    assert.deepEqual(await Deno.readFile(r.encoder), enc);
    assert.ok(seen[0] > half && seen[seen.length - 1] === enc.length);
    assert.ok(!(await exists(`${blobs}/${sha}.incomplete`)));
  } finally {
    await hub.close();
  }
});

hubTest("a corrupted download fails and leaves no blob", async (tmp) => {
  const hub = await startHub({ repos: { [REPO]: await ftRepo() }, corrupt: true });
  try {
    await assert.rejects(
      resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: tmp }),
      /Download of "(en|de)coder\.safetensors" from acme\/cosmos-ci8x8-ft is corrupt \(sha256 [0-9a-f]{64}, expected/,
    );
    const folder = `${tmp}/models--acme--cosmos-ci8x8-ft`;
    assert.deepEqual([...Deno.readDirSync(`${folder}/blobs`)], []);
    assert.ok(!(await exists(`${folder}/snapshots`)));
    assert.ok(!(await exists(`${folder}/refs/main`)));
  } finally {
    await hub.close();
  }
});

hubTest("sends HF_TOKEN as a Bearer token; a 401 mentions HF_TOKEN", async (tmp) => {
  const hub = await startHub({ repos: { [REPO]: await ftRepo() }, token: "hf_secret" });
  try {
    await assert.rejects(
      resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: tmp }),
      /Cannot download "(en|de)coder\.jit" from acme\/cosmos-ci8x8-ft: HTTP 401 Unauthorized; .*set HF_TOKEN/,
    );
    await assert.rejects(
      resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: tmp, token: "hf_wrong" }),
      /HTTP 401 .*HF_TOKEN\) was refused/,
    );
    hub.requests.length = 0;
    Deno.env.set("HF_TOKEN", "hf_secret");
    const r = await resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: tmp });
    assert.equal(r.repo, REPO);
    assert.ok(hub.requests.length > 0);
    for (const q of hub.requests) assert.equal(q.auth, "Bearer hf_secret", q.path);
  } finally {
    await hub.close();
  }
});

hubTest("a refused connection gives the offline message", async (tmp) => {
  const endpoint = `http://127.0.0.1:${closedPort()}`;
  const folder = `${tmp}/models--acme--cosmos-ci8x8-ft`;
  await assert.rejects(
    resolveCheckpoint(REPO, { endpoint, cacheDir: tmp }),
    (err: Error) => {
      assert.match(
        err.message,
        /^Cannot download "(en|de)coder\.jit" from acme\/cosmos-ci8x8-ft: /,
      );
      assert.match(err.message, /; set HF_ENDPOINT or download it yourself into /);
      assert.ok(err.message.includes(folder), err.message);
      return true;
    },
  );
  await assert.rejects(
    resolveCheckpoint(REPO, { endpoint, cacheDir: tmp, offline: true }),
    /Cannot download "encoder\.jit" from acme\/cosmos-ci8x8-ft: offline .*HF_ENDPOINT/,
  );
});

hubTest("finds a cache written by the Python client with no server at all", async (tmp) => {
  Deno.env.set("HF_HUB_CACHE", `${tmp}/py-cache`);
  Deno.env.set("HF_ENDPOINT", `http://127.0.0.1:${closedPort()}`);
  const folder = `${tmp}/py-cache/models--nvidia--Cosmos-0.1-Tokenizer-CI8x8`;
  const commit = "fedcba9876543210fedcba9876543210fedcba98";
  await Deno.mkdir(`${folder}/blobs`, { recursive: true });
  await Deno.mkdir(`${folder}/refs`, { recursive: true });
  await Deno.mkdir(`${folder}/snapshots/${commit}`, { recursive: true });
  await Deno.writeTextFile(`${folder}/refs/main`, commit);
  for (const [name, etag] of [["encoder.jit", "a".repeat(64)], ["decoder.jit", "b".repeat(64)]]) {
    await Deno.writeFile(`${folder}/blobs/${etag}`, new Uint8Array([7]));
    await Deno.symlink(`../../blobs/${etag}`, `${folder}/snapshots/${commit}/${name}`);
  }
  const want = {
    encoder: `${folder}/snapshots/${commit}/encoder.jit`,
    decoder: `${folder}/snapshots/${commit}/decoder.jit`,
    repo: "nvidia/Cosmos-0.1-Tokenizer-CI8x8",
    revision: commit,
  };
  assert.deepEqual(await resolveCheckpoint("CI8x8"), want);
  assert.deepEqual(await resolveCheckpoint("CI8x8", { offline: true }), want);
  assert.deepEqual(await resolveCheckpoint("CI8x8", { revision: commit }), want);
});

hubTest("a local directory is returned as is", async () => {
  const dir = new URL(".", FIXTURES).pathname.replace(/\/$/, "");
  const r = await resolveCheckpoint(dir, { endpoint: `http://127.0.0.1:${closedPort()}` });
  assert.deepEqual(r, {
    encoder: `${dir}/encoder.safetensors`,
    decoder: `${dir}/decoder.safetensors`,
    repo: dir,
    revision: "local",
  });
});

gpuTest("a resolved checkpoint loads and encodes", async (ops) => {
  const tmp = await Deno.makeTempDir({ prefix: "hub_test_" });
  const hub = await startHub({ repos: { [REPO]: await ftRepo() } });
  try {
    const r = await resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: tmp });
    const tok = await loadTokenizer({ encoder: r.encoder, decoder: r.decoder, backend: ops });
    try {
      const enc = await tok.encode({ data: new Float32Array(3 * 16 * 16), shape: [1, 3, 16, 16] });
      assert.deepEqual(enc.latent?.shape, [1, 16, 2, 2]);
    } finally {
      await tok.dispose();
    }
  } finally {
    await hub.close();
    await Deno.remove(tmp, { recursive: true });
  }
});
