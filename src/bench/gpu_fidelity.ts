/**
 * Fixture fidelity for `deno task gpu-report`: every variant's reference cases (test/fixtures,
 * made by the PyTorch reference; see its README) through a backend, with the largest relative
 * error (max |diff| / max |ref|) over the latents or codes, the reconstruction and every
 * probe, and the fraction of FSQ indices that differ.
 * @module
 */

import type { Backend, Tensor } from "../backends/ops.ts";
import { loadTokenizer } from "../load.ts";
import type { HostTensor } from "../types.ts";
import { parseSafetensors } from "../weights/safetensors.ts";

/** The precisions measured. Add "f16" here once the backend has the `precision` option. */
export const PRECISIONS = ["f32"] as const;
/** A precision the report measures. */
export type Precision = typeof PRECISIONS[number] | "f16";

/**
 * Largest relative error accepted, and fraction of FSQ indices allowed to differ: f32 holds
 * the fixture README's 1e-4 with every index equal; f16 (10 mantissa bits) is expected near
 * 1e-3, and indices near a rounding boundary may flip.
 */
export const TOLERANCE: Record<Precision, { relError: number; indexMismatch: number }> = {
  f32: { relError: 1e-4, indexMismatch: 0 },
  f16: { relError: 1e-2, indexMismatch: 0.01 },
};

/** One case's result, as the JSON holds it. */
export interface FidelityRow {
  variant: string;
  /** The case, e.g. "64x64" or "17x32x48". */
  case: string;
  precision: Precision;
  /** The tolerance this row was held to. */
  tolerance: number;
  /** The largest relative error over every compared tensor. */
  maxRelError: number;
  /** Relative error per tensor ("latent", "codes", "reconstruction", "probe.<module>"). */
  errors: Record<string, number>;
  /** Discrete variants: fraction of FSQ indices unlike the reference's. */
  indexMismatch?: number;
  /** Wall milliseconds of the case (load, encode, decode, reads). */
  ms: number;
  /** Every error within tolerance (and the indices within theirs). */
  pass: boolean;
}

/** max |a - b| / max |b|; NaN anywhere counts as Infinity. */
export function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) return Infinity;
  let maxDiff = 0, maxRef = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i] - expected[i]);
    if (!(d <= maxDiff)) maxDiff = Number.isNaN(d) ? Infinity : d;
    maxRef = Math.max(maxRef, Math.abs(expected[i]));
  }
  return maxRef === 0 ? maxDiff : maxDiff / maxRef;
}

/** Variant folders under `dir` that hold an encoder, a decoder and at least one case. */
export async function fixtureVariants(
  dir: string,
): Promise<{ variant: string; cases: string[] }[]> {
  const out = [];
  for await (const e of Deno.readDir(dir)) {
    // Followed, so that a folder of links to variants works too.
    if (!(await Deno.stat(`${dir}/${e.name}`).catch(() => null))?.isDirectory) continue;
    const names = new Set<string>();
    for await (const f of Deno.readDir(`${dir}/${e.name}`)) names.add(f.name);
    const cases = [...names].filter((n) => /^case_.+\.safetensors$/.test(n))
      .map((n) => n.slice(5, -12));
    if (names.has("encoder.safetensors") && names.has("decoder.safetensors") && cases.length) {
      // Smallest first: --smallest takes one.
      const size = (c: string) => c.split("x").reduce((a, b) => a * Number(b), 1);
      out.push({ variant: e.name, cases: cases.sort((a, b) => size(a) - size(b)) });
    }
  }
  return out.sort((a, b) => a.variant.localeCompare(b.variant));
}

/** Runs one case of `dir/variant` on `ops` and compares it with the reference. */
export async function fidelityCase(
  ops: Backend,
  where: { dir: string; variant: string; case: string },
  precision: Precision,
): Promise<FidelityRow> {
  const t0 = performance.now();
  const folder = `${where.dir}/${where.variant}`;
  const tok = await loadTokenizer({
    encoder: `${folder}/encoder.safetensors`,
    decoder: `${folder}/decoder.safetensors`,
    backend: ops,
    // With f16 in PRECISIONS, the backend's precision option goes here.
  });
  const file = parseSafetensors(await Deno.readFile(`${folder}/case_${where.case}.safetensors`));
  const want = (name: string): HostTensor => {
    const entry = file.entries.get(name);
    if (!entry) throw new Error(`Fixture case ${folder}/case_${where.case} has no "${name}"`);
    return { data: file.float32(name), shape: entry.shape };
  };
  const probes = new Map<string, HostTensor>();
  const probe = async (name: string, t: Tensor) => void probes.set(name, await ops.read(t));
  const errors: Record<string, number> = {};
  const compare = (name: string, got: HostTensor) => {
    const ref = want(name);
    const sameShape = got.shape.join("x") === ref.shape.join("x");
    errors[name] = sameShape ? relativeError(got.data, ref.data) : Infinity;
  };
  let indexMismatch: number | undefined;
  try {
    const enc = await tok.encode(want("input"), probe);
    let rec: HostTensor;
    if (tok.discrete) {
      const ref = file.int32("indices");
      const got = enc.indices!.data;
      let differ = got.length === ref.length ? 0 : ref.length;
      for (let i = 0; i < ref.length && differ < ref.length; i++) if (got[i] !== ref[i]) differ++;
      indexMismatch = differ / ref.length;
      compare("codes", enc.codes!);
      rec = await tok.decode({ data: ref, shape: file.entries.get("indices")!.shape }, probe);
    } else {
      compare("latent", enc.latent!);
      rec = await tok.decode(want("latent"), probe);
    }
    compare("reconstruction", rec);
    for (const name of (file.metadata.probes ?? "").split(",").filter((p) => p)) {
      const got = probes.get(name.replace(/^probe\./, ""));
      if (got) compare(name, got);
      else errors[name] = Infinity; // a probe the network never produced
    }
  } finally {
    await tok.dispose();
  }
  const tol = TOLERANCE[precision];
  const maxRelError = Math.max(...Object.values(errors));
  return {
    variant: where.variant,
    case: where.case,
    precision,
    tolerance: tol.relError,
    maxRelError,
    errors,
    ...(indexMismatch === undefined ? {} : { indexMismatch }),
    ms: Math.round(performance.now() - t0),
    pass: maxRelError <= tol.relError && (indexMismatch ?? 0) <= tol.indexMismatch,
  };
}
