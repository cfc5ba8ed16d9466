/**
 * The attacks of issue 14 against the tokenization server, each reproduced and each answered
 * with a clear refusal: images whose real frame hides from a size check (a second PNG IHDR, a
 * JPEG frame behind fill bytes or behind jpeg-js's own arithmetic, zlib bombs), refused before
 * the memory they claim is allocated (the server's peak RSS is read from /proc); uploads that
 * trickle a byte at a time, which hold no place in the queue and are cut off (408); the byte
 * budget of uploads held at once (429 with Retry-After). Then the HTTP conventions: multipart
 * forms, Allow, CORS, /decode back to a PNG or a video, the CLI's video containers (AVI).
 * The server is examples/server.ts, run in a subprocess on 127.0.0.1 on the wasm backend.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { FIXTURES, HAS_FFMPEG } from "./helpers.ts";
import {
  bombPng,
  dqtOverrunJpeg,
  fillByteJpeg,
  interlacedPng,
  twoIhdrPng,
} from "./hostile_media.ts";
import { fixture, runServerScript, startServer, trickle } from "./server_process.ts";
import { decodeImage, encodeImage, ImageLimitError, type RgbImage } from "../src/media/image.ts";
import { cropImage, padImage } from "../src/media/pad.ts";
import { framesToTensor, tensorToFrames } from "../src/media/tensor.ts";
import { loadTokenizer, type Tokenizer } from "../mod.ts";

/** The wasm backend's tests hold its threads across tests. */
const HELD = { sanitizeResources: false, sanitizeOps: false };

function image(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 31 + (i >> 5)) % 256;
  return { width, height, data };
}

/** ffmpeg's own decode of an image file to RGB, an oracle independent of pngjs. */
function ffmpegRgb(path: string): Uint8Array {
  const out = new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    stdout: "piped",
  }).outputSync();
  assert.ok(out.success);
  return out.stdout;
}

Deno.test("decodeImage() refuses a PNG with a second IHDR, the one pngjs would decode at 12000x12000", () => {
  const file = twoIhdrPng(40, 12000);
  for (const limits of [{ maxSide: 64 }, {}]) {
    assert.throws(
      () => decodeImage(file, "two.png", limits),
      /Cannot read image "two.png": damaged PNG \(it has a second IHDR chunk at byte 33/,
    );
  }
});

Deno.test("decodeImage() reads the JPEG frame header behind FF fill bytes, not the decoy 48 KB on", () => {
  const file = fillByteJpeg(40, 12000);
  assert.throws(
    () => decodeImage(file, "fill.jpg", { maxSide: 64 }),
    (err: Error) =>
      err instanceof ImageLimitError && err.size?.width === 12000 &&
      /"fill.jpg": 12000x12000 is larger than 64 pixels a side/.test(err.message),
  );
  // Without limits (the CLI), two frame headers are damage, as jpeg-js would find after
  // allocating the first.
  assert.throws(
    () => decodeImage(file, "fill.jpg"),
    /damaged JPEG \(it has 2 frame headers \(SOF\); a JPEG has one\)/,
  );
});

Deno.test("decodeImage() refuses a frame only jpeg-js's arithmetic finds, inside jpeg-js, before its blocks", () => {
  const file = dqtOverrunJpeg(12000);
  assert.throws(
    () => decodeImage(file, "dqt.jpg", { maxSide: 64 }),
    (err: Error) =>
      err instanceof ImageLimitError && err.size === null &&
      /"dqt.jpg": its frame is larger than 4096 pixels \(maxResolutionInMP limit exceeded by 144MP\)/
        .test(err.message),
  );
});

Deno.test("decodeImage() refuses zlib bombs in a PNG's pixel data, interlaced or not", async () => {
  for (const interlace of [0, 1]) {
    const file = await bombPng(64, interlace, 256 << 20);
    assert.ok(file.length < 300_000, `${file.length} bytes claim 256 MiB`);
    assert.throws(
      () => decodeImage(file, "bomb.png"),
      /damaged PNG \(its pixel data inflates to more than the \d+ bytes its IHDR holds\)/,
      `interlace ${interlace}`,
    );
  }
});

Deno.test("decodeImage() refuses PNG chunks pngjs would read otherwise or not at all", () => {
  const ok = encodeImage(image(8, 8, 1), "png");
  const cases: [string, Uint8Array, RegExp][] = [
    ["cut short", ok.slice(0, ok.length - 20), /says \d+ bytes, past the end|without an IEND/],
    ["bytes after IEND", new Uint8Array([...ok, 1, 2, 3]), /3 bytes after its IEND chunk/],
    [
      "no IHDR first",
      new Uint8Array([...ok.slice(0, 8), ...ok.slice(33)]),
      /first chunk is "\w+", not IHDR/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => decodeImage(bytes, "x.png"), message, what);
  }
});

Deno.test({
  name: "decodeImage() still reads interlaced, palette, grey, alpha and 16-bit PNGs",
  ignore: !HAS_FFMPEG,
  fn() {
    const src = image(37, 21, 5);
    assert.deepEqual(decodeImage(interlacedPng(src), "adam7.png"), src);
    const dir = Deno.makeTempDirSync();
    try {
      for (const pixFmt of ["pal8", "gray", "ya8", "rgba", "rgb48be", "monob"]) {
        const path = `${dir}/${pixFmt}.png`;
        const made = new Deno.Command("ffmpeg", {
          args: ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=35x19", "-frames:v", "1"]
            .concat(["-pix_fmt", pixFmt, path]),
        }).outputSync();
        assert.ok(made.success, pixFmt);
        const img = decodeImage(Deno.readFileSync(path), path);
        const want = ffmpegRgb(path);
        assert.equal(img.width, 35);
        assert.equal(img.height, 19);
        // 16-bit samples are brought to 8 bits by each decoder's own rounding.
        const tol = pixFmt === "rgb48be" ? 1 : 0;
        const worst = img.data.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
        assert.ok(worst <= tol, `${pixFmt}: off by ${worst}`);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/** The fields the tests read from the server's JSON answers. */
interface Reply {
  error: string;
  queue: number;
  backend: string;
  input: { width: number; height: number; frames: number };
  tokens: { dtype: string; shape: number[]; data: string };
}

async function post(
  url: string,
  body: BodyInit | null,
  headers: HeadersInit = {},
): Promise<{ status: number; json: Reply; headers: Headers }> {
  const res = await fetch(url, { method: "POST", body, headers });
  const text = await res.text();
  try {
    return { status: res.status, json: JSON.parse(text), headers: res.headers };
  } catch {
    throw new Error(`status ${res.status}: not JSON: ${text.slice(0, 200)}`);
  }
}

function tokensOf(json: Reply): Int32Array {
  return new Int32Array(new Uint8Array(Buffer.from(json.tokens.data, "base64")).buffer);
}

function loadDirect(variant: string): Promise<Tokenizer> {
  return loadTokenizer({
    encoder: new URL(`${variant}/encoder.safetensors`, FIXTURES),
    decoder: new URL(`${variant}/decoder.safetensors`, FIXTURES),
    backend: "wasm",
    wasm: { threads: 1 },
    window: variant.includes("V") ? 17 : undefined,
  });
}

Deno.test({
  name: "server: hidden frames, bombs and trickling uploads are refused, in bounded memory",
  ...HELD,
  async fn(t) {
    const srv = await startServer([
      "--encoder",
      fixture("DI8x8", "encoder"),
      "--backend",
      "wasm",
      "--threads",
      "1",
      "--max-side",
      "64",
      "--max-bytes",
      String(1 << 20),
      "--max-queue",
      "2",
      "--read-timeout",
      "2500",
      "--max-buffered",
      String(3 << 20),
    ]);
    const tokenize = `${srv.url}/tokenize`;
    try {
      // Warm: the model loaded and one image through it, so the peak below is the attacks'.
      const warm = await post(tokenize, encodeImage(image(40, 30, 1), "png"));
      assert.equal(warm.status, 200);
      const noDecoder = await post(`${srv.url}/decode`, JSON.stringify(warm.json));
      assert.equal(noDecoder.status, 501, "started without --decoder");
      assert.match(
        noDecoder.json.error,
        /This server has no decoder: start it with --decoder FILE/,
      );
      const health = await (await fetch(`${srv.url}/health`)).json();
      assert.match(health.backend, /^wasm \(.*1 thread\)$/, "--backend wasm --threads 1");

      await t.step("images whose real frame hides from a size check get 400/422", async () => {
        const before = srv.peakRssMiB();
        const cases: [string, Uint8Array<ArrayBuffer>, number, RegExp][] = [
          ["second IHDR", twoIhdrPng(40, 12000), 400, /second IHDR chunk/],
          [
            "fill bytes",
            fillByteJpeg(40, 12000),
            422,
            /^12000x12000 is larger than this server takes \(64 pixels a side\)$/,
          ],
          [
            "jpeg-js's DQT arithmetic",
            dqtOverrunJpeg(12000),
            422,
            /^The image is larger than this server takes \(64 pixels a side\): .*maxResolutionInMP limit exceeded by 144MP/,
          ],
          [
            "interlaced zlib bomb",
            await bombPng(64, 1, 512 << 20),
            400,
            /inflates to more than the 12408 bytes its IHDR holds/,
          ],
          [
            "zlib bomb",
            await bombPng(64, 0, 512 << 20),
            400,
            /inflates to more than the 12352 bytes its IHDR holds/,
          ],
        ];
        for (const [what, bytes, status, message] of cases) {
          const r = await post(tokenize, bytes);
          assert.equal(r.status, status, `${what}: ${JSON.stringify(r.json)}`);
          assert.match(r.json.error, message, what);
        }
        // 12000 x 12000 is 576 MB of RGBA and 512 MiB of inflated bombs: none of it allocated.
        const grown = srv.peakRssMiB() - before;
        console.log(
          `peak RSS ${before.toFixed(0)} MiB before the images, +${grown.toFixed(1)} after`,
        );
        assert.ok(grown < 48, `peak RSS grew by ${grown.toFixed(0)} MiB`);
        assert.equal((await post(tokenize, encodeImage(image(24, 24, 2), "jpeg"))).status, 200);
      });

      await t.step("trickling uploads hold no place: others are served, they get 408", async () => {
        // Four clients sending a byte every 200 ms, twice the queue: before, they held every
        // place and all else got 429.
        const t0 = performance.now();
        const slow = Array.from({ length: 4 }, () => trickle(srv.port, "/tokenize", 5000, 200));
        await new Promise((r) => setTimeout(r, 300));
        for (let i = 0; i < 3; i++) {
          const r = await post(tokenize, encodeImage(image(32, 24, 3 + i), "png"));
          assert.equal(r.status, 200, JSON.stringify(r.json));
        }
        const served = performance.now() - t0;
        for (const r of await Promise.all(slow)) {
          assert.equal(r.status, 408, r.headers);
          assert.match(
            r.body,
            /The body did not arrive within 2\.5 s \(\d+ bytes came\): send it in one go/,
          );
          assert.ok(r.ms > served, "the others were served while it still trickled");
          assert.ok(r.ms < 6000, `cut off after ${r.ms.toFixed(0)} ms`);
        }
      });

      await t.step("uploads holding the byte budget get 429 with Retry-After", async () => {
        // Three slow uploads that declare 1 MiB each hold the 3 MiB budget between them.
        const slow = Array.from({ length: 3 }, () => trickle(srv.port, "/tokenize", 1 << 20, 100));
        await new Promise((r) => setTimeout(r, 300));
        const r = await post(tokenize, encodeImage(image(32, 24, 9), "png"));
        assert.equal(r.status, 429);
        assert.match(
          r.json.error,
          /Busy: the uploads in progress hold 3145728 of the 3145728 bytes/,
        );
        assert.ok(Number(r.headers.get("retry-after")) >= 1);
        for (const s of await Promise.all(slow)) assert.equal(s.status, 408);
        assert.equal((await (await fetch(`${srv.url}/health`)).json()).buffered, 0);
      });

      await t.step(
        "bodies over the limit get 413, also when they do not say their length",
        async () => {
          const big = await post(tokenize, new Uint8Array((1 << 20) + 1));
          assert.equal(big.status, 413);
          assert.match(big.json.error, /The body has 1048577 bytes; the limit is 1048576/);
          const stream = new ReadableStream<Uint8Array>({
            start(c) {
              for (let i = 0; i < 20; i++) c.enqueue(new Uint8Array(64 * 1024));
              c.close();
            },
          });
          const streamed = await post(tokenize, stream);
          assert.equal(streamed.status, 413);
          assert.match(streamed.json.error, /The body is over the limit of 1048576 bytes/);
        },
      );
    } finally {
      await srv.stop();
    }
  },
});

Deno.test({
  name: "server: multipart forms, Allow, no CORS by default, /decode back to PNG",
  ...HELD,
  async fn(t) {
    const srv = await startServer([
      "--encoder",
      fixture("DI8x8", "encoder"),
      "--decoder",
      fixture("DI8x8", "decoder"),
      "--backend",
      "wasm",
      "--threads",
      "1",
      "--max-side",
      "64",
      "--max-bytes",
      String(256 << 10),
    ]);
    const tok = await loadDirect("DI8x8");
    try {
      const src = image(40, 30, 4);
      const png = encodeImage(src, "png");
      const direct = await tok.encode(framesToTensor([padImage(src, 8).image], false));
      let answer: Reply;

      await t.step("a multipart form's file is tokenized as the raw body is", async () => {
        const form = new FormData();
        form.append("note", "a field that is not the file");
        form.append("file", new Blob([png], { type: "image/png" }), "x.png");
        const r = await post(`${srv.url}/tokenize`, form);
        assert.equal(r.status, 200, JSON.stringify(r.json));
        assert.deepEqual([...tokensOf(r.json)], [...direct.indices!.data]);
        const raw = await post(`${srv.url}/tokenize`, png);
        assert.deepEqual(raw.json.tokens, r.json.tokens);
        answer = r.json;
        assert.equal(r.headers.get("access-control-allow-origin"), null, "no CORS unless asked");

        const empty = new FormData();
        empty.append("note", "no file");
        const none = await post(`${srv.url}/tokenize`, empty);
        assert.equal(none.status, 400);
        assert.match(
          none.json.error,
          /The form holds no file: send the image or video as its "file" field/,
        );
        const huge = new FormData();
        huge.append("file", new Blob([new Uint8Array(300 << 10)]), "big.png");
        const over = await post(`${srv.url}/tokenize`, huge);
        assert.equal(over.status, 413);
        const text = new FormData();
        text.append("file", new Blob([new TextEncoder().encode("not an image at all")]), "a.txt");
        const unsupported = await post(`${srv.url}/tokenize`, text);
        assert.equal(unsupported.status, 415);
        assert.match(unsupported.json.error, /Unsupported media: send PNG or JPEG images; .*AVI/);
      });

      await t.step("wrong methods get 405 with Allow; OPTIONS says what is allowed", async () => {
        for (
          const [path, method, allow] of [
            ["/tokenize", "GET", "POST, OPTIONS"],
            ["/decode", "PUT", "POST, OPTIONS"],
            ["/health", "POST", "GET, HEAD, OPTIONS"],
          ]
        ) {
          const res = await fetch(`${srv.url}${path}`, { method });
          assert.equal(res.status, 405, `${method} ${path}`);
          assert.equal(res.headers.get("allow"), allow);
          assert.match((await res.json()).error, new RegExp(`${method} is not allowed`));
        }
        const options = await fetch(`${srv.url}/tokenize`, { method: "OPTIONS" });
        assert.equal(options.status, 204);
        assert.equal(options.headers.get("allow"), "POST, OPTIONS");
        assert.equal(options.headers.get("access-control-allow-methods"), null);
        await options.body?.cancel();
        const missing = await fetch(`${srv.url}/nope`);
        assert.equal(missing.status, 404);
        assert.match((await missing.json()).error, /POST an image or video to \/tokenize/);
      });

      await t.step(
        "/decode turns /tokenize's answer back into the PNG the library decodes",
        async () => {
          const res = await fetch(`${srv.url}/decode`, {
            method: "POST",
            body: JSON.stringify(answer),
          });
          assert.equal(res.status, 200);
          assert.equal(res.headers.get("content-type"), "image/png");
          const got = decodeImage(new Uint8Array(await res.arrayBuffer()), "decoded.png");
          const pixels = tensorToFrames(await tok.decode(direct.indices!))[0];
          assert.deepEqual(got, cropImage(pixels, padImage(src, 8).crop));
          const jpeg = await fetch(`${srv.url}/decode?format=jpeg`, {
            method: "POST",
            body: JSON.stringify({ tokens: answer.tokens }),
          });
          assert.equal(jpeg.headers.get("content-type"), "image/jpeg");
          const whole = decodeImage(new Uint8Array(await jpeg.arrayBuffer()), "d.jpg");
          assert.deepEqual([whole.width, whole.height], [40, 32], "no input: the padded frame");
        },
      );

      await t.step("/decode refuses what it cannot decode, saying why", async () => {
        const tokens = answer.tokens;
        const cases: [string, string, number, RegExp][] = [
          ["", "not json", 400, /The body is not JSON/],
          ["", "{}", 400, /The body has no "tokens"/],
          [
            "",
            JSON.stringify({ tokens: { ...tokens, dtype: "float32" } }),
            422,
            /whose tokens are int32; these are float32/,
          ],
          [
            "",
            JSON.stringify({ tokens: { ...tokens, shape: [1, 6] } }),
            422,
            /tokens.shape must be \[1, h, w\]/,
          ],
          [
            "",
            JSON.stringify({ tokens: { ...tokens, shape: [1, 9, 5] } }),
            422,
            /decode to 40x72, larger than this server takes \(64 pixels a side\)/,
          ],
          [
            "",
            JSON.stringify({ tokens: { ...tokens, shape: [1, 4, 4] } }),
            400,
            /tokens.data holds 80 bytes; shape \[1, 4, 4\] needs 64/,
          ],
          [
            "",
            JSON.stringify({ tokens, input: { width: 60, height: 30 } }),
            422,
            /input is 60x30, but these tokens are 40x32 pixels/,
          ],
          [
            "?format=gif",
            JSON.stringify({ tokens }),
            400,
            /Unknown format "gif": an image decodes to png, jpeg/,
          ],
          [
            "",
            JSON.stringify({
              tokens: {
                ...tokens,
                data: Buffer.from(new Int32Array(20).fill(1e6).buffer).toString("base64"),
              },
            }),
            422,
            /Cannot decode: index 1000000 at position 0 is outside/,
          ],
        ];
        for (const [query, body, status, message] of cases) {
          const r = await post(`${srv.url}/decode${query}`, body);
          assert.equal(r.status, status, `${body.slice(0, 60)}: ${JSON.stringify(r.json)}`);
          assert.match(r.json.error, message);
        }
      });
    } finally {
      await tok.dispose();
      await srv.stop();
    }
  },
});

Deno.test({
  name:
    "server: a video model takes the CLI's containers (AVI, MPEG), decodes to MP4, CORS on request",
  ignore: !HAS_FFMPEG,
  ...HELD,
  async fn() {
    const srv = await startServer([
      "--encoder",
      fixture("DV4x8x8", "encoder"),
      "--decoder",
      fixture("DV4x8x8", "decoder"),
      "--backend",
      "wasm",
      "--threads",
      "1",
      "--max-side",
      "64",
      "--max-frames",
      "9",
      "--cors",
      "https://app.example",
    ]);
    const dir = Deno.makeTempDirSync();
    try {
      for (const name of ["clip.avi", "clip.mpg"]) {
        const made = new Deno.Command("ffmpeg", {
          args: ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=32x24:rate=25", "-frames:v", "7"]
            .concat([`${dir}/${name}`]),
        }).outputSync();
        assert.ok(made.success, name);
        const r = await post(`${srv.url}/tokenize`, Deno.readFileSync(`${dir}/${name}`));
        assert.equal(r.status, 200, `${name}: ${JSON.stringify(r.json)}`);
        assert.equal(r.json.input.frames, 7, name);
        assert.equal(r.headers.get("access-control-allow-origin"), "https://app.example");
        if (name !== "clip.avi") continue;
        // 7 frames padded to 9 (one before, one after): 3 latent frames; decoded and cropped
        // back to the 7 frames of 32x24.
        assert.deepEqual(r.json.tokens.shape, [1, 3, 3, 4]);
        const res = await fetch(`${srv.url}/decode`, {
          method: "POST",
          body: JSON.stringify(r.json),
        });
        assert.equal(res.status, 200, await res.clone().text());
        assert.equal(res.headers.get("content-type"), "video/mp4");
        Deno.writeFileSync(`${dir}/decoded.mp4`, new Uint8Array(await res.arrayBuffer()));
        const probe = new Deno.Command("ffprobe", {
          args: [
            "-v",
            "error",
            "-count_frames",
            "-show_entries",
            "stream=width,height,nb_read_frames",
          ]
            .concat(["-of", "csv=p=0", `${dir}/decoded.mp4`]),
          stdout: "piped",
        }).outputSync();
        assert.equal(new TextDecoder().decode(probe.stdout).trim(), "32,24,7");
      }
      const preflight = await fetch(`${srv.url}/tokenize`, {
        method: "OPTIONS",
        headers: { origin: "https://app.example", "access-control-request-method": "POST" },
      });
      assert.equal(preflight.status, 204);
      assert.equal(preflight.headers.get("access-control-allow-origin"), "https://app.example");
      assert.equal(preflight.headers.get("access-control-allow-methods"), "POST, OPTIONS");
      await preflight.body?.cancel();
      const many = await post(
        `${srv.url}/decode`,
        JSON.stringify({
          tokens: {
            dtype: "int32",
            shape: [1, 9, 3, 4],
            data: Buffer.alloc(9 * 12 * 4).toString("base64"),
          },
        }),
      );
      assert.equal(many.status, 422);
      assert.match(
        many.json.error,
        /These tokens hold 9 latent frames; 9 frames, the most this server takes, give 3/,
      );
    } finally {
      await srv.stop();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

Deno.test("examples/server.ts refuses an unknown --backend and bad limits, saying which", async () => {
  const bad = await runServerScript([
    "--encoder",
    fixture("DI8x8", "encoder"),
    "--backend",
    "cuda",
  ]);
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /Unknown --backend "cuda": use auto, webgpu or wasm/);
  const queue = await runServerScript([
    "--encoder",
    fixture("DI8x8", "encoder"),
    "--max-queue",
    "0",
  ]);
  assert.equal(queue.code, 2);
  assert.match(queue.stderr, /--max-queue must be a whole number >= 1/);
  const missing = await runServerScript([
    "--encoder",
    "no/such/encoder.safetensors",
    "--backend",
    "wasm",
  ]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /no\/such\/encoder.safetensors/);
});
