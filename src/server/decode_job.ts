/**
 * POST /decode's job: tokens, as /tokenize answers them, back to an image (PNG or JPEG) or a
 * video (MP4, WebM or GIF, through ffmpeg). Every field is checked before the decoder runs,
 * and the output is bounded by the server's limits as an upload is: tokens that would decode
 * to more than maxSide pixels a side, or more latent frames than maxFrames frames give, are
 * refused (422). With the answer's `input` (width, height, frames), the padding the server
 * added is cropped off again, in space and in time.
 * @module
 */

import { Buffer } from "node:buffer";
import type { Tokenizer } from "../tokenizer.ts";
import { fmtShape, type HostTensor, numel } from "../types.ts";
import { encodeImage, type RgbImage } from "../media/image.ts";
import { cropImage, padAmounts } from "../media/pad.ts";
import { tensorToFrames } from "../media/tensor.ts";
import { VideoWriter } from "../media/video.ts";
import { HttpError } from "./http.ts";
import { bufferOf, type DecodeJob, type FileResult, type JobLimits } from "./protocol.ts";
import { clipFrames, latentFrames, maxLatentFrames, timeWindows } from "./clip.ts";
import { decodeImageClip, takesImageClips } from "../models/wan/images.ts";

/** Output formats by kind, the first the default, with their media types. */
const FORMATS = {
  image: { png: "image/png", jpeg: "image/jpeg" },
  video: { mp4: "video/mp4", webm: "video/webm", gif: "image/gif" },
} as const;

/**
 * The output format `format` (a query parameter) names for a tokenizer of `kind`, or the
 * default; throws 400 for one the server does not write.
 */
export function decodeFormat(kind: "image" | "video", format: string | null): string {
  const formats: Record<string, string> = FORMATS[kind];
  const name = format === "jpg" ? "jpeg" : format ?? Object.keys(formats)[0];
  if (!(name in formats)) {
    throw new HttpError(
      400,
      `Unknown format "${format}": ${kind === "image" ? "an image" : "a video"} decodes to ${
        Object.keys(formats).join(", ")
      }`,
    );
  }
  return name;
}

function unprocessable(message: string): never {
  throw new HttpError(422, message);
}

function isSize(v: unknown): v is number {
  return Number.isSafeInteger(v) && (v as number) >= 1;
}

/**
 * The request's tokens as a tensor, checked against the model and the limits, and whether
 * they are an image's or a video's: a Wan VAE takes both, an image's latent without the time
 * axis (as /tokenize answers it).
 */
function tokensOf(
  tok: Tokenizer,
  body: Record<string, unknown>,
  lim: JobLimits,
): { tokens: HostTensor; kind: "image" | "video" } {
  const t = body.tokens as Record<string, unknown> | undefined;
  if (!t || typeof t !== "object") {
    throw new HttpError(400, 'The body has no "tokens": send the JSON /tokenize answered');
  }
  const dtype = tok.discrete ? "int32" : "float32";
  if (t.dtype !== dtype) {
    unprocessable(
      `This server runs ${tok.model}, whose tokens are ${dtype}; these are ${t.dtype}`,
    );
  }
  const shape = t.shape;
  const base = tok.discrete ? 3 : 4;
  const clips = takesImageClips(tok);
  const video = tok.kind === "video" && !(clips && Array.isArray(shape) && shape.length === base);
  const rank = base + (video ? 1 : 0);
  const layoutOf = (v: boolean) =>
    `[1, ${tok.discrete ? "" : `${tok.latentChannels}, `}${v ? "t, " : ""}h, w]`;
  const layout = clips
    ? `${layoutOf(true)} (a video) or ${layoutOf(false)} (an image)`
    : layoutOf(video);
  if (!Array.isArray(shape) || shape.length !== rank || !shape.every(isSize)) {
    unprocessable(`tokens.shape must be ${layout} for ${tok.model}`);
  }
  if (shape[0] !== 1 || (!tok.discrete && shape[1] !== tok.latentChannels)) {
    unprocessable(`tokens.shape ${fmtShape(shape)} is not ${layout} for ${tok.model}`);
  }
  const sc = tok.spatialCompression;
  const [h, w] = shape.slice(-2);
  if (h * sc > Math.ceil(lim.maxSide / sc) * sc || w * sc > Math.ceil(lim.maxSide / sc) * sc) {
    unprocessable(
      `These tokens decode to ${w * sc}x${
        h * sc
      }, larger than this server takes (${lim.maxSide} pixels a side)`,
    );
  }
  if (video) {
    const t = shape[tok.discrete ? 1 : 2];
    const most = maxLatentFrames(tok, lim.maxFrames);
    if (t > most) {
      unprocessable(
        `These tokens hold ${t} latent frames; ${lim.maxFrames} frames, the most this server takes, give ${most}`,
      );
    }
  }
  if (typeof t.data !== "string") {
    throw new HttpError(400, "tokens.data must be a base64 string");
  }
  const bytes = Buffer.from(t.data, "base64");
  if (bytes.length !== numel(shape) * 4) {
    throw new HttpError(
      400,
      `tokens.data holds ${bytes.length} bytes; shape ${fmtShape(shape)} needs ${numel(shape) * 4}`,
    );
  }
  // A copy: the decoded base64 may not sit 4-byte aligned in its buffer.
  const data = new Uint8Array(bytes).buffer;
  const tokens = { data: tok.discrete ? new Int32Array(data) : new Float32Array(data), shape };
  return { tokens, kind: video ? "video" : "image" };
}

/** The frames to keep of a decoded video, when the request says how many frames it had. */
function keptFrames(tok: Tokenizer, frames: number, latents: number, lim: JobLimits): number[] {
  const windows = timeWindows(tok, frames, lim.maxFrames);
  if (latentFrames(windows, tok.temporalCompression) !== latents) {
    unprocessable(`input.frames is ${frames}, but these tokens are not those of ${frames} frames`);
  }
  return clipFrames(windows);
}

/** Decodes a /decode request's tokens to the file it asks for. */
export async function decodeTokens(tok: Tokenizer, job: DecodeJob): Promise<FileResult> {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(job.body));
  } catch (err) {
    throw new HttpError(400, `The body is not JSON: ${(err as Error).message}`);
  }
  if (!body || typeof body !== "object") {
    throw new HttpError(400, 'The body must be a JSON object with "tokens"');
  }
  const lim = job.limits;
  const { tokens, kind } = tokensOf(tok, body, lim);
  const format = decodeFormat(kind, job.format);
  const input = (body.input ?? null) as Record<string, unknown> | null;
  const sc = tok.spatialCompression;
  const [h, w] = tokens.shape.slice(-2);
  let crop = { top: 0, left: 0, width: w * sc, height: h * sc };
  if (input !== null) {
    const { width, height } = input;
    if (
      !isSize(width) || !isSize(height) || Math.ceil(width / sc) !== w ||
      Math.ceil(height / sc) !== h
    ) {
      unprocessable(`input is ${width}x${height}, but these tokens are ${w * sc}x${h * sc} pixels`);
    }
    crop = { top: padAmounts(height, sc)[0], left: padAmounts(width, sc)[0], width, height };
  }
  let kept: number[] | null = null;
  if (kind === "video" && input?.frames !== undefined) {
    if (!isSize(input.frames)) unprocessable("input.frames must be a frame count");
    kept = keptFrames(tok, input.frames, tokens.shape[tok.discrete ? 1 : 2], lim);
  }
  const fps = body.fps ?? 24;
  if (typeof fps !== "number" || !(fps > 0 && fps <= 240)) {
    unprocessable("fps must be a frame rate in (0, 240]");
  }
  let decoded: HostTensor;
  try {
    decoded = kind === tok.kind ? await tok.decode(tokens) : await decodeImageClip(tok, tokens);
  } catch (err) {
    const msg = (err as Error).message;
    if (/no decoder was loaded/.test(msg)) {
      throw new HttpError(501, "This server has no decoder: start it with --decoder FILE");
    }
    if (/^Cannot decode:/.test(msg)) unprocessable(msg);
    throw err;
  }
  let frames: RgbImage[] = tensorToFrames(decoded).map((f) => cropImage(f, crop));
  if (kept) frames = kept.map((i) => frames[i]);
  const contentType = (FORMATS[kind] as Record<string, string>)[format];
  if (kind === "image") {
    return { kind: "file", contentType, data: bufferOf(encodeImage(frames[0], format as "png")) };
  }
  return { kind: "file", contentType, data: await writeVideo(frames, format, fps) };
}

async function writeVideo(frames: RgbImage[], format: string, fps: number): Promise<ArrayBuffer> {
  const path = await Deno.makeTempFile({ prefix: "cosmos-decoded-", suffix: `.${format}` });
  try {
    const writer = await VideoWriter.open(path, frames[0].width, frames[0].height, fps);
    try {
      for (const f of frames) await writer.write(f);
      await writer.close();
    } catch (err) {
      await writer.abort();
      throw err;
    }
    return bufferOf(await Deno.readFile(path));
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}
