/**
 * An HTTP tokenization endpoint around one shared tokenizer: POST an image (PNG, JPEG) or a
 * short video (MP4, MOV, WebM, MKV; through ffmpeg) as the request body, get its tokens back as
 * JSON. Requests beyond a bounded queue are refused at once (429), and every limit answers with
 * a JSON error before any GPU work: body size (413), resolution and frame count (422), media
 * that is not an image or video (415), damaged files (400). No request can take the server down.
 *
 * Response of `POST /tokenize`:
 * ```json
 * { "model": "Cosmos-0.1-Tokenizer-DI8x8", "kind": "image", "discrete": true,
 *   "input": { "width": 64, "height": 48, "frames": 1 },
 *   "tokens": { "name": "indices", "dtype": "int32", "shape": [1, 6, 8],
 *               "data": "<base64 of the little-endian values, row-major>" },
 *   "ms": 812 }
 * ```
 * `indices` (int32) for discrete models, `latent` (float32) for continuous ones. Sizes the model
 * cannot take directly are padded by reflection to its multiple, and the tokens cover the padded
 * frame. `GET /health` answers the model, the queue and the limits.
 * @module
 */

import { Buffer } from "node:buffer";
import type { Tokenizer } from "../tokenizer.ts";

// The handler takes a Tokenizer: its type and the types its methods mention, for documentation.
export type {
  EncodeResult,
  FrameTokens,
  StreamChunk,
  StreamOptions,
  Tokenizer,
} from "../tokenizer.ts";
export type { HostTensor } from "../types.ts";
export type { MemoryStats, Tensor } from "../backends/ops.ts";
export type { Probe } from "../models/graph.ts";
import type { HostTensor } from "../types.ts";
import { concatTime } from "../media/windows.ts";
import { decodeImage, ImageLimitError, readImageSize, sniffImage } from "../media/image.ts";
import { padImage } from "../media/pad.ts";
import { framesToTensor } from "../media/tensor.ts";
import { probeVideo, readVideoFrames, requireFfmpeg } from "../media/video.ts";
import { paddedWindows, type WindowMeta } from "../media/padded_windows.ts";

/** What the server refuses, and with which status. */
export interface ServerLimits {
  /** Largest request body in bytes (413 beyond). */
  maxBytes: number;
  /** Largest width and height in pixels (422 beyond). */
  maxSide: number;
  /** Most frames of a video (422 beyond). */
  maxFrames: number;
  /** Requests admitted at once, running or waiting for the tokenizer (429 beyond). */
  maxQueue: number;
}

/** The limits of `createTokenizeHandler` when none are given: 16 MiB, 1024 px, 33 frames, 8 at once. */
export const DEFAULT_LIMITS: ServerLimits = {
  maxBytes: 16 * 1024 * 1024,
  maxSide: 1024,
  maxFrames: 33,
  maxQueue: 8,
};

class HttpError extends Error {
  constructor(readonly status: number, message: string) {
    super(message);
  }
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

/** The body, refusing (413) as soon as it passes `max` bytes, whatever Content-Length says. */
async function readBody(req: Request, max: number): Promise<Uint8Array> {
  const declared = Number(req.headers.get("content-length"));
  if (declared > max) {
    await req.body?.cancel();
    throw new HttpError(413, `The body has ${declared} bytes; the limit is ${max}`);
  }
  if (!req.body) return new Uint8Array(0);
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = req.body.getReader();
  while (true) {
    const { value, done } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > max) {
      await reader.cancel();
      throw new HttpError(413, `The body is over the limit of ${max} bytes`);
    }
    parts.push(value);
  }
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Containers ffmpeg reads that we accept, by magic number. */
function sniffVideo(bytes: Uint8Array): string | null {
  if (bytes.length >= 12 && String.fromCharCode(...bytes.subarray(4, 8)) === "ftyp") return "mp4";
  if (bytes.length >= 4 && bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf) {
    return "mkv";
  }
  return null;
}

function tokensJson(t: HostTensor, discrete: boolean) {
  const bytes = Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength);
  return {
    name: discrete ? "indices" : "latent",
    dtype: discrete ? "int32" : "float32",
    shape: t.shape,
    data: bytes.toString("base64"),
  };
}

/**
 * The request handler (for Deno.serve) of a tokenizer, which it shares between requests.
 *
 * @example Serve an image tokenizer on port 8000
 * ```ts ignore
 * import { loadTokenizer } from "@cosmos/webgpu";
 * import { createTokenizeHandler } from "@cosmos/webgpu/server";
 * const tok = await loadTokenizer({ model: "Cosmos-0.1-Tokenizer-DI8x8" });
 * Deno.serve({ port: 8000 }, createTokenizeHandler(tok, { maxSide: 512 }));
 * // curl --data-binary @photo.png localhost:8000/tokenize
 * ```
 */
export function createTokenizeHandler(
  tok: Tokenizer,
  limits: Partial<ServerLimits> = {},
): (req: Request) => Promise<Response> {
  const lim = { ...DEFAULT_LIMITS, ...limits };
  let admitted = 0;

  async function image(bytes: Uint8Array) {
    if (tok.kind !== "image") {
      throw new HttpError(422, `This server runs ${tok.model}, a video tokenizer: send a video`);
    }
    // The size as the decoder will read it, checked before it allocates (media/image.ts).
    let img;
    try {
      readImageSize(bytes, "upload", { maxSide: lim.maxSide });
      img = decodeImage(bytes, "upload", { maxSide: lim.maxSide });
    } catch (err) {
      if (err instanceof ImageLimitError) {
        const what = err.size ? `${err.size.width}x${err.size.height}` : "The image";
        throw new HttpError(
          422,
          `${what} is larger than this server takes (${lim.maxSide} pixels a side)` +
            (err.size ? "" : `: ${err.message}`),
        );
      }
      throw new HttpError(400, (err as Error).message);
    }
    const { image } = padImage(img, tok.spatialCompression);
    const r = await tok.encode(framesToTensor([image], false));
    return {
      width: img.width,
      height: img.height,
      frames: 1,
      tokens: (r.indices ?? r.latent)!,
    };
  }

  function checkSize(width: number, height: number) {
    if (width > lim.maxSide || height > lim.maxSide) {
      throw new HttpError(
        422,
        `${width}x${height} is larger than this server takes (${lim.maxSide} pixels a side)`,
      );
    }
  }

  async function video(bytes: Uint8Array, container: string) {
    if (tok.kind !== "video") {
      throw new HttpError(422, `This server runs ${tok.model}, an image tokenizer: send an image`);
    }
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
      checkSize(info.width, info.height);
      if (info.frames !== null && info.frames > lim.maxFrames) {
        throw new HttpError(
          422,
          `${info.frames} frames; this server takes at most ${lim.maxFrames}`,
        );
      }
      const queue: WindowMeta[] = [];
      const parts: HostTensor[] = [];
      // A tokenizer without the window option streams the whole clip exactly, so it gets the
      // whole video (at most maxFrames) as one window, padded at its ends to 1 + k x tc frames.
      const tc = tok.temporalCompression;
      const geometry = {
        streamWindow: tok.window ?? 1 + tc * Math.ceil((lim.maxFrames - 1) / tc),
        temporalCompression: tc,
        spatialCompression: tok.spatialCompression,
      };
      try {
        const windows = paddedWindows(
          readVideoFrames(path, info, lim.maxFrames),
          geometry,
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

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    if (url.pathname === "/health" && req.method === "GET") {
      return json(200, { model: tok.model, kind: tok.kind, queue: admitted, limits: lim });
    }
    if (url.pathname !== "/tokenize") {
      await req.body?.cancel();
      return json(404, { error: "Not found: POST an image or video to /tokenize" });
    }
    if (req.method !== "POST") {
      await req.body?.cancel();
      return json(405, { error: "Use POST with the image or video as the body" });
    }
    if (admitted >= lim.maxQueue) {
      await req.body?.cancel();
      return json(429, { error: `Busy: ${admitted} requests in progress; try again later` });
    }
    admitted++;
    const started = performance.now();
    try {
      const bytes = await readBody(req, lim.maxBytes);
      if (!bytes.length) throw new HttpError(400, "Empty body: send a PNG, JPEG or video");
      const container = sniffImage(bytes) ? null : sniffVideo(bytes);
      if (!sniffImage(bytes) && !container) {
        throw new HttpError(415, "Unsupported media: send a PNG, JPEG, MP4/MOV or WebM/MKV file");
      }
      const r = container ? await video(bytes, container) : await image(bytes);
      return json(200, {
        model: tok.model,
        kind: tok.kind,
        discrete: tok.discrete,
        input: { width: r.width, height: r.height, frames: r.frames },
        tokens: tokensJson(r.tokens, tok.discrete),
        ms: Math.round(performance.now() - started),
      });
    } catch (err) {
      if (err instanceof HttpError) return json(err.status, { error: err.message });
      // Anything else is ours, not the client's: report it and keep serving.
      console.error(`tokenize: ${(err as Error).stack ?? err}`);
      return json(500, { error: `Internal error: ${(err as Error).message}` });
    } finally {
      admitted--;
    }
  };
}
