/**
 * Storage of the WebAssembly backend's tensors inside the one linear memory the kernels see.
 *
 * Blocks are rounded up to size classes (powers of two below 1 MiB, then steps of an eighth of a
 * power of two, as the WebGPU buffer pool does) and recycled per class, so a network's
 * activations, which repeat the same few sizes layer after layer, settle into a fixed set of
 * blocks after the first pass. Fresh blocks come from the top of the heap, growing the memory.
 * WebAssembly memory never shrinks, so `peakBytes` is also what the process keeps.
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
  #free = new Map<number, number[]>();
  #sizes = new Map<number, number>();
  #inUse = 0;
  #peak = 0;
  #peakAllocated = 0;
  #created = 0;
  readonly #base: number;

  /** A heap over `memory` from byte `base` (16-byte aligned) up. */
  constructor(memory: WebAssembly.Memory, base: number) {
    this.memory = memory;
    this.#base = this.#top = Math.ceil(base / 64) * 64;
  }

  /** A block of at least `bytes`, 64-byte aligned. */
  alloc(bytes: number, what = "tensor"): number {
    const size = heapClass(bytes);
    let ptr = this.#free.get(size)?.pop();
    if (ptr === undefined) {
      ptr = this.#top;
      this.ensure(ptr + size, what);
      this.#top = ptr + size;
      this.#created++;
      this.#peakAllocated = Math.max(this.#peakAllocated, this.#top - this.#base);
    }
    this.#sizes.set(ptr, size);
    this.#inUse += size;
    this.#peak = Math.max(this.#peak, this.#inUse);
    return ptr;
  }

  /** Returns a block from `alloc` for reuse. */
  free(ptr: number): void {
    const size = this.#sizes.get(ptr);
    if (size === undefined) throw new Error(`No WebAssembly heap block at ${ptr}`);
    this.#sizes.delete(ptr);
    this.#inUse -= size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(ptr);
  }

  /** Grows the memory so that bytes [0, end) exist. */
  ensure(end: number, what = "tensor"): void {
    if (end > MAX_BYTES) {
      throw new Error(
        `Cannot allocate ${what}: the WebAssembly backend would need ${end} bytes of memory, ` +
          `more than wasm32's 4 GiB`,
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

  stats(): MemoryStats {
    return {
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
  }
}
