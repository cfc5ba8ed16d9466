/**
 * Ops.joinFrames on both backends: frame ranges of video tensors joined along time, against the
 * same done on the host with plain loops; slices, B = 2, the same tensor twice, i32; every error
 * path with its message; inputs left intact; memory returned; the "frames" profile family; and
 * parked results (`park`: stream state kept, on WebAssembly, outside the heap).
 */

import assert from "node:assert/strict";
import { kernelTest, randomArray } from "./helpers.ts";
import type { Backend, FrameRange, Tensor } from "../src/backends/ops.ts";
import type { HostTensor } from "../src/types.ts";

const numel = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** A host range: the data of a [B, C, T, H, W] tensor and the frames taken from it. */
interface HostRange {
  x: HostTensor;
  from: number;
  to: number;
}

/** Ops.joinFrames on the host, with plain loops over (b, c, t, h * w). */
function hostJoin(parts: HostRange[]): HostTensor {
  const [b, c, , h, w] = parts[0].x.shape;
  const hw = h * w;
  const tOut = parts.reduce((n, p) => n + p.to - p.from, 0);
  const data = parts[0].x.data instanceof Int32Array
    ? new Int32Array(b * c * tOut * hw)
    : new Float32Array(b * c * tOut * hw);
  for (let bi = 0; bi < b; bi++) {
    for (let ci = 0; ci < c; ci++) {
      let tDst = 0;
      for (const { x, from, to } of parts) {
        const tIn = x.shape[2];
        for (let t = from; t < to; t++, tDst++) {
          for (let k = 0; k < hw; k++) {
            data[((bi * c + ci) * tOut + tDst) * hw + k] =
              x.data[((bi * c + ci) * tIn + t) * hw + k];
          }
        }
      }
    }
  }
  return { data, shape: [b, c, tOut, h, w] };
}

/** Random f32 video data of `shape`. */
function video(shape: number[], seed: number): HostTensor {
  return { data: randomArray(numel(shape), seed), shape };
}

/**
 * Uploads the inputs, joins the ranges (`ranges[i]` names its input by index), checks the result
 * against the host, then that the inputs are unchanged and still usable, and that releasing the
 * result and the inputs gives back every byte.
 */
async function checkJoin(
  ops: Backend,
  inputs: HostTensor[],
  ranges: [input: number, from: number, to: number][],
): Promise<void> {
  const before = ops.memoryStats().inUse;
  const xs = inputs.map((x) => ops.upload(x));
  const afterUpload = ops.memoryStats().inUse;
  const parts: FrameRange[] = ranges.map(([i, from, to]) => ({ tensor: xs[i], from, to }));
  const y = ops.joinFrames(parts);
  const expected = hostJoin(ranges.map(([i, from, to]) => ({ x: inputs[i], from, to })));
  assert.deepEqual(y.shape, expected.shape);
  assert.equal(y.dtype, xs[0].dtype);
  const got = await ops.read(y);
  assert.deepEqual(got.shape, expected.shape);
  assert.deepEqual(got.data, expected.data);
  assert.ok(ops.memoryStats().inUse > afterUpload, "the result holds memory of its own");
  ops.release(y);
  assert.equal(ops.memoryStats().inUse, afterUpload, "releasing the result frees its bytes");
  // The inputs: unchanged, not released, and usable by another op.
  for (const [i, x] of xs.entries()) assert.deepEqual(await ops.read(x), inputs[i]);
  const again = ops.joinFrames([{ tensor: xs[0], from: 0, to: inputs[0].shape[2] }]);
  assert.deepEqual(await ops.read(again), inputs[0]);
  ops.release(again);
  for (const x of xs) ops.release(x);
  assert.equal(ops.memoryStats().inUse, before);
}

kernelTest("joinFrames() of three parts with different frame counts and ranges", async (ops) => {
  const inputs = [
    video([1, 3, 5, 2, 3], 901),
    video([1, 3, 2, 2, 3], 902),
    video([1, 3, 4, 2, 3], 903),
  ];
  // 3 + 2 + 1 frames: the middle of the first, all of the second, the last of the third.
  await checkJoin(ops, inputs, [[0, 1, 4], [1, 0, 2], [2, 3, 4]]);
});

kernelTest("joinFrames() of one part with a sub-range is a slice", async (ops) => {
  await checkJoin(ops, [video([1, 4, 6, 3, 5], 911)], [[0, 2, 5]]);
  // One frame, at either end.
  await checkJoin(ops, [video([1, 4, 6, 3, 5], 912)], [[0, 0, 1]]);
  await checkJoin(ops, [video([1, 4, 6, 3, 5], 913)], [[0, 5, 6]]);
});

kernelTest("joinFrames() with B = 2, and the same tensor twice (a temporal carry)", async (ops) => {
  const inputs = [video([2, 3, 4, 2, 2], 921), video([2, 3, 3, 2, 2], 922)];
  // The last 2 frames of the previous step, then the new step, then its first frame again.
  await checkJoin(ops, inputs, [[0, 2, 4], [1, 0, 3], [1, 0, 1]]);
  // Odd frame sizes (H * W = 7) and one channel.
  await checkJoin(ops, [video([2, 1, 3, 1, 7], 923), video([2, 1, 5, 1, 7], 924)], [
    [1, 1, 5],
    [0, 0, 3],
  ]);
});

kernelTest("joinFrames() of i32 tensors copies their values exactly", async (ops) => {
  const shape = [1, 2, 3, 2, 2];
  const a = Int32Array.from({ length: numel(shape) }, (_, i) => (i * 2654435761) | 0);
  const b = Int32Array.from({ length: numel(shape) }, (_, i) => -i - 1);
  await checkJoin(ops, [{ data: a, shape }, { data: b, shape }], [[0, 1, 3], [1, 0, 2]]);
});

kernelTest("joinFrames() throws on bad parts, before allocating anything", (ops) => {
  const x = ops.upload(video([1, 8, 5, 4, 4], 931));
  const other = ops.upload(video([1, 8, 3, 4, 4], 932));
  const wrongC = ops.upload(video([1, 4, 5, 4, 4], 933));
  const wrongW = ops.upload(video([1, 8, 5, 4, 2], 934));
  const wrongB = ops.upload(video([2, 8, 5, 4, 4], 935));
  const image = ops.upload(video([1, 8, 4, 4], 936));
  const ints = ops.upload({ data: new Int32Array(8 * 5 * 16), shape: [1, 8, 5, 4, 4] });
  const inUse = ops.memoryStats().inUse;
  const join = (parts: FrameRange[]) => () => ops.joinFrames(parts);
  const whole = (tensor: Tensor): FrameRange => ({ tensor, from: 0, to: tensor.shape[2] });
  assert.throws(join([]), /Cannot join frames: no parts given/);
  assert.throws(
    join([whole(x), { tensor: image, from: 0, to: 1 }]),
    /Cannot join frames: part 1 is \[1, 8, 4, 4\], expected a video tensor \[B, C, T, H, W\]/,
  );
  assert.throws(
    join([{ tensor: image, from: 0, to: 1 }]),
    /Cannot join frames: part 0 is \[1, 8, 4, 4\], expected a video tensor/,
  );
  assert.throws(
    join([whole(x), whole(other), whole(wrongC)]),
    /Cannot join frames: part 2 is \[1, 4, 5, 4, 4\], expected B, C, H, W of \[1, 8, 5, 4, 4\]/,
  );
  assert.throws(
    join([whole(x), whole(wrongW)]),
    /Cannot join frames: part 1 is \[1, 8, 5, 4, 2\], expected B, C, H, W of \[1, 8, 5, 4, 4\]/,
  );
  assert.throws(
    join([whole(x), whole(wrongB)]),
    /Cannot join frames: part 1 is \[2, 8, 5, 4, 4\], expected B, C, H, W of \[1, 8, 5, 4, 4\]/,
  );
  assert.throws(join([whole(x), whole(ints)]), /Cannot join frames: part 1 holds i32, part 0 f32/);
  assert.throws(
    join([{ tensor: x, from: 0.5, to: 2 }]),
    /Cannot join frames: part 0's range \[0\.5, 2\) is not two integers/,
  );
  assert.throws(
    join([whole(x), { tensor: other, from: 0, to: NaN }]),
    /Cannot join frames: part 1's range \[0, NaN\) is not two integers/,
  );
  assert.throws(
    join([{ tensor: x, from: -1, to: 2 }]),
    /Cannot join frames: part 0's range \[-1, 2\) is outside its 5 frames \[1, 8, 5, 4, 4\]/,
  );
  assert.throws(
    join([whole(x), { tensor: other, from: 1, to: 4 }]),
    /Cannot join frames: part 1's range \[1, 4\) is outside its 3 frames \[1, 8, 3, 4, 4\]/,
  );
  assert.throws(
    join([{ tensor: x, from: 2, to: 2 }]),
    /Cannot join frames: part 0's range \[2, 2\) is empty \(from must be below to\)/,
  );
  assert.throws(
    join([whole(x), { tensor: x, from: 3, to: 1 }]),
    /Cannot join frames: part 1's range \[3, 1\) is empty/,
  );
  assert.equal(ops.memoryStats().inUse, inUse, "a failed join allocates nothing");
  // A released part is the runtime's usual error.
  ops.release(other);
  assert.throws(join([whole(x), whole(other)]), /Tensor \[1, 8, 3, 4, 4\] was used after release/);
  // The inputs of failed joins are untouched and usable.
  const y = ops.joinFrames([{ tensor: x, from: 4, to: 5 }, whole(x)]);
  assert.deepEqual(y.shape, [1, 8, 6, 4, 4]);
  ops.release(y);
  for (const t of [x, wrongC, wrongW, wrongB, image, ints]) ops.release(t);
});

kernelTest('joinFrames() is profiled under the family "frames"', async (ops, backend) => {
  const x = ops.upload(video([1, 2, 4, 2, 2], 941));
  if (!ops.startProfiling()) {
    ops.release(x);
    return;
  }
  let profile;
  try {
    const y = ops.joinFrames([{ tensor: x, from: 1, to: 3 }, { tensor: x, from: 0, to: 4 }]);
    await ops.flush();
    ops.release(y);
  } finally {
    profile = ops.stopProfiling();
  }
  ops.release(x);
  assert.ok(profile.frames, `no "frames" family in ${JSON.stringify(profile)}`);
  // WebGPU: one dispatch per part; WebAssembly: one timed copy loop per join.
  assert.equal(profile.frames.dispatches, backend === "webgpu" ? 2 : 1);
  assert.equal(profile.frames.flops, 0);
});

kernelTest(
  "joinFrames() with park: the same frames, joined again, read and released",
  async (ops) => {
    const inputs = [video([2, 3, 4, 2, 3], 951), video([2, 3, 3, 2, 3], 952)];
    const xs = inputs.map((x) => ops.upload(x));
    const start = ops.memoryStats();
    // A carry (the last 2 frames), then a growing cache: the carry, all of step 2, and a slice of
    // the cache (parts of parked tensors, whole and partial).
    const carry = ops.joinFrames([{ tensor: xs[0], from: 2, to: 4 }], { park: true });
    const cache = ops.joinFrames([{ tensor: carry, from: 0, to: 2 }, {
      tensor: xs[1],
      from: 0,
      to: 3,
    }], { park: true });
    const slice = ops.joinFrames([{ tensor: cache, from: 1, to: 4 }], { park: true });
    const carryHost = hostJoin([{ x: inputs[0], from: 2, to: 4 }]);
    const cacheHost = hostJoin([{ x: inputs[0], from: 2, to: 4 }, {
      x: inputs[1],
      from: 0,
      to: 3,
    }]);
    assert.deepEqual((await ops.read(carry)).data, carryHost.data);
    assert.deepEqual(await ops.read(cache), cacheHost);
    assert.deepEqual(await ops.read(slice), hostJoin([{ x: cacheHost, from: 1, to: 4 }]));
    // Joined back into working memory, with an ordinary tensor, for a kernel to read.
    const work = ops.joinFrames([{ tensor: cache, from: 0, to: 5 }, {
      tensor: xs[0],
      from: 0,
      to: 1,
    }]);
    assert.deepEqual(
      await ops.read(work),
      hostJoin([{ x: cacheHost, from: 0, to: 5 }, { x: inputs[0], from: 0, to: 1 }]),
    );
    const scaled = ops.upsample(work, "space");
    assert.deepEqual(scaled.shape, [2, 3, 6, 4, 6]);
    for (const t of [scaled, work, slice, cache, carry]) ops.release(t);
    assert.throws(() => ops.release(cache), /Tensor \[2, 3, 5, 2, 3\] was used after release/);
    assert.throws(
      () => ops.joinFrames([{ tensor: carry, from: 0, to: 1 }]),
      /Tensor \[2, 3, 2, 2, 3\] was used after release/,
    );
    const end = ops.memoryStats();
    assert.equal(end.inUse, start.inUse);
    assert.equal(end.parked, 0, "releasing the parked tensors gives back their bytes");
    for (const x of xs) ops.release(x);
  },
);

kernelTest(
  "joinFrames() with park keeps the state out of the WebAssembly heap",
  (ops, backend) => {
    const step = [1, 4, 1, 8, 8], frame = 4 * 64 * 4;
    const x = ops.upload(video(step, 961));
    ops.resetPeak();
    const before = ops.memoryStats();
    const kept = ops.joinFrames([{ tensor: x, from: 0, to: 1 }], { park: true });
    const after = ops.memoryStats();
    if (backend === "webgpu") {
      // GPU memory has no address-space limit: parked state is an ordinary tensor.
      assert.equal(after.parked, 0);
      ops.release(ops.upsample(kept, "space"));
      ops.release(kept);
      ops.release(x);
      return;
    }
    assert.equal(after.inUse, before.inUse, "nothing of the heap");
    assert.equal(after.parked, frame);
    // A cache growing a step at a time shares its earlier frames: each step adds its own bytes.
    let cache = kept;
    for (let t = 1; t <= 3; t++) {
      const next = ops.joinFrames([{ tensor: cache, from: 0, to: t }, {
        tensor: x,
        from: 0,
        to: 1,
      }], {
        park: true,
      });
      ops.release(cache);
      cache = next;
      assert.equal(ops.memoryStats().parked, (t + 1) * frame, `step ${t}`);
    }
    assert.equal(ops.memoryStats().peakParked, 4 * frame, "no frame held twice");
    // Kernels refuse a parked tensor, saying what it is.
    assert.throws(
      () => ops.upsample(cache, "space"),
      /Tensor \[1, 4, 4, 8, 8\] is parked \(stream state kept outside the heap\): only joinFrames, read, release, conv's context and attention's keysValues take it/,
    );
    ops.release(cache);
    assert.equal(ops.memoryStats().parked, 0);
    ops.release(x);
  },
);
