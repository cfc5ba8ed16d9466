/**
 * The browser's hub path (src/browser/hub.ts): both halves fetched from resolve URLs of a real
 * server on 127.0.0.1, kept in the Cache API (Deno has one too), and every hostile answer
 * refused with a sentence. Also the pixel helpers' checks (src/browser/pixels.ts).
 */

import assert from "node:assert/strict";
import { fetchCheckpoint } from "../src/browser/hub.ts";
import { imageDataToTensor, tensorToImageData } from "../src/browser/pixels.ts";
import { FIXTURES } from "./helpers.ts";

type Route = (file: string) => Response | null;

/** A fake hub: GET /<owner>/<name>/resolve/<rev>/<file> answered by `route`; counts requests. */
function fakeHub(route: Route) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    seen.push(`${path} ${req.headers.get("authorization") ?? ""}`.trim());
    const m = /^\/[^/]+\/[^/]+\/resolve\/[^/]+\/([^/]+)$/.exec(path);
    return (m && route(m[1])) ?? new Response("no", { status: 404 });
  });
  return {
    endpoint: `http://127.0.0.1:${server.addr.port}`,
    seen,
    close: () => server.shutdown(),
  };
}

const fixture = (file: string) => Deno.readFileSync(new URL(`DI8x8/${file}`, FIXTURES));

Deno.test("browser hub: halves come from the resolve URLs once, then from the Cache API", async () => {
  const hub = fakeHub((f) => f.endsWith(".safetensors") ? new Response(fixture(f)) : null);
  const cacheName = `cosmos-test-${crypto.randomUUID()}`;
  try {
    const first = await fetchCheckpoint("acme/tiny-di8x8", { endpoint: hub.endpoint, cacheName });
    assert.equal(first.cached, false);
    assert.deepEqual(first.encoder, fixture("encoder.safetensors"));
    assert.deepEqual(first.decoder, fixture("decoder.safetensors"));
    // .jit first (404), then .safetensors, for each half.
    assert.equal(hub.seen.length, 4);
    assert.ok(hub.seen.includes("/acme/tiny-di8x8/resolve/main/encoder.jit"));
    const again = await fetchCheckpoint("acme/tiny-di8x8", { endpoint: hub.endpoint, cacheName });
    assert.equal(again.cached, true);
    assert.equal(hub.seen.length, 4, "the second load asked the hub nothing");
    assert.deepEqual(again.encoder, first.encoder);
    // An official name maps to nvidia/<name>, and the token is sent.
    await fetchCheckpoint("DI8x8", { endpoint: hub.endpoint, caches: null, token: "tk" });
    assert.ok(
      hub.seen.includes("/nvidia/Cosmos-0.1-Tokenizer-DI8x8/resolve/main/encoder.jit Bearer tk"),
    );
  } finally {
    await caches.delete(cacheName);
    await hub.close();
  }
});

Deno.test("browser hub: bad names, missing files, refusals and oversized bodies are errors", async () => {
  const big = new Uint8Array(5000);
  const hub = fakeHub((f) => {
    if (f === "encoder.jit") return new Response(big);
    if (f === "decoder.jit") return new Response("denied", { status: 401 });
    return null;
  });
  const o = { endpoint: hub.endpoint, caches: null };
  try {
    await assert.rejects(
      fetchCheckpoint("XI9x9", o),
      /Unknown model "XI9x9".*a directory needs Deno/,
    );
    await assert.rejects(fetchCheckpoint("a/b", { ...o, revision: "../x" }), /revision/i);
    await assert.rejects(fetchCheckpoint("../../etc", o), /repo id|Unknown model/);
    await assert.rejects(
      fetchCheckpoint("acme/tiny", { ...o, maxBytes: 1000 }),
      /Cannot download "encoder.jit" from acme\/tiny: it is 5000 bytes, more than maxBytes \(1000\)/,
    );
    await assert.rejects(
      fetchCheckpoint("acme/tiny", o),
      /Cannot download "decoder.jit" from acme\/tiny: HTTP 401 .*pass a hub token/,
    );
    await assert.rejects(fetchCheckpoint("acme/tiny", { ...o, maxBytes: -1 }), /maxBytes must be/);
  } finally {
    await hub.close();
  }
});

/** What a repo with no checkpoint file is told to do instead. */
const NO_CHECKPOINT_REMEDY =
  "pass the checkpoint's URLs or bytes as encoder and decoder instead (one file as both where it holds the whole VAE)";

Deno.test("browser hub: a repo with no checkpoint file names every file tried, in order", async () => {
  const unrelated = new Set(["README.md", "model.safetensors", "encoder.pt", "config.json"]);
  const empty = fakeHub(() => null);
  // Files near the names tried, none of them one: only an exact name counts.
  const other = fakeHub((f) => unrelated.has(f) ? new Response("not a checkpoint") : null);
  const whole = "Wan2.2_VAE.pth, Wan2.1_VAE.pth and vae/diffusion_pytorch_model.safetensors";
  const halves = "encoder.jit, encoder.safetensors, decoder.jit, decoder.safetensors";
  const cacheName = `cosmos-test-${crypto.randomUUID()}`;
  try {
    for (const hub of [empty, other]) {
      const base = `${hub.endpoint}/acme/none/resolve/main/`;
      await assert.rejects(
        fetchCheckpoint("acme/none", { endpoint: hub.endpoint, cacheName }),
        (err: Error) => {
          assert.equal(
            err.message,
            `acme/none has no checkpoint file at ${base}: tried ${halves}, ${whole}, in that order; ${NO_CHECKPOINT_REMEDY}`,
          );
          return true;
        },
      );
      // The message is what was asked: the halves' files (both at once), then the whole files.
      const asked = hub.seen.map((p) => p.split("/resolve/main/")[1]);
      assert.deepEqual(asked.slice(0, 4).sort(), halves.split(", ").sort());
      assert.deepEqual(asked.slice(4), whole.replace(" and ", ", ").split(", "));
    }
    await assert.rejects(
      fetchCheckpoint("acme/none", {
        endpoint: other.endpoint,
        caches: null,
        revision: "v1",
        halves: ["encoder"],
      }),
      (err: Error) => {
        assert.equal(
          err.message,
          `acme/none has no checkpoint file at ${other.endpoint}/acme/none/resolve/v1/: tried encoder.jit, encoder.safetensors, ${whole}, in that order; ${NO_CHECKPOINT_REMEDY}`,
        );
        return true;
      },
    );
  } finally {
    await caches.delete(cacheName);
    await empty.close();
    await other.close();
  }
});

Deno.test("browser hub: a repo with one half's files only says which files the other lacks", async () => {
  const hub = fakeHub((f) => f === "decoder.safetensors" ? new Response(fixture(f)) : null);
  try {
    await assert.rejects(
      fetchCheckpoint("acme/half", { endpoint: hub.endpoint, caches: null }),
      (err: Error) => {
        assert.equal(
          err.message,
          `acme/half has no encoder.jit or encoder.safetensors at ${hub.endpoint}/acme/half/resolve/main/`,
        );
        return true;
      },
    );
  } finally {
    await hub.close();
  }
});

Deno.test("browser hub: a body with no declared length stops at maxBytes", async () => {
  const hub = fakeHub(() => {
    // Streamed, so the server declares no length.
    const stream = new ReadableStream({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(new Uint8Array(1000));
        c.close();
      },
    });
    return new Response(stream);
  });
  try {
    await assert.rejects(
      fetchCheckpoint("acme/x", { endpoint: hub.endpoint, caches: null, maxBytes: 4000 }),
      /Cannot download "encoder.jit" from acme\/x: it is more than maxBytes \(4000\)/,
    );
  } finally {
    await hub.close();
  }
});

Deno.test("browser hub: a declared length the body does not reach is an error", async () => {
  const lying = (declared: string, body: Uint8Array) => () => {
    const stream = new ReadableStream({
      start(c) {
        c.enqueue(body);
        c.close();
      },
    });
    const res = new Response(stream);
    // A Response built by hand keeps whatever length header it is given.
    Object.defineProperty(res, "headers", { value: new Headers({ "content-length": declared }) });
    return Promise.resolve(res);
  };
  await assert.rejects(
    fetchCheckpoint("acme/x", { caches: null, fetch: lying("100", new Uint8Array(10)) }),
    /the body ended after 10 of its declared 100 bytes/,
  );
  await assert.rejects(
    fetchCheckpoint("acme/x", { caches: null, fetch: lying("10", new Uint8Array(100)) }),
    /the body is longer than its declared 10 bytes/,
  );
});

Deno.test("pixels: RGBA in, padded tensor out, and back, cropped; wrong sizes are refused", () => {
  const width = 5, height = 3;
  const data = new Uint8ClampedArray(width * height * 4).map((_, i) => (i * 37) % 256);
  const { tensor, crop } = imageDataToTensor({ width, height, data }, { multiple: 4 });
  assert.deepEqual(tensor.shape, [1, 3, 4, 8]);
  assert.deepEqual(crop, { top: 0, left: 1, height: 3, width: 5 });
  const [back] = tensorToImageData(tensor, crop);
  assert.equal(back.width, width);
  for (let i = 0; i < data.length; i++) {
    assert.equal(back.data[i], i % 4 === 3 ? 255 : data[i], `byte ${i}`);
  }
  assert.throws(
    () => imageDataToTensor({ width: 4, height: 4, data: new Uint8ClampedArray(10) }),
    /Cannot read image: a 4x4 RGBA image holds 64 bytes, got 10/,
  );
  assert.throws(
    () => imageDataToTensor({ width, height, data }, { multiple: 0 }),
    /multiple must be a positive integer, got 0/,
  );
  assert.throws(
    () => tensorToImageData({ data: new Float32Array(4), shape: [1, 4] }),
    /Cannot draw a tensor of shape \[1, 4\]/,
  );
});

Deno.test("browser hub: `halves` fetches only the halves asked for", async () => {
  const hub = fakeHub((f) => f.endsWith(".safetensors") ? new Response(fixture(f)) : null);
  try {
    const o = { endpoint: hub.endpoint, caches: null };
    const enc = await fetchCheckpoint("acme/tiny-di8x8", { ...o, halves: ["encoder"] });
    assert.deepEqual(enc.encoder, fixture("encoder.safetensors"));
    assert.equal(enc.decoder.length, 0);
    assert.equal(enc.urls[1], "");
    assert.ok(!hub.seen.some((p) => p.includes("decoder")), hub.seen.join("\n"));
    const dec = await fetchCheckpoint("acme/tiny-di8x8", { ...o, halves: ["decoder"] });
    assert.deepEqual(dec.decoder, fixture("decoder.safetensors"));
    assert.equal(dec.encoder.length, 0);
    await assert.rejects(
      fetchCheckpoint("acme/tiny-di8x8", { ...o, halves: [] }),
      /Cannot fetch "acme\/tiny-di8x8": halves must name "encoder", "decoder" or both/,
    );
  } finally {
    await hub.close();
  }
});
