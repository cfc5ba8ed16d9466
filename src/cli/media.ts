/**
 * What encode, decode and autoencode do to one item: read an image or stream a video, pad it to
 * what the model takes, run the tokenizer, crop back, write the output through a temporary file,
 * and measure the reconstruction. Videos go through the tokenizer's windows one at a time
 * (`encodeStream` / `decodeStream`): frames are decoded by ffmpeg as they are needed and written
 * as soon as they are reconstructed.
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";
import type { HostTensor } from "../types.ts";
import { concatTime, sliceTime } from "../media/windows.ts";
import { QualityMeter } from "../media/metrics.ts";
import { decodeImage, encodeImage, imageFormatOf, type RgbImage } from "../media/image.ts";
import { type Crop, cropImage, padImage, type PadMode } from "../media/pad.ts";
import { framesToTensor, tensorToFrames } from "../media/tensor.ts";
import { isVideoPath, probeVideo, readVideoFrames, VideoWriter } from "../media/video.ts";
import { paddedWindows, windowFrames, type WindowMeta } from "../media/padded_windows.ts";
import { encodeTokenFile, readTokenFile, type TokenInfo } from "./tokens.ts";
import { commitTemp, discardTemp, tempPathFor, writeFileAtomic } from "./cleanup.ts";
import { ProgressBar } from "./progress.ts";

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
}

/** The kind of input a path is, by extension; anything else is an error that says so. */
export function mediaKind(path: string): "image" | "video" {
  if (imageFormatOf(path)) return "image";
  if (isVideoPath(path)) return "video";
  throw new Error(
    `Unsupported format: "${path}" (images: .png, .jpg, .jpeg; videos: .mp4, .mov, .mkv, .webm, .avi, ...)`,
  );
}

function checkKind(tok: Tokenizer, input: string, kind: "image" | "video"): void {
  if (tok.kind !== kind) {
    const want = kind === "image" ? "an image model (CI/DI)" : "a video model (CV/DV)";
    throw new Error(
      `"${input}" is ${kind === "image" ? "an image" : "a video"} but ${tok.model} is ${
        tok.kind === "image" ? "an image" : "a video"
      } tokenizer; use ${want}`,
    );
  }
}

const tokensOf = (r: { latent?: HostTensor; indices?: HostTensor }) => (r.latent ?? r.indices)!;

function extensionOf(path: string): string {
  return path.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1] ?? "";
}

function baseInfo(tok: Tokenizer, input: string, crop: Crop): TokenInfo {
  return {
    model: tok.model,
    kind: tok.kind,
    discrete: tok.discrete,
    spatialCompression: tok.spatialCompression,
    temporalCompression: tok.temporalCompression,
    source: input,
    sourceFormat: extensionOf(input),
    crop,
  };
}

/** A finished image written under its final name through a temporary file. */
async function writeImageFile(path: string, img: RgbImage, quality: number): Promise<void> {
  const format = imageFormatOf(path);
  if (!format) throw new Error(`Unsupported output format: "${path}" (use .png or .jpg)`);
  await writeFileAtomic(path, encodeImage(img, format, quality));
}

async function loadImage(tok: Tokenizer, input: string, pad: PadMode) {
  checkKind(tok, input, "image");
  const img = decodeImage(await Deno.readFile(input), input);
  const { image, crop } = padImage(img, tok.spatialCompression, pad);
  return { img, crop, tensor: framesToTensor([image], false) };
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
    const { img, crop, tensor } = await loadImage(tok, input, opts.pad);
    const t0 = performance.now();
    const tokens = tokensOf(await tok.encode(tensor));
    const encodeMs = performance.now() - t0;
    await writeFileAtomic(output, encodeTokenFile({ info: baseInfo(tok, input, crop), tokens }));
    return report(input, output, "image", img, 1, tokens, null, encodeMs, null, start);
  }
  checkKind(tok, input, "video");
  const info = await probeVideo(input);
  const queue: WindowMeta[] = [];
  const timing = { readMs: 0 };
  const bar = new ProgressBar(`encode ${input}`, info.frames, "frames", opts.progress);
  const parts: HostTensor[] = [];
  let frames = 0, lastPad: [number, number] = [0, 0], crop: Crop | null = null;
  let waited = 0, t0 = performance.now();
  const clips = paddedWindows(readVideoFrames(input, info), tok, opts.pad, queue, false, timing);
  for await (const chunk of tok.encodeStream(clips)) {
    waited += performance.now() - t0;
    const meta = queue.shift()!;
    parts.push(tokensOf(chunk));
    frames += meta.count;
    lastPad = meta.pad;
    crop = meta.crop;
    bar.tick(meta.count);
    t0 = performance.now();
  }
  bar.finish();
  const tokens = concatTime(parts, tok.discrete ? 1 : 2);
  const tokenInfo: TokenInfo = {
    ...baseInfo(tok, input, crop!),
    frames,
    window: tok.streamWindow,
    fps: info.fps,
    lastWindowPad: lastPad,
  };
  await writeFileAtomic(output, encodeTokenFile({ info: tokenInfo, tokens }));
  return report(
    input,
    output,
    "video",
    info,
    frames,
    tokens,
    null,
    waited - timing.readMs,
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
  const { info, tokens } = readTokenFile(await Deno.readFile(input), input);
  checkTokenModel(tok, info, input);
  const crop = info.crop;
  if (info.kind === "image") {
    const t0 = performance.now();
    const decoded = await tok.decode(tokens);
    const decodeMs = performance.now() - t0;
    const img = cropImage(tensorToFrames(decoded)[0], crop);
    await writeImageFile(output, img, opts.quality);
    return report(input, output, "image", img, 1, tokens, null, null, decodeMs, start);
  }
  if (mediaKind(output) !== "video") {
    throw new Error(`"${input}" holds video tokens; write them to a video file, not "${output}"`);
  }
  // Latent frames per window: each window of 1 + k x tc frames became 1 + k latent frames.
  const axis = info.discrete ? 1 : 2;
  const latentWindow = 1 + (info.window! - 1) / info.temporalCompression;
  const total = tokens.shape[axis];
  const windows: { tokens: HostTensor; last: boolean }[] = [];
  for (let t = 0; t < total; t += latentWindow) {
    const end = Math.min(total, t + latentWindow);
    windows.push({ tokens: sliceTime(tokens, t, end, axis), last: end === total });
  }
  const tmp = tempPathFor(output);
  const writer = await VideoWriter.open(tmp, crop.width, crop.height, opts.fps ?? info.fps!);
  const bar = new ProgressBar(`decode ${input}`, info.frames ?? null, "frames", opts.progress);
  let frames = 0, decodeMs = 0;
  try {
    let i = 0, t0 = performance.now();
    for await (const decoded of tok.decodeStream(windows.map((w) => w.tokens))) {
      decodeMs += performance.now() - t0;
      const pad: [number, number] = windows[i++].last ? info.lastWindowPad ?? [0, 0] : [0, 0];
      for (const frame of windowFrames(decoded, { pad, crop })) {
        await writer.write(frame);
        frames++;
      }
      bar.tick(decoded.shape[2] - pad[0] - pad[1]);
      t0 = performance.now();
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
  return report(input, output, "video", crop, frames, tokens, null, null, decodeMs, start);
}

/** Whether a token file was made by a model like the loaded one. */
function checkTokenModel(tok: Tokenizer, info: TokenInfo, input: string): void {
  if (
    tok.kind !== info.kind || tok.discrete !== info.discrete ||
    tok.spatialCompression !== info.spatialCompression ||
    tok.temporalCompression !== info.temporalCompression
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
    const { img, crop, tensor } = await loadImage(tok, input, opts.pad);
    let t0 = performance.now();
    const tokens = tokensOf(await tok.encode(tensor));
    const encodeMs = performance.now() - t0;
    t0 = performance.now();
    const decoded = await tok.decode(tokens);
    const decodeMs = performance.now() - t0;
    const rec = cropImage(tensorToFrames(decoded)[0], crop);
    const meter = new QualityMeter();
    meter.add(img.data, rec.data, img.width, img.height);
    await writeImageFile(output, rec, opts.quality);
    return report(input, output, "image", img, 1, tokens, meter, encodeMs, decodeMs, start);
  }
  checkKind(tok, input, "video");
  if (mediaKind(output) !== "video") {
    throw new Error(
      `"${input}" is a video; write its reconstruction to a video file, not "${output}"`,
    );
  }
  const info = await probeVideo(input);
  const queue: WindowMeta[] = [];
  const timing = { readMs: 0 };
  const meter = new QualityMeter();
  const tokenShapes: HostTensor[] = [];
  const tmp = tempPathFor(output);
  const writer = await VideoWriter.open(tmp, info.width, info.height, opts.fps ?? info.fps);
  const bar = new ProgressBar(`autoencode ${input}`, info.frames, "frames", opts.progress);
  let frames = 0, waited = 0, decodeMs = 0;
  try {
    const clips = paddedWindows(readVideoFrames(input, info), tok, opts.pad, queue, true, timing);
    let t0 = performance.now();
    for await (const chunk of tok.encodeStream(clips)) {
      waited += performance.now() - t0;
      const meta = queue.shift()!;
      const tokens = tokensOf(chunk);
      tokenShapes.push({ data: new Float32Array(0), shape: tokens.shape });
      const t1 = performance.now();
      const decoded = await tok.decode(tokens);
      decodeMs += performance.now() - t1;
      const rec = windowFrames(decoded, meta);
      for (let i = 0; i < rec.length; i++) {
        meter.add(meta.originals[i].data, rec[i].data, info.width, info.height);
        await writer.write(rec[i]);
      }
      frames += rec.length;
      bar.tick(rec.length);
      t0 = performance.now();
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
  // The whole video's token shape: windows joined along time.
  const axis = tok.discrete ? 1 : 2;
  const shape = [...tokenShapes[0].shape];
  shape[axis] = tokenShapes.reduce((a, t) => a + t.shape[axis], 0);
  return report(
    input,
    output,
    "video",
    info,
    frames,
    { data: new Float32Array(0), shape },
    meter,
    waited - timing.readMs,
    decodeMs,
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
