/**
 * The tokenizer's input checks (pixels, latents, FSQ indices), done before anything is queued on
 * the backend, with messages that say what was expected.
 * @module
 */

import { fmtShape, type HostTensor, numel } from "./types.ts";

/** A tensor { data, shape } whose data has as many values as its shape of positive sizes. */
export function checkData(t: HostTensor, what: string): void {
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

/**
 * Pixels of finite float values with H and W divisible by `factor`: an image batch
 * [B, 3, H, W], or for a video tokenizer (`video`) a video batch [B, 3, T, H, W] (the frame
 * count is checked against the windows by the tokenizer).
 */
export function checkImageInput(t: HostTensor, factor: number, video = false): void {
  checkData(t, "encode");
  if (!(t.data instanceof Float32Array)) {
    throw new Error(`Cannot encode: expected Float32Array data, got ${t.data?.constructor?.name}`);
  }
  if (t.shape.length !== (video ? 5 : 4)) {
    const takes = video
      ? "a video tokenizer takes [B, 3, T, H, W]"
      : "an image tokenizer takes [B, 3, H, W]";
    throw new Error(
      `Cannot encode: ${takes}, got rank ${t.shape.length} ${fmtShape(t.shape)}`,
    );
  }
  const c = t.shape[1];
  const [h, w] = t.shape.slice(-2);
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

/** A continuous latent [B, C, h, w] (video: [B, C, t, h, w]). */
export function checkLatentInput(t: HostTensor, channels: number, video = false): void {
  checkData(t, "decode");
  if (!(t.data instanceof Float32Array)) {
    throw new Error(
      `Cannot decode: a continuous tokenizer takes a Float32Array latent, got ${t.data?.constructor?.name}`,
    );
  }
  if (t.shape.length !== (video ? 5 : 4) || t.shape[1] !== channels) {
    throw new Error(
      `Cannot decode: expected a latent [B, ${channels}, ${video ? "t, " : ""}h, w], got ${
        fmtShape(t.shape)
      }`,
    );
  }
  const i = t.data.findIndex((v) => !Number.isFinite(v));
  if (i >= 0) {
    throw new Error(`Cannot decode: latent has a non-finite value (${t.data[i]}) at index ${i}`);
  }
}

/** FSQ indices [B, h, w] (video: [B, t, h, w]) in [0, codebookSize). */
export function checkIndicesInput(t: HostTensor, codebookSize: number, video = false): void {
  checkData(t, "decode");
  if (!(t.data instanceof Int32Array)) {
    throw new Error(
      `Cannot decode: a discrete tokenizer takes Int32Array indices, got ${t.data?.constructor?.name}`,
    );
  }
  if (t.shape.length !== (video ? 4 : 3)) {
    throw new Error(
      `Cannot decode: expected indices [B, ${video ? "t, " : ""}h, w], got ${fmtShape(t.shape)}`,
    );
  }
  const i = t.data.findIndex((v) => v < 0 || v >= codebookSize);
  if (i >= 0) {
    throw new Error(
      `Cannot decode: index ${t.data[i]} at position ${i} is outside [0, ${codebookSize})`,
    );
  }
}
