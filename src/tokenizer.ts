/**
 * The runtime tokenizer: encode images or videos to latents or FSQ tokens and decode back, one
 * call at a time on its backend. `loadTokenizer` (load.ts) builds it from checkpoints.
 * @module
 */

import { type Backend, type MemoryStats, noMemory, type Ops, type Tensor } from "./backends/ops.ts";
import { decodePass, encodePass } from "./halves.ts";
import type { Selected } from "./backends/select.ts";
import { fsqConstants } from "./backends/fsq.ts";
import { fsqCodesToIndices, fsqIndicesToCodes } from "./backends/wasm/standalone.ts";
import type { HalfConfig } from "./models/config.ts";
import type { ImageDecoder, ImageEncoder } from "./models/image.ts";
import type { VideoDecoder, VideoEncoder } from "./models/video.ts";
import type { WanConfig, WanNetwork } from "./models/wan/network.ts";
import type { Probe } from "./models/graph.ts";
import { checkData, checkImageInput, checkIndicesInput, checkLatentInput } from "./inputs.ts";
import {
  checkSameFrameShape,
  concatTime,
  DEFAULT_WINDOW,
  sliceTime,
  windowRanges,
} from "./media/windows.ts";
import type { HostTensor } from "./types.ts";
import {
  asClip,
  checkIterable,
  decodeFrames,
  encodeFrames,
  type FrameTokens,
  type StreamHost,
  type StreamingNetwork as Video,
  tokenTensor,
} from "./video_stream.ts";

export type { FrameTokens } from "./video_stream.ts";
export type { EncodeResult, StreamChunk, StreamOptions } from "./token_results.ts";
import {
  checkPerStep,
  type EncodeResult,
  joinResults,
  type StreamChunk,
  type StreamOptions,
} from "./token_results.ts";

/** An image or video encoder built over a backend (Cosmos', or the Wan VAE's). */
export type Encoder = ImageEncoder | VideoEncoder | WanNetwork;
/** An image or video decoder built over a backend (Cosmos', or the Wan VAE's). */
export type Decoder = ImageDecoder | VideoDecoder | WanNetwork;

/** @internal What `loadTokenizer` builds a Tokenizer from. */
export interface TokenizerParts {
  /** The backend that runs the network, or the reason there is none. */
  selected: Selected;
  /** Whether dispose() destroys the backend: false for one the caller shares. */
  ownsBackend: boolean;
  encoder: Encoder | null;
  decoder: Decoder | null;
  /** The name the tokenizer reports: the official variant, or a description of the weights. */
  model: string;
  /** Every parameter tensor uploaded to the backend, released by dispose(). */
  weights: Tensor[];
  /** Frames per independent window of a video tokenizer, or null for whole clips. */
  window: number | null;
}

/**
 * A loaded tokenizer (made by `loadTokenizer`). Calls may overlap; they run one at a time on
 * the device.
 *
 * @example Tokenize a video as its frames arrive
 * ```ts ignore
 * import { loadTokenizer } from "@cosmos/webgpu";
 * const tok = await loadTokenizer({ model: "Cosmos-0.1-Tokenizer-DV8x8x8" });
 * async function* frames() {
 *   for (let t = 0; t < 17; t++) yield { data: new Float32Array(3 * 64 * 64), shape: [1, 3, 64, 64] };
 * }
 * for await (const chunk of tok.encodeStream(frames())) console.log(chunk.frames, chunk.indices!.shape);
 * await tok.dispose();
 * ```
 */
export class Tokenizer {
  /** Official variant name, or a description of an unofficial one. */
  readonly model: string;
  /** Whether it tokenizes images or videos. */
  readonly kind: "image" | "video";
  /** "wan" for the Wan VAE (a video model that takes images as one-frame clips), else "cosmos". */
  readonly family: "cosmos" | "wan";
  /** Whether its tokens are FSQ indices (discrete) rather than a latent (continuous). */
  readonly discrete: boolean;
  /** Pixels per latent position along height and width. */
  readonly spatialCompression: number;
  /** 1 for images. */
  readonly temporalCompression: number;
  /** Frames per independent window (videos), or null for whole clips; 1 for images. */
  readonly window: number | null;
  /** Latent channels (continuous) or FSQ dimension (discrete). */
  readonly latentChannels: number;
  /** FSQ levels of a discrete tokenizer. */
  readonly fsqLevels: number[] | null;
  /**
   * The label of what runs the network, e.g. "webgpu (NVIDIA H100 ...)" or "wasm (relaxed
   * SIMD, 2 threads)", or "none (why)" for a tokenizer with no backend: then only the parts that
   * need no network work (`indicesToCodes`, `codesToIndices`, on the CPU), and encode/decode
   * say why they cannot.
   */
  readonly backend: string;
  /** What weights and activations are stored as: "f16" if loaded so (WebGPU), else "f32". */
  readonly precision: "f32" | "f16";
  #selected: Selected;
  #ownsBackend: boolean;
  #encoder: Encoder | null;
  #decoder: Decoder | null;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed: Promise<void> | null = null;
  /** Every parameter tensor this tokenizer uploaded, released by dispose(). */
  #weights: Tensor[];

  /** @internal use loadTokenizer */
  constructor(parts: TokenizerParts) {
    this.#selected = parts.selected;
    this.#ownsBackend = parts.ownsBackend;
    this.#encoder = parts.encoder;
    this.#decoder = parts.decoder;
    this.#weights = parts.weights;
    const cfg: HalfConfig | WanConfig = (parts.encoder?.config ?? parts.decoder?.config)!;
    this.model = parts.model;
    this.kind = cfg.kind;
    this.family = "family" in cfg ? cfg.family : "cosmos";
    this.fsqLevels = cfg.fsqLevels;
    this.discrete = cfg.fsqLevels !== null;
    this.spatialCompression = cfg.spatialCompression;
    this.temporalCompression = cfg.kind === "video" ? cfg.temporalCompression : 1;
    this.window = cfg.kind === "video" ? parts.window : 1;
    this.latentChannels = cfg.latentChannels;
    const selected = parts.selected;
    this.backend = selected.kind === "backend"
      ? selected.backend.label
      : `none (${selected.reason})`;
    this.precision = selected.kind === "backend" ? selected.backend.precision ?? "f32" : "f32";
  }

  /**
   * Frames of a windowed stream's windows: the window option, else the reference CLI's 17
   * (what the CLI and the server cut windows of; a tokenizer without the option streams whole
   * clips exactly).
   */
  get streamWindow(): number {
    return this.window ?? DEFAULT_WINDOW;
  }

  /** Latent frames of one window, or null for whole clips. */
  get latentWindow(): number | null {
    return this.window === null ? null : 1 + (this.window - 1) / this.temporalCompression;
  }

  /**
   * Memory of the backend's tensor storage in bytes (GPU buffers, or WebAssembly heap): in use
   * now, allocated, parked stream state, and the peaks (shared with other tokenizers when the
   * backend was passed in); all 0 without a backend.
   */
  memoryStats(): MemoryStats {
    const selected = this.#selected;
    return selected.kind === "backend" ? selected.backend.memoryStats() : noMemory();
  }

  /** The backend, or the reason there is none, for encode/decode. */
  #device(what: string): Backend {
    const selected = this.#selected;
    if (selected.kind === "backend") return selected.backend;
    throw new Error(
      `Cannot ${what}: this tokenizer has no backend (${selected.reason}); indicesToCodes and codesToIndices work without one`,
    );
  }

  #checkDiscrete(what: string): number[] {
    if (!this.fsqLevels) {
      throw new Error(`Cannot ${what}: ${this.model} is a continuous tokenizer, it has no codes`);
    }
    return this.fsqLevels;
  }

  /**
   * FSQ indices ([B, h, w] or [B, t, h, w]) to the code values the decoder starts from
   * ([B, 6, ...]), on the CPU (WebAssembly): needs no device.
   */
  async indicesToCodes(indices: HostTensor): Promise<HostTensor> {
    checkData(indices, "convert indices to codes");
    return await fsqIndicesToCodes(indices, this.#checkDiscrete("indicesToCodes"));
  }

  /** Code values ([B, 6, ...]) to FSQ indices, on the CPU (WebAssembly): needs no device. */
  async codesToIndices(codes: HostTensor): Promise<HostTensor> {
    checkData(codes, "convert codes to indices");
    return await fsqCodesToIndices(codes, this.#checkDiscrete("codesToIndices"));
  }

  /** Runs calls one after another so concurrent callers never interleave on the device. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#disposed) return Promise.reject(new Error("Tokenizer was disposed"));
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  #video(): boolean {
    return this.kind === "video";
  }

  /** Checks pixels and returns the window ranges (one for images) before any GPU work. */
  #checkPixels(input: HostTensor): [number, number][] {
    checkImageInput(input, this.spatialCompression, this.#video());
    if (!this.#video()) return [[0, 1]];
    const t = input.shape[2];
    return windowRanges(t, this.window ?? t, this.temporalCompression);
  }

  /** One window (or image batch) through the encoder. Runs inside #serial. */
  #encodeWindow(encoder: Encoder, input: HostTensor, probe?: Probe): Promise<EncodeResult> {
    const run = (ops: Ops, x: Tensor) => encoder.forward(ops, x, probe);
    return encodePass({ ops: this.#device("encode") }, run, input, this.fsqLevels);
  }

  /** One window of tokens through the decoder. Runs inside #serial. */
  #decodeWindow(decoder: Decoder, input: HostTensor, probe?: Probe): Promise<HostTensor> {
    const run = (ops: Ops, z: Tensor) => decoder.forward(ops, z, probe);
    return decodePass({ ops: this.#device("decode") }, run, input, this.fsqLevels);
  }

  /**
   * The half a call needs. Calls check it, and their input, before queuing anything: a rejected
   * call leaves the device untouched.
   */
  #half<T>(half: T | null, what: "encode" | "decode", name: "encoder" | "decoder"): T {
    if (this.#disposed) throw new Error("Tokenizer was disposed");
    if (!half) throw new Error(`Cannot ${what}: no ${name} was loaded`);
    return half;
  }

  /**
   * Encodes [B, 3, H, W] images, or [B, 3, T, H, W] videos, with values in [-1, 1]. A video of
   * 1 + k x tc frames gives the whole clip's causal result: in one pass when it is small (up to
   * 32 frames of 256 x 256), else through the streaming engine in steps of about 16 such frames
   * (the same result, in the memory of one step plus the carried state). With the `window`
   * option it goes through independent windows of that many frames instead (the last one
   * possibly shorter but also 1 + k x tc frames; any other frame count is an error), their
   * tokens joined along time.
   * @param probe receives intermediate tensors by reference module name (for tests); with a
   * probe the clip always runs in one pass.
   */
  async encode(input: HostTensor, probe?: Probe): Promise<EncodeResult> {
    const encoder = this.#half(this.#encoder, "encode", "encoder");
    const ranges = this.#checkPixels(input);
    const [h, w] = input.shape.slice(-2);
    const perStep = this.#stepsOf(h * w, input.shape[2], probe);
    if (perStep) {
      const frames = [];
      const stream = encodeFrames(this.#streamHost(), encoder as Video, [input], perStep);
      for await (const { frames: _, ...tokens } of stream) frames.push(tokens);
      return joinResults(frames);
    }
    return await this.#serial(async () => {
      if (!this.#video()) return await this.#encodeWindow(encoder, input, probe);
      const parts: EncodeResult[] = [];
      for (const [t0, t1] of ranges) {
        const window = ranges.length === 1 ? input : sliceTime(input, t0, t1);
        parts.push(await this.#encodeWindow(encoder, window, probe));
      }
      return joinResults(parts);
    });
  }

  /**
   * Latent frames per step when a whole video clip of `frames` frames of `pixels` pixels runs
   * through the streaming engine, or 0 when it runs in one pass:
   * clips up to twice STEP_PIXEL_FRAMES, or of one step's latent frames, run whole; larger ones
   * step by step, as many latent frames a step as fit that budget (the results are the same; see
   * encodeFrames). Probes (tests) and windowed tokenizers always take one pass per window.
   */
  #stepsOf(pixels: number, frames: number, probe?: Probe): number {
    if (!this.#video() || this.window !== null || probe) return 0;
    // A step copies its input into each causal layer's window, so stepping pays off only when
    // the clip holds at least two steps' worth.
    if (frames * pixels <= 2 * STEP_PIXEL_FRAMES) return 0;
    const perStep = Math.max(
      1,
      Math.floor(STEP_PIXEL_FRAMES / (this.temporalCompression * pixels)),
    );
    // A clip of one step runs whole: the step would compute the same and also park every causal
    // layer's carried frames for a next step that never comes (for one 4K frame, gigabytes).
    return 1 + (frames - 1) / this.temporalCompression <= perStep ? 0 : perStep;
  }

  #checkTokens(input: HostTensor): void {
    if (this.fsqLevels) {
      checkIndicesInput(input, fsqConstants(this.fsqLevels).codebookSize, this.#video());
    } else {
      checkLatentInput(input, this.latentChannels, this.#video());
    }
  }

  /**
   * Decodes a latent [B, C, h, w] / [B, C, t, h, w] (continuous) or FSQ indices [B, h, w] /
   * [B, t, h, w] (discrete) to pixels. Video tokens decode as one whole clip (large ones step by
   * step, as `encode` does); with the `window` option, in windows of `latentWindow` latent
   * frames, matching how they were encoded.
   */
  async decode(input: HostTensor, probe?: Probe): Promise<HostTensor> {
    const decoder = this.#half(this.#decoder, "decode", "decoder");
    this.#checkTokens(input);
    const [h, w] = input.shape.slice(-2);
    const frames = 1 + (input.shape[this.fsqLevels ? 1 : 2] - 1) * this.temporalCompression;
    const perStep = this.#stepsOf(h * w * this.spatialCompression ** 2, frames, probe);
    if (perStep) {
      const parts = [];
      const stream = decodeFrames(this.#streamHost(), decoder as Video, [input], perStep);
      for await (const f of stream) parts.push(f);
      return concatTime(parts);
    }
    return await this.#serial(async () => {
      if (!this.#video()) return await this.#decodeWindow(decoder, input, probe);
      const axis = this.fsqLevels ? 1 : 2;
      const t = input.shape[axis];
      const step = this.latentWindow ?? t;
      const parts: HostTensor[] = [];
      for (let t0 = 0; t0 < t; t0 += step) {
        const t1 = Math.min(t, t0 + step);
        const window = t0 === 0 && t1 === t ? input : sliceTime(input, t0, t1, axis);
        parts.push(await this.#decodeWindow(decoder, window, probe));
      }
      return concatTime(parts);
    });
  }

  /**
   * Encodes a video that arrives in pieces ([B, 3, H, W] frames or [B, 3, t, H, W] clips).
   * Without the `window` option this is `encodeFrames`: every latent frame, exactly as in one
   * whole-clip pass, as soon as its frames are in (`window` counts the chunks). With it, the
   * reference CLI's independent windows: each window's tokens once its frames are in, memory
   * that of one window; the last window may be shorter but must hold 1 + k x tc frames.
   */
  async *encodeStream(
    frames: AsyncIterable<HostTensor> | Iterable<HostTensor>,
  ): AsyncGenerator<StreamChunk> {
    if (this.window === null && this.#video()) {
      let index = 0;
      for await (const f of this.encodeFrames(frames)) yield { ...f, window: index++ };
      return;
    }
    if (!this.#video()) throw new Error("Cannot stream: this is an image tokenizer");
    let pending: HostTensor | null = null;
    let start = 0, index = 0;
    const flush = async (count: number): Promise<StreamChunk> => {
      const window: HostTensor = count === pending!.shape[2]
        ? pending!
        : sliceTime(pending!, 0, count);
      const rest = pending!.shape[2] - count;
      const result = await this.encode(window);
      pending = rest > 0 ? sliceTime(pending!, count, count + rest) : null;
      const chunk = {
        ...result,
        window: index++,
        frames: [start, start + count] as [number, number],
      };
      start += count;
      return chunk;
    };
    checkIterable(frames, "encode");
    for await (const piece of frames) {
      // Each piece is checked as it comes: a bad one fails here, not inside concatTime.
      const clip = asClip(piece);
      checkImageInput(clip, this.spatialCompression, true);
      if (pending) checkSameFrameShape(pending, clip);
      pending = pending ? concatTime([pending, clip]) : clip;
      while (pending && pending.shape[2] >= this.streamWindow) {
        yield await flush(this.streamWindow);
      }
    }
    if (pending) yield await flush((pending as HostTensor).shape[2]);
  }

  /**
   * Encodes a video that arrives in pieces of any size ([B, 3, H, W] frames or [B, 3, t, H, W]
   * clips) exactly as one whole clip, yielding every latent frame as soon as its input frames
   * are in: frame 0 gives latent frame 0, every later tc frames the next one. Each causal layer
   * carries what later frames read of earlier ones, so the latent frames equal `encode` of the
   * whole clip (no window seams) and memory does not grow with the clip, except for the
   * temporal attention's keys and values (one latent frame's worth per step). The stream must
   * end on a latent frame (1 + k x tc frames in all). The `window` option does not apply.
   */
  async *encodeFrames(
    pieces: AsyncIterable<HostTensor> | Iterable<HostTensor>,
    options: StreamOptions = {},
  ): AsyncGenerator<FrameTokens> {
    const encoder = this.#half(this.#encoder, "encode", "encoder");
    if (!this.#video()) throw new Error("Cannot stream: this is an image tokenizer");
    const perStep = checkPerStep(options);
    yield* encodeFrames(this.#streamHost(), encoder as Video, pieces, perStep);
  }

  /**
   * Decodes tokens that arrive in pieces (latents [B, C, t, h, w] or indices [B, t, h, w], any
   * t, or `encodeFrames`' items) one latent frame at a time, exactly as one whole latent:
   * latent frame 0 gives pixel frame 0, every later one tc frames, each yielded as soon as it
   * is final.
   */
  async *decodeFrames(
    pieces: AsyncIterable<HostTensor | EncodeResult> | Iterable<HostTensor | EncodeResult>,
    options: StreamOptions = {},
  ): AsyncGenerator<HostTensor> {
    const decoder = this.#half(this.#decoder, "decode", "decoder");
    if (!this.#video()) throw new Error("Cannot stream: this is an image tokenizer");
    const perStep = checkPerStep(options);
    checkIterable(pieces, "decode");
    const reuse = options.reuseOutput === true;
    async function* tokensOf(items: typeof pieces): AsyncGenerator<HostTensor> {
      for await (const item of items) yield tokenTensor(item);
    }
    yield* decodeFrames(this.#streamHost(), decoder as Video, tokensOf(pieces), perStep, reuse);
  }

  /** What the streaming engine needs of this tokenizer. */
  #streamHost(): StreamHost {
    return {
      serial: (fn) => this.#serial(fn),
      device: (what) => this.#device(what),
      fsqLevels: this.fsqLevels,
      temporalCompression: this.temporalCompression,
      checkPixels: (piece) => checkImageInput(piece, this.spatialCompression, true),
      checkTokens: (piece) => this.#checkTokens(piece),
    };
  }

  /**
   * Decodes a stream of tokens as `encodeStream` yields them. Without the `window` option this
   * is `decodeFrames` (one latent frame at a time, exactly as the whole latent); with it, each
   * item is an independent window.
   */
  async *decodeStream(
    tokens: AsyncIterable<HostTensor | EncodeResult> | Iterable<HostTensor | EncodeResult>,
  ): AsyncGenerator<HostTensor> {
    if (this.window === null && this.#video()) {
      yield* this.decodeFrames(tokens);
      return;
    }
    checkIterable(tokens, "decode");
    for await (const item of tokens) yield await this.decode(tokenTensor(item));
  }

  /**
   * Frees the weights, and the device when the tokenizer created it. Calls already made finish
   * first; calls made afterwards reject.
   */
  dispose(): Promise<void> {
    this.#disposed ??= this.#queue.then(() => {
      this.#encoder = null;
      this.#decoder = null;
      const selected = this.#selected;
      if (selected.kind === "backend") {
        for (const w of this.#weights) selected.backend.release(w);
        if (this.#ownsBackend) selected.backend.destroy();
      }
      this.#weights = [];
    });
    return this.#disposed;
  }
}

/**
 * Input pixels x frames a whole-clip encode or decode holds in one step (16 frames of 256 x 256):
 * clips up to twice this run in one pass, larger ones in steps of the streaming engine, so that
 * memory stays that of about this many pixel frames (plus the carried state) whatever the clip.
 */
const STEP_PIXEL_FRAMES = 16 * 256 * 256;
