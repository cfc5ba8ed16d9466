/**
 * Where autotune decisions are kept between runs, and the checks a cache file must pass.
 *
 * Under Deno the decisions live in one JSON file under the user's cache directory
 * (COSMOS_AUTOTUNE_CACHE, else $XDG_CACHE_HOME/cosmos-webgpu/autotune.json, else
 * ~/.cache/cosmos-webgpu/autotune.json), keyed by adapter. In a browser (no Deno) they live in
 * a map of this module: kept for the page's lifetime, shared by every backend the page creates,
 * not persisted. A cache file is another program's output, perhaps hostile: it is size-capped,
 * parsed, and each entry must name one of the tile candidates exactly; anything else makes the
 * whole file ignored with a warning (and rewritten with fresh timings).
 * @module
 */

import { denoApi, envVar, expandHome, joinPath } from "../../hub/env.ts";
import type { GemmTiles } from "./gemm.ts";

/** The file's `format` field; anything else is not ours. */
export const CACHE_FORMAT = "cosmos-webgpu autotune";
/** Bump when the meaning of an entry changes; older files are then ignored. */
export const CACHE_VERSION = 1;
/** A real cache holds a few dozen entries per adapter; a file past this is not one of ours. */
export const MAX_CACHE_BYTES = 1 << 20;
const MAX_ADAPTERS = 64;
const MAX_ENTRIES = 4096;
const MAX_KEY_CHARS = 256;

/** One decision: the winning tiles, and the milliseconds each candidate took (report only). */
export interface TuneEntry {
  tiles: GemmTiles;
  /** GPU milliseconds per candidate, in candidate order; absent or empty when unknown. */
  ms?: number[];
}

/** Decisions of one adapter by "family shape-class". */
export type AdapterEntries = Record<string, TuneEntry>;

/** What a store holds: decisions by adapter key. */
export type TuneCache = Record<string, AdapterEntries>;

/** Where decisions persist. */
export interface TuneStore {
  /** Where it is, for messages ("memory" for the browser's map). */
  readonly where: string;
  /** Every adapter's decisions; an unreadable or invalid store is reported and read as empty. */
  load(): Promise<TuneCache>;
  /** Replaces one adapter's decisions, keeping the other adapters'. */
  save(adapter: string, entries: AdapterEntries): Promise<void>;
}

const TILE_FIELDS = ["WG_M", "WG_N", "TM", "TN", "BK"] as const;

function sameTiles(a: GemmTiles, b: GemmTiles): boolean {
  return TILE_FIELDS.every((f) => a[f] === b[f]);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * Checks a cache file's text; throws a sentence saying what is wrong. Tiles are accepted only
 * when they equal one of `candidates`, so a hostile file can at worst pick a slower candidate.
 */
export function parseTuneCache(text: string, candidates: readonly GemmTiles[]): TuneCache {
  if (text.length > MAX_CACHE_BYTES) {
    throw new Error(`it has ${text.length} characters, more than the ${MAX_CACHE_BYTES} allowed`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new Error(`it is not JSON (${(err as Error).message})`);
  }
  if (!isRecord(doc) || doc.format !== CACHE_FORMAT) {
    throw new Error(`it is not an autotune cache (no "format": "${CACHE_FORMAT}")`);
  }
  if (doc.version !== CACHE_VERSION) {
    throw new Error(`its version is ${JSON.stringify(doc.version)}, expected ${CACHE_VERSION}`);
  }
  if (!isRecord(doc.adapters)) throw new Error(`its "adapters" is not an object`);
  const adapters = Object.entries(doc.adapters);
  if (adapters.length > MAX_ADAPTERS) {
    throw new Error(`it lists ${adapters.length} adapters, more than ${MAX_ADAPTERS}`);
  }
  const out: TuneCache = {};
  for (const [adapter, entries] of adapters) {
    if (adapter.length > MAX_KEY_CHARS) throw new Error(`an adapter key is too long`);
    if (!isRecord(entries)) throw new Error(`adapter "${adapter}" has no entry object`);
    const list = Object.entries(entries);
    if (list.length > MAX_ENTRIES) {
      throw new Error(`adapter "${adapter}" has ${list.length} entries, more than ${MAX_ENTRIES}`);
    }
    const checked: AdapterEntries = {};
    for (const [key, entry] of list) {
      if (key.length > MAX_KEY_CHARS) throw new Error(`an entry key is too long`);
      checked[key] = checkEntry(entry, candidates, `entry "${key}" of adapter "${adapter}"`);
    }
    out[adapter] = checked;
  }
  return out;
}

function checkEntry(entry: unknown, candidates: readonly GemmTiles[], what: string): TuneEntry {
  if (!isRecord(entry) || !isRecord(entry.tiles)) throw new Error(`${what} has no "tiles"`);
  const t = entry.tiles;
  const tiles = Object.fromEntries(TILE_FIELDS.map((f) => [f, t[f]])) as unknown as GemmTiles;
  const known = candidates.find((c) => sameTiles(c, tiles));
  if (!known) {
    throw new Error(`${what} names tiles ${JSON.stringify(t)}, which are not a candidate`);
  }
  const ms = entry.ms;
  if (ms !== undefined) {
    const ok = Array.isArray(ms) && ms.length <= candidates.length &&
      ms.every((v) => typeof v === "number" && Number.isFinite(v) && v >= 0);
    if (!ok) throw new Error(`${what} has a "ms" that is not a list of candidate timings`);
  }
  return { tiles: { ...known }, ...(ms ? { ms: [...ms as number[]] } : {}) };
}

/** The cache file Deno uses: COSMOS_AUTOTUNE_CACHE, else under $XDG_CACHE_HOME or ~/.cache. */
export function tuneCachePath(): string | undefined {
  const explicit = envVar("COSMOS_AUTOTUNE_CACHE");
  if (explicit) return expandHome(explicit);
  const xdg = envVar("XDG_CACHE_HOME");
  const home = envVar("HOME") ?? envVar("USERPROFILE");
  const base = xdg ? expandHome(xdg) : home ? joinPath(home, ".cache") : undefined;
  return base ? joinPath(base, "cosmos-webgpu", "autotune.json") : undefined;
}

/** The browser's store: this module's map (lost with the page). */
const MEMORY = new Map<string, AdapterEntries>();

/** A store kept in memory for the page's (or process's) lifetime. */
export function memoryStore(): TuneStore {
  return {
    where: "memory",
    load: () => Promise.resolve(Object.fromEntries(MEMORY)),
    save(adapter, entries) {
      MEMORY.set(adapter, { ...entries });
      return Promise.resolve();
    },
  };
}

/** A store in a JSON file; problems reading or writing it are warnings, never errors. */
export function fileStore(path: string, candidates: readonly GemmTiles[]): TuneStore {
  const deno = denoApi()!;
  const read = async (): Promise<TuneCache> => {
    let text: string;
    try {
      const info = await deno.stat(path);
      if (info.size > MAX_CACHE_BYTES) {
        throw new Error(`it has ${info.size} bytes, more than the ${MAX_CACHE_BYTES} allowed`);
      }
      text = await deno.readTextFile(path);
    } catch (err) {
      if (err instanceof deno.errors.NotFound) return {};
      throw err;
    }
    return parseTuneCache(text, candidates);
  };
  return {
    where: path,
    async load() {
      try {
        return await read();
      } catch (err) {
        console.warn(
          `Ignoring the autotune cache "${path}": ${
            (err as Error).message
          }. It will be rewritten with fresh timings; delete it to silence this`,
        );
        return {};
      }
    },
    async save(adapter, entries) {
      try {
        // Other adapters' decisions are kept; an invalid file is replaced.
        const all = await read().catch(() => ({} as TuneCache));
        all[adapter] = entries;
        const doc = { format: CACHE_FORMAT, version: CACHE_VERSION, adapters: all };
        const dir = path.replace(/[\\/][^\\/]*$/, "");
        if (dir && dir !== path) await deno.mkdir(dir, { recursive: true });
        // Written beside and renamed, so a reader never sees half a file.
        const tmp = `${path}.${deno.pid}.tmp`;
        await deno.writeTextFile(tmp, JSON.stringify(doc, null, 1) + "\n");
        await deno.rename(tmp, path);
      } catch (err) {
        console.warn(`Cannot write the autotune cache "${path}": ${(err as Error).message}`);
      }
    },
  };
}

/** The store for this runtime: the cache file under Deno, else (browser) memory. */
export function defaultStore(candidates: readonly GemmTiles[]): TuneStore {
  const path = denoApi() ? tuneCachePath() : undefined;
  return path ? fileStore(path, candidates) : memoryStore();
}
