/**
 * The WebAssembly backend's options (threads, SIMD flavour, memory budgets), their defaults and
 * their checks, apart from the runtime that applies them (runtime.ts).
 * @module
 */

/** How the WebAssembly backend runs: threads, SIMD flavour, memory budgets. */
export interface WasmOptions {
  /** Threads (the calling one included). Default: the machine's logical cores. */
  threads?: number;
  /** Use fused multiply-add where the runtime has relaxed SIMD. Default true. */
  relaxedSimd?: boolean;
  /** Bytes of gathered convolution columns held at once. */
  columnBytes?: number;
  /**
   * Bytes of a Winograd convolution's zero-padded input held at once: larger frames are
   * convolved a band of rows at a time (default 16 MiB).
   */
  winogradBandBytes?: number;
  /**
   * Bytes kept outside the heap (a stream's carried frames and attention caches between steps,
   * and row bands), at most: past it a stream fails with a clear error rather than exhausting
   * the process. Default 16 GiB, or three quarters of the machine's memory where that is less
   * and the runtime may read it (Deno with --allow-sys). The caches grow with a clip's length:
   * 2 x 59 MB per latent frame at 720p for the official video tokenizers, on top of 1.35 GiB of
   * carried frames; the Wan2.1 VAE's 720p decode carries about 8.9 GB.
   */
  parkedBytes?: number;
  /** Bytes of attention scores held at once. */
  attentionScoreBytes?: number;
  /**
   * Bytes of Winograd-transformed 3x3 weights kept between calls, for the layers whose first
   * call has at most WINOGRAD_CACHE_MAX_PIXELS output pixels (where the transform is a large
   * part of the work: 40% at 3 frames of 16x16 with 512 channels, a few % at 64x64): the first
   * such layers stay while they fit, and the others are transformed into a transient buffer on
   * every call (evicting the least recently used instead would keep nothing when a pass cycles
   * through more layers than fit; deciding at the first call keeps a pass's memory from growing
   * later). A transform is 4x its layer's weights (36 positions
   * against 9 taps). Default 128 MiB (WINOGRAD_CACHE_BYTES); 0 transforms on every call.
   */
  winogradCacheBytes?: number;
  /** Worker threads stop after this many idle milliseconds (restarting on demand). */
  idleMs?: number;
  /**
   * Bytes an activation may hold in the heap: a larger one (a step of a 4K video) is held as
   * row bands outside it, and each op over it runs a band at a time (bands.ts). Default 512 MiB:
   * nothing at 1080p or below is banded, and a 4K step's heap stays well under 4 GiB.
   */
  maxTensorBytes?: number;
  /**
   * Bytes the WebAssembly memory may grow to (default, and at most, wasm32's 4 GiB): an
   * allocation past it fails with an error naming what needed the memory.
   */
  heapBytes?: number;
}

/** Channels up to which 3x3 convolutions take the Winograd path (its scratch is sized for them). */
export const WINOGRAD_MAX_CHANNELS = 512;
export const COLUMN_BYTES = 8 << 20;
export const WINOGRAD_BAND_BYTES = 16 << 20;
/**
 * The default Winograd weight cache: with it, the streaming figures of the README (720p encode
 * 2.46 GB, decode 2.66 GB peak RSS) grow by 128 MiB at most, still under a quarter of the
 * reference's 11.3 GB.
 */
export const WINOGRAD_CACHE_BYTES = 128 << 20;
/**
 * Output pixels per call up to which a convolution's transform is cached: a 720p clip's
 * layers are all larger (its latent frames are 90 x 160), so its memory is unchanged.
 */
export const WINOGRAD_CACHE_MAX_PIXELS = 4096;
export const PARKED_BYTES = 16 * 2 ** 30;

/**
 * The default `parkedBytes`: PARKED_BYTES, or 3/4 of the machine's memory where that is less.
 * The memory is read only where it is allowed already: asking would prompt a user at a terminal.
 */
export function defaultParkedBytes(): number {
  const deno = (globalThis as {
    Deno?: {
      permissions?: { querySync?(d: { name: "sys"; kind: "systemMemoryInfo" }): { state: string } };
      systemMemoryInfo?(): { total: number };
    };
  }).Deno;
  try {
    const state = deno?.permissions?.querySync?.({ name: "sys", kind: "systemMemoryInfo" }).state;
    const total = state === "granted" ? deno?.systemMemoryInfo?.().total : undefined;
    if (total && total > 0) return Math.min(PARKED_BYTES, Math.floor(total * 0.75));
  } catch {
    // A runtime without these APIs: the fixed default.
  }
  return PARKED_BYTES;
}
export const MAX_TENSOR_BYTES = 512 << 20;
export const ATTENTION_SCORE_BYTES = 4 << 20;

/** Throws on options no backend could honour. */
export function checkWasmOptions(options: WasmOptions): void {
  const t = options.threads;
  if (t !== undefined && (!Number.isInteger(t) || t < 1)) {
    throw new Error(`threads must be a positive integer, got ${t}`);
  }
  const budgets = [
    "columnBytes",
    "winogradBandBytes",
    "parkedBytes",
    "attentionScoreBytes",
    "winogradCacheBytes",
    "idleMs",
    "heapBytes",
  ] as const;
  for (const k of budgets) {
    const v = options[k];
    if (v !== undefined && !(Number.isFinite(v) && v >= 0)) {
      throw new Error(`${k} must be a number >= 0, got ${v}`);
    }
  }
  const m = options.maxTensorBytes;
  if (m !== undefined && !(Number.isFinite(m) && m >= 64)) {
    throw new Error(`maxTensorBytes must be a number >= 64, got ${m}`);
  }
  const h = options.heapBytes;
  if (h !== undefined && h > 2 ** 32) {
    throw new Error(`heapBytes must be at most 4 GiB (wasm32's address space), got ${h}`);
  }
}
