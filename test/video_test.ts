/**
 * Video behaviour beyond the fixtures: causality, windows, streams with bounded memory, and
 * the frame-count and compression errors.
 */

import assert from "node:assert/strict";
import { assertClose, gpuTest, randomArray } from "./helpers.ts";
import { loadTokenizer, type Tokenizer } from "../mod.ts";
import type { HostTensor } from "../src/types.ts";
import type { WebGpuOps } from "../src/backends/webgpu/backend.ts";
import { sliceTime } from "../src/media/windows.ts";

const dir = (v: string) => new URL(`./fixtures/${v}/`, import.meta.url);

function load(variant: string, ops: WebGpuOps, window?: number): Promise<Tokenizer> {
  return loadTokenizer({
    encoder: new URL("encoder.safetensors", dir(variant)),
    decoder: new URL("decoder.safetensors", dir(variant)),
    backend: ops,
    window,
  });
}

function video(frames: number, h: number, w: number, seed: number): HostTensor {
  return { data: randomArray(3 * frames * h * w, seed), shape: [1, 3, frames, h, w] };
}

/** Latent frames [0, n) of a [B, C, t, h, w] latent as one flat array. */
const leading = (x: HostTensor, n: number) => sliceTime(x, 0, n).data;

for (const variant of ["CV4x8x8", "DV8x8x8"]) {
  gpuTest(
    `encode() is causal (${variant}): changing frames after t leaves latent frames up to t unchanged`,
    async (ops) => {
      const tok = await load(variant, ops);
      const tc = tok.temporalCompression;
      const frames = 1 + 2 * tc;
      const a = video(frames, 16, 24, 1);
      // The pre-quantisation values (quant_conv's output) show causality for both kinds;
      // FSQ indices of a random-weight model may not move at all.
      const encodeWithZ = async (x: HostTensor) => {
        let z: HostTensor | null = null;
        const r = await tok.encode(x, async (name, t) => {
          if (name === "quant_conv") z = await ops.read(t);
        });
        return { ...r, z: z! };
      };
      const base = await encodeWithZ(a);
      for (const j of [0, 1]) {
        // Latent frame j sees input frames 0 .. j * tc; replace every later frame.
        const b = video(frames, 16, 24, 1);
        const other = video(frames, 16, 24, 99 + j);
        const plane = 16 * 24;
        for (let c = 0; c < 3; c++) {
          for (let f = j * tc + 1; f < frames; f++) {
            const o = (c * frames + f) * plane;
            b.data.set(other.data.subarray(o, o + plane), o);
          }
        }
        const changed = await encodeWithZ(b);
        assert.deepEqual([...leading(changed.z, j + 1)], [...leading(base.z, j + 1)]);
        assert.notDeepEqual([...changed.z.data], [...base.z.data]);
        if (tok.discrete) {
          const n = 24 / 8 * 16 / 8 * (j + 1);
          assert.deepEqual([...changed.indices!.data.subarray(0, n)], [
            ...base.indices!.data.subarray(0, n),
          ]);
        } else {
          assert.deepEqual([...leading(changed.latent!, j + 1)], [...leading(base.latent!, j + 1)]);
          assert.notDeepEqual([...changed.latent!.data], [...base.latent!.data]);
        }
      }
      await tok.dispose();
    },
  );
}

gpuTest(
  "encode() with a window option equals encoding each window alone; decode() splits the same way",
  async (ops) => {
    const whole = await load("CV4x8x8", ops);
    const windowed = await load("CV4x8x8", ops, 9);
    const v = video(9 + 9 + 5, 16, 16, 7); // two full windows and a short one (5 = 1 + 4)
    const enc = await windowed.encode(v);
    assert.deepEqual(enc.latent!.shape, [1, 16, 3 + 3 + 2, 2, 2]);
    const parts = [[0, 9], [9, 18], [18, 23]].map(([a, b]) => sliceTime(v, a, b));
    const alone = await Promise.all(parts.map((p) => whole.encode(p)));
    let t0 = 0;
    for (const r of alone) {
      const n = r.latent!.shape[2];
      assert.deepEqual([...sliceTime(enc.latent!, t0, t0 + n).data], [...r.latent!.data]);
      t0 += n;
    }
    const dec = await windowed.decode(enc.latent!);
    assert.deepEqual(dec.shape, v.shape);
    const decAlone = await whole.decode(alone[1].latent!);
    assertClose(sliceTime(dec, 9, 18).data, decAlone.data, 1e-6, "second window decode");
    await whole.dispose();
    await windowed.dispose();
  },
);

gpuTest(
  "encodeStream() yields each window as it completes, equal to encode(), in one window's memory",
  async (ops) => {
    const tok = await load("DV4x8x8", ops, 9);
    const single = await load("DV4x8x8", ops);
    const frames = 9 * 3 + 5;
    const v = video(frames, 16, 16, 11);
    // Peak of one window through encode + decode, from a settled pool.
    const first = sliceTime(v, 0, 9);
    await single.decode((await single.encode(first)).indices!);
    ops.pool.resetPeak();
    await single.decode((await single.encode(first)).indices!);
    const oneWindowPeak = ops.pool.stats().peakInUse;

    async function* frameByFrame() {
      for (let f = 0; f < frames; f++) {
        const frame = sliceTime(v, f, f + 1);
        yield { data: frame.data, shape: [1, 3, 16, 16] };
      }
    }
    ops.pool.resetPeak();
    const chunks = [];
    for await (const chunk of tok.encodeStream(frameByFrame())) chunks.push(chunk);
    const decoded = [];
    for await (const d of tok.decodeStream(chunks)) decoded.push(d);
    const streamPeak = ops.pool.stats().peakInUse;
    assert.deepEqual(chunks.map((c) => c.frames), [[0, 9], [9, 18], [18, 27], [27, 32]]);
    assert.deepEqual(decoded.map((d) => d.shape[2]), [9, 9, 9, 5]);
    for (const c of chunks) {
      const alone = await single.encode(sliceTime(v, c.frames[0], c.frames[1]));
      assert.deepEqual([...c.indices!.data], [...alone.indices!.data]);
    }
    assert.ok(
      streamPeak <= oneWindowPeak,
      `stream peak ${streamPeak} bytes exceeds one window's ${oneWindowPeak}`,
    );
    await tok.dispose();
    await single.dispose();
  },
);

gpuTest("encode() rejects frame counts that are not 1 + k x tc, and bad windows", async (ops) => {
  const tok = await load("CV8x8x8", ops);
  await assert.rejects(
    tok.encode(video(10, 16, 16, 1)),
    /Cannot encode 10 frames: this tokenizer takes 1 \+ k x 8 frames \(e\.g\. 9 or 17\)/,
  );
  await assert.rejects(
    tok.encode({ data: new Float32Array(3 * 64), shape: [1, 3, 8, 8] }),
    /a video tokenizer takes \[B, 3, T, H, W\]/,
  );
  await assert.rejects(
    tok.decode({ data: new Float32Array(16 * 4), shape: [1, 16, 2, 2] }),
    /expected a latent \[B, 16, t, h, w\]/,
  );
  await tok.dispose();
  const windowed = await load("CV8x8x8", ops, 17);
  await assert.rejects(
    windowed.encode(video(17 + 8, 8, 8, 1)),
    /windows of 17 leave a last window of 8 frames/,
  );
  await windowed.dispose();
  await assert.rejects(
    load("CV8x8x8", ops, 12),
    /Invalid temporal window 12: it must be 1 \+ k x 8 frames/,
  );
  const stream = tok.encodeStream([video(3, 8, 8, 1)]);
  await assert.rejects(stream.next(), /disposed/);
});

gpuTest(
  "a video checkpoint without compression metadata needs a model name or compression",
  async (ops) => {
    const { parseSafetensors, encodeSafetensors } = await import("../mod.ts");
    const strip = async (half: string) => {
      const f = parseSafetensors(
        await Deno.readFile(new URL(`${half}.safetensors`, dir("CV4x8x8"))),
      );
      const tensors: Parameters<typeof encodeSafetensors>[0] = {};
      for (const [name, e] of f.entries) {
        tensors[name] = {
          dtype: e.dtype,
          shape: e.shape,
          data: new Uint16Array(f.raw(name).slice().buffer),
        };
      }
      return encodeSafetensors(tensors);
    };
    const encoder = await strip("encoder"), decoder = await strip("decoder");
    await assert.rejects(
      loadTokenizer({ encoder, decoder, backend: ops }),
      /do not say its compression; pass model/,
    );
    const named = await loadTokenizer({
      encoder,
      decoder,
      backend: ops,
      model: "Cosmos-0.1-Tokenizer-CV4x8x8",
    });
    assert.equal(named.temporalCompression, 4);
    await named.dispose();
    const given = await loadTokenizer({
      encoder,
      decoder,
      backend: ops,
      compression: { spatial: 8, temporal: 4 },
    });
    assert.equal(given.model, "Cosmos-0.1-Tokenizer-CV4x8x8");
    const v = video(5, 16, 16, 3);
    const ref = await load("CV4x8x8", ops);
    assert.deepEqual([...(await given.encode(v)).latent!.data], [
      ...(await ref.encode(v)).latent!.data,
    ]);
    await given.dispose();
    await ref.dispose();
  },
);
