/**
 * Tensors the WebAssembly backend keeps between the steps of a stream outside its heap.
 *
 * A causal stream carries state from step to step: a few frames per temporal conv, and every
 * frame's keys and values per temporal attention. At 720p that is over a gigabyte, all of it
 * idle during a step except the layer that reads it. Kept in the heap it would crowd the 4 GiB
 * wasm32 address space (1080p would not fit) and, living between a step's transient tensors,
 * fragment it. So `joinFrames(parts, { park: true })` copies its result into JavaScript memory
 * instead, and the only ops that take such a tensor are `joinFrames` (which copies its frames
 * back into the heap where a kernel reads them), `read` and `release`.
 *
 * A parked tensor is a list of chunks, each a run of whole frames of every (batch, channel)
 * plane; the lot writes one frame per chunk. Chunks never change once written, so a parked join
 * that takes every frame of a chunk shares it instead of copying: a temporal attention's cache
 * grows by a chunk a frame, without copying (or holding twice) the frames it already had, and a
 * causal conv's carried frames, shifted by one frame a step, share the one they keep. Chunks
 * count their holders; the last release frees the chunk's block.
 *
 * The blocks are carved (blocks.ts, as the heap's) out of one resizable ArrayBuffer that the
 * lot owns, not allocated one by one. Row bands (bands.ts) pass hundreds of megabytes through
 * here per op at 4K; as separate ArrayBuffers the released ones waited for the garbage
 * collector, which does not run while the thread is in a kernel, and the process grew to 13 GB
 * for one 4K frame. In one buffer a freed block is reused at once, and the top is given back to
 * the system as soon as the blocks under it are free, so the memory is what the live chunks
 * need (with their size classes' rounding and the free blocks between them), whatever the
 * collector does.
 * @module
 */

import { numel } from "../../types.ts";
import type { TensorScopes } from "../scopes.ts";
import type { FrameRange, Tensor } from "../ops.ts";
import type { JoinFramesGeometry } from "../geometry.ts";
import { BlockAllocator, type BlockSpace } from "./blocks.ts";

const PAGE = 4096;
/**
 * It shrinks only to give back at least this much, or everything: bytes given back are zero
 * pages again, faulted in anew when it grows (a band's worth, each time, if it followed every
 * free at the top).
 *
 * V8 zeroes what a resize gives back, which touches (faults in) every page of it, used or not.
 * So the buffer grows to the blocks' top page by page, leaving no slack that was never touched
 * (in 16 MiB steps, the slack above a 360p stream's last block, 11 MiB, was touched only as the
 * stream ended, and set the process's peak), and everything is given back by `transfer(0)`,
 * which touches nothing.
 */
const SHRINK_SLACK = 128 << 20;
/** The most address space the parked memory reserves (it takes memory only as it grows). */
const MAX_RESERVED = 2 ** 40;

/** Frames [offset, offset + frames) of a parked tensor: planes x frames x frameSize words. */
export interface Chunk {
  readonly frames: number;
  /** Emptied when the last holder lets go: a released tensor kept by anyone reads nothing. */
  data: Int32Array;
  /** The block's byte offset in the parked memory. */
  readonly at: number;
  holders: number;
}

const EMPTY = new Int32Array(0);

/** A tensor kept in JavaScript memory between steps (see the module doc). */
export class ParkedTensor implements Tensor {
  released = false;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: "f32" | "i32",
    readonly chunks: readonly Chunk[],
  ) {}
  get size(): number {
    return numel(this.shape);
  }
}

/**
 * An activation too large for the heap's budget, held as row bands outside it (bands.ts): band
 * i is rows [starts[i], starts[i + 1]) (the last to H) of every plane and frame, parked.
 */
export class WasmBandedTensor implements Tensor {
  released = false;
  constructor(
    readonly shape: readonly number[],
    readonly dtype: "f32" | "i32",
    readonly bands: readonly ParkedTensor[],
    readonly starts: readonly number[],
  ) {}
  get size(): number {
    return numel(this.shape);
  }
}

/** The chunks of `t` that frames [from, to) touch, each with its first frame and the overlap. */
export function* overlaps(
  t: ParkedTensor,
  from: number,
  to: number,
): Generator<{ chunk: Chunk; start: number; from: number; to: number }> {
  let start = 0;
  for (const chunk of t.chunks) {
    const a = Math.max(from, start), b = Math.min(to, start + chunk.frames);
    if (a < b) yield { chunk, start, from: a, to: b };
    start += chunk.frames;
  }
}

/** Where a frame range's words are read from: the heap, or a parked tensor's chunks. */
export type FrameSource =
  | { heap: Int32Array; at: number; plane: number }
  | { parked: ParkedTensor }
  /** Writes frame `f` (planes x frameSize words) into `dst` (a banded tensor's rows). */
  | { copy: (f: number, dst: Int32Array) => void };

/**
 * The parked chunks' bytes: one resizable ArrayBuffer, made on first use, reserving address
 * space for `maxBytes` and holding memory for what is below the top of its blocks.
 */
export class ParkedMemory implements BlockSpace {
  #buffer?: ArrayBuffer;
  constructor(readonly maxBytes: number) {}

  get buffer(): ArrayBuffer {
    if (this.#buffer) return this.#buffer;
    let buffer: ArrayBuffer;
    try {
      buffer = new ArrayBuffer(0, { maxByteLength: this.maxBytes });
    } catch (err) {
      throw new Error(
        `Cannot reserve ${this.maxBytes} bytes of address space for the memory outside the ` +
          `WebAssembly heap (stream state and row bands); lower wasm.parkedBytes`,
        { cause: err },
      );
    }
    if (!buffer.resizable) {
      // An engine that ignores the option (older than Chrome 111, Firefox 128, Safari 16.4).
      throw new Error(
        "Cannot hold memory outside the WebAssembly heap (stream state and row bands): this " +
          "JavaScript engine has no resizable ArrayBuffer",
      );
    }
    return this.#buffer = buffer;
  }

  grow(end: number, what: string): void {
    if (end > this.maxBytes) {
      throw new Error(
        `Cannot hold ${what} outside the WebAssembly heap: its blocks would reach ${end} bytes, ` +
          `more than the ${this.maxBytes} reserved for them`,
      );
    }
    const buffer = this.buffer;
    if (end > buffer.byteLength) buffer.resize(Math.min(this.maxBytes, roundUp(end, PAGE)));
  }

  shrink(end: number): void {
    const to = roundUp(end, PAGE), have = this.#buffer?.byteLength ?? 0;
    // Nothing left: a fresh buffer of no bytes, the old one's memory unmapped untouched.
    if (end === 0 && have > 0) this.#buffer = this.#buffer!.transfer(0);
    else if (have - to >= SHRINK_SLACK) this.#buffer!.resize(to);
  }

  /** Bytes the buffer holds now (the top of the blocks to the page, and any slack above it). */
  get byteLength(): number {
    return this.#buffer?.byteLength ?? 0;
  }
}

function roundUp(n: number, step: number): number {
  return Math.ceil(n / step) * step;
}

/** The parked tensors' memory and the bytes they hold. */
export class ParkingLot {
  /**
   * At most `budget` bytes held (a stream's state grows with its length, and a hostile token
   * file can claim any length); `onHeld(bytes)` hears every change (the heap's combined peak).
   */
  constructor(
    readonly budget: number = Infinity,
    readonly onHeld: (bytes: number) => void = () => {},
    /** Where the parked tensors made and released are noted (the runtime's scopes.ts). */
    readonly scopes?: TensorScopes<Tensor>,
  ) {
    // Room for free blocks between live ones, and for pages' rounding.
    const reserve = budget * 1.5 + 256 * 2 ** 20;
    this.#memory = new ParkedMemory(Math.min(MAX_RESERVED, roundUp(reserve, PAGE)));
    // Blocks in whole pages, not the heap's size classes (up to an eighth more): a stream asks
    // for the same sizes step after step anyway, and the attention caches, which grow a block a
    // step, then take their bytes and no more.
    this.#blocks = new BlockAllocator(
      0,
      this.#memory,
      (bytes) => roundUp(Math.max(bytes, 1), PAGE),
    );
  }
  readonly #memory: ParkedMemory;
  readonly #blocks: BlockAllocator;
  #heldWords = 0;
  #peakWords = 0;

  /** Bytes of parked tensors now (shared chunks once). */
  get held(): number {
    return this.#heldWords * 4;
  }

  /** The highest `held` since the last `resetPeak`. */
  get peak(): number {
    return this.#peakWords * 4;
  }

  /** Bytes of the parked memory below the top of its blocks (held, rounded, or free between). */
  get allocated(): number {
    return this.#blocks.allocated;
  }

  /** Bytes the parked memory's buffer holds now: `allocated`, rounded up, and slack above it. */
  get committed(): number {
    return this.#memory.byteLength;
  }

  /** The highest `allocated` since the last `resetPeak`. */
  get peakAllocated(): number {
    return this.#blocks.peakAllocated;
  }

  resetPeak(): void {
    this.#peakWords = this.#heldWords;
    this.#blocks.resetPeak();
  }

  /**
   * The parked join of `parts` (checked by `g`): chunks of parked parts taken whole are
   * shared, everything else is copied, with `source(i)` saying where part i's words are.
   */
  join(
    parts: readonly FrameRange[],
    g: JoinFramesGeometry,
    source: (i: number) => FrameSource,
  ): ParkedTensor {
    const chunks: Chunk[] = [];
    try {
      this.#joinInto(chunks, parts, g, source);
    } catch (err) {
      // Nothing half-made stays held.
      this.release(new ParkedTensor(g.outShape, g.dtype, chunks));
      throw err;
    }
    return this.#made(new ParkedTensor(g.outShape, g.dtype, chunks));
  }

  #joinInto(
    chunks: Chunk[],
    parts: readonly FrameRange[],
    g: JoinFramesGeometry,
    source: (i: number) => FrameSource,
  ): void {
    parts.forEach((part, i) => {
      const src = source(i);
      if ("parked" in src) {
        for (const { chunk, start, from, to } of overlaps(src.parked, part.from, part.to)) {
          if (from === start && to === start + chunk.frames) {
            chunk.holders++;
            chunks.push(chunk);
          } else {
            for (let f = from; f < to; f++) {
              chunks.push(this.#chunk(g.planes * g.frameSize, (dst) => {
                this.copyOut(src.parked, f, f + 1, g.planes, g.frameSize, dst, 0, g.frameSize);
              }));
            }
          }
        }
      } else if ("copy" in src) {
        for (let f = part.from; f < part.to; f++) {
          chunks.push(this.#chunk(g.planes * g.frameSize, (dst) => src.copy(f, dst)));
        }
      } else {
        for (let f = part.from; f < part.to; f++) {
          chunks.push(this.#chunk(g.planes * g.frameSize, (dst) => {
            for (let k = 0; k < g.planes; k++) {
              const at = src.at + k * src.plane + f * g.frameSize;
              dst.set(src.heap.subarray(at, at + g.frameSize), k * g.frameSize);
            }
          }));
        }
      }
    });
  }

  /**
   * Copies frames [from, to) of `t` into words `dst` from `at` on, each plane's run
   * `dstPlane` words after the previous one.
   */
  copyOut(
    t: ParkedTensor,
    from: number,
    to: number,
    planes: number,
    frameSize: number,
    dst: Int32Array,
    at: number,
    dstPlane: number,
  ): void {
    let written = 0;
    for (const { chunk, start, from: a, to: b } of overlaps(t, from, to)) {
      const run = (b - a) * frameSize;
      for (let k = 0; k < planes; k++) {
        const src = (k * chunk.frames + a - start) * frameSize;
        dst.set(chunk.data.subarray(src, src + run), at + k * dstPlane + written);
      }
      written += run;
    }
  }

  /**
   * Lets go of a live parked tensor's chunks (the last holder's blocks are freed); the runtime
   * checks liveness (WasmRuntime.stored).
   */
  release(t: ParkedTensor): void {
    t.released = true;
    this.scopes?.dropped(t);
    for (const chunk of t.chunks) {
      if (--chunk.holders > 0) continue;
      this.#heldWords -= chunk.data.length;
      chunk.data = EMPTY;
      this.#blocks.free(chunk.at, "parked memory");
      this.onHeld(this.held);
    }
  }

  /** Gives the free memory back (the backend is going away; nothing is held then). */
  clear(): void {
    this.#memory.shrink(this.#blocks.allocated);
  }

  /**
   * A tensor of `shape` held in one chunk of all its frames (`frames`; 1 for an image), its
   * words (planes x frames x frame) written by `fill`: a row band (bands.ts).
   */
  hold(
    shape: readonly number[],
    dtype: "f32" | "i32",
    frames: number,
    fill: (dst: Int32Array) => void,
  ): ParkedTensor {
    return this.#made(new ParkedTensor(shape, dtype, [this.#chunk(numel(shape), fill, frames)]));
  }

  #made(t: ParkedTensor): ParkedTensor {
    this.scopes?.made(t);
    return t;
  }

  /** A chunk of `words` (of `frames` frames) written by `fill`, within the budget. */
  #chunk(words: number, fill: (dst: Int32Array) => void, frames = 1): Chunk {
    if ((this.#heldWords + words) * 4 > this.budget) {
      throw new Error(
        `Cannot hold ${(this.#heldWords + words) * 4} bytes outside the WebAssembly heap ` +
          `(stream state and row bands): more than the backend's parkedBytes budget of ` +
          `${this.budget}; raise wasm.parkedBytes if the machine has the memory`,
      );
    }
    const at = this.#blocks.alloc(words * 4, `${words * 4} bytes`);
    const data = new Int32Array(this.#memory.buffer, at, words);
    try {
      fill(data);
    } catch (err) {
      this.#blocks.free(at, "parked memory");
      throw err;
    }
    this.#heldWords += words;
    this.#peakWords = Math.max(this.#peakWords, this.#heldWords);
    this.onHeld(this.held);
    return { frames, data, at, holders: 1 };
  }
}
