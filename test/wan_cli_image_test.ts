/**
 * Images through the cosmos CLI with a Wan VAE (a subprocess, the fixture's .pth on
 * WebAssembly): encode writes an image token file holding the latent of the one-frame clip
 * (T = 1) without its time axis, decode and autoencode write an image, each the same values as
 * the tokenizer's whole-clip result in this process; and the refusals around it.
 */

import assert from "node:assert/strict";
import { FIXTURES, randomArray, wasmOps } from "./helpers.ts";
import { decodeImage, encodeImage } from "../src/media/image.ts";
import { cropImage, padImage } from "../src/media/pad.ts";
import { framesToTensor, tensorToFrames } from "../src/media/tensor.ts";
import { readTokenFile } from "../src/cli/tokens.ts";
import { loadTokenizer } from "../mod.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const PTH = new URL("wan/weights.pth", FIXTURES).pathname;
const CI = new URL("CI8x8/decoder.safetensors", FIXTURES).pathname;
const CI_ENCODER = new URL("CI8x8/encoder.safetensors", FIXTURES).pathname;
const DV = new URL("DV4x8x8/encoder.safetensors", FIXTURES).pathname;

async function cosmos(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** A 28x20 image of random pixels: not a multiple of 8, so it is padded and cropped back. */
function picture(): { width: number; height: number; data: Uint8Array } {
  const r = randomArray(28 * 20 * 3, 19, 0, 256);
  return { width: 28, height: 20, data: Uint8Array.from(r, (v) => Math.floor(v)) };
}

Deno.test({
  name: "cosmos encode / decode / autoencode take a PNG through a Wan VAE as a one-frame clip",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir();
    const tok = await loadTokenizer({ encoder: PTH, decoder: PTH, ops: await wasmOps() });
    try {
      const img = picture();
      await Deno.writeFile(`${dir}/x.png`, encodeImage(img, "png"));
      // What the CLI must match: the padded image as a whole [1, 3, 1, H, W] clip.
      const { image, crop } = padImage(img, 8, "reflect");
      const still = framesToTensor([image], false);
      const [, , h, w] = still.shape;
      const { latent } = await tok.encode({ data: still.data, shape: [1, 3, 1, h, w] });
      assert.deepEqual(latent!.shape, [1, 16, 1, 3, 4]);
      const pixels = await tok.decode(latent!);
      const want = cropImage(tensorToFrames(pixels)[0], crop);

      const wasm = ["--backend", "wasm", "--json", "-q"];
      const enc = await cosmos([
        "encode",
        `${dir}/x.png`,
        "--encoder",
        PTH,
        "-o",
        `${dir}/x.safetensors`,
        ...wasm,
      ]);
      assert.equal(enc.code, 0, enc.stderr);
      assert.deepEqual(JSON.parse(enc.stdout).tokens, [1, 16, 3, 4]);
      const file = readTokenFile(await Deno.readFile(`${dir}/x.safetensors`), "x.safetensors");
      assert.equal(file.info.kind, "image");
      assert.equal(file.info.temporalCompression, 1);
      assert.equal(file.info.model, "Wan VAE (base width 8, 16 latent channels, 4x8x8)");
      assert.deepEqual(file.tokens.shape, [1, 16, 3, 4]);
      assert.deepEqual(file.tokens.data, latent!.data);

      const dec = await cosmos([
        "decode",
        `${dir}/x.safetensors`,
        "--decoder",
        PTH,
        "-o",
        `${dir}/y.png`,
        ...wasm,
      ]);
      assert.equal(dec.code, 0, dec.stderr);
      const decoded = decodeImage(await Deno.readFile(`${dir}/y.png`), "y.png");
      assert.deepEqual([decoded.width, decoded.height], [28, 20]);
      assert.deepEqual(decoded.data, want.data);

      const auto = await cosmos([
        "autoencode",
        `${dir}/x.png`,
        "--encoder",
        PTH,
        "--decoder",
        PTH,
        "-o",
        `${dir}/z.png`,
        ...wasm,
      ]);
      assert.equal(auto.code, 0, auto.stderr);
      const item = JSON.parse(auto.stdout);
      assert.equal(item.kind, "image");
      assert.deepEqual(item.tokens, [1, 16, 3, 4]);
      assert.ok(Number.isFinite(item.psnr), auto.stdout);
      const rec = decodeImage(await Deno.readFile(`${dir}/z.png`), "z.png");
      assert.deepEqual(rec.data, want.data);

      // A Cosmos image decoder cannot decode a Wan image's latent, nor a Cosmos video model
      // take an image; a Wan image token file does not decode to a video.
      const wrong = await cosmos([
        "decode",
        `${dir}/x.safetensors`,
        "--decoder",
        CI,
        "-o",
        `${dir}/w.png`,
        ...wasm,
      ]);
      assert.equal(wrong.code, 1);
      assert.match(
        JSON.parse(wrong.stdout).error,
        /"[^"]*x\.safetensors" holds tokens of Wan VAE \(base width 8, 16 latent channels, 4x8x8\), which Cosmos-0\.1-Tokenizer-CI8x8 cannot decode/,
      );
      const ci = await cosmos([
        "encode",
        `${dir}/x.png`,
        "--encoder",
        CI_ENCODER,
        "-o",
        `${dir}/c.safetensors`,
        ...wasm,
      ]);
      assert.equal(ci.code, 0, ci.stderr);
      const back = await cosmos([
        "decode",
        `${dir}/c.safetensors`,
        "--decoder",
        PTH,
        "-o",
        `${dir}/c.png`,
        ...wasm,
      ]);
      assert.equal(back.code, 1);
      assert.match(
        JSON.parse(back.stdout).error,
        /holds tokens of Cosmos-0\.1-Tokenizer-CI8x8, which Wan VAE \(base width 8, 16 latent channels, 4x8x8\) cannot decode/,
      );
      const video = await cosmos([
        "encode",
        `${dir}/x.png`,
        "--encoder",
        DV,
        "-o",
        `${dir}/v.safetensors`,
        ...wasm,
      ]);
      assert.equal(video.code, 1);
      assert.match(
        JSON.parse(video.stdout).error,
        /is an image but Cosmos-0\.1-Tokenizer-DV4x8x8 is a video tokenizer; use an image model \(CI\/DI\) or a Wan VAE/,
      );
    } finally {
      await tok.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name:
    "cosmos autoencode takes a PNG through the Wan2.2 VAE (16x16, 48 channels) as a one-frame clip",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const pth = new URL("wan22/weights.pth", FIXTURES).pathname;
    const dir = await Deno.makeTempDir();
    const tok = await loadTokenizer({ encoder: pth, decoder: pth, ops: await wasmOps() });
    try {
      // 28x20 pads to 32x32 at Wan2.2's 16.
      const img = picture();
      await Deno.writeFile(`${dir}/x.png`, encodeImage(img, "png"));
      const { image, crop } = padImage(img, 16, "reflect");
      const still = framesToTensor([image], false);
      const { latent } = await tok.encode({ data: still.data, shape: [1, 3, 1, 32, 32] });
      const want = cropImage(tensorToFrames(await tok.decode(latent!))[0], crop);
      const r = await cosmos([
        "autoencode",
        `${dir}/x.png`,
        "--encoder",
        pth,
        "--decoder",
        pth,
        "-o",
        `${dir}/z.png`,
        "--backend",
        "wasm",
        "--json",
        "-q",
      ]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).tokens, [1, 48, 2, 2]);
      const rec = decodeImage(await Deno.readFile(`${dir}/z.png`), "z.png");
      assert.deepEqual([rec.width, rec.height], [28, 20]);
      assert.deepEqual(rec.data, want.data);
    } finally {
      await tok.dispose();
      await Deno.remove(dir, { recursive: true });
    }
  },
});
