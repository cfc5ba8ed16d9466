/**
 * An HTTP tokenization server around one shared tokenizer (`createTokenizeHandler`, for
 * Deno.serve). POST an image (PNG, JPEG) or a short video (MP4, MOV, M4V, MKV, WebM, AVI,
 * MPEG, GIF; through ffmpeg) to `/tokenize`, as the raw body or as the "file" field of a
 * multipart/form-data form, and get its tokens back as JSON; POST that JSON to `/decode` and
 * get the image (PNG, or `?format=jpeg`) or video (MP4, or `?format=webm|gif`) back;
 * `GET /health` answers the model, the queue and the limits at once, whatever runs.
 *
 * Every limit answers a JSON `{"error": ...}` before any tokenizer work: a body over maxBytes
 * 413, one that has not all arrived within readTimeoutMs 408, a queue of maxQueue requests or
 * uploads holding maxBufferedBytes 429 with Retry-After, media that is not an image or video
 * 415, a size over maxSide as its decoder would read it, or more than maxFrames frames, 422,
 * damaged files 400, a wrong method 405 with Allow. A request takes a place in the queue only
 * once its body is in, so slow uploads hold none.
 *
 * Give it a TokenizerWorker (the tokenizer in a Web Worker: the HTTP thread then only admits,
 * reads bodies and answers, so a WebAssembly backend computing on its own thread cannot hold
 * it up), or a Tokenizer, which runs on the calling thread (fine for WebGPU, which mostly
 * waits on the device).
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
 * frame; `/decode` crops that padding off again when the JSON holds `input`.
 * @module
 */

import { Buffer } from "node:buffer";
import { Tokenizer } from "../tokenizer.ts";
import { Admission } from "./admission.ts";
import { ByteBudget, type HeldBody, readBody } from "./body.ts";
import { decodeFormat } from "./decode_job.ts";
import { type Engine, inlineEngine } from "./engine.ts";
import { baseHeaders, errorResponse, HttpError, json, optionsResponse } from "./http.ts";
import type { Job, JobResult, TokenizerInfo } from "./protocol.ts";
import { checkUpload, isMultipart } from "./upload.ts";
import { takesImageClips } from "../models/wan/images.ts";
import { type TokenizerWorker, workerEngine } from "./worker_engine.ts";

export { TokenizerWorker } from "./worker_engine.ts";
export type { TokenizerInfo, WorkerLoadOptions } from "./protocol.ts";
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

/** What the server refuses, and with which status. */
export interface ServerLimits {
  /** Largest request body in bytes (413 beyond). */
  maxBytes: number;
  /** Largest width and height in pixels, as the decoder would read them (422 beyond). */
  maxSide: number;
  /** Most frames of a video (422 beyond). */
  maxFrames: number;
  /** Requests admitted at once, running or waiting for the tokenizer (429 beyond). */
  maxQueue: number;
  /** Milliseconds a body may take to arrive, from its first byte read to its last (408 beyond). */
  readTimeoutMs: number;
  /**
   * Bytes of request bodies held at once, being read, queued or running (429 beyond). When
   * not given: maxBytes x (maxQueue + 4).
   */
  maxBufferedBytes: number;
}

/**
 * The limits of `createTokenizeHandler` when none are given: 16 MiB, 1024 px, 33 frames, 8
 * at once, 30 s to send a body, 192 MiB of bodies held at once.
 */
export const DEFAULT_LIMITS: ServerLimits = {
  maxBytes: 16 * 1024 * 1024,
  maxSide: 1024,
  maxFrames: 33,
  maxQueue: 8,
  readTimeoutMs: 30_000,
  maxBufferedBytes: 16 * 1024 * 1024 * 12,
};

/** The server's limits and conventions. */
export interface ServerOptions extends Partial<ServerLimits> {
  /**
   * The origin browsers may call the server from (Access-Control-Allow-Origin, and answers to
   * preflight requests), "*" for any; none by default (no CORS headers).
   */
  cors?: string;
}

/** The methods each route takes (and answers OPTIONS and 405 with). */
const ROUTES: Record<string, { allow: string; use: string }> = {
  "/health": { allow: "GET, HEAD, OPTIONS", use: "GET /health" },
  "/tokenize": { allow: "POST, OPTIONS", use: "Use POST with the image or video as the body" },
  "/decode": { allow: "POST, OPTIONS", use: "Use POST with the JSON /tokenize answered" },
};

function checkLimits(lim: ServerLimits): void {
  for (const [name, value] of Object.entries(lim)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      throw new Error(`Invalid server limit ${name}: ${value}; it must be a positive integer`);
    }
  }
  if (lim.maxBufferedBytes < lim.maxBytes) {
    throw new Error(
      `Invalid server limits: maxBufferedBytes (${lim.maxBufferedBytes}) is below maxBytes (${lim.maxBytes}), so no upload of maxBytes could be taken`,
    );
  }
}

function tokensJson(info: TokenizerInfo, shape: number[], data: ArrayBuffer) {
  return {
    name: info.discrete ? "indices" : "latent",
    dtype: info.discrete ? "int32" : "float32",
    shape,
    data: Buffer.from(data).toString("base64"),
  };
}

/**
 * The request handler (for Deno.serve) of a tokenizer, which it shares between requests: a
 * TokenizerWorker (recommended: inference off the HTTP thread), or a Tokenizer run on this
 * thread.
 *
 * @example Serve an image tokenizer on port 8000
 * ```ts ignore
 * import { createTokenizeHandler, TokenizerWorker } from "@cosmos/webgpu/server";
 * const tok = await TokenizerWorker.start({ model: "Cosmos-0.1-Tokenizer-DI8x8" });
 * Deno.serve({ port: 8000 }, createTokenizeHandler(tok, { maxSide: 512 }));
 * // curl -F file=@photo.png localhost:8000/tokenize
 * ```
 */
export function createTokenizeHandler(
  tok: Tokenizer | TokenizerWorker,
  options: ServerOptions = {},
): (req: Request) => Promise<Response> {
  const { cors = null, ...limits } = options;
  const lim: ServerLimits = {
    ...DEFAULT_LIMITS,
    ...limits,
    maxBufferedBytes: limits.maxBufferedBytes ??
      (limits.maxBytes ?? DEFAULT_LIMITS.maxBytes) *
        ((limits.maxQueue ?? DEFAULT_LIMITS.maxQueue) + 4),
  };
  checkLimits(lim);
  const engine: Engine = tok instanceof Tokenizer ? inlineEngine(tok) : workerEngine(tok);
  const info = engine.info;
  const admission = new Admission(lim.maxQueue);
  const budget = new ByteBudget(lim.maxBufferedBytes);
  const bodyLimits = {
    maxBytes: lim.maxBytes,
    timeoutMs: lim.readTimeoutMs,
    budget,
    retryAfter: () => admission.retryAfter(),
  };
  const jobLimits = { maxSide: lim.maxSide, maxFrames: lim.maxFrames };

  function health(headers: Headers): Response {
    return json(200, {
      model: info.model,
      kind: info.kind,
      discrete: info.discrete,
      backend: info.backend,
      queue: admission.admitted,
      buffered: budget.held,
      limits: lim,
    }, headers);
  }

  /** The job a request's body makes, checked as far as the HTTP thread checks it. */
  function jobOf(path: string, url: URL, req: Request, body: HeldBody): Job {
    if (path === "/decode") {
      if (!body.bytes.length) {
        throw new HttpError(400, "Empty body: send the JSON /tokenize answered");
      }
      return {
        kind: "decode",
        body: body.bytes,
        format: url.searchParams.get("format"),
        limits: jobLimits,
      };
    }
    const type = req.headers.get("content-type");
    const form = isMultipart(type) ? type : null;
    // A raw upload is checked here (headers only, no pixel decoded) before it takes a place.
    if (!form) checkUpload(body.bytes, info, lim.maxSide);
    return { kind: "tokenize", body: body.bytes, form, limits: jobLimits };
  }

  function reply(result: JobResult, started: number, headers: Headers): Response {
    if (result.kind === "file") {
      const h = new Headers(headers);
      h.set("content-type", result.contentType);
      return new Response(result.data, { status: 200, headers: h });
    }
    return json(200, {
      model: info.model,
      kind: result.media,
      discrete: info.discrete,
      input: { width: result.width, height: result.height, frames: result.frames },
      tokens: tokensJson(info, result.shape, result.data),
      ms: Math.round(performance.now() - started),
    }, headers);
  }

  return async (req: Request): Promise<Response> => {
    const url = new URL(req.url);
    const headers = baseHeaders(cors);
    const route = ROUTES[url.pathname];
    if (!route || req.method === "OPTIONS" || !route.allow.split(", ").includes(req.method)) {
      await req.body?.cancel().catch(() => {});
      if (!route) {
        return json(404, {
          error: "Not found: POST an image or video to /tokenize, tokens to /decode; GET /health",
        }, headers);
      }
      if (req.method === "OPTIONS") return optionsResponse(route.allow, headers, cors);
      const h = new Headers(headers);
      h.set("allow", route.allow);
      return json(405, { error: `${route.use} (${req.method} is not allowed)` }, h);
    }
    if (url.pathname === "/health") return health(headers);
    let body: HeldBody | null = null;
    try {
      // Refused at once when full, before its body is read; admitted only once it is in.
      admission.check();
      // A Wan VAE decodes images and videos: the tokens' shape says which, and the format is
      // checked against it in the job.
      if (url.pathname === "/decode" && !takesImageClips(info)) {
        decodeFormat(info.kind, url.searchParams.get("format"));
      }
      body = await readBody(req, bodyLimits);
      const job = jobOf(url.pathname, url, req, body);
      const place = admission.admit();
      const started = performance.now();
      let ms: number | null = null;
      try {
        const result = await engine.run(job);
        ms = performance.now() - started;
        return reply(result, started, headers);
      } finally {
        place.done(ms);
      }
    } catch (err) {
      if (!body) await req.body?.cancel().catch(() => {});
      if (err instanceof HttpError) return errorResponse(err, headers);
      // Anything else is ours, not the client's: report it and keep serving.
      console.error(`tokenize: ${(err as Error).stack ?? err}`);
      return json(500, { error: `Internal error: ${(err as Error).message}` }, headers);
    } finally {
      body?.release();
    }
  };
}
