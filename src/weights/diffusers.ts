/**
 * Diffusers checkpoints of the causal continuous video tokenizers (`AutoencoderKLCosmos`,
 * e.g. the `vae/diffusion_pytorch_model.safetensors` of a Cosmos 1.0 pipeline): one file with
 * both halves under diffusers' parameter names, converted to and from the official
 * encoder.jit / decoder.jit halves. The names are translated by diffusers_names.ts.
 *
 * No tensor changes shape or layout: diffusers builds every convolution, attention projection
 * included, as a `Conv3d` with the official kernel ([out, in, kt, kh, kw]), and its norms as the
 * same `GroupNorm` under `.norm`. The Haar patcher buffers (`wavelets`, `_arange`) are not
 * persistent in diffusers and are not stored; where a file holds them anyway they are dropped,
 * as the loader recomputes them.
 *
 * One difference in content: the official hybrid resamplers hold conv1..conv3 whatever paths
 * (space, time) are on, diffusers' builds only the convs of the paths that are on, so its files
 * lack the others (for CV8x8x8: `encoder.down.1.downsample.*`, `decoder.up.2.upsample.*`);
 * {@link fromDiffusers} puts zeros there, which the loader never runs.
 * @module
 */

import { safetensorsSource, type TensorSource } from "./checkpoint.ts";
import { parseSafetensors } from "./safetensors.ts";
import {
  fromDiffusersNames,
  toDiffusersName,
  toDiffusersNames,
  upLevels,
} from "./diffusers_names.ts";

/**
 * Names only diffusers' AutoencoderKLCosmos uses (never an official state_dict's). A bare
 * `quant_conv.weight` is no marker: the official image checkpoints have it too.
 */
const DIFFUSERS_MARKER =
  /^(?:encoder|decoder)\.(?:conv_in\.conv_[st]\.|down_blocks\.|up_blocks\.|mid_block\.)/;

/** Whether `src` is named like a diffusers AutoencoderKLCosmos checkpoint. */
export function isDiffusersCheckpoint(src: Pick<TensorSource, "names">): boolean {
  return src.names().some((n) => DIFFUSERS_MARKER.test(n));
}

/**
 * `src` seen through a renaming: `names` maps each new name to the name in `src`, or to the
 * shape of an all-zero placeholder.
 */
function renamed(
  src: TensorSource,
  names: Map<string, string | number[]>,
  source: string,
  metadata: Record<string, string>,
): TensorSource {
  return {
    source,
    metadata,
    names: () => [...names.keys()],
    shape: (name) => {
      const inner = names.get(name);
      return inner === undefined ? undefined : typeof inner === "string" ? src.shape(inner) : inner;
    },
    float32: (name) => {
      const inner = names.get(name);
      if (inner === undefined) throw new Error(`"${source}" has no tensor "${name}"`);
      if (typeof inner === "string") return src.float32(inner);
      return new Float32Array(inner.reduce((a, b) => a * b, 1));
    },
  };
}

const ENCODER_HALF = /^(encoder|quant_conv)\./;
const DECODER_HALF = /^(decoder|post_quant_conv)\./;

/** A video tokenizer's compression factors. */
export interface DiffusersCompression {
  spatial: number;
  temporal: number;
}

/**
 * The compression a diffusers checkpoint records: from a `config` entry of the file's metadata
 * (ours: spatial_compression / temporal_compression, or diffusers' spatial_compression_ratio /
 * temporal_compression_ratio), else from `config` (the contents of diffusers' config.json,
 * which lives beside the weights). Undefined when neither says.
 */
function recordedCompression(
  metadata: Record<string, string>,
  config?: Record<string, unknown>,
): DiffusersCompression | undefined {
  const candidates: unknown[] = [];
  try {
    if (metadata.config !== undefined) candidates.push(JSON.parse(metadata.config));
  } catch { /* not JSON: says nothing */ }
  if (config !== undefined) candidates.push(config);
  for (const c of candidates) {
    if (typeof c !== "object" || c === null) continue;
    const r = c as Record<string, unknown>;
    const spatial = r.spatial_compression ?? r.spatial_compression_ratio;
    const temporal = r.temporal_compression ?? r.temporal_compression_ratio;
    if (Number.isInteger(spatial) && Number.isInteger(temporal)) {
      return { spatial: spatial as number, temporal: temporal as number };
    }
  }
  return undefined;
}

/**
 * The convs of the official hybrid resamplers (CausalHybridDownsample3d / Upsample3d): the
 * path each serves and its kernel. The official modules hold all three convs whatever paths
 * are on; diffusers' CosmosDownsample3d / CosmosUpsample3d build only those of the paths that
 * are on (nn.Identity otherwise), so its files lack the others.
 */
const RESAMPLER_CONVS = {
  encoder: [
    ["conv1", "spatial", [1, 3, 3]],
    ["conv2", "temporal", [3, 1, 1]],
    ["conv3", "any", [1, 1, 1]],
  ],
  decoder: [
    ["conv1", "temporal", [3, 1, 1]],
    ["conv2", "spatial", [1, 3, 3]],
    ["conv3", "any", [1, 1, 1]],
  ],
} as const;

interface ResamplerConv {
  /** Official parameter name. */
  name: string;
  shape: number[];
  /** Whether diffusers builds it; null when the compression is not known. */
  built: boolean | null;
}

/**
 * Every resampler conv parameter (weight and bias) of the official half `half` whose other
 * names and shapes `shape` gives: every encoder level but the last (`encoder.down.{i}`), every
 * decoder level but up.0. Levels, channels and patch size are read off the shapes; which paths
 * diffusers builds follows its AutoencoderKLCosmos constructor for `compression`.
 */
function resamplerConvs(
  half: "encoder" | "decoder",
  names: Iterable<string>,
  shape: (name: string) => number[] | undefined,
  compression: DiffusersCompression | undefined,
): ResamplerConv[] {
  const re = half === "encoder" ? /^encoder\.down\.(\d+)\./ : /^decoder\.up\.(\d+)\./;
  let n = 0;
  for (const name of names) {
    const m = re.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  // Patch size p: the patcher's 3 p^3 channels.
  const patched = half === "encoder"
    ? shape("encoder.conv_in.0.conv3d.weight")?.[1]
    : shape("decoder.conv_out.0.conv3d.weight")?.[0];
  const logP = patched === undefined ? null : Math.round(Math.log2(patched / 3) / 3);
  const out: ResamplerConv[] = [];
  for (let level = 0; level < n; level++) {
    if (half === "encoder" ? level === n - 1 : level === 0) continue;
    const prefix = half === "encoder" ? `encoder.down.${level}` : `decoder.up.${level}`;
    const c = shape(`${prefix}.block.0.conv2.0.conv3d.weight`)?.[0];
    if (c === undefined) continue;
    let spatialOn: boolean | null = null, temporalOn: boolean | null = null;
    if (compression && logP !== null) {
      const ns = Math.log2(compression.spatial) - logP;
      const nt = Math.log2(compression.temporal) - logP;
      if (half === "encoder") {
        spatialOn = level < ns;
        temporalOn = level < nt;
      } else {
        const d = n - 1 - level; // diffusers' up_blocks index
        temporalOn = 0 < d && d < nt + 1;
        spatialOn = temporalOn || (d < ns && ns > nt);
      }
    }
    for (const [conv, path, kernel] of RESAMPLER_CONVS[half]) {
      const built = spatialOn === null || temporalOn === null
        ? null
        : path === "spatial"
        ? spatialOn
        : path === "temporal"
        ? temporalOn
        : spatialOn || temporalOn;
      const base = `${prefix}.${half === "encoder" ? "downsample" : "upsample"}.${conv}.conv3d`;
      out.push({ name: `${base}.weight`, shape: [c, c, ...kernel], built });
      out.push({ name: `${base}.bias`, shape: [c], built });
    }
  }
  return out;
}

/**
 * Splits a diffusers AutoencoderKLCosmos checkpoint into the official encoder and decoder
 * halves (`encoder.*` + `quant_conv.*`, `decoder.*` + `post_quant_conv.*`), under official names,
 * shapes and data unchanged.
 *
 * Resampler convs of switched-off paths, which diffusers does not build, come back as zeros:
 * the official modules hold them but never run them. When the compression is known (the file's
 * metadata or `options.config`, diffusers' config.json), a missing conv of a path that is on
 * is an error; when it is not known, every missing resampler conv is filled, and the loader's
 * compression (its `model` or `compression` option) decides which run.
 *
 * The halves carry metadata `config` with the compression only when it is known that way;
 * otherwise the loader needs `model` or `compression`.
 * @throws Error naming a tensor that is not an AutoencoderKLCosmos parameter, or a missing one
 */
export function fromDiffusers(
  src: TensorSource,
  options: { config?: Record<string, unknown> } = {},
): { encoder: TensorSource; decoder: TensorSource } {
  const toOurs = fromDiffusersNames(src.names(), src.source);
  const compression = recordedCompression(src.metadata, options.config);
  const metadata = { ...src.metadata };
  delete metadata.config;
  if (compression) {
    metadata.config = JSON.stringify({
      spatial_compression: compression.spatial,
      temporal_compression: compression.temporal,
    });
  }
  const half = (which: "encoder" | "decoder", keep: RegExp): TensorSource => {
    const names = new Map<string, string | number[]>();
    for (const [theirs, ours] of toOurs) if (keep.test(ours)) names.set(ours, theirs);
    if (![...names.keys()].some((n) => n.startsWith(`${which}.`))) {
      throw new Error(
        `Cannot split diffusers checkpoint "${src.source}": it has no ${which} tensors`,
      );
    }
    const shape = (n: string) => {
      const inner = names.get(n);
      return typeof inner === "string" ? src.shape(inner) : inner;
    };
    const levels = upLevels(names.keys(), 0);
    for (const conv of resamplerConvs(which, [...names.keys()], shape, compression)) {
      if (names.has(conv.name)) continue;
      if (conv.built) {
        throw new Error(
          `Cannot read diffusers checkpoint "${src.source}": it has no tensor "${
            toDiffusersName(conv.name, levels)
          }", which its compression (${compression!.spatial}x spatial, ${
            compression!.temporal
          }x temporal) needs`,
        );
      }
      names.set(conv.name, conv.shape);
    }
    return renamed(src, names, `${src.source} (diffusers, ${which} half)`, metadata);
  };
  return { encoder: half("encoder", ENCODER_HALF), decoder: half("decoder", DECODER_HALF) };
}

/**
 * The inverse of {@link fromDiffusers}: official-named tensors (an autoencoder, or its two
 * halves) as one diffusers-named checkpoint, shapes and data unchanged. Buffers are left out,
 * as diffusers does not store them. With `options.compression`, so are the resampler convs of
 * switched-off paths, which diffusers' modules do not have: the file is then what
 * AutoencoderKLCosmos.save_pretrained writes; without it, every official tensor is kept.
 * @throws Error naming a tensor that has no diffusers counterpart, or appears twice
 */
export function toDiffusers(
  sources: TensorSource | TensorSource[],
  options: { compression?: DiffusersCompression } = {},
): TensorSource {
  const list = Array.isArray(sources) ? sources : [sources];
  const owner = new Map<string, TensorSource>();
  for (const s of list) {
    for (const n of s.names()) {
      if (owner.has(n)) {
        throw new Error(`Cannot convert to diffusers names: tensor "${n}" is in two sources`);
      }
      owner.set(n, s);
    }
  }
  const label = list.map((s) => s.source).join(" + ");
  const shape = (n: string) => owner.get(n)?.shape(n);
  if (options.compression) {
    for (const half of ["encoder", "decoder"] as const) {
      for (const conv of resamplerConvs(half, owner.keys(), shape, options.compression)) {
        if (conv.built === false) owner.delete(conv.name);
      }
    }
  }
  const toTheirs = toDiffusersNames([...owner.keys()], label);
  const names = new Map<string, string>();
  for (const [ours, theirs] of toTheirs) names.set(theirs, ours);
  const merged: TensorSource = {
    source: label,
    metadata: {},
    names: () => [...owner.keys()],
    shape,
    float32: (n) => {
      const s = owner.get(n);
      if (!s) throw new Error(`"${label}" has no tensor "${n}"`);
      return s.float32(n);
    },
  };
  return renamed(merged, names, `${label} (diffusers names)`, { format: "pt" });
}

/**
 * Reads a diffusers AutoencoderKLCosmos safetensors file (`diffusion_pytorch_model.safetensors`)
 * into the official encoder and decoder halves; see {@link fromDiffusers}.
 * @param source label for messages
 * @throws Error when the file is not safetensors or not named like a diffusers checkpoint
 */
export function loadDiffusersSource(
  bytes: Uint8Array,
  source: string,
  options: { config?: Record<string, unknown> } = {},
): { encoder: TensorSource; decoder: TensorSource } {
  const src = safetensorsSource(parseSafetensors(bytes, source));
  if (!isDiffusersCheckpoint(src)) {
    throw new Error(
      `Cannot read "${source}" as a diffusers checkpoint: none of its tensors has an AutoencoderKLCosmos name (e.g. "encoder.conv_in.conv_s.weight")`,
    );
  }
  return fromDiffusers(src, options);
}
