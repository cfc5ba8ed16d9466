/**
 * Worker threads for the WebAssembly backend: every worker instantiates the same kernel module
 * over the one shared memory, and kernels run as ranges of independent items that the calling
 * thread and the workers take in chunks from a shared counter until none are left.
 *
 * Jobs are posted through a control block in the shared memory with Atomics (a postMessage per
 * kernel launch would cost more than many launches take). The calling thread works too and then
 * blocks in Atomics.wait until every worker has finished the job, so a launch is synchronous
 * like the op interface it serves.
 *
 * A live worker keeps a Deno process from exiting, so workers are terminated after a short idle
 * spell (and by `close`), and started again in the background on the next launch; until they
 * are back the calling thread does the work alone.
 * @module
 */

/** Int32 slots of the control block. */
const GEN = 0,
  NEXT = 1,
  DONE = 2,
  FN = 3,
  NARGS = 4,
  TOTAL = 5,
  CHUNK = 6,
  SCRATCH_ARG = 7,
  FAILED = 8,
  QUIT = 9;
/** Byte offset of the float64 argument slots within the control block. */
const ARGS_AT = 64;
const MAX_ARGS = 48;
/**
 * Byte offset of the float64 busy-time slots (ms inside kernels since the last launch ended, one
 * per worker; workers past MAX_BUSY share the last), which the host reads after each launch to
 * tell how long the threads sat idle.
 */
const BUSY_AT = ARGS_AT + 8 * MAX_ARGS;
const MAX_BUSY = 256;
/** Bytes of the control block (the host reserves them in the shared memory). */
export const CONTROL_BYTES = BUSY_AT + 8 * MAX_BUSY;

/** The worker's whole program (plain JavaScript, started from a blob URL so bundles work). */
const WORKER_SOURCE = `
let k, ctrl, args, names, scratch, memory, busy, slot;
self.onmessage = async (e) => {
  const d = e.data;
  memory = d.memory;
  names = d.names;
  scratch = d.scratch;
  const instance = await WebAssembly.instantiate(d.module, { env: { memory } });
  k = instance.exports;
  ctrl = new Int32Array(memory.buffer, d.control, ${ARGS_AT / 4});
  args = new Float64Array(memory.buffer, d.control + ${ARGS_AT}, ${MAX_ARGS});
  busy = new Float64Array(memory.buffer, d.control + ${BUSY_AT}, ${MAX_BUSY});
  slot = Math.min(d.slot, ${MAX_BUSY - 1});
  // Read the generation before saying ready: the host may post a job as soon as it hears.
  let seen = Atomics.load(ctrl, ${GEN});
  postMessage("ready");
  for (;;) {
    Atomics.wait(ctrl, ${GEN}, seen);
    seen = Atomics.load(ctrl, ${GEN});
    if (Atomics.load(ctrl, ${QUIT})) return;
    try {
      run();
    } catch (err) {
      Atomics.store(ctrl, ${FAILED}, 1);
    }
    Atomics.add(ctrl, ${DONE}, 1);
    Atomics.notify(ctrl, ${DONE});
  }
};
function run() {
  const fn = k[names[ctrl[${FN}]]];
  const n = ctrl[${NARGS}], total = ctrl[${TOTAL}], chunk = ctrl[${CHUNK}], sa = ctrl[${SCRATCH_ARG}];
  const a = Array.from(args.subarray(0, n));
  if (sa >= 0) a[sa] = scratch;
  const t0 = performance.now();
  try {
    for (;;) {
      const start = Atomics.add(ctrl, ${NEXT}, 1) * chunk;
      if (start >= total) return;
      fn(...a, start, Math.min(start + chunk, total));
    }
  } finally {
    busy[slot] += performance.now() - t0;
  }
}
`;

// deno-lint-ignore no-explicit-any
type Kernel = (...args: any[]) => void;

export interface ThreadPoolOptions {
  module: WebAssembly.Module;
  memory: WebAssembly.Memory;
  /** The calling thread's kernels (an instance over the same memory). */
  kernels: Record<string, unknown>;
  /** Worker threads besides the calling thread. */
  workers: number;
  /** Byte offset of the control block (CONTROL_BYTES) in the memory. */
  control: number;
  /** Per-thread scratch pointers: [calling thread, worker 1, ...]. */
  scratch: number[];
  /** Terminate idle workers after this many ms. */
  idleMs?: number;
}

/** Splits kernel launches over the calling thread and a set of workers. */
export class ThreadPool {
  readonly #o: ThreadPoolOptions;
  readonly #names: string[];
  #workers: Worker[] = [];
  #ready = 0;
  #starting: Promise<void> | null = null;
  #idle: ReturnType<typeof setTimeout> | undefined;
  #closed = false;
  #busyMs = 0;

  private constructor(o: ThreadPoolOptions) {
    this.#o = o;
    this.#names = Object.keys(o.kernels).filter((n) => typeof o.kernels[n] === "function");
  }

  /** A pool with its workers started. */
  static async create(o: ThreadPoolOptions): Promise<ThreadPool> {
    const pool = new ThreadPool(o);
    await pool.#start();
    return pool;
  }

  /** Threads that take part in a launch now (the calling thread included). */
  get threads(): number {
    return 1 + this.#ready;
  }

  /**
   * Milliseconds that threads have spent inside kernels since the pool started, added over the
   * threads (the calling thread's and every worker's): against wall time x threads, the idle
   * time of the threads.
   */
  get busyMs(): number {
    return this.#busyMs;
  }

  #ctrl(): Int32Array {
    return new Int32Array(this.#o.memory.buffer, this.#o.control, ARGS_AT / 4);
  }

  #start(): Promise<void> {
    if (this.#closed || this.#o.workers < 1) return Promise.resolve();
    this.#starting ??= (async () => {
      const ctrl = this.#ctrl();
      Atomics.store(ctrl, QUIT, 0);
      const url = URL.createObjectURL(
        new Blob([WORKER_SOURCE], { type: "application/javascript" }),
      );
      try {
        const workers = Array.from(
          { length: this.#o.workers },
          () => new Worker(url, { type: "module", name: "cosmos-wasm" }),
        );
        await Promise.all(workers.map((w, i) =>
          new Promise<void>((resolve, reject) => {
            w.onmessage = () => resolve();
            w.onerror = (e) => {
              e.preventDefault();
              reject(new Error(`A WebAssembly worker failed to start: ${e.message}`));
            };
            w.postMessage({
              module: this.#o.module,
              memory: this.#o.memory,
              names: this.#names,
              control: this.#o.control,
              scratch: this.#o.scratch[i + 1],
              slot: i,
            });
          })
        ));
        if (this.#closed) {
          // Closed while they started: they wait for a job, and must be told to quit.
          this.#quit(workers);
          return;
        }
        this.#workers = workers;
        this.#ready = workers.length;
      } finally {
        URL.revokeObjectURL(url);
        this.#starting = null;
      }
    })();
    return this.#starting;
  }

  #stop(): void {
    if (!this.#workers.length) return;
    this.#quit(this.#workers);
    this.#workers = [];
    this.#ready = 0;
  }

  /**
   * Ends `workers`. Each must be woken with QUIT set first: terminate() alone leaves a worker
   * blocked in Atomics.wait, and the process could not exit.
   */
  #quit(workers: Worker[]): void {
    const ctrl = this.#ctrl();
    Atomics.store(ctrl, QUIT, 1);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    for (const w of workers) w.terminate();
  }

  /**
   * Runs `kernel(...args, start, end)` over [0, total) in chunks of `chunk` items, on every
   * thread. Where `scratchArg` is an index into args, each thread passes its own scratch
   * pointer there.
   */
  run(kernel: string, args: number[], total: number, chunk: number, scratchArg = -1): void {
    if (total <= 0) return;
    const fn = this.#o.kernels[kernel] as Kernel | undefined;
    const index = this.#names.indexOf(kernel);
    if (!fn || index < 0) throw new Error(`No WebAssembly kernel named ${kernel}`);
    if (args.length > MAX_ARGS) throw new Error(`Kernel ${kernel} takes too many arguments`);
    chunk = Math.max(1, Math.ceil(chunk));
    const mine = [...args];
    if (scratchArg >= 0) mine[scratchArg] = this.#o.scratch[0];
    const workers = total > chunk ? this.#ready : 0;
    if (workers === 0) {
      if (!this.#workers.length && total > chunk) void this.#start().catch(() => {});
      const t0 = performance.now();
      try {
        fn(...mine, 0, total);
      } finally {
        this.#busyMs += performance.now() - t0;
      }
      this.#scheduleIdle();
      return;
    }
    const ctrl = this.#ctrl();
    new Float64Array(this.#o.memory.buffer, this.#o.control + ARGS_AT, MAX_ARGS).set(args);
    ctrl[FN] = index;
    ctrl[NARGS] = args.length;
    ctrl[TOTAL] = total;
    ctrl[CHUNK] = chunk;
    ctrl[SCRATCH_ARG] = scratchArg;
    ctrl[FAILED] = 0;
    Atomics.store(ctrl, NEXT, 0);
    Atomics.store(ctrl, DONE, 0);
    Atomics.add(ctrl, GEN, 1);
    Atomics.notify(ctrl, GEN);
    let error: unknown = null;
    const t0 = performance.now();
    try {
      for (;;) {
        const start = Atomics.add(ctrl, NEXT, 1) * chunk;
        if (start >= total) break;
        fn(...mine, start, Math.min(start + chunk, total));
      }
    } catch (err) {
      error = err;
      // Let the workers run out of items before their memory is reused.
      Atomics.store(ctrl, NEXT, Math.ceil(total / chunk) + 1);
    }
    this.#busyMs += performance.now() - t0;
    for (;;) {
      const done = Atomics.load(ctrl, DONE);
      if (done >= workers) break;
      Atomics.wait(ctrl, DONE, done);
    }
    const busy = new Float64Array(this.#o.memory.buffer, this.#o.control + BUSY_AT, MAX_BUSY);
    for (let i = 0; i < Math.min(workers, MAX_BUSY); i++) this.#busyMs += busy[i];
    busy.fill(0);
    this.#scheduleIdle();
    if (error) throw error;
    if (ctrl[FAILED]) throw new Error(`WebAssembly kernel ${kernel} failed in a worker thread`);
  }

  #scheduleIdle(): void {
    if (!this.#workers.length) return;
    clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.#stop(), this.#o.idleMs ?? 1000);
  }

  /** Stops the workers for good. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#idle);
    this.#stop();
  }
}
