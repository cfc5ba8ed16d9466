/**
 * `cosmos info`: what a file holds. A checkpoint (safetensors, TorchScript .jit, diffusers):
 * which halves, the variant the loader would infer, widths, tensor count, parameters, dtypes and
 * metadata. A token file: the model, the token shape, the source and its size.
 * @module
 */

import { parseSafetensors } from "../weights/safetensors.ts";
import { isZip, readCheckpoint } from "../weights/formats.ts";
import { fromDiffusers, isDiffusersCheckpoint } from "../weights/diffusers.ts";
import { isVideoCheckpoint } from "../models/config.ts";
import { architectureOf, type CheckpointHalf, halvesOf, inferHalves } from "../models/halves.ts";
import { describeVariant, findVariant, type VariantSpec } from "../models/variants.ts";
import { readTokenFile, TOKEN_FORMAT, WHOLE_CLIP } from "./tokens.ts";
import { fmtShape } from "../types.ts";
import { isWanCheckpoint, wanHalf } from "../weights/wan_names.ts";
import { describeWanHalf, wanModelName } from "../models/wan/build.ts";

export interface HalfInfo {
  half: "encoder" | "decoder";
  kind: "image" | "video";
  /** The official variant name, a descriptive one, or null when a video's compression is unknown. */
  variant: string | null;
  discrete: boolean | null;
  spatialCompression: number | null;
  temporalCompression: number | null;
  latentChannels: number | null;
  fsqLevels: number[] | null;
}

export interface FileInfo {
  file: string;
  type: "checkpoint" | "tokens";
  format: string;
  bytes: number;
  tensors: number;
  parameters: number;
  dtypes: string[];
  halves: HalfInfo[];
  metadata: Record<string, string>;
  /** Token files: the token tensor's name and shape. */
  tokens?: { name: string; shape: number[] };
}

function halfInfo(h: CheckpointHalf, variant: VariantSpec | undefined): HalfInfo {
  const cfg = inferHalves([h], { variant })?.[0];
  if (!cfg) {
    return {
      half: h.half,
      kind: "video",
      variant: null,
      discrete: null,
      spatialCompression: null,
      temporalCompression: null,
      latentChannels: null,
      fsqLevels: null,
    };
  }
  const arch = architectureOf(cfg);
  return {
    half: h.half,
    kind: arch.kind,
    variant: describeVariant(arch),
    discrete: arch.discrete,
    spatialCompression: arch.spatialCompression,
    temporalCompression: arch.temporalCompression,
    latentChannels: cfg.latentChannels,
    fsqLevels: cfg.fsqLevels,
  };
}

/** Reads and describes a file; throws a clear message for files that are neither kind. */
export async function describeFile(path: string, model?: string): Promise<FileInfo> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (err) {
    throw new Error(`Cannot read "${path}": ${(err as Error).message}`);
  }
  const zip = isZip(bytes);
  if (!zip) {
    // Safetensors starts with a little-endian header length and then "{".
    if (bytes.length < 9 || bytes[8] !== 0x7b) {
      throw new Error(
        `"${path}" is neither a safetensors file nor a TorchScript archive (.jit)`,
      );
    }
    const st = parseSafetensors(bytes, path);
    if (st.metadata.format === TOKEN_FORMAT) {
      const { info, tokens } = readTokenFile(bytes, path);
      return {
        file: path,
        type: "tokens",
        format: "safetensors",
        bytes: bytes.length,
        tensors: st.entries.size,
        parameters: tokens.data.length,
        dtypes: [...new Set([...st.entries.values()].map((e) => e.dtype))],
        halves: [],
        metadata: st.metadata,
        tokens: { name: info.discrete ? "indices" : "latent", shape: tokens.shape },
      };
    }
  }
  const src = await readCheckpoint(bytes, path);
  const names = src.names();
  let halves: CheckpointHalf[] | null;
  let format = zip ? "TorchScript archive" : "safetensors";
  if (isWanCheckpoint(src)) {
    const diffusers = names.some((n) => /^(?:en|de)coder\.(?:down|up|mid)_block/.test(n));
    format = zip ? "torch.save state_dict" : "safetensors";
    if (diffusers) format += ", diffusers AutoencoderKLWan names";
    const wan = (["encoder", "decoder"] as const).flatMap((half): HalfInfo[] => {
      if (!names.some((n) => (half === "encoder" ? /^encoder\./ : /^decoder\./).test(n))) return [];
      const shape = describeWanHalf(wanHalf(src, half), half);
      return [{
        half,
        kind: "video",
        variant: wanModelName(shape),
        discrete: false,
        spatialCompression: shape.spatialCompression,
        temporalCompression: shape.temporalCompression,
        latentChannels: shape.latentChannels,
        fsqLevels: null,
      }];
    });
    return {
      file: path,
      type: "checkpoint",
      format,
      bytes: bytes.length,
      tensors: names.length,
      parameters: names.reduce((a, n) => a + src.shape(n)!.reduce((x, y) => x * y, 1), 0),
      dtypes: zip
        ? []
        : [...new Set([...parseSafetensors(bytes, path).entries.values()].map((e) => e.dtype))],
      halves: wan,
      metadata: src.metadata,
    };
  }
  if (isDiffusersCheckpoint(src)) {
    const h = fromDiffusers(src);
    halves = [{ half: "encoder", src: h.encoder }, { half: "decoder", src: h.decoder }];
    format += ", diffusers AutoencoderKLCosmos names";
  } else {
    halves = halvesOf(src);
  }
  if (!halves) throw new Error(`"${path}" holds no Cosmos tokenizer encoder or decoder`);
  // The model name matters only for a video's compression: only then is it looked up.
  const variant = model && halves.some((h) => isVideoCheckpoint(h.src))
    ? findVariant(model)
    : undefined;
  // A TorchScript archive's storages are read as they come; only safetensors name dtypes.
  const dtypes = zip
    ? []
    : [...new Set([...parseSafetensors(bytes, path).entries.values()].map((e) => e.dtype))];
  return {
    file: path,
    type: "checkpoint",
    format,
    bytes: bytes.length,
    tensors: names.length,
    parameters: names.reduce((a, n) => a + src.shape(n)!.reduce((x, y) => x * y, 1), 0),
    dtypes,
    halves: halves.map((h) => halfInfo(h, variant)),
    metadata: src.metadata,
  };
}

function size(bytes: number): string {
  return bytes >= 1e6 ? `${(bytes / 1e6).toFixed(1)} MB` : `${(bytes / 1e3).toFixed(1)} kB`;
}

/** The human-readable description. */
export function formatInfo(info: FileInfo): string {
  const lines = [info.file];
  const row = (k: string, v: string) => lines.push(`  ${k.padEnd(10)} ${v}`);
  if (info.type === "tokens") {
    const m = info.metadata;
    row("holds", `${m.kind} tokens (${info.tokens!.name} ${fmtShape(info.tokens!.shape)})`);
    row("model", m.model);
    const crop = JSON.parse(m.crop);
    const frames = m.kind === "video"
      ? `, ${m.frames} frames at ${m.fps} fps, ${
        m.window === undefined || m.window === WHOLE_CLIP ? "whole clip" : `windows of ${m.window}`
      }`
      : "";
    row("source", `${m.source} (${crop.width}x${crop.height}${frames})`);
    row("file", `${info.format}, ${size(info.bytes)}`);
    return lines.join("\n");
  }
  row(
    "format",
    `${info.format}, ${info.tensors} tensors, ${(info.parameters / 1e6).toFixed(2)} M parameters${
      info.dtypes.length ? ` (${info.dtypes.join(", ")})` : ""
    }, ${size(info.bytes)}`,
  );
  row("holds", info.halves.map((h) => h.half).join(" + "));
  const h = info.halves[0];
  if (h.variant) {
    const what = `${h.kind}, ${
      h.discrete ? `discrete FSQ levels [${h.fsqLevels}]` : "continuous"
    }, ${
      h.kind === "video" ? `${h.temporalCompression}x` : ""
    }${h.spatialCompression}x${h.spatialCompression} compression, ${h.latentChannels} latent channels`;
    row("model", `${h.variant} (${what})`);
  } else {
    row(
      "model",
      "video tokenizer; its compression is not recorded in the file (pass --model NAME)",
    );
  }
  for (const [k, v] of Object.entries(info.metadata)) {
    row(
      k === Object.keys(info.metadata)[0] ? "metadata" : "",
      `${k}: ${v.length > 80 ? `${v.slice(0, 77)}...` : v}`,
    );
  }
  return lines.join("\n");
}
