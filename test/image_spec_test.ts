/**
 * The generated parameter lists agree with the fixtures (which the reference wrote), and
 * variant inference reads back the architecture of widths and depths the fixtures lack.
 */

import assert from "node:assert/strict";
import {
  imageDecoderShapes,
  imageEncoderShapes,
  officialImageArchitecture,
} from "../src/testing/image_checkpoint.ts";
import { inferImageDecoder, inferImageEncoder } from "../src/models/config.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import { shapesSource } from "./helpers.ts";

for (const variant of ["CI8x8", "CI16x16", "DI8x8", "DI16x16"]) {
  Deno.test(`imageEncoderShapes()/imageDecoderShapes() reproduce the ${variant} fixture's names and shapes`, async () => {
    const spatial = Number(variant.slice(2).split("x")[0]);
    const arch = { ...officialImageArchitecture(variant[0] === "D", spatial), channels: 32 };
    for (
      const [half, shapes] of [
        ["encoder", imageEncoderShapes(arch)],
        ["decoder", imageDecoderShapes(arch)],
      ] as const
    ) {
      const file = parseSafetensors(
        await Deno.readFile(new URL(`./fixtures/${variant}/${half}.safetensors`, import.meta.url)),
      );
      const fixture = new Map([...file.entries].map(([k, e]) => [k, e.shape]));
      assert.deepEqual(new Map([...shapes].sort()), new Map([...fixture].sort()));
    }
  });
}

Deno.test("inferImageEncoder()/inferImageDecoder() read back official-width and unusual architectures", () => {
  const cases = [
    officialImageArchitecture(false, 8),
    officialImageArchitecture(true, 16),
    // Narrow, shallow, attention at a level, patch size 2, 3 resolution levels of 2 blocks.
    {
      channels: 64,
      channelsMult: [1, 2, 3],
      numResBlocks: 1,
      attnResolutions: [16],
      resolution: 64,
      patchSize: 2,
      spatialCompression: 8,
      zChannels: 8,
      latentChannels: 4,
    },
  ];
  for (const a of cases) {
    const enc = inferImageEncoder(shapesSource(imageEncoderShapes(a), "enc"));
    const dec = inferImageDecoder(shapesSource(imageDecoderShapes(a), "dec"));
    assert.equal(enc.patchSize, a.patchSize);
    assert.equal(enc.spatialCompression, a.spatialCompression);
    assert.equal(dec.spatialCompression, a.spatialCompression);
    assert.deepEqual(enc.levelWidths, a.channelsMult.map((m) => m * a.channels));
    assert.deepEqual(dec.levelWidths, a.channelsMult.map((m) => m * a.channels));
    assert.equal(enc.numResBlocks, a.numResBlocks);
    assert.equal(dec.blocksPerLevel, a.numResBlocks + 1);
    assert.equal(enc.latentChannels, a.latentChannels);
    assert.equal(enc.fsqLevels !== null, a.latentChannels === 6);
    assert.equal(enc.levelAttn.some((x) => x), a.attnResolutions[0] === 16);
  }
});
