/**
 * Blocks carved out of one growable run of bytes: the allocator behind the WebAssembly heap
 * (heap.ts, over the wasm memory) and the parked memory (parking.ts, over a resizable
 * ArrayBuffer outside it).
 *
 * Blocks are rounded up to size classes (powers of two below 1 MiB, then steps of an eighth of a
 * power of two, as the WebGPU buffer pool does). A freed block goes back to a free list where it
 * merges with free neighbours; a request takes a free block of its own class when there is one
 * (a network's activations repeat the same few sizes layer after layer, so they settle into a
 * fixed set of blocks after the first pass), else the smallest free block that holds it (the
 * rest staying free), else grows the top. Merging matters to streams, whose carried state grows
 * by a frame each step and whose step sizes differ: without it every new size would take fresh
 * memory.
 *
 * Memory that can shrink (`trimTop`) lowers the top when the block under it is freed, and gives
 * those bytes back; wasm memory cannot, so its free top block stays and is extended instead.
 * @module
 */

/** The size class a request of `bytes` is served from. */
export function blockClass(bytes: number): number {
  const b = Math.max(64, Math.ceil(bytes / 64) * 64);
  if (b <= 1 << 20) return 2 ** Math.ceil(Math.log2(b));
  const step = 2 ** (Math.floor(Math.log2(b)) - 3);
  return Math.ceil(b / step) * step;
}

/** Where the blocks live: `grow` makes bytes [0, end) exist (or throws, saying why). */
export interface BlockSpace {
  grow(end: number, what: string): void;
  /** Gives back the bytes from `end` on (memory that can shrink). */
  shrink?(end: number): void;
}

export class BlockAllocator {
  #top: number;
  /** Free blocks: start -> size, end -> start (for merging), and starts by size (exact reuse). */
  #freeAt = new Map<number, number>();
  #freeEnding = new Map<number, number>();
  #freeOfSize = new Map<number, number[]>();
  #sizes = new Map<number, number>();
  #inUse = 0;
  #peak = 0;
  #peakTop: number;
  #created = 0;
  readonly base: number;

  /**
   * Blocks of `space` from byte `base` (rounded up to 64) on, a request of n bytes taking a block
   * of `classOf(n)` (a multiple of 64).
   */
  constructor(
    base: number,
    readonly space: BlockSpace,
    readonly classOf: (bytes: number) => number = blockClass,
  ) {
    this.base = this.#top = this.#peakTop = Math.ceil(base / 64) * 64;
  }

  /** Bytes of blocks handed out now (their classes'). */
  get inUse(): number {
    return this.#inUse;
  }
  /** Highest `inUse` since the last `resetPeak`. */
  get peakInUse(): number {
    return this.#peak;
  }
  /** Bytes from `base` to the top: handed out or free below it. */
  get allocated(): number {
    return this.#top - this.base;
  }
  /** Highest `allocated` since the last `resetPeak`. */
  get peakAllocated(): number {
    return this.#peakTop - this.base;
  }
  /** Blocks made by growing the top. */
  get created(): number {
    return this.#created;
  }

  /** A block of at least `bytes`, 64-byte aligned; `what` names it in a growth error. */
  alloc(bytes: number, what: string): number {
    const size = this.classOf(bytes);
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
      this.space.grow(ptr + size, what);
      if (last !== undefined) this.#unfree(last);
      this.#top = ptr + size;
      this.#created++;
      this.#peakTop = Math.max(this.#peakTop, this.#top);
    }
    this.#sizes.set(ptr, size);
    this.#inUse += size;
    this.#peak = Math.max(this.#peak, this.#inUse);
    return ptr;
  }

  /** Returns a block from `alloc` for reuse, merged with free neighbours. */
  free(ptr: number, what: string): void {
    const size = this.#sizes.get(ptr);
    if (size === undefined) throw new Error(`No ${what} block at ${ptr}`);
    this.#sizes.delete(ptr);
    this.#inUse -= size;
    let start = ptr, end = ptr + size;
    const before = this.#freeEnding.get(start);
    if (before !== undefined) {
      this.#unfree(before);
      start = before;
    }
    if (this.#freeAt.has(end)) end += this.#unfree(end);
    if (end === this.#top && this.space.shrink) {
      this.#top = start;
      this.space.shrink(start);
    } else {
      this.#addFree(start, end - start);
    }
  }

  /** Forgets the peaks. */
  resetPeak(): void {
    this.#peak = this.#inUse;
    this.#peakTop = this.#top;
  }

  /** The smallest free block of at least `size` bytes (the lowest of equals), if any. */
  #bestFit(size: number): number | undefined {
    let best: number | undefined, bestSize = Infinity;
    for (const [ptr, s] of this.#freeAt) {
      if (s >= size && (s < bestSize || (s === bestSize && ptr < best!))) {
        [best, bestSize] = [ptr, s];
      }
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
}
