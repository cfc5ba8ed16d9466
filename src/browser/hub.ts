/**
 * Official checkpoints by name where there is no file system (a browser page or worker): each
 * half is fetched from the hub's resolve URL and kept in the Cache API, so a page loads it from
 * the network once. `loadTokenizer({ model })` takes this path when `Deno` is absent.
 *
 * The cache is keyed by the resolve URL (endpoint, repo, revision, file): a branch such as
 * "main" is not re-checked once cached; pass a commit hash as `revision` to pin one, or delete
 * the cache (`caches.delete("cosmos-webgpu-hub")`) to fetch again.
 *
 * @example In a page: CI8x8 from huggingface.co, cached after the first load
 * ```ts ignore
 * import { fetchCheckpoint, loadTokenizer } from "./cosmos-webgpu.js";
 * const { encoder, decoder } = await fetchCheckpoint("Cosmos-0.1-Tokenizer-CI8x8");
 * const tok = await loadTokenizer({ encoder, decoder });
 * ```
 * @module
 */

import { findVariant } from "../models/variants.ts";
import {
  checkRepoId,
  checkRevision,
  halfFileNames,
  noCheckpointError,
  WHOLE_MODEL_FILES,
} from "../hub/names.ts";

/** Where and how `fetchCheckpoint` fetches; every field has a default. */
export interface BrowserHubOptions {
  /** Hub URL; default https://huggingface.co. */
  endpoint?: string;
  /** Sent as `Authorization: Bearer` (a gated or private repo). */
  token?: string;
  /** Branch, tag or commit hash; default "main". */
  revision?: string;
  /** fetch to use; default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Where to cache: a CacheStorage (default globalThis.caches), or null for no cache. */
  caches?: CacheStorage | null;
  /** The cache's name; default "cosmos-webgpu-hub". */
  cacheName?: string;
  /** Largest file accepted, in bytes; default 4 GiB (the official .jit files are under 1 GB). */
  maxBytes?: number;
  /** Called as bytes arrive. */
  onProgress?: (p: { file: string; bytes: number; total: number }) => void;
  /** The halves to fetch; default both. One left out comes back empty (no bytes, no URL). */
  halves?: readonly ("encoder" | "decoder")[];
}

/** The halves' bytes, and where they came from (empty for a half `halves` left out). */
export interface FetchedCheckpoint {
  encoder: Uint8Array;
  decoder: Uint8Array;
  /** Hub repo id ("nvidia/Cosmos-0.1-Tokenizer-CI8x8"). */
  repo: string;
  /** The encoder's and decoder's resolve URLs. */
  urls: [string, string];
  /** Whether every half fetched came from the cache. */
  cached: boolean;
}

const DEFAULT_ENDPOINT = "https://huggingface.co";
export const BROWSER_CACHE_NAME = "cosmos-webgpu-hub";
const DEFAULT_MAX_BYTES = 4 * 2 ** 30;

/** The repo id an official name ("CI8x8", "Cosmos-0.1-...", "nvidia/...") or owner/name gives. */
export function browserRepoId(model: string): string {
  const bare = model.replace(/^nvidia\//, "");
  if (!bare.includes("/")) {
    try {
      return `nvidia/${findVariant(bare).name}`;
    } catch (err) {
      if (!model.startsWith("nvidia/")) {
        throw new Error(
          `${
            (err as Error).message
          }, or a hub repo id (owner/name); a directory needs Deno, so in a browser pass encoder and decoder URLs for one`,
        );
      }
    }
  }
  checkRepoId(model);
  return model;
}

/**
 * Fetches (or takes from the Cache API) a checkpoint's encoder and decoder: `model` is an
 * official name or a hub repo id; each half is `<half>.jit`, else `<half>.safetensors`.
 */
export async function fetchCheckpoint(
  model: string,
  options: BrowserHubOptions = {},
): Promise<FetchedCheckpoint> {
  const repo = browserRepoId(model);
  const revision = options.revision ?? "main";
  checkRevision(revision);
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!(maxBytes >= 0)) throw new Error(`maxBytes must be a number >= 0, got ${maxBytes}`);
  const store = options.caches === undefined
    ? (globalThis as { caches?: CacheStorage }).caches ?? null
    : options.caches;
  const ctx: HalfContext = {
    repo,
    base: `${(options.endpoint ?? DEFAULT_ENDPOINT).replace(/\/+$/, "")}/${repo}/resolve/${
      encodeURIComponent(revision)
    }/`,
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    cache: store ? await store.open(options.cacheName ?? BROWSER_CACHE_NAME) : null,
    token: options.token,
    maxBytes,
    onProgress: options.onProgress,
  };
  const halves = options.halves ?? ["encoder", "decoder"];
  if (halves.length === 0 || halves.some((h) => h !== "encoder" && h !== "decoder")) {
    throw new Error(`Cannot fetch "${model}": halves must name "encoder", "decoder" or both`);
  }
  const half = (h: "encoder" | "decoder") =>
    halves.includes(h) ? fetchFirst(ctx, halfFileNames(h)) : Promise.resolve(NONE);
  // Both run to the end (no read left going behind a failure) before either error is thrown.
  const [e, d] = await Promise.allSettled([half("encoder"), half("decoder")]);
  if (e.status === "rejected") throw e.reason;
  if (d.status === "rejected") throw d.reason;
  let [enc, dec] = [e.value, d.value];
  if (halves.every((h) => !(h === "encoder" ? enc : dec))) {
    // No half file at all: a repo holding a whole VAE in one file (Wan's) gives both halves.
    const whole = await fetchFirst(ctx, WHOLE_MODEL_FILES);
    // Every name was asked for: say all of them, not only the first half's.
    if (!whole) throw noCheckpointError(repo, ` at ${ctx.base}`, halves, NO_CHECKPOINT_REMEDY);
    [enc, dec] = [
      halves.includes("encoder") ? whole : NONE,
      halves.includes("decoder") ? whole : NONE,
    ];
  }
  if (!enc) throw notFound(ctx, "encoder");
  if (!dec) throw notFound(ctx, "decoder");
  return {
    encoder: enc.bytes,
    decoder: dec.bytes,
    repo,
    urls: [enc.url, dec.url],
    cached: enc.cached && dec.cached,
  };
}

interface HalfContext {
  repo: string;
  /** The resolve URL up to the file name. */
  base: string;
  fetch: typeof fetch;
  cache: Cache | null;
  token?: string;
  maxBytes: number;
  onProgress?: BrowserHubOptions["onProgress"];
}

/** What a half left out of `halves` comes back as. */
const NONE = { bytes: new Uint8Array(0), url: "", cached: true };

/** What to do when a repo holds none of the files tried. */
const NO_CHECKPOINT_REMEDY =
  "pass the checkpoint's URLs or bytes as encoder and decoder instead (one file as both where it holds the whole VAE)";

/** A half's files are not in the repo (the other half's are). */
function notFound(ctx: HalfContext, half: "encoder" | "decoder"): Error {
  return new Error(`${ctx.repo} has no ${halfFileNames(half).join(" or ")} at ${ctx.base}`);
}

/** The first of `names` in the cache, else the first the hub has (then cached); null if none. */
async function fetchFirst(
  ctx: HalfContext,
  names: readonly string[],
): Promise<{ bytes: Uint8Array<ArrayBuffer>; url: string; cached: boolean } | null> {
  if (ctx.cache) {
    for (const name of names) {
      const hit = await ctx.cache.match(ctx.base + name);
      // A cached entry was checked when stored; its length is checked again all the same.
      if (hit) return { bytes: await readBody(ctx, name, hit), url: ctx.base + name, cached: true };
    }
  }
  for (const name of names) {
    const url = ctx.base + name;
    let res: Response;
    try {
      res = await ctx.fetch(url, {
        headers: ctx.token ? { authorization: `Bearer ${ctx.token}` } : {},
      });
    } catch (err) {
      throw new Error(`Cannot download "${name}" from ${ctx.repo}: ${(err as Error).message}`);
    }
    if (res.status === 404) {
      await res.body?.cancel();
      continue;
    }
    if (!res.ok) {
      await res.body?.cancel();
      const hint = res.status === 401 || res.status === 403
        ? ctx.token ? "; the token given has no access to it" : "; pass a hub token (hub.token)"
        : "";
      throw new Error(
        `Cannot download "${name}" from ${ctx.repo}: HTTP ${res.status} ${res.statusText}${hint}`,
      );
    }
    const bytes = await readBody(ctx, name, res);
    await ctx.cache?.put(
      url,
      new Response(bytes, { headers: { "content-length": String(bytes.length) } }),
    );
    return { bytes, url, cached: false };
  }
  return null;
}

/**
 * A body, never more than `maxBytes` nor more than its Content-Length says: the buffer is the
 * declared size (checked first), or grows to the cap when the size is not declared.
 */
async function readBody(
  ctx: HalfContext,
  name: string,
  res: Response,
): Promise<Uint8Array<ArrayBuffer>> {
  const fail = async (reason: string): Promise<never> => {
    await res.body?.cancel().catch(() => {});
    throw new Error(`Cannot download "${name}" from ${ctx.repo}: ${reason}`);
  };
  // A compressed body's Content-Length counts the compressed bytes: then only the cap holds.
  const encoded = (res.headers.get("content-encoding") ?? "identity") !== "identity";
  const header = encoded ? null : res.headers.get("content-length");
  const declared = header !== null && /^\d+$/.test(header) ? Number(header) : null;
  if (declared !== null && declared > ctx.maxBytes) {
    return await fail(`it is ${declared} bytes, more than maxBytes (${ctx.maxBytes})`);
  }
  if (!res.body) return new Uint8Array(0);
  let buf = new Uint8Array(declared ?? Math.min(ctx.maxBytes, 1 << 20));
  let n = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    const limit = declared ?? ctx.maxBytes;
    if (n + value.length > limit) {
      await reader.cancel().catch(() => {});
      throw new Error(
        `Cannot download "${name}" from ${ctx.repo}: ${
          declared !== null
            ? `the body is longer than its declared ${declared} bytes`
            : `it is more than maxBytes (${ctx.maxBytes})`
        }`,
      );
    }
    if (n + value.length > buf.length) {
      const grown = new Uint8Array(Math.min(limit, Math.max(buf.length * 2, n + value.length)));
      grown.set(buf.subarray(0, n));
      buf = grown;
    }
    buf.set(value, n);
    n += value.length;
    ctx.onProgress?.({ file: name, bytes: n, total: declared ?? 0 });
  }
  if (declared !== null && n !== declared) {
    throw new Error(
      `Cannot download "${name}" from ${ctx.repo}: the body ended after ${n} of its declared ${declared} bytes`,
    );
  }
  return n === buf.length ? buf : buf.slice(0, n);
}
