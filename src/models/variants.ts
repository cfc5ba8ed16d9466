/**
 * The official Cosmos tokenizer variants, for naming a model and checking that weights match it.
 * @module
 */

/** What a variant's name says about its network: kind, tokens and compression. */
export interface Architecture {
  /** Whether it tokenizes images or videos. */
  kind: "image" | "video";
  /** FSQ tokens (discrete) rather than a continuous latent. */
  discrete: boolean;
  /** Pixels per latent position along height and width. */
  spatialCompression: number;
  /** 1 for images. */
  temporalCompression: number;
}

/** An official variant: its name and the architecture the name stands for. */
export interface VariantSpec extends Architecture {
  /** Official name, e.g. "Cosmos-0.1-Tokenizer-CI8x8". */
  name: string;
}

/**
 * The official hub names (nvidia/<name>), as NVIDIA's Cosmos README lists them for download.
 * The 0.1 repos were first published as "Cosmos-Tokenizer-<short>" (the name on the model cards
 * and in NeMo); the hub still answers to those names (see {@link ALIAS_PREFIX}).
 */
const OFFICIAL = [
  "Cosmos-0.1-Tokenizer-CI8x8",
  "Cosmos-0.1-Tokenizer-CI16x16",
  "Cosmos-0.1-Tokenizer-DI8x8",
  "Cosmos-0.1-Tokenizer-DI16x16",
  "Cosmos-0.1-Tokenizer-CV4x8x8",
  "Cosmos-0.1-Tokenizer-CV8x8x8",
  "Cosmos-0.1-Tokenizer-CV8x16x16",
  "Cosmos-0.1-Tokenizer-DV4x8x8",
  "Cosmos-0.1-Tokenizer-DV8x8x8",
  "Cosmos-0.1-Tokenizer-DV8x16x16",
  "Cosmos-1.0-Tokenizer-CV8x8x8",
  "Cosmos-1.0-Tokenizer-DV8x16x16",
  "Cosmos-1.0-Tokenizer-CI8x8-LowRes",
  "Cosmos-1.0-Tokenizer-CI16x16-LowRes",
  "Cosmos-1.0-Tokenizer-DI8x8-LowRes",
  "Cosmos-1.0-Tokenizer-DI16x16-LowRes",
  "Cosmos-1.0-Tokenizer-CV4x8x8-LowRes",
  "Cosmos-1.0-Tokenizer-DV4x8x8-LowRes",
];

/** "Cosmos-Tokenizer-CV4x8x8" names the 0.1 release of CV4x8x8 (its first name on the hub). */
const ALIAS_PREFIX = "Cosmos-Tokenizer-";
const RELEASE_PREFIX = "Cosmos-0.1-Tokenizer-";

function specOf(name: string): VariantSpec {
  const m = /-(C|D)(I|V)(\d+)x(\d+)(?:x(\d+))?(?:-LowRes)?$/.exec(name)!;
  const video = m[2] === "V";
  return {
    name,
    kind: video ? "video" : "image",
    discrete: m[1] === "D",
    temporalCompression: video ? Number(m[3]) : 1,
    spatialCompression: Number(video ? m[4] : m[3]),
  };
}

/**
 * Every official variant.
 *
 * @example
 * ```ts
 * import { VARIANTS } from "@cosmos/webgpu";
 * import assert from "node:assert/strict";
 * const discreteVideo = VARIANTS.filter((v) => v.kind === "video" && v.discrete);
 * assert.ok(discreteVideo.some((v) => v.name === "Cosmos-0.1-Tokenizer-DV8x16x16"));
 * ```
 */
export const VARIANTS: readonly VariantSpec[] = OFFICIAL.map(specOf);

/** The part of a name after its release prefix ("CV4x8x8", "CV4x8x8-LowRes"). */
function shortName(v: VariantSpec): string {
  return v.name.replace(/^Cosmos-\d+\.\d+-Tokenizer-/, "");
}

/**
 * The variant an official name stands for, or null. Names are matched as the hub matches them,
 * without regard to case, and may start with "nvidia/".
 */
export function officialVariant(name: string): VariantSpec | null {
  const bare = name.replace(/^nvidia\//i, "").toLowerCase();
  const exact = VARIANTS.find((v) => v.name.toLowerCase() === bare);
  if (exact) return exact;
  if (bare.startsWith(ALIAS_PREFIX.toLowerCase())) {
    const target = (RELEASE_PREFIX + bare.slice(ALIAS_PREFIX.length)).toLowerCase();
    return VARIANTS.find((v) => v.name.toLowerCase() === target) ?? null;
  }
  // A short name: the newest release of that variant.
  const short = VARIANTS.filter((v) => shortName(v).toLowerCase() === bare);
  return short.length ? short[short.length - 1] : null;
}

/**
 * The hub repo of an official name: "nvidia/" and the name as given when it is a full hub name
 * (an alias stays an alias, so that a cache the Python client filled under it is found), the
 * newest release's for a short name; null for any other name.
 */
export function officialRepo(name: string): string | null {
  const v = officialVariant(name);
  if (!v) return null;
  const bare = name.replace(/^nvidia\//i, "");
  return /^Cosmos-/i.test(bare) ? `nvidia/${bare}` : `nvidia/${v.name}`;
}

/** Every name form accepted, for messages. */
export function knownNames(): string {
  return `${
    VARIANTS.map((v) => v.name).join(", ")
  } (also with "nvidia/", as the ${ALIAS_PREFIX}* aliases of the 0.1 names, or short, e.g. "CV4x8x8")`;
}

/**
 * Resolves an official name: "Cosmos-0.1-Tokenizer-CI8x8", "Cosmos-1.0-Tokenizer-CV8x8x8",
 * "Cosmos-1.0-Tokenizer-CV4x8x8-LowRes", the alias "Cosmos-Tokenizer-CV4x8x8" (the 0.1
 * release), any of them with "nvidia/", or the short "CI8x8" (the newest release of that
 * variant).
 *
 * @example
 * ```ts
 * import { findVariant } from "@cosmos/webgpu";
 * import assert from "node:assert/strict";
 * const v = findVariant("nvidia/Cosmos-0.1-Tokenizer-CV4x8x8");
 * assert.deepEqual([v.kind, v.discrete, v.spatialCompression, v.temporalCompression], [
 *   "video",
 *   false,
 *   8,
 *   4,
 * ]);
 * assert.equal(findVariant("DI16x16").name, "Cosmos-0.1-Tokenizer-DI16x16");
 * assert.equal(findVariant("nvidia/Cosmos-Tokenizer-CV4x8x8").name, "Cosmos-0.1-Tokenizer-CV4x8x8");
 * ```
 */
export function findVariant(name: string): VariantSpec {
  const v = officialVariant(name);
  if (v) return v;
  throw new Error(`Unknown model "${name}": expected one of ${knownNames()}`);
}

/**
 * The variant a checkpoint path's folder is officially named for: the folder holding the file
 * ("Cosmos-0.1-Tokenizer-DV4x8x8/encoder.jit", the layout NVIDIA's README downloads into), or the
 * repo of a huggingface_hub cache path (".../models--nvidia--<name>/snapshots/<commit>/...").
 * Null for any other path.
 */
export function variantOfPath(path: string, isFolder = false): VariantSpec | null {
  const parts = path.split(/[\\/]+/).filter((p) => p !== "");
  if (!isFolder) parts.pop();
  const folder = parts.at(-1);
  if (folder !== undefined && /^Cosmos-/i.test(folder)) {
    const v = officialVariant(folder);
    if (v) return v;
  }
  const cache = parts.at(-3);
  const repo = cache !== undefined && parts.at(-2) === "snapshots"
    ? /^models--nvidia--(.+)$/.exec(cache)?.[1]
    : undefined;
  return repo !== undefined && /^Cosmos-/i.test(repo) ? officialVariant(repo) : null;
}

/** Whether `arch` is the architecture `variant` names. */
export function isArchitectureOf(variant: VariantSpec, arch: Architecture): boolean {
  return variant.kind === arch.kind && variant.discrete === arch.discrete &&
    variant.spatialCompression === arch.spatialCompression &&
    variant.temporalCompression === arch.temporalCompression;
}

/** The official name matching an architecture, or a descriptive one ("CI8x8-like"). */
export function describeVariant(arch: Architecture): string {
  const { kind, discrete, spatialCompression: spatial, temporalCompression: temporal } = arch;
  const short = `${discrete ? "D" : "C"}${kind === "image" ? "I" : "V"}${
    kind === "video" ? `${temporal}x` : ""
  }${spatial}x${spatial}`;
  const match = VARIANTS.filter((v) => v.name.endsWith(`-${short}`));
  return match.length ? match[match.length - 1].name : `${short} (unofficial)`;
}
