/**
 * Loading the Wan VAE through loadTokenizer: `Wan2.1_VAE.pth`-style torch.save state_dicts and
 * diffusers' AutoencoderKLWan safetensors by path, the latent normalisation, and the refusals
 * (mixed families, a Cosmos name, unknown diffusers names, bad statistics, a state_dict holding
 * something other than tensors). Fixtures: test/fixtures/wan/ (src/testing/wan_fixtures.py).
 */

import assert from "node:assert/strict";
import { assertClose, FIXTURES, wasmOps } from "./helpers.ts";
import { encodeSafetensors, loadTokenizer, parseSafetensors, WAN21_LATENT_STATS } from "../mod.ts";
import type { HostTensor } from "../src/types.ts";

const DIR = new URL("wan/", FIXTURES);
const PTH = new URL("weights.pth", DIR).pathname;
const DIFFUSERS = new URL("diffusers/diffusion_pytorch_model.safetensors", DIR).pathname;
const TOL = 1e-4;

async function readCase(name: string): Promise<Record<string, HostTensor>> {
  const bytes = await Deno.readFile(new URL(`case_${name}.safetensors`, DIR));
  const file = parseSafetensors(bytes, name);
  const out: Record<string, HostTensor> = {};
  for (const [k, e] of file.entries) out[k] = { data: file.float32(k), shape: e.shape };
  return out;
}

const TEST = { sanitizeResources: false, sanitizeOps: false };

for (const [format, path] of [["torch.save .pth", PTH], ["diffusers safetensors", DIFFUSERS]]) {
  Deno.test({
    name: `loadTokenizer loads a Wan VAE from a ${format} and matches the reference`,
    ...TEST,
    async fn() {
      const tok = await loadTokenizer({ encoder: path, decoder: path, ops: await wasmOps() });
      try {
        assert.equal(tok.model, "Wan VAE (base width 8, 16 latent channels, 4x8x8)");
        assert.equal(tok.kind, "video");
        assert.equal(tok.discrete, false);
        assert.equal(tok.temporalCompression, 4);
        assert.equal(tok.spatialCompression, 8);
        assert.equal(tok.latentChannels, 16);
        for (const name of ["1x32x48", "9x32x32"]) {
          const c = await readCase(name);
          const { latent } = await tok.encode(c.input);
          assertClose(latent!.data, c.mu.data, TOL, `${name} mu`);
          const y = await tok.decode(c.mu);
          assertClose(y.data, c.reconstruction.data, TOL, `${name} reconstruction`);
        }
      } finally {
        await tok.dispose();
      }
    },
  });
}

Deno.test({
  name: "normalize: true gives the reference's normalised latent, and decodes one",
  ...TEST,
  async fn() {
    const tok = await loadTokenizer({
      encoder: PTH,
      decoder: DIFFUSERS,
      ops: await wasmOps(),
      normalize: true,
    });
    try {
      const c = await readCase("9x32x32");
      const { latent } = await tok.encode(c.input);
      assertClose(latent!.data, c.mu_normalized.data, TOL, "normalised mu");
      const y = await tok.decode(c.mu_normalized);
      assertClose(y.data, c.reconstruction.data, TOL, "reconstruction of the normalised mu");
    } finally {
      await tok.dispose();
    }
    // Given statistics are Wan2.1's here: the same latent.
    const given = await loadTokenizer({
      encoder: PTH,
      ops: await wasmOps(),
      normalize: { mean: [...WAN21_LATENT_STATS.mean], std: [...WAN21_LATENT_STATS.std] },
    });
    try {
      const c = await readCase("1x32x48");
      const { latent } = await given.encode(c.input);
      assertClose(latent!.data, c.mu_normalized.data, TOL, "normalised mu, given statistics");
    } finally {
      await given.dispose();
    }
  },
});

/** Asserts that loading with `options` fails with a message matching `re`. */
async function rejects(options: Parameters<typeof loadTokenizer>[0], re: RegExp) {
  await assert.rejects(() => loadTokenizer(options), re);
}

Deno.test({
  name: "loadTokenizer refuses Wan statistics that do not fit, and normalize for Cosmos",
  ...TEST,
  async fn() {
    const ops = await wasmOps();
    await rejects(
      { encoder: PTH, ops, normalize: { mean: [0, 0], std: [1, 1] } },
      /Cannot normalise the latent: give 16 finite means and 16 positive, finite standard deviations/,
    );
    const std = [...WAN21_LATENT_STATS.std];
    std[3] = 0;
    await rejects(
      { decoder: PTH, ops, normalize: { mean: [...WAN21_LATENT_STATS.mean], std } },
      /give 16 finite means and 16 positive, finite standard deviations/,
    );
    const cosmos = new URL("CV4x8x8/encoder.safetensors", FIXTURES).pathname;
    await rejects(
      { encoder: cosmos, ops, normalize: true },
      /normalize is for the Wan VAE's latent; a Cosmos tokenizer's latent is used as it is/,
    );
  },
});

Deno.test({
  name: "loadTokenizer refuses a Wan half with a Cosmos half, and a Cosmos model name",
  ...TEST,
  async fn() {
    const ops = await wasmOps();
    const cosmos = new URL("CV4x8x8/decoder.safetensors", FIXTURES).pathname;
    await rejects(
      { encoder: PTH, decoder: cosmos, ops },
      /holds a Wan VAE and ".*decoder.safetensors" a Cosmos tokenizer; load the two halves of one model/,
    );
    await rejects(
      { encoder: PTH, model: "Cosmos-0.1-Tokenizer-CV4x8x8", ops },
      /Cannot load Cosmos-0.1-Tokenizer-CV4x8x8: ".*weights.pth" holds a Wan VAE/,
    );
  },
});

Deno.test({
  name: "loadTokenizer refuses a diffusers Wan file with a name AutoencoderKLWan does not have",
  ...TEST,
  async fn() {
    const file = parseSafetensors(await Deno.readFile(DIFFUSERS), "diffusers");
    const tensors: Parameters<typeof encodeSafetensors>[0] = {};
    for (const [name, e] of file.entries) {
      tensors[name] = { dtype: "F32", shape: e.shape, data: file.float32(name) };
    }
    tensors["decoder.up_blocks.0.extra.weight"] = {
      dtype: "F32",
      shape: [1],
      data: new Float32Array(1),
    };
    await rejects(
      { decoder: encodeSafetensors(tensors), ops: await wasmOps() },
      /Cannot read Wan VAE "<decoder bytes>": tensor "decoder.up_blocks.0.extra.weight" is not a name of diffusers' AutoencoderKLWan/,
    );
  },
});

Deno.test({
  name: "loadTokenizer refuses a torch.save state_dict that holds more than tensors",
  ...TEST,
  async fn() {
    await rejects(
      { encoder: new URL("not_tensors.pth", DIR).pathname, ops: await wasmOps() },
      /the state_dict's entry "step" is 411000, not a tensor/,
    );
  },
});

/** The diffusers fixture's tensors, for editing. */
async function diffusersTensors(): Promise<Parameters<typeof encodeSafetensors>[0]> {
  const file = parseSafetensors(await Deno.readFile(DIFFUSERS), "diffusers");
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  for (const [name, e] of file.entries) {
    tensors[name] = { dtype: "F32", shape: e.shape, data: file.float32(name) };
  }
  return tensors;
}

Deno.test({
  name: "loadTokenizer refuses a diffusers Wan level index past the file's tensor count",
  ...TEST,
  async fn() {
    const tensors = await diffusersTensors();
    const gamma = tensors["decoder.up_blocks.0.resnets.0.norm1.gamma"];
    tensors["decoder.up_blocks.4000000000.resnets.0.norm1.gamma"] = gamma;
    await rejects(
      { decoder: encodeSafetensors(tensors), ops: await wasmOps() },
      /tensor "decoder.up_blocks.4000000000.resnets.0.norm1.gamma" names level 4000000000 of 195 tensors/,
    );
  },
});

Deno.test({
  name: "loadTokenizer refuses a Wan encoder whose blocks do not chain",
  ...TEST,
  async fn() {
    const tensors = await diffusersTensors();
    // Block 4 (16 -> 16 channels) claims 8 input channels: its norm's gain has 8 values.
    tensors["encoder.down_blocks.4.norm1.gamma"] = {
      dtype: "F32",
      shape: [8, 1, 1, 1],
      data: new Float32Array(8),
    };
    await rejects(
      { encoder: encodeSafetensors(tensors), ops: await wasmOps() },
      /Cannot load encoder: "<encoder bytes>" has block "encoder.downsamples.4" of 8 input channels after a layer of 16/,
    );
  },
});
