/**
 * What encode, decode and autoencode do to one item: read an image or stream a video, pad it to
 * what the model takes, run the tokenizer, crop back, write the output through a temporary file,
 * and measure the reconstruction. Videos stream: frames are decoded by ffmpeg as they are needed
 * and written as soon as they are reconstructed, never all in memory. By default (a tokenizer
 * without the `window` option) the whole clip goes through one exact causal stream, a latent
 * frame at a time (`encodeFrames` / `decodeFrames`), the same as encoding it in one pass; with
 * `--window N`, through the reference CLI's independent windows of N frames. Those video
 * pipelines are in `video_items.ts`; this module holds the per-item entry points around them.
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";
import type { HostTensor } from "../types.ts";
import { QualityMeter } from "../media/metrics.ts";
import {
  decodeImage,
  encodeImage,
  type ImageFormat,
  imageFormatOf,
  type RgbImage,
  sniffImage,
} from "../media/image.ts";
import { type Crop, cropImage, padImage, type PadMode } from "../media/pad.ts";
import { framesToTensor, tensorToFrames } from "../media/tensor.ts";
import { isVideoPath, probeVideo, VideoWriter } from "../media/video.ts";
import { encodeTokenFile, readTokenFile, type TokenInfo } from "./tokens.ts";
import { bytesReader, fileReader, openTokenFile, type VideoTokens } from "./token_reader.ts";
import { TokenFileWriter } from "./token_writer.ts";
import { commitTemp, discardTemp, tempPathFor } from "./cleanup.ts";
import { readInput, STDIO, writeOutput } from "./outputs.ts";
import { decodeImageClip, encodeImageClip, takesImageClips } from "../models/wan/images.ts";
import { ProgressBar } from "./progress.ts";
import { resizeShortSide } from "./resize.ts";
import {
  decodedVideo,
  type EncodedVideo,
  encodeWhole,
  encodeWindows,
  type Reconstruction,
  reconstructWhole,
  reconstructWindows,
  tokensOf,
} from "./video_items.ts";

/** What each item reports (one JSON line with --json). */
export interface ItemReport {
  input: string;
  output: string;
  kind: "image" | "video";
  width: number;
  height: number;
  frames: number;
  /** Shape of the tokens (indices) or latent. */
  tokens: number[];
  /** Reconstruction quality against the input (autoencode), else null. */
  psnr: number | null;
  ssim: number | null;
  encode_ms: number | null;
  decode_ms: number | null;
  total_ms: number;
}

export interface MediaOptions {
  pad: PadMode;
  /** JPEG quality of image outputs. */
  quality: number;
  /** Progress bars (off with --json or when stderr is not a terminal). */
  progress: boolean;
  /** Frame rate of decoded videos, overriding the token file's. */
  fps?: number;
  /** --format: what an image written to stdout (`-o -`) is, else the source's format. */
  format?: string;
  /** --short-size: images resized so their short side is this, as the reference CLI does. */
  shortSize?: number;
}

/** The kind of input a path is, by extension; anything else is an error that says so. */
export function mediaKind(path: string): "image" | "video" {
  // stdin and stdout carry images (and token files), never videos: ffmpeg needs to seek.
  if (path === STDIO || imageFormatOf(path)) return "image";
  if (isVideoPath(path)) return "video";
  throw new Error(
    `Unsupported format: "${path}" (images: .png, .jpg, .jpeg; videos: .mp4, .mov, .mkv, .webm, .avi, ...)`,
  );
}

function checkKind(tok: Tokenizer, input: string, kind: "image" | "video"): void {
  // The Wan VAE takes an image as a one-frame clip.
  if (tok.kind !== kind && !(kind === "image" && takesImageClips(tok))) {
    const want = kind === "image"
      ? "an image model (CI/DI) or a Wan VAE"
      : "a video model (CV/DV, Wan)";
    throw new Error(
      `"${input}" is ${kind === "image" ? "an image" : "a video"} but ${tok.model} is ${
        tok.kind === "image" ? "an image" : "a video"
      } tokenizer; use ${want}`,
    );
  }
}

function extensionOf(path: string): string {
  return path.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1] ?? "";
}

function baseInfo(tok: Tokenizer, input: string, crop: Crop, format?: ImageFormat): TokenInfo {
  // Images are image tokens whatever the model: a Wan VAE's are its one-frame clip's latent.
  const image = mediaKind(input) === "image";
  return {
    model: tok.model,
    kind: image ? "image" : tok.kind,
    discrete: tok.discrete,
    spatialCompression: tok.spatialCompression,
    temporalCompression: image ? 1 : tok.temporalCompression,
    source: input,
    // From stdin, the format the bytes are: what decode writes to a directory or stdout.
    sourceFormat: input === STDIO && format
      ? (format === "jpeg" ? "jpg" : format)
      : extensionOf(input),
    crop,
  };
}

/**
 * A finished image written under its final name through a temporary file, or to stdout (`-o -`)
 * as `--format` or else `sourceFormat` says.
 */
async function writeImageFile(
  path: string,
  img: RgbImage,
  opts: MediaOptions,
  sourceFormat: string,
): Promise<void> {
  const name = path === STDIO ? `stdout.${opts.format ?? sourceFormat}` : path;
  const format = imageFormatOf(name);
  if (!format) {
    throw new Error(
      path === STDIO
        ? `Cannot write "${sourceFormat}" to stdout; give --format png or --format jpg`
        : `Unsupported output format: "${path}" (use .png or .jpg)`,
    );
  }
  await writeOutput(path, encodeImage(img, format, opts.quality));
}

async function loadImage(tok: Tokenizer, input: string, opts: MediaOptions) {
  checkKind(tok, input, "image");
  const bytes = await readInput(input);
  const source = input === STDIO ? "stdin" : input;
  const decoded = decodeImage(bytes, source);
  // Resized before anything else, so the token file, the crop and PSNR are of the resized image.
  const img = opts.shortSize ? resizeShortSide(decoded, opts.shortSize, source) : decoded;
  const pad = opts.pad;
  const { image, crop } = padImage(img, tok.spatialCompression, pad);
  return { img, crop, tensor: framesToTensor([image], false), format: sniffImage(bytes)! };
}

/** An image's tokens: an image tokenizer's, or a Wan VAE's latent of it as a one-frame clip. */
async function imageTokens(tok: Tokenizer, tensor: HostTensor): Promise<HostTensor> {
  return tok.kind === "video"
    ? await encodeImageClip(tok, tensor)
    : tokensOf(await tok.encode(tensor));
}

/** An image's pixels [1, 3, H, W] from its tokens, likewise. */
async function imageOf(tok: Tokenizer, tokens: HostTensor): Promise<HostTensor> {
  return tok.kind === "video" ? await decodeImageClip(tok, tokens) : await tok.decode(tokens);
}

/** Encodes one image or video to a token file. */
export async function encodeItem(
  tok: Tokenizer,
  input: string,
  output: string,
  opts: MediaOptions,
): Promise<ItemReport> {
  const start = performance.now();
  if (mediaKind(input) === "image") {
    const { img, crop, tensor, format } = await loadImage(tok, input, opts);
    const t0 = performance.now();
    const tokens = await imageTokens(tok, tensor);
    const encodeMs = performance.now() - t0;
    const info = baseInfo(tok, input, crop, format);
    await writeOutput(output, encodeTokenFile({ info, tokens }));
    return report(input, output, "image", img, 1, tokens, null, encodeMs, null, start);
  }
  checkKind(tok, input, "video");
  const info = await probeVideo(input);
  const bar = new ProgressBar(`encode ${input}`, info.frames, "frames", opts.progress);
  const run = tok.window === null ? encodeWhole : encodeWindows;
  // Each chunk's tokens go to disk as they come out (token_writer.ts): never all in memory.
  const writer = await TokenFileWriter.open(output, tok.discrete);
  let encoded: EncodedVideo;
  try {
    encoded = await run(tok, input, info, opts.pad, (n) => bar.tick(n), (t) => writer.add(t));
    await writer.finish({
      ...baseInfo(tok, input, encoded.crop),
      frames: encoded.frames,
      window: tok.window,
      fps: info.fps,
      lastWindowPad: encoded.pad,
    });
  } catch (err) {
    await writer.abort();
    throw err;
  } finally {
    bar.finish();
  }
  return report(
    input,
    output,
    "video",
    info,
    encoded.frames,
    { data: new Float32Array(0), shape: writer.shape },
    null,
    encoded.encodeMs,
    null,
    start,
  );
}

/** Decodes one token file to an image or a video. */
export async function decodeItem(
  tok: Tokenizer,
  input: string,
  output: string,
  opts: MediaOptions,
): Promise<ItemReport> {
  const start = performance.now();
  // Only the header is read here; a video's latent frames are read as the decoder asks for them.
  const reader = input === STDIO ? bytesReader(await readInput(input)) : await fileReader(input);
  const { header, video } = await openTokenFile(reader, input);
  const info = header.info;
  const crop = info.crop;
  if (!video) {
    checkTokenModel(tok, info, input);
    const { tokens } = readTokenFile(await readInput(input), input);
    const t0 = performance.now();
    const decoded = await imageOf(tok, tokens);
    const decodeMs = performance.now() - t0;
    const img = cropImage(tensorToFrames(decoded)[0], crop);
    await writeImageFile(output, img, opts, info.sourceFormat);
    return report(input, output, "image", img, 1, tokens, null, null, decodeMs, start);
  }
  try {
    return await decodeVideoItem(tok, input, output, opts, video, start);
  } finally {
    video.close();
  }
}

/** Decodes a video token file, read a chunk at a time, to a video. */
async function decodeVideoItem(
  tok: Tokenizer,
  input: string,
  output: string,
  opts: MediaOptions,
  tokens: VideoTokens,
  start: number,
): Promise<ItemReport> {
  const info = tokens.info, crop = info.crop;
  checkTokenModel(tok, info, input);
  if (mediaKind(output) !== "video") {
    throw new Error(`"${input}" holds video tokens; write them to a video file, not "${output}"`);
  }
  const tmp = tempPathFor(output);
  const writer = await VideoWriter.open(tmp, crop.width, crop.height, opts.fps ?? info.fps!);
  const bar = new ProgressBar(`decode ${input}`, info.frames ?? null, "frames", opts.progress);
  const timing = { decodeMs: 0 };
  let frames = 0;
  try {
    for await (const frame of decodedVideo(tok, info, tokens, timing)) {
      await writer.write(frame);
      frames++;
      bar.tick(1);
    }
    await writer.close();
    await commitTemp(tmp, output);
  } catch (err) {
    await writer.abort();
    await discardTemp(tmp);
    throw err;
  } finally {
    bar.finish();
  }
  const shape = { data: new Float32Array(0), shape: tokens.shape };
  return report(input, output, "video", crop, frames, shape, null, null, timing.decodeMs, start);
}

/** Whether a token file was made by a model like the loaded one. */
function checkTokenModel(tok: Tokenizer, info: TokenInfo, input: string): void {
  // A Wan VAE decodes image tokens (its one-frame clips, temporal compression 1) too.
  const imageClip = info.kind === "image" && takesImageClips(tok);
  // Latents of the same shape from the other family would decode to noise.
  const wanTokens = /^Wan[ \d.-]/.test(info.model);
  if (
    wanTokens !== (tok.family === "wan") ||
    (tok.kind !== info.kind && !imageClip) || tok.discrete !== info.discrete ||
    tok.spatialCompression !== info.spatialCompression ||
    (!imageClip && tok.temporalCompression !== info.temporalCompression)
  ) {
    throw new Error(`"${input}" holds tokens of ${info.model}, which ${tok.model} cannot decode`);
  }
}

/** Encodes and decodes one image or video, writes the reconstruction, measures it. */
export async function autoencodeItem(
  tok: Tokenizer,
  input: string,
  output: string,
  opts: MediaOptions,
): Promise<ItemReport> {
  const start = performance.now();
  if (mediaKind(input) === "image") {
    const { img, crop, tensor, format } = await loadImage(tok, input, opts);
    let t0 = performance.now();
    const tokens = await imageTokens(tok, tensor);
    const encodeMs = performance.now() - t0;
    t0 = performance.now();
    const decoded = await imageOf(tok, tokens);
    const decodeMs = performance.now() - t0;
    const rec = cropImage(tensorToFrames(decoded)[0], crop);
    const meter = new QualityMeter();
    meter.add(img.data, rec.data, img.width, img.height);
    await writeImageFile(output, rec, opts, input === STDIO ? format : extensionOf(input));
    return report(input, output, "image", img, 1, tokens, meter, encodeMs, decodeMs, start);
  }
  checkKind(tok, input, "video");
  if (mediaKind(output) !== "video") {
    throw new Error(
      `"${input}" is a video; write its reconstruction to a video file, not "${output}"`,
    );
  }
  const info = await probeVideo(input);
  const meter = new QualityMeter();
  const tmp = tempPathFor(output);
  const writer = await VideoWriter.open(tmp, info.width, info.height, opts.fps ?? info.fps);
  const bar = new ProgressBar(`autoencode ${input}`, info.frames, "frames", opts.progress);
  const run = tok.window === null ? reconstructWhole : reconstructWindows;
  let result: Reconstruction;
  try {
    result = await run(tok, input, info, opts.pad, async (original, rec) => {
      meter.add(original.data, rec.data, info.width, info.height);
      await writer.write(rec);
      bar.tick(1);
    });
    await writer.close();
    await commitTemp(tmp, output);
  } catch (err) {
    await writer.abort();
    await discardTemp(tmp);
    throw err;
  } finally {
    bar.finish();
  }
  return report(
    input,
    output,
    "video",
    info,
    result.frames,
    { data: new Float32Array(0), shape: result.tokens },
    meter,
    result.encodeMs,
    result.decodeMs,
    start,
  );
}

function report(
  input: string,
  output: string,
  kind: "image" | "video",
  size: { width: number; height: number },
  frames: number,
  tokens: HostTensor,
  meter: QualityMeter | null,
  encodeMs: number | null,
  decodeMs: number | null,
  start: number,
): ItemReport {
  const q = meter?.result();
  const ms = (v: number | null) => (v === null ? null : Math.round(v));
  return {
    input,
    output,
    kind,
    width: size.width,
    height: size.height,
    frames,
    tokens: tokens.shape,
    psnr: q ? q.psnr : null,
    ssim: q && Number.isFinite(q.ssim) ? q.ssim : null,
    encode_ms: ms(encodeMs),
    decode_ms: ms(decodeMs),
    total_ms: Math.round(performance.now() - start),
  };
}
