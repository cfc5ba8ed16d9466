/**
 * Test helpers: seeded random data, tolerance checks and the shared backends.
 * @module
 */

import { WebGpuOps } from "../src/backends/webgpu/backend.ts";
import { WasmOps } from "../src/backends/wasm/backend.ts";
import type { Backend } from "../src/backends/ops.ts";
import type { TensorSource } from "../src/weights/checkpoint.ts";

/** Deterministic uniform random numbers in [lo, hi) (mulberry32). */
export function randomArray(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let a = seed >>> 0;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    out[i] = lo + (hi - lo) * (((t ^ (t >>> 14)) >>> 0) / 4294967296);
  }
  return out;
}

/** max |a - b| / max |b|: the fixture README's relative error. */
export function relError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`Length mismatch: ${actual.length} vs ${expected.length}`);
  }
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    // NaN must fail, so compare in a way NaN cannot pass.
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

/** Throws unless the relative error is within `tol`. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what = "tensor",
): number {
  const err = relError(actual, expected);
  if (!(err <= tol)) {
    throw new Error(`${what}: relative error ${err.toExponential(3)} exceeds ${tol}`);
  }
  return err;
}

let shared: Promise<WebGpuOps | null> | null = null;

/**
 * The WebGPU backend every test shares (creating devices is slow on llvmpipe). Resolves to null
 * when there is no adapter, unless CI=true, where a missing adapter fails the test run.
 */
export function gpuOps(): Promise<WebGpuOps | null> {
  shared ??= WebGpuOps.create().catch((err) => {
    if (Deno.env.get("CI") === "true") throw err;
    console.warn(`No WebGPU adapter, GPU tests are skipped: ${err.message}`);
    return null;
  });
  return shared;
}

/** Deno.test options for tests that hold a device across tests. */
export const GPU_TEST = { sanitizeResources: false, sanitizeOps: false };

/**
 * A test that needs the shared WebGPU backend: it runs `fn` with it, or, where there is no
 * adapter (and CI is not set), shows as ignored instead of passing silently.
 */
export function gpuTest(
  name: string,
  fn: (ops: WebGpuOps) => Promise<void>,
  options: { ignore?: boolean } = {},
): void {
  Deno.test({
    name,
    ignore: options.ignore ?? false,
    ...GPU_TEST,
    async fn(t) {
      const ops = await gpuOps();
      if (!ops) {
        await t.step({ name: "skipped: no WebGPU adapter", ignore: true, fn() {} });
        return;
      }
      await fn(ops);
    },
  });
}

let f16Adapter: Promise<boolean> | null = null;

/** Whether an adapter has shader-f16 (lavapipe's has), asked once for every test of a file. */
export function hasShaderF16(): Promise<boolean> {
  f16Adapter ??=
    (async () => (await navigator.gpu?.requestAdapter())?.features.has("shader-f16") ?? false)();
  return f16Adapter;
}

/**
 * For a test of precision "f16": true where no adapter has shader-f16, after adding an ignored
 * step that says so (the test then returns, and shows as skipped rather than passed). `has`
 * stands in for the adapter in the helper's own test.
 */
export async function skipWithoutF16(
  t: Pick<Deno.TestContext, "step">,
  has: () => Promise<boolean> = hasShaderF16,
): Promise<boolean> {
  if (await has()) return false;
  await t.step({ name: "skipped: no adapter with shader-f16", ignore: true, fn() {} });
  return true;
}

/** A checkpoint with names and shapes but no data: enough for architecture inference. */
export function shapesSource(shapes: Map<string, number[]>, source: string): TensorSource {
  return {
    source,
    metadata: {},
    names: () => [...shapes.keys()],
    shape: (n) => shapes.get(n),
    float32: () => {
      throw new Error("no data");
    },
  };
}

/** The shared fixtures' variants, copied to test/fixtures/. */
export const FIXTURES: URL = new URL("./fixtures/", import.meta.url);

/** Whether ffmpeg is on PATH (the video tests make and read clips with it; skipped without). */
export const HAS_FFMPEG: boolean = (() => {
  try {
    return new Deno.Command("ffmpeg", { args: ["-version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
export const FIXTURE_VARIANTS: readonly string[] = [
  "CI8x8",
  "CI16x16",
  "DI8x8",
  "DI16x16",
  "CV4x8x8",
  "CV8x8x8",
  "CV8x16x16",
  "DV4x8x8",
  "DV8x8x8",
  "DV8x16x16",
];

/** The case files of a variant's fixture folder ("64x64", "9x32x32", ...). */
export function fixtureCases(variant: string): string[] {
  const names = [...Deno.readDirSync(new URL(`${variant}/`, FIXTURES))].map((e) => e.name);
  return names.filter((n) => /^case_.*\.safetensors$/.test(n)).map((n) => n.slice(5, -12)).sort();
}

let sharedWasm: Promise<WasmOps> | null = null;

/** The WebAssembly backend every test shares (default threads). */
export function wasmOps(): Promise<WasmOps> {
  sharedWasm ??= WasmOps.create();
  return sharedWasm;
}

/** The backends a network test runs on. */
export const BACKENDS = ["webgpu", "wasm"] as const;

/** A test run with the shared backend `backend` (named after it); see gpuTest. */
export function backendTest(
  name: string,
  backend: typeof BACKENDS[number],
  fn: (ops: Backend) => Promise<void>,
  options: { ignore?: boolean } = {},
): void {
  if (backend === "webgpu") return gpuTest(`${name} [webgpu]`, fn, options);
  Deno.test({
    name: `${name} [wasm]`,
    ignore: options.ignore ?? false,
    ...GPU_TEST,
    async fn() {
      await fn(await wasmOps());
    },
  });
}

/** A kernel test, registered once per backend. */
export function kernelTest(
  name: string,
  fn: (ops: Backend, backend: typeof BACKENDS[number]) => Promise<void> | void,
): void {
  for (const backend of BACKENDS) {
    backendTest(name, backend, async (ops) => await fn(ops, backend));
  }
}

/** A fresh backend with its attention score budget set (tests of query blocking). */
export function createOps(
  backend: typeof BACKENDS[number],
  options: { attentionScoreBytes: number },
): Promise<Backend> {
  return backend === "webgpu" ? WebGpuOps.create(options) : WasmOps.create(options);
}
