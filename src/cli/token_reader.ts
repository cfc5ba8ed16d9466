/**
 * A video token file read as decode asks for it, never whole: its header first (checked as
 * `readTokenFile` checks it, against the file's size, so a truncated file fails before any data
 * is read), then each latent frame or window of latent frames from its offsets. An hour of 720p
 * latents is 20 GB; what is held is one chunk.
 *
 * The tensor is `latent` [1, C, T, h, w] (channel-major: a latent frame is C planes, one per
 * channel, T planes apart) or `indices` [1, T, h, w] (a latent frame is one contiguous range).
 * @module
 */

import type { HostTensor } from "../types.ts";
import { MAX_HEADER_BYTES } from "../weights/safetensors.ts";
import { decodeElements, DTYPE_BYTES } from "../weights/elements.ts";
import { damaged, type TokenHeader, tokenHeaderOf, type TokenInfo } from "./tokens.ts";
import { readInput, STDIO } from "./outputs.ts";

/** Random access to a file's bytes: a file on disk, or bytes already in memory (stdin). */
export interface ByteReader {
  /** The file's length in bytes. */
  readonly size: number;
  /** Fills `into` with the bytes from `offset`; throws if the file ends before. */
  read(offset: number, into: Uint8Array): Promise<void>;
  close(): void;
}

/** A file on disk, read at offsets; `source` names it in messages. */
export async function fileReader(path: string, source = path): Promise<ByteReader> {
  const file = await Deno.open(path, { read: true });
  try {
    const size = (await file.stat()).size;
    return {
      size,
      async read(offset, into) {
        await file.seek(offset, Deno.SeekMode.Start);
        for (let at = 0; at < into.length;) {
          const n = await file.read(into.subarray(at));
          // The file shrank after its size was checked.
          if (n === null) damaged(source)(`it ends at byte ${offset + at}, inside its tokens`);
          at += n!;
        }
      },
      close: () => file.close(),
    };
  } catch (err) {
    file.close();
    throw err;
  }
}

/** Bytes in memory as a ByteReader. */
export function bytesReader(bytes: Uint8Array): ByteReader {
  return {
    size: bytes.length,
    read(offset, into) {
      into.set(bytes.subarray(offset, offset + into.length));
      return Promise.resolve();
    },
    close() {},
  };
}

/** Bytes read for sniffing what a file is (an image, a zip) before its header length. */
const SNIFF_BYTES = 64;

/**
 * The checked header of the token file `reader` reads (see tokenHeaderOf): the header length it
 * claims is checked against the limit and the file's size before that many bytes are read.
 */
export async function readTokenHeader(reader: ByteReader, source: string): Promise<TokenHeader> {
  const first = new Uint8Array(Math.min(reader.size, SNIFF_BYTES));
  await reader.read(0, first);
  let head = first;
  if (first.length >= 8) {
    const claimed = new DataView(first.buffer).getBigUint64(0, true);
    const end = 8n + claimed;
    // Anything else fails in tokenHeaderOf with its message, from the first bytes alone.
    if (claimed <= BigInt(MAX_HEADER_BYTES) && end <= BigInt(reader.size) && end > 64n) {
      head = new Uint8Array(Number(end));
      await reader.read(0, head);
    }
  }
  return tokenHeaderOf(head, reader.size, source);
}

/** A video token file's latent frames, read from the file as they are asked for. */
export class VideoTokens {
  /** Latent frames in the file (T). */
  readonly total: number;
  readonly info: TokenInfo;
  readonly shape: number[];
  #scratch = new Uint8Array(0);
  #out: Float32Array | Int32Array | null = null;

  constructor(
    private readonly reader: ByteReader,
    private readonly header: TokenHeader,
    private readonly source: string,
  ) {
    this.info = header.info;
    this.shape = header.tensor.shape;
    this.total = this.shape[this.info.discrete ? 1 : 2];
  }

  /**
   * Latent frames [t0, t1): [1, C, t1 - t0, h, w] (F32) or [1, t1 - t0, h, w] (I32). With
   * `reuse`, into the array the last call of that size returned (the caller is done with it):
   * a fresh 0.9 MB array per 720p latent frame would be garbage the collector lets pile up.
   */
  async frames(t0: number, t1: number, reuse = false): Promise<HostTensor> {
    const { info, shape, total } = this;
    const { tensor, dataStart } = this.header;
    const size = DTYPE_BYTES[tensor.dtype as keyof typeof DTYPE_BYTES];
    const [h, w] = shape.slice(-2);
    const n = t1 - t0, plane = h * w;
    const channels = info.discrete ? 1 : shape[1];
    const length = channels * n * plane;
    const data = reuse && this.#out?.length === length
      ? this.#out
      : info.discrete
      ? new Int32Array(length)
      : new Float32Array(length);
    if (reuse) this.#out = data;
    // One read per channel: channel c's planes t0..t1 are contiguous in the file.
    const bytes = n * plane * size;
    if (this.#scratch.length < bytes) this.#scratch = new Uint8Array(bytes);
    const into = this.#scratch.subarray(0, bytes);
    for (let c = 0; c < channels; c++) {
      const offset = dataStart + tensor.begin + (c * total + t0) * plane * size;
      await this.reader.read(offset, into);
      decodeElements(
        into,
        tensor.dtype,
        data,
        c * n * plane,
        (value) => damaged(this.source)(`index ${value} is out of the int32 range`),
      );
    }
    const out = info.discrete ? [1, n, h, w] : [1, channels, n, h, w];
    return { data, shape: out };
  }

  close(): void {
    this.reader.close();
  }
}

/**
 * Opens a token file for decode: its header checked (see readTokenHeader) and, for a video, its
 * latent frames to read one chunk at a time. The reader is closed on failure; else by the caller
 * (`VideoTokens.close`, or at once for an image).
 */
export async function openTokenFile(
  reader: ByteReader,
  source: string,
): Promise<{ header: TokenHeader; video: VideoTokens | null }> {
  try {
    const header = await readTokenHeader(reader, source);
    if (header.info.kind !== "video") {
      reader.close();
      return { header, video: null };
    }
    return { header, video: new VideoTokens(reader, header, source) };
  } catch (err) {
    reader.close();
    throw err;
  }
}

/** What a token file holds, from its header alone (stdin, `-`, is read whole: it cannot seek). */
export async function readTokenInfo(path: string): Promise<TokenInfo> {
  const reader = path === STDIO ? bytesReader(await readInput(path)) : await fileReader(path);
  try {
    return (await readTokenHeader(reader, path)).info;
  } finally {
    reader.close();
  }
}
