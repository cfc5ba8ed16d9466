/**
 * Frames arriving in pieces of any size, gathered into the streaming engine's steps in one
 * buffer that is reused from step to step. Each frame is copied once, and a long clip makes no
 * garbage per step: a fresh array per step (and one per piece joined on) would leave tens of
 * megabytes a step for the collector, and when it takes them would move the process's peak
 * memory by as much, whatever the clip's length.
 * @module
 */

import type { HostTensor } from "./types.ts";

/** Frames of a [B, C, T, ...] tensor (or [B, T, ...] with `timeAxis` 1) held for one step. */
export class StepFrames {
  #data: Float32Array | Int32Array | null = null;
  /** Frames the buffer holds at most (the step being gathered). */
  #capacity = 0;
  #count = 0;
  /** The held frames' shape, time excepted (from the first piece taken since a clear). */
  #shape: number[] = [];
  /** A piece that is exactly one step, held as it is instead of copied. */
  #whole: HostTensor | null = null;

  constructor(readonly timeAxis: number) {}

  /** Frames held. */
  get count(): number {
    return this.#whole ? this.#whole.shape[this.timeAxis] : this.#count;
  }

  /**
   * Takes frames of `piece` from `from` on, as many as fit a step of `capacity` frames, and
   * returns how many it took. Every piece since the last `clear` must have the same frame shape
   * (the caller checks it, for its own message).
   */
  take(piece: HostTensor, from: number, capacity: number): number {
    const axis = this.timeAxis, frames = piece.shape[axis];
    if (this.count === 0 && from === 0 && frames === capacity) {
      this.#whole = piece;
      return frames;
    }
    const outer = piece.shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = piece.shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const size = outer * capacity * inner;
    const Ctor = piece.data.constructor as Float32ArrayConstructor | Int32ArrayConstructor;
    if (this.#count === 0) {
      // A new buffer only when the step's size or the element type changes (the first step is
      // one frame, the later ones as many as a step takes): a few per stream.
      if (this.#data?.length !== size || this.#data.constructor !== Ctor) {
        this.#data = new Ctor(size);
      }
      this.#capacity = capacity;
      this.#shape = [...piece.shape];
    }
    const n = Math.min(this.#capacity - this.#count, frames - from);
    const data = this.#data!;
    for (let o = 0; o < outer; o++) {
      const src = piece.data.subarray((o * frames + from) * inner, (o * frames + from + n) * inner);
      data.set(src, (o * this.#capacity + this.#count) * inner);
    }
    this.#count += n;
    return n;
  }

  /**
   * The held frames as one tensor. A full step is the buffer itself, valid until the next
   * `take` after a `clear`: the engine uploads it before it gathers the next step. A shorter
   * one (a clip's last step) is a compact copy.
   */
  tensor(): HostTensor {
    if (this.#whole) return this.#whole;
    const axis = this.timeAxis, n = this.#count;
    const shape = [...this.#shape.slice(0, axis), n, ...this.#shape.slice(axis + 1)];
    if (n === this.#capacity) return { data: this.#data!, shape };
    const outer = shape.slice(0, axis).reduce((a, b) => a * b, 1);
    const inner = shape.slice(axis + 1).reduce((a, b) => a * b, 1);
    const Ctor = this.#data!.constructor as Float32ArrayConstructor | Int32ArrayConstructor;
    const data = new Ctor(outer * n * inner);
    for (let o = 0; o < outer; o++) {
      const from = o * this.#capacity * inner;
      data.set(this.#data!.subarray(from, from + n * inner), o * n * inner);
    }
    return { data, shape };
  }

  /** Empties the step (the buffer stays, for the next one). */
  clear(): void {
    this.#count = 0;
    this.#whole = null;
  }
}
