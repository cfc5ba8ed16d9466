/**
 * The WebAssembly backend's Winograd weight cache (runtime.ts): on by default within
 * WINOGRAD_CACHE_BYTES for calls of at most WINOGRAD_CACHE_MAX_PIXELS output pixels, and a layer
 * that does not fit is transformed per call without evicting the layers kept (evicting the least
 * recently used would keep nothing when a pass cycles through more layers than fit).
 */

import assert from "node:assert/strict";
import { WasmOps } from "../src/backends/wasm/backend.ts";
import { WINOGRAD_CACHE_BYTES, WINOGRAD_CACHE_MAX_PIXELS } from "../src/backends/wasm/options.ts";
import { convParams } from "../src/nn/params.ts";
import { randomArray } from "./helpers.ts";

const [CIN, COUT, H] = [24, 18, 8];
/** Bytes of one layer's transform: 36 positions x Cout (a multiple of 6) x Cin floats. */
const TRANSFORM = 36 * COUT * CIN * 4;

function layer(ops: WasmOps, seed: number) {
  return convParams(
    ops,
    randomArray(COUT * CIN * 9, seed, -0.2, 0.2),
    [COUT, CIN, 3, 3],
    randomArray(COUT, seed + 1),
  );
}

Deno.test("wasm Winograd cache: on by default, within its stated budget", async () => {
  assert.equal(WINOGRAD_CACHE_BYTES, 128 << 20);
  const ops = await WasmOps.create({ threads: 1 });
  try {
    const start = ops.memoryStats().inUse;
    const w = layer(ops, 1);
    const x = ops.upload({ data: randomArray(CIN * H * H, 3), shape: [1, CIN, H, H] });
    const before = ops.memoryStats().inUse;
    ops.release(ops.conv(x, w));
    // The heap rounds blocks up: at least the transform, less than another 64 KiB.
    const held = ops.memoryStats().inUse - before;
    assert.ok(held >= TRANSFORM && held < TRANSFORM + 65536, `held ${held} bytes`);
    for (const t of [w.weight, w.bias, x]) ops.release(t);
    assert.equal(ops.memoryStats().inUse, start, "the transform goes with its layer");
  } finally {
    ops.destroy();
  }
});

Deno.test("wasm Winograd cache: layers past the budget do not evict the ones kept", async () => {
  // Room for one layer's transform of the two that alternate.
  const ops = await WasmOps.create({ threads: 1, winogradCacheBytes: TRANSFORM + 100 });
  const plain = await WasmOps.create({ threads: 1, winogradCacheBytes: 0 });
  try {
    const outs: Float32Array[][] = [];
    for (const o of [ops, plain]) {
      const [a, b] = [layer(o, 1), layer(o, 5)];
      const x = o.upload({ data: randomArray(CIN * H * H, 3), shape: [1, CIN, H, H] });
      const before = o.memoryStats().inUse;
      const ys: Float32Array[] = [];
      for (let r = 0; r < 3; r++) {
        for (const w of [a, b]) {
          const y = o.conv(x, w);
          ys.push((await o.read(y)).data as Float32Array);
          o.release(y);
        }
        // a's transform stays (the first to fit); b's is transient each time.
        const held = o.memoryStats().inUse - before;
        if (o === plain) assert.equal(held, 0, `pass ${r}`);
        else assert.ok(held >= TRANSFORM && held < 2 * TRANSFORM, `pass ${r}: held ${held}`);
      }
      outs.push(ys);
      // The transform kept is a's: releasing a's weights frees it too.
      const kept = o.memoryStats().inUse;
      o.release(a.weight);
      const freed = kept - o.memoryStats().inUse;
      const weightBytes = COUT * CIN * 9 * 4;
      if (o === ops) assert.ok(freed >= TRANSFORM + weightBytes, `freed ${freed}`);
      else assert.ok(freed < TRANSFORM, `freed ${freed}`);
      for (const t of [a.bias, b.weight, b.bias, x]) o.release(t);
    }
    // Cached or not, the same numbers.
    assert.deepEqual(outs[0], outs[1]);
  } finally {
    ops.destroy();
    plain.destroy();
  }
});

Deno.test("wasm Winograd cache: layers first called with more pixels than its limit transform per call", async () => {
  assert.equal(WINOGRAD_CACHE_MAX_PIXELS, 4096);
  const ops = await WasmOps.create({ threads: 1 });
  try {
    const w = layer(ops, 1);
    // 65 x 64 output pixels: one row past the limit.
    const big = ops.upload({ data: randomArray(CIN * 65 * 64, 3), shape: [1, CIN, 65, 64] });
    const before = ops.memoryStats().inUse;
    ops.release(ops.conv(big, w));
    assert.equal(ops.memoryStats().inUse, before, "nothing kept for a large call");
    const small = ops.upload({ data: randomArray(CIN * 64 * 64, 4), shape: [1, CIN, 64, 64] });
    // Decided at the layer's first call: a smaller call later keeps nothing either (a stream's
    // steps after a whole clip hold no more memory).
    const mid = ops.memoryStats().inUse;
    ops.release(ops.conv(small, w));
    assert.equal(ops.memoryStats().inUse, mid, "nothing kept after a large first call");
    // A layer whose first call is 64 x 64 keeps its transform.
    const w2 = layer(ops, 9);
    const mid2 = ops.memoryStats().inUse;
    ops.release(ops.conv(small, w2));
    assert.ok(ops.memoryStats().inUse - mid2 >= TRANSFORM, "kept for 64 x 64");
    for (const t of [w.weight, w.bias, w2.weight, w2.bias, big, small]) ops.release(t);
  } finally {
    ops.destroy();
  }
});
