/**
 * The tokenization server with a Wan VAE (the fixture's .pth, encoder and decoder, on
 * WebAssembly) on 127.0.0.1, for images: /tokenize answers an image's tokens (the latent of
 * its one-frame clip, without the time axis), /decode turns them back into a PNG or JPEG, each
 * the same values as the tokenizer's whole-clip T = 1 result; video tokens still decode to a
 * video; and the refusals of what fits neither.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { FIXTURES, HAS_FFMPEG, randomArray, wasmOps } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { createTokenizeHandler } from "../src/server/tokenize.ts";
import { decodeImage, encodeImage } from "../src/media/image.ts";
import { cropImage, padImage } from "../src/media/pad.ts";
import { framesToTensor, tensorToFrames } from "../src/media/tensor.ts";

const PTH = new URL("wan/weights.pth", FIXTURES).pathname;

Deno.test({
  name: "server: an image through a Wan VAE is a one-frame clip, to tokens and back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tok = await loadTokenizer({ encoder: PTH, decoder: PTH, ops: await wasmOps() });
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      createTokenizeHandler(tok, { maxFrames: 9, maxSide: 64 }),
    );
    const base = `http://127.0.0.1:${server.addr.port}`;
    try {
      const r = randomArray(28 * 20 * 3, 23, 0, 256);
      const img = { width: 28, height: 20, data: Uint8Array.from(r, (v) => Math.floor(v)) };
      // The server pads by reflection, as here; the expected values are the whole clip's.
      const { image, crop } = padImage(img, 8, "reflect");
      const still = framesToTensor([image], false);
      const { latent } = await tok.encode({ data: still.data, shape: [1, 3, 1, 24, 32] });
      const want = cropImage(tensorToFrames(await tok.decode(latent!))[0], crop);

      const res = await fetch(`${base}/tokenize`, {
        method: "POST",
        body: encodeImage(img, "png"),
      });
      const answer = await res.json();
      assert.equal(res.status, 200, JSON.stringify(answer));
      assert.equal(answer.kind, "image");
      assert.deepEqual(answer.input, { width: 28, height: 20, frames: 1 });
      assert.deepEqual(answer.tokens.shape, [1, 16, 3, 4]);
      const bytes = Buffer.from(answer.tokens.data, "base64");
      assert.deepEqual(
        new Float32Array(new Uint8Array(bytes).buffer),
        latent!.data,
        "served latent",
      );

      const decode = (query: string, body: unknown) =>
        fetch(`${base}/decode${query}`, { method: "POST", body: JSON.stringify(body) });
      const png = await decode("", answer);
      assert.equal(png.status, 200);
      assert.equal(png.headers.get("content-type"), "image/png");
      const back = decodeImage(new Uint8Array(await png.arrayBuffer()), "decoded");
      assert.deepEqual([back.width, back.height], [28, 20]);
      assert.deepEqual(back.data, want.data);
      const jpeg = await decode("?format=jpeg", answer);
      assert.equal(jpeg.status, 200);
      assert.equal(jpeg.headers.get("content-type"), "image/jpeg");
      await jpeg.body?.cancel();

      const refused = async (query: string, body: unknown, status: number, message: RegExp) => {
        const res = await decode(query, body);
        const j = await res.json();
        assert.equal(res.status, status, JSON.stringify(j));
        assert.match(j.error, message);
      };
      await refused(
        "?format=mp4",
        answer,
        400,
        /Unknown format "mp4": an image decodes to png, jpeg/,
      );
      await refused(
        "",
        { tokens: { ...answer.tokens, shape: [1, 16, 12] } },
        422,
        /tokens\.shape must be \[1, 16, t, h, w\] \(a video\) or \[1, 16, h, w\] \(an image\)/,
      );
      await refused(
        "",
        { tokens: { ...answer.tokens, shape: [1, 8, 6, 4] } },
        422,
        /tokens\.shape \[1, 8, 6, 4\] is not \[1, 16, t, h, w\] \(a video\) or \[1, 16, h, w\] \(an image\)/,
      );

      // Video tokens (5-D) still decode to a video.
      if (HAS_FFMPEG) {
        const clip = new Float32Array(16 * 2 * 16).map((_, i) => Math.sin(i));
        const video = await decode("", {
          tokens: {
            name: "latent",
            dtype: "float32",
            shape: [1, 16, 2, 4, 4],
            data: Buffer.from(clip.buffer).toString("base64"),
          },
        });
        assert.equal(video.status, 200);
        assert.equal(video.headers.get("content-type"), "video/mp4");
        await video.body?.cancel();
        await refused(
          "?format=png",
          {
            tokens: {
              name: "latent",
              dtype: "float32",
              shape: [1, 16, 2, 4, 4],
              data: Buffer.from(clip.buffer).toString("base64"),
            },
          },
          400,
          /Unknown format "png": a video decodes to mp4, webm, gif/,
        );
      }
    } finally {
      await server.shutdown();
      await tok.dispose();
    }
  },
});
