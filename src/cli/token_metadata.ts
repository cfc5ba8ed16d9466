/**
 * The checks on a token file's `__metadata__`: every field `decode` relies on is read strictly
 * and checked against the tensor it describes, so that a damaged or hostile file fails with a
 * message naming the field and its value instead of looping, allocating what it claims, or
 * writing a black, oversized or misplaced picture. What must hold, for tokens [1, (C,) (t,) h, w]
 * of a model with spatial compression s and temporal compression tc:
 *
 * - `kind`, `discrete` and the tensor (`indices` I32 or `latent` float) agree, batch 1;
 * - `spatial_compression` and `temporal_compression` are powers of two (tc 1 for images), and
 *   those of the model when `model` names an official one;
 * - `crop` lies inside the h*s x w*s pixels the tokens decode to, and is what padding to
 *   multiples of s left (less than s rows and columns of padding);
 * - `source_format` is an image or video extension of the tokens' kind (it names the output);
 * - videos: `window` is "whole" or 1 + k x tc frames, `last_window_pad` adds fewer than tc
 *   frames (none before a whole clip), `frames` is the count those give the tensor's t latent
 *   frames, and `fps` is a frame rate ffmpeg can write.
 * @module
 */

import type { SafetensorsEntry } from "../weights/safetensors.ts";
import { fmtShape } from "../types.ts";
import type { Crop } from "../media/pad.ts";
import { imageFormatOf } from "../media/image.ts";
import { isVideoPath } from "../media/video.ts";
import { type Architecture, findVariant } from "../models/variants.ts";
import type { TokenInfo } from "./tokens.ts";

/** Metadata `window` of a video encoded whole, in one exact causal stream. */
export const WHOLE_CLIP = "whole";

/** Largest compression factors a file may claim (the official models have 16 and 8). */
const MAX_SPATIAL = 64, MAX_TEMPORAL = 32;
/** Frame rates ffmpeg writes: below 1/1000 fps its frame durations overflow. */
const MIN_FPS = 0.001, MAX_FPS = 1_000_000;
/** Longest model name kept (official names are 26 characters). */
const MAX_MODEL_NAME = 256;

const JSON_FIELDS = new Set(["crop", "last_window_pad", "shape"]);
const INTEGER = /^(0|[1-9][0-9]{0,14})$/;
const DECIMAL = /^[0-9]{1,10}(\.[0-9]{1,17})?$/;

/**
 * The checked metadata of a token file whose tensor is `tensor`; `fail` throws with the file's
 * name ("Token file "x" is damaged: ...").
 */
export function tokenInfoOf(
  m: Record<string, string>,
  tensors: Map<string, SafetensorsEntry>,
  fail: (what: string) => never,
): { info: TokenInfo; tensor: SafetensorsEntry } {
  // JSON fields are shown as they are written, the others as strings.
  const bad = (key: string, expected: string): never =>
    fail(
      `metadata "${key}" is ${
        m[key] === undefined
          ? "missing"
          : JSON_FIELDS.has(key)
          ? m[key].slice(0, 200)
          : JSON.stringify(m[key].slice(0, 200))
      }, expected ${expected}`,
    );
  const integer = (key: string, min: number, max: number, why: string): number => {
    const n = INTEGER.test(m[key] ?? "") ? Number(m[key]) : NaN;
    return n >= min && n <= max ? n : bad(key, why);
  };
  const powerOfTwo = (key: string, max: number): number => {
    const n = integer(key, 1, max, `a power of two up to ${max}`);
    return (n & (n - 1)) === 0 ? n : bad(key, `a power of two up to ${max}`);
  };
  // Not JSON (or missing) reads as undefined, which every check below refuses with its reason.
  const json = (key: string): unknown => {
    try {
      return JSON.parse(m[key]);
    } catch {
      return undefined;
    }
  };

  const kind: "image" | "video" = m.kind === "image" || m.kind === "video"
    ? m.kind
    : bad("kind", '"image" or "video"');
  const discrete = m.discrete === "true"
    ? true
    : m.discrete === "false"
    ? false
    : bad("discrete", '"true" or "false"');
  const video = kind === "video";

  // The tensor: its name, type and rank are what kind and discrete say.
  const name = discrete ? "indices" : "latent";
  const tensor = tensors.get(name) ??
    fail(`no "${name}" tensor (a ${discrete ? "discrete" : "continuous"} ${kind} token file)`);
  const dtypes = discrete ? ["I32", "I64", "U8"] : ["F32", "F16", "BF16"];
  if (!dtypes.includes(tensor.dtype)) {
    fail(`"${name}" is ${tensor.dtype}, expected ${dtypes.join(", ")}`);
  }
  const shape = tensor.shape;
  const rank = (discrete ? 3 : 4) + (video ? 1 : 0);
  if (shape.length !== rank) fail(`"${name}" has shape ${fmtShape(shape)}, expected rank ${rank}`);
  if (shape[0] !== 1 || !shape.every((d) => d >= 1)) {
    fail(`"${name}" has shape ${fmtShape(shape)}, expected one item (batch 1) of sizes >= 1`);
  }
  if (m.shape !== undefined && m.shape !== JSON.stringify(shape)) {
    bad("shape", `the "${name}" tensor's ${JSON.stringify(shape)}`);
  }
  const [h, w] = shape.slice(-2);
  const t = video ? shape[discrete ? 1 : 2] : 1;

  // The model and its compression.
  const model = m.model;
  if (
    !model || model.length > MAX_MODEL_NAME || [...model].some((c) => c.charCodeAt(0) < 0x20)
  ) {
    bad("model", `a model name of at most ${MAX_MODEL_NAME} printable characters`);
  }
  const s = powerOfTwo("spatial_compression", MAX_SPATIAL);
  const tc = video
    ? powerOfTwo("temporal_compression", MAX_TEMPORAL)
    : integer("temporal_compression", 1, 1, "1 (image tokens)");
  const official = officialArchitecture(model);
  if (
    official &&
    (official.kind !== kind || official.discrete !== discrete ||
      official.spatialCompression !== s || official.temporalCompression !== tc)
  ) {
    const what = (a: Architecture) =>
      `${a.discrete ? "discrete" : "continuous"} ${a.kind} tokens at ${
        a.kind === "video" ? `${a.temporalCompression}x` : ""
      }${a.spatialCompression}x${a.spatialCompression}`;
    const claimed = { kind, discrete, spatialCompression: s, temporalCompression: tc };
    bad("model", `a model of the file's ${what(claimed)} (that one makes ${what(official)})`);
  }

  // The output format: the default output is NAME.<source_format>, so only an extension will do.
  const sourceFormat = m.source_format ?? (video ? "mp4" : "png");
  const isKind = video ? isVideoPath : (p: string) => imageFormatOf(p) !== null;
  if (!/^[a-z0-9]{1,8}$/.test(sourceFormat) || !isKind(`x.${sourceFormat}`)) {
    bad(
      "source_format",
      `${video ? "a video file extension (mp4, mkv, ...)" : "an image file extension (png, jpg)"}`,
    );
  }

  const crop = cropOf(json("crop"), h * s, w * s, s) ??
    bad(
      "crop",
      `the place of the picture in the ${w * s}x${h * s} pixels the tokens ${
        fmtShape(shape)
      } decode to, with less than ${s} of padding each way`,
    );
  const info: TokenInfo = {
    model,
    kind,
    discrete,
    spatialCompression: s,
    temporalCompression: tc,
    source: m.source ?? "",
    sourceFormat,
    crop,
  };
  if (!video) return { info, tensor };

  // Time: the windows, the padding decoding drops, and the frame count they give.
  const window = m.window === undefined || m.window === WHOLE_CLIP
    ? null
    : integer("window", 1, 1e9, `"${WHOLE_CLIP}" or a frame count 1 + k x ${tc}`);
  if (window !== null && (window - 1) % tc !== 0) {
    bad("window", `"${WHOLE_CLIP}" or a frame count 1 + k x ${tc}`);
  }
  const pad = json("last_window_pad");
  if (
    !(Array.isArray(pad) && pad.length === 2 && pad.every((n) => Number.isInteger(n) && n >= 0) &&
      pad[0] + pad[1] < tc && (window !== null || pad[0] === 0))
  ) {
    bad(
      "last_window_pad",
      window === null
        ? `[0, n] with n < ${tc} (a whole clip is padded at its end only)`
        : `[before, after] with before + after < ${tc}`,
    );
  }
  const [before, after] = pad as [number, number];
  // Latent frames of the last window, and the original frames all the windows hold.
  const latentWindow = window === null ? t : 1 + (window - 1) / tc;
  const fullWindows = Math.ceil(t / latentWindow) - 1;
  const lastLatent = t - fullWindows * latentWindow;
  const inLast = 1 + (lastLatent - 1) * tc - before - after;
  const expected = fullWindows * (window ?? 0) + inLast;
  if (inLast < 1) {
    bad(
      "last_window_pad",
      `fewer frames than the ${1 + (lastLatent - 1) * tc} the last window decodes to`,
    );
  }
  const frames = integer("frames", 1, 1e9, "a frame count");
  if (frames !== expected) {
    bad(
      "frames",
      `${expected}: what ${t} latent frames ${
        window === null ? "of a whole clip" : `in windows of ${window}`
      }, less the padding ${JSON.stringify(pad)}, decode to`,
    );
  }
  const fps = DECIMAL.test(m.fps ?? "") ? Number(m.fps) : NaN;
  if (!(fps >= MIN_FPS && fps <= MAX_FPS)) bad("fps", `a frame rate from ${MIN_FPS} to ${MAX_FPS}`);
  return { info: { ...info, frames, window, fps, lastWindowPad: [before, after] }, tensor };
}

/** A crop of `height` x `width` padded pixels that padding to multiples of `s` could leave. */
function cropOf(value: unknown, height: number, width: number, s: number): Crop | null {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return null;
  const { top, left, height: ch, width: cw } = value as Record<string, unknown>;
  const fits = (start: unknown, size: unknown, padded: number) =>
    Number.isSafeInteger(start) && Number.isSafeInteger(size) && (start as number) >= 0 &&
    (size as number) >= 1 && (start as number) + (size as number) <= padded &&
    padded - (size as number) < s;
  if (!fits(top, ch, height) || !fits(left, cw, width)) return null;
  return { top: top as number, left: left as number, height: ch as number, width: cw as number };
}

/** The architecture an official model name stands for, or null for any other name. */
function officialArchitecture(model: string): Architecture | null {
  try {
    return findVariant(model);
  } catch {
    return null;
  }
}
