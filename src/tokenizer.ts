/**
 * The public tokenizer: load a checkpoint, encode images to latents or FSQ tokens, decode back.
 * @module
 */

import type { Ops, Tensor } from "./backends/ops.ts";
import { WebGpuOps, type WebGpuOptions } from "./backends/webgpu/backend.ts";
import { fsqConstants } from "./nn/fsq.ts";
import {
  type ImageDecoderConfig,
  type ImageEncoderConfig,
  inferImageDecoder,
  inferImageEncoder,
} from "./models/config.ts";
import { ImageDecoder, ImageEncoder, type Probe } from "./models/image.ts";
import { describeVariant, findVariant } from "./models/variants.ts";
import { readWeightsInput, type WeightsInput } from "./io/source.ts";
import { checkImageInput, checkIndicesInput, checkLatentInput } from "./io/validate.ts";
import { parseSafetensors } from "./weights/safetensors.ts";
import { safetensorsSource, type TensorSource, WeightReader } from "./weights/checkpoint.ts";
import type { HostTensor } from "./types.ts";
import type { PoolStats } from "./backends/webgpu/pool.ts";

export type { WeightsInput } from "./io/source.ts";

export interface LoadOptions {
  /** Encoder checkpoint (safetensors): path, URL or bytes. */
  encoder?: WeightsInput;
  /** Decoder checkpoint (safetensors): path, URL or bytes. */
  decoder?: WeightsInput;
  /**
   * Official model name ("Cosmos-0.1-Tokenizer-CI8x8", "nvidia/...", or "CI8x8"). Optional:
   * the variant is inferred from the weights; when given, the weights must match it.
   */
  model?: string;
  /** WebGPU device options, for tests and benchmarks. */
  webgpu?: WebGpuOptions;
  /** Use this backend instead of creating one (shared between tokenizers; not disposed). */
  ops?: WebGpuOps;
}

export interface EncodeResult {
  /** Continuous tokenizers: the latent [B, C, h, w]. */
  latent?: HostTensor;
  /** Discrete tokenizers: FSQ indices [B, h, w] in [0, codebookSize). */
  indices?: HostTensor;
  /** Discrete tokenizers: the quantized code values [B, D, h, w], each in [-1, 1]. */
  codes?: HostTensor;
}

/** Non-parameter buffers an official state_dict may carry, which the model does not need. */
const IGNORED_BUFFERS =
  /(^|\.)(wavelets|_arange|patch_size_buffer|_levels|_basis|implicit_codebook)$/;

function checkAllUsed(reader: WeightReader): void {
  const unused = reader.src.names().filter((n) => !reader.used.has(n) && !IGNORED_BUFFERS.test(n));
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
  return safetensorsSource(parseSafetensors(bytes, source));
}

/** A loaded tokenizer. Calls may overlap; they run one at a time on the device. */
export class Tokenizer {
  /** Official variant name, or a description of an unofficial one. */
  readonly model: string;
  readonly kind: "image";
  readonly discrete: boolean;
  readonly spatialCompression: number;
  /** Latent channels (continuous) or FSQ dimension (discrete). */
  readonly latentChannels: number;
  /** FSQ levels of a discrete tokenizer. */
  readonly fsqLevels: number[] | null;
  /** Name of the backend and adapter, e.g. "webgpu (llvmpipe ...)". */
  readonly backend: string;
  readonly ops: Ops;
  #gpu: WebGpuOps;
  #ownsOps: boolean;
  #encoder: ImageEncoder | null;
  #decoder: ImageDecoder | null;
  #queue: Promise<unknown> = Promise.resolve();
  #disposed: Promise<void> | null = null;
  /** Every parameter tensor this tokenizer uploaded, released by dispose(). */
  #weights: Tensor[];

  /** @internal use loadTokenizer */
  constructor(
    gpu: WebGpuOps,
    ownsOps: boolean,
    encoder: ImageEncoder | null,
    decoder: ImageDecoder | null,
    model: string,
    weights: Tensor[],
  ) {
    this.#weights = weights;
    this.#gpu = gpu;
    this.ops = gpu;
    this.#ownsOps = ownsOps;
    this.#encoder = encoder;
    this.#decoder = decoder;
    const cfg: ImageEncoderConfig | ImageDecoderConfig = (encoder?.config ?? decoder?.config)!;
    this.model = model;
    this.kind = "image";
    this.fsqLevels = cfg.fsqLevels;
    this.discrete = cfg.fsqLevels !== null;
    this.spatialCompression = cfg.spatialCompression;
    this.latentChannels = cfg.latentChannels;
    this.backend = `webgpu (${gpu.ctx.adapterName})`;
  }

  /**
   * GPU memory of the backend's buffer pool in bytes: in use now, allocated, and the peaks
   * (shared with other tokenizers when the backend was passed in).
   */
  memoryStats(): PoolStats {
    return this.#gpu.pool.stats();
  }

  /** Runs calls one after another so concurrent callers never interleave on the device. */
  #serial<T>(fn: () => Promise<T>): Promise<T> {
    if (this.#disposed) return Promise.reject(new Error("Tokenizer was disposed"));
    const run = this.#queue.then(fn);
    this.#queue = run.catch(() => {});
    return run;
  }

  /**
   * Encodes [B, 3, H, W] images with values in [-1, 1].
   * @param probe receives intermediate tensors by reference module name (for tests).
   */
  encode(input: HostTensor, probe?: Probe): Promise<EncodeResult> {
    if (this.#disposed) return Promise.reject(new Error("Tokenizer was disposed"));
    const encoder = this.#encoder;
    if (!encoder) return Promise.reject(new Error("Cannot encode: no encoder was loaded"));
    try {
      checkImageInput(input, this.spatialCompression);
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#serial(async () => {
      const ops = this.#gpu;
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
    });
  }

  /**
   * Decodes a latent [B, C, h, w] (continuous) or FSQ indices [B, h, w] (discrete) to images
   * [B, 3, h*s, w*s].
   */
  decode(input: HostTensor, probe?: Probe): Promise<HostTensor> {
    if (this.#disposed) return Promise.reject(new Error("Tokenizer was disposed"));
    const decoder = this.#decoder;
    if (!decoder) return Promise.reject(new Error("Cannot decode: no decoder was loaded"));
    try {
      if (this.fsqLevels) {
        checkIndicesInput(input, fsqConstants(this.fsqLevels).codebookSize);
      } else {
        checkLatentInput(input, this.latentChannels);
      }
    } catch (err) {
      return Promise.reject(err);
    }
    return this.#serial(async () => {
      const ops = this.#gpu;
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
    });
  }

  /**
   * Frees the weights, and the device when the tokenizer created it. Calls already made finish
   * first; calls made afterwards reject.
   */
  dispose(): Promise<void> {
    this.#disposed ??= this.#queue.then(() => {
      this.#encoder = null;
      this.#decoder = null;
      for (const w of this.#weights) this.#gpu.release(w);
      this.#weights = [];
      if (this.#ownsOps) this.#gpu.destroy();
    });
    return this.#disposed;
  }
}

function checkAgainstModel(
  name: string | undefined,
  cfg: ImageEncoderConfig | ImageDecoderConfig,
  source: string,
): void {
  if (!name) return;
  const spec = findVariant(name);
  const discrete = cfg.fsqLevels !== null;
  if (
    spec.kind !== cfg.kind || spec.discrete !== discrete ||
    spec.spatialCompression !== cfg.spatialCompression
  ) {
    throw new Error(
      `Cannot load ${cfg.half}: "${source}" holds a ${
        describeVariant(cfg.kind, discrete, cfg.spatialCompression)
      } ${cfg.half}, not ${spec.name}`,
    );
  }
}

/**
 * Loads a Cosmos image tokenizer from safetensors checkpoints.
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
  if (!options || (options.encoder === undefined && options.decoder === undefined)) {
    throw new Error("Cannot load tokenizer: give an encoder, a decoder, or both");
  }
  if (options.model) findVariant(options.model); // unknown names fail before any download
  const [encSrc, decSrc] = await Promise.all([
    options.encoder === undefined ? null : loadSource(options.encoder, "encoder"),
    options.decoder === undefined ? null : loadSource(options.decoder, "decoder"),
  ]);
  const encCfg = encSrc ? inferImageEncoder(encSrc) : null;
  const decCfg = decSrc ? inferImageDecoder(decSrc) : null;
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
  const ownsOps = !options.ops;
  const gpu = options.ops ?? await WebGpuOps.create(options.webgpu);
  const weights: Tensor[] = [];
  const uploader = {
    upload(t: HostTensor): Tensor {
      const tensor = gpu.upload(t);
      weights.push(tensor);
      return tensor;
    },
  };
  try {
    let encoder: ImageEncoder | null = null, decoder: ImageDecoder | null = null;
    if (encCfg) {
      const reader = new WeightReader(encSrc!, "encoder");
      encoder = new ImageEncoder(uploader, reader, encCfg);
      checkAllUsed(reader);
    }
    if (decCfg) {
      const reader = new WeightReader(decSrc!, "decoder");
      decoder = new ImageDecoder(uploader, reader, decCfg);
      checkAllUsed(reader);
    }
    const cfg = (encCfg ?? decCfg)!;
    const model = options.model
      ? findVariant(options.model).name
      : describeVariant(cfg.kind, cfg.fsqLevels !== null, cfg.spatialCompression);
    // Weight uploads are queued; make sure they (and any error) have landed.
    await gpu.flush();
    return new Tokenizer(gpu, ownsOps, encoder, decoder, model, weights);
  } catch (err) {
    if (ownsOps) gpu.destroy();
    else for (const w of weights) gpu.release(w);
    throw err;
  }
}
