/**
 * The Wan2.1 video VAE against its reference (test/fixtures/wan/, made by
 * src/testing/wan_fixtures.py: the reference's chunked encode and per-latent-frame decode on
 * seeded random weights of base width 8): the encoder's mean and the decoder's output of it
 * within 1e-4 relative (max |a - b| / max |b|), whole clip and streamed, on both backends.
 */

import assert from "node:assert/strict";
import { assertClose, BACKENDS, backendTest, FIXTURES, skipWithoutF16 } from "./helpers.ts";
import type { Backend, Tensor } from "../src/backends/ops.ts";
import { WeightReader } from "../src/weights/checkpoint.ts";
import { readCheckpoint } from "../src/weights/formats.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import { WanDecoder, WanEncoder } from "../src/models/wan/network.ts";
import { wanResample } from "../src/nn/wan_blocks.ts";
import { WasmOps } from "../src/backends/wasm/backend.ts";
import { WebGpuOps } from "../src/backends/webgpu/backend.ts";
import type { HostTensor } from "../src/types.ts";
import { decodeFrames, encodeFrames, type StreamHost } from "../src/video_stream.ts";
import { concatTime, sliceTime } from "../src/media/windows.ts";

const DIR = new URL("wan/", FIXTURES);
const TOL = 1e-4;
const CASES = ["1x16x16", "1x32x48", "5x16x16", "9x32x32", "33x16x16"];

async function readCase(name: string): Promise<Record<string, HostTensor>> {
  const file = parseSafetensors(
    await Deno.readFile(new URL(`case_${name}.safetensors`, DIR)),
    name,
  );
  const out: Record<string, HostTensor> = {};
  for (const [k, e] of file.entries) out[k] = { data: file.float32(k), shape: e.shape };
  return out;
}

/** The fixture's networks on `ops`, from its torch.save state_dict (weights.pth). */
async function networks(ops: Backend) {
  const bytes = await Deno.readFile(new URL("weights.pth", DIR));
  const half = (h: "encoder" | "decoder") => readCheckpoint(bytes, "weights.pth", h);
  return {
    encoder: new WanEncoder(ops, new WeightReader(await half("encoder"), "encoder")),
    decoder: new WanDecoder(ops, new WeightReader(await half("decoder"), "decoder")),
  };
}

async function readAndRelease(ops: Backend, t: Tensor): Promise<HostTensor> {
  const host = await ops.read(t);
  ops.release(t);
  return host;
}

for (const backend of BACKENDS) {
  backendTest("Wan encode and decode match the reference, whole clip", backend, async (ops) => {
    const { encoder, decoder } = await networks(ops);
    assert.equal(encoder.temporalCompression, 4);
    assert.equal(encoder.spatialCompression, 8);
    assert.equal(decoder.latentChannels, 16);
    // llvmpipe is slow: WebGPU takes an image, a short clip and the 33-frame one.
    for (const name of backend === "wasm" ? CASES : ["1x32x48", "5x16x16", "33x16x16"]) {
      const { c, mu, y } = await roundTripCase(ops, { encoder, decoder }, name);
      assert.deepEqual(mu.shape, c.mu.shape, name);
      assertClose(mu.data, c.mu.data, TOL, `${name} mu`);
      assert.deepEqual(y.shape, c.reconstruction.shape, name);
      assertClose(y.data, c.reconstruction.data, TOL, `${name} reconstruction`);
    }
  });
}

/** The engine's host for a network run directly on `ops` (no tokenizer around it). */
function host(ops: Backend): StreamHost {
  return {
    serial: (fn) => fn(),
    device: () => ops,
    fsqLevels: null,
    temporalCompression: 4,
    checkPixels() {},
    checkTokens() {},
  };
}

/** `x` cut into pieces of `sizes` frames (the last size repeating). */
function pieces(x: HostTensor, sizes: number[]): HostTensor[] {
  const out: HostTensor[] = [];
  for (let t = 0, i = 0; t < x.shape[2]; i++) {
    const n = Math.min(sizes[Math.min(i, sizes.length - 1)], x.shape[2] - t);
    out.push(sliceTime(x, t, t + n));
    t += n;
  }
  return out;
}

/** Three chunkings: (pieces of the input, latent frames per network step). */
const CHUNKINGS: { sizes: number[]; perStep: number }[] = [
  { sizes: [1, 4], perStep: 1 }, // the reference's own: frame 0, then 4 at a time
  { sizes: [3, 2, 7], perStep: 2 }, // pieces across step boundaries, 8 frames a step
  { sizes: [33], perStep: 3 }, // the whole clip in one piece, 12 frames a step
];

for (const backend of BACKENDS) {
  backendTest(
    "Wan streams equal the whole clip exactly in three chunkings",
    backend,
    async (ops) => {
      const { encoder, decoder } = await networks(ops);
      // The 33-frame clip on WebAssembly; its first 13 frames on WebGPU (llvmpipe is slow).
      const full = (await readCase("33x16x16")).input;
      const frames = backend === "wasm" ? 33 : 13;
      const input = sliceTime(full, 0, frames);
      const x = ops.upload(input);
      const whole = await readAndRelease(ops, await encoder.forward(ops, x));
      ops.release(x);
      const z = ops.upload(whole);
      const pixels = await readAndRelease(ops, await decoder.forward(ops, z));
      ops.release(z);
      for (const { sizes, perStep } of CHUNKINGS) {
        const latents: HostTensor[] = [];
        for await (const t of encodeFrames(host(ops), encoder, pieces(input, sizes), perStep)) {
          latents.push(t.latent!);
        }
        assert.equal(latents.length, 1 + (frames - 1) / 4);
        const streamed = concatTime(latents);
        assertClose(streamed.data, whole.data, 0, `encode in pieces [${sizes}]`);
        const out: HostTensor[] = [];
        const tokens = pieces(streamed, sizes.map((n) => Math.max(1, n >> 1)));
        for await (const y of decodeFrames(host(ops), decoder, tokens, perStep)) out.push(y);
        assert.equal(out.length, latents.length);
        assertClose(concatTime(out).data, pixels.data, 0, `decode in pieces [${sizes}]`);
      }
    },
  );
}

Deno.test({
  name: "upsample3d's two time-conv halves carry one copy of their input between steps",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ops = await WasmOps.create({ threads: 1 });
    try {
      const bytes = await Deno.readFile(new URL("weights.pth", DIR));
      const reader = new WeightReader(
        await readCheckpoint(bytes, "weights.pth", "decoder"),
        "decoder",
      );
      // decoder.upsamples.3: the first upsample3d, 32 channels.
      const stream = wanResample(ops, reader, "decoder.upsamples.3", 32, "upsample3d").stream();
      const frame = ops.upload({
        data: new Float32Array(32 * 16).fill(0.5),
        shape: [1, 32, 1, 4, 4],
      });
      for (let step = 0; step < 3; step++) ops.release(stream.step(ops, frame));
      // Two frames of [1, 32, 4, 4] floats: 4096 bytes, once.
      assert.equal(ops.memoryStats().parked, 2 * 32 * 16 * 4);
      stream.release(ops);
      ops.release(frame);
      assert.equal(ops.memoryStats().parked, 0);
    } finally {
      ops.destroy();
    }
  },
});

Deno.test({
  name: "a Wan stream carries as many bytes between steps as the reference's feat_cache",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const ops = await WasmOps.create({ threads: 1 });
    try {
      const { encoder, decoder } = await networks(ops);
      const file = parseSafetensors(
        await Deno.readFile(new URL("case_33x16x16.safetensors", DIR)),
        "case",
      );
      const t = (k: string) => ({ data: file.float32(k), shape: file.entries.get(k)!.shape });
      const expected = (k: string) => Number(file.metadata[k]);
      // Read while the stream is still open, after its last step.
      let parked = -1, latents = 0;
      for await (const _ of encodeFrames(host(ops), encoder, pieces(t("input"), [1, 4]))) {
        if (++latents === 9) parked = ops.memoryStats().parked;
      }
      assert.equal(parked, expected("encoder_cache_bytes"));
      let frames = 0;
      for await (const _ of decodeFrames(host(ops), decoder, pieces(t("mu"), [1]))) {
        if (++frames === 9) parked = ops.memoryStats().parked;
      }
      assert.equal(parked, expected("decoder_cache_bytes"));
      assert.equal(ops.memoryStats().parked, 0, "released with the stream");
    } finally {
      ops.destroy();
    }
  },
});

/** Encode then decode a case through `ops`; the mean and the reconstruction. */
async function roundTripCase(
  ops: Backend,
  { encoder, decoder }: Awaited<ReturnType<typeof networks>>,
  name: string,
) {
  const c = await readCase(name);
  const x = ops.upload(c.input);
  const mu = await readAndRelease(ops, await encoder.forward(ops, x));
  ops.release(x);
  const z = ops.upload(c.mu);
  const y = await readAndRelease(ops, await decoder.forward(ops, z));
  ops.release(z);
  return { c, mu, y };
}

Deno.test({
  name: "Wan at precision f16 and in row bands on WebGPU: 5x16x16 within the f16 tolerance",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (await skipWithoutF16(t)) return;
    // f16 storage, f32 arithmetic (the f16 fixture tests' tolerance); and a binding budget
    // that puts the full-resolution layers in row bands (f32: the fixtures' tolerance).
    for (
      const [options, tol] of [[{ precision: "f16" as const }, 5e-3], [
        { maxBindingBytes: 8192 },
        TOL,
      ]] as const
    ) {
      const ops = await WebGpuOps.create(options);
      try {
        const { c, mu, y } = await roundTripCase(ops, await networks(ops), "5x16x16");
        assertClose(mu.data, c.mu.data, tol, `${JSON.stringify(options)} mu`);
        assertClose(
          y.data,
          c.reconstruction.data,
          tol,
          `${JSON.stringify(options)} reconstruction`,
        );
        if ("maxBindingBytes" in options) assert.ok(ops.bandedOps > 0, "ran in row bands");
      } finally {
        ops.destroy();
      }
    }
  },
});
