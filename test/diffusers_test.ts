/**
 * Diffusers AutoencoderKLCosmos checkpoints: the name mapping is a bijection on every official
 * video tokenizer name (fixtures and full width), shapes unchanged both ways; a diffusers file
 * made from the CV8x8x8 fixture tokenizes exactly like the fixture; unknown names fail by name.
 */

import assert from "node:assert/strict";
import { assertClose, gpuTest, shapesSource } from "./helpers.ts";
import { encodeSafetensors, loadTokenizer, parseSafetensors } from "../mod.ts";
import { safetensorsSource, type TensorSource } from "../src/weights/checkpoint.ts";
import {
  fromDiffusers,
  isDiffusersCheckpoint,
  loadDiffusersSource,
  toDiffusers,
} from "../src/weights/diffusers.ts";
import {
  fromDiffusersName,
  fromDiffusersNames,
  toDiffusersName,
  toDiffusersNames,
} from "../src/weights/diffusers_names.ts";
import {
  officialVideoArchitecture,
  videoDecoderShapes,
  videoEncoderShapes,
} from "../src/testing/video_checkpoint.ts";
import type { HostTensor } from "../src/types.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);

function fixtureSource(variant: string, half: string): TensorSource {
  const url = new URL(`${variant}/${half}.safetensors`, FIXTURES);
  return safetensorsSource(parseSafetensors(Deno.readFileSync(url), url.pathname));
}

/** Names and shapes of a whole autoencoder: the fixture's two files, or a spec's. */
function fixtureShapes(variant: string): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const half of ["encoder", "decoder"]) {
    const src = fixtureSource(variant, half);
    for (const n of src.names()) out.set(n, src.shape(n)!);
  }
  return out;
}

function officialShapes(attnResolutions?: number[]): Map<string, number[]> {
  const a = officialVideoArchitecture(false, 8, 8);
  if (attnResolutions) a.attnResolutions = attnResolutions;
  return new Map([...videoEncoderShapes(a), ...videoDecoderShapes(a)]);
}

const CASES: [string, () => Map<string, number[]>][] = [
  ["CV8x8x8 fixture", () => fixtureShapes("CV8x8x8")],
  ["CV4x8x8 fixture", () => fixtureShapes("CV4x8x8")],
  ["CV8x16x16 fixture", () => fixtureShapes("CV8x16x16")],
  ["official CV8x8x8 (channels 128)", () => officialShapes()],
  // Attention inside the levels too (no official model has it, the grammar covers it).
  ["official width, attention at every level", () => officialShapes([256, 128, 64, 32])],
];

for (const [label, make] of CASES) {
  Deno.test(`diffusers names: ours -> diffusers -> ours is the identity (${label})`, () => {
    const shapes = make();
    const ours = [...shapes.keys()];
    const toTheirs = toDiffusersNames(ours, label);
    assert.equal(toTheirs.size, ours.length);
    const theirs = [...toTheirs.values()];
    assert.equal(new Set(theirs).size, theirs.length, "two names map to one");
    for (const t of theirs) assert.ok(!shapes.has(t) || /^(encoder|decoder)\.(norm_out)/.test(t));
    assert.ok(isDiffusersCheckpoint({ names: () => theirs }));
    assert.ok(!isDiffusersCheckpoint({ names: () => ours }));
    const back = fromDiffusersNames(theirs, label);
    for (const [o, t] of toTheirs) assert.equal(back.get(t), o, `${o} -> ${t} -> ${back.get(t)}`);

    // Tensors: shapes converted and converted back.
    const src = shapesSource(shapes, label);
    const diff = toDiffusers(src);
    assert.deepEqual(diff.names().sort(), [...theirs].sort());
    for (const [o, t] of toTheirs) assert.deepEqual(diff.shape(t), shapes.get(o), t);
    const { encoder, decoder } = fromDiffusers(diff);
    assert.deepEqual([...encoder.names(), ...decoder.names()].sort(), [...ours].sort());
    for (const h of [encoder, decoder]) {
      for (const n of h.names()) assert.deepEqual(h.shape(n), shapes.get(n), n);
    }
    assert.ok(encoder.names().every((n) => /^(encoder|quant_conv)\./.test(n)));
    assert.ok(decoder.names().every((n) => /^(decoder|post_quant_conv)\./.test(n)));
  });
}

Deno.test("diffusers names: the renames of diffusers' AutoencoderKLCosmos, decoder levels reversed", () => {
  const pairs: [string, string][] = [
    ["encoder.conv_in.0.conv3d.weight", "encoder.conv_in.conv_s.weight"],
    ["encoder.conv_in.1.conv3d.bias", "encoder.conv_in.conv_t.bias"],
    [
      "encoder.down.0.block.0.conv1.0.conv3d.weight",
      "encoder.down_blocks.0.resnets.0.conv1.conv_s.weight",
    ],
    [
      "encoder.down.0.block.0.norm1.norm.weight",
      "encoder.down_blocks.0.resnets.0.norm1.norm.weight",
    ],
    [
      "encoder.down.1.block.0.nin_shortcut.conv3d.weight",
      "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
    ],
    [
      "encoder.down.1.downsample.conv2.conv3d.weight",
      "encoder.down_blocks.1.downsamplers.0.conv2.weight",
    ],
    ["encoder.mid.block_2.conv2.1.conv3d.bias", "encoder.mid_block.resnets.1.conv2.conv_t.bias"],
    ["encoder.mid.attn_1.0.q.conv3d.weight", "encoder.mid_block.attentions.0.to_q.weight"],
    [
      "encoder.mid.attn_1.1.proj_out.conv3d.bias",
      "encoder.mid_block.temp_attentions.0.to_out.0.bias",
    ],
    ["encoder.mid.attn_1.1.norm.norm.bias", "encoder.mid_block.temp_attentions.0.norm.norm.bias"],
    ["encoder.norm_out.norm.weight", "encoder.norm_out.norm.weight"],
    ["quant_conv.conv3d.weight", "quant_conv.weight"],
    ["post_quant_conv.conv3d.bias", "post_quant_conv.bias"],
    [
      "decoder.up.0.block.2.conv1.0.conv3d.weight",
      "decoder.up_blocks.2.resnets.2.conv1.conv_s.weight",
    ],
    ["decoder.up.2.block.0.norm2.norm.bias", "decoder.up_blocks.0.resnets.0.norm2.norm.bias"],
    ["decoder.up.1.upsample.conv3.conv3d.weight", "decoder.up_blocks.1.upsamplers.0.conv3.weight"],
    ["decoder.up.2.upsample.conv1.conv3d.weight", "decoder.up_blocks.0.upsamplers.0.conv1.weight"],
  ];
  for (const [ours, theirs] of pairs) {
    assert.equal(toDiffusersName(ours, 3), theirs);
    assert.equal(fromDiffusersName(theirs, 3), ours);
  }
  // Two levels (CV4x8x8): up.0 <-> up_blocks.1.
  assert.equal(
    toDiffusersName("decoder.up.0.block.0.conv1.0.conv3d.weight", 2),
    "decoder.up_blocks.1.resnets.0.conv1.conv_s.weight",
  );
});

Deno.test("diffusers names: an unknown name fails, naming the tensor", () => {
  const good = [...toDiffusersNames([...fixtureShapes("CV8x8x8").keys()]).values()];
  for (
    const bad of [
      "encoder.down_blocks.0.resnets.0.conv9.weight",
      "encoder.mid_block.attentions.0.to_q.conv3d.weight", // an official suffix left in
      "decoder.up_blocks.0.upsamplers.1.conv1.weight",
      "vae.encoder.conv_in.conv_s.weight",
      "encoder.conv_in.conv_s.weight.extra",
    ]
  ) {
    const src = shapesSource(new Map([...good, bad].map((n) => [n, [1]])), "x.safetensors");
    assert.throws(
      () => fromDiffusers(src),
      (e: Error) =>
        e.message.includes(`"${bad}"`) && e.message.includes("x.safetensors") &&
        /not an AutoencoderKLCosmos parameter/.test(e.message),
      bad,
    );
  }
  assert.throws(
    () => toDiffusersNames(["encoder.conv_in.0.conv3d.weight", "encoder.quantizer.foo"], "o"),
    /"encoder\.quantizer\.foo" has no AutoencoderKLCosmos counterpart/,
  );
  assert.equal(toDiffusersName("encoder.conv_in.2.conv3d.weight", 3), undefined);
  assert.equal(fromDiffusersName("decoder.up_blocks.3.resnets.0.norm1.norm.weight", 3), undefined);
  // Only the encoder: no decoder half.
  const encOnly = good.filter((n) => n.startsWith("encoder.") || n.startsWith("quant_conv."));
  assert.throws(
    () => fromDiffusers(shapesSource(new Map(encOnly.map((n) => [n, [1]])), "e.safetensors")),
    /"e\.safetensors": it has no decoder tensors/,
  );
});

Deno.test("diffusers checkpoints: buffers are dropped; compression only when recorded", () => {
  const shapes = new Map(
    [...toDiffusersNames([...fixtureShapes("CV8x8x8").keys()]).values()].map((n) => [n, [1]]),
  );
  shapes.set("encoder.patch_embed.wavelets", [2]);
  shapes.set("decoder.unpatch_embed._arange", [2]);
  const src = { ...shapesSource(shapes, "d.safetensors"), metadata: { format: "pt" } };
  const plain = fromDiffusers(src);
  assert.ok(!plain.encoder.names().some((n) => /wavelets|_arange/.test(n)));
  assert.deepEqual(plain.encoder.metadata, { format: "pt" });
  assert.equal(plain.decoder.metadata.config, undefined);
  assert.match(plain.encoder.source, /d\.safetensors \(diffusers, encoder half\)/);

  const want = { spatial_compression: 8, temporal_compression: 8 };
  const fromJson = fromDiffusers(src, {
    config: { spatial_compression_ratio: 8, temporal_compression_ratio: 8, latent_channels: 16 },
  });
  assert.deepEqual(JSON.parse(fromJson.decoder.metadata.config), want);
  const fromMeta = fromDiffusers({
    ...src,
    metadata: {
      config: JSON.stringify({ spatial_compression_ratio: 8, temporal_compression_ratio: 8 }),
    },
  });
  assert.deepEqual(JSON.parse(fromMeta.encoder.metadata.config), want);
});

Deno.test("loadDiffusersSource() rejects a file with official names", () => {
  const bytes = Deno.readFileSync(new URL("CV8x8x8/encoder.safetensors", FIXTURES));
  assert.throws(
    () => loadDiffusersSource(bytes, "enc.safetensors"),
    /Cannot read "enc\.safetensors" as a diffusers checkpoint/,
  );
});

/** A TensorSource as safetensors bytes (F32: the fixtures' BF16 values exactly). */
function encode(src: TensorSource): Uint8Array {
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  for (const n of src.names()) {
    tensors[n] = { dtype: "F32", shape: src.shape(n)!, data: src.float32(n) };
  }
  return encodeSafetensors(tensors, src.metadata);
}

/**
 * The CV8x8x8 fixture as one diffusers-named file: every official tensor, or (`saved`) only
 * those AutoencoderKLCosmos has, as its save_pretrained writes them.
 */
function diffusersFile(saved = false): Uint8Array {
  const enc = fixtureSource("CV8x8x8", "encoder"), dec = fixtureSource("CV8x8x8", "decoder");
  const compression = saved ? { spatial: 8, temporal: 8 } : undefined;
  const bytes = encode(toDiffusers([enc, dec], { compression }));
  const file = parseSafetensors(bytes);
  assert.ok(file.entries.has("encoder.down_blocks.0.resnets.0.conv1.conv_s.weight"));
  assert.ok(file.entries.has("decoder.up_blocks.1.upsamplers.0.conv1.weight"));
  // Diffusers builds no conv in CV8x8x8's second downsampler nor its first upsampler.
  assert.equal(file.entries.has("decoder.up_blocks.0.upsamplers.0.conv1.weight"), !saved);
  assert.equal(file.entries.size, enc.names().length + dec.names().length - (saved ? 12 : 0));
  return bytes;
}

/** Official resampler tensors a diffusers file of `variant` lacks, by the constructor. */
const NOT_BUILT: Record<string, [{ spatial: number; temporal: number }, string[]]> = {
  // 2 of 3 downsample levels: the first does space and time, the second nothing; likewise up.
  CV8x8x8: [{ spatial: 8, temporal: 8 }, [
    "encoder.down.1.downsample.conv1",
    "encoder.down.1.downsample.conv2",
    "encoder.down.1.downsample.conv3",
    "decoder.up.2.upsample.conv1",
    "decoder.up.2.upsample.conv2",
    "decoder.up.2.upsample.conv3",
  ]],
  // Space twice, time once: the second level only in space.
  CV8x16x16: [{ spatial: 16, temporal: 8 }, [
    "encoder.down.1.downsample.conv2",
    "decoder.up.2.upsample.conv1",
  ]],
  // Time never: space only, at the first level; the decoder has two levels.
  CV4x8x8: [{ spatial: 8, temporal: 4 }, [
    "encoder.down.0.downsample.conv2",
    "encoder.down.1.downsample.conv1",
    "encoder.down.1.downsample.conv2",
    "encoder.down.1.downsample.conv3",
    "decoder.up.1.upsample.conv1",
  ]],
};

for (const [variant, [compression, missing]] of Object.entries(NOT_BUILT)) {
  Deno.test(`diffusers files lack the resampler convs diffusers does not build (${variant})`, () => {
    const shapes = fixtureShapes(variant);
    const src = shapesSource(shapes, variant);
    const saved = toDiffusers(src, { compression });
    const theirs = toDiffusersNames([...shapes.keys()]);
    const kept = new Set(saved.names());
    const dropped = [...shapes.keys()].filter((n) => !kept.has(theirs.get(n)!));
    const want = missing.flatMap((p) => [`${p}.conv3d.bias`, `${p}.conv3d.weight`]).sort();
    assert.deepEqual(dropped.sort(), want);
    // Read back, with or without the compression: the same names and shapes as the official.
    for (
      const config of [undefined, {
        spatial_compression_ratio: compression.spatial,
        temporal_compression_ratio: compression.temporal,
      }]
    ) {
      const { encoder, decoder } = fromDiffusers(saved, { config });
      const back = new Map([...encoder.names(), ...decoder.names()].map((n) => [n, 0]));
      assert.deepEqual([...back.keys()].sort(), [...shapes.keys()].sort());
      for (const h of [encoder, decoder]) {
        for (const n of h.names()) assert.deepEqual(h.shape(n), shapes.get(n), n);
      }
      for (const p of missing) {
        const h = p.startsWith("encoder") ? encoder : decoder;
        assert.ok(h.float32(`${p}.conv3d.weight`).every((v) => v === 0));
      }
    }
  });
}

Deno.test("diffusers files: a missing conv of a path that is on fails when the compression is known", () => {
  const src = shapesSource(fixtureShapes("CV8x8x8"), "CV8x8x8");
  const full = toDiffusers(src);
  const lacking = "encoder.down_blocks.0.downsamplers.0.conv2.weight";
  const names = new Map(full.names().filter((n) => n !== lacking).map((n) => [n, full.shape(n)!]));
  const file = shapesSource(names, "lacking.safetensors");
  assert.throws(
    () =>
      fromDiffusers(file, {
        config: { spatial_compression_ratio: 8, temporal_compression_ratio: 8 },
      }),
    new RegExp(`"lacking\\.safetensors": it has no tensor "${lacking.replaceAll(".", "\\.")}"`),
  );
  // Not knowing the compression, the reader cannot tell: it fills the conv in.
  assert.ok(
    fromDiffusers(file).encoder.names().includes("encoder.down.0.downsample.conv2.conv3d.weight"),
  );
});

Deno.test("a diffusers file holds the fixture's tensors, bit for bit, under the mapped names", () => {
  const halves = loadDiffusersSource(diffusersFile(), "<diffusers>");
  for (const half of ["encoder", "decoder"] as const) {
    const orig = fixtureSource("CV8x8x8", half);
    assert.deepEqual(halves[half].names().sort(), orig.names().sort());
    for (const n of orig.names()) {
      assert.deepEqual(halves[half].shape(n), orig.shape(n));
      assert.deepEqual(halves[half].float32(n), orig.float32(n), n);
    }
  }
});

gpuTest("a diffusers CV8x8x8 file tokenizes like the fixture's own files", async (ops) => {
  const model = "Cosmos-1.0-Tokenizer-CV8x8x8";
  // The one diffusers file given as both halves, as a user would (loadTokenizer picks each).
  const encBytes = diffusersFile(true), decBytes = encBytes;
  const halves = loadDiffusersSource(encBytes, "<diffusers>");
  assert.ok(halves.encoder.names().length > 0 && halves.decoder.names().length > 0);
  // The file does not record its compression: the loader needs the model (or compression).
  await assert.rejects(
    loadTokenizer({ encoder: encBytes, decoder: decBytes, backend: ops }),
    /do not say its compression/,
  );
  const tok = await loadTokenizer({ encoder: encBytes, decoder: decBytes, model, backend: ops });
  const dir = new URL("CV8x8x8/", FIXTURES);
  const ref = await loadTokenizer({
    encoder: new URL("encoder.safetensors", dir).pathname,
    decoder: new URL("decoder.safetensors", dir).pathname,
    backend: ops,
  });
  try {
    const c = parseSafetensors(await Deno.readFile(new URL("case_9x32x32.safetensors", dir)));
    const want = (name: string): HostTensor => ({
      data: c.float32(name),
      shape: c.entries.get(name)!.shape,
    });
    const latent = (await tok.encode(want("input"))).latent!;
    assert.deepEqual(latent.shape, want("latent").shape);
    assertClose(latent.data, want("latent").data, 1e-4, "latent");
    const rec = await tok.decode(want("latent"));
    assert.deepEqual(rec.shape, want("reconstruction").shape);
    assertClose(rec.data, want("reconstruction").data, 1e-4, "reconstruction");

    const refLatent = (await ref.encode(want("input"))).latent!;
    const refRec = await ref.decode(want("latent"));
    assert.deepEqual(latent.data, refLatent.data, "latent differs from the fixture files'");
    assert.deepEqual(rec.data, refRec.data, "reconstruction differs from the fixture files'");
  } finally {
    await tok.dispose();
    await ref.dispose();
  }
});
