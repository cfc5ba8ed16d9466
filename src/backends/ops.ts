/**
 * The op interface the model graph is written against.
 *
 * Layers and models (src/nn, src/models) call only these methods, so one graph runs on every
 * backend (WebGPU, WebAssembly). Tensors are opaque backend handles, channels-first
 * and batch-first like the reference: [B, C, H, W] for images, [B, C, T, H, W] for video.
 * Ops are recorded in order and may run asynchronously; `read` waits for everything before it.
 * @module
 */

import type { HostTensor } from "../types.ts";
import type { TensorScope } from "./scopes.ts";
import type { ShuffleOptions } from "./shuffle.ts";

export type { ShuffleOptions } from "./shuffle.ts";

/** A backend-owned tensor. Its storage is returned to the backend by `release`. */
export interface Tensor {
  /** Extent per axis, channels-first and batch-first. */
  readonly shape: readonly number[];
  /** Element type: f32 for activations and weights, i32 for FSQ indices. */
  readonly dtype: "f32" | "i32";
}

/** A convolution's parameters, uploaded once. Weight layout is torch's [Cout, Cin, kt, kh, kw]. */
export interface ConvWeights {
  /** [Cout, Cin, kt, kh, kw]. */
  weight: Tensor;
  /** [Cout]. */
  bias: Tensor;
  /** Output channels. */
  cout: number;
  /** Input channels. */
  cin: number;
  /** Kernel extent (t, h, w); image convs have t = 1. */
  kernel: [number, number, number];
}

/** GroupNorm affine parameters, uploaded once, plus the group count and epsilon. */
export interface NormWeights {
  /** Interleaved (gamma, beta) per channel. */
  gammaBeta: Tensor;
  /** Channels normalised. */
  channels: number;
  /** Groups the channels are split into (32 for images, 1 for video). */
  groups: number;
  /** Added to the variance (1e-6 in every Cosmos tokenizer). */
  eps: number;
}

/**
 * RMS norm over channels (the Wan VAE's `RMS_norm`): per position, x / max(||x||, 1e-12) *
 * sqrt(C) * gamma, the norm taken over the C channels of that position.
 */
export interface RmsNormWeights {
  /** [C]: the per-channel gain. */
  gamma: Tensor;
  /** Channels normalised (C). */
  channels: number;
}

/** GroupNorm to apply to a convolution's input as it is loaded. */
export interface FusedNorm {
  /** From `groupNormStats` on the same input. */
  stats: Tensor;
  /** The affine parameters, group count and epsilon. */
  weights: NormWeights;
  /** Apply SiLU after the affine transform. */
  silu: boolean;
}

/** How a convolution reads its input and what it adds to its output; each field has a default. */
export interface ConvOptions {
  /** Strides (t, h, w). Default 1. */
  stride?: [number, number, number];
  /** Zero padding before the first row / column. Default (kernel - 1) / 2. */
  padLow?: [number, number];
  /** Zero padding after the last row / column. Default (kernel - 1) / 2. */
  padHigh?: [number, number];
  /** Causal temporal padding: taps before frame 0 read frame 0. Default kt - 1. */
  padTime?: number;
  /** Read the input through a nearest 2x spatial upsample (the decoder's Upsample). */
  upsample?: boolean;
  /** Normalise (and maybe SiLU) the input on load. */
  norm?: FusedNorm;
  /** Added to the output (the residual branch of a ResNet block). */
  residual?: Tensor;
  /**
   * A causal temporal conv (kt, 1, 1) of stride 1 only: the kt - 1 frames before `x`, which
   * the first outputs' taps read instead of padding (a stream's carried frames; they may be
   * parked, and are then read a frame at a time). `padTime` must be left at kt - 1 and no
   * `norm` given (carried frames are the conv's input as it reads it).
   */
  context?: Tensor;
}

/** The grouping of GroupNorm statistics. */
export interface GroupNormOptions {
  /** Groups the channels are split into. */
  groups: number;
  /** Added to the variance. */
  eps: number;
  /** Statistics per frame (video's CausalNormalize) instead of over the whole clip. */
  perFrame?: boolean;
}

/** Which queries an attention computes. */
export interface AttentionOptions {
  /**
   * Temporal attention only: compute the outputs of the last `queries` frames (each still
   * attending to every frame up to itself), shaped [B, C, queries, H, W]. A stream's step
   * attends its new frames over the carried ones this way. Default: every frame.
   */
  queries?: number;
  /**
   * Temporal attention only: the keys and values [B, 2C, T, H, W] (k, then v) of all T frames
   * attended, kept apart from the queries as a stream's cache keeps them (it carries no
   * queries). `qkv` then holds the queries alone, [B, C, Tq, H, W]: those of the last Tq of
   * the T frames (`queries`, if given, must be Tq).
   */
  keysValues?: Tensor;
}

/** FSQ levels with the constants the reference derives from them. */
export interface FsqSpec {
  /** Levels per code dimension ([8, 8, 8, 5, 5, 5] in the Cosmos discrete tokenizers). */
  levels: number[];
}

/** Frames [from, to) of a video tensor [B, C, T, H, W] (0 <= from < to <= T, integers). */
export interface FrameRange {
  /** The video tensor the frames are taken from. */
  tensor: Tensor;
  /** First frame taken. */
  from: number;
  /** One past the last frame taken. */
  to: number;
}

/** How `joinFrames` keeps its result. */
export interface JoinOptions {
  /**
   * The result is state a stream keeps between steps: the backend may hold it outside its
   * working memory (the WebAssembly backend keeps it in JavaScript memory, out of the 4 GiB
   * heap, sharing whole parts of parked inputs). Such a tensor can only be joined again, read,
   * released, or be a temporal conv's `context` or temporal attention's `keysValues` (read there
   * a frame or a chunk at a time).
   */
  park?: boolean;
}

/** What loading parameters needs of a backend (a tokenizer wraps it to track its weights). */
export interface Uploader {
  /** Copies a host tensor to the backend. */
  upload(t: HostTensor): Tensor;
}

/** What every backend implements. */
export interface Ops {
  /** The backend's kind: "webgpu" or "wasm". */
  readonly name: string;
  /** Copies a host tensor to the backend. */
  upload(t: HostTensor): Tensor;
  /**
   * Waits for pending work, copies a tensor back to the host: into `into` when given (of the
   * tensor's size and host type: Int32Array for i32, else Float32Array), so that a stream's
   * steps can reuse one array instead of making one a step; else into a new array.
   */
  read(t: Tensor, into?: Float32Array | Int32Array): Promise<HostTensor>;
  /** Returns a tensor's storage for reuse. Using it afterwards is an error. */
  release(t: Tensor): void;

  /**
   * Convolution of [B, Cin, (T,) H, W] with torch's weight layout, causal in time (taps before
   * frame 0 read frame 0), with optional fused input norm, upsample and residual.
   */
  conv(x: Tensor, w: ConvWeights, opts?: ConvOptions): Tensor;
  /** (mean, rstd) per (batch, frame or 1, group), for `conv`'s fused norm or `groupNorm`. */
  groupNormStats(x: Tensor, opts: GroupNormOptions): Tensor;
  /** Standalone GroupNorm (+ SiLU) with precomputed statistics. */
  groupNorm(x: Tensor, norm: FusedNorm): Tensor;
  /**
   * RMS norm over the channels of [B, C, ...] (see RmsNormWeights), then SiLU when `silu`:
   * a new tensor of the same shape.
   */
  rmsNorm(x: Tensor, weights: RmsNormWeights, silu: boolean): Tensor;
  /**
   * Self-attention over a packed q/k/v tensor [B, 3C, H, W] or [B, 3C, T, H, W] (or queries
   * with separate `keysValues`), shaped [B, C, ...]: out_i = sum_j softmax_j(q_i . k_j /
   * sqrt(C)) v_j.
   * "spatial": i, j range over the H * W positions (of each frame, for video).
   * "temporal": i, j range over the frames of each pixel, with j <= i (causal).
   */
  attention(qkv: Tensor, kind?: "spatial" | "temporal", opts?: AttentionOptions): Tensor;
  /**
   * `levels` of Haar DWT. Images: [B, C, H, W] -> [B, C * 4^levels, H / 2^levels, W / 2^levels].
   * Video: frame 0 is first repeated 2^levels - 1 more times, then
   * [B, C, T', H, W] -> [B, C * 8^levels, T' / 2^levels, ...] (the reference's Patcher3D).
   */
  haarPatch(x: Tensor, levels: number): Tensor;
  /** The inverse of `haarPatch` (for video, dropping the 2^levels - 1 repeated frames). */
  haarUnpatch(x: Tensor, levels: number): Tensor;
  /**
   * Average pooling of video by 2 along "space" (2x2, a zero pad past the bottom/right edge)
   * or "time" (frame pairs (2t - 1, 2t), frame -1 reading frame 0).
   */
  avgPool(x: Tensor, axis: "space" | "time"): Tensor;
  /** Nearest 2x upsampling along "space", or "time" (T -> 2T - 1: frame t reads (t + 1) / 2). */
  upsample(x: Tensor, axis: "space" | "time"): Tensor;
  /**
   * Video [B, C, T, H, W] with its (time x space x space) blocks folded into channels, groups of
   * `group` of them averaged (the Wan2.2 VAE's patchify and AvgDown3D; ./shuffle.ts).
   */
  spaceToChannel(x: Tensor, opts: ShuffleOptions): Tensor;
  /** Video with each channel repeated `group` times, unfolded into blocks (DupUp3D). */
  channelToSpace(x: Tensor, opts: ShuffleOptions): Tensor;
  /** FSQ of [B, D, ...] (D = levels.length): codes [B, D, ...] and indices [B, ...]. */
  fsqQuantize(z: Tensor, spec: FsqSpec): { codes: Tensor; indices: Tensor };
  /** Indices [B, ...] back to codes [B, D, ...]. */
  fsqDequantize(indices: Tensor, spec: FsqSpec): Tensor;
  /**
   * A new video tensor [B, C, sum of (to - from), H, W]: the given frame ranges of video
   * tensors with the same B, C, H, W and dtype, one after another along time (a slice when
   * there is one part). The same tensor may appear in several parts. The inputs are not
   * released. Throws, before anything is allocated, on an empty list, a part that is not
   * [B, C, T, H, W] or whose B, C, H, W or dtype differ from part 0's, or a range that is not
   * integers with 0 <= from < to <= T (an empty range is an error).
   */
  joinFrames(parts: readonly FrameRange[], opts?: JoinOptions): Tensor;
}

/** Memory held by a backend's tensor storage, in bytes. */
export interface MemoryStats {
  /** Bytes of tensors handed out now. */
  inUse: number;
  /** Bytes of every block or buffer the backend owns (handed out or free for reuse). */
  allocated: number;
  /** Highest `inUse` seen since the last `resetPeak()`. */
  peakInUse: number;
  /** Highest `allocated` seen since the last `resetPeak()`. */
  peakAllocated: number;
  /** Blocks or buffers created since the backend began. */
  created: number;
  /** Bytes of parked tensors (`joinFrames` with `park`) held outside the above; 0 if none. */
  parked: number;
  /** Highest `parked` seen since the last `resetPeak()`. */
  peakParked: number;
  /**
   * Bytes of memory the parked tensors occupy: `parked` with the size classes' rounding and the
   * free blocks between them (the WebAssembly backend's parked memory); 0 if none.
   */
  parkedAllocated: number;
  /** Highest `parkedAllocated` seen since the last `resetPeak()`. */
  peakParkedAllocated: number;
  /** Highest `inUse + parked` at one moment since the last `resetPeak()`. */
  peakHeld: number;
}

/**
 * The array `Ops.read` fills: `into`, checked against the tensor's `size` and host type, or a
 * new one.
 */
export function readTarget(
  into: Float32Array | Int32Array | undefined,
  size: number,
  dtype: "f32" | "i32",
): Float32Array | Int32Array {
  if (!into) return dtype === "i32" ? new Int32Array(size) : new Float32Array(size);
  const want = dtype === "i32" ? Int32Array : Float32Array;
  if (!(into instanceof want) || into.length !== size) {
    const name = into.constructor.name;
    throw new Error(
      `Cannot read a tensor of ${size} ${dtype} values into ${
        /^[AEIOU]/.test(name) ? "an" : "a"
      } ${name} of ${into.length}`,
    );
  }
  return into;
}

/** Memory stats of nothing held: every count 0. */
export function noMemory(): MemoryStats {
  const stats = { inUse: 0, allocated: 0, peakInUse: 0, peakAllocated: 0, created: 0 };
  const parked = { parked: 0, peakParked: 0, parkedAllocated: 0, peakParkedAllocated: 0 };
  return { ...stats, ...parked, peakHeld: 0 };
}

/** Time spent per kernel family while profiling. */
export interface KernelProfile {
  /** A family ("conv3x3", "groupnorm", ...): milliseconds, launches and floating-point operations. */
  [family: string]: { ms: number; dispatches: number; flops: number };
}

/** A backend a tokenizer can own: ops plus their lifecycle. */
export interface Backend extends Ops {
  /** What runs the ops, e.g. "webgpu (NVIDIA H100)" or "wasm (relaxed SIMD, 16 threads)". */
  readonly label: string;
  /**
   * What float tensors are stored as: "f16" on a WebGPU backend asked for it, else "f32"
   * (absent means "f32").
   */
  readonly precision?: "f32" | "f16";
  /** Waits until every recorded op has run (and reports its errors). */
  flush(): Promise<void>;
  /** Bytes of tensor storage in use and allocated, with their peaks. */
  memoryStats(): MemoryStats;
  /** Forgets the memory peaks (per-pass figures). */
  resetPeak(): void;
  /**
   * Starts timing every op by kernel family (for benchmarks); false where the backend cannot
   * (a WebGPU adapter without timestamp queries).
   */
  startProfiling(): boolean;
  /** Totals since `startProfiling`, and stops profiling. */
  stopProfiling(): KernelProfile;
  /**
   * Starts noting the tensors made from now on; `stop()` ends that and returns the ones not
   * released since (what a failed step left: scopes.ts). Optional: a backend without it
   * cannot free them.
   */
  trackTensors?(): TensorScope;
  /** Frees everything the backend owns; it cannot be used afterwards. */
  destroy(): void;
}
