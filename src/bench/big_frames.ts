/**
 * One encode and decode of a large clip on the WebAssembly backend, official-width CV4x8x8 with
 * random weights: time, the memory's size (the heap can hold at most 4 GiB), what waited outside
 * it (row bands and carried frames) and the RSS at the end of each (the peak: run it under
 * `/usr/bin/time -v`; ops run synchronously, so a sampling timer would not fire during them).
 * For frames whose steps do not fit the heap (4K), which the row bands make possible (README,
 * streaming).
 *
 * usage: deno run -A src/bench/big_frames.ts BxCxTxHxW [--max-tensor-bytes N] [--threads N]
 * @module
 */

import { loadTokenizer } from "../load.ts";
import { randomCheckpoint } from "../testing/random_weights.ts";
import {
  officialVideoArchitecture,
  videoDecoderShapes,
  videoEncoderShapes,
} from "../testing/video_checkpoint.ts";
import { WasmOps } from "../backends/wasm/backend.ts";

const args = Deno.args;
const flag = (name: string) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : undefined;
};
const shape = (args[0] ?? "").split("x").map(Number);
if (shape.length !== 5 || shape.some((v) => !Number.isInteger(v) || v < 1)) {
  console.error("usage: big_frames.ts BxCxTxHxW [--max-tensor-bytes N] [--threads N]");
  Deno.exit(2);
}
const arch = officialVideoArchitecture(false, 8, 4);
const ops = await WasmOps.create({
  threads: flag("threads"),
  maxTensorBytes: flag("max-tensor-bytes"),
  parkedBytes: 16 * 2 ** 30,
});
const tok = await loadTokenizer({
  encoder: randomCheckpoint(videoEncoderShapes(arch), 3),
  decoder: randomCheckpoint(videoDecoderShapes(arch), 4),
  model: "CV4x8x8",
  backend: ops,
});
const n = shape.reduce((a, b) => a * b, 1);
const data = new Float32Array(n);
for (let i = 0; i < n; i++) data[i] = Math.sin(i * 0.001);
const mb = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;
const report = (what: string, t0: number) => {
  const m = ops.memoryStats();
  console.log(
    `${what}: ${((performance.now() - t0) / 1000).toFixed(1)} s; wasm memory ${
      mb(ops.heap.memory.buffer.byteLength)
    }, heap peak ${mb(m.peakAllocated)}; outside it at most ${mb(m.peakParked)} in ${
      mb(m.peakParkedAllocated)
    } of parked memory; ${ops.bandedOps} ops in bands so far; RSS now ${
      mb(Deno.memoryUsage().rss)
    }`,
  );
};
try {
  console.log(`${args[0]} on ${ops.label}, bands over ${mb(ops.maxTensorBytes)}`);
  let t0 = performance.now();
  const enc = await tok.encode({ data, shape });
  report("encode", t0);
  t0 = performance.now();
  const rec = await tok.decode(enc.latent!);
  report(`decode to ${rec.shape.join("x")}`, t0);
  // To compare runs (bands or not, threads): the same input and weights give these.
  const sums = [enc.latent!.data, rec.data].map((d) => {
    let sum = 0;
    for (const v of d) sum += Math.abs(v);
    return sum;
  });
  console.log(
    `sum |latent| ${sums[0].toPrecision(9)}, sum |reconstruction| ${sums[1].toPrecision(9)}`,
  );
} finally {
  await tok.dispose();
}
