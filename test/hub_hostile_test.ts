/**
 * resolveCheckpoint against a hostile or racing hub (issue 14, items 9-11): names that would
 * climb out of the cache, processes downloading one repo at once, and bodies longer than
 * declared. The hub is a real server on 127.0.0.1 (as in hub_test.ts) whose answers each test
 * bends; the racing callers are real Deno processes.
 */

import assert from "node:assert/strict";
import { resolveCheckpoint } from "../src/hub/hub.ts";
import { blobPath, cachedFile, linkSnapshot, lockPath, writeRef } from "../src/hub/cache.ts";
import { Sha256 } from "../src/hub/sha256.ts";

const REPO = "acme/hostile";
const FOLDER = "models--acme--hostile";
const COMMIT = "0123456789abcdef0123456789abcdef01234567";

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const d = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return [...d].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** Distinct contents for the two halves, 32 KiB each. */
function payload(seed: number): Uint8Array<ArrayBuffer> {
  return new Uint8Array(32 * 1024).map((_, i) => (i * 31 + seed) & 0xff);
}

const FILES = { "encoder.jit": payload(1), "decoder.jit": payload(2) };

interface Answer {
  /** X-Repo-Commit; default COMMIT. */
  commit?: string;
  /** X-Linked-Etag for a file; default its sha256. */
  etag?: (file: string, sha: string) => string;
  /** X-Linked-Size for a file (null: none); default its length. */
  size?: (file: string, bytes: Uint8Array) => number | null;
  /** The GET body; default the file's bytes. */
  body?: (file: string, bytes: Uint8Array<ArrayBuffer>) => BodyInit;
  /** Headers added to the GET answer. */
  getHeaders?: Record<string, string>;
}

interface Hub {
  endpoint: string;
  requests: { method: string; path: string; encoding: string | null }[];
  close(): Promise<void>;
}

/**
 * A hub serving encoder.jit and decoder.jit of any repo at any revision: HEAD answers commit,
 * etag and size (as the hub does for an LFS file), GET the body.
 */
async function startHub(answer: Answer = {}): Promise<Hub> {
  const shas = new Map<string, string>();
  for (const [name, bytes] of Object.entries(FILES)) shas.set(name, await sha256(bytes));
  const requests: Hub["requests"] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    requests.push({ method: req.method, path, encoding: req.headers.get("accept-encoding") });
    const m = /^\/[^/]+\/[^/]+\/resolve\/[^/]+\/([^/]+)$/.exec(path);
    const bytes = m ? FILES[m[1] as keyof typeof FILES] : undefined;
    if (!bytes) return new Response("Entry not found", { status: 404 });
    const file = m![1];
    if (req.method === "HEAD") {
      const size = answer.size ? answer.size(file, bytes) : bytes.length;
      // No size: a streamed (chunked) answer, else the server would add "Content-Length: 0".
      const none = size === null ? new ReadableStream({ start: (c) => c.close() }) : null;
      return new Response(none, {
        headers: {
          "X-Repo-Commit": answer.commit ?? COMMIT,
          "X-Linked-Etag": `"${answer.etag?.(file, shas.get(file)!) ?? shas.get(file)}"`,
          ...(size === null ? {} : { "X-Linked-Size": String(size) }),
        },
      });
    }
    return new Response(answer.body?.(file, bytes) ?? bytes, { headers: answer.getHeaders });
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    requests,
    close: () => server.shutdown(),
  };
}

/** Every path under `dir` (directories end in "/"; symlinks show their target). */
async function tree(dir: string, prefix = ""): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(`${dir}/${prefix}`)) {
    const rel = `${prefix}${e.name}`;
    if (e.isDirectory) out.push(`${rel}/`, ...await tree(dir, `${rel}/`));
    else if (e.isSymlink) out.push(`${rel} -> ${await Deno.readLink(`${dir}/${rel}`)}`);
    else out.push(rel);
  }
  return out.sort();
}

/**
 * A temp dir holding the cache at deep/cache and a victim file outside it, at outside/victim
 * and outside/encoder.jit, where "../../../../outside" from the cache's snapshots/ or refs/ lands.
 */
async function withVictim(
  fn: (cache: string, checkUntouched: () => Promise<void>) => Promise<void>,
): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "hub_hostile_" });
  try {
    const cache = `${tmp}/deep/cache`;
    await Deno.mkdir(cache, { recursive: true });
    await Deno.mkdir(`${tmp}/outside`);
    await Deno.writeTextFile(`${tmp}/outside/victim`, "precious");
    await Deno.writeTextFile(`${tmp}/outside/encoder.jit`, "precious");
    const outsideCache = async () =>
      (await tree(tmp)).filter((p) => !p.startsWith("deep/cache/")).join("\n");
    const before = await outsideCache();
    await fn(cache, async () => {
      assert.equal(await outsideCache(), before, "nothing outside the cache changed");
      for (const name of ["victim", "encoder.jit"]) {
        assert.ok((await Deno.lstat(`${tmp}/outside/${name}`)).isFile, `${name} is still a file`);
        assert.equal(await Deno.readTextFile(`${tmp}/outside/${name}`), "precious");
      }
    });
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

Deno.test("resolveCheckpoint() refuses an X-Repo-Commit that is no commit hash", async () => {
  const bad = [
    "../../../../outside",
    `${COMMIT}/../../../../outside`,
    COMMIT.toUpperCase().replace(/0/g, "A"),
    "abc",
  ];
  for (const commit of bad) {
    await withVictim(async (cache, checkUntouched) => {
      const hub = await startHub({ commit });
      try {
        await assert.rejects(
          resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: cache }),
          (err: Error) => {
            assert.match(err.message, /^Cannot download "(en|de)coder\.jit" from acme\/hostile: /);
            assert.ok(
              err.message.includes(
                `the hub's X-Repo-Commit ${
                  JSON.stringify(commit)
                } is not a commit hash (40 lowercase hex digits)`,
              ),
              err.message,
            );
            return true;
          },
        );
        assert.equal(hub.requests.filter((q) => q.method === "GET").length, 0, "no download");
        await checkUntouched();
        assert.deepEqual(await tree(cache), [], "nothing in the cache either");
      } finally {
        await hub.close();
      }
    });
  }
});

Deno.test("resolveCheckpoint() refuses an ETag that cannot name a blob", async () => {
  const bad = ["../../../outside/victim", "..", "abc.incomplete", ".lock", "x".repeat(129)];
  for (const etag of bad) {
    await withVictim(async (cache, checkUntouched) => {
      const hub = await startHub({ etag: (file, sha) => file === "decoder.jit" ? etag : sha });
      try {
        await assert.rejects(
          resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: cache }),
          (err: Error) => {
            assert.match(err.message, /^Cannot download "decoder\.jit" from acme\/hostile: /);
            assert.ok(
              err.message.includes(`the hub's ETag ${JSON.stringify(etag)} cannot name a blob`),
              err.message,
            );
            return true;
          },
        );
        await checkUntouched();
        const blobs = await tree(`${cache}/${FOLDER}/blobs`).catch(() => []);
        assert.deepEqual(blobs, [await sha256(FILES["encoder.jit"])], "only the good half");
      } finally {
        await hub.close();
      }
    });
  }
});

Deno.test("resolveCheckpoint() refuses a revision or repo id that would leave the cache", async () => {
  await withVictim(async (cache, checkUntouched) => {
    const hub = await startHub();
    try {
      const revisions = ["../../../../outside/victim", "refs/../../x", "a//b", "", "main\n"];
      for (const revision of revisions) {
        for (const offline of [false, true]) {
          await assert.rejects(
            resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: cache, revision, offline }),
            (err: Error) => {
              assert.ok(
                err.message.startsWith(
                  `Invalid revision ${
                    JSON.stringify(revision)
                  }: expected a branch, tag or commit hash`,
                ),
                err.message,
              );
              return true;
            },
          );
        }
      }
      for (const repo of ["acme/..", "acme/.hidden", "acme/a--b", "nvidia/..", "acme/x.git"]) {
        await assert.rejects(
          resolveCheckpoint(repo, { endpoint: hub.endpoint, cacheDir: cache }),
          (err: Error) => {
            assert.ok(
              err.message.startsWith(
                `Invalid hub repo id ${JSON.stringify(repo)}: expected owner/name`,
              ),
              err.message,
            );
            return true;
          },
        );
      }
      assert.equal(hub.requests.length, 0, "no request for a bad name");
      await checkUntouched();
      assert.deepEqual(await tree(cache), []);
    } finally {
      await hub.close();
    }
  });
});

Deno.test("resolveCheckpoint() keeps a revision with slashes (refs/pr/1) under refs/", async () => {
  await withVictim(async (cache, checkUntouched) => {
    const hub = await startHub();
    try {
      const r = await resolveCheckpoint(REPO, {
        endpoint: hub.endpoint,
        cacheDir: cache,
        revision: "refs/pr/1",
      });
      assert.equal(r.revision, COMMIT);
      assert.equal(await Deno.readTextFile(`${cache}/${FOLDER}/refs/refs/pr/1`), COMMIT);
      assert.ok(hub.requests.every((q) => q.path.includes("/resolve/refs%2Fpr%2F1/")));
      const again = await resolveCheckpoint(REPO, {
        cacheDir: cache,
        revision: "refs/pr/1",
        offline: true,
      });
      assert.deepEqual(again, r);
      await checkUntouched();
    } finally {
      await hub.close();
    }
  });
});

Deno.test("resolveCheckpoint() refuses a cached ref that holds no commit hash", async () => {
  await withVictim(async (cache, checkUntouched) => {
    const refs = `${cache}/${FOLDER}/refs`;
    await Deno.mkdir(refs, { recursive: true });
    await Deno.writeTextFile(`${refs}/main`, "../../../../outside\n");
    await assert.rejects(
      resolveCheckpoint(REPO, { cacheDir: cache, offline: true }),
      (err: Error) => {
        assert.equal(
          err.message,
          `The cache's ref file ${refs}/main holds "../../../../outside", not a commit hash (40 lowercase hex digits): delete it and try again`,
        );
        return true;
      },
    );
    await checkUntouched();
  });
});

Deno.test("cache functions refuse names that would leave the cache", async () => {
  await withVictim(async (cache, checkUntouched) => {
    const sha = "a".repeat(64);
    const cases: [string, () => unknown, string][] = [
      [
        "commit",
        () => linkSnapshot(cache, REPO, "../../x", "encoder.jit", sha),
        `Invalid commit "../../x": expected a commit hash (40 lowercase hex digits)`,
      ],
      [
        "file",
        () => linkSnapshot(cache, REPO, COMMIT, "../../../x", sha),
        `Invalid repo file name "../../../x": expected parts of letters, digits and "_-.@+" separated by "/", none empty or starting with "."`,
      ],
      [
        "etag",
        () => linkSnapshot(cache, REPO, COMMIT, "encoder.jit", "../x"),
        `Invalid ETag "../x": expected letters, digits and "_-+=", at most 128`,
      ],
      [
        "ref",
        () => writeRef(cache, REPO, "../../x", COMMIT),
        `Invalid revision "../../x": expected a branch, tag or commit hash (letters, digits and "_-.@+" in parts separated by "/", none empty or starting with ".")`,
      ],
      [
        "ref commit",
        () => writeRef(cache, REPO, "main", "../x"),
        `Invalid commit "../x": expected a commit hash (40 lowercase hex digits)`,
      ],
      [
        "lookup",
        () => cachedFile(cache, REPO, "main", ".."),
        `Invalid repo file name "..": expected parts`,
      ],
      ["blob", () => blobPath(cache, REPO, "a/b"), `Invalid ETag "a/b": expected`],
      [
        "repo",
        () => blobPath(cache, "../x", sha),
        `Invalid hub repo id "../x": expected owner/name`,
      ],
      [
        "lock",
        () => lockPath(cache, "../x", sha),
        `Invalid hub repo id "../x": expected owner/name`,
      ],
    ];
    for (const [what, call, message] of cases) {
      await assert.rejects(async () => await call(), (err: Error) => {
        assert.ok(err.message.startsWith(message), `${what}: ${err.message}`);
        return true;
      });
    }
    await checkUntouched();
    assert.deepEqual(await tree(cache), [], "nothing made in the cache");
  });
});

/** A body sent in 4 KiB chunks 20 ms apart, once `ready` resolves. */
function slowBody(bytes: Uint8Array<ArrayBuffer>, ready: Promise<void>): ReadableStream {
  let off = 0;
  return new ReadableStream({
    async pull(c) {
      await (off === 0 ? ready : new Promise((r) => setTimeout(r, 20)));
      if (off >= bytes.length) return c.close();
      c.enqueue(bytes.slice(off, off += 4096));
    },
  });
}

/**
 * A hub whose GET bodies are held until `callers` HEADs of that file have arrived (so that every
 * caller has decided to download before any byte is written), then sent slowly.
 */
async function racingHub(callers: number): Promise<Hub & { heldUntilAll: () => boolean }> {
  const heads = new Map<string, number>();
  const release = new Map<string, () => void>();
  const ready = new Map<string, Promise<void>>();
  let timedOut = false;
  for (const file of Object.keys(FILES)) {
    ready.set(file, new Promise((r) => release.set(file, r)));
  }
  const timer = setTimeout(() => {
    timedOut = true;
    for (const r of release.values()) r();
  }, 30_000);
  const hub = await startHub({
    size: (file, bytes) => {
      heads.set(file, (heads.get(file) ?? 0) + 1);
      if (heads.get(file) === callers) release.get(file)!();
      return bytes.length;
    },
    body: (file, bytes) => slowBody(bytes, ready.get(file)!),
  });
  return {
    ...hub,
    heldUntilAll: () => !timedOut,
    close: async () => {
      clearTimeout(timer);
      await hub.close();
    },
  };
}

async function checkRaceResults(cache: string, hub: Hub, results: unknown[]): Promise<void> {
  const folder = `${cache}/${FOLDER}`;
  for (const r of results) {
    assert.deepEqual(r, {
      encoder: `${folder}/snapshots/${COMMIT}/encoder.jit`,
      decoder: `${folder}/snapshots/${COMMIT}/decoder.jit`,
      repo: REPO,
      revision: COMMIT,
    });
  }
  for (const [name, bytes] of Object.entries(FILES)) {
    assert.deepEqual(await Deno.readFile(`${folder}/snapshots/${COMMIT}/${name}`), bytes);
    const gets = hub.requests.filter((q) => q.method === "GET" && q.path.endsWith(`/${name}`));
    assert.equal(gets.length, 1, `${name} downloaded once, the others waited for it`);
  }
  const blobs = (await tree(`${folder}/blobs`)).sort();
  const want = (await Promise.all(Object.values(FILES).map(sha256))).sort();
  assert.deepEqual(blobs, want, "no .incomplete left");
  assert.equal(await Deno.readTextFile(`${folder}/refs/main`), COMMIT);
}

Deno.test("resolveCheckpoint() in 3 processes at once into a fresh cache: all succeed", async () => {
  const cache = await Deno.makeTempDir({ prefix: "hub_race_" });
  const hub = await racingHub(3);
  try {
    const hubUrl = new URL("../src/hub/hub.ts", import.meta.url).href;
    const code = `
      import { resolveCheckpoint } from ${JSON.stringify(hubUrl)};
      const r = await resolveCheckpoint(${JSON.stringify(REPO)}, {
        endpoint: ${JSON.stringify(hub.endpoint)},
        cacheDir: ${JSON.stringify(cache)},
      });
      console.log(JSON.stringify(r));`;
    const children = [0, 1, 2].map(() =>
      new Deno.Command(Deno.execPath(), {
        args: ["eval", code],
        env: { HF_TOKEN: "", HF_HUB_OFFLINE: "", NO_COLOR: "1" },
        stdout: "piped",
        stderr: "piped",
      }).output()
    );
    const outputs = await Promise.all(children);
    const dec = new TextDecoder();
    for (const o of outputs) {
      assert.equal(o.code, 0, `a caller failed: ${dec.decode(o.stderr)}`);
    }
    assert.ok(hub.heldUntilAll(), "all 3 processes asked before any byte was sent");
    await checkRaceResults(cache, hub, outputs.map((o) => JSON.parse(dec.decode(o.stdout))));
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("resolveCheckpoint() called 3 times at once in one process: all succeed", async () => {
  const cache = await Deno.makeTempDir({ prefix: "hub_race_" });
  const hub = await racingHub(3);
  try {
    const settled = await Promise.allSettled(
      [0, 1, 2].map(() => resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: cache })),
    );
    const results = settled.map((s) => {
      if (s.status === "rejected") throw s.reason;
      return s.value;
    });
    assert.ok(hub.heldUntilAll(), "all 3 calls asked before any byte was sent");
    await checkRaceResults(cache, hub, results);
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
});

/** `chunks` chunks of 64 KiB, counting how many the client pulled before it stopped reading. */
function endlessBody(chunks: number): { body: ReadableStream; pulled: () => number } {
  let n = 0;
  const body = new ReadableStream({
    pull(c) {
      if (n++ >= chunks) return c.close();
      c.enqueue(new Uint8Array(64 * 1024).fill(7));
    },
  });
  return { body, pulled: () => n };
}

Deno.test("resolveCheckpoint() stops a body longer than the hub's size at that size", async () => {
  const cache = await Deno.makeTempDir({ prefix: "hub_long_" });
  const chunks = 512; // 32 MiB
  const stream = endlessBody(chunks);
  const hub = await startHub({
    body: (file, bytes) => file === "decoder.jit" ? stream.body : bytes,
  });
  try {
    const declared = FILES["decoder.jit"].length;
    let most = 0;
    await assert.rejects(
      resolveCheckpoint(REPO, {
        endpoint: hub.endpoint,
        cacheDir: cache,
        onProgress: (p) => p.file === "decoder.jit" && (most = Math.max(most, p.bytes)),
      }),
      (err: Error) => {
        assert.equal(
          err.message,
          `Download of "decoder.jit" from acme/hostile is corrupt (the server sent more than the ${declared} bytes declared); it was removed: try again`,
        );
        return true;
      },
    );
    assert.ok(most <= declared, `${most} bytes written, at most ${declared}`);
    assert.ok(stream.pulled() < chunks / 2, `stopped reading after ${stream.pulled()} chunks`);
    const folder = `${cache}/${FOLDER}`;
    const encoderBlob = await sha256(FILES["encoder.jit"]);
    assert.deepEqual(await tree(`${folder}/blobs`), [encoderBlob], "no decoder blob or part");
    const entries = await tree(folder);
    assert.ok(!entries.some((p) => p.includes("decoder.jit")), `no decoder entry: ${entries}`);
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("resolveCheckpoint() refuses a Content-Length other than the hub's size before writing", async () => {
  const cache = await Deno.makeTempDir({ prefix: "hub_long_" });
  const declared = FILES["decoder.jit"].length;
  const hub = await startHub({
    body: (file, bytes) => file === "decoder.jit" ? new Uint8Array(4 * declared).fill(9) : bytes,
  });
  try {
    let most = 0;
    await assert.rejects(
      resolveCheckpoint(REPO, {
        endpoint: hub.endpoint,
        cacheDir: cache,
        onProgress: (p) => p.file === "decoder.jit" && (most = Math.max(most, p.bytes)),
      }),
      (err: Error) => {
        assert.equal(
          err.message,
          `Download of "decoder.jit" from acme/hostile is corrupt (the server declared ${
            4 * declared
          } bytes, the hub ${declared}); it was removed: try again`,
        );
        return true;
      },
    );
    assert.equal(most, 0, "nothing written");
    // Asked uncompressed, so that Content-Length counts the file's own bytes.
    assert.ok(hub.requests.every((q) => q.encoding === "identity"), JSON.stringify(hub.requests));
    const folder = `${cache}/${FOLDER}`;
    assert.deepEqual(await tree(`${folder}/blobs`), [await sha256(FILES["encoder.jit"])]);
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("a body of no declared size stops at maxBytes, and nothing of it is kept", async () => {
  const cache = await Deno.makeTempDir({ prefix: "hub_nosize_" });
  const chunks = 512; // 32 MiB, sent chunked: no Content-Length, and the hub gives no size
  const stream = endlessBody(chunks);
  const hub = await startHub({
    size: (file, bytes) => file === "decoder.jit" ? null : bytes.length,
    body: (file, bytes) => file === "decoder.jit" ? stream.body : bytes,
  });
  try {
    const maxBytes = 1 << 20;
    let most = 0;
    await assert.rejects(
      resolveCheckpoint(REPO, {
        endpoint: hub.endpoint,
        cacheDir: cache,
        maxBytes,
        onProgress: (p) => p.file === "decoder.jit" && (most = Math.max(most, p.bytes)),
      }),
      (err: Error) => {
        assert.equal(
          err.message,
          `Cannot download "decoder.jit" from acme/hostile: the server sent more than the ${maxBytes} bytes allowed without declaring a size; nothing was kept (raise maxBytes if the file is genuine)`,
        );
        return true;
      },
    );
    assert.ok(most <= maxBytes, `${most} bytes written, at most ${maxBytes}`);
    assert.ok(stream.pulled() < chunks / 4, `stopped reading after ${stream.pulled()} chunks`);
    const folder = `${cache}/${FOLDER}`;
    assert.deepEqual(await tree(`${folder}/blobs`), [await sha256(FILES["encoder.jit"])]);
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("a file the hub or the answer says is over maxBytes is refused before a byte is written", async () => {
  const cache = await Deno.makeTempDir({ prefix: "hub_big_" });
  // The hub's HEAD says 1 TB; then, with no hub size, the GET's Content-Length says 1 MiB.
  let hubSize: number | null = 1e12;
  const hub = await startHub({
    size: (file, bytes) => file === "decoder.jit" ? hubSize : bytes.length,
    body: (file, bytes) => file === "decoder.jit" ? new Uint8Array(1 << 20) : bytes,
  });
  try {
    const maxBytes = 64 * 1024;
    const attempt = () =>
      resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: cache, maxBytes });
    const message = (size: number) =>
      `Cannot download "decoder.jit" from acme/hostile: it is ${size} bytes, more than the ${maxBytes} allowed; nothing was kept (raise maxBytes if the file is genuine)`;
    await assert.rejects(attempt(), { message: message(1e12) });
    const gets = hub.requests.filter((q) => q.method === "GET" && q.path.endsWith("/decoder.jit"));
    assert.equal(gets.length, 0, "the 1 TB file was never asked for");
    hubSize = null;
    await assert.rejects(attempt(), { message: message(1 << 20) });
    const folder = `${cache}/${FOLDER}`;
    assert.deepEqual(await tree(`${folder}/blobs`), [await sha256(FILES["encoder.jit"])]);
    await assert.rejects(
      resolveCheckpoint(REPO, { endpoint: hub.endpoint, cacheDir: cache, maxBytes: -1 }),
      { message: "Invalid maxBytes -1: expected a positive whole number of bytes" },
    );
  } finally {
    await hub.close();
    await Deno.remove(cache, { recursive: true });
  }
});

Deno.test("Sha256 fed in pieces of any size equals crypto.subtle's digest", async () => {
  const data = new Uint8Array(200_003).map((_, i) => (i * 7919 + (i >> 8)) & 0xff);
  for (const length of [0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 1000, data.length]) {
    const bytes = data.slice(0, length);
    const want = await sha256(bytes);
    assert.equal(new Sha256().update(bytes).hex(), want, `${length} bytes at once`);
    for (const piece of [1, 3, 63, 64, 65, 4097]) {
      if (piece > length && length > 0) continue;
      const h = new Sha256();
      for (let i = 0; i < length; i += piece) h.update(bytes.subarray(i, i + piece));
      assert.equal(h.hex(), want, `${length} bytes in pieces of ${piece}`);
    }
  }
  const h = new Sha256().update(data);
  h.hex();
  assert.throws(() => h.update(data), { message: "Sha256.update after hex()" });
});
