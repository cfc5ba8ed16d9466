/**
 * The tokenization server with a Wan VAE (the fixture's .pth) on 127.0.0.1: a video uploaded
 * through ffmpeg comes back as the encoder's latent, the same values as encoding the frames
 * directly; an image is taken too, as a one-frame clip.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { assertClose, FIXTURES, HAS_FFMPEG, wasmOps } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { createTokenizeHandler } from "../src/server/tokenize.ts";
import { encodeImage } from "../src/media/image.ts";

const PTH = new URL("wan/weights.pth", FIXTURES).pathname;

Deno.test({
  name: "server: a video through a Wan VAE gives its latent; an image is a one-frame clip",
  ignore: !HAS_FFMPEG,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const tok = await loadTokenizer({ encoder: PTH, ops: await wasmOps() });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createTokenizeHandler(tok, { maxFrames: 9, maxSide: 64 }),
    );
    const url = `http://127.0.0.1:${server.addr.port}/tokenize`;
    const post = async (body: BodyInit) => {
      const res = await fetch(url, { method: "POST", body });
      return { status: res.status, json: await res.json() };
    };
    try {
      const made = await new Deno.Command("ffmpeg", {
        args: ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=8"]
          .concat(["-frames:v", "5", "-pix_fmt", "rgb24", "-f", "rawvideo", `${dir}/raw`]),
      }).output();
      assert.equal(made.code, 0);
      const encoded = await new Deno.Command("ffmpeg", {
        args: ["-v", "error", "-y", "-f", "rawvideo", "-pix_fmt", "rgb24", "-s", "32x32"]
          .concat(["-r", "8", "-i", `${dir}/raw`, "-c:v", "ffv1", `${dir}/clip.mkv`]),
      }).output();
      assert.equal(encoded.code, 0);
      const r = await post(await Deno.readFile(`${dir}/clip.mkv`));
      assert.equal(r.status, 200, JSON.stringify(r.json));
      assert.equal(r.json.model, "Wan VAE (base width 8, 16 latent channels, 4x8x8)");
      assert.deepEqual(r.json.input, { width: 32, height: 32, frames: 5 });
      assert.deepEqual(r.json.tokens.shape, [1, 16, 2, 4, 4]);
      const bytes = Buffer.from(r.json.tokens.data, "base64");
      const got = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.length / 4);
      // The same frames (ffv1 is lossless) encoded directly.
      const rgb = await Deno.readFile(`${dir}/raw`);
      const pixels = new Float32Array(3 * 5 * 32 * 32);
      for (let t = 0; t < 5; t++) {
        for (let p = 0; p < 32 * 32; p++) {
          for (let c = 0; c < 3; c++) {
            pixels[(c * 5 + t) * 1024 + p] = rgb[(t * 1024 + p) * 3 + c] / 127.5 - 1;
          }
        }
      }
      const { latent } = await tok.encode({ data: pixels, shape: [1, 3, 5, 32, 32] });
      assertClose(got, latent!.data, 1e-6, "served latent");
      // An image is a one-frame clip (wan_server_image_test.ts has the values).
      const img = await post(
        encodeImage({ width: 16, height: 16, data: new Uint8Array(768) }, "png"),
      );
      assert.equal(img.status, 200, JSON.stringify(img.json));
      assert.equal(img.json.kind, "image");
      assert.deepEqual(img.json.tokens.shape, [1, 16, 2, 2]);
    } finally {
      await server.shutdown();
      await tok.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
