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
];

function specOf(name: string): VariantSpec {
  const m = /-(C|D)(I|V)(\d+)x(\d+)(?:x(\d+))?$/.exec(name)!;
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

/**
 * Resolves "Cosmos-0.1-Tokenizer-CI8x8", "nvidia/Cosmos-0.1-Tokenizer-CI8x8" or the short
 * "CI8x8" (the newest release of that variant).
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
 * ```
 */
export function findVariant(name: string): VariantSpec {
  const bare = name.replace(/^nvidia\//, "");
  const exact = VARIANTS.find((v) => v.name === bare);
  if (exact) return exact;
  const short = VARIANTS.filter((v) => v.name.endsWith(`-${bare}`));
  if (short.length) return short[short.length - 1];
  throw new Error(
    `Unknown model "${name}": expected one of ${VARIANTS.map((v) => v.name).join(", ")}`,
  );
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
