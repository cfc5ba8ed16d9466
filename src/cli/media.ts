/**
 * What encode, decode and autoencode do to one item: read an image or stream a video, pad it to
 * what the model takes, run the tokenizer, crop back, write the output through a temporary file,
 * and measure the reconstruction. Videos stream: frames are decoded by ffmpeg as they are needed
 * and written as soon as they are reconstructed, never all in memory. By default (a tokenizer
 * without the `window` option) the whole clip goes through one exact causal stream, a latent
 * frame at a time (`encodeFrames` / `decodeFrames`), the same as encoding it in one pass; with
 * `--window N`, through the reference CLI's independent windows of N frames.
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";
import type { HostTensor } from "../types.ts";
import { concatTime, sliceTime } from "../media/windows.ts";
import { QualityMeter } from "../media/metrics.ts";
import { decodeImage, encodeImage, imageFormatOf, type RgbImage } from "../media/image.ts";
import { type Crop, cropImage, padImage, type PadMode } from "../media/pad.ts";
import { framesToTensor, tensorToFrames } from "../media/tensor.ts";
import {
  isVideoPath,
  probeVideo,
  readVideoFrames,
  type VideoInfo,
  VideoWriter,
} from "../media/video.ts";
import {
  clipMeta,
  paddedFrames,
  paddedWindows,
  windowFrames,
  type WindowMeta,
} from "../media/padded_windows.ts";
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
  const bar = new ProgressBar(`encode ${input}`, info.frames, "frames", opts.progress);
  const run = tok.window === null ? encodeWhole : encodeWindows;
  let encoded: EncodedVideo;
  try {
    encoded = await run(tok, input, info, opts.pad, (n) => bar.tick(n));
  } finally {
    bar.finish();
  }
  const tokens = concatTime(encoded.parts, tok.discrete ? 1 : 2);
  const tokenInfo: TokenInfo = {
    ...baseInfo(tok, input, encoded.crop),
    frames: encoded.frames,
    window: tok.window,
    fps: info.fps,
    lastWindowPad: encoded.pad,
  };
  await writeFileAtomic(output, encodeTokenFile({ info: tokenInfo, tokens }));
  return report(
    input,
    output,
    "video",
    info,
    encoded.frames,
    tokens,
    null,
    encoded.encodeMs,
    null,
    start,
  );
}

/** A video's tokens (small: kept until the file is written whole) and its bookkeeping. */
interface EncodedVideo {
  /** The tokens of each chunk (latent frame or window), in order. */
  parts: HostTensor[];
  /** Original frames. */
  frames: number;
  /** Frames added [before, after] in the last window (a whole clip: [0, n] at its end). */
  pad: [number, number];
  crop: Crop;
  encodeMs: number;
}

/**
 * Encodes a video as one exact causal stream: frames go into `encodeFrames` as ffmpeg decodes
 * them and each latent frame comes out as soon as its frames are in; `onFrames` counts the
 * original frames done.
 */
async function encodeWhole(
  tok: Tokenizer,
  input: string,
  info: VideoInfo,
  pad: PadMode,
  onFrames: (n: number) => void,
): Promise<EncodedVideo> {
  const meta = clipMeta();
  const timing = { readMs: 0 };
  const clip = paddedFrames(readVideoFrames(input, info), tok, pad, meta, false, timing);
  const parts: HostTensor[] = [];
  let waited = 0, t0 = performance.now();
  for await (const chunk of tok.encodeFrames(clip)) {
    waited += performance.now() - t0;
    parts.push(tokensOf(chunk));
    // Input frames past the original count are the copies of the last one added at the end.
    const [first, end] = chunk.frames;
    onFrames(Math.max(0, Math.min(end, meta.count) - Math.min(first, meta.count)));
    t0 = performance.now();
  }
  return {
    parts,
    frames: meta.count,
    pad: [0, meta.endPad],
    crop: meta.crop!,
    encodeMs: waited - timing.readMs,
  };
}

/** Encodes a video in the reference CLI's independent windows of `tok.window` frames. */
async function encodeWindows(
  tok: Tokenizer,
  input: string,
  info: VideoInfo,
  pad: PadMode,
  onFrames: (n: number) => void,
): Promise<EncodedVideo> {
  const queue: WindowMeta[] = [];
  const timing = { readMs: 0 };
  const clips = paddedWindows(readVideoFrames(input, info), tok, pad, queue, false, timing);
  const parts: HostTensor[] = [];
  let frames = 0, lastPad: [number, number] = [0, 0], crop: Crop | null = null;
  let waited = 0, t0 = performance.now();
  for await (const chunk of tok.encodeStream(clips)) {
    waited += performance.now() - t0;
    const meta = queue.shift()!;
    parts.push(tokensOf(chunk));
    frames += meta.count;
    lastPad = meta.pad;
    crop = meta.crop;
    onFrames(meta.count);
    t0 = performance.now();
  }
  return { parts, frames, pad: lastPad, crop: crop!, encodeMs: waited - timing.readMs };
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
  return report(input, output, "video", crop, frames, tokens, null, null, timing.decodeMs, start);
}

/**
 * The frames of a token file's video, cropped, its time padding dropped, as they are decoded:
 * a clip encoded whole goes through `decodeFrames` one latent frame at a time (exactly the
 * whole latent, memory flat in its length); windows are decoded one by one, each on its own.
 */
async function* decodedVideo(
  tok: Tokenizer,
  info: TokenInfo,
  tokens: HostTensor,
  timing: { decodeMs: number },
): AsyncGenerator<RgbImage> {
  const axis = info.discrete ? 1 : 2;
  const total = tokens.shape[axis];
  const tc = info.temporalCompression;
  const [before, after] = info.lastWindowPad ?? [0, 0];
  const crop = info.crop;
  if (info.window == null) {
    // Pixel frames of the whole latent, less the copies of the last frame added at the end.
    const keep = 1 + (total - 1) * tc - after;
    const latentFrames = function* () {
      for (let t = 0; t < total; t++) yield sliceTime(tokens, t, t + 1, axis);
    };
    let n = 0, t0 = performance.now();
    for await (const decoded of tok.decodeFrames(latentFrames())) {
      timing.decodeMs += performance.now() - t0;
      for (const frame of windowFrames(decoded, { pad: [0, 0], crop })) {
        if (n++ < keep) yield frame;
      }
      t0 = performance.now();
    }
    return;
  }
  // Latent frames per window: each window of 1 + k x tc frames became 1 + k latent frames.
  const latentWindow = 1 + (info.window - 1) / tc;
  for (let t = 0; t < total; t += latentWindow) {
    const end = Math.min(total, t + latentWindow);
    const t0 = performance.now();
    const decoded = await tok.decode(sliceTime(tokens, t, end, axis));
    timing.decodeMs += performance.now() - t0;
    const pad: [number, number] = end === total ? [before, after] : [0, 0];
    yield* windowFrames(decoded, { pad, crop });
  }
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

/** What a video's reconstruction reports. */
interface Reconstruction {
  frames: number;
  /** Shape of the whole video's tokens. */
  tokens: number[];
  encodeMs: number;
  decodeMs: number;
}

/** Receives each original frame with its reconstruction, in order. */
type OnFrame = (original: RgbImage, reconstruction: RgbImage) => Promise<void>;

/**
 * Autoencodes a video as one exact causal stream: frames go into `encodeFrames` as ffmpeg
 * decodes them, each latent frame into `decodeFrames` as soon as it is out, and each
 * reconstructed frame to `onFrame`; only the frames in flight are held.
 */
async function reconstructWhole(
  tok: Tokenizer,
  input: string,
  info: VideoInfo,
  pad: PadMode,
  onFrame: OnFrame,
): Promise<Reconstruction> {
  const meta = clipMeta();
  const timing = { readMs: 0 };
  const clip = paddedFrames(readVideoFrames(input, info), tok, pad, meta, true, timing);
  let latentFrames = 0, shape: number[] = [], encodeWait = 0;
  const tokens = async function* () {
    let t0 = performance.now();
    for await (const chunk of tok.encodeFrames(clip)) {
      encodeWait += performance.now() - t0;
      const t = tokensOf(chunk);
      shape = t.shape;
      latentFrames++;
      yield t;
      t0 = performance.now();
    }
  };
  let frames = 0, waited = 0, t0 = performance.now();
  for await (const decoded of tok.decodeFrames(tokens())) {
    waited += performance.now() - t0;
    for (const rec of windowFrames(decoded, { pad: [0, 0], crop: meta.crop! })) {
      // Frames come out in order, each after its input went in; once the originals are all
      // taken, what is left are the copies of the last frame added at the end.
      const original = meta.originals.shift();
      if (!original) continue;
      await onFrame(original, rec);
      frames++;
    }
    t0 = performance.now();
  }
  const axis = tok.discrete ? 1 : 2;
  shape = [...shape];
  shape[axis] = latentFrames;
  return {
    frames,
    tokens: shape,
    encodeMs: encodeWait - timing.readMs,
    decodeMs: waited - encodeWait,
  };
}

/**
 * Autoencodes a video in the reference CLI's independent windows of `tok.window` frames: each
 * window encoded and decoded on its own as soon as its frames are in.
 */
async function reconstructWindows(
  tok: Tokenizer,
  input: string,
  info: VideoInfo,
  pad: PadMode,
  onFrame: OnFrame,
): Promise<Reconstruction> {
  const queue: WindowMeta[] = [];
  const timing = { readMs: 0 };
  const tokenShapes: number[][] = [];
  const clips = paddedWindows(readVideoFrames(input, info), tok, pad, queue, true, timing);
  let frames = 0, waited = 0, decodeMs = 0, t0 = performance.now();
  for await (const chunk of tok.encodeStream(clips)) {
    waited += performance.now() - t0;
    const meta = queue.shift()!;
    const tokens = tokensOf(chunk);
    tokenShapes.push(tokens.shape);
    const t1 = performance.now();
    const decoded = await tok.decode(tokens);
    decodeMs += performance.now() - t1;
    const rec = windowFrames(decoded, meta);
    for (let i = 0; i < rec.length; i++) await onFrame(meta.originals[i], rec[i]);
    frames += rec.length;
    t0 = performance.now();
  }
  // The whole video's token shape: windows joined along time.
  const axis = tok.discrete ? 1 : 2;
  const shape = [...tokenShapes[0]];
  shape[axis] = tokenShapes.reduce((a, t) => a + t[axis], 0);
  return { frames, tokens: shape, encodeMs: waited - timing.readMs, decodeMs };
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
