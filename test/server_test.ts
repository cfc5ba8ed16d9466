/**
 * The tokenization server's handler on 127.0.0.1 (a random port) with small fixture models: a
 * bounded burst of concurrent uploads against the queue limit, then malformed and oversized
 * requests, each answered with its status and a JSON error, and the server still answering
 * correctly afterwards.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { FIXTURES, gpuTest, HAS_FFMPEG } from "./helpers.ts";
import { loadTokenizer, type Tokenizer } from "../mod.ts";
import { createTokenizeHandler, type ServerLimits } from "../src/server/tokenize.ts";
import { encodeImage, type RgbImage } from "../src/media/image.ts";
import { padImage } from "../src/media/pad.ts";
import { framesToTensor } from "../src/media/tensor.ts";
import type { WebGpuOps } from "../src/backends/webgpu/backend.ts";

function load(variant: string, ops: WebGpuOps): Promise<Tokenizer> {
  return loadTokenizer({
    encoder: new URL(`${variant}/encoder.safetensors`, FIXTURES),
    backend: ops,
    window: variant.includes("V") ? 9 : undefined,
  });
}

function serve(tok: Tokenizer, limits: Partial<ServerLimits>) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    createTokenizeHandler(tok, limits),
  );
  const url = `http://127.0.0.1:${server.addr.port}`;
  return { server, url };
}

function image(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 31 + (i >> 5)) % 256;
  return { width, height, data };
}

/** The fields the tests read from the server's JSON answers. */
interface Reply {
  error: string;
  model: string;
  queue: number;
  input: { width: number; height: number; frames: number };
  tokens: { dtype: string; shape: number[]; data: string };
}

async function post(url: string, body: BodyInit | null): Promise<{ status: number; json: Reply }> {
  const res = await fetch(`${url}/tokenize`, { method: "POST", body });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    throw new Error(`status ${res.status}: not JSON: ${text}`);
  }
  return { status: res.status, json };
}

function tokensOf(json: Reply) {
  const bytes = Buffer.from(json.tokens.data, "base64");
  const buf = new Uint8Array(bytes).buffer;
  return json.tokens.dtype === "int32" ? new Int32Array(buf) : new Float32Array(buf);
}

gpuTest(
  "server: a burst beyond the queue gets 429s, malformed uploads 4xx JSON, and it keeps serving",
  async (ops) => {
    const tok = await load("DI8x8", ops);
    const { server, url } = serve(tok, { maxQueue: 3, maxBytes: 64 * 1024, maxSide: 64 });
    try {
      const png = encodeImage(image(40, 30, 1), "png");
      // Six uploads at once, the tokenizer held busy until three have been refused: three are
      // admitted and wait, the rest get 429 at once, however fast the backend is.
      const encode = tok.encode;
      let open = () => {};
      const gate = new Promise<void>((resolve) => open = resolve);
      const safety = setTimeout(() => open(), 20_000);
      tok.encode = async (...args) => {
        await gate;
        return await encode.apply(tok, args);
      };
      let refused = 0;
      const posts = Array.from({ length: 6 }, () =>
        post(url, png).then((r) => {
          if (r.status === 429 && ++refused === 3) open();
          return r;
        }));
      const burst = await Promise.all(posts).finally(() => {
        clearTimeout(safety);
        tok.encode = encode;
      });
      const statuses = burst.map((r) => r.status).sort();
      assert.deepEqual(statuses, [200, 200, 200, 429, 429, 429]);
      for (const r of burst) {
        if (r.status === 429) assert.match(r.json.error, /Busy/);
      }

      // The tokens are those of the library on the same (reflection-padded) image.
      const ok = burst.find((r) => r.status === 200)!.json;
      assert.equal(ok.tokens.dtype, "int32");
      assert.deepEqual(ok.tokens.shape, [1, 4, 5]);
      assert.deepEqual(ok.input, { width: 40, height: 30, frames: 1 });
      const padded = padImage(image(40, 30, 1), 8).image;
      const direct = await tok.encode(framesToTensor([padded], false));
      assert.deepEqual([...tokensOf(ok)], [...direct.indices!.data]);

      // Malformed and oversized requests, one after another.
      const huge = new Uint8Array(png);
      new DataView(huge.buffer).setUint32(16, 5000); // IHDR width
      const stream = new ReadableStream<Uint8Array>({
        start(c) {
          for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(8192));
          c.close();
        },
      });
      const fakeMp4 = new Uint8Array(64);
      fakeMp4.set(new TextEncoder().encode("ftypisom"), 4);
      const cases: [string, BodyInit | null, number, RegExp][] = [
        ["garbage", crypto.getRandomValues(new Uint8Array(3000)), 415, /Unsupported media/],
        ["truncated PNG", png.slice(0, 60), 400, /damaged PNG|Damaged image/],
        ["5000 pixels wide", huge, 422, /5000x30 is larger than this server takes/],
        ["body over the limit", new Uint8Array(70 * 1024), 413, /limit is 65536/],
        ["streamed body over the limit", stream, 413, /over the limit/],
        ["empty body", null, 400, /Empty body/],
        ["a video to an image model", fakeMp4, 422, /image tokenizer: send an image/],
      ];
      for (const [what, body, status, message] of cases) {
        const r = await post(url, body);
        assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
        assert.match(r.json.error, message, what);
      }
      const get = await fetch(`${url}/tokenize`);
      assert.equal(get.status, 405);
      assert.match((await get.json()).error, /POST/);
      const missing = await fetch(`${url}/nope`, { method: "POST", body: "x" });
      assert.equal(missing.status, 404);
      await missing.body?.cancel();

      // Still serving, with an empty queue.
      const again = await post(url, encodeImage(image(32, 32, 2), "jpeg"));
      assert.equal(again.status, 200);
      assert.deepEqual(again.json.tokens.shape, [1, 4, 4]);
      const health = await (await fetch(`${url}/health`)).json();
      assert.equal(health.queue, 0);
      assert.equal(health.model, "Cosmos-0.1-Tokenizer-DI8x8");
    } finally {
      await server.shutdown();
      await tok.dispose();
    }
  },
);

gpuTest("server: short videos through ffmpeg, frame and damage limits", async (ops) => {
  const dir = Deno.makeTempDirSync();
  const make = (frames: number, name: string) => {
    const r = new Deno.Command("ffmpeg", {
      args: [
        "-v",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        "testsrc=size=32x24:rate=8",
        "-frames:v",
        String(frames),
        `${dir}/${name}`,
      ],
    }).outputSync();
    assert.ok(r.success);
    return Deno.readFileSync(`${dir}/${name}`);
  };
  const tok = await load("DV4x8x8", ops);
  const { server, url } = serve(tok, { maxFrames: 9, maxSide: 64 });
  try {
    const r = await post(url, make(9, "short.mp4"));
    assert.equal(r.status, 200, JSON.stringify(r.json));
    assert.deepEqual(r.json.input, { width: 32, height: 24, frames: 9 });
    assert.deepEqual(r.json.tokens.shape, [1, 3, 3, 4]); // 24 padded to 32 rows
    assert.equal(tokensOf(r.json).length, 36);
    const long = await post(url, make(17, "long.mp4"));
    assert.equal(long.status, 422);
    assert.match(long.json.error, /17 frames; this server takes at most 9/);
    const fake = new Uint8Array(4096);
    fake.set(new TextEncoder().encode("ftypisom"), 4);
    const damaged = await post(url, fake);
    assert.equal(damaged.status, 400);
    assert.match(damaged.json.error, /Damaged video/);
    const img = await post(url, encodeImage(image(16, 16, 3), "png"));
    assert.equal(img.status, 422);
    assert.match(img.json.error, /video tokenizer: send a video/);
    assert.equal((await post(url, make(5, "again.mp4"))).status, 200);
  } finally {
    await server.shutdown();
    await tok.dispose();
    Deno.removeSync(dir, { recursive: true });
  }
}, { ignore: !HAS_FFMPEG });
