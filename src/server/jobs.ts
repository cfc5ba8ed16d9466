/**
 * What a job does with the tokenizer, on the side that owns it (the server's worker, or the
 * HTTP thread for a Tokenizer passed in): a tokenize job decodes the upload within the limits
 * (an image through the size-checked decoders of media/image.ts, a video through ffmpeg),
 * pads it to the model's multiple and encodes it; a decode job is in decode_job.ts. Refusals
 * are HttpErrors; anything else is the server's own failure (500).
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";
import type { HostTensor } from "../types.ts";
import { concatTime } from "../media/windows.ts";
import { decodeImage, ImageLimitError } from "../media/image.ts";
import { padImage } from "../media/pad.ts";
import { framesToTensor } from "../media/tensor.ts";
import { probeVideo, readVideoFrames, requireFfmpeg } from "../media/video.ts";
import { paddedWindows, type WindowMeta } from "../media/padded_windows.ts";
import { HttpError } from "./http.ts";
import {
  bufferOf,
  type Job,
  type JobLimits,
  type JobResult,
  type TokenizeJob,
  type TokensResult,
} from "./protocol.ts";
import { serverGeometry } from "./clip.ts";
import { checkUpload, formFile, tooLarge } from "./upload.ts";
import { decodeTokens } from "./decode_job.ts";
import { encodeImageClip } from "../models/wan/images.ts";

/** Runs one job to its result; refusals throw HttpError. */
export async function runJob(tok: Tokenizer, job: Job): Promise<JobResult> {
  return job.kind === "tokenize" ? await tokenize(tok, job) : await decodeTokens(tok, job);
}

async function tokenize(tok: Tokenizer, job: TokenizeJob): Promise<TokensResult> {
  const bytes = job.form ? await formFile(job.body, job.form) : job.body;
  const media = checkUpload(bytes, tok, job.limits.maxSide);
  const r = media.kind === "image"
    ? await image(tok, bytes, job.limits)
    : await video(tok, bytes, media.container, job.limits);
  return {
    kind: "tokens",
    media: media.kind,
    width: r.width,
    height: r.height,
    frames: r.frames,
    shape: r.tokens.shape,
    data: bufferOf(r.tokens.data),
  };
}

interface Encoded {
  width: number;
  height: number;
  frames: number;
  tokens: HostTensor;
}

async function image(tok: Tokenizer, bytes: Uint8Array, limits: JobLimits): Promise<Encoded> {
  let img;
  try {
    img = decodeImage(bytes, "upload", { maxSide: limits.maxSide });
  } catch (err) {
    if (err instanceof ImageLimitError) throw tooLarge(err, limits.maxSide);
    throw new HttpError(400, (err as Error).message);
  }
  const { image } = padImage(img, tok.spatialCompression);
  const pixels = framesToTensor([image], false);
  // A video model here is a Wan VAE (checkUpload let the image through): a one-frame clip.
  const tokens = tok.kind === "video"
    ? await encodeImageClip(tok, pixels)
    : (({ indices, latent }) => (indices ?? latent)!)(await tok.encode(pixels));
  return { width: img.width, height: img.height, frames: 1, tokens };
}

function checkSize(width: number, height: number, maxSide: number): void {
  if (width > maxSide || height > maxSide) {
    throw new HttpError(
      422,
      `${width}x${height} is larger than this server takes (${maxSide} pixels a side)`,
    );
  }
}

async function video(
  tok: Tokenizer,
  bytes: Uint8Array,
  container: string,
  lim: JobLimits,
): Promise<Encoded> {
  try {
    await requireFfmpeg();
  } catch (err) {
    throw new HttpError(501, (err as Error).message);
  }
  const path = await Deno.makeTempFile({ prefix: "cosmos-upload-", suffix: `.${container}` });
  try {
    await Deno.writeFile(path, bytes);
    let info;
    try {
      info = await probeVideo(path);
    } catch {
      throw new HttpError(400, "Damaged video: ffmpeg cannot read it");
    }
    checkSize(info.width, info.height, lim.maxSide);
    if (info.frames !== null && info.frames > lim.maxFrames) {
      throw new HttpError(422, `${info.frames} frames; this server takes at most ${lim.maxFrames}`);
    }
    const queue: WindowMeta[] = [];
    const parts: HostTensor[] = [];
    try {
      const windows = paddedWindows(
        readVideoFrames(path, info, lim.maxFrames),
        serverGeometry(tok, lim.maxFrames),
        "reflect",
        queue,
        false,
        { readMs: 0 },
      );
      for await (const chunk of tok.encodeStream(windows)) {
        parts.push((chunk.indices ?? chunk.latent)!);
      }
    } catch (err) {
      const msg = (err as Error).message;
      if (/more than \d+ frames/.test(msg)) {
        throw new HttpError(422, `The video has more than ${lim.maxFrames} frames`);
      }
      if (/^Cannot read video/.test(msg)) throw new HttpError(400, msg);
      throw err;
    }
    const tokens = concatTime(parts, tok.discrete ? 1 : 2);
    const frames = queue.reduce((n, w) => n + w.count, 0);
    return { width: info.width, height: info.height, frames, tokens };
  } finally {
    await Deno.remove(path).catch(() => {});
  }
}
