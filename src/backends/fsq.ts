/**
 * Finite scalar quantisation constants, derived from the level list exactly as the reference
 * derives them (in float32), so that every backend rounds at the same boundaries.
 * @module
 */

/** The Cosmos discrete tokenizers' levels: 8*8*8*5*5*5 = 64000 codes. */
export const DEFAULT_FSQ_LEVELS: readonly number[] = [8, 8, 8, 5, 5, 5];

/** Bound epsilon of the reference's FSQuantizer.bound. */
const BOUND_EPS = 1e-3;

export interface FsqConstants {
  /** Place value of each digit: cumulative product of the preceding levels. */
  basis: number[];
  /** (L - 1) * (1 + eps) / 2, in float32. */
  halfL: number[];
  /** 0.5 for even L, 0 for odd. */
  offset: number[];
  /** atanh(offset / halfL), in float32. */
  shift: number[];
  /** Number of codes: the product of the levels. */
  codebookSize: number;
}

export function fsqConstants(levels: readonly number[]): FsqConstants {
  if (levels.length === 0 || levels.length > 8) {
    throw new Error(`FSQ needs 1 to 8 levels, got ${levels.length}`);
  }
  const f = Math.fround;
  const basis: number[] = [];
  let size = 1;
  for (const l of levels) {
    if (!Number.isInteger(l) || l < 2) throw new Error(`Invalid FSQ level: ${l}`);
    basis.push(size);
    size *= l;
  }
  const halfL = levels.map((l) => f(f(f(l - 1) * f(1 + BOUND_EPS)) / 2));
  const offset = levels.map((l) => (l % 2 === 0 ? 0.5 : 0));
  const shift = levels.map((_, i) => f(Math.atanh(f(offset[i] / halfL[i]))));
  return { basis, halfL, offset, shift, codebookSize: size };
}
