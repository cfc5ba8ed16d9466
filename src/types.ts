/**
 * Types shared by the public API and the backends.
 * @module
 */

/**
 * A tensor in host memory: row-major, batch-first, channels-first ([B, C, H, W] or
 * [B, C, T, H, W]), as the reference lays tensors out.
 */
export interface HostTensor {
  /** The elements in row-major order: pixels, latents and codes in f32, FSQ indices in i32. */
  data: Float32Array | Int32Array;
  /** The extent of each axis; their product is `data.length`. */
  shape: number[];
}

/** Number of elements of a shape. */
export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** "[1, 3, 64, 64]" for messages. */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
