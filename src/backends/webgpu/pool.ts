/**
 * GPU buffer pool.
 *
 * An autoencoder frees and reallocates the same activation sizes layer after layer, so storage
 * buffers are recycled by size class instead of being created per op. Sizes are rounded up to
 * a class (powers of two split in quarters) so that near sizes share buffers while waste stays
 * under 25%.
 * @module
 */

import { type MemoryStats, noMemory } from "../ops.ts";

/** Smallest buffer handed out: WebGPU bindings must be non-empty and 16-byte sized. */
const MIN_BYTES = 256;

/** Rounds a byte size up to its pool class. */
export function sizeClass(bytes: number): number {
  const n = Math.max(MIN_BYTES, bytes);
  const pow = 2 ** Math.floor(Math.log2(n));
  if (pow === n) return n;
  const quarter = pow / 4;
  return pow + Math.ceil((n - pow) / quarter) * quarter;
}

/**
 * Flushes a free buffer may sit idle before it is destroyed. A network (or a stream's step)
 * asks for the same sizes on every call, and each call ends in a flush (its results are read),
 * so the buffers it recycles are never idle that long; what does go idle is never asked for
 * again: a stream's attention cache is joined anew a frame larger at each step, and the
 * buffer it outgrew would stay free for good (its size class passed), a step's worth each step.
 */
export const IDLE_FLUSHES = 4;

/** The pool's counters (buffers are the blocks). */
export type PoolStats = MemoryStats;

/** Recycles storage buffers by size class. */
export class BufferPool {
  #device: GPUDevice;
  #free = new Map<number, GPUBuffer[]>();
  /** The flush count when each free buffer was released. */
  #releasedAt = new Map<GPUBuffer, number>();
  #flushes = 0;
  #stats: PoolStats = noMemory();
  #maxBufferSize: number;

  constructor(device: GPUDevice, maxBufferSize: number) {
    this.#device = device;
    this.#maxBufferSize = maxBufferSize;
  }

  /** A buffer of at least `bytes` bytes; its contents are undefined. */
  acquire(bytes: number, label = "tensor"): GPUBuffer {
    const size = sizeClass(bytes);
    if (size > this.#maxBufferSize) {
      throw new Error(
        `Cannot allocate a GPU buffer of ${bytes} bytes: the device allows at most ${this.#maxBufferSize}`,
      );
    }
    const list = this.#free.get(size);
    let buf = list?.pop();
    if (buf) this.#releasedAt.delete(buf);
    else {
      // GPUBufferUsage is read here, not at module load, so that importing the package works
      // where WebGPU is absent (the CPU functions need none of it).
      const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST;
      buf = this.#device.createBuffer({ size, usage, label });
      this.#stats.created++;
      this.#stats.allocated += size;
      this.#stats.peakAllocated = Math.max(this.#stats.peakAllocated, this.#stats.allocated);
    }
    this.#stats.inUse += size;
    this.#stats.peakInUse = Math.max(this.#stats.peakInUse, this.#stats.inUse);
    return buf;
  }

  /** Returns a buffer for reuse by later ops. */
  release(buf: GPUBuffer): void {
    const size = buf.size;
    this.#stats.inUse -= size;
    let list = this.#free.get(size);
    if (!list) this.#free.set(size, list = []);
    list.push(buf);
    this.#releasedAt.set(buf, this.#flushes);
  }

  /**
   * Counts a flush (a call's end) and destroys the free buffers idle for IDLE_FLUSHES of them,
   * so what the pool holds follows what recent calls used.
   */
  flushed(): void {
    this.#flushes++;
    for (const [size, list] of this.#free) {
      const keep = list.filter((b) => {
        if (this.#flushes - this.#releasedAt.get(b)! < IDLE_FLUSHES) return true;
        this.#destroy(b);
        return false;
      });
      if (keep.length) this.#free.set(size, keep);
      else this.#free.delete(size);
    }
  }

  #destroy(b: GPUBuffer): void {
    this.#releasedAt.delete(b);
    this.#stats.allocated -= b.size;
    b.destroy();
  }

  /** Destroys every free buffer (buffers handed out stay valid). */
  trim(): void {
    for (const list of this.#free.values()) for (const b of list) this.#destroy(b);
    this.#free.clear();
  }

  stats(): PoolStats {
    // Nothing is parked apart from the buffers: the combined peak is theirs.
    return { ...this.#stats, peakHeld: this.#stats.peakInUse };
  }

  resetPeak(): void {
    this.#stats.peakInUse = this.#stats.inUse;
    this.#stats.peakAllocated = this.#stats.allocated;
  }
}
