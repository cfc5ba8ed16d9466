/**
 * examples/server.ts as users run it (a subprocess on 127.0.0.1, the tokenizer in its Web
 * Worker) with the Wan2.2 fixture: an image is a one-frame clip, /tokenize answers the latent of
 * it without the time axis ([1, 48, h, w]), the same values as the tokenizer's whole-clip
 * T = 1 encode here, and /decode turns it back into the same PNG as decoding it here.
 */

import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { randomArray, wasmOps } from "./helpers.ts";
import { startServer } from "./server_process.ts";
import { loadTokenizer } from "../mod.ts";
import { decodeImage, encodeImage } from "../src/media/image.ts";
import { framesToTensor, tensorToFrames } from "../src/media/tensor.ts";

const PTH = "test/fixtures/wan22/weights.pth";

Deno.test({
  name: "server subprocess: a PNG through Wan2.2 as a one-frame clip, to tokens and back",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const path = new URL(`../${PTH}`, import.meta.url).pathname;
    const tok = await loadTokenizer({ encoder: path, decoder: path, ops: await wasmOps() });
    const srv = await startServer([
      "--encoder",
      PTH,
      "--decoder",
      PTH,
      "--backend",
      "wasm",
      "--threads",
      "1",
    ]);
    try {
      // 32x48: a multiple of 16, so nothing is padded.
      const r = randomArray(48 * 32 * 3, 31, 0, 256);
      const img = { width: 48, height: 32, data: Uint8Array.from(r, (v) => Math.floor(v)) };
      const still = framesToTensor([img], false);
      const { latent } = await tok.encode({ data: still.data, shape: [1, 3, 1, 32, 48] });
      const want = tensorToFrames(await tok.decode(latent!))[0];
      const res = await fetch(`${srv.url}/tokenize`, {
        method: "POST",
        body: encodeImage(img, "png"),
      });
      const answer = await res.json();
      assert.equal(res.status, 200, JSON.stringify(answer));
      assert.equal(answer.kind, "image");
      assert.deepEqual(answer.tokens.shape, [1, 48, 2, 3]);
      const bytes = new Uint8Array(Buffer.from(answer.tokens.data, "base64"));
      assert.deepEqual(new Float32Array(bytes.buffer), latent!.data);
      const png = await fetch(`${srv.url}/decode`, {
        method: "POST",
        body: JSON.stringify(answer),
      });
      assert.equal(png.status, 200);
      const back = decodeImage(new Uint8Array(await png.arrayBuffer()), "decoded");
      assert.deepEqual(back.data, want.data);
    } finally {
      await srv.stop();
      await tok.dispose();
    }
  },
});
