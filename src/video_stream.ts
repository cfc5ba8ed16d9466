/**
 * Whole-clip-exact streaming of video through a tokenizer: pixels in pieces of any size in,
 * each latent frame out as soon as it is final; latent frames in, each group of pixel frames out.
 *
 * The engine cuts the input into the network's temporal steps (the encoder: frame 0, then tc
 * frames per latent frame; the decoder: one latent frame at a time) and runs each step through
 * the network's stream (src/models/video.ts), whose causal layers carry what later frames read.
 * Host memory holds one step's frames (gathered in one buffer reused step after step:
 * step_frames.ts) plus the piece being cut; the backend holds one step's activations plus the
 * carried state (every temporal attention's keys and values grow by one latent frame per step;
 * the rest is a few frames per layer).
 * @module
 */

import type { Backend, Ops } from "./backends/ops.ts";
import { decodePass, encodePass } from "./halves.ts";
import type { NetworkStream } from "./models/video.ts";
import { checkSameFrameShape, sliceTime } from "./media/windows.ts";
import { StepFrames } from "./step_frames.ts";
import { fmtShape, type HostTensor } from "./types.ts";

/** One latent frame's tokens from a stream, and the input frames it covers. */
export interface FrameTokens {
  /** Continuous tokenizers: the latent frame [B, C, 1, h, w]. */
  latent?: HostTensor;
  /** Discrete tokenizers: the FSQ indices [B, 1, h, w]. */
  indices?: HostTensor;
  /** Discrete tokenizers: the codes [B, D, 1, h, w]. */
  codes?: HostTensor;
  /** Input frames [start, end) of the whole stream that this latent frame encodes. */
  frames: [number, number];
}

/** What the engine steps: a video network (Cosmos' or Wan's) that runs as a stream. */
export interface StreamingNetwork {
  /** A run over frames (or latent frames) arriving in the network's temporal steps. */
  stream(ops: Ops): NetworkStream;
}

/** What the engine needs of the tokenizer that runs it. */
export interface StreamHost {
  /** Runs `fn` when the backend is free (calls never interleave on it). */
  serial<T>(fn: () => Promise<T>): Promise<T>;
  /** The backend, or an error saying why there is none. */
  device(what: "encode" | "decode"): Backend;
  /** FSQ levels of a discrete tokenizer, null for a continuous one. */
  fsqLevels: number[] | null;
  /** Input frames per latent frame after the first. */
  temporalCompression: number;
  /** Checks a piece of pixels [B, 3, t, H, W] (any t). */
  checkPixels(piece: HostTensor): void;
  /** Checks a piece of tokens (a latent or indices of any frame count). */
  checkTokens(piece: HostTensor): void;
}

/**
 * Throws unless `pieces` can be iterated (sync or async): streams take frames or tokens as they
 * come, and a tensor or null passed instead would fail inside the loop with a bare TypeError.
 */
export function checkIterable(pieces: unknown, what: "encode" | "decode"): void {
  const it = pieces as { [Symbol.iterator]?: unknown; [Symbol.asyncIterator]?: unknown } | null;
  if (
    it === null || typeof it !== "object" ||
    (typeof it[Symbol.iterator] !== "function" && typeof it[Symbol.asyncIterator] !== "function")
  ) {
    throw new Error(
      `Cannot ${what} a stream: expected an iterable or async iterable of ${
        what === "encode" ? "frames or clips" : "tokens"
      }, got ${pieces === null ? "null" : typeof pieces}`,
    );
  }
}

/** A piece of pixels as a clip [B, 3, t, H, W]: single frames [B, 3, H, W] get t = 1. */
export function asClip(piece: HostTensor): HostTensor {
  if (piece?.shape?.length === 4) {
    return {
      data: piece.data,
      shape: [piece.shape[0], piece.shape[1], 1, ...piece.shape.slice(2)],
    };
  }
  if (piece?.shape?.length !== 5) {
    throw new Error(
      `Cannot stream: expected frames [B, 3, H, W] or clips [B, 3, t, H, W], got ${
        Array.isArray(piece?.shape) ? fmtShape(piece.shape) : describe(piece)
      }`,
    );
  }
  return piece;
}

/** What a piece that is not a tensor is, for a message. */
function describe(piece: unknown): string {
  return piece === null || typeof piece !== "object" ? String(piece) : "an object with no shape";
}

/** The tokens of a stream item: a tensor, or an encode result's latent or indices. */
export function tokenTensor(item: HostTensor | Omit<FrameTokens, "frames">): HostTensor {
  if (typeof item !== "object" || item === null) {
    throw new Error(`Cannot decode: a stream item is ${String(item)}, not tokens`);
  }
  const t = "data" in item ? item : (item.latent ?? item.indices);
  if (!t) throw new Error("Cannot decode: a stream item has neither latent nor indices");
  return t as HostTensor;
}

/** A tensor's shape without its data, to check later pieces against (and not hold the data). */
function shapeOnly(t: HostTensor): HostTensor {
  return { data: new Float32Array(0), shape: [...t.shape] };
}

/** Frees a network stream's state once the backend is free. */
function releaseLater(host: StreamHost, stream: NetworkStream): Promise<void> {
  return host.serial(() => Promise.resolve(stream.release())).catch(() => {
    // The tokenizer was disposed: its backend, and the state on it, are gone already.
  });
}

/**
 * Encodes pixels arriving in pieces, yielding every latent frame as soon as its input frames
 * are in; the frames equal those of encoding the whole clip at once. The stream must end on a
 * latent frame's last input frame (a video has 1 + k x tc frames). After frame 0, the network
 * runs `latentPerStep` latent frames (tc of input each) at a time: more per step is fewer,
 * larger products and more memory; the results are the same.
 */
export async function* encodeFrames(
  host: StreamHost,
  encoder: StreamingNetwork,
  pieces: AsyncIterable<HostTensor> | Iterable<HostTensor>,
  latentPerStep = 1,
): AsyncGenerator<FrameTokens> {
  checkIterable(pieces, "encode");
  const tc = host.temporalCompression;
  let stream: NetworkStream | null = null;
  const held = new StepFrames(2);
  let first: HostTensor | null = null;
  let start = 0;
  /** Runs the held frames and yields their latent frames one by one. */
  async function* run(): AsyncGenerator<FrameTokens> {
    const count = held.count;
    stream ??= encoder.stream(host.device("encode"));
    const out = await encodeStep(host, stream, held.tensor());
    held.clear();
    const latents = start === 0 ? 1 : count / tc;
    for (let j = 0; j < latents; j++) {
      const end = start === 0 ? 1 : start + tc;
      yield { ...latentFrame(out, j, latents), frames: [start, end] };
      start = end;
    }
  }
  try {
    for await (const piece of pieces) {
      const clip = asClip(piece);
      host.checkPixels(clip);
      // Every piece continues the first one's frames (the carried state has their size).
      if (first) checkSameFrameShape(first, clip);
      first ??= shapeOnly(clip);
      const need = () => start === 0 ? 1 : latentPerStep * tc;
      for (let at = 0; at < clip.shape[2];) {
        at += held.take(clip, at, need());
        if (held.count === need()) yield* run();
      }
    }
    const left = held.count;
    if (left % tc !== 0) {
      throw new Error(
        `Cannot encode: the stream ended ${
          left % tc
        } frame(s) into a latent frame of ${tc}; a video has 1 + k x ${tc} frames`,
      );
    }
    if (left) yield* run();
    if (start === 0) throw new Error("Cannot encode: the stream had no frames");
  } finally {
    if (stream) await releaseLater(host, stream);
  }
}

/** Latent frame `j` of a step's `count` tokens. */
function latentFrame(
  out: Omit<FrameTokens, "frames">,
  j: number,
  count: number,
): Omit<FrameTokens, "frames"> {
  if (count === 1) return out;
  if (out.latent) return { latent: sliceTime(out.latent, j, j + 1) };
  return { indices: sliceTime(out.indices!, j, j + 1, 1), codes: sliceTime(out.codes!, j, j + 1) };
}

/** One encoder step on the backend: upload, run, quantize, read. */
function encodeStep(
  host: StreamHost,
  stream: NetworkStream,
  input: HostTensor,
): Promise<Omit<FrameTokens, "frames">> {
  return host.serial(() =>
    encodePass(
      { ops: host.device("encode"), failed: () => stream.release() },
      (ops, x) => stream.step(ops, x),
      input,
      host.fsqLevels,
    )
  );
}

/**
 * Decodes tokens arriving in pieces (latents [B, C, t, h, w] or indices [B, t, h, w], any t),
 * yielding each latent frame's pixel frames (one for latent frame 0, tc for every later one) as
 * soon as they are final; together they equal decoding the whole latent at once. After latent
 * frame 0 the network runs `latentPerStep` latent frames at a time (same results). With
 * `reuseOutput`, every step's pixels are read into one array, overwritten by the next step.
 */
export async function* decodeFrames(
  host: StreamHost,
  decoder: StreamingNetwork,
  pieces: AsyncIterable<HostTensor> | Iterable<HostTensor>,
  latentPerStep = 1,
  reuseOutput = false,
): AsyncGenerator<HostTensor> {
  checkIterable(pieces, "decode");
  const axis = host.fsqLevels ? 1 : 2;
  const tc = host.temporalCompression;
  let stream: NetworkStream | null = null;
  const held = new StepFrames(axis);
  let first: HostTensor | null = null;
  let started = false;
  let output = new Float32Array(0);
  // A new array only when a step's size changes (after the first step, and at a short last one).
  const into = reuseOutput
    ? (size: number) => output.length === size ? output : (output = new Float32Array(size))
    : undefined;
  /** Runs the held latent frames and yields their pixel frames. */
  async function* run(): AsyncGenerator<HostTensor> {
    const count = held.count;
    stream ??= decoder.stream(host.device("decode"));
    const out = await decodeStep(host, stream, held.tensor(), into);
    held.clear();
    if (!started || count === 1) yield out;
    else for (let j = 0; j < count; j++) yield sliceTime(out, j * tc, (j + 1) * tc);
    started = true;
  }
  try {
    for await (const piece of pieces) {
      host.checkTokens(piece);
      if (first) checkSameFrameShape(first, piece, axis);
      first ??= shapeOnly(piece);
      const need = () => started ? latentPerStep : 1;
      for (let at = 0; at < piece.shape[axis];) {
        at += held.take(piece, at, need());
        if (held.count === need()) yield* run();
      }
    }
    if (held.count) yield* run();
  } finally {
    if (stream) await releaseLater(host, stream);
  }
}

/** One decoder step on the backend: upload, dequantize, run, read (into `into(size)`). */
function decodeStep(
  host: StreamHost,
  stream: NetworkStream,
  input: HostTensor,
  into?: (size: number) => Float32Array,
): Promise<HostTensor> {
  return host.serial(() =>
    decodePass(
      { ops: host.device("decode"), failed: () => stream.release() },
      (ops, z) => stream.step(ops, z),
      input,
      host.fsqLevels,
      into,
    )
  );
}
