/**
 * The tile autotuner (src/backends/webgpu/autotune.ts): every candidate computes the same bits,
 * a class is timed once and its winner serves later dispatches, the decision is written to the
 * cache file and read back by the next backend, and a corrupt or hostile cache file is ignored
 * with a warning that says why.
 */

import assert from "node:assert/strict";
import { WebGpuOps } from "../src/backends/webgpu/backend.ts";
import { GpuRuntime } from "../src/backends/webgpu/runtime.ts";
import { conv } from "../src/backends/webgpu/conv.ts";
import { chooseTiles, type GemmTiles } from "../src/backends/webgpu/gemm.ts";
import {
  adapterKey,
  autotuneEnabled,
  Autotuner,
  shapeClass,
  TILE_CANDIDATES,
  tunedTiles,
} from "../src/backends/webgpu/autotune.ts";
import {
  CACHE_FORMAT,
  CACHE_VERSION,
  fileStore,
  MAX_CACHE_BYTES,
  memoryStore,
  parseTuneCache,
} from "../src/backends/webgpu/autotune_cache.ts";
import { convParams, normParams } from "../src/nn/params.ts";
import type { Backend, Tensor, Uploader } from "../src/backends/ops.ts";
import type { HostTensor } from "../src/types.ts";
import { GPU_TEST, gpuOps, randomArray } from "./helpers.ts";

const numel = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
const host = (shape: number[], seed: number): HostTensor => ({
  data: randomArray(numel(shape), seed),
  shape,
});

/** Bit patterns, so that equal means identical bits (NaN and -0 included). */
const bits = (t: HostTensor) => new Uint32Array(t.data.buffer, t.data.byteOffset, t.data.length);

/**
 * Convolutions of every family at sizes that are multiples of no tile (M 37, N 13 x 11, K not a
 * multiple of BK), with the fusions, and a strided batched matmul; their outputs, read back.
 */
async function kernelOutputs(ops: Backend & Uploader, mm?: WebGpuOps): Promise<HostTensor[]> {
  const out: HostTensor[] = [];
  const x = ops.upload(host([1, 24, 13, 11], 1));
  const residual = ops.upload(host([1, 37, 26, 22], 2));
  const w3 = convParams(ops, randomArray(37 * 24 * 9, 3), [37, 24, 3, 3], randomArray(37, 4));
  const w1 = convParams(ops, randomArray(37 * 24, 5), [37, 24, 1, 1], randomArray(37, 6));
  const stats = ops.groupNormStats(x, { groups: 4, eps: 1e-6 });
  const norm = {
    stats,
    weights: normParams(ops, randomArray(24, 7), randomArray(24, 8), 4),
    silu: true,
  };
  const runs: Tensor[] = [
    ops.conv(x, w3, { norm, upsample: true, residual }),
    ops.conv(x, w1, {}),
    ops.conv(x, w3, { stride: [1, 2, 2], padLow: [0, 0], padHigh: [1, 1] }),
  ];
  const v = ops.upload(host([1, 10, 5, 7, 9], 9));
  const wt = convParams(ops, randomArray(19 * 10 * 3, 10), [19, 10, 3, 1, 1], randomArray(19, 11));
  const w333 = convParams(
    ops,
    randomArray(19 * 10 * 27, 12),
    [19, 10, 3, 3, 3],
    randomArray(19, 13),
  );
  runs.push(ops.conv(v, wt, {}), ops.conv(v, w333, {}));
  for (const t of runs) out.push(await ops.read(t));
  if (mm) {
    // C[b] = A[b] B[b]^T over a packed buffer: attention's strided views.
    const [B, M, N, K] = [3, 29, 41, 23];
    const a = mm.upload(host([B, M, K], 14)) as ReturnType<WebGpuOps["scratch"]>;
    const b = mm.upload(host([B, N, K], 15)) as ReturnType<WebGpuOps["scratch"]>;
    const c = mm.scratch([B, M, N]);
    mm.matmul(a, b, c, { M, N, K, batch: B, alpha: 0.125 }, {
      a: [0, M * K, K, 1],
      b: [0, N * K, 1, K],
      c: [0, M * N, N, 1],
    });
    out.push(await mm.read(c));
  }
  return out;
}

Deno.test({
  name: "TILE_CANDIDATES all give bit-identical conv and matmul outputs",
  ...GPU_TEST,
  async fn() {
    if (!await gpuOps()) return;
    let first: HostTensor[] | null = null;
    for (const tiles of TILE_CANDIDATES) {
      const ops = await WebGpuOps.create({ tiles });
      try {
        const got = await kernelOutputs(ops, ops);
        if (!first) {
          first = got;
          continue;
        }
        got.forEach((t, i) => {
          assert.deepEqual(t.shape, first![i].shape);
          const a = bits(t), b = bits(first![i]);
          const diff = a.findIndex((v, j) => v !== b[j]);
          assert.equal(
            diff,
            -1,
            `output ${i} with tiles ${JSON.stringify(tiles)} differs at ${diff}`,
          );
        });
      } finally {
        ops.destroy();
      }
    }
  },
});

/** Runs `fn` with COSMOS_AUTOTUNE_CACHE pointing at a fresh file, and console.warn captured. */
async function withCacheFile(
  fn: (path: string, warnings: string[]) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "autotune-" });
  const path = `${dir}/sub/autotune.json`;
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
  const old = Deno.env.get("COSMOS_AUTOTUNE_CACHE");
  Deno.env.set("COSMOS_AUTOTUNE_CACHE", path);
  try {
    await fn(path, warnings);
  } finally {
    console.warn = warn;
    if (old === undefined) Deno.env.delete("COSMOS_AUTOTUNE_CACHE");
    else Deno.env.set("COSMOS_AUTOTUNE_CACHE", old);
    await Deno.remove(dir, { recursive: true });
  }
}

/** A 3x3 conv on `ops`, read back. */
async function oneConv(ops: WebGpuOps): Promise<HostTensor> {
  const x = ops.upload(host([1, 32, 20, 20], 21));
  const w = convParams(ops, randomArray(64 * 32 * 9, 22), [64, 32, 3, 3], randomArray(64, 23));
  const y = await ops.read(ops.conv(x, w, {}));
  [x, w.weight, w.bias].forEach((t) => ops.release(t));
  return y;
}

Deno.test({
  name: "Autotuner times a class on first use, keeps the winner and writes the cache file",
  ...GPU_TEST,
  async fn() {
    if (!await gpuOps()) return;
    await withCacheFile(async (path, warnings) => {
      const ops = await WebGpuOps.create({ autotune: true });
      let key: string;
      let before: HostTensor;
      try {
        const tuner = ops.autotuner!;
        assert.ok(tuner, "autotune: true gives a tuner on an adapter with timestamp-query");
        before = await oneConv(ops);
        await tuner.settled();
        assert.equal(tuner.measured, 1);
        const [choice] = tuner.choices();
        key = choice.key;
        assert.equal(key, `conv3x3 ${shapeClass({ M: 64, N: 400, K: 288 })}`);
        assert.equal(choice.source, "measured");
        assert.equal(choice.ms!.length, TILE_CANDIDATES.length);
        assert.ok(choice.ms!.every((t) => t > 0));
        assert.ok(TILE_CANDIDATES.some((c) => JSON.stringify(c) === JSON.stringify(choice.tiles)));
        // The same class again: the winner runs, nothing more is timed, the bits are the same.
        const after = await oneConv(ops);
        await tuner.settled();
        assert.equal(tuner.measured, 1);
        assert.deepEqual(bits(after), bits(before));
        const doc = JSON.parse(await Deno.readTextFile(path));
        assert.equal(doc.format, CACHE_FORMAT);
        assert.equal(doc.version, CACHE_VERSION);
        assert.deepEqual(doc.adapters[tuner.adapter][key].tiles, choice.tiles);
      } finally {
        ops.destroy();
      }
      // A second backend reads the decision back and times nothing.
      const again = await WebGpuOps.create({ autotune: true });
      try {
        const tuner = again.autotuner!;
        assert.equal(tuner.choices()[0].key, key);
        assert.equal(tuner.choices()[0].source, "cache");
        assert.deepEqual(bits(await oneConv(again)), bits(before));
        await tuner.settled();
        assert.equal(tuner.measured, 0);
      } finally {
        again.destroy();
      }
      assert.deepEqual(warnings, []);
    });
  },
});

Deno.test({
  name: "Autotuner ignores a corrupt cache file with a warning and rewrites it",
  ...GPU_TEST,
  async fn() {
    if (!await gpuOps()) return;
    await withCacheFile(async (path, warnings) => {
      await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeTextFile(path, '{"format": "cosmos-webgpu autotune", "version": 1, "adap');
      const ops = await WebGpuOps.create({ autotune: true });
      try {
        assert.equal(warnings.length, 1);
        assert.match(warnings[0], /^Ignoring the autotune cache ".*autotune.json": it is not JSON/);
        assert.match(warnings[0], /It will be rewritten with fresh timings/);
        assert.deepEqual(ops.autotuner!.choices(), []);
        await oneConv(ops);
        await ops.autotuner!.settled();
      } finally {
        ops.destroy();
      }
      const doc = JSON.parse(await Deno.readTextFile(path));
      assert.equal(Object.keys(Object.values(doc.adapters)[0] as object).length, 1);
    });
  },
});

Deno.test({
  name: "Autotuner rejects a cache file naming tiles that are not a candidate",
  ...GPU_TEST,
  async fn() {
    const shared = await gpuOps();
    if (!shared) return;
    await withCacheFile(async (path, warnings) => {
      const hostile = { WG_M: 1024, WG_N: 1024, TM: 64, TN: 64, BK: 4096 };
      const key = `conv3x3 ${shapeClass({ M: 64, N: 400, K: 288 })}`;
      const doc = {
        format: CACHE_FORMAT,
        version: CACHE_VERSION,
        adapters: { [adapterKey(shared.ctx)]: { [key]: { tiles: hostile } } },
      };
      await Deno.mkdir(path.replace(/\/[^/]*$/, ""), { recursive: true });
      await Deno.writeTextFile(path, JSON.stringify(doc));
      const ops = await WebGpuOps.create({ autotune: true });
      try {
        assert.equal(warnings.length, 1);
        assert.match(warnings[0], /names tiles \{"WG_M":1024,.*which are not a candidate/);
        assert.deepEqual(ops.autotuner!.choices(), []);
      } finally {
        ops.destroy();
      }
    });
  },
});

Deno.test("parseTuneCache() says what is wrong with each bad file", () => {
  const ok = (adapters: unknown) =>
    JSON.stringify({ format: CACHE_FORMAT, version: CACHE_VERSION, adapters });
  const good = { tiles: TILE_CANDIDATES[2], ms: [1, 2, 3, 4, 5] };
  assert.deepEqual(parseTuneCache(ok({ a: { k: good } }), TILE_CANDIDATES), { a: { k: good } });
  const cases: [string, RegExp][] = [
    ["x".repeat(MAX_CACHE_BYTES + 1), /more than the 1048576 allowed/],
    ["[1,", /is not JSON/],
    ["[]", /is not an autotune cache/],
    [
      JSON.stringify({ format: CACHE_FORMAT, version: 2, adapters: {} }),
      /version is 2, expected 1/,
    ],
    [ok([]), /"adapters" is not an object/],
    [ok({ a: 5 }), /adapter "a" has no entry object/],
    [ok({ a: { k: {} } }), /entry "k" of adapter "a" has no "tiles"/],
    [ok({ a: { k: { tiles: { ...TILE_CANDIDATES[0], BK: 17 } } } }), /which are not a candidate/],
    [ok({ a: { k: { tiles: TILE_CANDIDATES[0], ms: ["1"] } } }), /"ms" that is not a list/],
    [ok({ a: { k: { tiles: TILE_CANDIDATES[0], ms: new Array(99).fill(1) } } }), /"ms" that/],
    [ok({ ["a".repeat(300)]: {} }), /adapter key is too long/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseTuneCache(text, TILE_CANDIDATES), message);
  }
});

Deno.test("fileStore() rejects an oversized cache file before reading it", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/autotune.json`;
  await Deno.writeFile(path, new Uint8Array(MAX_CACHE_BYTES + 10));
  const warnings: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => warnings.push(args.join(" "));
  try {
    assert.deepEqual(await fileStore(path, TILE_CANDIDATES).load(), {});
  } finally {
    console.warn = warn;
    await Deno.remove(dir, { recursive: true });
  }
  assert.equal(warnings.length, 1);
  assert.match(warnings[0], /has 1048586 bytes, more than the 1048576 allowed/);
});

Deno.test("autotuneEnabled(): the option, else COSMOS_AUTOTUNE, else off; a bad value is refused", () => {
  const old = Deno.env.get("COSMOS_AUTOTUNE");
  try {
    Deno.env.delete("COSMOS_AUTOTUNE");
    assert.equal(autotuneEnabled(), false);
    assert.equal(autotuneEnabled(true), true);
    Deno.env.set("COSMOS_AUTOTUNE", "1");
    assert.equal(autotuneEnabled(), true);
    assert.equal(autotuneEnabled(false), false);
    Deno.env.set("COSMOS_AUTOTUNE", "off");
    assert.equal(autotuneEnabled(), false);
    Deno.env.set("COSMOS_AUTOTUNE", "maybe");
    assert.throws(() => autotuneEnabled(), /Invalid COSMOS_AUTOTUNE "maybe": set it to 1/);
  } finally {
    if (old === undefined) Deno.env.delete("COSMOS_AUTOTUNE");
    else Deno.env.set("COSMOS_AUTOTUNE", old);
  }
});

Deno.test({
  name: "tunedTiles() routes a decided class to its stored tiles and others to the fallback",
  ...GPU_TEST,
  async fn() {
    if (!await gpuOps()) return;
    const rt = await GpuRuntime.create();
    try {
      const fallback: GemmTiles = chooseTiles(rt.ctx);
      const stored = TILE_CANDIDATES[4];
      const dims = { M: 64, N: 400, K: 288 };
      const store = memoryStore();
      await store.save(adapterKey(rt.ctx), { [`conv3x3 ${shapeClass(dims)}`]: { tiles: stored } });
      const tuner = (await Autotuner.create(rt, { store }))!;
      const never = () => {
        throw new Error("a decided class is not timed again");
      };
      assert.deepEqual(
        tunedTiles(rt, fallback, { family: "conv3x3", dims, output: 6, build: never }),
        stored,
      );
      // An undecided class runs the fallback now, and is timed through the real conv.
      const x = rt.upload(host([1, 8, 9, 9], 31));
      const w = convParams(rt, randomArray(16 * 8 * 9, 32), [16, 8, 3, 3], randomArray(16, 33));
      const y = conv(rt, fallback, x, w, {});
      await rt.read(y);
      await tuner.settled();
      assert.equal(tuner.measured, 1);
      assert.equal(tuner.choices().length, 2);
    } finally {
      rt.destroy();
    }
  },
});

Deno.test({
  name: "WebGpuOps.create() has no autotuner by default or when tiles are given",
  ...GPU_TEST,
  async fn() {
    if (!await gpuOps()) return;
    const old = Deno.env.get("COSMOS_AUTOTUNE");
    Deno.env.delete("COSMOS_AUTOTUNE");
    try {
      const plain = await WebGpuOps.create();
      assert.equal(plain.autotuner, null);
      plain.destroy();
      const fixed = await WebGpuOps.create({ autotune: true, tiles: TILE_CANDIDATES[1] });
      assert.equal(fixed.autotuner, null);
      fixed.destroy();
      Deno.env.set("COSMOS_AUTOTUNE", "yes please");
      await assert.rejects(WebGpuOps.create(), /Invalid COSMOS_AUTOTUNE "yes please"/);
    } finally {
      if (old === undefined) Deno.env.delete("COSMOS_AUTOTUNE");
      else Deno.env.set("COSMOS_AUTOTUNE", old);
    }
  },
});
