/**
 * What passes between the HTTP thread and the side that owns the tokenizer (a Web Worker, or
 * the same thread for a Tokenizer passed in): jobs, their results, and what the HTTP thread
 * knows of the tokenizer. Everything here is structured-clonable; the bytes travel as
 * ArrayBuffers, transferred, not copied.
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";

/** What the server knows of the tokenizer it serves. */
export interface TokenizerInfo {
  /** Official variant name, or a description of an unofficial one. */
  model: string;
  /** Whether it tokenizes images or videos. */
  kind: "image" | "video";
  /** "wan" for the Wan VAE, a video model that takes images too (as one-frame clips). */
  family: "cosmos" | "wan";
  /** Whether its tokens are FSQ indices (int32) rather than a latent (float32). */
  discrete: boolean;
  /** What runs the network, e.g. "wasm (relaxed SIMD, 1 thread)". */
  backend: string;
  /** Pixels per token along height and width. */
  spatialCompression: number;
  /** Frames per latent frame (1 for images). */
  temporalCompression: number;
  /** Frames per independent window of a video tokenizer, or null for whole clips. */
  window: number | null;
  /** Latent channels (continuous) or FSQ dimension (discrete). */
  latentChannels: number;
  /** FSQ levels of a discrete tokenizer, else null. */
  fsqLevels: number[] | null;
}

/** The fields of a Tokenizer that the server reports and checks against. */
export function infoOf(tok: Tokenizer): TokenizerInfo {
  return {
    model: tok.model,
    kind: tok.kind,
    family: tok.family,
    discrete: tok.discrete,
    backend: tok.backend,
    spatialCompression: tok.spatialCompression,
    temporalCompression: tok.temporalCompression,
    window: tok.window,
    latentChannels: tok.latentChannels,
    fsqLevels: tok.fsqLevels,
  };
}

/** The limits a job is held to on the tokenizer's side. */
export interface JobLimits {
  maxSide: number;
  maxFrames: number;
}

/** An upload to tokenize: the raw file, or a multipart form holding it. */
export interface TokenizeJob {
  kind: "tokenize";
  body: Uint8Array<ArrayBuffer>;
  /** The request's Content-Type when the body is a multipart form, else null. */
  form: string | null;
  limits: JobLimits;
}

/** Tokens (the JSON /tokenize answers) to decode into an image or a video file. */
export interface DecodeJob {
  kind: "decode";
  body: Uint8Array<ArrayBuffer>;
  /** The output format asked for (png, jpeg; mp4, webm, gif), or null for the default. */
  format: string | null;
  limits: JobLimits;
}

export type Job = TokenizeJob | DecodeJob;

/** What a tokenize job gives: the input's size and its tokens. */
export interface TokensResult {
  kind: "tokens";
  /** What was uploaded: a Wan VAE (a video model) takes images too. */
  media: "image" | "video";
  width: number;
  height: number;
  frames: number;
  shape: number[];
  /** Little-endian int32 indices (discrete) or float32 latent (continuous), row-major. */
  data: ArrayBuffer;
}

/** What a decode job gives: a file. */
export interface FileResult {
  kind: "file";
  contentType: string;
  data: ArrayBuffer;
}

export type JobResult = TokensResult | FileResult;

/** The ArrayBuffer of exactly a typed array's bytes (itself when it spans its buffer). */
export function bufferOf(data: Float32Array | Int32Array | Uint8Array): ArrayBuffer {
  const buffer = data.buffer as ArrayBuffer;
  if (data.byteOffset === 0 && data.byteLength === buffer.byteLength) return buffer;
  return buffer.slice(data.byteOffset, data.byteOffset + data.byteLength);
}

/** The buffers of a result, to transfer with it. */
export function transferablesOf(result: JobResult): ArrayBuffer[] {
  return [result.data];
}

/** Messages the HTTP thread sends the worker. */
export type ToWorker =
  | { type: "load"; options: WorkerLoadOptions }
  | { type: "job"; id: number; job: Job };

/** Messages the worker sends back. */
export type FromWorker =
  | { type: "ready"; info: TokenizerInfo }
  | { type: "failed"; message: string }
  | { type: "done"; id: number; result: JobResult }
  | { type: "error"; id: number; status: number; message: string };

/** What the worker loads its tokenizer from: `loadTokenizer`'s options that a message can carry. */
export interface WorkerLoadOptions {
  /** Official model name, hub repo id or local directory (see loadTokenizer). */
  model?: string;
  /** Encoder checkpoint: a path or URL. */
  encoder?: string;
  /** Decoder checkpoint: a path or URL (needed for /decode). */
  decoder?: string;
  /** "auto" (default), "webgpu" or "wasm". */
  backend?: "auto" | "webgpu" | "wasm";
  /** WebAssembly threads (default: every core). */
  threads?: number;
  /** Frames per independent window of a video tokenizer (see loadTokenizer). */
  window?: number;
}
