/**
 * The public tokenizer API: load-time errors (missing, swapped, mismatched, damaged or unreachable
 * weights), call-time input checks, dispose, and concurrent and batched calls.
 */

import assert from "node:assert/strict";
import { assertClose, GPU_TEST, gpuOps, gpuTest, randomArray, wasmOps } from "./helpers.ts";
import { encodeSafetensors, loadTokenizer, parseSafetensors, type Tokenizer } from "../mod.ts";
import type { SafetensorsDtype, SafetensorsFile } from "../src/weights/safetensors.ts";
import type { WebGpuOps } from "../src/backends/webgpu/backend.ts";
import type { HostTensor } from "../src/types.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);

/** Path of a fixture checkpoint half, e.g. weights("CI8x8", "encoder"). */
function weights(variant: string, half: "encoder" | "decoder"): string {
  return new URL(`${variant}/${half}.safetensors`, FIXTURES).pathname;
}

/**
 * A test of an error raised before any device is needed. The shared backend is still passed when
 * there is one, so that a check that stops firing never creates a device of its own.
 */
function loadErrorTest(name: string, fn: (ops: WebGpuOps | undefined) => Promise<void>): void {
  Deno.test({
    name,
    ...GPU_TEST,
    async fn() {
      await fn((await gpuOps()) ?? undefined);
    },
  });
}

type Edit = {
  dtype: SafetensorsDtype;
  shape: number[];
  data: Float32Array | Int32Array | Uint8Array | Uint16Array | BigInt64Array;
};

/** A tensor of a parsed file as encodeSafetensors takes it, keeping its dtype and bytes. */
function tensorOf(file: SafetensorsFile, name: string): Edit {
  const { dtype, shape } = file.entries.get(name)!;
  const bytes = file.raw(name).slice(); // a fresh, aligned copy
  const data = {
    F32: () => new Float32Array(bytes.buffer),
    F16: () => new Uint16Array(bytes.buffer),
    BF16: () => new Uint16Array(bytes.buffer),
    I32: () => new Int32Array(bytes.buffer),
    I64: () => new BigInt64Array(bytes.buffer),
    U8: () => bytes,
  }[dtype]();
  return { dtype, shape: [...shape], data };
}

/**
 * Re-encodes a fixture checkpoint after `edit`, which may replace a tensor, drop it (null) or keep
 * it (undefined); `extra` tensors are appended.
 */
async function editedCheckpoint(
  path: string,
  edit: (name: string, tensor: Edit) => Edit | null | undefined,
  extra: Record<string, Edit> = {},
): Promise<Uint8Array> {
  const file = parseSafetensors(await Deno.readFile(path), path);
  const tensors: Record<string, Edit> = {};
  for (const name of file.entries.keys()) {
    const tensor = tensorOf(file, name);
    const edited = edit(name, tensor);
    if (edited !== null) tensors[name] = edited ?? tensor;
  }
  return encodeSafetensors({ ...tensors, ...extra }, file.metadata);
}

function image(shape: number[], seed: number): HostTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  return { data: randomArray(n, seed), shape };
}

function zeros(shape: number[]): HostTensor {
  return { data: new Float32Array(shape.reduce((a, b) => a * b, 1)), shape };
}

/** Asserts two host tensors have the same shape and values within `tol` (relative). */
function assertSameTensor(got: HostTensor, want: HostTensor, tol: number, what: string): void {
  assert.deepEqual(got.shape, want.shape, `${what} shape`);
  assert.equal(got.data.constructor, want.data.constructor, `${what} type`);
  assertClose(got.data, want.data, tol, what);
}

// Tokenizers shared by the call-time tests (loading is slow on llvmpipe); disposed by the last test.
const shared = new Map<string, Promise<Tokenizer>>();

function sharedTokenizer(ops: WebGpuOps, variant: "CI8x8" | "DI8x8"): Promise<Tokenizer> {
  let tok = shared.get(variant);
  if (!tok) {
    tok = loadTokenizer({
      encoder: weights(variant, "encoder"),
      decoder: weights(variant, "decoder"),
      backend: ops,
    });
    shared.set(variant, tok);
  }
  return tok;
}

// ---------------------------------------------------------------------------------------------
// Load-time errors

loadErrorTest(
  "loadTokenizer() rejects options with neither an encoder nor a decoder",
  async (ops) => {
    await assert.rejects(loadTokenizer({ backend: ops }), /give an encoder, a decoder, or both/);
    // A model name alone is resolved on the hub; with the hub unreachable that fails clearly.
    const cacheDir = await Deno.makeTempDir();
    try {
      await assert.rejects(
        loadTokenizer({
          model: "CI8x8",
          backend: ops,
          hub: { endpoint: "http://127.0.0.1:9", cacheDir },
        }),
        /Cannot download "encoder\.jit" from nvidia\/Cosmos-0\.1-Tokenizer-CI8x8/,
      );
    } finally {
      await Deno.remove(cacheDir, { recursive: true });
    }
  },
);

loadErrorTest(
  "loadTokenizer() rejects an unknown model name, listing the official names",
  async (ops) => {
    await assert.rejects(
      loadTokenizer({
        encoder: weights("CI8x8", "encoder"),
        model: "Cosmos-9-Tokenizer-XX1x1",
        backend: ops,
      }),
      /Unknown model "Cosmos-9-Tokenizer-XX1x1": expected one of .*Cosmos-0\.1-Tokenizer-CI8x8, Cosmos-0\.1-Tokenizer-CI16x16, Cosmos-0\.1-Tokenizer-DI8x8, Cosmos-0\.1-Tokenizer-DI16x16/,
    );
  },
);

loadErrorTest("loadTokenizer() rejects weights that do not match the model name", async (ops) => {
  await assert.rejects(
    loadTokenizer({
      encoder: weights("CI8x8", "encoder"),
      model: "Cosmos-0.1-Tokenizer-DI16x16",
      backend: ops,
    }),
    /Cannot load encoder: ".*CI8x8\/encoder\.safetensors" holds a Cosmos-0\.1-Tokenizer-CI8x8 encoder, not Cosmos-0\.1-Tokenizer-DI16x16/,
  );
  await assert.rejects(
    loadTokenizer({ decoder: weights("CI8x8", "decoder"), model: "DI8x8", backend: ops }),
    /Cannot load decoder: ".*CI8x8\/decoder\.safetensors" holds a Cosmos-0\.1-Tokenizer-CI8x8 decoder, not Cosmos-0\.1-Tokenizer-DI8x8/,
  );
});

loadErrorTest("loadTokenizer() rejects a decoder given as encoder", async (ops) => {
  await assert.rejects(
    loadTokenizer({ encoder: weights("CI8x8", "decoder"), backend: ops }),
    /Cannot load encoder: ".*CI8x8\/decoder\.safetensors" holds a decoder, not an encoder \(were the encoder and decoder files swapped\?\)/,
  );
  await assert.rejects(
    loadTokenizer({
      encoder: weights("CI8x8", "decoder"),
      decoder: weights("CI8x8", "encoder"),
      backend: ops,
    }),
    /Cannot load encoder: ".*CI8x8\/decoder\.safetensors" holds a decoder.*swapped/,
  );
});

loadErrorTest("loadTokenizer() rejects an encoder given as decoder", async (ops) => {
  await assert.rejects(
    loadTokenizer({ decoder: weights("DI8x8", "encoder"), backend: ops }),
    /Cannot load decoder: ".*DI8x8\/encoder\.safetensors" holds an? encoder, not an? decoder.*swapped/,
  );
});

gpuTest("loadTokenizer() rejects a checkpoint missing a tensor, naming it", async (ops) => {
  const bytes = await editedCheckpoint(
    weights("CI8x8", "encoder"),
    (name) => name === "encoder.mid.block_1.conv2.weight" ? null : undefined,
  );
  await assert.rejects(
    loadTokenizer({ encoder: bytes, backend: ops }),
    /Cannot load encoder: "<encoder bytes>" has no tensor "encoder\.mid\.block_1\.conv2\.weight"/,
  );
});

gpuTest(
  "loadTokenizer() rejects a tensor of the wrong shape, naming it and the expected shape",
  async (ops) => {
    const bytes = await editedCheckpoint(
      weights("CI8x8", "encoder"),
      (name, t) =>
        name === "encoder.norm_out.weight"
          ? { dtype: t.dtype, shape: [127], data: t.data.slice(0, 127) as Uint16Array }
          : undefined,
    );
    await assert.rejects(
      loadTokenizer({ encoder: bytes, backend: ops }),
      /Cannot load encoder: tensor "encoder\.norm_out\.weight" in "<encoder bytes>" has shape \[127\], expected \[128\]/,
    );
  },
);

gpuTest("loadTokenizer() rejects a tensor the architecture does not use", async (ops) => {
  const bytes = await editedCheckpoint(weights("CI8x8", "decoder"), () => undefined, {
    "decoder.extra.weight": { dtype: "F32", shape: [4], data: new Float32Array(4) },
  });
  await assert.rejects(
    loadTokenizer({ decoder: bytes, backend: ops }),
    /Cannot load decoder: "<decoder bytes>" has 1 tensor\(s\) this architecture does not use, e\.g\. "decoder\.extra\.weight"/,
  );
});

loadErrorTest("loadTokenizer() rejects a truncated checkpoint", async (ops) => {
  const bytes = await Deno.readFile(weights("CI8x8", "encoder"));
  await assert.rejects(
    loadTokenizer({ encoder: bytes.subarray(0, bytes.length >> 1), backend: ops }),
    /Invalid safetensors file "<encoder bytes>": truncated data section/,
  );
  // The ArrayBuffer form of the same bytes.
  await assert.rejects(
    loadTokenizer({ decoder: bytes.slice(0, 1000).buffer, backend: ops }),
    /Invalid safetensors file "<decoder bytes>": truncated/,
  );
});

loadErrorTest("loadTokenizer() rejects a path that does not exist", async (ops) => {
  const missing = new URL("does-not-exist/encoder.safetensors", FIXTURES).pathname;
  await assert.rejects(
    loadTokenizer({ encoder: missing, backend: ops }),
    /Cannot read encoder ".*does-not-exist\/encoder\.safetensors"/,
  );
  await assert.rejects(
    loadTokenizer({ encoder: weights("CI8x8", "encoder"), decoder: missing, backend: ops }),
    /Cannot read decoder ".*does-not-exist/,
  );
});

gpuTest(
  "loadTokenizer() loads from a URL and rejects a URL that fails with its HTTP status",
  async (ops) => {
    const encoderBytes = await Deno.readFile(weights("CI8x8", "encoder"));
    const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
      const path = new URL(req.url).pathname;
      if (path === "/CI8x8/encoder.safetensors") return new Response(encoderBytes);
      return new Response("not here", { status: 404, statusText: "Not Found" });
    });
    try {
      const base = `http://127.0.0.1:${server.addr.port}`;
      await assert.rejects(
        loadTokenizer({ encoder: `${base}/missing.safetensors`, backend: ops }),
        /Cannot fetch encoder "http:\/\/127\.0\.0\.1:\d+\/missing\.safetensors": HTTP 404/,
      );
      await assert.rejects(
        loadTokenizer({ decoder: new URL(`${base}/missing.safetensors`), backend: ops }),
        /Cannot fetch decoder ".*": HTTP 404/,
      );
      const tok = await loadTokenizer({
        encoder: `${base}/CI8x8/encoder.safetensors`,
        backend: ops,
      });
      try {
        assert.equal(tok.model, "Cosmos-0.1-Tokenizer-CI8x8");
        const { latent, indices } = await tok.encode(zeros([1, 3, 16, 16]));
        assert.equal(indices, undefined);
        assert.deepEqual(latent!.shape, [1, 16, 2, 2]);
        assert.ok(latent!.data.every(Number.isFinite));
      } finally {
        await tok.dispose();
      }
    } finally {
      await server.shutdown();
    }
  },
);

loadErrorTest(
  "loadTokenizer() rejects an encoder and a decoder of different variants",
  async (ops) => {
    await assert.rejects(
      loadTokenizer({
        encoder: weights("CI8x8", "encoder"),
        decoder: weights("CI16x16", "decoder"),
        backend: ops,
      }),
      /Cannot load tokenizer: encoder ".*CI8x8\/encoder\.safetensors" \(16 latent channels, 8x\) and decoder ".*CI16x16\/decoder\.safetensors" \(16 latent channels, 16x\) do not belong together/,
    );
    await assert.rejects(
      loadTokenizer({
        encoder: weights("DI8x8", "encoder"),
        decoder: weights("CI8x8", "decoder"),
        backend: ops,
      }),
      /\(6 latent channels, 8x\) and decoder .* \(16 latent channels, 8x\) do not belong together/,
    );
  },
);

// ---------------------------------------------------------------------------------------------
// Successful loads

gpuTest("loadTokenizer() infers the model name and kind from the weights", async (ops) => {
  const ci = await sharedTokenizer(ops, "CI8x8");
  assert.equal(ci.model, "Cosmos-0.1-Tokenizer-CI8x8");
  assert.equal(ci.kind, "image");
  assert.equal(ci.discrete, false);
  assert.equal(ci.fsqLevels, null);
  assert.equal(ci.spatialCompression, 8);
  assert.equal(ci.latentChannels, 16);
  const di = await sharedTokenizer(ops, "DI8x8");
  assert.equal(di.model, "Cosmos-0.1-Tokenizer-DI8x8");
  assert.equal(di.discrete, true);
  assert.deepEqual(di.fsqLevels, [8, 8, 8, 5, 5, 5]);
  assert.equal(di.latentChannels, 6);
});

gpuTest(
  "loadTokenizer() resolves a matching short or nvidia/ model name to the official one",
  async (ops) => {
    for (const model of ["CI16x16", "nvidia/Cosmos-0.1-Tokenizer-CI16x16"]) {
      const tok = await loadTokenizer({
        encoder: weights("CI16x16", "encoder"),
        model,
        backend: ops,
      });
      assert.equal(tok.model, "Cosmos-0.1-Tokenizer-CI16x16");
      assert.equal(tok.spatialCompression, 16);
      await tok.dispose();
    }
  },
);

Deno.test({
  name: "loadTokenizer() takes a shared backend as the deprecated ops option and leaves it open",
  ...GPU_TEST,
  async fn() {
    const ops = await wasmOps();
    const tok = await loadTokenizer({ encoder: weights("CI8x8", "encoder"), ops });
    assert.equal(tok.backend, ops.label);
    await tok.dispose();
    const t = ops.upload({ data: new Float32Array([1, 2]), shape: [2] });
    assert.deepEqual([...(await ops.read(t)).data], [1, 2]);
    ops.release(t);
  },
});

gpuTest(
  "loadTokenizer() with only an encoder encodes, and decode rejects with no decoder",
  async (ops) => {
    const tok = await loadTokenizer({ encoder: weights("CI8x8", "encoder"), backend: ops });
    try {
      assert.equal(tok.model, "Cosmos-0.1-Tokenizer-CI8x8");
      const { latent } = await tok.encode(image([1, 3, 16, 16], 7));
      assert.deepEqual(latent!.shape, [1, 16, 2, 2]);
      await assert.rejects(tok.decode(latent!), /Cannot decode: no decoder was loaded/);
    } finally {
      await tok.dispose();
    }
  },
);

gpuTest(
  "loadTokenizer() with only a decoder decodes, and encode rejects with no encoder",
  async (ops) => {
    const tok = await loadTokenizer({ decoder: weights("DI8x8", "decoder"), backend: ops });
    try {
      assert.equal(tok.discrete, true);
      const out = await tok.decode({
        data: new Int32Array([0, 1, 63999, 12345]),
        shape: [1, 2, 2],
      });
      assert.deepEqual(out.shape, [1, 3, 16, 16]);
      await assert.rejects(
        tok.encode(zeros([1, 3, 16, 16])),
        /Cannot encode: no encoder was loaded/,
      );
    } finally {
      await tok.dispose();
    }
  },
);

// ---------------------------------------------------------------------------------------------
// Call-time errors

gpuTest("encode() rejects an input of the wrong rank", async (ops) => {
  const tok = await sharedTokenizer(ops, "CI8x8");
  await assert.rejects(
    tok.encode(zeros([3, 16, 16])),
    /Cannot encode: an image tokenizer takes \[B, 3, H, W\], got rank 3 \[3, 16, 16\]/,
  );
});

gpuTest("encode() rejects an input with the wrong number of channels", async (ops) => {
  const tok = await sharedTokenizer(ops, "CI8x8");
  await assert.rejects(
    tok.encode(zeros([1, 4, 16, 16])),
    /Cannot encode: expected 3 channels \(RGB\), got 4 in \[1, 4, 16, 16\]/,
  );
});

gpuTest("encode() rejects a height or width that is not a multiple of 8", async (ops) => {
  const tok = await sharedTokenizer(ops, "CI8x8");
  await assert.rejects(
    tok.encode(zeros([1, 3, 20, 16])),
    /Cannot encode: height and width must be multiples of 8 for this model, got 20x16/,
  );
  await assert.rejects(tok.encode(zeros([1, 3, 16, 12])), /multiples of 8 .* got 16x12/);
});

gpuTest("encode() rejects NaN and Infinity in the input", async (ops) => {
  const tok = await sharedTokenizer(ops, "CI8x8");
  for (const [value, text] of [[NaN, "NaN"], [Infinity, "Infinity"], [-Infinity, "-Infinity"]]) {
    const x = zeros([1, 3, 16, 16]);
    x.data[100] = value as number;
    await assert.rejects(
      tok.encode(x),
      new RegExp(`Cannot encode: input has a non-finite value \\(${text}\\) at index 100`),
    );
  }
});

gpuTest("encode() rejects Int32Array data", async (ops) => {
  const tok = await sharedTokenizer(ops, "CI8x8");
  await assert.rejects(
    tok.encode({ data: new Int32Array(3 * 16 * 16), shape: [1, 3, 16, 16] }),
    /Cannot encode: expected Float32Array data, got Int32Array/,
  );
});

gpuTest("encode() and decode() reject data whose length does not match the shape", async (ops) => {
  const tok = await sharedTokenizer(ops, "CI8x8");
  await assert.rejects(
    tok.encode({ data: new Float32Array(700), shape: [1, 3, 16, 16] }),
    /Cannot encode: shape \[1, 3, 16, 16\] needs 768 values, data has 700/,
  );
  await assert.rejects(
    tok.decode({ data: new Float32Array(65), shape: [1, 16, 2, 2] }),
    /Cannot decode: shape \[1, 16, 2, 2\] needs 64 values, data has 65/,
  );
  await assert.rejects(
    tok.encode({ data: new Float32Array(0), shape: [1, 3, 0, 16] }),
    /Cannot encode: invalid shape \[1, 3, 0, 16\]/,
  );
});

gpuTest("decode() rejects a latent with the wrong number of channels", async (ops) => {
  const tok = await sharedTokenizer(ops, "CI8x8");
  await assert.rejects(
    tok.decode(zeros([1, 8, 2, 2])),
    /Cannot decode: expected a latent \[B, 16, h, w\], got \[1, 8, 2, 2\]/,
  );
  await assert.rejects(
    tok.decode(zeros([16, 2, 2])),
    /Cannot decode: expected a latent \[B, 16, h, w\], got \[16, 2, 2\]/,
  );
  const nan = zeros([1, 16, 2, 2]);
  nan.data[5] = NaN;
  await assert.rejects(tok.decode(nan), /Cannot decode: latent has a non-finite value \(NaN\)/);
  await assert.rejects(
    tok.decode({ data: new Int32Array(64), shape: [1, 16, 2, 2] }),
    /Cannot decode: a continuous tokenizer takes a Float32Array latent, got Int32Array/,
  );
});

gpuTest("decode() on a discrete tokenizer rejects indices outside the codebook", async (ops) => {
  const tok = await sharedTokenizer(ops, "DI8x8");
  await assert.rejects(
    tok.decode({ data: new Int32Array([0, 1, 64000, 3]), shape: [1, 2, 2] }),
    /Cannot decode: index 64000 at position 2 is outside \[0, 64000\)/,
  );
  await assert.rejects(
    tok.decode({ data: new Int32Array([-1, 1, 2, 3]), shape: [1, 2, 2] }),
    /Cannot decode: index -1 at position 0 is outside \[0, 64000\)/,
  );
  await assert.rejects(
    tok.decode({ data: new Int32Array(4), shape: [1, 1, 2, 2] }),
    /Cannot decode: expected indices \[B, h, w\], got \[1, 1, 2, 2\]/,
  );
});

gpuTest("decode() on a discrete tokenizer rejects float data", async (ops) => {
  const tok = await sharedTokenizer(ops, "DI8x8");
  await assert.rejects(
    tok.decode({ data: new Float32Array(4), shape: [1, 2, 2] }),
    /Cannot decode: a discrete tokenizer takes Int32Array indices, got Float32Array/,
  );
  // The codes an encode returns are not what decode takes either.
  await assert.rejects(
    tok.decode(zeros([1, 6, 2, 2])),
    /a discrete tokenizer takes Int32Array indices, got Float32Array/,
  );
});

// Ignored until src/tokenizer.ts checks #disposed before "no encoder/decoder was loaded": dispose()
// nulls the encoder and decoder, so a later call says "Cannot encode: no encoder was loaded".
gpuTest('a tokenizer rejects calls after dispose() with "disposed"', async (ops) => {
  const tok = await loadTokenizer({
    encoder: weights("CI8x8", "encoder"),
    decoder: weights("CI8x8", "decoder"),
    backend: ops,
  });
  // A call made before dispose() still completes.
  const pending = tok.encode(zeros([1, 3, 16, 16]));
  await tok.dispose();
  assert.deepEqual((await pending).latent!.shape, [1, 16, 2, 2]);
  await assert.rejects(tok.encode(zeros([1, 3, 16, 16])), /disposed/);
  await assert.rejects(tok.decode(zeros([1, 16, 2, 2])), /disposed/);
  await tok.dispose(); // a second dispose is a no-op
});

// ---------------------------------------------------------------------------------------------
// Concurrency and batches

gpuTest(
  "concurrent encode/decode calls give the same results as the calls run alone",
  async (ops) => {
    const tok = await sharedTokenizer(ops, "CI8x8");
    const calls: [string, () => Promise<HostTensor>][] = [
      ["encode 16x16", async () => (await tok.encode(image([1, 3, 16, 16], 11))).latent!],
      ["decode 2x2", () => tok.decode(image([1, 16, 2, 2], 12))],
      ["encode 24x32", async () => (await tok.encode(image([1, 3, 24, 32], 13))).latent!],
      ["decode 3x4", () => tok.decode(image([1, 16, 3, 4], 14))],
      ["encode 16x16 (2)", async () => (await tok.encode(image([1, 3, 16, 16], 15))).latent!],
      ["decode 2x2 (2)", () => tok.decode(image([1, 16, 2, 2], 16))],
      ["encode 24x32 (2)", async () => (await tok.encode(image([1, 3, 24, 32], 17))).latent!],
    ];
    const together = await Promise.all(calls.map(([, call]) => call()));
    for (const [i, [what, call]] of calls.entries()) {
      const alone = await call();
      assertSameTensor(together[i], alone, 1e-6, what);
    }
    assert.deepEqual(together.map((t) => t.shape), [
      [1, 16, 2, 2],
      [1, 3, 16, 16],
      [1, 16, 3, 4],
      [1, 3, 24, 32],
      [1, 16, 2, 2],
      [1, 3, 16, 16],
      [1, 16, 3, 4],
    ]);
    // Different inputs give different outputs: the calls did not share buffers.
    assert.notDeepEqual(together[0].data, together[4].data);
  },
);

gpuTest(
  "concurrent calls on a discrete tokenizer give the same indices as the calls run alone",
  async (ops) => {
    const tok = await sharedTokenizer(ops, "DI8x8");
    const inputs = [
      image([1, 3, 16, 16], 21),
      image([1, 3, 24, 32], 22),
      image([1, 3, 16, 16], 23),
    ];
    const indices: HostTensor = { data: new Int32Array([0, 7, 63999, 31000]), shape: [1, 2, 2] };
    const [together, decoded] = await Promise.all([
      Promise.all(inputs.map((x) => tok.encode(x))),
      tok.decode(indices),
    ]);
    for (const [i, x] of inputs.entries()) {
      const alone = await tok.encode(x);
      assert.deepEqual(together[i].indices!.shape, alone.indices!.shape);
      assert.deepEqual(together[i].indices!.data, alone.indices!.data, `indices of input ${i}`);
      assertSameTensor(together[i].codes!, alone.codes!, 1e-6, `codes of input ${i}`);
      assert.ok(together[i].indices!.data.every((v) => v >= 0 && v < 64000));
    }
    assert.deepEqual(together[1].indices!.shape, [1, 3, 4]);
    assert.deepEqual(together[1].codes!.shape, [1, 6, 3, 4]);
    assertSameTensor(decoded, await tok.decode(indices), 1e-6, "decoded");
  },
);

gpuTest("encode() of a batch equals encoding each item alone", async (ops) => {
  const tok = await sharedTokenizer(ops, "CI8x8");
  const batch = image([2, 3, 16, 16], 31);
  const { latent } = await tok.encode(batch);
  assert.deepEqual(latent!.shape, [2, 16, 2, 2]);
  const n = 3 * 16 * 16, m = 16 * 2 * 2;
  for (let b = 0; b < 2; b++) {
    const item = { data: batch.data.slice(b * n, (b + 1) * n), shape: [1, 3, 16, 16] };
    const alone = (await tok.encode(item)).latent!;
    assertSameTensor(
      { data: latent!.data.slice(b * m, (b + 1) * m), shape: [1, 16, 2, 2] },
      alone,
      1e-5,
      `batch item ${b}`,
    );
  }
});

Deno.test({
  name: "dispose the shared test tokenizers",
  ...GPU_TEST,
  async fn() {
    for (const tok of shared.values()) await (await tok).dispose();
    shared.clear();
  },
});
