/**
 * StepFrames (src/step_frames.ts): frames arriving in pieces of any size gathered into steps,
 * equal to cutting the joined clip, in one buffer that later full steps reuse.
 */

import assert from "node:assert/strict";
import { StepFrames } from "../src/step_frames.ts";
import { concatTime, sliceTime } from "../src/media/windows.ts";
import type { HostTensor } from "../src/types.ts";

/** A [2, 3, t, 2, 5] clip whose every value says where it is (frame `t0` on). */
function clip(t0: number, t: number): HostTensor {
  const shape = [2, 3, t, 2, 5];
  const data = new Float32Array(2 * 3 * t * 10);
  let i = 0;
  for (let o = 0; o < 6; o++) {
    for (let f = 0; f < t; f++) {
      for (let p = 0; p < 10; p++) data[i++] = o * 1000 + (t0 + f) * 10 + p;
    }
  }
  return { data, shape };
}

/** Cuts pieces into steps of `sizes[0]`, then `sizes[1]` frames, as the engine does. */
function gather(pieces: HostTensor[], sizes: [number, number], axis = 2) {
  const held = new StepFrames(axis);
  const steps: HostTensor[] = [];
  const buffers: unknown[] = [];
  const need = () => steps.length === 0 ? sizes[0] : sizes[1];
  const run = () => {
    const t = held.tensor();
    buffers.push(t.data);
    steps.push({ data: t.data.slice(), shape: t.shape });
    held.clear();
  };
  for (const p of pieces) {
    for (let at = 0; at < p.shape[axis];) {
      at += held.take(p, at, need());
      if (held.count === need()) run();
    }
  }
  if (held.count) run();
  return { steps, buffers };
}

Deno.test("step frames: pieces of any size give the steps of the joined clip", () => {
  const whole = clip(0, 14);
  const expected = [[0, 1], [1, 5], [5, 9], [9, 13], [13, 14]].map(([a, b]) =>
    sliceTime(whole, a, b)
  );
  for (const cuts of [[14], [1, 1, 1, 11], [3, 5, 6], [2, 2, 2, 2, 2, 2, 2]]) {
    const pieces: HostTensor[] = [];
    let t = 0;
    for (const n of cuts) pieces.push(clip(t, n)), t += n;
    assert.deepEqual(concatTime(pieces).data, whole.data);
    const { steps } = gather(pieces, [1, 4]);
    assert.equal(steps.length, expected.length, `cuts ${cuts}`);
    steps.forEach((s, i) => {
      assert.deepEqual(s.shape, expected[i].shape, `cuts ${cuts}, step ${i}`);
      assert.deepEqual(s.data, expected[i].data, `cuts ${cuts}, step ${i}`);
    });
  }
});

Deno.test("step frames: full steps reuse one buffer; a step that is one whole piece is not copied", () => {
  const pieces = Array.from({ length: 13 }, (_, t) => clip(t, 1));
  const { buffers } = gather(pieces, [1, 4]);
  // Step 0 (one frame) has its own buffer; steps 1, 2 and 3 (four frames each) share one.
  assert.equal(buffers.length, 4);
  assert.notEqual(buffers[0], buffers[1]);
  assert.equal(buffers[1], buffers[2]);
  assert.equal(buffers[2], buffers[3]);
  const one = clip(0, 1), four = clip(1, 4);
  const whole = gather([one, four], [1, 4]).buffers;
  assert.equal(whole[0], one.data);
  assert.equal(whole[1], four.data);
});

Deno.test("step frames: FSQ indices [B, t, h, w] are gathered along axis 1, as Int32Array", () => {
  const indices = (t0: number, t: number): HostTensor => ({
    data: Int32Array.from({ length: 2 * t * 6 }, (_, i) => {
      const b = Math.floor(i / (t * 6)), f = Math.floor(i / 6) % t;
      return b * 1000 + (t0 + f) * 10 + (i % 6);
    }),
    shape: [2, t, 2, 3],
  });
  const whole = indices(0, 5);
  const { steps } = gather([indices(0, 2), indices(2, 3)], [1, 2], 1);
  assert.deepEqual(steps.map((s) => s.shape), [[2, 1, 2, 3], [2, 2, 2, 3], [2, 2, 2, 3]]);
  assert.ok(steps.every((s) => s.data instanceof Int32Array));
  assert.deepEqual(steps[1].data, sliceTime(whole, 1, 3, 1).data);
  assert.deepEqual(steps[2].data, sliceTime(whole, 3, 5, 1).data);
});
