/**
 * The cosmos CLI with a Wan VAE checkpoint: `info` names it from a .pth and from diffusers
 * safetensors, and `autoencode` runs a video through it (with ffmpeg) as through a Cosmos
 * video tokenizer, writing its tokens' shape.
 */

import assert from "node:assert/strict";
import { FIXTURES, HAS_FFMPEG } from "./helpers.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const PTH = new URL("wan/weights.pth", FIXTURES).pathname;
const DIFFUSERS = new URL("wan/diffusers/diffusion_pytorch_model.safetensors", FIXTURES).pathname;

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

Deno.test("cosmos info describes a Wan VAE .pth and its diffusers safetensors", async () => {
  for (
    const [file, format] of [[PTH, "torch.save state_dict"], [
      DIFFUSERS,
      "safetensors, diffusers AutoencoderKLWan names",
    ]]
  ) {
    const r = await cosmos(["info", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`format +${format}, 194 tensors, 0\\.92 M parameters`));
    assert.match(r.stdout, /holds +encoder \+ decoder/);
    assert.match(
      r.stdout,
      /model +Wan VAE \(base width 8, 16 latent channels, 4x8x8\) \(video, continuous, 4x8x8 compression, 16 latent channels\)/,
    );
  }
});

Deno.test({
  name: "cosmos autoencode runs a video through a Wan VAE given as encoder and decoder",
  ignore: !HAS_FFMPEG,
  async fn() {
    const dir = await Deno.makeTempDir();
    try {
      const clip = `${dir}/clip.mp4`;
      const made = await new Deno.Command("ffmpeg", {
        args: ["-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=32x32:rate=8"]
          .concat(["-frames:v", "9", "-pix_fmt", "yuv420p", clip]),
      }).output();
      assert.equal(made.code, 0);
      const r = await cosmos([
        "autoencode",
        clip,
        "--encoder",
        PTH,
        "--decoder",
        PTH,
        "--backend",
        "wasm",
        "-o",
        `${dir}/out.mp4`,
        "--json",
        "-q",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const item = JSON.parse(r.stdout.trim().split("\n")[0]);
      assert.deepEqual(item.tokens, [1, 16, 3, 4, 4]);
      assert.equal(item.frames, 9);
      assert.ok((await Deno.stat(`${dir}/out.mp4`)).size > 0);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
