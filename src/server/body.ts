/**
 * Reading a request body with every bound a hostile client tests: its size (413 as soon as it
 * passes the limit, whatever Content-Length says), its time (408 when it has not all arrived
 * by the deadline: a client trickling a byte every few seconds is cut off, not waited for),
 * and the bytes all bodies hold at once (429 beyond a budget, so that many large uploads at
 * once cannot exhaust memory). A body being read holds no place in the tokenizer's queue.
 * @module
 */

import { HttpError } from "./http.ts";

/** Bytes held at once by request bodies, read or being read, until their request ends. */
export class ByteBudget {
  #held = 0;
  constructor(readonly max: number) {}

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }

  /** Takes `n` bytes from the budget, or returns false (and takes nothing) when it lacks them. */
  take(n: number): boolean {
    if (this.#held + n > this.max) return false;
    this.#held += n;
    return true;
  }

  /** Gives back bytes taken. */
  give(n: number): void {
    this.#held -= n;
  }
}

/** The bounds of one body. */
export interface BodyLimits {
  maxBytes: number;
  /** Time from the start of reading to the last byte. */
  timeoutMs: number;
  budget: ByteBudget;
  /** Seconds to tell a client refused for the budget to wait. */
  retryAfter: () => number;
}

/** A body read whole, and the bytes of the budget it holds until `release`. */
export interface HeldBody {
  bytes: Uint8Array<ArrayBuffer>;
  release(): void;
}

function busy(limits: BodyLimits): HttpError {
  return new HttpError(
    429,
    `Busy: the uploads in progress hold ${limits.budget.held} of the ${limits.budget.max} bytes this server takes at once; try again later`,
    limits.retryAfter(),
  );
}

/**
 * The body of `req` whole, within `limits`: 413 past maxBytes, 408 past the deadline, 429 when
 * the budget cannot hold it, 400 when the client breaks off. The bytes stay taken from the
 * budget until `release()`.
 */
export async function readBody(req: Request, limits: BodyLimits): Promise<HeldBody> {
  const max = limits.maxBytes;
  const header = req.headers.get("content-length");
  const declared = header !== null && /^\d+$/.test(header) ? Number(header) : null;
  if (declared !== null && declared > max) {
    await req.body?.cancel().catch(() => {});
    throw new HttpError(413, `The body has ${declared} bytes; the limit is ${max}`);
  }
  if (!req.body || declared === 0) return { bytes: new Uint8Array(0), release() {} };
  let held = 0;
  const hold = (n: number) => {
    if (!limits.budget.take(n)) throw busy(limits);
    held += n;
  };
  const reader = req.body.getReader();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("deadline")), limits.timeoutMs);
  });
  deadline.catch(() => {});
  let size = 0;
  try {
    // With a declared length the body goes straight into one buffer of that size (taken from
    // the budget at once); without one, chunks are kept and joined at the end.
    if (declared !== null) hold(declared);
    const out = declared !== null ? new Uint8Array(declared) : null;
    const parts: Uint8Array[] = [];
    while (true) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await Promise.race([reader.read(), deadline]);
      } catch (err) {
        if ((err as Error).message !== "deadline") {
          throw new HttpError(400, "The upload broke off before its body was complete");
        }
        throw new HttpError(
          408,
          `The body did not arrive within ${
            limits.timeoutMs / 1000
          } s (${size} bytes came): send it in one go`,
        );
      }
      if (chunk.done) break;
      const value = chunk.value;
      if (size + value.length > max) {
        throw new HttpError(413, `The body is over the limit of ${max} bytes`);
      }
      if (out) {
        if (size + value.length > out.length) {
          throw new HttpError(400, `The body is longer than its Content-Length (${declared})`);
        }
        out.set(value, size);
      } else {
        hold(value.length);
        parts.push(value);
      }
      size += value.length;
    }
    let bytes: Uint8Array<ArrayBuffer>;
    if (out) {
      bytes = size === out.length ? out : out.slice(0, size);
    } else {
      bytes = new Uint8Array(size);
      let o = 0;
      for (const p of parts) {
        bytes.set(p, o);
        o += p.length;
      }
    }
    const taken = held;
    held = 0;
    let released = false;
    return {
      bytes,
      release() {
        if (!released) limits.budget.give(taken);
        released = true;
      },
    };
  } catch (err) {
    await reader.cancel().catch(() => {});
    throw err;
  } finally {
    clearTimeout(timer);
    limits.budget.give(held);
  }
}
