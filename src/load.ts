/**
 * `loadTokenizer`: reads the checkpoints (path, URL, bytes, or a model name resolved through the
 * hub), infers each half's configuration (models/halves.ts), checks the halves against each
 * other and against the model name, creates the backend, builds the encoder and decoder on it
 * and hands them to a `Tokenizer`.
 * @module
 */

import type { Backend, Tensor } from "./backends/ops.ts";
import type { WebGpuOptions } from "./backends/webgpu/backend.ts";
import type { WasmOptions } from "./backends/wasm/backend.ts";
import { type BackendChoice, createBackend, type Selected } from "./backends/select.ts";
import type { HalfConfig, VideoCompression } from "./models/config.ts";
import { architectureOf, type CheckpointHalf, inferHalves } from "./models/halves.ts";
import { ImageDecoder, ImageEncoder } from "./models/image.ts";
import { VideoDecoder, VideoEncoder } from "./models/video.ts";
import {
  describeVariant,
  findVariant,
  isArchitectureOf,
  officialVariant,
  variantOfPath,
  type VariantSpec,
} from "./models/variants.ts";
import { readWeightsInput, type WeightsInput } from "./weights/source.ts";
import { checkWindow } from "./media/windows.ts";
import { readCheckpoint } from "./weights/formats.ts";
import { resolveCheckpoint, type ResolveOptions } from "./hub/hub.ts";
import { terminalProgress } from "./hub/progress.ts";
import { denoApi } from "./hub/env.ts";
import { fetchCheckpoint } from "./browser/hub.ts";
import { ARCHITECTURE_BUFFERS, type TensorSource, WeightReader } from "./weights/checkpoint.ts";
import type { HostTensor } from "./types.ts";
import { type Decoder, type Encoder, Tokenizer } from "./tokenizer.ts";
import { buildWan, isWanHalves } from "./models/wan/build.ts";
import type { LatentStats } from "./models/wan/latent.ts";

/** What to load, and what runs it. */
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
   * With only `model`, the halves to load (and download); default both. A tokenizer that only
   * encodes needs no decoder.
   */
  halves?: readonly ("encoder" | "decoder")[];
  /**
   * A video tokenizer's compression, which its weights do not show: taken from the traced code
   * of an official TorchScript archive, else from `model`, else from an official name of the
   * folder the checkpoints are in ("Cosmos-0.1-Tokenizer-DV4x8x8/encoder.jit") or of the hub
   * repo they came from, else from the checkpoint's `__metadata__.config`, else from here.
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
   * What runs the network: a choice, or a `Backend` to share between tokenizers (a shared one
   * is not disposed by them). "auto" (the default): WebGPU on a real GPU, else the WebAssembly
   * backend (a CPU rasterizer such as llvmpipe counts as no GPU: WebAssembly is faster on the
   * same cores), else none. "webgpu": any WebGPU adapter, CPU rasterizers included, or fail.
   * "wasm": the WebAssembly backend, or fail. "none": load and check the weights only
   * (encode/decode then reject; token/code conversion works on the CPU).
   */
  backend?: BackendChoice | Backend;
  /**
   * Wan VAE only: encode gives the latent the diffusion models take, (mean - m) / s per
   * channel, and decode takes one; `true` uses Wan2.1's statistics (WAN21_LATENT_STATS), or
   * give { mean, std }. Default: the encoder's raw mean, as WanVAE_.encode with scale (0, 1).
   */
  normalize?: boolean | LatentStats;
  /** WebGPU device options, for tests and benchmarks. */
  webgpu?: WebGpuOptions;
  /**
   * What weights and activations are stored as: "f32" (the default), or "f16" on WebGPU where
   * the adapter has `shader-f16` (half the GPU memory; kernels still compute and accumulate in
   * f32). "f16" needs the WebGPU backend: with "auto" it takes WebGPU on any adapter, and it is
   * an error with "wasm" or on an adapter without the feature. FSQ indices computed from f16
   * latents may differ from f32 ones where a value sits near a rounding boundary.
   */
  precision?: "f32" | "f16";
  /** WebAssembly backend options: threads (default: the machine's cores), relaxed SIMD. */
  wasm?: WasmOptions;
  /**
   * A backend to share, as `backend` takes it (used when `backend` is not a Backend).
   * @deprecated pass the backend as `backend`
   */
  ops?: Backend;
}

/** A half to load, with the configuration inferred for it. */
interface LoadedHalf extends CheckpointHalf {
  config: HalfConfig;
}

function checkAllUsed(reader: WeightReader): void {
  const unused = reader.src.names().filter((n) =>
    !reader.used.has(n) && !ARCHITECTURE_BUFFERS.test(n)
  );
  if (unused.length) {
    throw new Error(
      `Cannot load ${reader.half}: "${reader.source}" has ${unused.length} tensor(s) this architecture does not use, e.g. "${
        unused[0]
      }"`,
    );
  }
}

async function loadSource(input: WeightsInput, what: "encoder" | "decoder"): Promise<TensorSource> {
  const { bytes, source } = await readWeightsInput(input, what);
  // Safetensors, or a TorchScript archive (an autoencoder.jit gives the half asked for); a
  // weight that is NaN or infinite is refused as the model reads it.
  return await readCheckpoint(bytes, source, what, { finite: what });
}

/** The official variant a checkpoint input's folder is named for, if it is a path or URL. */
function folderVariant(input: WeightsInput | undefined): VariantSpec | undefined {
  const path = typeof input === "string" ? input : input instanceof URL ? input.pathname : null;
  return (path !== null && variantOfPath(path)) || undefined;
}

/** Each half's configuration, checked against the model name and against the other half. */
function inferLoadedHalves(
  halves: CheckpointHalf[],
  variant: VariantSpec | undefined,
  nameHint: VariantSpec | undefined,
  compression: VideoCompression | undefined,
): LoadedHalf[] {
  const configs = inferHalves(halves, { variant, nameHint, compression });
  if (!configs) {
    const unread = halves.map((h) => h.src.traced?.unread).find((u) => u !== undefined);
    throw new Error(
      `Cannot load video tokenizer "${
        halves[0].src.source
      }": its weights do not say its compression${
        unread ? ` (and ${unread.replace(/^\w+: /, "")})` : ""
      }; pass model (e.g. "Cosmos-0.1-Tokenizer-CV8x8x8") or compression: { spatial, temporal }`,
    );
  }
  const loaded = halves.map((h, i) => ({ ...h, config: configs[i] }));
  for (const { src, config } of loaded) {
    const arch = architectureOf(config);
    if (variant && !isArchitectureOf(variant, arch)) {
      throw new Error(
        `Cannot load ${config.half}: "${src.source}" holds a ${
          describeVariant(arch)
        } ${config.half}, not ${variant.name}`,
      );
    }
  }
  if (loaded.length === 2) {
    const [enc, dec] = loaded;
    if (
      enc.config.latentChannels !== dec.config.latentChannels ||
      enc.config.spatialCompression !== dec.config.spatialCompression
    ) {
      throw new Error(
        `Cannot load tokenizer: encoder "${enc.src.source}" (${enc.config.latentChannels} latent channels, ${enc.config.spatialCompression}x) and decoder "${dec.src.source}" (${dec.config.latentChannels} latent channels, ${dec.config.spatialCompression}x) do not belong together`,
      );
    }
  }
  return loaded;
}

/** The backend `options` name: the one shared with us, or one created for this tokenizer. */
async function selectBackend(
  options: LoadOptions,
): Promise<{ selected: Selected; owned: boolean }> {
  const { backend } = options;
  const shared = typeof backend === "object" ? backend : options.ops;
  if (shared) {
    const has = shared.precision ?? "f32";
    if (options.precision !== undefined && options.precision !== has) {
      throw new Error(
        `Cannot load tokenizer with precision "${options.precision}": the shared backend ${shared.label} stores ${has}; create it with that precision, or leave precision out`,
      );
    }
    return { selected: { kind: "backend", backend: shared }, owned: false };
  }
  const choice = typeof backend === "object" ? undefined : backend;
  return { selected: await createBackend(choice ?? "auto", options), owned: true };
}

/**
 * Loads a Cosmos tokenizer (image or video, continuous or discrete) from safetensors
 * checkpoints.
 *
 * @example From local checkpoints, on the WebAssembly backend
 * ```ts ignore
 * import { loadTokenizer } from "@cosmos/webgpu";
 * const tok = await loadTokenizer({
 *   encoder: "Cosmos-0.1-Tokenizer-CI8x8/encoder.jit",
 *   decoder: "Cosmos-0.1-Tokenizer-CI8x8/decoder.jit",
 *   backend: "wasm",
 * });
 * const pixels = new Float32Array(3 * 256 * 256); // values in [-1, 1]
 * const { latent } = await tok.encode({ data: pixels, shape: [1, 3, 256, 256] });
 * const image = await tok.decode(latent!);
 * await tok.dispose();
 * ```
 * @example An official model by name, downloaded into the hub cache on first use
 * ```ts ignore
 * import { loadTokenizer } from "@cosmos/webgpu";
 * const tok = await loadTokenizer({ model: "Cosmos-0.1-Tokenizer-DV4x8x8" });
 * const { indices } = await tok.encode({ data: new Float32Array(3 * 9 * 64 * 64), shape: [1, 3, 9, 64, 64] });
 * console.log(indices!.shape); // [1, 3, 8, 8]
 * ```
 */
export async function loadTokenizer(options: LoadOptions): Promise<Tokenizer> {
  let variant: VariantSpec | undefined;
  let nameHint: VariantSpec | undefined;
  if (options?.model && options.encoder === undefined && options.decoder === undefined) {
    const halves = options.halves ?? ["encoder", "decoder"];
    // Without a file system (a browser) the hub's files are fetched into the Cache API instead.
    const files = denoApi()
      ? await resolveCheckpoint(options.model, {
        ...options.hub,
        halves,
        onProgress: options.hub?.onProgress ?? terminalProgress(),
      })
      : { ...(await fetchCheckpoint(options.model, { ...options.hub, halves })), revision: "" };
    // A fine-tuned repo or a directory names no variant: it is inferred from the weights, and
    // an official folder name gives a video tokenizer's compression when nothing else does.
    const local = files.revision === "local";
    variant = local ? undefined : officialVariant(options.model) ?? undefined;
    if (local) nameHint = variantOfPath(files.repo, true) ?? undefined;
    options = {
      ...options,
      encoder: halves.includes("encoder") ? files.encoder : undefined,
      decoder: halves.includes("decoder") ? files.decoder : undefined,
      model: variant?.name,
    };
  }
  if (!options || (options.encoder === undefined && options.decoder === undefined)) {
    throw new Error("Cannot load tokenizer: give an encoder, a decoder, or both");
  }
  // Resolved once, and before any download: an unknown name fails first.
  if (options.model && !variant) variant = findVariant(options.model);
  const [encSrc, decSrc] = await Promise.all([
    options.encoder === undefined ? null : loadSource(options.encoder, "encoder"),
    options.decoder === undefined ? null : loadSource(options.decoder, "decoder"),
  ]);
  const halves: CheckpointHalf[] = [];
  if (encSrc) halves.push({ half: "encoder", src: encSrc });
  if (decSrc) halves.push({ half: "decoder", src: decSrc });
  nameHint ??= folderVariant(options.encoder) ?? folderVariant(options.decoder);
  const wan = isWanHalves(encSrc, decSrc);
  if (wan && variant) {
    throw new Error(
      `Cannot load ${variant.name}: "${
        halves[0].src.source
      }" holds a Wan VAE; leave model out, or give it alone to load a hub repo`,
    );
  }
  if (!wan && options.normalize) {
    throw new Error(
      "Cannot load tokenizer: normalize is for the Wan VAE's latent; a Cosmos tokenizer's latent is used as it is",
    );
  }
  const loaded = wan ? [] : inferLoadedHalves(halves, variant, nameHint, options.compression);
  const window = options.window ?? null;
  const cfg = loaded[0]?.config;
  if (cfg?.kind === "video" && window !== null) checkWindow(window, cfg.temporalCompression);
  const { selected, owned } = await selectBackend(options);
  const backend = selected.kind === "backend" ? selected.backend : null;
  const weights: Tensor[] = [];
  const uploader = {
    upload(t: HostTensor): Tensor {
      // Without a device the weights are still checked (names, shapes), just not uploaded.
      if (!backend) {
        return { shape: t.shape, dtype: t.data instanceof Int32Array ? "i32" : "f32" };
      }
      const tensor = backend.upload(t);
      weights.push(tensor);
      return tensor;
    },
  };
  try {
    let encoder: Encoder | null = null, decoder: Decoder | null = null;
    let model = variant?.name ?? (cfg && describeVariant(architectureOf(cfg)));
    if (wan) {
      const built = buildWan(uploader, encSrc, decSrc, options.normalize, checkAllUsed);
      ({ encoder, decoder, model } = built);
      if (window !== null) checkWindow(window, (encoder ?? decoder)!.temporalCompression);
    }
    for (const { half, src, config } of loaded) {
      const reader = new WeightReader(src, half);
      if (config.half === "encoder") {
        encoder = config.kind === "video"
          ? new VideoEncoder(uploader, reader, config)
          : new ImageEncoder(uploader, reader, config);
      } else {
        decoder = config.kind === "video"
          ? new VideoDecoder(uploader, reader, config)
          : new ImageDecoder(uploader, reader, config);
      }
      checkAllUsed(reader);
      reader.close();
    }
    // Weight uploads are queued; make sure they (and any error) have landed.
    await backend?.flush();
    return new Tokenizer({
      selected,
      ownsBackend: owned,
      encoder,
      decoder,
      model: model!,
      weights,
      window,
    });
  } catch (err) {
    if (owned) backend?.destroy();
    else for (const w of weights) backend?.release(w);
    throw err;
  }
}
