/**
 * The tokenizer's queue seen from the HTTP thread: how many requests are admitted (running or
 * waiting, at most `maxQueue`), and how long a refused client should wait (Retry-After),
 * estimated from how long recent jobs took. Requests are admitted once their body is in, so
 * a slow upload never holds a place.
 * @module
 */

import { HttpError } from "./http.ts";

/** Bounded admission to the tokenizer, with a running estimate of a job's time. */
export class Admission {
  #admitted = 0;
  /** Mean time of recent jobs (exponentially weighted), before any has finished: a guess. */
  #jobMs = 1000;

  constructor(readonly maxQueue: number) {}

  /** Requests admitted now, running or waiting. */
  get admitted(): number {
    return this.#admitted;
  }

  /** Seconds until a place is likely to be free: the queue ahead times a job's time, >= 1. */
  retryAfter(): number {
    return Math.max(1, Math.ceil((this.#admitted * this.#jobMs) / 1000));
  }

  /** Throws 429 (with Retry-After) when the queue is full, without taking a place. */
  check(): void {
    if (this.#admitted >= this.maxQueue) {
      throw new HttpError(
        429,
        `Busy: ${this.#admitted} requests are in progress, the most this server queues; try again later`,
        this.retryAfter(),
      );
    }
  }

  /** Takes a place (429 when there is none); `done` gives it back with the job's time. */
  admit(): { done(ms: number | null): void } {
    this.check();
    this.#admitted++;
    let given = false;
    return {
      done: (ms) => {
        if (given) return;
        given = true;
        this.#admitted--;
        if (ms !== null) this.#jobMs = 0.7 * this.#jobMs + 0.3 * ms;
      },
    };
  }
}
