/**
 * Reference cases on architectures the shared fixtures lack (test/fixtures/generated/README.md):
 * image tokenizers at the official width (channels 128, 4 channels per GroupNorm group) and a
 * narrow model with attention inside a level and patch size 2; video tokenizers (CV/DV) at the
 * official width, narrow ones with attention inside a level over 25 and 33 frames, and a narrow
 * DV8x8x8 over 65 frames (1 + 8 x tc, the long clips streaming is checked on). The reference
 * PyTorch implementation ran on weights from our randomCheckpoint; the weights are regenerated
 * here from the seeds in each file.
 */

import assert from "node:assert/strict";
import { assertClose, gpuTest } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { generatedCase } from "./generated_cases.ts";
import type { HostTensor } from "../src/types.ts";

/** The fixture README's tolerance: max |diff| / max |ref|. */
const TOL = 1e-4;
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
    const t0 = performance.now();
    const g = await generatedCase(name);
    const { file: c, encoder, decoder, compression } = g;
    // The reference ran on exactly these bytes; a mismatch means the generator changed.
    assert.equal(await sha256(encoder), c.metadata.encoder_sha256, "encoder weights changed");
    assert.equal(await sha256(decoder), c.metadata.decoder_sha256, "decoder weights changed");
    const t1 = performance.now();
    const tok = await loadTokenizer({ encoder, decoder, backend: ops, compression });
    const t2 = performance.now();
    try {
      const want = g.want;
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
