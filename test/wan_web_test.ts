/**
 * The web page (examples/web) with the Wan VAEs by hub repo id, in a real headless Chromium: the
 * page's worker fetches `Wan2.1_VAE.pth` (or Wan2.2's `Wan2.2_VAE.pth`) once from a hub on
 * 127.0.0.1 (with CORS), runs an uploaded image through it as a one-frame clip, and shows the
 * PSNR the library gets for the same image. Skipped where Chromium is not installed.
 */

import assert from "node:assert/strict";
import { loadTokenizer } from "../mod.ts";
import { encodeImage, type RgbImage } from "../src/media/image.ts";
import { cropImage, padImage } from "../src/media/pad.ts";
import { framesToTensor, tensorToFrames } from "../src/media/tensor.ts";
import { QualityMeter } from "../src/media/metrics.ts";
import { serveWebPage } from "../examples/web/serve.ts";
import { findChromium, launchChromium } from "./cdp.ts";
import { FIXTURES } from "./helpers.ts";

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

/** The library's PSNR for `image` as a one-frame clip through the fixture's Wan VAE. */
async function libraryPsnr(pth: URL, image: RgbImage): Promise<number> {
  const tok = await loadTokenizer({ encoder: pth, decoder: pth, backend: "wasm" });
  try {
    const { image: padded, crop } = padImage(image, tok.spatialCompression);
    const { latent } = await tok.encode(framesToTensor([padded], true));
    const [rec] = tensorToFrames(await tok.decode(latent!));
    const meter = new QualityMeter();
    const a = cropImage(padded, crop), b = cropImage(rec, crop);
    meter.add(a.data, b.data, a.width, a.height);
    return meter.result().psnr;
  } finally {
    await tok.dispose();
  }
}

for (const wan of REPOS) {
  Deno.test({
    name: `web page: the ${wan.version} VAE by hub repo id, fetched once, gives the library's PSNR`,
    ignore: !CHROMIUM,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
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
      const file = `${scratch}/picture.png`;
      await Deno.writeFile(file, encodeImage(picture(), "png"));
      const browser = await launchChromium(CHROMIUM!, "about:blank");
      try {
        const page = browser.page;
        const endpoint = encodeURIComponent(`http://127.0.0.1:${hub.addr.port}`);
        await page.navigate(
          `${server.url}?hub=${wan.repo}&endpoint=${endpoint}&backend=wasm`,
        );
        await page.waitFor(`document.getElementById("status").dataset.state === "idle"`, 30_000);
        await page.setFiles("#file", [file]);
        await page.waitFor(
          `["done", "error"].includes(document.getElementById("status").dataset.state)`,
          120_000,
        );
        const shown = await page.eval<
          { state: string; error: string; model: string; psnr: number }
        >(
          `(() => {
          const $ = (id) => document.getElementById(id);
          return { state: $("status").dataset.state, error: $("error").textContent,
            model: $("model").textContent, psnr: Number($("psnr").dataset.value) };
        })()`,
        );
        assert.equal(
          shown.state,
          "done",
          `the page failed: ${shown.error}\n${page.log.join("\n")}`,
        );
        assert.match(shown.model, wan.model);
        assert.ok(
          Math.abs(shown.psnr - await libraryPsnr(wan.pth, picture())) < 1e-9,
          `${shown.psnr}`,
        );
        // The half files (404), then the one VAE file for both halves.
        assert.equal(seen.filter((p) => p.endsWith(`/${wan.file}`)).length, 1, seen.join(", "));
      } finally {
        await browser.close();
        await server.close();
        await hub.shutdown();
        await Deno.remove(scratch, { recursive: true });
      }
    },
  });
}
