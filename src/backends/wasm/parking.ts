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
 * causal conv's carried frames, shifted by one frame a step, share the one they keep (so the
 * pool below holds a frame per size, not a whole carry). Chunks count their holders; the last
 * release returns the chunk's buffer to a pool of exact sizes, since a stream asks for the same
 * few sizes step after step. The pool holds at most a budget of free bytes (the oldest go first,
 * to the garbage collector), so memory follows what the stream carries.
 * @module
 */

import { numel } from "../../types.ts";
import type { TensorScopes } from "../scopes.ts";
import type { FrameRange, Tensor } from "../ops.ts";
import type { JoinFramesGeometry } from "../geometry.ts";

/** Free bytes the pool keeps for reuse. */
const POOL_BYTES = 512 << 20;

/** Frames [offset, offset + frames) of a parked tensor: planes x frames x frameSize words. */
export interface Chunk {
  readonly frames: number;
  /** Emptied when the last holder lets go: a released tensor kept by anyone pins nothing. */
  data: Int32Array;
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

/** The parked tensors' buffers, their pool, and the bytes they hold. */
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
  ) {}
  #pool = new Map<number, Int32Array[]>();
  #poolOrder: Int32Array[] = [];
  #poolWords = 0;
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

  resetPeak(): void {
    this.#peakWords = this.#heldWords;
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
   * Lets go of a live parked tensor's chunks (the last holder's go back to the pool); the
   * runtime checks liveness (WasmRuntime.stored).
   */
  release(t: ParkedTensor): void {
    t.released = true;
    this.scopes?.dropped(t);
    for (const chunk of t.chunks) {
      if (--chunk.holders > 0) continue;
      this.#heldWords -= chunk.data.length;
      this.onHeld(this.held);
      this.#toPool(chunk.data);
      chunk.data = EMPTY;
    }
  }

  /** Empties the pool (the backend is going away). */
  clear(): void {
    this.#pool.clear();
    this.#poolOrder = [];
    this.#poolWords = 0;
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
    const data = this.#fromPool(words) ?? new Int32Array(words);
    fill(data);
    this.#heldWords += words;
    this.#peakWords = Math.max(this.#peakWords, this.#heldWords);
    this.onHeld(this.held);
    return { frames, data, holders: 1 };
  }

  #fromPool(words: number): Int32Array | undefined {
    const list = this.#pool.get(words);
    const data = list?.pop();
    if (!data) return undefined;
    if (!list!.length) this.#pool.delete(words);
    this.#poolOrder.splice(this.#poolOrder.indexOf(data), 1);
    this.#poolWords -= words;
    return data;
  }

  #toPool(data: Int32Array): void {
    if (data.length * 4 > POOL_BYTES) return;
    let list = this.#pool.get(data.length);
    if (!list) this.#pool.set(data.length, list = []);
    list.push(data);
    this.#poolOrder.push(data);
    this.#poolWords += data.length;
    while (this.#poolWords * 4 > POOL_BYTES) {
      const old = this.#poolOrder.shift()!;
      const same = this.#pool.get(old.length)!;
      same.splice(same.indexOf(old), 1);
      if (!same.length) this.#pool.delete(old.length);
      this.#poolWords -= old.length;
    }
  }
}
