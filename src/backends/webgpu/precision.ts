/**
 * Storage precision of the WebGPU backend: which element type float tensors hold in GPU memory,
 * and the host-side conversions to and from it.
 *
 * With precision "f16" weights and activations are stored as IEEE half floats (half the memory
 * and bandwidth) while every kernel computes in f32: loads widen, stores narrow, and sums
 * (GEMM accumulators, GroupNorm statistics, softmax) never round to f16. The small tensors
 * whose precision the results hang on stay f32 whatever the precision: GroupNorm statistics
 * and attention scores. Integer tensors (FSQ indices) are i32 always.
 * Kernels name the element type of their bindings by a WGSL alias the host declares (see
 * pipelines.ts), taken from the tensors bound, so one WGSL source serves both precisions.
 * @module
 */

/** The storage precision of float tensors. */
export type Precision = "f32" | "f16";

/** The precisions a backend may be asked for. */
export const PRECISIONS: readonly Precision[] = ["f32", "f16"];

/** What one element of a GPU tensor is stored as. */
export type ElementType = "f32" | "f16" | "i32";

/** Bytes of one element of each storage type. */
const ELEMENT_BYTES: Record<ElementType, number> = { f32: 4, f16: 2, i32: 4 };

/**
 * Bytes a tensor of `count` elements occupies: whole 4-byte words, since WebGPU copies, writes
 * and storage bindings are sized in multiples of 4 (an odd count of f16 values gets one pad).
 */
export function storageBytes(count: number, element: ElementType): number {
  return Math.ceil((count * ELEMENT_BYTES[element]) / 4) * 4;
}

/** Throws unless `value` names a precision, saying which ones there are. */
export function checkPrecision(value: unknown, where: string): Precision {
  if (!PRECISIONS.includes(value as Precision)) {
    throw new Error(
      `${where}: unknown precision ${JSON.stringify(value)}; expected "f32" or "f16"`,
    );
  }
  return value as Precision;
}

/** The element type all of `elements` share; throws when a kernel would mix f16 and f32. */
export function commonElement(kernel: string, elements: readonly ElementType[]): ElementType {
  const first = elements[0];
  for (const e of elements) {
    if (e !== first) {
      throw new Error(
        `Cannot run ${kernel}: its tensors mix ${first} and ${e} storage (upload every tensor through the same backend)`,
      );
    }
  }
  return first;
}

// ---- host conversions ------------------------------------------------------------------

/** The part of Float16Array used here (typed by hand: not every TypeScript lib declares it). */
type F16Ctor = new (buffer: ArrayBuffer, byteOffset?: number, length?: number) =>
  & ArrayLike<
    number
  >
  & { set(a: ArrayLike<number>): void };

/** The runtime's Float16Array (Deno 2, recent browsers), or undefined for the fallback below. */
const Float16: F16Ctor | undefined = (globalThis as { Float16Array?: F16Ctor }).Float16Array;

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** The half-float bits nearest to `v` (round to nearest even), for runtimes without Float16Array. */
export function f16Bits(v: number): number {
  f32Scratch[0] = v;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0); // inf, NaN
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00; // overflow to infinity
  if (e <= 0) {
    // Subnormal (or zero): shift the implicit bit in, rounding half to even.
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    const half = 1 << (shift - 1);
    const rest = mant & ((1 << shift) - 1);
    let m = mant >>> shift;
    if (rest > half || (rest === half && (m & 1))) m++;
    return sign | m;
  }
  const rest = mant & 0x1fff;
  let h = sign | (e << 10) | (mant >>> 13);
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1))) h++; // may carry into the exponent: correct
  return h;
}

/** The value of half-float bits `h`. */
export function f16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >>> 10) & 0x1f;
  const mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 0x1f) return mant ? NaN : sign * Infinity;
  return sign * (1 + mant / 1024) * 2 ** (exp - 15);
}

/**
 * `values` as half floats in a buffer of `storageBytes(values.length, "f16")` bytes, ready for
 * `writeBuffer` (the pad value, if any, is zero).
 */
export function toF16(values: Float32Array): Uint16Array<ArrayBuffer> {
  const bits = new Uint16Array(storageBytes(values.length, "f16") / 2);
  if (Float16) {
    const h = new Float16(bits.buffer);
    h.set(values);
  } else {
    for (let i = 0; i < values.length; i++) bits[i] = f16Bits(values[i]);
  }
  return bits;
}

/** The first `count` half floats of `bytes`, widened to f32. */
export function fromF16(bytes: ArrayBuffer, count: number): Float32Array<ArrayBuffer> {
  const out = new Float32Array(count);
  if (Float16) {
    out.set(new Float16(bytes, 0, count));
    return out;
  }
  const bits = new Uint16Array(bytes, 0, count);
  for (let i = 0; i < count; i++) out[i] = f16Value(bits[i]);
  return out;
}
