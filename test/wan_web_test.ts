/**
 * The web page (examples/web) with the Wan VAEs by hub repo id, in a real headless Chromium: the
 * page's worker fetches `Wan2.1_VAE.pth` (or Wan2.2's `Wan2.2_VAE.pth`) once from a hub on
 * 127.0.0.1 (with CORS), runs an uploaded image through it as a one-frame clip, or an uploaded
 * WebM clip as a clip, and shows the PSNR the library gets for the same frames (on WebGPU, where
 * Chromium offers an adapter, draws its reconstruction too). Skipped where Chromium (for the
 * clips, ffmpeg) is not installed.
 */

import assert from "node:assert/strict";
import { loadTokenizer } from "../mod.ts";
import { encodeImage, type RgbImage } from "../src/media/image.ts";
import { cropImage, padImage } from "../src/media/pad.ts";
import { framesToTensor, tensorToFrames } from "../src/media/tensor.ts";
import { QualityMeter } from "../src/media/metrics.ts";
import { serveWebPage } from "../examples/web/serve.ts";
import { findChromium, gpuAdapter, launchChromium, type Page } from "./cdp.ts";
import { FIXTURES, HAS_FFMPEG } from "./helpers.ts";

const CHROMIUM = findChromium();

/** A Wan version as its hub repo serves it: the fixture's weights under Wan's own file name. */
interface WanRepo {
  version: string;
  repo: string;
  file: string;
  pth: URL;
  /** What the page shows as the model. */
  model: RegExp;
}

const REPOS: WanRepo[] = [{
  version: "Wan2.1",
  repo: "Wan-AI/Wan2.1-T2V-1.3B",
  file: "Wan2.1_VAE.pth",
  pth: new URL("wan/weights.pth", FIXTURES),
  model: /^Wan VAE \(base width 8, 16 latent channels, 4x8x8\) \(video, 1 frame\)/,
}, {
  // 48 latent channels, 16x16 with its 2x2 patch: the picture is padded to a multiple of 16.
  version: "Wan2.2",
  repo: "Wan-AI/Wan2.2-TI2V-5B",
  file: "Wan2.2_VAE.pth",
  pth: new URL("wan22/weights.pth", FIXTURES),
  model: /^Wan VAE \(base width 8, 48 latent channels, 4x16x16\) \(video, 1 frame\)/,
}];

/** A 40x24 picture: gradients and a disc. */
function picture(): RgbImage {
  const width = 40, height = 24, data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      data[o] = (x * 6) % 256;
      data[o + 1] = (y * 9) % 256;
      data[o + 2] = (x - 20) ** 2 + (y - 12) ** 2 < 60 ? 220 : 30;
    }
  }
  return { width, height, data };
}

/**
 * The library's PSNR for `frames` (one image: a one-frame clip) through the fixture's VAE on
 * wasm, and its reconstruction of the first frame (RGB, cropped as the page crops).
 */
async function libraryRun(
  pth: URL,
  frames: RgbImage[],
): Promise<{ psnr: number; first: RgbImage }> {
  const tok = await loadTokenizer({ encoder: pth, decoder: pth, backend: "wasm" });
  try {
    const padded = frames.map((f) => padImage(f, tok.spatialCompression));
    const { latent } = await tok.encode(framesToTensor(padded.map((p) => p.image), true));
    const recs = tensorToFrames(await tok.decode(latent!));
    assert.equal(recs.length, frames.length, "the library decoded as many frames as it took");
    const meter = new QualityMeter();
    const cropped = padded.map(({ image, crop }, i) => {
      const a = cropImage(image, crop), b = cropImage(recs[i], crop);
      meter.add(a.data, b.data, a.width, a.height);
      return b;
    });
    return { psnr: meter.result().psnr, first: cropped[0] };
  } finally {
    await tok.dispose();
  }
}

/** The library's PSNR for `frames` (see libraryRun). */
async function libraryPsnr(pth: URL, frames: RgbImage[]): Promise<number> {
  return (await libraryRun(pth, frames)).psnr;
}

/** What the page shows once it is done (or failed). */
interface Shown {
  state: string;
  error: string;
  model: string;
  tokens: string;
  backend: string;
  psnr: number;
}

/**
 * The page on a hub on 127.0.0.1 that serves `wan`'s VAE file alone (the half files 404):
 * `upload(file)` puts a file in the page's input and returns what it shows; `seen` lists the
 * hub's request paths.
 */
async function withWanPage(
  wan: WanRepo,
  backend: "wasm" | "webgpu",
  fn: (
    upload: (file: string) => Promise<Shown>,
    page: Page,
    scratch: string,
    seen: string[],
  ) => Promise<void>,
): Promise<void> {
  const seen: string[] = [];
  const pth = await Deno.readFile(wan.pth);
  const hub = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const path = new URL(req.url).pathname;
    seen.push(path);
    const cors = { "access-control-allow-origin": "*" };
    if (path !== `/${wan.repo}/resolve/main/${wan.file}`) {
      return new Response("not found", { status: 404, headers: cors });
    }
    return new Response(pth, { headers: cors });
  });
  const server = serveWebPage({ checkpoints: FIXTURES });
  const scratch = await Deno.makeTempDir({ prefix: "cosmos-wan-web-" });
  const browser = await launchChromium(CHROMIUM!, "about:blank");
  const page = browser.page;
  const upload = async (file: string): Promise<Shown> => {
    await page.waitFor(`document.getElementById("status").dataset.state === "idle"`, 30_000);
    await page.setFiles("#file", [file]);
    await page.waitFor(
      `["done", "error"].includes(document.getElementById("status").dataset.state)`,
      120_000,
    );
    const shown = await page.eval<Shown>(`(() => {
      const $ = (id) => document.getElementById(id);
      return { state: $("status").dataset.state, error: $("error").textContent,
        model: $("model").textContent, tokens: $("tokens-caption").textContent,
        backend: $("backend-used").textContent, psnr: Number($("psnr").dataset.value) };
    })()`);
    assert.equal(shown.state, "done", `the page failed: ${shown.error}\n${page.log.join("\n")}`);
    return shown;
  };
  try {
    const endpoint = encodeURIComponent(`http://127.0.0.1:${hub.addr.port}`);
    await page.navigate(`${server.url}?hub=${wan.repo}&endpoint=${endpoint}&backend=${backend}`);
    await fn(upload, page, scratch, seen);
  } finally {
    await browser.close();
    await server.close();
    await hub.shutdown();
    await Deno.remove(scratch, { recursive: true });
  }
}

const BROWSER_TEST = { ignore: !CHROMIUM, sanitizeResources: false, sanitizeOps: false };

for (const wan of REPOS) {
  Deno.test({
    name: `web page: the ${wan.version} VAE by hub repo id, fetched once, gives the library's PSNR`,
    ...BROWSER_TEST,
    fn: () =>
      withWanPage(wan, "wasm", async (upload, _page, scratch, seen) => {
        const file = `${scratch}/picture.png`;
        await Deno.writeFile(file, encodeImage(picture(), "png"));
        const shown = await upload(file);
        assert.match(shown.model, wan.model);
        const want = await libraryPsnr(wan.pth, [picture()]);
        assert.ok(Math.abs(shown.psnr - want) < 1e-9, `${shown.psnr} vs ${want}`);
        // The half files (404), then the one VAE file for both halves.
        assert.equal(seen.filter((p) => p.endsWith(`/${wan.file}`)).length, 1, seen.join(", "));
      }),
  });

  Deno.test({
    name: `web page: a 9-frame WebM clip through the ${wan.version} VAE by hub repo id gives the ` +
      "library's PSNR for the frames the page took",
    ...BROWSER_TEST,
    ignore: !CHROMIUM || !HAS_FFMPEG,
    fn: () =>
      withWanPage(wan, "wasm", async (upload, page, scratch) => {
        // 32x32 (a multiple of both versions' 8 and 16), 9 frames: 1 + 2 x 4, three latent
        // frames; every frame differs, VP9 (Debian's chromium has no H.264).
        const clip = `${scratch}/clip.webm`;
        const source = "nullsrc=s=32x32:r=24,format=gbrp," +
          "geq=r='mod(X*8+N*24\\,256)':g='Y*7':b='mod(128+N*28\\,256)'";
        const out = await new Deno.Command("ffmpeg", {
          args: ["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", source]
            .concat(["-frames:v", "9", "-c:v", "libvpx-vp9", "-crf", "10", "-b:v", "0"])
            .concat(["-pix_fmt", "yuv420p", "-y", clip]),
          stderr: "piped",
        }).output();
        assert.ok(out.success, new TextDecoder().decode(out.stderr));
        const shown = await upload(clip);
        assert.match(shown.model, new RegExp(wan.model.source.replace("1 frame", "9 frames")));
        const z = wan.version === "Wan2.1" ? "16, 3, 4, 4" : "48, 3, 2, 2";
        assert.equal(shown.tokens, `latent channels [1, ${z}], first latent frame`);
        // The frames the page took (RGBA), through the library.
        const taken = await page.eval<{ width: number; height: number; data: number[] }[]>(
          "cosmosFramesUsed.map((f) => ({ width: f.width, height: f.height, data: Array.from(f.data) }))",
        );
        assert.equal(taken.length, 9);
        const frames = taken.map(({ width, height, data }) => {
          const rgb = new Uint8Array(width * height * 3);
          for (let p = 0; p < width * height; p++) rgb.set(data.slice(p * 4, p * 4 + 3), p * 3);
          return { width, height, data: rgb };
        });
        const want = await libraryPsnr(wan.pth, frames);
        assert.ok(Math.abs(shown.psnr - want) < 1e-9, `${shown.psnr} vs ${want}`);
      }),
  });

  Deno.test({
    name: `web page: the ${wan.version} VAE by hub repo id on WebGPU, where headless Chromium ` +
      "offers an adapter, draws the library's reconstruction and PSNR",
    ...BROWSER_TEST,
    fn: () =>
      withWanPage(wan, "webgpu", async (upload, page, scratch) => {
        const adapter = await gpuAdapter(page);
        if (!adapter) {
          console.log("note: this headless Chromium offers no WebGPU adapter; wasm was tested");
          return;
        }
        const file = `${scratch}/picture.png`;
        await Deno.writeFile(file, encodeImage(picture(), "png"));
        const shown = await upload(file);
        assert.match(shown.backend, /^webgpu/);
        assert.match(shown.model, wan.model);
        // Another implementation of the same arithmetic: the reconstruction the page draws is
        // the library's on wasm to a level (float sums in another order may round a value
        // the other way), in at most 1% of its values; the PSNR to a hundredth of a dB.
        const want = await libraryRun(wan.pth, [picture()]);
        const drawn = await page.eval<number[]>(`(() => {
          const c = document.getElementById("reconstruction");
          return Array.from(c.getContext("2d").getImageData(0, 0, c.width, c.height).data);
        })()`);
        const { width, height, data } = want.first;
        assert.equal(drawn.length, width * height * 4, "the page drew the frame at its size");
        let off = 0, worst = 0;
        for (let p = 0; p < width * height; p++) {
          for (let c = 0; c < 3; c++) {
            const d = Math.abs(drawn[p * 4 + c] - data[p * 3 + c]);
            worst = Math.max(worst, d);
            if (d) off++;
          }
        }
        assert.ok(
          worst <= 1 && off <= 0.01 * data.length,
          `${off} values off, by ${worst} at most`,
        );
        assert.ok(Math.abs(shown.psnr - want.psnr) < 0.01, `${shown.psnr} vs ${want.psnr}`);
        console.log(`WebGPU adapter: ${adapter}; ${off} of ${data.length} values off by 1`);
      }),
  });
}
