/**
 * Official TorchScript archives keep their traced code (`code/`): a video tokenizer's compression
 * is read from it, so an encoder.jit / decoder.jit pair loads by path alone. The fixtures in
 * test/fixtures/traced were made by make.py beside them (the reference, traced and saved).
 */

import assert from "node:assert/strict";
import { loadTokenizer } from "../mod.ts";
import { readTorchScript } from "../src/weights/torchscript.ts";
import { classLocation, readTracedCode } from "../src/weights/traced_code.ts";

const TRACED = new URL("./fixtures/traced/", import.meta.url);
const path = (v: string, half: string) => new URL(`${v}/${half}.jit`, TRACED).pathname;
const PLAIN = (half: string) => new URL(`./fixtures/CV4x8x8/${half}.jit`, import.meta.url).pathname;

Deno.test("a traced video .jit pair loads by path alone: the compression comes from its code", async () => {
  for (
    const [v, name] of [
      ["CV4x8x8", "Cosmos-0.1-Tokenizer-CV4x8x8"],
      ["DV8x16x16", "Cosmos-1.0-Tokenizer-DV8x16x16"],
    ]
  ) {
    const tok = await loadTokenizer({
      encoder: path(v, "encoder"),
      decoder: path(v, "decoder"),
      backend: "none",
    });
    assert.equal(tok.model, name);
    await tok.dispose();
  }
  // One half alone, too.
  const enc = await loadTokenizer({ encoder: path("DV8x16x16", "encoder"), backend: "none" });
  assert.equal(enc.model, "Cosmos-1.0-Tokenizer-DV8x16x16");
  await enc.dispose();
});

Deno.test("traced code: each resampler's pooling and upsampling and the patch size are read", async () => {
  const read = async (v: string, half: string) =>
    (await readTorchScript(await Deno.readFile(path(v, half)), half)).traced;
  const enc = (await read("DV8x16x16", "encoder"))!.encoder!;
  assert.equal(enc.patchSize, 2);
  assert.deepEqual(enc.resamplers, [
    { level: 0, spatial: true, temporal: true },
    { level: 1, spatial: true, temporal: true },
    { level: 2, spatial: true, temporal: false },
  ]);
  assert.deepEqual([enc.spatial, enc.temporal], [16, 8]);
  const dec = (await read("CV4x8x8", "decoder"))!.decoder!;
  assert.equal(dec.patchSize, 4);
  assert.deepEqual(dec.resamplers, [{ level: 1, spatial: true, temporal: false }]);
  assert.deepEqual([dec.spatial, dec.temporal], [8, 4]);
});

Deno.test("traced code: the code's compression wins over a model name that disagrees", async () => {
  await assert.rejects(
    loadTokenizer({
      encoder: path("CV4x8x8", "encoder"),
      model: "Cosmos-0.1-Tokenizer-CV8x8x8",
      backend: "none",
    }),
    /Cannot load encoder: ".*CV4x8x8\/encoder\.jit" holds a Cosmos-0\.1-Tokenizer-CV4x8x8 encoder, not Cosmos-0\.1-Tokenizer-CV8x8x8/,
  );
});

Deno.test("traced code: halves whose code says different compressions are refused", async () => {
  await assert.rejects(
    loadTokenizer({
      encoder: path("CV4x8x8", "encoder"),
      decoder: path("DV8x16x16", "decoder"),
      backend: "none",
    }),
    /Cannot load tokenizer: the traced code of encoder ".*" says 4x8x8 and that of decoder ".*" says 8x16x16; they do not belong together/,
  );
});

Deno.test("traced code: an archive without code/ still needs a name, and the message says why", async () => {
  await assert.rejects(
    loadTokenizer({ encoder: PLAIN("encoder"), backend: "none" }),
    /its weights do not say its compression \(and it has no traced code \(no member "encoder\/code\/__torch__\/cosmos_tokenizer\/modules\/patching\.py"\)\); pass model/,
  );
});

Deno.test("traced code: a resampler whose code no compression gives is refused", async () => {
  const bytes = await Deno.readFile(path("CV4x8x8", "encoder"));
  const src = await readTorchScript(bytes, "enc.jit");
  // As if level 1's downsampler also halved time: 4x8x8 gives that to no level.
  const t = src.traced!.encoder!;
  src.traced = {
    encoder: {
      ...t,
      resamplers: [t.resamplers[0], { level: 1, spatial: false, temporal: true }],
      temporal: 8,
    },
  };
  const { inferHalves } = await import("../src/models/halves.ts");
  assert.throws(
    () => inferHalves([{ half: "encoder", src }]),
    /Cannot load encoder: the traced code of "enc.jit" resamples level 0: space, level 1: time, which no 8x8x8 tokenizer does/,
  );
  src.traced = { encoder: { ...t, patchSize: 2 } };
  assert.throws(
    () => inferHalves([{ half: "encoder", src }]),
    /the traced code of "enc.jit" patches by 2, but its weights are those of patch size 4/,
  );
});

Deno.test("traced code: only __torch__ identifiers name a code member; odd code reads as nothing", () => {
  assert.deepEqual(classLocation("__torch__.a.___torch_mangle_3.C", "enc/"), {
    member: "enc/code/__torch__/a/___torch_mangle_3.py",
    name: "C",
  });
  assert.equal(classLocation("__torch__.a/../b.C", "enc/"), null);
  assert.equal(classLocation("__torch__..C", "enc/"), null);
  assert.equal(classLocation("builtins.C", "enc/"), null);
  const classes = new Map([
    ["encoder.patcher3d", "__torch__.p.Patcher3D"],
    ["encoder.down.0.downsample", "__torch__.l.Down"],
  ]);
  const code = (patcher: string) => (member: string) =>
    member.endsWith("p.py")
      ? `class Patcher3D(Module):\n  def forward(self, x):\n${patcher}\n`
      : "class Down(Module):\n  x2 = torch.avg_pool3d(x, [1, 2, 2], [1, 2, 2], [0, 0, 0])\n";
  const ok = readTracedCode(classes, "", code("    _3 = [torch.repeat_interleave(xi, 4, 2), xv]"));
  assert.deepEqual([ok.encoder?.spatial, ok.encoder?.temporal, ok.unread], [8, 4, undefined]);
  // Two patch sizes, or one that is no power of two: not a patcher this reader knows.
  for (
    const body of [
      "    a = torch.repeat_interleave(xi, 4, 2)\n    b = torch.repeat_interleave(xi, 2, 2)",
      "    a = torch.repeat_interleave(xi, 3, 2)",
      "    a = xi",
    ]
  ) {
    const odd = readTracedCode(classes, "", code(body));
    assert.equal(odd.encoder, undefined);
    assert.match(
      odd.unread!,
      /encoder: the traced code of "encoder.patcher3d" does not show its patch size/,
    );
  }
  const missing = readTracedCode(
    classes,
    "",
    (m) => m.endsWith("p.py") ? "class Other(Module):\n" : undefined,
  );
  assert.match(missing.unread!, /its traced code has no class for module "encoder.patcher3d"/);
});
