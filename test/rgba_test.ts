/** The RGB <-> RGBA byte conversions the codecs and the browser's ImageData share (media/rgba.ts). */

import assert from "node:assert/strict";
import { rgbaToRgb, rgbToRgba } from "../src/media/rgba.ts";

Deno.test("rgbaToRgb keeps the first three bytes of each pixel and drops alpha", () => {
  const rgba = new Uint8ClampedArray([1, 2, 3, 40, 5, 6, 7, 0, 9, 10, 11, 255]);
  assert.deepEqual([...rgbaToRgb(rgba, 3)], [1, 2, 3, 5, 6, 7, 9, 10, 11]);
  // Only the pixels asked for: a longer buffer's tail is not read.
  assert.deepEqual([...rgbaToRgb(rgba, 1)], [1, 2, 3]);
});

Deno.test("rgbToRgba writes opaque pixels into the buffer given and returns it", () => {
  const out = new Uint8Array(8).fill(7);
  const got = rgbToRgba(new Uint8Array([10, 20, 30, 40, 50, 60]), out);
  assert.equal(got, out);
  assert.deepEqual([...out], [10, 20, 30, 255, 40, 50, 60, 255]);
  const clamped = rgbToRgba(new Uint8Array([1, 2, 3]), new Uint8ClampedArray(4));
  assert.ok(clamped instanceof Uint8ClampedArray);
  assert.deepEqual([...rgbaToRgb(clamped, 1)], [1, 2, 3]);
});
