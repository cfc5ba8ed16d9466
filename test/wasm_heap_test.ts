/** The WebAssembly backend's heap: size classes, reuse, counters, and its limits. */

import assert from "node:assert/strict";
import { blockClass as heapClass } from "../src/backends/wasm/blocks.ts";
import { WasmHeap } from "../src/backends/wasm/heap.ts";

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
    peakHeld: 4096 + 262144,
  });
  // Bytes parked outside the heap count towards the combined peak, with what is in use then.
  heap.setParked(1000);
  assert.equal(heap.stats().peakHeld, 4096 + 262144 + 1000);
  heap.setParked(0);
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

Deno.test("WasmHeap merges freed neighbours and serves larger requests from them", () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 1024 });
  const heap = new WasmHeap(memory, 0);
  const [a, b, c] = [heap.alloc(4096), heap.alloc(4096), heap.alloc(4096)];
  assert.deepEqual([b, c], [a + 4096, a + 8192]);
  const guard = heap.alloc(64); // keeps c's block off the top
  heap.free(a);
  heap.free(c);
  heap.free(b); // merges with both neighbours: one free block of 12288 bytes at a
  assert.equal(heap.alloc(8192), a, "a larger class served from the merged block, split");
  assert.equal(heap.alloc(4096), a + 8192, "the rest of the split block stays free");
  assert.equal(heap.stats().created, 4, "no fresh memory was taken");
  heap.free(guard);
});

Deno.test("WasmHeap: state that grows a step at a time (a stream's caches) reuses its memory", () => {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 16384 });
  const heap = new WasmHeap(memory, 0);
  const step = 3 << 20; // one frame of a carried cache
  let cache = heap.alloc(step);
  let largest = 0;
  for (let frames = 2; frames <= 40; frames++) {
    const scratch = heap.alloc(5 << 20); // a step's activations, freed again
    const grown = heap.alloc(frames * step); // the cache joined with this step's frame
    heap.free(cache);
    heap.free(scratch);
    cache = grown;
    largest = frames * step;
  }
  const { allocated } = heap.stats();
  // Without merging every new size took fresh memory: the sum of all sizes, 20 times the last.
  // Merged, the old cache's place (and the space below it) serves the next one but one: about
  // twice the largest, plus the scratch and the size classes' rounding.
  assert.ok(allocated < 3.5 * largest, `${allocated} bytes held for a ${largest}-byte cache`);
  heap.free(cache);
  assert.equal(heap.stats().inUse, 0);
});

Deno.test("parkedBytes defaults to 16 GiB, or 3/4 of the machine's memory where --allow-sys lets it be read", async () => {
  const { defaultParkedBytes } = await import("../src/backends/wasm/options.ts");
  // Without sys permission (as `deno task test` runs) the memory is not read (that would
  // prompt): the fixed default.
  const sys = Deno.permissions.querySync({ name: "sys", kind: "systemMemoryInfo" }).state;
  if (sys !== "granted") assert.equal(defaultParkedBytes(), 16 * 2 ** 30);
  // `deno eval` has every permission.
  const script = `import { defaultParkedBytes } from ${
    JSON.stringify(new URL("../src/backends/wasm/options.ts", import.meta.url).href)
  };\nconsole.log(JSON.stringify([defaultParkedBytes(), Deno.systemMemoryInfo().total]));`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-check", "--quiet", script],
    env: { DENO_NO_PROMPT: "1" },
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const [parked, total] = JSON.parse(new TextDecoder().decode(out.stdout));
  assert.equal(parked, Math.min(16 * 2 ** 30, Math.floor(total * 0.75)));
});
