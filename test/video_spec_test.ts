/**
 * The generated video parameter lists agree with the fixtures (which the reference wrote), and
 * variant inference reads back the architecture of widths and depths the fixtures lack.
 */

import assert from "node:assert/strict";
import {
  officialVideoArchitecture,
  type VideoArchitecture,
  videoDecoderChannelsMult,
  videoDecoderShapes,
  videoEncoderShapes,
} from "../src/testing/video_checkpoint.ts";
import { inferVideoDecoder, inferVideoEncoder } from "../src/models/config.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import { shapesSource } from "./helpers.ts";

const VARIANTS = ["CV4x8x8", "CV8x8x8", "CV8x16x16", "DV4x8x8", "DV8x8x8", "DV8x16x16"];

for (const variant of VARIANTS) {
  Deno.test(`videoEncoderShapes()/videoDecoderShapes() reproduce the ${variant} fixture's names and shapes`, async () => {
    const [temporal, spatial] = variant.slice(2).split("x").map(Number);
    const arch = {
      ...officialVideoArchitecture(variant[0] === "D", spatial, temporal),
      channels: 16,
    };
    for (
      const [half, shapes] of [
        ["encoder", videoEncoderShapes(arch)],
        ["decoder", videoDecoderShapes(arch)],
      ] as const
    ) {
      const file = parseSafetensors(
        await Deno.readFile(new URL(`./fixtures/${variant}/${half}.safetensors`, import.meta.url)),
      );
      const fixture = new Map([...file.entries].map(([k, e]) => [k, e.shape]));
      assert.deepEqual(new Map([...shapes].sort()), new Map([...fixture].sort()));
      // The fixture was made from the reference config with the same compression.
      const cfg = JSON.parse(file.metadata.config);
      assert.equal(cfg.spatial_compression, spatial);
      assert.equal(cfg.temporal_compression, temporal);
    }
  });
}

Deno.test("videoDecoderChannelsMult() follows the reference's CV temporal-4 quirk only", () => {
  assert.deepEqual(videoDecoderChannelsMult(officialVideoArchitecture(false, 8, 4)), [2, 4]);
  assert.deepEqual(videoDecoderChannelsMult(officialVideoArchitecture(false, 8, 8)), [2, 4, 4]);
  assert.deepEqual(videoDecoderChannelsMult(officialVideoArchitecture(true, 8, 4)), [2, 4, 4]);
});

Deno.test("inferVideoEncoder()/inferVideoDecoder() read back official-width and unusual architectures", () => {
  const narrow: VideoArchitecture = {
    discrete: false,
    channels: 32,
    channelsMult: [1, 2, 2],
    numResBlocks: 1,
    attnResolutions: [8],
    resolution: 64,
    patchSize: 4,
    spatialCompression: 8,
    temporalCompression: 4,
    zChannels: 16,
    latentChannels: 16,
  };
  const cases = [
    officialVideoArchitecture(false, 8, 8),
    officialVideoArchitecture(true, 8, 4),
    officialVideoArchitecture(true, 16, 8),
    narrow,
  ];
  for (const a of cases) {
    const comp = { spatial: a.spatialCompression, temporal: a.temporalCompression };
    const enc = inferVideoEncoder(shapesSource(videoEncoderShapes(a), "enc"), comp);
    const dec = inferVideoDecoder(shapesSource(videoDecoderShapes(a), "dec"), comp);
    const decMult = videoDecoderChannelsMult(a);
    assert.equal(enc.patchSize, a.patchSize);
    assert.equal(dec.patchSize, a.patchSize);
    assert.deepEqual(enc.levelWidths, a.channelsMult.map((m) => m * a.channels));
    assert.deepEqual(dec.levelWidths, decMult.map((m) => m * a.channels));
    assert.equal(enc.numResBlocks, a.numResBlocks);
    assert.equal(dec.blocksPerLevel, a.numResBlocks + 1);
    assert.equal(enc.latentChannels, a.latentChannels);
    assert.equal(dec.latentChannels, a.latentChannels);
    assert.equal(enc.fsqLevels !== null, a.discrete);
    const narrowAttn = a === narrow;
    assert.deepEqual(enc.levelAttn, [false, narrowAttn, false]);
    assert.deepEqual(dec.levelAttn, narrowAttn ? [false, true] : decMult.map(() => false));
  }
});
