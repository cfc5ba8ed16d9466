/**
 * Streaming at precision f16: encodeFrames / decodeFrames on an f16 WebGPU backend give the
 * whole-clip encode / decode of the same backend, and a finished stream holds no memory. At
 * f16 the carried frames and caches are f16 tensors joined by rows.wgsl's f16 copy, so this
 * covers the f16 paths the fixture test (whole clips) does not: joinFrames of causal context
 * and of attention caches, and convolutions that read it.
 */
import assert from "node:assert/strict";
import { assertClose, FIXTURES, GPU_TEST, randomArray } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { WebGpuOps } from "../src/backends/webgpu/backend.ts";
import type { HostTensor } from "../src/types.ts";
import { concatTime, sliceTime } from "../src/media/windows.ts";

const HAS_F16 = await (async () => {
  const adapter = await navigator.gpu?.requestAdapter();
  return adapter?.features.has("shader-f16") ?? false;
})();

/** Relative error allowed between streamed and whole-clip results at f16. */
const TOL = 5e-3;

for (const variant of ["CV4x8x8", "DV4x8x8"]) {
  Deno.test({
    name: `${variant} at precision f16: streamed encode and decode equal whole-clip ones`,
    ignore: !HAS_F16,
    ...GPU_TEST,
    async fn() {
      const ops = await WebGpuOps.create({ precision: "f16" });
      const dir = new URL(`${variant}/`, FIXTURES);
      const tok = await loadTokenizer({
        encoder: new URL("encoder.safetensors", dir).pathname,
        decoder: new URL("decoder.safetensors", dir).pathname,
        model: variant,
        backend: ops,
      });
      try {
        const tc = tok.temporalCompression;
        const frames = 1 + 2 * tc;
        const noise = randomArray(3 * frames * 32 * 32, 9);
        const clip: HostTensor = {
          data: noise.map((v, i) => 0.6 * Math.sin(i * 0.05) + 0.3 * v),
          shape: [1, 3, frames, 32, 32],
        };
        const whole = await tok.encode(clip);
        const before = ops.memoryStats().inUse;
        const pieces = function* () {
          for (let t = 0; t < frames; t += 2) yield sliceTime(clip, t, Math.min(frames, t + 2));
        };
        const chunks = [];
        for await (const c of tok.encodeFrames(pieces(), { latentFramesPerStep: 1 })) {
          chunks.push(c);
        }
        assert.equal(ops.memoryStats().inUse, before, "a finished stream holds no memory");
        const tokens = (whole.latent ?? whole.indices)!;
        if (tok.discrete) {
          const streamed = concatTime(chunks.map((c) => c.indices!), 1).data;
          const differ = [...streamed].filter((v, i) => v !== tokens.data[i]).length;
          // Rounding to f16 in another order may move a value across an FSQ boundary.
          assert.ok(differ <= 1, `${differ} of ${streamed.length} indices differ`);
        } else {
          const streamed = concatTime(chunks.map((c) => c.latent!)).data;
          assertClose(streamed, tokens.data, TOL, "latent");
        }
        const decoded = await tok.decode(tokens);
        const parts = [];
        for await (const d of tok.decodeFrames([tokens])) parts.push(d);
        assertClose(concatTime(parts).data, decoded.data, TOL, "decoded one frame at a time");
      } finally {
        await tok.dispose();
        ops.destroy();
      }
    },
  });
}
