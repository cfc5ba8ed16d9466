/**
 * Whole-clip-exact streaming (Tokenizer.encodeFrames / decodeFrames, src/video_stream.ts): for
 * every video family of the fixtures, on both backends, pixels streamed in three chunkings give
 * the whole-clip `encode` (FSQ indices equal), latent frames decoded one at a time give the
 * whole-clip `decode`, the backend's memory is back where it started once a stream ends, and
 * the engine's errors say what went wrong.
 */
import assert from "node:assert/strict";
import {
  assertClose,
  BACKENDS,
  backendTest,
  FIXTURES,
  kernelTest,
  randomArray,
} from "./helpers.ts";
import { loadTokenizer, type Tokenizer } from "../mod.ts";
import type { Backend } from "../src/backends/ops.ts";
import type { HostTensor } from "../src/types.ts";
import { concatTime, sliceTime } from "../src/media/windows.ts";
import { generatedCase } from "./generated_cases.ts";
import { convParams, normParams } from "../src/nn/params.ts";

const VIDEO_VARIANTS = ["CV4x8x8", "CV8x8x8", "CV8x16x16", "DV4x8x8", "DV8x8x8", "DV8x16x16"];

function load(variant: string, backend: Backend): Promise<Tokenizer> {
  const dir = new URL(`${variant}/`, FIXTURES);
  return loadTokenizer({
    encoder: new URL("encoder.safetensors", dir).pathname,
    decoder: new URL("decoder.safetensors", dir).pathname,
    model: variant,
    backend,
  });
}

/** A smooth random clip [1, 3, frames, h, w] in [-1, 1]. */
function clip(frames: number, h: number, w: number, seed: number): HostTensor {
  const noise = randomArray(3 * frames * h * w, seed);
  const data = noise.map((v, i) => 0.6 * Math.sin(i * 0.05 + seed) + 0.3 * v);
  return { data, shape: [1, 3, frames, h, w] };
}

/** The clip cut into pieces of `size` frames ([B, 3, H, W] frames when size is 1). */
function* pieces(v: HostTensor, size: number): Generator<HostTensor> {
  const t = v.shape[2];
  for (let t0 = 0; t0 < t; t0 += size) {
    const piece = sliceTime(v, t0, Math.min(t, t0 + size));
    yield size === 1 ? { data: piece.data, shape: [1, 3, ...v.shape.slice(3)] } : piece;
  }
}

const tokensOf = (r: { latent?: HostTensor; indices?: HostTensor }) => (r.latent ?? r.indices)!;

for (const variant of VIDEO_VARIANTS) {
  for (const backend of BACKENDS) {
    backendTest(
      `encodeFrames() and decodeFrames() equal whole-clip encode() and decode(): ${variant}`,
      backend,
      async (ops) => {
        const tok = await load(variant, ops);
        const tc = tok.temporalCompression;
        const frames = 1 + 2 * tc; // three latent frames
        const v = clip(frames, 32, 32, frames + tc);
        const whole = await tok.encode(v);
        // After a whole pass each way: the layers' first calls decide which Winograd transforms
        // the backend keeps with the weights (wasm), which no stream may add to.
        const decoded = await tok.decode(tokensOf(whole));
        const axis = tok.discrete ? 1 : 2;
        const before = ops.memoryStats().inUse;
        for (const [size, perStep] of [[1, 1], [5, 2], [frames, 1]]) {
          const chunks = [];
          const stream = tok.encodeFrames(pieces(v, size), { latentFramesPerStep: perStep });
          for await (const c of stream) chunks.push(c);
          assert.deepEqual(
            chunks.map((c) => c.frames),
            [[0, 1], [1, 1 + tc], [1 + tc, frames]],
            `frames covered, pieces of ${size}`,
          );
          const streamed = concatTime(chunks.map(tokensOf), axis);
          assert.deepEqual(streamed.shape, tokensOf(whole).shape);
          if (tok.discrete) {
            assert.deepEqual(
              [...streamed.data],
              [...whole.indices!.data],
              `indices, pieces of ${size}`,
            );
            assertClose(
              concatTime(chunks.map((c) => c.codes!)).data,
              whole.codes!.data,
              1e-6,
              "codes",
            );
          } else {
            assertClose(streamed.data, whole.latent!.data, 1e-5, `latent, pieces of ${size}`);
          }
        }
        assert.equal(ops.memoryStats().inUse, before, "a finished stream holds no memory");
        assert.equal(ops.memoryStats().parked, 0, "nor anything parked");
        const parts = [];
        for await (const d of tok.decodeFrames([tokensOf(whole)])) parts.push(d);
        assert.deepEqual(parts.map((p) => p.shape[2]), [1, tc, tc]);
        // reuseOutput: the same pixels, and the two steps of tc frames in one array.
        const reused: HostTensor[] = [], arrays: unknown[] = [];
        for await (const d of tok.decodeFrames([tokensOf(whole)], { reuseOutput: true })) {
          arrays.push(d.data);
          reused.push({ data: d.data.slice(), shape: d.shape });
        }
        assert.equal(arrays[1], arrays[2], "latent frames 1 and 2 read into one array");
        assert.deepEqual(concatTime(reused).data, concatTime(parts).data);
        assertClose(
          concatTime(parts).data,
          decoded.data,
          1e-5,
          "decoded one latent frame at a time",
        );
        // encodeFrames' items go straight into decodeFrames.
        const items = [];
        for await (const c of tok.encodeFrames(pieces(v, frames))) items.push(c);
        const again = [];
        for await (const d of tok.decodeFrames(items)) again.push(d);
        assertClose(concatTime(again).data, decoded.data, 1e-5, "decodeFrames(encodeFrames())");
        assert.equal(ops.memoryStats().inUse, before, "a finished decode stream holds no memory");
        assert.equal(ops.memoryStats().parked, 0, "nor anything parked");
        await tok.dispose();
      },
    );
  }
}

backendTest(
  "a stream of 1 + 8 x tc frames equals the whole clip, and causality holds across steps",
  "wasm",
  async (ops) => {
    const tok = await load("CV4x8x8", ops);
    const frames = 1 + 8 * 4;
    const v = clip(frames, 16, 16, 3);
    const whole = await tok.encode(v);
    const chunks = [];
    for await (const c of tok.encodeFrames(pieces(v, 3))) chunks.push(c);
    assert.equal(chunks.length, 9);
    assertClose(concatTime(chunks.map(tokensOf)).data, whole.latent!.data, 1e-5, "latent");
    // Latent frames 0..4 of the first 17 frames equal those of the 33-frame clip.
    const short = [];
    for await (const c of tok.encodeFrames(pieces(sliceTime(v, 0, 17), 17))) short.push(c);
    for (let i = 0; i < short.length; i++) {
      assert.deepEqual(
        [...short[i].latent!.data],
        [...chunks[i].latent!.data],
        `latent frame ${i}`,
      );
    }
    await tok.dispose();
  },
);

backendTest(
  "encodeFrames() and decodeFrames() say what is wrong with a stream",
  "wasm",
  async (ops) => {
    const tok = await load("CV8x8x8", ops);
    const drain = async (gen: AsyncGenerator<unknown>) => {
      for await (const _ of gen) { /* consume */ }
    };
    await assert.rejects(
      drain(tok.encodeFrames([clip(12, 8, 8, 1)])),
      /the stream ended 3 frame\(s\) into a latent frame of 8; a video has 1 \+ k x 8 frames/,
    );
    await assert.rejects(drain(tok.encodeFrames([])), /the stream had no frames/);
    await assert.rejects(
      drain(tok.encodeFrames([clip(1, 8, 8, 1)], { latentFramesPerStep: 0 })),
      /latentFramesPerStep must be a whole number >= 1, got 0/,
    );
    await assert.rejects(
      drain(tok.encodeFrames([clip(1, 8, 8, 1), clip(8, 16, 16, 1)])),
      /Frames of shape \[1, 3, 8, 16, 16\] do not continue \[1, 3, 1, 8, 8\]/,
    );
    await assert.rejects(
      drain(tok.encodeFrames([{ data: new Float32Array(3), shape: [3] }])),
      /expected frames \[B, 3, H, W\] or clips \[B, 3, t, H, W\], got \[3\]/,
    );
    await assert.rejects(
      drain(tok.encodeFrames([clip(1, 12, 8, 1)])),
      /height and width must be multiples of 8/,
    );
    await assert.rejects(
      drain(tok.decodeFrames([{ data: new Float32Array(16), shape: [1, 16, 1, 1] }])),
      /expected a latent \[B, 16, t, h, w\]/,
    );
    await assert.rejects(drain(tok.decodeFrames([{} as HostTensor])), /neither latent nor indices/);
    const before = ops.memoryStats().inUse;
    // A consumer that stops early leaves nothing behind.
    for await (const _ of tok.encodeFrames([clip(17, 8, 8, 2)])) break;
    assert.equal(ops.memoryStats().inUse, before);
    assert.equal(ops.memoryStats().parked, 0);
    await tok.dispose();
    await assert.rejects(drain(tok.encodeFrames([clip(1, 8, 8, 1)])), /disposed/);
    const image = await loadTokenizer({
      encoder: new URL("CI8x8/encoder.safetensors", FIXTURES).pathname,
      backend: ops,
    });
    await assert.rejects(drain(image.encodeFrames([clip(1, 8, 8, 1)])), /image tokenizer/);
    await image.dispose();
  },
);

/** The reference's tolerance for the generated cases (their README): max |diff| / max |ref|. */
const REFERENCE_TOL = 1e-4;

for (const name of ["cv4x8x8_narrow_33x16x16", "dv8x8x8_narrow_65x16x16"]) {
  for (const backend of BACKENDS) {
    backendTest(
      `${name} streamed frame by frame and decoded three latent frames a step matches the reference`,
      backend,
      async (ops) => {
        const g = await generatedCase(name);
        const tok = await loadTokenizer({
          encoder: g.encoder,
          decoder: g.decoder,
          compression: g.compression,
          backend: ops,
        });
        const chunks = [];
        for await (const c of tok.encodeFrames(pieces(g.want("input"), 1))) chunks.push(c);
        assert.equal(chunks.length, 9, "k = 8: nine latent frames");
        let tokens: HostTensor;
        if (tok.discrete) {
          tokens = concatTime(chunks.map((c) => c.indices!), 1);
          assert.deepEqual([...tokens.data], [...g.want("indices").data], "indices");
          assertClose(concatTime(chunks.map((c) => c.codes!)).data, g.want("codes").data, 1e-6);
        } else {
          tokens = concatTime(chunks.map((c) => c.latent!));
          assertClose(tokens.data, g.want("latent").data, REFERENCE_TOL, "latent");
        }
        const frames = [];
        for await (const f of tok.decodeFrames([tokens], { latentFramesPerStep: 3 })) {
          frames.push(f);
        }
        assert.equal(frames.length, 9, "one group of pixel frames per latent frame");
        const rec = concatTime(frames);
        assertClose(rec.data, g.want("reconstruction").data, REFERENCE_TOL, "reconstruction");
        await tok.dispose();
      },
    );
  }
}

backendTest(
  "encodeStream() and decodeStream() without a window stream the whole clip exactly",
  "wasm",
  async (ops) => {
    const tok = await load("DV4x8x8", ops);
    const v = clip(25, 16, 16, 9); // 25 = 1 + 6 x 4: the tail that windows of 17 could not take
    const whole = await tok.encode(v);
    const chunks = [];
    for await (const c of tok.encodeStream(pieces(v, 1))) chunks.push(c);
    assert.deepEqual(chunks.map((c) => c.window), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(chunks[6].frames, [21, 25]);
    const indices = concatTime(chunks.map((c) => c.indices!), 1);
    assert.deepEqual([...indices.data], [...whole.indices!.data]);
    const frames = [];
    for await (const f of tok.decodeStream(chunks)) frames.push(f);
    assert.deepEqual(frames.map((f) => f.shape[2]), [1, 4, 4, 4, 4, 4, 4]);
    assertClose(concatTime(frames).data, (await tok.decode(whole.indices!)).data, 1e-5);
    await tok.dispose();
  },
);

backendTest(
  "encode() and decode() of a clip above one step's budget run through the engine, same results",
  "wasm",
  async (ops) => {
    const tok = await load("CV4x8x8", ops);
    // 33 x 256 x 256 input pixel frames: over twice 16 x 256 x 256, so steps of 4 latent frames.
    const v = clip(33, 256, 256, 5);
    const onePass = async () => {}; // a probe makes encode/decode take one whole-clip pass
    ops.resetPeak();
    const streamed = await tok.encode(v);
    // The stepped pass's state waits between steps parked, outside the heap: both count.
    const stepped = () => ops.memoryStats().peakHeld;
    const streamPeak = stepped();
    assert.ok(ops.memoryStats().peakParked > 0, "the carried state was parked");
    ops.resetPeak();
    const whole = await tok.encode(v, onePass);
    const wholePeak = ops.memoryStats().peakInUse;
    assert.ok(streamPeak < wholePeak, `stepped peak ${streamPeak} >= one pass's ${wholePeak}`);
    assert.deepEqual(streamed.latent!.shape, [1, 16, 9, 32, 32]);
    assertClose(streamed.latent!.data, whole.latent!.data, 1e-5, "latent");
    ops.resetPeak();
    const rec = await tok.decode(whole.latent!);
    const decodePeak = stepped();
    ops.resetPeak();
    const recWhole = await tok.decode(whole.latent!, onePass);
    const decodeWholePeak = ops.memoryStats().peakInUse;
    assert.ok(decodePeak < decodeWholePeak, `decode: ${decodePeak} >= ${decodeWholePeak}`);
    assertClose(rec.data, recWhole.data, 1e-5, "decoded");
    assert.deepEqual(rec.shape, [1, 3, 33, 256, 256]);
    await tok.dispose();
  },
);

kernelTest(
  "attention(qkv, 'temporal', { queries }) gives the last frames of the whole",
  async (ops) => {
    const shape = [2, 3 * 8, 5, 3, 2];
    const qkv = ops.upload({ data: randomArray(2 * 24 * 5 * 6, 21), shape });
    const whole = await ops.read(ops.attention(qkv, "temporal"));
    for (const queries of [1, 2, 5]) {
      const part = ops.attention(qkv, "temporal", { queries });
      const got = await ops.read(part);
      ops.release(part);
      assert.deepEqual(got.shape, [2, 8, queries, 3, 2]);
      const want = sliceTime(whole, 5 - queries, 5);
      assertClose(got.data, want.data, 1e-6, `last ${queries} frames`);
    }
    assert.throws(
      () => ops.attention(qkv, "temporal", { queries: 6 }),
      /queries must be 1 to 5 frames, got 6/,
    );
    assert.throws(
      () => ops.attention(qkv, "temporal", { queries: 0 }),
      /queries must be 1 to 5 frames, got 0/,
    );
    assert.throws(
      () => ops.attention(qkv, "spatial", { queries: 1 }),
      /queries apply to temporal attention/,
    );
    ops.release(qkv);
  },
);

/** Channels [c0, c1) and frames [t0, t1) of a host [B, C, T, P...] tensor. */
function channelsFrames(x: HostTensor, c0: number, c1: number, t0: number, t1: number) {
  const [b, c, t, ...rest] = x.shape;
  const p = rest.reduce((a, n) => a * n, 1);
  const out = new Float32Array(b * (c1 - c0) * (t1 - t0) * p);
  let i = 0;
  for (let bi = 0; bi < b; bi++) {
    for (let ci = c0; ci < c1; ci++) {
      const from = ((bi * c + ci) * t + t0) * p;
      out.set(x.data.subarray(from, from + (t1 - t0) * p) as Float32Array, i);
      i += (t1 - t0) * p;
    }
  }
  return { data: out, shape: [b, c1 - c0, t1 - t0, ...rest] };
}

kernelTest(
  "attention(q, 'temporal', { keysValues }) equals the packed q/k/v's last frames",
  async (ops) => {
    const c = 8,
      frames = 5,
      host = { data: randomArray(2 * 24 * 5 * 6, 22), shape: [2, 24, 5, 3, 2] };
    const qkv = ops.upload(host);
    const whole = await ops.read(ops.attention(qkv, "temporal"));
    const kv = ops.upload(channelsFrames(host, c, 3 * c, 0, frames));
    for (const queries of [1, 3, 5]) {
      const q = ops.upload(channelsFrames(host, 0, c, frames - queries, frames));
      const out = ops.attention(q, "temporal", { keysValues: kv });
      const got = await ops.read(out);
      ops.release(out);
      assert.deepEqual(got.shape, [2, c, queries, 3, 2]);
      assertClose(got.data, sliceTime(whole, frames - queries, frames).data, 1e-6, `${queries}`);
      ops.release(q);
    }
    // Parked as a stream's cache is, a chunk per frame: read a chunk at a time, the same outputs.
    let parked = ops.joinFrames([{ tensor: kv, from: 0, to: 2 }], { park: true });
    for (const [from, to] of [[2, 3], [3, 5]]) {
      const next = ops.joinFrames([{ tensor: parked, from: 0, to: from }, {
        tensor: kv,
        from,
        to,
      }], { park: true });
      ops.release(parked);
      parked = next;
    }
    for (const queries of [1, 2, 5]) {
      const q = ops.upload(channelsFrames(host, 0, c, frames - queries, frames));
      const out = ops.attention(q, "temporal", { keysValues: parked });
      const got = await ops.read(out);
      ops.release(out);
      ops.release(q);
      assertClose(got.data, sliceTime(whole, frames - queries, frames).data, 1e-6, "parked");
    }
    ops.release(parked);
    const q = ops.upload(channelsFrames(host, 0, c, 3, 5));
    assert.throws(
      () => ops.attention(q, "temporal", { keysValues: parked }),
      /Tensor \[2, 16, 5, 3, 2\] was used after release/,
    );
    const bad = (shape: number[]) =>
      ops.upload({ data: new Float32Array(shape.reduce((a, n) => a * n)), shape });
    for (const shape of [[2, 8, 5, 3, 2], [1, 16, 5, 3, 2], [2, 16, 1, 3, 2], [2, 16, 5, 2, 3]]) {
      const t = bad(shape);
      assert.throws(
        () => ops.attention(q, "temporal", { keysValues: t }),
        new RegExp(
          `keysValues \\[${shape.join(", ")}\\] do not fit queries \\[2, 8, 2, 3, 2\\] ` +
            `\\(expected \\[2, 16, T >= 2, 3, 2\\]\\)`,
        ),
      );
      ops.release(t);
    }
    assert.throws(
      () => ops.attention(q, "temporal", { keysValues: kv, queries: 1 }),
      /queries must be the 2 query frames given, got 1/,
    );
    assert.throws(
      () => ops.attention(q, "spatial", { keysValues: kv }),
      /keysValues apply to temporal attention/,
    );
    for (const t of [q, kv, qkv]) ops.release(t);
  },
);

kernelTest(
  "conv(x, w, { context }) continues a causal temporal conv from carried frames",
  async (ops) => {
    const [b, cin, cout, frames, h, w] = [2, 6, 4, 5, 3, 4];
    const host = { data: randomArray(b * cin * frames * h * w, 41), shape: [b, cin, frames, h, w] };
    const conv = convParams(
      ops,
      randomArray(cout * cin * 3, 42),
      [cout, cin, 3, 1, 1],
      randomArray(cout, 43),
    );
    const x = ops.upload(host);
    const resHost = {
      data: randomArray(b * cout * frames * h * w, 44),
      shape: [b, cout, frames, h, w],
    };
    const res = ops.upload(resHost);
    const whole = await ops.read(ops.conv(x, conv, { residual: res }));
    for (const t0 of [2, 3]) {
      const step = ops.joinFrames([{ tensor: x, from: t0, to: frames }]);
      const stepRes = ops.joinFrames([{ tensor: res, from: t0, to: frames }]);
      for (const park of [false, true]) {
        const context = ops.joinFrames([{ tensor: x, from: t0 - 2, to: t0 }], { park });
        const y = ops.conv(step, conv, { context, residual: stepRes });
        const got = await ops.read(y);
        ops.release(y);
        ops.release(context);
        assert.deepEqual(got.shape, [b, cout, frames - t0, h, w]);
        assertClose(
          got.data,
          sliceTime(whole, t0, frames).data,
          1e-6,
          `from ${t0}, parked ${park}`,
        );
      }
      ops.release(step);
      ops.release(stepRes);
    }
    const context = ops.joinFrames([{ tensor: x, from: 0, to: 2 }]);
    const spatial = convParams(
      ops,
      randomArray(cout * cin * 9, 45),
      [cout, cin, 1, 3, 3],
      randomArray(cout, 46),
    );
    const stats = ops.groupNormStats(x, { groups: 2, eps: 1e-6, perFrame: true });
    const norm = normParams(ops, randomArray(cin, 47), randomArray(cin, 48), 2);
    const fails: [() => unknown, RegExp][] = [
      [
        () => ops.conv(x, spatial, { context }),
        /conv context: only a causal temporal conv \(kt, 1, 1\) of video takes one, not kernel 1,3,3/,
      ],
      [
        () => ops.conv(x, conv, { context, stride: [2, 1, 1] }),
        /conv context: the conv must have stride 1 and no upsample/,
      ],
      [
        () => ops.conv(x, conv, { context, padTime: 0 }),
        /conv context: padTime must be kt - 1 = 2/,
      ],
      [
        () => ops.conv(x, conv, { context, norm: { stats, weights: norm, silu: false } }),
        /conv context: a fused norm cannot be applied to carried frames/,
      ],
      [
        () => ops.conv(x, conv, { context: x }),
        /conv context: expected \[2, 6, 2, 3, 4\] \(kt - 1 frames like the input's\), got \[2, 6, 5, 3, 4\]/,
      ],
    ];
    for (const [run, message] of fails) assert.throws(run, message);
    for (
      const t of [
        context,
        stats,
        x,
        res,
        conv.weight,
        conv.bias,
        spatial.weight,
        spatial.bias,
        norm.gammaBeta,
      ]
    ) {
      ops.release(t);
    }
  },
);

for (const backend of BACKENDS) {
  backendTest(
    "read() into an array refuses one of another size or type, saying both",
    backend,
    async (ops) => {
      const t = ops.upload({ data: new Float32Array([1, 2, 3, 4]), shape: [1, 1, 1, 2, 2] });
      try {
        await assert.rejects(
          ops.read(t, new Float32Array(3)),
          /Cannot read a tensor of 4 f32 values into a Float32Array of 3/,
        );
        await assert.rejects(ops.read(t, new Int32Array(4)), /into an Int32Array of 4/);
        const into = new Float32Array(4);
        const r = await ops.read(t, into);
        assert.equal(r.data, into);
        assert.deepEqual([...into], [1, 2, 3, 4]);
      } finally {
        ops.release(t);
      }
    },
  );
}

Deno.test("a stream whose carried state passes the WebAssembly parkedBytes budget fails clearly, holding nothing parked or in the heap", async () => {
  const dir = new URL("CV4x8x8/", FIXTURES);
  const tok = await loadTokenizer({
    encoder: new URL("encoder.safetensors", dir).pathname,
    decoder: new URL("decoder.safetensors", dir).pathname,
    model: "CV4x8x8",
    backend: "wasm",
    // No Winograd weight cache: what it keeps (by design) would count as held.
    wasm: { threads: 1, parkedBytes: 4096, winogradCacheBytes: 0 },
  });
  try {
    const before = tok.memoryStats().inUse;
    await assert.rejects(
      (async () => {
        for await (const _ of tok.encodeFrames([clip(9, 16, 16, 3)])) { /* drain */ }
      })(),
      /Cannot hold \d+ bytes outside the WebAssembly heap \(stream state and row bands\): more than the backend.s parkedBytes budget of 4096; raise wasm.parkedBytes/,
    );
    assert.equal(tok.memoryStats().parked, 0, "nothing stays parked");
    // The failed step's own tensors are freed with the stream (src/backends/scopes.ts).
    assert.equal(tok.memoryStats().inUse, before, "the heap holds what it held before");
  } finally {
    await tok.dispose();
  }
  await assert.rejects(
    loadTokenizer({
      encoder: new URL("encoder.safetensors", dir).pathname,
      model: "CV4x8x8",
      backend: "wasm",
      wasm: { parkedBytes: -1 },
    }),
    /parkedBytes must be a number >= 0, got -1/,
  );
});

Deno.test("a one-frame clip over a step's pixels runs in one pass, parking nothing", async () => {
  // 1 x 1024 x 2304 is over twice the engine's step budget (16 x 256 x 256 pixel-frames), so a
  // longer clip of it would stream; with one frame the stream is one step, which would also
  // park every causal layer's carried frames (for one 4K frame of the official width,
  // gigabytes). That one pass equals the stream is tested above ("three chunkings").
  const dir = new URL("CV4x8x8/", FIXTURES);
  const tok = await loadTokenizer({
    encoder: new URL("encoder.safetensors", dir).pathname,
    decoder: new URL("decoder.safetensors", dir).pathname,
    model: "CV4x8x8",
    backend: "wasm",
    wasm: { threads: 2, winogradCacheBytes: 0 },
  });
  try {
    const input = clip(1, 1024, 2304, 7);
    const { latent } = await tok.encode(input);
    assert.equal(tok.memoryStats().peakParked, 0, "the encode parked nothing");
    const rec = await tok.decode(latent!);
    assert.equal(tok.memoryStats().peakParked, 0, "the decode parked nothing");
    assert.deepEqual(rec.shape, input.shape);
  } finally {
    await tok.dispose();
  }
});
