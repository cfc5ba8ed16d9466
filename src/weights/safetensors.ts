/**
 * A strict, small reader and writer for the safetensors format.
 *
 * Layout: an 8-byte little-endian u64 header length N, then N bytes of UTF-8 JSON, then the data
 * section. The JSON object maps tensor names to `{"dtype", "shape", "data_offsets": [begin, end]}`
 * (offsets relative to the data section) plus an optional `"__metadata__"` object of strings.
 *
 * The reader validates everything it relies on and throws an `Error` naming the source, the tensor
 * and the problem. It is lenient where the reference implementation's format allows it to be:
 * gaps between tensors and trailing bytes are accepted, overlapping tensors are not.
 *
 * @example Write a file and read it back
 * ```ts
 * import { encodeSafetensors, parseSafetensors } from "@cosmos/webgpu/safetensors";
 * import assert from "node:assert/strict";
 * const bytes = encodeSafetensors(
 *   { "conv.weight": { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
 *   { format: "pt" },
 * );
 * const file = parseSafetensors(bytes, "conv.safetensors");
 * assert.deepEqual(file.entries.get("conv.weight")?.shape, [2, 2]);
 * assert.deepEqual([...file.float32("conv.weight")], [1, 2, 3, 4]);
 * assert.equal(file.metadata.format, "pt");
 * ```
 * @module
 */

import { decodeElements, DTYPE_BYTES } from "./elements.ts";

export { bf16ToF32, f16ToF32 } from "./elements.ts";

/** The tensor element types this reader and writer support. */
export type SafetensorsDtype = "F32" | "F16" | "BF16" | "I32" | "I64" | "U8";

/** One tensor's header entry. `begin`/`end` are byte offsets relative to the data section. */
export interface SafetensorsEntry {
  /** The tensor's name ("encoder.conv_in.weight"). */
  name: string;
  /** Its element type. */
  dtype: SafetensorsDtype;
  /** Its extent per axis ([] for a scalar). */
  shape: number[];
  /** First byte, relative to the data section. */
  begin: number;
  /** One past the last byte, relative to the data section. */
  end: number;
}

/** A parsed safetensors file; tensors are read lazily from the underlying bytes. */
export interface SafetensorsFile {
  /** Label used in error messages (file path, URL or `"<bytes>"`). */
  source: string;
  /** The `__metadata__` object (empty when absent). */
  metadata: Record<string, string>;
  /** Header entries, in header order (as `JSON.parse` enumerates keys). */
  entries: Map<string, SafetensorsEntry>;
  /** Whether a tensor of this name exists. */
  has(name: string): boolean;
  /** A fresh, aligned f32 copy of an F32, F16 or BF16 tensor (halves upcast exactly). */
  float32(name: string): Float32Array;
  /** An I32 tensor as is, an I64 tensor narrowed (range-checked) or a U8 tensor widened. */
  int32(name: string): Int32Array;
  /** The tensor's bytes, as a view into the parsed buffer (no copy). */
  raw(name: string): Uint8Array;
}

const DTYPE_SIZE: Record<SafetensorsDtype, number> = DTYPE_BYTES;
const FLOAT_DTYPES: ReadonlySet<string> = new Set(["F32", "F16", "BF16"]);

/** The reference implementation's limit on the header size, in bytes. */
export const MAX_HEADER_BYTES = 100_000_000;

/** Renders any JSON value for an error message (`undefined` included). */
function show(value: unknown): string {
  return JSON.stringify(value) ?? String(value);
}

function formatShape(shape: number[]): string {
  return `[${shape.join(", ")}]`;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function isNonNegativeInteger(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** Product of the dimensions; `[]` is a scalar with one element. */
function bytesOf(view: DataView): Uint8Array {
  return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
}

function elementCount(shape: number[]): number {
  return shape.reduce((n, d) => n * d, 1);
}

class ParsedSafetensors implements SafetensorsFile {
  constructor(
    readonly source: string,
    readonly metadata: Record<string, string>,
    readonly entries: Map<string, SafetensorsEntry>,
    private readonly data: Uint8Array,
  ) {}

  has(name: string): boolean {
    return this.entries.has(name);
  }

  float32(name: string): Float32Array {
    const { entry, view } = this.lookup(name);
    if (!FLOAT_DTYPES.has(entry.dtype)) {
      throw new Error(
        `Tensor ${show(name)} in ${show(this.source)} is ${entry.dtype}, expected a float tensor`,
      );
    }
    const out = new Float32Array((entry.end - entry.begin) / DTYPE_SIZE[entry.dtype]);
    decodeElements(bytesOf(view), entry.dtype, out, 0, () => {
      throw new Error("unreachable: floats are never narrowed");
    });
    return out;
  }

  int32(name: string): Int32Array {
    const { entry, view } = this.lookup(name);
    if (FLOAT_DTYPES.has(entry.dtype)) {
      throw new Error(
        `Tensor ${show(name)} in ${
          show(this.source)
        } is ${entry.dtype}, expected an integer tensor`,
      );
    }
    const out = new Int32Array((entry.end - entry.begin) / DTYPE_SIZE[entry.dtype]);
    decodeElements(bytesOf(view), entry.dtype, out, 0, (value, i) => {
      throw new Error(
        `Cannot narrow tensor ${show(name)} in ${show(this.source)} to int32: ` +
          `value ${value} at index ${i} is out of range`,
      );
    });
    return out;
  }

  raw(name: string): Uint8Array {
    const { entry } = this.lookup(name);
    return this.data.subarray(entry.begin, entry.end);
  }

  private lookup(name: string): { entry: SafetensorsEntry; view: DataView } {
    const entry = this.entries.get(name);
    if (!entry) throw new Error(`Tensor ${show(name)} not found in ${show(this.source)}`);
    const { buffer, byteOffset } = this.data;
    const view = new DataView(buffer, byteOffset + entry.begin, entry.end - entry.begin);
    return { entry, view };
  }
}

/**
 * Parses and validates a safetensors file. Tensor data is not copied: the returned object reads
 * from `bytes`, so the caller must not modify them afterwards.
 *
 * @param bytes the whole file
 * @param source label used in error messages (file path or URL)
 * @throws Error when the file is malformed, truncated or has overlapping tensors
 *
 * @example
 * ```ts
 * import { encodeSafetensors, parseSafetensors } from "@cosmos/webgpu/safetensors";
 * import assert from "node:assert/strict";
 * const bytes = encodeSafetensors(
 *   { "conv.weight": { dtype: "F32", shape: [2, 2], data: new Float32Array([1, 2, 3, 4]) } },
 *   { format: "pt" },
 * );
 * const file = parseSafetensors(bytes, "conv.safetensors");
 * assert.deepEqual(file.entries.get("conv.weight")?.shape, [2, 2]);
 * assert.deepEqual([...file.float32("conv.weight")], [1, 2, 3, 4]);
 * assert.equal(file.metadata.format, "pt");
 * ```
 */
export function parseSafetensors(bytes: Uint8Array, source = "<bytes>"): SafetensorsFile {
  const { metadata, entries, dataStart } = parseSafetensorsHeader(bytes, bytes.length, source);
  return new ParsedSafetensors(source, metadata, entries, bytes.subarray(dataStart));
}

/** What `parseSafetensorsHeader` reads: the header, and where the data section starts. */
export type SafetensorsHeader = Pick<SafetensorsFile, "metadata" | "entries"> & {
  /** Byte offset of the data section in the file (8 + the header length). */
  dataStart: number;
};

/**
 * Parses and validates the header of a safetensors file of `fileLength` bytes, with the checks
 * and messages of `parseSafetensors` (which calls it), so that a reader taking tensors from the
 * file piece by piece reads only its first bytes, `bytes`: at least the 8 of the header length,
 * and the whole header when the checks accept its length (at most 100 MB, inside the file).
 * Every offset is checked against `fileLength`.
 */
export function parseSafetensorsHeader(
  bytes: Uint8Array,
  fileLength: number,
  source = "<bytes>",
): SafetensorsHeader {
  const fail = (detail: string): never => {
    throw new Error(`Invalid safetensors file ${show(source)}: ${detail}`);
  };

  if (fileLength < 8 || bytes.length < 8) {
    fail(`file has ${fileLength} bytes, too short for the header length`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  // Compare as a BigInt first: a u64 may not fit in a double exactly.
  const headerLength64 = view.getBigUint64(0, true);
  if (headerLength64 > BigInt(MAX_HEADER_BYTES)) {
    fail(`oversized header: ${headerLength64} bytes, the limit is ${MAX_HEADER_BYTES}`);
  }
  const headerLength = Number(headerLength64);
  if (8 + headerLength > fileLength) {
    fail(
      `truncated header: header length is ${headerLength} bytes ` +
        `but only ${fileLength - 8} bytes follow`,
    );
  }

  if (8 + headerLength > bytes.length) throw new Error("parseSafetensorsHeader: bytes end early");
  let text = "";
  try {
    // ignoreBOM keeps a byte order mark in the text, so that JSON.parse rejects it as the
    // reference does.
    text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true })
      .decode(bytes.subarray(8, 8 + headerLength));
  } catch {
    fail("header is not valid UTF-8");
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    fail(`header is not valid JSON: ${(e as Error).message}`);
  }
  if (!isPlainObject(header)) fail("header is not a JSON object");
  const fields = header as Record<string, unknown>;

  const metadata: Record<string, string> = {};
  if (Object.hasOwn(fields, "__metadata__")) {
    const raw = fields.__metadata__;
    if (!isPlainObject(raw)) fail(`__metadata__ is not an object of strings: got ${show(raw)}`);
    for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
      if (typeof value !== "string") {
        fail(`__metadata__ is not an object of strings: key ${show(key)} is ${show(value)}`);
      }
      metadata[key] = value as string;
    }
  }

  const dataLength = fileLength - 8 - headerLength;
  const entries = new Map<string, SafetensorsEntry>();
  for (const [name, info] of Object.entries(fields)) {
    if (name === "__metadata__") continue;
    const tensor = `tensor ${show(name)}`;
    if (!isPlainObject(info)) fail(`${tensor} entry is not an object: got ${show(info)}`);
    const { dtype, shape, data_offsets: offsets } = info as Record<string, unknown>;
    if (dtype === undefined) fail(`${tensor} has no dtype`);
    if (typeof dtype !== "string" || !Object.hasOwn(DTYPE_SIZE, dtype)) {
      fail(
        `${tensor} has unknown dtype ${show(dtype)} ` +
          `(expected one of ${Object.keys(DTYPE_SIZE).join(", ")})`,
      );
    }
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
      fail(
        `${tensor} has invalid shape: expected an array of non-negative integers, got ${
          show(shape)
        }`,
      );
    }
    if (
      !Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isNonNegativeInteger) ||
      offsets[0] > offsets[1]
    ) {
      fail(
        `${tensor} has invalid data_offsets: expected [begin, end] with 0 <= begin <= end, got ${
          show(offsets)
        }`,
      );
    }
    const entry: SafetensorsEntry = {
      name,
      dtype: dtype as SafetensorsDtype,
      shape: shape as number[],
      begin: (offsets as number[])[0],
      end: (offsets as number[])[1],
    };
    // A product beyond 2^53 is inexact but still far above any real byte length, so the
    // comparison stays correct.
    const expected = elementCount(entry.shape) * DTYPE_SIZE[entry.dtype];
    if (entry.end - entry.begin !== expected) {
      fail(
        `${tensor} has ${entry.end - entry.begin} bytes, expected ${expected} ` +
          `(shape ${formatShape(entry.shape)} x ${entry.dtype})`,
      );
    }
    if (entry.end > dataLength) {
      fail(
        `truncated data section: ${tensor} ends at byte ${entry.end} ` +
          `but the data section has only ${dataLength} bytes`,
      );
    }
    entries.set(name, entry);
  }

  // Empty tensors occupy no bytes, so they cannot overlap anything.
  const sorted = [...entries.values()].filter((e) => e.end > e.begin)
    .sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < sorted.length; i++) {
    const [prev, cur] = [sorted[i - 1], sorted[i]];
    if (cur.begin < prev.end) {
      fail(
        `tensors ${show(prev.name)} and ${show(cur.name)} overlap: ${show(prev.name)} spans ` +
          `bytes [${prev.begin}, ${prev.end}) and ${show(cur.name)} begins at ${cur.begin}`,
      );
    }
  }

  return { metadata, entries, dataStart: 8 + headerLength };
}

/** Typed array `encodeSafetensors` expects for each dtype (F16/BF16 as raw bits). */
const DTYPE_ARRAY = {
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I32: Int32Array,
  I64: BigInt64Array,
  U8: Uint8Array,
} as const;

/**
 * The start of a safetensors file: the header's length (u64, little-endian), then the header's
 * JSON padded with spaces to a multiple of 8 bytes. The data section follows it.
 */
export function headerBytes(header: Record<string, unknown>): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const length = Math.ceil(json.length / 8) * 8;
  const head = new Uint8Array(8 + length).fill(0x20);
  new DataView(head.buffer).setBigUint64(0, BigInt(length), true);
  head.set(json, 8);
  return head;
}

/**
 * Encodes tensors as a safetensors file. Tensors are laid out contiguously in the given order;
 * the header JSON is padded with spaces to a multiple of 8 bytes, like the reference writer, and
 * has a `__metadata__` entry only when `metadata` is given.
 *
 * `data` must be a Float32Array for F32, a Uint16Array of raw bits for F16 and BF16, an Int32Array
 * for I32, a BigInt64Array for I64 and a Uint8Array for U8, with product(shape) elements.
 *
 * @throws Error when a tensor's data does not match its dtype or shape, or metadata is not strings
 *
 * @example
 * ```ts
 * import { encodeSafetensors } from "@cosmos/webgpu/safetensors";
 * import assert from "node:assert/strict";
 * const bytes = encodeSafetensors({ x: { dtype: "I32", shape: [3], data: new Int32Array(3) } });
 * const headerBytes = Number(new DataView(bytes.buffer).getBigUint64(0, true));
 * assert.equal(headerBytes % 8, 0); // the JSON header is padded to 8 bytes
 * assert.equal(bytes.length, 8 + headerBytes + 12); // then three int32s
 * ```
 */
export function encodeSafetensors(
  tensors: Record<
    string,
    {
      dtype: SafetensorsDtype;
      shape: number[];
      data: Float32Array | Int32Array | Uint8Array | Uint16Array | BigInt64Array;
    }
  >,
  metadata?: Record<string, string>,
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== "string") {
        throw new Error(`Cannot encode metadata: key ${show(key)} is ${show(value)}, not a string`);
      }
    }
    header.__metadata__ = metadata;
  }

  let offset = 0;
  for (const [name, { dtype, shape, data }] of Object.entries(tensors)) {
    const fail = (detail: string): never => {
      throw new Error(`Cannot encode tensor ${show(name)}: ${detail}`);
    };
    if (name === "__metadata__") fail("the name is reserved for metadata");
    if (!Object.hasOwn(DTYPE_ARRAY, dtype)) fail(`unknown dtype ${show(dtype)}`);
    if (!Array.isArray(shape) || !shape.every(isNonNegativeInteger)) {
      fail(`invalid shape ${show(shape)}`);
    }
    if (!(data instanceof DTYPE_ARRAY[dtype])) {
      fail(`${dtype} data must be a ${DTYPE_ARRAY[dtype].name}, got ${data.constructor.name}`);
    }
    if (data.length !== elementCount(shape)) {
      fail(
        `data has ${data.length} elements, expected ${elementCount(shape)} (shape ${
          formatShape(shape)
        })`,
      );
    }
    const end = offset + data.length * DTYPE_SIZE[dtype];
    header[name] = { dtype, shape, data_offsets: [offset, end] };
    offset = end;
  }

  const head = headerBytes(header);
  const out = new Uint8Array(head.length + offset);
  const view = new DataView(out.buffer);
  out.set(head);

  let pos = head.length;
  for (const { dtype, data: tensorData } of Object.values(tensors)) {
    // F32 is written from its bit patterns so that NaN payloads survive.
    const data = dtype === "F32"
      ? new Uint32Array(tensorData.buffer, tensorData.byteOffset, tensorData.length)
      : tensorData;
    for (let i = 0; i < data.length; i++, pos += DTYPE_SIZE[dtype]) {
      const value = data[i];
      switch (dtype) {
        case "F32":
          view.setUint32(pos, value as number, true);
          break;
        case "F16":
        case "BF16":
          view.setUint16(pos, value as number, true);
          break;
        case "I32":
          view.setInt32(pos, value as number, true);
          break;
        case "I64":
          view.setBigInt64(pos, value as bigint, true);
          break;
        case "U8":
          view.setUint8(pos, value as number);
          break;
      }
    }
  }
  return out;
}
