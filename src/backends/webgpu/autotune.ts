/**
 * GEMM tile shapes chosen per adapter by timing them: the autotuner.
 *
 * The first time a (kernel family, shape class) runs on an adapter, the dispatch is also
 * recorded once per tile candidate, a few times each, in a command buffer of its own with
 * timestamp queries, writing a scratch output; the op itself runs with the default tiles. When
 * the timings come back the fastest candidate serves every later dispatch of that class, and
 * the decision is kept (autotune_cache.ts) so the next process skips the timing. Switching
 * tiles mid-run is safe because every candidate computes the same bits: the GEMM core sums k
 * in the same order whatever the tile shape (wgsl/gemm_core.wgsl), which the tests check.
 *
 * Off by default: the timing runs each new class's dispatch ~15 extra times and holds a scratch
 * output as large as the op's, which would distort the memory figures of a first call and is
 * slow on CPU rasterizers; and no real-GPU figures yet show the default tiles to be wrong.
 * Turned on by `WebGpuOptions.autotune` or COSMOS_AUTOTUNE=1 (`deno task gpu-report` does).
 * @module
 */

import { envVar } from "../../hub/env.ts";
import { type AdapterEntries, defaultStore, type TuneStore } from "./autotune_cache.ts";
import type { GpuContext } from "./device.ts";
import type { GemmTiles } from "./gemm.ts";
import { type Binding, type Dispatch, type GpuRuntime, GpuTensor } from "./runtime.ts";

/**
 * The shapes timed: both defaults of gemm.ts first (GPU, then CPU rasterizer), then shapes
 * that trade workgroup size against outputs per thread. Each satisfies the core's rule that
 * WG_M is a multiple of TN, and stays within WebGPU's default workgroup limits.
 */
export const TILE_CANDIDATES: readonly GemmTiles[] = [
  { WG_M: 16, WG_N: 16, TM: 4, TN: 4, BK: 16 },
  { WG_M: 16, WG_N: 16, TM: 8, TN: 4, BK: 8 },
  { WG_M: 8, WG_N: 8, TM: 4, TN: 4, BK: 16 },
  { WG_M: 8, WG_N: 16, TM: 4, TN: 4, BK: 8 },
  { WG_M: 8, WG_N: 8, TM: 8, TN: 8, BK: 8 },
];

/** Timed runs per candidate; the fastest counts (the first may still warm caches). */
const DEFAULT_REPS = 3;

/** The GEMM extent of a dispatch, for its shape class. */
export interface TuneDims {
  M: number;
  N: number;
  K: number;
  /** Independent products (matmul's batch); they count as more columns. */
  batch?: number;
}

/** One decision, as the report prints it. */
export interface TuneChoice {
  /** Kernel family and shape class, e.g. "conv3x3 M128 N65536 K2048". */
  key: string;
  tiles: GemmTiles;
  /** GPU milliseconds per candidate (TILE_CANDIDATES order), when known. */
  ms?: number[];
  /** Timed in this process, or read from the store. */
  source: "measured" | "cache";
}

/** Options of `Autotuner.create`. */
export interface AutotuneOptions {
  /** Where decisions persist; default the cache file (Deno) or memory (browser). */
  store?: TuneStore;
  /** Timed runs per candidate. Default 3. */
  reps?: number;
}

const ON = ["1", "ON", "YES", "TRUE"], OFF = ["0", "OFF", "NO", "FALSE"];

/** Whether to tune: the option when given, else COSMOS_AUTOTUNE, else off (see above). */
export function autotuneEnabled(option?: boolean): boolean {
  if (option !== undefined) return option;
  const v = envVar("COSMOS_AUTOTUNE");
  if (v === undefined) return false;
  if (ON.includes(v.toUpperCase())) return true;
  if (OFF.includes(v.toUpperCase())) return false;
  throw new Error(`Invalid COSMOS_AUTOTUNE "${v}": set it to 1 (tune tile shapes) or 0 (do not)`);
}

/**
 * The cache key of an adapter. Deno's GPUAdapterInfo has no driver version (wgpu knows it but
 * does not expose it), so the key is what it does give: description (which names the driver
 * for Mesa, e.g. "llvmpipe (LLVM 15.0.6, 256 bits)"), vendor, device and architecture ids.
 */
export function adapterKey(ctx: GpuContext): string {
  const i = ctx.adapterInfo;
  return [ctx.adapterName, `vendor ${i.vendor || "?"}`, `device ${i.device || "?"}`]
    .concat(i.architecture ? [i.architecture] : []).join(" | ");
}

const pow2 = (n: number) => 2 ** Math.ceil(Math.log2(Math.max(1, n)));
const pow4 = (n: number) => 4 ** Math.ceil(Math.log(Math.max(1, n)) / Math.log(4));

/** Shape class of a GEMM: M and K rounded up to a power of two, the columns to a power of four. */
export function shapeClass(d: TuneDims): string {
  return `M${pow2(d.M)} N${pow4(d.N * (d.batch ?? 1))} K${pow2(d.K)}`;
}

/** Runtimes with a tuner attached (the runtime itself knows nothing of tuning). */
const TUNERS = new WeakMap<GpuRuntime, Autotuner>();

/**
 * The tiles for one dispatch: the tuned ones where `rt` has a tuner that has decided this
 * class, else `fallback` (and the class's timing starts). `build` records the dispatch with
 * given tiles; binding `output` is the one it writes, replaced by scratch while timing.
 */
export function tunedTiles(
  rt: GpuRuntime,
  fallback: GemmTiles,
  job: { family: string; dims: TuneDims; output: number; build: (t: GemmTiles) => Dispatch },
): GemmTiles {
  const tuner = TUNERS.get(rt);
  return tuner ? tuner.choose(rt, fallback, job) : fallback;
}

/** Times tile candidates per (family, shape class) on one adapter and remembers the winners. */
export class Autotuner {
  /** The adapter key decisions are stored under. */
  readonly adapter: string;
  /** Where decisions persist. */
  readonly store: TuneStore;
  #entries: AdapterEntries;
  #measured = new Set<string>();
  #failed = new Set<string>();
  #pending = new Map<string, Promise<void>>();
  #saving: Promise<void> = Promise.resolve();
  #reps: number;

  private constructor(adapter: string, store: TuneStore, entries: AdapterEntries, reps: number) {
    this.adapter = adapter;
    this.store = store;
    this.#entries = entries;
    this.#reps = reps;
  }

  /**
   * A tuner for `rt`'s adapter with the stored decisions, attached to `rt`; null (with a
   * warning) when the adapter cannot time kernels (no timestamp-query).
   */
  static async create(rt: GpuRuntime, options: AutotuneOptions = {}): Promise<Autotuner | null> {
    if (!rt.ctx.features.has("timestamp-query")) {
      console.warn(
        `Autotune is off: adapter "${rt.ctx.adapterName}" has no timestamp-query to time kernels with; the default tiles are used`,
      );
      return null;
    }
    const store = options.store ?? defaultStore(TILE_CANDIDATES);
    const adapter = adapterKey(rt.ctx);
    const all = await store.load();
    const reps = Math.max(1, Math.floor(options.reps ?? DEFAULT_REPS));
    const tuner = new Autotuner(adapter, store, { ...all[adapter] }, reps);
    TUNERS.set(rt, tuner);
    return tuner;
  }

  /** Classes timed in this process. */
  get measured(): number {
    return this.#measured.size;
  }

  /** Every decision known, sorted by key. */
  choices(): TuneChoice[] {
    return Object.keys(this.#entries).sort().map((key) => ({
      key,
      ...this.#entries[key],
      source: this.#measured.has(key) ? "measured" : "cache",
    }));
  }

  /** Resolves when every timing started so far has been decided and stored. */
  async settled(): Promise<void> {
    while (this.#pending.size) await Promise.all(this.#pending.values());
    await this.#saving;
  }

  /** See `tunedTiles`. */
  choose(
    rt: GpuRuntime,
    fallback: GemmTiles,
    job: { family: string; dims: TuneDims; output: number; build: (t: GemmTiles) => Dispatch },
  ): GemmTiles {
    const key = `${job.family} ${shapeClass(job.dims)}`;
    const known = this.#entries[key];
    if (known) return known.tiles;
    if (this.#pending.has(key) || this.#failed.has(key)) return fallback;
    const run = this.#time(rt, job.build, job.output).then((ms) => {
      let best = 0;
      ms.forEach((t, i) => best = t < ms[best] ? i : best);
      this.#entries[key] = { tiles: { ...TILE_CANDIDATES[best] }, ms };
      this.#measured.add(key);
      const snapshot = { ...this.#entries };
      this.#saving = this.#saving.then(() => this.store.save(this.adapter, snapshot));
    }).catch((err) => {
      this.#failed.add(key);
      console.warn(`Autotune of ${key} failed, the default tiles stay: ${(err as Error).message}`);
    }).finally(() => this.#pending.delete(key));
    this.#pending.set(key, run);
    return fallback;
  }

  /**
   * Records every candidate `reps` times into one command buffer with timestamps around each
   * pass and submits it now; resolves to each candidate's fastest run in milliseconds.
   */
  #time(rt: GpuRuntime, build: (t: GemmTiles) => Dispatch, output: number): Promise<number[]> {
    const device = rt.ctx.device;
    const reps = this.#reps, n = TILE_CANDIDATES.length;
    const jobs = TILE_CANDIDATES.map(build); // compiles the candidates' pipelines
    const made: { destroy(): void }[] = [];
    device.pushErrorScope("out-of-memory");
    device.pushErrorScope("validation");
    let popped = false;
    const pop = () => {
      popped = true;
      const v = device.popErrorScope(), o = device.popErrorScope();
      return Promise.all([v, o]);
    };
    try {
      const out = jobs[0].bindings[output];
      if (!out) throw new Error(`binding ${output} is not the dispatch's output`);
      const outBytes = out instanceof GpuTensor ? out.bytes : out.size ?? out.buffer.size;
      const scratch = device.createBuffer({
        size: Math.max(256, Math.ceil(outBytes / 16) * 16),
        usage: GPUBufferUsage.STORAGE,
        label: "autotune scratch",
      });
      const querySet = device.createQuerySet({ type: "timestamp", count: 2 * n * reps });
      const resolve = device.createBuffer({
        size: 16 * n * reps,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const readback = device.createBuffer({
        size: 16 * n * reps,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      made.push(scratch, querySet, resolve, readback);
      const enc = device.createCommandEncoder({ label: "autotune" });
      jobs.forEach((d, c) => {
        const params = device.createBuffer({
          size: Math.ceil(d.params.byteLength / 16) * 16,
          usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
        });
        made.push(params);
        device.queue.writeBuffer(params, 0, d.params);
        const bound: (Binding | GpuTensor | null)[] = [...d.bindings, {
          buffer: params,
          size: d.params.byteLength,
        }];
        bound[output] = { buffer: scratch, size: outBytes };
        const entries: GPUBindGroupEntry[] = [];
        bound.forEach((b, i) => {
          if (b === null) return;
          const resource = b instanceof GpuTensor
            ? { buffer: b.buffer, offset: 0, size: b.bytes }
            : { buffer: b.buffer, offset: b.offset ?? 0, size: b.size };
          entries.push({ binding: i, resource });
        });
        const group = device.createBindGroup({
          layout: d.pipeline.getBindGroupLayout(0),
          entries,
          label: `autotune ${d.family}`,
        });
        const maxDim = rt.ctx.limits.maxComputeWorkgroupsPerDimension;
        const x = Math.min(d.workgroups, maxDim), y = Math.ceil(d.workgroups / x);
        for (let r = 0; r < reps; r++) {
          const q = 2 * (c * reps + r);
          const pass = enc.beginComputePass({
            timestampWrites: { querySet, beginningOfPassWriteIndex: q, endOfPassWriteIndex: q + 1 },
          });
          pass.setPipeline(d.pipeline);
          pass.setBindGroup(0, group);
          pass.dispatchWorkgroups(x, y, d.z ?? 1);
          pass.end();
        }
      });
      enc.resolveQuerySet(querySet, 0, 2 * n * reps, resolve, 0);
      enc.copyBufferToBuffer(resolve, 0, readback, 0, 16 * n * reps);
      device.queue.submit([enc.finish()]);
      const errors = pop();
      return (async () => {
        try {
          const [v, o] = await errors;
          if (o) throw new Error(`out of memory: ${o.message}`);
          if (v) throw new Error(`validation error: ${v.message}`);
          await readback.mapAsync(GPUMapMode.READ);
          const ts = new BigInt64Array(readback.getMappedRange().slice(0));
          readback.unmap();
          const ms = TILE_CANDIDATES.map((_, c) => {
            let best = Infinity;
            for (let r = 0; r < reps; r++) {
              const q = 2 * (c * reps + r);
              best = Math.min(best, Number(ts[q + 1] - ts[q]) / 1e6);
            }
            return best;
          });
          if (!ms.every((t) => Number.isFinite(t) && t > 0)) {
            throw new Error(`the adapter's timestamps are unusable (${ms.join(", ")} ms)`);
          }
          return ms;
        } finally {
          made.forEach((b) => b.destroy());
        }
      })();
    } catch (err) {
      if (!popped) void pop();
      made.forEach((b) => b.destroy());
      return Promise.reject(err);
    }
  }
}
