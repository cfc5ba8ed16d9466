/**
 * Storage of the WebAssembly backend's tensors inside the one linear memory the kernels see.
 *
 * Blocks are rounded up to size classes (powers of two below 1 MiB, then steps of an eighth of a
 * power of two, as the WebGPU buffer pool does). A freed block goes back to a free list where it
 * merges with free neighbours; a request takes a free block of its own class when there is one
 * (a network's activations repeat the same few sizes layer after layer, so they settle into a
 * fixed set of blocks after the first pass), else the smallest free block that holds it (the
 * rest staying free), else grows the top of the heap. Merging matters to streams, whose carried
 * state grows by a frame each step and whose step sizes differ: without it every new size
 * would take fresh memory. WebAssembly memory never shrinks, so `peakAllocated` is also what the
 * process keeps.
 * @module
 */

import type { MemoryStats } from "../ops.ts";

const PAGE = 65536;
/** wasm32 addresses at most 4 GiB. */
const MAX_BYTES = 2 ** 32;

/** The size class a request of `bytes` is served from. */
export function heapClass(bytes: number): number {
  const b = Math.max(64, Math.ceil(bytes / 64) * 64);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  #top: number;
  /** Free blocks: start -> size, end -> start (for merging), and starts by size (exact reuse). */
  #freeAt = new Map<number, number>();
  #freeEnding = new Map<number, number>();
  #freeOfSize = new Map<number, number[]>();
  #sizes = new Map<number, number>();
  #inUse = 0;
  #peak = 0;
  #parked = 0;
  #peakHeld = 0;
  #peakAllocated = 0;
  #created = 0;
  readonly #base: number;
  /** Bytes the memory may grow to. */
  readonly maxBytes: number;

  /** A heap over `memory` from byte `base` (16-byte aligned) up, growing to `maxBytes` at most. */
  constructor(memory: WebAssembly.Memory, base: number, maxBytes = MAX_BYTES) {
    this.memory = memory;
    this.maxBytes = Math.min(maxBytes, MAX_BYTES);
    this.#base = this.#top = Math.ceil(base / 64) * 64;
  }

  /** A block of at least `bytes`, 64-byte aligned. */
  alloc(bytes: number, what = "tensor"): number {
    const size = heapClass(bytes);
    let ptr = this.#freeOfSize.get(size)?.at(-1);
    if (ptr !== undefined) {
      this.#unfree(ptr);
    } else if ((ptr = this.#bestFit(size)) !== undefined) {
      const have = this.#unfree(ptr);
      if (have > size) this.#addFree(ptr + size, have - size);
    } else {
      // A free block at the top is extended rather than left behind.
      const last = this.#freeEnding.get(this.#top);
      ptr = last ?? this.#top;
      this.ensure(ptr + size, what);
      if (last !== undefined) this.#unfree(last);
      this.#top = ptr + size;
      this.#created++;
      this.#peakAllocated = Math.max(this.#peakAllocated, this.#top - this.#base);
    }
    this.#sizes.set(ptr, size);
    this.#inUse += size;
    this.#peak = Math.max(this.#peak, this.#inUse);
    this.#peakHeld = Math.max(this.#peakHeld, this.#inUse + this.#parked);
    return ptr;
  }

  /** Returns a block from `alloc` for reuse, merged with free neighbours. */
  free(ptr: number): void {
    const size = this.#sizes.get(ptr);
    if (size === undefined) throw new Error(`No WebAssembly heap block at ${ptr}`);
    this.#sizes.delete(ptr);
    this.#inUse -= size;
    let start = ptr, end = ptr + size;
    const before = this.#freeEnding.get(start);
    if (before !== undefined) {
      this.#unfree(before);
      start = before;
    }
    if (this.#freeAt.has(end)) end += this.#unfree(end);
    this.#addFree(start, end - start);
  }

  /** The smallest free block of at least `size` bytes, if any. */
  #bestFit(size: number): number | undefined {
    let best: number | undefined, bestSize = Infinity;
    for (const [ptr, s] of this.#freeAt) {
      if (s >= size && s < bestSize) [best, bestSize] = [ptr, s];
    }
    return best;
  }

  #addFree(ptr: number, size: number): void {
    this.#freeAt.set(ptr, size);
    this.#freeEnding.set(ptr + size, ptr);
    let list = this.#freeOfSize.get(size);
    if (!list) this.#freeOfSize.set(size, list = []);
    list.push(ptr);
  }

  /** Takes a free block off the free lists; returns its size. */
  #unfree(ptr: number): number {
    const size = this.#freeAt.get(ptr)!;
    this.#freeAt.delete(ptr);
    this.#freeEnding.delete(ptr + size);
    const list = this.#freeOfSize.get(size)!;
    list.splice(list.lastIndexOf(ptr), 1);
    if (!list.length) this.#freeOfSize.delete(size);
    return size;
  }

  /** Grows the memory so that bytes [0, end) exist. */
  ensure(end: number, what = "tensor"): void {
    if (end > this.maxBytes) {
      throw new Error(
        `Cannot allocate ${what}: the WebAssembly backend would need ${end} bytes of memory, ` +
          (this.maxBytes === MAX_BYTES
            ? `more than wasm32's 4 GiB`
            : `more than its heapBytes limit of ${this.maxBytes}`),
      );
    }
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    try {
      this.memory.grow(Math.ceil((end - have) / PAGE));
    } catch (err) {
      throw new Error(
        `Cannot allocate ${what}: could not grow the WebAssembly memory to ${end} bytes`,
        { cause: err },
      );
    }
  }

  /** Bytes held outside the heap (parked stream state), for `peakHeld`. */
  setParked(bytes: number): void {
    this.#parked = bytes;
    this.#peakHeld = Math.max(this.#peakHeld, this.#inUse + bytes);
  }

  stats(): Omit<MemoryStats, "parked" | "peakParked"> {
    return {
      peakHeld: this.#peakHeld,
      inUse: this.#inUse,
      allocated: this.#top - this.#base,
      peakInUse: this.#peak,
      peakAllocated: this.#peakAllocated,
      created: this.#created,
    };
  }

  /** Forgets the peaks (bench: per-pass figures). */
  resetPeak(): void {
    this.#peak = this.#inUse;
    this.#peakAllocated = this.#top - this.#base;
    this.#peakHeld = this.#inUse + this.#parked;
  }
}
