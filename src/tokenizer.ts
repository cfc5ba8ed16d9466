/**
 * The public tokenizer: load a checkpoint, encode images or videos to latents or FSQ tokens,
 * decode back.
 * @module
 */

import type { Backend, MemoryStats, Ops, Tensor } from "./backends/ops.ts";
import type { WebGpuOptions } from "./backends/webgpu/backend.ts";
import type { WasmOptions } from "./backends/wasm/backend.ts";
import { type BackendChoice, createBackend } from "./backends/select.ts";
import { fsqConstants } from "./backends/fsq.ts";
import { fsqCodesToIndices, fsqIndicesToCodes } from "./cpu/mod.ts";
import {
  compressionFromMetadata,
  type HalfConfig,
  inferImageDecoder,
  inferImageEncoder,
  inferVideoDecoder,
  inferVideoEncoder,
  isVideoCheckpoint,
  type VideoCompression,
} from "./models/config.ts";
import { ImageDecoder, ImageEncoder } from "./models/image.ts";
import { VideoDecoder, VideoEncoder } from "./models/video.ts";
import type { Probe } from "./models/graph.ts";
import { describeVariant, findVariant } from "./models/variants.ts";
import { readWeightsInput, type WeightsInput } from "./io/source.ts";
import { checkImageInput, checkIndicesInput, checkLatentInput } from "./io/validate.ts";
import {
  checkSameFrameShape,
  checkWindow,
  concatTime,
  DEFAULT_WINDOW,
  sliceTime,
  windowRanges,
} from "./media/windows.ts";
import { readCheckpoint } from "./weights/formats.ts";
import { resolveCheckpoint, type ResolveOptions } from "./hub/hub.ts";
import { terminalProgress } from "./hub/progress.ts";
import { ARCHITECTURE_BUFFERS, type TensorSource, WeightReader } from "./weights/checkpoint.ts";
import { fmtShape, type HostTensor } from "./types.ts";

export type { WeightsInput } from "./io/source.ts";

export interface LoadOptions {
  /**
   * Encoder checkpoint: path, URL or bytes of a safetensors file or a TorchScript archive
   * (encoder.jit, or autoencoder.jit, whose encoder half is used).
   */
  encoder?: WeightsInput;
  /** Decoder checkpoint, likewise (decoder.jit, or autoencoder.jit's decoder half). */
  decoder?: WeightsInput;
  /**
   * Official model name ("Cosmos-0.1-Tokenizer-CI8x8", "nvidia/...", or "CI8x8"). With encoder
   * and/or decoder given it is optional (the variant is inferred from the weights, which must
   * match it when it is given). Alone, it names what to load: an official model, any hub repo id
   * holding encoder/decoder checkpoints ("acme/cosmos-ci8x8-ft"), or a local directory; hub files
   * are found in, or downloaded into, the huggingface_hub cache (see `hub`).
   */
  model?: string;
  /** Hub settings when only `model` is given (endpoint, token, cacheDir, revision, progress). */
  hub?: ResolveOptions;
  /**
   * A video tokenizer's compression, which its weights do not show: taken from `model`, else
   * from the checkpoint's `__metadata__.config`, else from here.
   */
  compression?: VideoCompression;
  /**
   * Frames per independent temporal window of a video tokenizer. Unset, `encode` and `decode`
   * run the whole clip in one causal pass (the reference's `encode`/`decode`) and streams use
   * 17 frames (the reference CLI's window). Set, long clips go through in independent windows
   * of this many frames (1 + k x tc), as the reference CLI does, so memory stays bounded.
   */
  window?: number;
  /**
   * What runs the network. "auto" (the default): WebGPU on a real GPU, else the WebAssembly
   * backend (a CPU rasterizer such as llvmpipe counts as no GPU: WebAssembly is faster on the
   * same cores), else none. "webgpu": any WebGPU adapter, CPU rasterizers included, or fail.
   * "wasm": the WebAssembly backend, or fail. "none": load and check the weights only
   * (encode/decode then reject; token/code conversion works on the CPU).
   */
  backend?: BackendChoice;
  /** WebGPU device options, for tests and benchmarks. */
  webgpu?: WebGpuOptions;
  /** WebAssembly backend options: threads (default: the machine's cores), relaxed SIMD. */
  wasm?: WasmOptions;
  /** Use this backend instead of creating one (shared between tokenizers; not disposed). */
  ops?: Backend;
}

export interface EncodeResult {
  /** Continuous tokenizers: the latent [B, C, h, w] (video: [B, C, t, h, w]). */
  latent?: HostTensor;
  /** Discrete tokenizers: FSQ indices [B, h, w] (video: [B, t, h, w]) in [0, codebookSize). */
  indices?: HostTensor;
  /** Discrete tokenizers: the quantized code values [B, D, ...], each in [-1, 1]. */
  codes?: HostTensor;
}

/** One window of a stream: its tokens and the input frames it covers. */
export interface StreamChunk extends EncodeResult {
  /** Window number, from 0. */
  window: number;
  /** Input frames [start, end) of the whole stream. */
  frames: [number, number];
}

type Encoder = ImageEncoder | VideoEncoder;
type Decoder = ImageDecoder | VideoDecoder;

function checkAllUsed(reader: WeightReader): void {
  const unused = reader.src.names().filter((n) =>
    !reader.used.has(n) && !ARCHITECTURE_BUFFERS.test(n)
  );
  if (unused.length) {
    throw new Error(
      `Cannot load ${reader.half}: "${reader.src.source}" has ${unused.length} tensor(s) this architecture does not use, e.g. "${
        unused[0]
      }"`,
    );
  }
}

async function loadSource(input: WeightsInput, what: string): Promise<TensorSource> {
  const { bytes, source } = await readWeightsInput(input, what);
  // Safetensors, or a TorchScript archive (an autoencoder.jit gives the half asked for).
  return await readCheckpoint(bytes, source, what);
}

/** A loaded tokenizer. Calls may overlap; they run one at a time on the device. */
export class Tokenizer {
  /** Official variant name, or a description of an unofficial one. */
  readonly model: string;
  readonly kind: "image" | "video";
  readonly discrete: boolean;
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
   * What runs the network, e.g. "webgpu (NVIDIA H100 ...)" or "wasm (relaxed SIMD, 2
   * threads)", or "none (why)" for a tokenizer with no backend: then only the parts that need
   * no network work (`indicesToCodes`, `codesToIndices`, on the CPU), and encode/decode say
   * why they cannot.
   */
  readonly backend: string;
  readonly ops: Ops | null;
  #backend: Backend | null;
  #noDevice: string | null;
  #ownsOps: boolean;
  #encoder: Encoder | null;
  #decoder: Decoder | null;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed: Promise<void> | null = null;
  /** Every parameter tensor this tokenizer uploaded, released by dispose(). */
  #weights: Tensor[];

  /** @internal use loadTokenizer */
  constructor(
    backendOps: Backend | null,
    noDevice: string | null,
    ownsOps: boolean,
    encoder: Encoder | null,
    decoder: Decoder | null,
    model: string,
    weights: Tensor[],
    window: number | null,
  ) {
    this.#weights = weights;
    this.#backend = backendOps;
    this.#noDevice = noDevice;
    this.ops = backendOps;
    this.#ownsOps = ownsOps;
    this.#encoder = encoder;
    this.#decoder = decoder;
    const cfg: HalfConfig = (encoder?.config ?? decoder?.config)!;
    this.model = model;
    this.kind = cfg.kind;
    this.fsqLevels = cfg.fsqLevels;
    this.discrete = cfg.fsqLevels !== null;
    this.spatialCompression = cfg.spatialCompression;
    this.temporalCompression = cfg.kind === "video" ? cfg.temporalCompression : 1;
    this.window = cfg.kind === "video" ? window : 1;
    this.latentChannels = cfg.latentChannels;
    this.backend = backendOps ? backendOps.label : `none (${noDevice})`;
  }

  /** Frames of a stream's windows: the window option, else the reference CLI's 17. */
  get streamWindow(): number {
    return this.window ?? DEFAULT_WINDOW;
  }

  /** Latent frames of one window, or null for whole clips. */
  get latentWindow(): number | null {
    return this.window === null ? null : 1 + (this.window - 1) / this.temporalCompression;
  }

  /**
   * Memory of the backend's tensor storage in bytes (GPU buffers, or WebAssembly heap): in use
   * now, allocated, and the peaks (shared with other tokenizers when the backend was passed in).
   */
  memoryStats(): MemoryStats {
    return this.#backend?.memoryStats() ??
      { inUse: 0, allocated: 0, peakInUse: 0, peakAllocated: 0, created: 0 };
  }

  /** The backend, or the reason there is none, for encode/decode. */
  #device(what: string): Backend {
    if (this.#backend) return this.#backend;
    throw new Error(
      `Cannot ${what}: this tokenizer has no backend (${this.#noDevice}); indicesToCodes and codesToIndices work without one`,
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
  indicesToCodes(indices: HostTensor): Promise<HostTensor> {
    try {
      const levels = this.#checkDiscrete("indicesToCodes");
      return fsqIndicesToCodes(indices, levels);
    } catch (err) {
      return Promise.reject(err);
    }
  }

  /** Code values ([B, 6, ...]) to FSQ indices, on the CPU (WebAssembly): needs no device. */
  codesToIndices(codes: HostTensor): Promise<HostTensor> {
    try {
      const levels = this.#checkDiscrete("codesToIndices");
      return fsqCodesToIndices(codes, levels);
    } catch (err) {
      return Promise.reject(err);
    }
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
  async #encodeWindow(encoder: Encoder, input: HostTensor, probe?: Probe): Promise<EncodeResult> {
    const ops = this.#device("encode");
    const x = ops.upload(input);
    let z: Tensor | null = null;
    try {
      z = await encoder.forward(ops, x, probe);
      if (!this.fsqLevels) return { latent: await ops.read(z) };
      const q = ops.fsqQuantize(z, { levels: this.fsqLevels });
      try {
        return { indices: await ops.read(q.indices), codes: await ops.read(q.codes) };
      } finally {
        ops.release(q.indices);
        ops.release(q.codes);
      }
    } finally {
      ops.release(x);
      if (z) ops.release(z);
    }
  }

  /** One window of tokens through the decoder. Runs inside #serial. */
  async #decodeWindow(decoder: Decoder, input: HostTensor, probe?: Probe): Promise<HostTensor> {
    const ops = this.#device("decode");
    const uploaded = ops.upload(input);
    let z = uploaded;
    let y: Tensor | null = null;
    try {
      if (this.fsqLevels) z = ops.fsqDequantize(uploaded, { levels: this.fsqLevels });
      y = await decoder.forward(ops, z, probe);
      return await ops.read(y);
    } finally {
      ops.release(uploaded);
      if (z !== uploaded) ops.release(z);
      if (y) ops.release(y);
    }
  }

  /** Encodes one window as a whole clip (streams). */
  #encodeOne(input: HostTensor): Promise<EncodeResult> {
    if (this.#disposed) return Promise.reject(new Error("Tokenizer was disposed"));
    const encoder = this.#encoder;
    if (!encoder) return Promise.reject(new Error("Cannot encode: no encoder was loaded"));
    try {
      checkImageInput(input, this.spatialCompression, true);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#serial(() => this.#encodeWindow(encoder, input));
  }

  /**
   * Encodes [B, 3, H, W] images, or [B, 3, T, H, W] videos, with values in [-1, 1]. A video of
   * 1 + k x tc frames goes through in one causal pass, or, with the `window` option, in
   * independent windows of that many frames (the last one possibly shorter but also
   * 1 + k x tc frames; any other frame count is an error), their tokens joined along time.
   * @param probe receives intermediate tensors by reference module name (for tests).
   */
  encode(input: HostTensor, probe?: Probe): Promise<EncodeResult> {
    if (this.#disposed) return Promise.reject(new Error("Tokenizer was disposed"));
    const encoder = this.#encoder;
    if (!encoder) return Promise.reject(new Error("Cannot encode: no encoder was loaded"));
    let ranges: [number, number][];
    try {
      ranges = this.#checkPixels(input);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#serial(async () => {
      if (!this.#video()) return await this.#encodeWindow(encoder, input, probe);
      const parts: EncodeResult[] = [];
      for (const [t0, t1] of ranges) {
        const window = ranges.length === 1 ? input : sliceTime(input, t0, t1);
        parts.push(await this.#encodeWindow(encoder, window, probe));
      }
      return joinResults(parts);
    });
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
   * [B, t, h, w] (discrete) to pixels. With the `window` option, video tokens are decoded in
   * windows of `latentWindow` latent frames, matching how they were encoded.
   */
  decode(input: HostTensor, probe?: Probe): Promise<HostTensor> {
    if (this.#disposed) return Promise.reject(new Error("Tokenizer was disposed"));
    const decoder = this.#decoder;
    if (!decoder) return Promise.reject(new Error("Cannot decode: no decoder was loaded"));
    try {
      this.#checkTokens(input);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#serial(async () => {
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
   * Encodes a video that arrives in pieces ([B, 3, H, W] frames or [B, 3, t, H, W] clips),
   * yielding each window's tokens as soon as its frames are in. GPU memory stays that of one
   * window whatever the stream's length. The last window may be shorter but must hold
   * 1 + k x tc frames.
   */
  async *encodeStream(
    frames: AsyncIterable<HostTensor> | Iterable<HostTensor>,
  ): AsyncGenerator<StreamChunk> {
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
    for await (const piece of frames) {
      const clip = piece.shape.length === 4
        ? { data: piece.data, shape: [piece.shape[0], piece.shape[1], 1, ...piece.shape.slice(2)] }
        : piece;
      if (clip.shape.length !== 5) {
        throw new Error(
          `Cannot stream: expected frames [B, 3, H, W] or clips [B, 3, t, H, W], got ${
            fmtShape(piece.shape)
          }`,
        );
      }
      if (pending) checkSameFrameShape(pending, clip);
      pending = pending ? concatTime([pending, clip]) : clip;
      while (pending && pending.shape[2] >= this.streamWindow) {
        yield await flush(this.streamWindow);
      }
    }
    if (pending) yield await flush((pending as HostTensor).shape[2]);
  }

  /** Decodes a stream of token windows (as `encodeStream` yields them), one window at a time. */
  async *decodeStream(
    tokens: AsyncIterable<HostTensor | EncodeResult> | Iterable<HostTensor | EncodeResult>,
  ): AsyncGenerator<HostTensor> {
    for await (const item of tokens) {
      const t = "data" in item ? item : (item.latent ?? item.indices);
      if (!t) throw new Error("Cannot decode: a stream item has neither latent nor indices");
      yield await this.decode(t as HostTensor);
    }
  }

  /**
   * Frees the weights, and the device when the tokenizer created it. Calls already made finish
   * first; calls made afterwards reject.
   */
  dispose(): Promise<void> {
    this.#disposed ??= this.#queue.then(() => {
      this.#encoder = null;
      this.#decoder = null;
      for (const w of this.#weights) this.#backend?.release(w);
      this.#weights = [];
      if (this.#ownsOps) this.#backend?.destroy();
    });
    return this.#disposed;
  }
}

/** Joins per-window results along time. */
function joinResults(parts: EncodeResult[]): EncodeResult {
  if (parts.length === 1) return parts[0];
  const out: EncodeResult = {};
  if (parts[0].latent) out.latent = concatTime(parts.map((p) => p.latent!));
  if (parts[0].indices) out.indices = concatTime(parts.map((p) => p.indices!), 1);
  if (parts[0].codes) out.codes = concatTime(parts.map((p) => p.codes!));
  return out;
}

function checkAgainstModel(name: string | undefined, cfg: HalfConfig, source: string): void {
  if (!name) return;
  const spec = findVariant(name);
  const discrete = cfg.fsqLevels !== null;
  const temporal = cfg.kind === "video" ? cfg.temporalCompression : 1;
  if (
    spec.kind !== cfg.kind || spec.discrete !== discrete ||
    spec.spatialCompression !== cfg.spatialCompression || spec.temporalCompression !== temporal
  ) {
    throw new Error(
      `Cannot load ${cfg.half}: "${source}" holds a ${
        describeVariant(cfg.kind, discrete, cfg.spatialCompression, temporal)
      } ${cfg.half}, not ${spec.name}`,
    );
  }
}

/** Where a video tokenizer's compression comes from: the model name, metadata, or the caller. */
function videoCompression(
  options: LoadOptions,
  sources: TensorSource[],
): VideoCompression {
  if (options.model) {
    const spec = findVariant(options.model);
    if (spec.kind === "video") {
      return { spatial: spec.spatialCompression, temporal: spec.temporalCompression };
    }
  }
  for (const src of sources) {
    const c = compressionFromMetadata(src);
    if (c) return c;
  }
  if (options.compression) return options.compression;
  throw new Error(
    `Cannot load video tokenizer "${
      sources[0].source
    }": its weights do not say its compression; pass model (e.g. "Cosmos-0.1-Tokenizer-CV8x8x8") or compression: { spatial, temporal }`,
  );
}

/**
 * Loads a Cosmos tokenizer (image or video, continuous or discrete) from safetensors
 * checkpoints.
 *
 * @example
 * ```ts
 * const tok = await loadTokenizer({ encoder: "enc.safetensors", decoder: "dec.safetensors" });
 * const { latent } = await tok.encode({ data: pixels, shape: [1, 3, 256, 256] });
 * const image = await tok.decode(latent!);
 * await tok.dispose();
 * ```
 */
export async function loadTokenizer(options: LoadOptions): Promise<Tokenizer> {
  if (options?.model && options.encoder === undefined && options.decoder === undefined) {
    const files = await resolveCheckpoint(options.model, {
      ...options.hub,
      onProgress: options.hub?.onProgress ?? terminalProgress(),
    });
    let official: string | undefined;
    try {
      official = findVariant(options.model).name;
    } catch {
      // A fine-tuned repo or a directory: the variant is inferred from the weights.
    }
    options = { ...options, encoder: files.encoder, decoder: files.decoder, model: official };
  }
  if (!options || (options.encoder === undefined && options.decoder === undefined)) {
    throw new Error("Cannot load tokenizer: give an encoder, a decoder, or both");
  }
  if (options.model) findVariant(options.model); // unknown names fail before any download
  const [encSrc, decSrc] = await Promise.all([
    options.encoder === undefined ? null : loadSource(options.encoder, "encoder"),
    options.decoder === undefined ? null : loadSource(options.decoder, "decoder"),
  ]);
  const sources = [encSrc, decSrc].filter((s): s is TensorSource => s !== null);
  const video = sources.some(isVideoCheckpoint);
  const comp = video ? videoCompression(options, sources) : null;
  const encCfg = encSrc
    ? (comp ? inferVideoEncoder(encSrc, comp) : inferImageEncoder(encSrc))
    : null;
  const decCfg = decSrc
    ? (comp ? inferVideoDecoder(decSrc, comp) : inferImageDecoder(decSrc))
    : null;
  if (encCfg) checkAgainstModel(options.model, encCfg, encSrc!.source);
  if (decCfg) checkAgainstModel(options.model, decCfg, decSrc!.source);
  if (encCfg && decCfg) {
    if (
      encCfg.latentChannels !== decCfg.latentChannels ||
      encCfg.spatialCompression !== decCfg.spatialCompression
    ) {
      throw new Error(
        `Cannot load tokenizer: encoder "${
          encSrc!.source
        }" (${encCfg.latentChannels} latent channels, ${encCfg.spatialCompression}x) and decoder "${
          decSrc!.source
        }" (${decCfg.latentChannels} latent channels, ${decCfg.spatialCompression}x) do not belong together`,
      );
    }
  }
  const window = options.window ?? null;
  if (comp && window !== null) checkWindow(window, comp.temporal);
  const ownsOps = !options.ops;
  let backendOps: Backend | null = options.ops ?? null;
  let noDevice: string | null = null;
  if (!backendOps) {
    const chosen = await createBackend(options.backend ?? "auto", options);
    backendOps = chosen.ops;
    noDevice = chosen.reason;
  }
  const weights: Tensor[] = [];
  const uploader = {
    upload(t: HostTensor): Tensor {
      // Without a device the weights are still checked (names, shapes), just not uploaded.
      if (!backendOps) {
        return { shape: t.shape, dtype: t.data instanceof Int32Array ? "i32" : "f32" };
      }
      const tensor = backendOps.upload(t);
      weights.push(tensor);
      return tensor;
    },
  };
  try {
    let encoder: Encoder | null = null, decoder: Decoder | null = null;
    if (encCfg) {
      const reader = new WeightReader(encSrc!, "encoder");
      encoder = encCfg.kind === "video"
        ? new VideoEncoder(uploader, reader, encCfg)
        : new ImageEncoder(uploader, reader, encCfg);
      checkAllUsed(reader);
    }
    if (decCfg) {
      const reader = new WeightReader(decSrc!, "decoder");
      decoder = decCfg.kind === "video"
        ? new VideoDecoder(uploader, reader, decCfg)
        : new ImageDecoder(uploader, reader, decCfg);
      checkAllUsed(reader);
    }
    const cfg = (encCfg ?? decCfg)!;
    const model = options.model ? findVariant(options.model).name : describeVariant(
      cfg.kind,
      cfg.fsqLevels !== null,
      cfg.spatialCompression,
      cfg.kind === "video" ? cfg.temporalCompression : 1,
    );
    // Weight uploads are queued; make sure they (and any error) have landed.
    await backendOps?.flush();
    return new Tokenizer(backendOps, noDevice, ownsOps, encoder, decoder, model, weights, window);
  } catch (err) {
    if (ownsOps) backendOps?.destroy();
    else for (const w of weights) backendOps?.release(w);
    throw err;
  }
}
