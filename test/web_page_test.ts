/**
 * The web page (examples/web, `deno task web`) in a real headless Chromium, driven through the
 * DevTools Protocol: an image is uploaded through the page's file input, and the PSNR the page
 * shows must be the library's for the same image (computed here on the wasm backend). Skipped,
 * with a note, where Chromium is not installed (.ci/run installs Debian's package).
 */

import assert from "node:assert/strict";
import { loadTokenizer } from "../mod.ts";
import { decodeImage, encodeImage, type RgbImage } from "../src/media/image.ts";
import { cropImage, padImage } from "../src/media/pad.ts";
import { framesToTensor, tensorToFrames } from "../src/media/tensor.ts";
import { QualityMeter } from "../src/media/metrics.ts";
import { serveWebPage } from "../examples/web/serve.ts";
import { findChromium, gpuAdapter, launchChromium, type Page } from "./cdp.ts";
import { FIXTURES, HAS_FFMPEG } from "./helpers.ts";

const CHROMIUM = findChromium();
if (!CHROMIUM) console.log("note: chromium is not installed; the web page tests are skipped");
const BROWSER_TEST = { ignore: !CHROMIUM, sanitizeResources: false, sanitizeOps: false };

/** A 52x36 picture (not a multiple of 8, so the page pads and crops as the CLI does). */
function testImage(): RgbImage {
  const width = 52, height = 36;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 5) % 256;
      data[o + 1] = (y * 7) % 256;
      data[o + 2] = (x - 26) ** 2 + (y - 18) ** 2 < 120 ? 230 : 40;
    }
  }
  return { width, height, data };
}

/** The library's PSNR and SSIM for `png` through the fixture `variant` on the wasm backend. */
function libraryQuality(png: Uint8Array, variant: string) {
  return libraryFramesQuality([decodeImage(png, "test.png")], variant);
}

/** The same for frames (one image, or a clip for a video model), padded and cropped as the page does. */
async function libraryFramesQuality(frames: RgbImage[], variant: string) {
  const dir = new URL(`${variant}/`, FIXTURES);
  const tok = await loadTokenizer({
    encoder: new URL("encoder.safetensors", dir),
    decoder: new URL("decoder.safetensors", dir),
    backend: "wasm",
  });
  try {
    const padded = frames.map((f) => padImage(f, tok.spatialCompression));
    const enc = await tok.encode(framesToTensor(padded.map((p) => p.image), tok.kind === "video"));
    const recs = tensorToFrames(await tok.decode(enc.latent ?? enc.indices!));
    assert.equal(recs.length, frames.length, "the library decoded as many frames as it took");
    const meter = new QualityMeter();
    padded.forEach(({ image, crop }, i) => {
      const original = cropImage(image, crop), rec = cropImage(recs[i], crop);
      meter.add(original.data, rec.data, original.width, original.height);
    });
    return meter.result();
  } finally {
    await tok.dispose();
  }
}

interface Shown {
  state: string;
  psnr: string;
  psnrValue: number;
  ssim: string;
  backend: string;
  error: string;
  tokens: string;
  model: string;
}

/** Uploads `file` and waits for the page to finish; returns what the page shows. */
async function upload(page: Page, file: string): Promise<Shown> {
  await page.waitFor(`document.getElementById("status").dataset.state === "idle"`, 30_000);
  await page.setFiles("#file", [file]);
  await page.waitFor(
    `["done", "error"].includes(document.getElementById("status").dataset.state)`,
    120_000,
  );
  return await page.eval<Shown>(`(() => {
    const $ = (id) => document.getElementById(id);
    return {
      state: $("status").dataset.state,
      psnr: $("psnr").textContent,
      psnrValue: Number($("psnr").dataset.value),
      ssim: $("ssim").textContent,
      backend: $("backend-used").textContent,
      error: $("error").textContent,
      tokens: $("tokens-caption").textContent,
      model: $("model").textContent,
    };
  })()`);
}

async function withPage(
  fn: (page: Page, base: string, file: string) => Promise<void>,
): Promise<void> {
  const server = serveWebPage({ checkpoints: FIXTURES });
  const scratch = await Deno.makeTempDir({ prefix: "cosmos-web-" });
  const file = `${scratch}/test.png`;
  await Deno.writeFile(file, encodeImage(testImage(), "png"));
  const browser = await launchChromium(CHROMIUM!, "about:blank");
  try {
    await fn(browser.page, server.url, file);
  } finally {
    await browser.close();
    await server.close();
    await Deno.remove(scratch, { recursive: true });
  }
}

for (const variant of ["CI8x8", "DI8x8"]) {
  Deno.test({
    name: `web page: an uploaded image through ${variant} on wasm shows the library's PSNR`,
    ...BROWSER_TEST,
    fn: () =>
      withPage(async (page, base, file) => {
        await page.navigate(`${base}?checkpoint=${variant}&backend=wasm`);
        const shown = await upload(page, file);
        assert.equal(
          shown.state,
          "done",
          `the page failed: ${shown.error}\n${page.log.join("\n")}`,
        );
        const expected = await libraryQuality(await Deno.readFile(file), variant);
        assert.equal(shown.psnr, `${expected.psnr.toFixed(4)} dB`);
        assert.ok(Math.abs(shown.psnrValue - expected.psnr) < 1e-9, `${shown.psnrValue}`);
        assert.equal(shown.ssim, expected.ssim.toFixed(4));
        // Served with COOP/COEP and run in a worker, the wasm backend gets its threads.
        assert.ok(await page.eval<boolean>("crossOriginIsolated"), "the page is isolated");
        const cores = await page.eval<number>("navigator.hardwareConcurrency");
        assert.match(shown.backend, cores > 1 ? /^wasm \(.*, \d+ threads\)$/ : /^wasm /);
        assert.match(shown.tokens, variant.startsWith("D") ? /^token indices/ : /^latent/);
        const shot = `/tmp/cosmos-web-page-${variant}-wasm.png`;
        await Deno.writeFile(shot, await page.screenshot());
        console.log(`screenshot: ${shot}`);
      }),
  });
}

Deno.test({
  name: "web page: a model by name comes from the hub once, then from the browser's Cache API",
  ...BROWSER_TEST,
  fn: async () => {
    // A hub on 127.0.0.1 holding DI8x8's fixture as acme/tiny-di8x8, with CORS for the page.
    const seen: string[] = [];
    const hub = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, async (req) => {
      const path = new URL(req.url).pathname;
      seen.push(path);
      const cors = { "access-control-allow-origin": "*" };
      const m = /^\/acme\/tiny-di8x8\/resolve\/main\/((en|de)coder\.safetensors)$/.exec(path);
      if (!m) return new Response("not found", { status: 404, headers: cors });
      return new Response(await Deno.readFile(new URL(`DI8x8/${m[1]}`, FIXTURES)), {
        headers: cors,
      });
    });
    const endpoint = `http://127.0.0.1:${hub.addr.port}`;
    try {
      await withPage(async (page, base, file) => {
        const url = `${base}?hub=acme/tiny-di8x8&endpoint=${encodeURIComponent(endpoint)}` +
          "&backend=wasm";
        await page.navigate(url);
        const first = await upload(page, file);
        assert.equal(
          first.state,
          "done",
          `the page failed: ${first.error}\n${page.log.join("\n")}`,
        );
        const expected = await libraryQuality(await Deno.readFile(file), "DI8x8");
        assert.equal(first.psnr, `${expected.psnr.toFixed(4)} dB`);
        // encoder.jit and decoder.jit (404), then both .safetensors.
        assert.equal(seen.length, 4, seen.join(", "));
        // A fresh page (a new worker) finds both halves in the Cache API.
        await page.navigate(`${url}&again=1`);
        const second = await upload(page, file);
        assert.equal(second.state, "done", second.error);
        assert.equal(second.psnr, first.psnr);
        assert.equal(seen.length, 4, `the second load asked the hub: ${seen.join(", ")}`);
      });
    } finally {
      await hub.shutdown();
    }
  },
});

Deno.test({
  name: "web page: on WebGPU, where headless Chromium offers an adapter, the PSNR is the library's",
  ...BROWSER_TEST,
  fn: () =>
    withPage(async (page, base, file) => {
      await page.navigate(`${base}?checkpoint=CI8x8&backend=webgpu`);
      const adapter = await gpuAdapter(page);
      if (!adapter) {
        console.log("note: this headless Chromium offers no WebGPU adapter; wasm was tested");
        return;
      }
      const shown = await upload(page, file);
      assert.equal(shown.state, "done", `the page failed: ${shown.error}\n${page.log.join("\n")}`);
      assert.match(shown.backend, /^webgpu/);
      // Another implementation of the same arithmetic: equal to a hundredth of a dB.
      const expected = await libraryQuality(await Deno.readFile(file), "CI8x8");
      assert.ok(
        Math.abs(shown.psnrValue - expected.psnr) < 0.01,
        `${shown.psnrValue} vs ${expected.psnr}`,
      );
      const shot = "/tmp/cosmos-web-page-CI8x8-webgpu.png";
      await Deno.writeFile(shot, await page.screenshot());
      console.log(`WebGPU adapter: ${adapter}; screenshot: ${shot}`);
    }),
});

// ffmpeg makes the clip and decodes it for the comparison.
const FFMPEG = HAS_FFMPEG;
if (!FFMPEG) console.log("note: ffmpeg is not installed; the web page's clip test is skipped");

async function ffmpeg(args: string[]): Promise<Uint8Array> {
  const out = await new Deno.Command("ffmpeg", {
    args: ["-hide_banner", "-loglevel", "error", ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, `ffmpeg ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
  return out.stdout;
}

/** Mean absolute difference of two RGB frames. */
function meanAbs(a: Uint8Array, b: Uint8Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i] - b[i]);
  return sum / a.length;
}

Deno.test({
  name: "web page: an uploaded 9-frame WebM (VP9) clip through CV4x8x8 on wasm shows the " +
    "library's PSNR for the frames the page took, which are ffmpeg's frames in order",
  ...BROWSER_TEST,
  ignore: !CHROMIUM || !FFMPEG,
  fn: () =>
    withPage(async (page, base, file) => {
      // 32x32 at 24 fps, 9 frames (1 + 2 x the model's 4): every frame differs from the others
      // (red slides and blue steps with the frame number N), so a frame taken twice or out of
      // order shows. VP9 in WebM: Debian's chromium has no proprietary codecs (H.264).
      const clip = file.replace(/test\.png$/, "clip.webm");
      const width = 32, height = 32, count = 9;
      const source = `nullsrc=s=${width}x${height}:r=24,format=gbrp,` +
        "geq=r='mod(X*8+N*24\\,256)':g='Y*7':b='mod(128+N*28\\,256)'";
      await ffmpeg(["-f", "lavfi", "-i", source, "-frames:v", `${count}`, "-c:v", "libvpx-vp9"]
        .concat(["-crf", "10", "-b:v", "0", "-pix_fmt", "yuv420p", "-y", clip]));
      const raw = await ffmpeg(["-i", clip, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]);
      const size = width * height * 3;
      assert.equal(raw.length, size * count, "ffmpeg decoded the clip's 9 frames");
      const decoded = Array.from(
        { length: count },
        (_, i) => raw.subarray(i * size, (i + 1) * size),
      );

      await page.navigate(`${base}?checkpoint=CV4x8x8&backend=wasm`);
      const shown = await upload(page, clip);
      assert.equal(shown.state, "done", `the page failed: ${shown.error}\n${page.log.join("\n")}`);
      assert.match(shown.model, /\(video, 9 frames\)$/);
      assert.match(shown.tokens, /^latent channels \[1, \d+, 3, 4, 4\], first latent frame$/);

      // The frames the page took, as it exposes them, RGBA to RGB.
      const taken = await page.eval<{ width: number; height: number; data: number[] }[]>(
        "cosmosFramesUsed.map((f) => ({ width: f.width, height: f.height, data: Array.from(f.data) }))",
      );
      assert.equal(taken.length, count);
      const frames: RgbImage[] = taken.map((f) => {
        assert.deepEqual([f.width, f.height], [width, height]);
        const data = new Uint8Array(size);
        for (let p = 0; p < width * height; p++) data.set(f.data.slice(p * 4, p * 4 + 3), p * 3);
        return { width, height, data };
      });
      // Chromium's YUV to RGB is not ffmpeg's to the level, but frame i is nearest ffmpeg's i.
      frames.forEach((f, i) => {
        const d = decoded.map((g) => meanAbs(f.data, g));
        const nearest = d.indexOf(Math.min(...d));
        assert.equal(nearest, i, `page frame ${i} is ffmpeg's frame ${nearest} (${d.join(", ")})`);
        assert.ok(d[i] < 4, `page frame ${i} is ${d[i]} levels from ffmpeg's on average`);
      });

      const expected = await libraryFramesQuality(frames, "CV4x8x8");
      assert.equal(expected.frames, count);
      assert.equal(shown.psnr, `${expected.psnr.toFixed(4)} dB`);
      assert.ok(Math.abs(shown.psnrValue - expected.psnr) < 1e-9, `${shown.psnrValue}`);
      assert.equal(shown.ssim, expected.ssim.toFixed(4));
      const shot = "/tmp/cosmos-web-page-CV4x8x8-clip-wasm.png";
      await Deno.writeFile(shot, await page.screenshot());
      console.log(`screenshot: ${shot}`);
    }),
});
