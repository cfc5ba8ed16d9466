/**
 * TokenizerWorker: a tokenizer that lives in a Web Worker (worker.ts), seen from the HTTP
 * thread. Jobs wait here in order and go to the worker one at a time, their bytes
 * transferred, not copied. Should
 * the worker die (an error nothing caught), the job it was running fails with 500 and a new
 * worker loads the tokenizer again for the jobs after it.
 * @module
 */

import { HttpError } from "./http.ts";
import type { Engine } from "./engine.ts";
import type {
  FromWorker,
  Job,
  JobResult,
  TokenizerInfo,
  ToWorker,
  WorkerLoadOptions,
} from "./protocol.ts";

interface Pending {
  id: number;
  job: Job;
  resolve(result: JobResult): void;
  reject(err: Error): void;
}

/** A started worker and what it loaded. */
interface Started {
  worker: Worker;
  info: TokenizerInfo;
}

/** Starts a worker and loads the tokenizer in it; rejects with the load's error message. */
function spawn(
  options: WorkerLoadOptions,
  onMessage: (msg: FromWorker) => void,
  onError: (message: string) => void,
): Promise<Started> {
  const worker = new Worker(new URL("./worker.ts", import.meta.url).href, { type: "module" });
  return new Promise((resolve, reject) => {
    let ready = false;
    worker.onmessage = ({ data }: MessageEvent<FromWorker>) => {
      if (ready) return onMessage(data);
      if (data.type === "ready") {
        ready = true;
        resolve({ worker, info: data.info });
      } else if (data.type === "failed") {
        worker.terminate();
        reject(new Error(data.message));
      }
    };
    worker.onerror = (event) => {
      // Handled here: unhandled, a worker's error would end the whole process.
      event.preventDefault();
      const message = event.message ?? String(event.error);
      if (!ready) {
        worker.terminate();
        reject(new Error(`The tokenizer's worker failed to start: ${message}`));
      } else {
        onError(message);
      }
    };
    worker.postMessage({ type: "load", options } satisfies ToWorker);
  });
}

/** The engine of each TokenizerWorker: how the handler runs jobs, kept out of its public API. */
const ENGINES = new WeakMap<TokenizerWorker, Engine>();

/** The engine that runs `worker`'s jobs (for createTokenizeHandler). */
export function workerEngine(worker: TokenizerWorker): Engine {
  return ENGINES.get(worker)!;
}

/**
 * A tokenizer loaded and run in its own Web Worker, for `createTokenizeHandler`: the thread
 * that serves HTTP stays free while the network runs, so admission, 429s and /health answer
 * at once however long inference takes.
 *
 * @example Serve a WebAssembly tokenizer
 * ```ts ignore
 * import { createTokenizeHandler, TokenizerWorker } from "@cosmos/webgpu/server";
 * const tok = await TokenizerWorker.start({ model: "Cosmos-0.1-Tokenizer-DI8x8", backend: "wasm" });
 * Deno.serve({ port: 8000 }, createTokenizeHandler(tok, { maxSide: 512 }));
 * ```
 */
export class TokenizerWorker {
  #options: WorkerLoadOptions;
  #worker: Worker | null;
  #starting: Promise<void> | null = null;
  #waiting: Pending[] = [];
  #running: Pending | null = null;
  #nextId = 1;
  #disposed = false;
  /** What the worker loaded. */
  readonly info: TokenizerInfo;

  private constructor(options: WorkerLoadOptions, started: Started) {
    this.#options = options;
    this.#worker = started.worker;
    this.info = started.info;
    ENGINES.set(this, { info: this.info, run: (job) => this.#run(job) });
  }

  /** Starts a worker and loads the tokenizer there; rejects with the load's error. */
  static async start(options: WorkerLoadOptions): Promise<TokenizerWorker> {
    let self: TokenizerWorker | null = null;
    const started = await spawn(
      options,
      (msg) => self!.#onMessage(msg),
      (message) => self!.#onCrash(message),
    );
    self = new TokenizerWorker(options, started);
    return self;
  }

  /** Runs a job in the worker, after the jobs before it. */
  #run(job: Job): Promise<JobResult> {
    if (this.#disposed) return Promise.reject(new HttpError(503, "The server is shutting down"));
    return new Promise((resolve, reject) => {
      this.#waiting.push({ id: this.#nextId++, job, resolve, reject });
      if (!this.#worker) this.#restart();
      this.#dispatch();
    });
  }

  #dispatch(): void {
    if (this.#running || !this.#worker) return;
    const next = this.#waiting.shift();
    if (!next) return;
    this.#running = next;
    const body = next.job.body;
    const buffer = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength
      ? body
      : body.slice();
    const job = { ...next.job, body: buffer };
    this.#worker.postMessage({ type: "job", id: next.id, job } satisfies ToWorker, [buffer.buffer]);
  }

  #onMessage(msg: FromWorker): void {
    const running = this.#running;
    if (!running || (msg.type !== "done" && msg.type !== "error") || msg.id !== running.id) return;
    this.#running = null;
    if (msg.type === "done") running.resolve(msg.result);
    else running.reject(new HttpError(msg.status, msg.message));
    this.#dispatch();
  }

  /** The worker died: fail its job, and load the tokenizer again for the others. */
  #onCrash(message: string): void {
    this.#worker?.terminate();
    this.#worker = null;
    const running = this.#running;
    this.#running = null;
    running?.reject(
      new HttpError(
        500,
        `Internal error: the tokenizer's worker failed (${message}); it is being restarted`,
      ),
    );
    if (!this.#disposed) this.#restart();
  }

  /**
   * Loads the tokenizer in a new worker. Should that fail, the jobs waiting fail with 500, and
   * the next job tries again.
   */
  #restart(): void {
    this.#starting ??= spawn(
      this.#options,
      (msg) => this.#onMessage(msg),
      (m) => this.#onCrash(m),
    ).then(
      (started) => {
        this.#starting = null;
        this.#worker = started.worker;
        this.#dispatch();
      },
      (err) => {
        this.#starting = null;
        for (const p of this.#waiting.splice(0)) {
          p.reject(
            new HttpError(
              500,
              `Internal error: the tokenizer could not be loaded again: ${err.message}`,
            ),
          );
        }
      },
    );
  }

  /** Ends the worker (and the tokenizer with it); jobs not yet finished fail with 503. */
  dispose(): Promise<void> {
    this.#disposed = true;
    this.#worker?.terminate();
    this.#worker = null;
    const gone = new HttpError(503, "The server is shutting down");
    this.#running?.reject(gone);
    this.#running = null;
    for (const p of this.#waiting.splice(0)) p.reject(gone);
    return Promise.resolve();
  }
}
