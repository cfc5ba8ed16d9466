/**
 * One dataset item to its token file and WebDataset JSON. Inputs are fetched first (`prepare`:
 * a file, a tar member or a URL, read within a byte limit; videos put in a file for ffmpeg), so
 * the worker loop can prepare the next item while this one tokenizes. Videos go through the
 * exact streaming engine, as `cosmos encode` runs them (the whole clip one causal pass, a
 * latent frame at a time: `encodeWhole`); with a video model an image is a one-frame clip
 * through the same engine, as the Cosmos video tokenizers encode a first frame; with an image
 * model a video is refused.
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";
import { decodeImage, type RgbImage } from "../media/image.ts";
import { padImage, type PadMode } from "../media/pad.ts";
import { framesToTensor } from "../media/tensor.ts";
import { concatTime } from "../media/windows.ts";
import { probeVideo, type VideoInfo } from "../media/video.ts";
import { measureItem } from "./item_metrics.ts";
import { clipMeta, paddedFrames } from "../media/padded_windows.ts";
import type { HostTensor } from "../types.ts";
import { encodeTokenFile, type TokenInfo } from "../cli/tokens.ts";
import { encodeWhole, tokensOf } from "../cli/video_items.ts";
import type { Item } from "./manifest.ts";
import { type ItemMeta, sha256 } from "./records.ts";
import { copyMember, readMember } from "./tar.ts";

/** An item's input, ready to tokenize: an image's pixels, or a video file ffmpeg can open. */
export interface Prepared {
  image?: RgbImage;
  video?: string;
  /** Removes a temporary file made for it. */
  cleanup(): Promise<void>;
}

/** Default most bytes one input may have (`--max-input-bytes`). */
export const DEFAULT_MAX_INPUT_BYTES = 4 * 2 ** 30;

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** A URL's body to a file, refused once it passes `max` bytes (whatever Content-Length says). */
async function download(url: string, to: string, max: number): Promise<void> {
  const res = await fetch(url);
  if (!res.ok || !res.body) {
    await res.body?.cancel();
    throw new Error(`Cannot fetch "${url}": HTTP ${res.status}; check the URL`);
  }
  const f = await Deno.open(to, { write: true, create: true, truncate: true });
  let total = 0;
  try {
    for await (const chunk of res.body) {
      total += chunk.length;
      if (total > max) {
        throw new Error(`"${url}" is over ${max} bytes; raise --max-input-bytes if it is right`);
      }
      let at = 0;
      while (at < chunk.length) at += await f.write(chunk.subarray(at));
    }
  } finally {
    f.close();
  }
}

let counter = 0;

/** Fetches an item's bytes (images) or puts it in a file (videos), within `max` bytes. */
export async function prepare(item: Item, tmpDir: string, max: number): Promise<Prepared> {
  const tmp = `${tmpDir}/.input-${Deno.pid}-${counter++}.${item.ext}`;
  const cleanup = () => Deno.remove(tmp).catch(() => {});
  const tooBig = (n: number) => {
    if (n > max) {
      throw new Error(
        `"${item.source}" is ${n} bytes, over --max-input-bytes ${max}; raise it if it is right`,
      );
    }
  };
  try {
    if (item.member) {
      tooBig(item.member.size);
      const member = { name: item.source, ...item.member };
      if (item.kind === "video") {
        await copyMember(item.member.tar, member, tmp);
        return { video: tmp, cleanup };
      }
      const bytes = await readMember(item.member.tar, member);
      return { image: decodeImage(bytes, item.source), cleanup };
    }
    if (isUrl(item.source)) {
      await download(item.source, tmp, max);
      if (item.kind === "video") return { video: tmp, cleanup };
      const bytes = await Deno.readFile(tmp);
      await cleanup();
      return { image: decodeImage(bytes, item.source), cleanup };
    }
    let size: number;
    try {
      size = (await Deno.stat(item.source)).size;
    } catch {
      throw new Error(`No such file: "${item.source}"; fix the manifest or restore the file`);
    }
    tooBig(size);
    if (item.kind === "video") return { video: item.source, cleanup: async () => {} };
    return { image: decodeImage(await Deno.readFile(item.source), item.source), cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  }
}

/** Frames as an async stream, for the video engine. */
async function* oneFrame(img: RgbImage): AsyncGenerator<RgbImage> {
  yield img;
}

/** An item's token file (bytes) and JSON. */
export interface Tokenized {
  tokens: Uint8Array;
  meta: ItemMeta;
}

/** Tokenizes a prepared item. */
export async function tokenizeItem(
  tok: Tokenizer,
  item: Item,
  input: Prepared,
  pad: PadMode,
  metrics = false,
): Promise<Tokenized> {
  const base = {
    model: tok.model,
    kind: tok.kind,
    discrete: tok.discrete,
    spatialCompression: tok.spatialCompression,
    temporalCompression: tok.temporalCompression,
    source: item.source,
    sourceFormat: item.ext === "jpeg" ? "jpg" : item.ext,
  };
  let tokens: HostTensor, info: TokenInfo, width: number, height: number, frames = 1;
  let fps: number | undefined, probe: VideoInfo | undefined;
  if (tok.kind === "image") {
    if (!input.image) {
      throw new Error(
        `"${item.source}" is a video but ${tok.model} is an image tokenizer; use a video model (CV/DV), which takes images too`,
      );
    }
    const { image, crop } = padImage(input.image, tok.spatialCompression, pad);
    tokens = tokensOf(await tok.encode(framesToTensor([image], false)));
    info = { ...base, crop };
    ({ width, height } = input.image);
  } else if (input.image) {
    // One frame through the streaming engine: what the video tokenizers do with a first frame.
    const meta = clipMeta();
    const parts: HostTensor[] = [];
    const frames = paddedFrames(oneFrame(input.image), tok, pad, meta, false, { readMs: 0 });
    for await (const chunk of tok.encodeFrames(frames)) parts.push(tokensOf(chunk));
    tokens = concatTime(parts, tok.discrete ? 1 : 2);
    fps = 1;
    info = { ...base, crop: meta.crop!, frames: 1, window: null, fps, lastWindowPad: [0, 0] };
    ({ width, height } = input.image);
  } else {
    const video = probe = await probeVideo(input.video!);
    const encoded = await encodeWhole(tok, input.video!, video, pad, () => {});
    tokens = concatTime(encoded.parts, tok.discrete ? 1 : 2);
    frames = encoded.frames;
    fps = video.fps;
    info = {
      ...base,
      crop: encoded.crop,
      frames,
      window: null,
      fps,
      lastWindowPad: encoded.pad,
    };
    ({ width, height } = video);
  }
  const quality = metrics
    ? await measureItem(tok, info, tokens, { image: input.image, video: input.video, probe })
    : {};
  const bytes = encodeTokenFile({ info, tokens });
  const member = `${item.key}.${tok.discrete ? "tokens" : "latent"}.safetensors`;
  const meta: ItemMeta = {
    key: item.key,
    source: item.source,
    model: tok.model,
    kind: item.kind,
    width,
    height,
    frames,
    ...(fps !== undefined ? { fps } : {}),
    member,
    tokens: tokens.shape,
    sha256: sha256(bytes),
    bytes: bytes.length,
    ...quality,
  };
  return { tokens: bytes, meta };
}
