/**
 * The memory parked tensors and row bands live in on the WebAssembly backend (parking.ts): blocks
 * of one resizable buffer (blocks.ts), reused as soon as they are freed and given back from the
 * top, so that what it takes follows the live chunks whatever the garbage collector does.
 */

import assert from "node:assert/strict";
import { BlockAllocator } from "../src/backends/wasm/blocks.ts";
import { ParkedMemory, ParkingLot } from "../src/backends/wasm/parking.ts";

Deno.test("BlockAllocator over memory that shrinks lowers its top as the blocks under it are freed", () => {
  const calls: string[] = [];
  const blocks = new BlockAllocator(0, {
    grow: (end) => calls.push(`grow ${end}`),
    shrink: (end) => calls.push(`shrink ${end}`),
  });
  const a = blocks.alloc(4096, "a"), b = blocks.alloc(4096, "b"), c = blocks.alloc(4096, "c");
  blocks.free(b, "test"); // in the middle: stays free, the top stays
  assert.equal(blocks.allocated, 12288);
  blocks.free(c, "test"); // merges with b's block, which then ends at the top
  assert.equal(blocks.allocated, 4096);
  assert.equal(blocks.alloc(8192, "d"), b, "the next block starts at the lowered top");
  blocks.free(b, "test");
  blocks.free(a, "test");
  assert.equal(blocks.allocated, 0);
  assert.equal(blocks.peakAllocated, 12288);
  assert.deepEqual(calls, [
    "grow 4096",
    "grow 8192",
    "grow 12288",
    "shrink 4096",
    "grow 12288",
    "shrink 4096",
    "shrink 0",
  ]);
  assert.throws(() => blocks.free(a, "parked memory"), /No parked memory block at 0/);
});

/** A band's words: planes x frames x rows x width with values that say where they came from. */
function fillBand(dst: Int32Array, tag: number): void {
  for (let i = 0; i < dst.length; i++) dst[i] = tag * 1_000_003 + i;
}

Deno.test("ParkingLot: row bands passed op after op through varied sizes take the live bands' memory, not the sum of them", () => {
  const lot = new ParkingLot();
  const width = 384, planes = 8;
  // An op reads its input's bands and writes its output's; the input is then released. Channel
  // counts and band heights vary from op to op, as a network's do.
  let input: { t: ReturnType<ParkingLot["hold"]>; tag: number }[] = [];
  let livePeak = 0, passed = 0, committedPeak = 0;
  for (let op = 0; op < 60; op++) {
    const rows = 16 + ((op * 7) % 5) * 8, channels = planes * (1 + (op % 3));
    const out = [];
    for (let band = 0; band < 4; band++) {
      const tag = op * 4 + band;
      const t = lot.hold([1, channels, rows, width], "f32", 1, (dst) => fillBand(dst, tag));
      out.push({ t, tag });
      passed += channels * rows * width * 4;
    }
    livePeak = Math.max(livePeak, lot.held);
    committedPeak = Math.max(committedPeak, lot.committed);
    for (const { t, tag } of input) {
      // What was written is what is read back, whatever was freed and reused around it.
      const words = t.chunks[0].data;
      assert.equal(words[0], tag * 1_000_003);
      assert.equal(words[words.length - 1], tag * 1_000_003 + words.length - 1);
      lot.release(t);
    }
    input = out;
  }
  for (const { t } of input) lot.release(t);
  assert.equal(lot.held, 0);
  assert.equal(lot.allocated, 0, "the top came down to nothing");
  assert.equal(lot.committed, 0, "every byte of the buffer given back");
  // Blocks separately allocated (or never reused) would take what passed: 60 ops' worth.
  assert.ok(
    lot.peakAllocated <= 1.5 * livePeak,
    `${lot.peakAllocated} bytes for at most ${livePeak} live (${passed} passed through)`,
  );
  // The buffer: the blocks' top to the page, and at most 128 MiB of slack above.
  assert.ok(committedPeak <= lot.peakAllocated + (144 << 20), `${committedPeak} bytes committed`);
  assert.ok(passed > 10 * livePeak, "the test passes far more than is live at once");
});

Deno.test("ParkingLot: a fill that throws frees its block, and a stale chunk reads nothing", () => {
  const lot = new ParkingLot();
  const kept = lot.hold([1, 1, 4, 4], "f32", 1, (dst) => dst.fill(1));
  assert.throws(
    () =>
      lot.hold([1, 1, 64, 64], "f32", 1, () => {
        throw new Error("source gone");
      }),
    /source gone/,
  );
  assert.equal(lot.held, 64);
  assert.equal(
    lot.allocated,
    4096,
    "the failed band's block was freed (the kept one holds a page)",
  );
  const chunk = kept.chunks[0];
  lot.release(kept);
  assert.equal(chunk.data.length, 0, "a released chunk holds no view of reused memory");
  assert.equal(lot.allocated, 0);
});

Deno.test("ParkingLot refuses what passes its budget, before taking memory", () => {
  const lot = new ParkingLot(4096);
  const a = lot.hold([1, 1, 16, 48], "f32", 1, (dst) => dst.fill(2));
  assert.throws(
    () => lot.hold([1, 1, 16, 48], "f32", 1, (dst) => dst.fill(3)),
    /Cannot hold 6144 bytes outside the WebAssembly heap \(stream state and row bands\): more than the backend's parkedBytes budget of 4096/,
  );
  assert.equal(
    lot.allocated,
    4096,
    "the refused band took no block (the first holds a page)",
  );
  lot.release(a);
  assert.equal(lot.allocated, 0);
});

Deno.test("ParkingLot: an attention cache grown a frame a step takes its frames' bytes, to the page", () => {
  // A cache of 2 x 512 channels at 45 x 80 (the CV decoder's at 360p) grows by one frame a step;
  // the new frame is copied in, the frames it had are shared (parking.ts). Blocks in the heap's
  // size classes would round each frame's 14.7 MB up to 15.7 MB.
  const lot = new ParkingLot();
  const planes = 1024, frameSize = 45 * 80;
  const frame = new Int32Array(planes * frameSize).fill(9);
  const heapSource = { heap: frame, at: 0, plane: frameSize };
  let cache = lot.join([{ tensor: null!, from: 0, to: 1 }], {
    outShape: [1, planes, 1, 45, 80],
    dtype: "f32",
    planes,
    frameSize,
    frames: [1],
    offsets: [0],
  }, () => heapSource);
  for (let t = 2; t <= 13; t++) {
    const next = lot.join([{ tensor: cache, from: 0, to: t - 1 }, {
      tensor: null!,
      from: 0,
      to: 1,
    }], {
      outShape: [1, planes, t, 45, 80],
      dtype: "f32",
      planes,
      frameSize,
      frames: [t - 1, 1],
      offsets: [0, t - 1],
    }, (i) => i === 0 ? { parked: cache } : heapSource);
    lot.release(cache);
    cache = next;
  }
  const bytes = 13 * planes * frameSize * 4;
  assert.equal(lot.held, bytes);
  assert.ok(lot.allocated - bytes < 13 * 4096, `${lot.allocated} bytes for ${bytes}`);
  assert.equal(lot.peakAllocated, lot.allocated, "no frame was ever held twice");
  lot.release(cache);
  assert.equal(lot.committed, 0);
});

Deno.test("ParkedMemory grows to the page and gives everything back as a fresh buffer", () => {
  const memory = new ParkedMemory(1 << 30);
  memory.grow(5000, "a block");
  assert.equal(memory.byteLength, 8192, "to the page: no slack above the blocks");
  const old = memory.buffer;
  memory.shrink(0);
  assert.equal(old.detached, true, "the old buffer was transferred away, not resized");
  assert.equal(memory.byteLength, 0);
  memory.grow(4096, "a block");
  assert.notEqual(memory.buffer, old);
  assert.equal(memory.byteLength, 4096);
});

Deno.test({
  name:
    "ParkedMemory given back does not fault in pages it never used (V8 zeroes what resize gives back)",
  ignore: Deno.build.os !== "linux",
  async fn() {
    // In a fresh process, where the peak RSS is near the RSS: 256 MiB grown, 1 MiB written,
    // all given back. resize(0) would touch the other 255 MiB and lift the peak by as much.
    const parking = import.meta.resolve("../src/backends/wasm/parking.ts");
    const script = await Deno.makeTempFile({ suffix: ".ts" });
    await Deno.writeTextFile(
      script,
      `import { ParkedMemory } from ${JSON.stringify(parking)};
const hwm = () => Number(Deno.readTextFileSync("/proc/self/status").match(/VmHWM:\\s+(\\d+)/)[1]);
const memory = new ParkedMemory(1 << 30);
memory.grow(256 << 20, "blocks");
new Uint8Array(memory.buffer, 0, 1 << 20).fill(7);
const before = hwm();
memory.shrink(0);
console.log(hwm() - before);
`,
    );
    try {
      const out = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", script],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const kib = Number(new TextDecoder().decode(out.stdout).trim());
      assert.ok(out.success && Number.isFinite(kib), new TextDecoder().decode(out.stderr));
      assert.ok(kib < 16 * 1024, `the peak rose by ${kib} KiB as the memory was given back`);
    } finally {
      await Deno.remove(script);
    }
  },
});

Deno.test("ParkedMemory says what it cannot do: reserve, grow past its reservation, or resize at all", () => {
  // An address space no machine reserves (past 2^53 bytes, refused by the engine itself).
  assert.throws(
    () => new ParkedMemory(2 ** 60).grow(1, "a band"),
    /Cannot reserve 1152921504606847000 bytes of address space for the memory outside the WebAssembly heap \(stream state and row bands\); lower wasm.parkedBytes/,
  );
  const small = new ParkedMemory(32 << 20);
  small.grow(32 << 20, "a band");
  assert.equal(small.byteLength, 32 << 20);
  assert.throws(
    () => small.grow((32 << 20) + 1, "33554433 bytes"),
    /Cannot hold 33554433 bytes outside the WebAssembly heap: its blocks would reach 33554433 bytes, more than the 33554432 reserved for them/,
  );
  small.shrink(0);
  assert.equal(small.byteLength, 0, "shrinking to nothing gives everything back");
  // An engine without resizable buffers ignores the option (older browsers).
  const Native = globalThis.ArrayBuffer;
  class Fixed extends Native {
    constructor(n: number) {
      super(n);
    }
  }
  globalThis.ArrayBuffer = Fixed as ArrayBufferConstructor;
  try {
    assert.throws(
      () => new ParkedMemory(1 << 20).grow(1, "a band"),
      /Cannot hold memory outside the WebAssembly heap \(stream state and row bands\): this JavaScript engine has no resizable ArrayBuffer/,
    );
  } finally {
    globalThis.ArrayBuffer = Native;
  }
});
