/**
 * Tensor elements as safetensors stores them (little-endian F32, F16, BF16, I32, I64, U8) to the
 * f32 and int32 arrays the backends take: the one conversion, for whole files in memory
 * (safetensors.ts) and for ranges read from disk (the CLI's token files).
 * @module
 */

/** Bytes per element of each stored type. */
export const DTYPE_BYTES = { F32: 4, F16: 2, BF16: 2, I32: 4, I64: 8, U8: 1 } as const;

/**
 * Exact IEEE 754 binary16 to number conversion, including subnormals, infinities and NaN.
 * Every half value is exactly representable in f32 and f64, so no rounding happens.
 *
 * @example
 * ```ts
 * import { f16ToF32 } from "@cosmos/webgpu/safetensors";
 * import assert from "node:assert/strict";
 * assert.equal(f16ToF32(0x3c00), 1);
 * assert.equal(f16ToF32(0x0001), 2 ** -24); // the smallest subnormal
 * ```
 */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const mantissa = bits & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24; // zero or subnormal
  if (exponent === 0x1f) return mantissa ? NaN : sign * Infinity;
  return sign * (0x400 + mantissa) * 2 ** (exponent - 25);
}

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/**
 * bfloat16 to number: bfloat16 is the upper half of an f32, so shift and reinterpret.
 *
 * @example
 * ```ts
 * import { bf16ToF32 } from "@cosmos/webgpu/safetensors";
 * import assert from "node:assert/strict";
 * assert.equal(bf16ToF32(0x3fc0), 1.5);
 * ```
 */
export function bf16ToF32(bits: number): number {
  scratchU32[0] = (bits & 0xffff) << 16;
  return scratchF32[0];
}

/** Whether this machine stores numbers little-endian, as safetensors does (x86 and ARM do). */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/**
 * Elements of `dtype` from little-endian `bytes` into `out` from index `at`: floats (F32, F16,
 * BF16) into a Float32Array, integers (I32, U8, I64) into an Int32Array; an I64 outside int32
 * goes to `outOfRange` (which throws). F32, I32 and BF16 keep their bit patterns (NaN payloads).
 * The one conversion of stored tensors, for whole files and for ranges read from disk.
 */
export function decodeElements(
  bytes: Uint8Array,
  dtype: string,
  out: Float32Array | Int32Array,
  at: number,
  outOfRange: (value: bigint, index: number) => never,
): void {
  const count = bytes.length / DTYPE_BYTES[dtype as keyof typeof DTYPE_BYTES];
  if ((dtype === "F32" || dtype === "I32") && LITTLE_ENDIAN) {
    new Uint8Array(out.buffer, out.byteOffset + 4 * at, 4 * count).set(bytes);
    return;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (dtype === "F32") {
    for (let i = 0; i < count; i++) {
      out[at + i] = view.getFloat32(i * 4, true);
    }
  } else if (dtype === "I32") {
    for (let i = 0; i < count; i++) out[at + i] = view.getInt32(i * 4, true);
  } else if (dtype === "F16") {
    for (let i = 0; i < count; i++) out[at + i] = f16ToF32(view.getUint16(i * 2, true));
  } else if (dtype === "BF16") {
    // bfloat16 is the upper half of an f32: write the bit patterns.
    const bits = new Uint32Array(out.buffer, out.byteOffset + 4 * at, count);
    for (let i = 0; i < count; i++) bits[i] = view.getUint16(i * 2, true) << 16;
  } else if (dtype === "U8") { for (let i = 0; i < count; i++) out[at + i] = view.getUint8(i); }
  else {
    for (let i = 0; i < count; i++) {
      const value = view.getBigInt64(i * 8, true);
      if (value < -0x80000000n || value > 0x7fffffffn) outOfRange(value, i);
      out[at + i] = Number(value);
    }
  }
}
