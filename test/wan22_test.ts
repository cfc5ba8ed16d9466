/**
 * The Wan2.2 video VAE against its reference (test/fixtures/wan22/, made by
 * src/testing/wan22_fixtures.py: the reference's chunked encode and per-latent-frame decode on
 * seeded random weights, encoder width 8, decoder width 4, 48 latent channels, 2x2 patchify):
 * loaded from the .pth by loadTokenizer, the encoder's mean and the decoder's output of it
 * within 1e-4 relative on both backends, normalised with Wan2.2's statistics, and streamed in
 * three chunkings equal to the whole clip; a level's refusals.
 */

import assert from "node:assert/strict";
import { assertClose, BACKENDS, backendTest, FIXTURES } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import type { HostTensor } from "../src/types.ts";
import { concatTime, sliceTime } from "../src/media/windows.ts";
import { WAN22_LATENT_STATS } from "../src/models/wan/latent.ts";
import { Wan22Level } from "../src/nn/wan22_blocks.ts";
import { type TensorSource, WeightReader } from "../src/weights/checkpoint.ts";
import { readCheckpoint } from "../src/weights/formats.ts";

const DIR = new URL("wan22/", FIXTURES);
const PTH = new URL("weights.pth", DIR).pathname;
const TOL = 1e-4;
const CASES = ["1x32x32", "1x32x48", "5x32x32", "9x32x32"];

async function readCase(name: string): Promise<Record<string, HostTensor>> {
  const file = parseSafetensors(
    await Deno.readFile(new URL(`case_${name}.safetensors`, DIR)),
    name,
  );
  const out: Record<string, HostTensor> = {};
  for (const [k, e] of file.entries) out[k] = { data: file.float32(k), shape: e.shape };
  return out;
}

for (const backend of BACKENDS) {
  backendTest("Wan2.2 encode and decode match the reference, whole clip", backend, async (ops) => {
    const tok = await loadTokenizer({ encoder: PTH, decoder: PTH, ops });
    try {
      assert.equal(tok.model, "Wan VAE (base width 8, 48 latent channels, 4x16x16)");
      assert.equal(tok.family, "wan");
      assert.equal(tok.spatialCompression, 16);
      assert.equal(tok.temporalCompression, 4);
      assert.equal(tok.latentChannels, 48);
      for (const name of backend === "wasm" ? CASES : ["1x32x48", "5x32x32"]) {
        const c = await readCase(name);
        const { latent } = await tok.encode(c.input);
        assert.deepEqual(latent!.shape, c.mu.shape, name);
        assertClose(latent!.data, c.mu.data, TOL, `${name} mu`);
        const y = await tok.decode(c.mu);
        assert.deepEqual(y.shape, c.reconstruction.shape, name);
        assertClose(y.data, c.reconstruction.data, TOL, `${name} reconstruction`);
      }
    } finally {
      await tok.dispose();
    }
  });
}

backendTest("Wan2.2 normalize uses Wan2.2's latent statistics", "wasm", async (ops) => {
  const tok = await loadTokenizer({ encoder: PTH, decoder: PTH, ops, normalize: true });
  try {
    const c = await readCase("5x32x32");
    const { latent } = await tok.encode(c.input);
    assertClose(latent!.data, c.mu_normalized.data, TOL, "normalised mu");
    // Decode takes the normalised latent back to the reference's reconstruction of mu.
    const y = await tok.decode(c.mu_normalized);
    assertClose(y.data, c.reconstruction.data, TOL, "reconstruction of the normalised latent");
    assert.equal(WAN22_LATENT_STATS.mean.length, 48);
  } finally {
    await tok.dispose();
  }
});

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
  { sizes: [9], perStep: 3 }, // the whole clip in one piece, 12 frames a step
];

for (const backend of BACKENDS) {
  backendTest(
    "Wan2.2 streams equal the whole clip exactly in three chunkings",
    backend,
    async (ops) => {
      const tok = await loadTokenizer({ encoder: PTH, decoder: PTH, ops });
      try {
        const input = (await readCase("9x32x32")).input;
        const whole = (await tok.encode(input)).latent!;
        const pixels = await tok.decode(whole);
        for (const { sizes, perStep } of CHUNKINGS) {
          const latents: HostTensor[] = [];
          for await (
            const t of tok.encodeFrames(pieces(input, sizes), { latentFramesPerStep: perStep })
          ) {
            latents.push(t.latent!);
          }
          assert.equal(latents.length, 3);
          assertClose(concatTime(latents).data, whole.data, 0, `encode in pieces [${sizes}]`);
          const out: HostTensor[] = [];
          const tokens = pieces(whole, sizes.map((n) => Math.max(1, n >> 1)));
          for await (const y of tok.decodeFrames(tokens, { latentFramesPerStep: perStep })) {
            out.push(y);
          }
          assertClose(concatTime(out).data, pixels.data, 0, `decode in pieces [${sizes}]`);
        }
      } finally {
        await tok.dispose();
      }
    },
  );
}

/** A checkpoint of zeros with these names and shapes. */
function zeros(shapes: Record<string, number[]>): TensorSource {
  const map = new Map(Object.entries(shapes));
  return {
    source: "zeros.pth",
    metadata: {},
    names: () => [...map.keys()],
    shape: (n) => map.get(n),
    float32: (n) => new Float32Array(map.get(n)!.reduce((a, b) => a * b, 1)),
  };
}

backendTest(
  "Wan2.2 levels refuse shortcuts that do not divide, and odd steps after the first",
  "wasm",
  async (ops) => {
    // A level of 8 -> 12 channels halving space: AvgDown3D would average 8 x 4 / 12 channels.
    const at = "encoder.downsamples.0.downsamples";
    const uneven = zeros({
      [`${at}.0.residual.0.gamma`]: [8, 1, 1, 1],
      [`${at}.0.residual.2.weight`]: [12, 8, 3, 3, 3],
      [`${at}.0.residual.2.bias`]: [12],
      [`${at}.0.residual.3.gamma`]: [12, 1, 1, 1],
      [`${at}.0.residual.6.weight`]: [12, 12, 3, 3, 3],
      [`${at}.0.residual.6.bias`]: [12],
      [`${at}.0.shortcut.weight`]: [12, 8, 1, 1, 1],
      [`${at}.0.shortcut.bias`]: [12],
      [`${at}.1.resample.1.weight`]: [12, 12, 3, 3],
      [`${at}.1.resample.1.bias`]: [12],
    });
    assert.throws(
      () =>
        new Wan22Level(ops, new WeightReader(uneven, "encoder"), "encoder.downsamples.0", 8, true),
      /Cannot load encoder: "zeros\.pth" has level "encoder\.downsamples\.0" of 8 -> 12 channels, which its 1x2x2 shortcut cannot average evenly/,
    );
    // The fixture's second encoder level pairs frames: after a first step, 3 frames are refused.
    const bytes = await Deno.readFile(new URL("weights.pth", DIR));
    const reader = new WeightReader(
      await readCheckpoint(bytes, "weights.pth", "encoder"),
      "encoder",
    );
    const level = new Wan22Level(ops, reader, "encoder.downsamples.1", 8, true);
    const stream = level.stream();
    const clip = (t: number) =>
      ops.upload({ data: new Float32Array(8 * t * 8 * 8), shape: [1, 8, t, 8, 8] });
    const a = clip(1), b = clip(3);
    try {
      ops.release(stream.step(ops, a));
      assert.throws(
        () => stream.step(ops, b),
        /Cannot stream: a step after the first brought 3 frames to a level that pairs frames; steps must end on latent frames/,
      );
    } finally {
      stream.release(ops);
      ops.release(a);
      ops.release(b);
    }
  },
);
