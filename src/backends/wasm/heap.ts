/**
 * Storage of the WebAssembly backend's tensors inside the one linear memory the kernels see:
 * blocks (blocks.ts: size classes, free lists that merge) from the statics up, growing the
 * memory as needed. WebAssembly memory never shrinks, so `peakAllocated` is also what the
 * process keeps.
 * @module
 */

import type { MemoryStats } from "../ops.ts";
import { BlockAllocator } from "./blocks.ts";

const PAGE = 65536;
/** wasm32 addresses at most 4 GiB. */
const MAX_BYTES = 2 ** 32;

export class WasmHeap {
  readonly memory: WebAssembly.Memory;
  readonly #blocks: BlockAllocator;
  #parked = 0;
  #peakHeld = 0;
  /** Bytes the memory may grow to. */
  readonly maxBytes: number;

  /** A heap over `memory` from byte `base` (16-byte aligned) up, growing to `maxBytes` at most. */
  constructor(memory: WebAssembly.Memory, base: number, maxBytes = MAX_BYTES) {
    this.memory = memory;
    this.maxBytes = Math.min(maxBytes, MAX_BYTES);
    this.#blocks = new BlockAllocator(base, { grow: (end, what) => this.ensure(end, what) });
  }

  /** A block of at least `bytes`, 64-byte aligned. */
  alloc(bytes: number, what = "tensor"): number {
    const ptr = this.#blocks.alloc(bytes, what);
    this.#peakHeld = Math.max(this.#peakHeld, this.#blocks.inUse + this.#parked);
    return ptr;
  }

  /** Returns a block from `alloc` for reuse, merged with free neighbours. */
  free(ptr: number): void {
    this.#blocks.free(ptr, "WebAssembly heap");
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
    this.#peakHeld = Math.max(this.#peakHeld, this.#blocks.inUse + bytes);
  }

  stats(): Omit<MemoryStats, "parked" | "peakParked" | "parkedAllocated" | "peakParkedAllocated"> {
    const b = this.#blocks;
    return {
      peakHeld: this.#peakHeld,
      inUse: b.inUse,
      allocated: b.allocated,
      peakInUse: b.peakInUse,
      peakAllocated: b.peakAllocated,
      created: b.created,
    };
  }

  /** Forgets the peaks (bench: per-pass figures). */
  resetPeak(): void {
    this.#blocks.resetPeak();
    this.#peakHeld = this.#blocks.inUse + this.#parked;
  }
}
