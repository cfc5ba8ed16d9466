/**
 * Input checks done before any GPU work, with messages that say what was expected.
 * @module
 */

import { fmtShape, type HostTensor, numel } from "../types.ts";

function checkData(t: HostTensor, what: string): void {
  if (!t || typeof t !== "object" || !Array.isArray(t.shape)) {
    throw new Error(`Cannot ${what}: expected a tensor { data, shape }`);
  }
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d > 0)) {
    throw new Error(`Cannot ${what}: invalid shape ${fmtShape(t.shape)}`);
  }
  if (t.data?.length !== numel(t.shape)) {
    throw new Error(
      `Cannot ${what}: shape ${fmtShape(t.shape)} needs ${
        numel(t.shape)
      } values, data has ${t.data?.length}`,
    );
  }
}

/** An image batch [B, 3, H, W] of finite float values with H and W divisible by `factor`. */
export function checkImageInput(t: HostTensor, factor: number): void {
  const what = "encode";
  checkData(t, what);
  if (!(t.data instanceof Float32Array)) {
    throw new Error(`Cannot encode: expected Float32Array data, got ${t.data?.constructor?.name}`);
  }
  if (t.shape.length !== 4) {
    throw new Error(
      `Cannot encode: an image tokenizer takes [B, 3, H, W], got rank ${t.shape.length} ${
        fmtShape(t.shape)
      }`,
    );
  }
  const [, c, h, w] = t.shape;
  if (c !== 3) {
    throw new Error(`Cannot encode: expected 3 channels (RGB), got ${c} in ${fmtShape(t.shape)}`);
  }
  if (h % factor !== 0 || w % factor !== 0) {
    throw new Error(
      `Cannot encode: height and width must be multiples of ${factor} for this model, got ${h}x${w}`,
    );
  }
  const i = t.data.findIndex((v) => !Number.isFinite(v));
  if (i >= 0) {
    throw new Error(`Cannot encode: input has a non-finite value (${t.data[i]}) at index ${i}`);
  }
}

/** A continuous latent [B, C, h, w]. */
export function checkLatentInput(t: HostTensor, channels: number): void {
  checkData(t, "decode");
  if (!(t.data instanceof Float32Array)) {
    throw new Error(
      `Cannot decode: a continuous tokenizer takes a Float32Array latent, got ${t.data?.constructor?.name}`,
    );
  }
  if (t.shape.length !== 4 || t.shape[1] !== channels) {
    throw new Error(
      `Cannot decode: expected a latent [B, ${channels}, h, w], got ${fmtShape(t.shape)}`,
    );
  }
  const i = t.data.findIndex((v) => !Number.isFinite(v));
  if (i >= 0) {
    throw new Error(`Cannot decode: latent has a non-finite value (${t.data[i]}) at index ${i}`);
  }
}

/** FSQ indices [B, h, w] in [0, codebookSize). */
export function checkIndicesInput(t: HostTensor, codebookSize: number): void {
  checkData(t, "decode");
  if (!(t.data instanceof Int32Array)) {
    throw new Error(
      `Cannot decode: a discrete tokenizer takes Int32Array indices, got ${t.data?.constructor?.name}`,
    );
  }
  if (t.shape.length !== 3) {
    throw new Error(`Cannot decode: expected indices [B, h, w], got ${fmtShape(t.shape)}`);
  }
  const i = t.data.findIndex((v) => v < 0 || v >= codebookSize);
  if (i >= 0) {
    throw new Error(
      `Cannot decode: index ${t.data[i]} at position ${i} is outside [0, ${codebookSize})`,
    );
  }
}
