/**
 * A checkpoint half (encoder or decoder) as the model builders see it: named float tensors with
 * shape checks whose errors name the file, the tensor and what was expected.
 * @module
 */

import type { SafetensorsFile } from "./safetensors.ts";
import { fmtShape } from "../types.ts";
import type { TracedArchitecture } from "./traced_code.ts";

/**
 * Architecture constants an official state_dict may hold (the Haar filters, FSQ's levels and
 * basis): the model rebuilds them itself, so loaders ignore them and converters drop them.
 */
export const ARCHITECTURE_BUFFERS: RegExp =
  /(^|\.)(wavelets|_arange|patch_size_buffer|_levels|_basis|implicit_codebook)$/;

/** Named tensors of one checkpoint file, whatever format it came from. */
export interface TensorSource {
  /** Label for messages: the path, URL or "<bytes>". */
  readonly source: string;
  names(): string[];
  shape(name: string): number[] | undefined;
  /** The tensor's values, read-only: possibly a view of the checkpoint's bytes. */
  float32(name: string): Float32Array;
  metadata: Record<string, string>;
  /** A TorchScript archive's reading of its traced code (a video tokenizer's compression). */
  traced?: TracedArchitecture;
}

/** Whether this machine stores numbers little-endian, as safetensors does. */
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Adapts a parsed safetensors file. An aligned F32 tensor is handed out as a view of the file's
 * bytes rather than copied: a load uploads every tensor once and drops it, and hundreds of
 * megabytes of short-lived copies would stay in the process's allocator after the load (what
 * a 720p stream then lacks).
 */
export function safetensorsSource(file: SafetensorsFile): TensorSource {
  return {
    source: file.source,
    metadata: file.metadata,
    names: () => [...file.entries.keys()],
    shape: (name) => file.entries.get(name)?.shape,
    float32: (name) => {
      if (LITTLE_ENDIAN && file.entries.get(name)?.dtype === "F32") {
        const raw = file.raw(name);
        if (raw.byteOffset % 4 === 0) {
          return new Float32Array(raw.buffer, raw.byteOffset, raw.length / 4);
        }
      }
      return file.float32(name);
    },
  };
}

/**
 * The index of the first NaN or infinity in `values`, or -1: one pass over the floats' bits (all
 * exponent bits set), through a view of the same memory.
 */
export function firstNonFinite(values: Float32Array): number {
  const bits = new Uint32Array(values.buffer, values.byteOffset, values.length);
  for (let i = 0; i < bits.length; i++) {
    if ((bits[i] & 0x7f800000) === 0x7f800000) return i;
  }
  return -1;
}

/**
 * `src`, refusing any tensor whose values are not all finite as it is read. A NaN or an infinity
 * in one weight loads without complaint and turns every output of the model into NaN. Wrap the
 * file's own source, before any renaming, so that the error names the tensor as the file does.
 * @param what the half being loaded ("encoder"), for the message
 */
export function requireFinite(src: TensorSource, what: string): TensorSource {
  return {
    source: src.source,
    metadata: src.metadata,
    traced: src.traced,
    names: () => src.names(),
    shape: (name) => src.shape(name),
    float32(name) {
      const values = src.float32(name);
      const at = firstNonFinite(values);
      if (at >= 0) {
        throw new Error(
          `Cannot load ${what}: tensor "${name}" in "${src.source}" holds ${
            values[at]
          } at index ${at} of ${values.length}; a model's weights must be finite (the checkpoint is damaged, or its training diverged)`,
        );
      }
      return values;
    },
  };
}

/** Reads tensors for a model, checking presence and shapes, and tracking which were used. */
export class WeightReader {
  readonly used: Set<string> = new Set();
  #src: TensorSource | null;
  /** The checkpoint's label for messages. */
  readonly source: string;
  constructor(src: TensorSource, readonly half: "encoder" | "decoder") {
    this.#src = src;
    this.source = src.source;
  }

  /** The checkpoint, until `close`. */
  get src(): TensorSource {
    if (!this.#src) throw new Error(`Cannot read ${this.half} weights: the load is over`);
    return this.#src;
  }

  /**
   * Lets go of the checkpoint once the model is built. Layers keep closures made while they
   * loaded, and V8 keeps whatever those closures' scopes held, this reader among them: without
   * this, a tokenizer would hold its whole checkpoint file (175 MB for a CV4x8x8 decoder) for
   * as long as it lives.
   */
  close(): void {
    this.#src = null;
  }

  has(name: string): boolean {
    return this.src.shape(name) !== undefined;
  }

  shape(name: string): number[] {
    const s = this.src.shape(name);
    if (!s) {
      throw new Error(
        `Cannot load ${this.half}: "${this.source}" has no tensor "${name}"`,
      );
    }
    return s;
  }

  /**
   * Marks tensors the architecture holds but never runs (a hybrid resampler's switched-off
   * path) as accounted for, without reading or uploading them; absent ones are fine too.
   */
  skip(...names: string[]): void {
    for (const n of names) if (this.has(n)) this.used.add(n);
  }

  /** The tensor's values, after checking its shape against `expected` (-1: any extent). */
  take(name: string, expected: number[]): Float32Array {
    const s = this.shape(name);
    const ok = s.length === expected.length &&
      s.every((d, i) => expected[i] < 0 || d === expected[i]);
    if (!ok) {
      throw new Error(
        `Cannot load ${this.half}: tensor "${name}" in "${this.source}" has shape ${
          fmtShape(s)
        }, expected ${fmtShape(expected.map((d) => (d < 0 ? "*" : d) as unknown as number))}`,
      );
    }
    this.used.add(name);
    return this.src.float32(name);
  }
}
