/**
 * The tensors a backend made while a scope was open and has not released: what a failed step
 * leaves behind. An op that throws half-way has made tensors no variable holds any more (a
 * layer's intermediates, a band's pieces), and the stream it ran in cannot go on; the engine
 * (src/video_stream.ts) frees the stream's state and then these. Without it every failed step
 * of a long-lived process (a server) would keep up to a step's memory.
 * @module
 */

import type { Tensor } from "./ops.ts";

/** A scope's end: the tensors made while it was open and still live. */
export interface TensorScope {
  /** Ends the scope: the tensors made while it was open and not released since. */
  stop(): Tensor[];
}

/** The open scopes of one backend; its allocator calls `made` and its release `dropped`. */
export class TensorScopes<T extends Tensor> {
  #open = new Set<Set<T>>();

  /** Notes `t` in every open scope; returns it. */
  made(t: T): T {
    for (const s of this.#open) s.add(t);
    return t;
  }

  /** Forgets `t` (released: the scope must not hold it, nor its memory, any longer). */
  dropped(t: T): void {
    for (const s of this.#open) s.delete(t);
  }

  /** Starts noting tensors; `stop` ends that and lists the ones still live. */
  open(): TensorScope {
    const live = new Set<T>();
    this.#open.add(live);
    return {
      stop: () => {
        this.#open.delete(live);
        const left = [...live];
        live.clear();
        return left;
      },
    };
  }
}
