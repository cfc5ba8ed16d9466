/** The WebAssembly backend's heap: size classes, reuse, counters, and its limits. */

import assert from "node:assert/strict";
import { heapClass, WasmHeap } from "../src/backends/wasm/heap.ts";

Deno.test("heapClass: powers of two up to 1 MiB, then eighths of a power of two", () => {
  assert.equal(heapClass(1), 64);
  assert.equal(heapClass(65), 128);
  assert.equal(heapClass(1000), 1024);
  assert.equal(heapClass(1 << 20), 1 << 20);
  assert.equal(heapClass((1 << 20) + 1), (1 << 20) + (1 << 17));
  assert.equal(heapClass(3_000_000), 3 * (1 << 20));
  for (const n of [1, 100, 5000, 1 << 20, 7_777_777, 123_456_789]) {
    const c = heapClass(n);
    assert.ok(c >= n && c < n * 2 + 64, `${n} -> ${c}`);
  }
});

Deno.test("WasmHeap reuses freed blocks of a class, counts use and peaks, grows the memory", () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024 });
  const heap = new WasmHeap(memory, 100);
  const a = heap.alloc(3000);
  assert.equal(a % 64, 0);
  assert.ok(a >= 100);
  const b = heap.alloc(200_000);
  assert.ok(memory.buffer.byteLength >= b + 200_000, "the memory grew to hold the block");
  assert.deepEqual(heap.stats(), {
    inUse: 4096 + 262144,
    allocated: b + 262144 - 128,
    peakInUse: 4096 + 262144,
    peakAllocated: b + 262144 - 128,
    created: 2,
  });
  heap.free(a);
  assert.equal(heap.alloc(2500), a, "a freed block of the same class comes back");
  heap.free(b);
  assert.equal(heap.stats().inUse, 4096);
  assert.equal(heap.stats().peakInUse, 4096 + 262144);
  heap.resetPeak();
  assert.equal(heap.stats().peakInUse, 4096);
  assert.equal(heap.stats().created, 2);
  assert.throws(() => heap.free(12345), /No WebAssembly heap block at 12345/);
});

Deno.test("WasmHeap says what it could not allocate, past wasm32 or past the memory's maximum", () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 4 });
  const heap = new WasmHeap(memory, 0);
  assert.throws(
    () => heap.alloc(5 * 2 ** 30, "activations"),
    /Cannot allocate activations: the WebAssembly backend would need \d+ bytes of memory, more than wasm32's 4 GiB/,
  );
  assert.throws(
    () => heap.alloc(1 << 20, "weights"),
    /Cannot allocate weights: could not grow the WebAssembly memory to \d+ bytes/,
  );
  assert.equal(heap.stats().inUse, 0, "a failed allocation holds nothing");
});
