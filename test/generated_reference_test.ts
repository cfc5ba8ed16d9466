/**
 * Reference cases on architectures the shared fixtures lack (test/fixtures/generated/README.md):
 * image tokenizers at the official width (channels 128, 4 channels per GroupNorm group) and a
 * narrow model with attention inside a level and patch size 2; video tokenizers (CV/DV) at the
 * official width and a narrow CV with attention inside a level over 25 frames. The reference
 * PyTorch implementation ran on weights from our randomCheckpoint; the weights are regenerated
 * here from the seeds in each file.
 */

import assert from "node:assert/strict";
import { assertClose, gpuTest } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import {
  type ImageArchitecture,
  imageDecoderShapes,
  imageEncoderShapes,
} from "../src/testing/image_checkpoint.ts";
import { randomCheckpoint } from "../src/testing/random_weights.ts";
import {
  type VideoArchitecture,
  videoDecoderShapes,
  videoEncoderShapes,
} from "../src/testing/video_checkpoint.ts";
import type { HostTensor } from "../src/types.ts";

/** The fixture README's tolerance: max |diff| / max |ref|. */
const TOL = 1e-4;
const DIR = new URL("./fixtures/generated/", import.meta.url);
const CASES = [
  "ci8x8_official_32x48",
  "di16x16_official_32x32",
  "ci8x8_narrow_attn_p2_24x40",
  "ci8x8_official_batch2_16x16",
  "cv8x8x8_official_9x16x24",
  "dv4x8x8_official_9x16x16",
  "cv4x8x8_narrow_25x16x16",
  "dv8x16x16_official_9x32x32",
  "cv4x8x8_narrow_33x16x16",
  "dv8x8x8_narrow_65x16x16",
];

async function sha256(bytes: Uint8Array): Promise<string> {
  // encodeSafetensors allocates a plain ArrayBuffer.
  const digest = new Uint8Array(
    await crypto.subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>),
  );
  return [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
}

for (const name of CASES) {
  gpuTest(`${name} matches the reference run on generated weights`, async (ops) => {
    const c = parseSafetensors(await Deno.readFile(new URL(`${name}.safetensors`, DIR)));
    const video = c.metadata.kind === "video";
    const t0 = performance.now();
    let encShapes: Map<string, number[]>, decShapes: Map<string, number[]>;
    if (video) {
      const arch: VideoArchitecture = JSON.parse(c.metadata.arch);
      [encShapes, decShapes] = [videoEncoderShapes(arch), videoDecoderShapes(arch)];
    } else {
      const arch: ImageArchitecture = JSON.parse(c.metadata.arch);
      [encShapes, decShapes] = [imageEncoderShapes(arch), imageDecoderShapes(arch)];
    }
    const encoder = randomCheckpoint(encShapes, Number(c.metadata.encoder_seed));
    const decoder = randomCheckpoint(decShapes, Number(c.metadata.decoder_seed));
    // The reference ran on exactly these bytes; a mismatch means the generator changed.
    assert.equal(await sha256(encoder), c.metadata.encoder_sha256, "encoder weights changed");
    assert.equal(await sha256(decoder), c.metadata.decoder_sha256, "decoder weights changed");
    const t1 = performance.now();
    // Video checkpoints do not show their compression in their shapes.
    const compression = video
      ? {
        spatial: Number(c.metadata.spatial_compression),
        temporal: Number(c.metadata.temporal_compression),
      }
      : undefined;
    const tok = await loadTokenizer({ encoder, decoder, backend: ops, compression });
    const t2 = performance.now();
    try {
      const want = (key: string): HostTensor => ({
        data: c.float32(key),
        shape: c.entries.get(key)!.shape,
      });
      const errs: Record<string, number> = {};
      const check = (key: string, got: HostTensor) => {
        const ref = want(key);
        assert.deepEqual(got.shape, ref.shape, `${key} shape`);
        errs[key] = assertClose(got.data, ref.data, TOL, `${name} ${key}`);
      };
      const enc = await tok.encode(want("input"));
      const t3 = performance.now();
      let rec: HostTensor;
      if (tok.discrete) {
        const idx = c.int32("indices");
        const shape = c.entries.get("indices")!.shape;
        assert.deepEqual(enc.indices!.shape, shape);
        const differ = [...idx].filter((v, i) => v !== enc.indices!.data[i]).length;
        assert.equal(
          differ,
          0,
          `${differ} of ${idx.length} indices differ (reference's smallest distance to a ` +
            `rounding boundary: ${c.metadata.min_rounding_margin})`,
        );
        check("codes", enc.codes!);
        rec = await tok.decode({ data: idx, shape });
      } else {
        check("latent", enc.latent!);
        rec = await tok.decode(want("latent"));
      }
      const t4 = performance.now();
      check("reconstruction", rec);
      const ms = (a: number, b: number) => `${(b - a).toFixed(0)} ms`;
      console.log(
        `${name}: max relative error ${
          Object.entries(errs).map(([k, e]) => `${k} ${e.toExponential(2)}`).join(", ")
        }; weights ${ms(t0, t1)}, load ${ms(t1, t2)}, encode ${ms(t2, t3)}, decode ${ms(t3, t4)}`,
      );
    } finally {
      await tok.dispose();
    }
  });
}
