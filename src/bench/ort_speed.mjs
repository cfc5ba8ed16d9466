// Encode and decode times of an exported tokenizer (src/bench/reference_onnx.py) under ONNX
// Runtime in Node: the ONNX Runtime columns of `deno task bench --compare`.
//
// usage: node src/bench/ort_speed.mjs node|web NODE_MODULES ONNX_DIR SHAPE THREADS REPEATS [WARMUPS]
//   node: onnxruntime-node (native CPU kernels); web: onnxruntime-web (WebAssembly SIMD and
//   threads). NODE_MODULES is the folder holding the package (`npm i onnxruntime-node@1.30.0
//   onnxruntime-web@1.30.0` somewhere outside the repository). One warm-up run, then REPEATS
//   timed runs. Prints one line: RESULT <encode ms> <decode ms> <peak RSS KiB> <threads>.
import { createRequire } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import process from "node:process";

const [kind, modules, dir, shapeArg, threadsArg, repsArg, warmArg] = process.argv.slice(2);
const shape = shapeArg.split("x").map(Number);
const threads = Number(threadsArg), reps = Number(repsArg), warmups = Number(warmArg ?? 1);
// The package is resolved from NODE_MODULES, not from this file's folder.
const require = createRequire(join(modules, "resolve-from-here.js"));
const pkg = kind === "node" ? "onnxruntime-node" : "onnxruntime-web";
const loaded = await import(pathToFileURL(require.resolve(pkg)).href);
const ort = loaded.default ?? loaded;
let opts;
if (kind === "node") {
  opts = {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    graphOptimizationLevel: "all",
    executionProviders: ["cpu"],
  };
} else {
  ort.env.wasm.numThreads = threads;
  ort.env.wasm.simd = true;
  opts = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
}
// onnxruntime-web takes the model's bytes; onnxruntime-node a path.
const model = (f) => kind === "node" ? f : new Uint8Array(readFileSync(f));
const enc = await ort.InferenceSession.create(model(join(dir, "encoder.onnx")), opts);
const dec = await ort.InferenceSession.create(model(join(dir, "decoder.onnx")), opts);
const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.001) * 0.9;
let te = Infinity, td = Infinity;
for (let r = 0; r < warmups + reps; r++) {
  const t0 = performance.now();
  const z = (await enc.run({ x: new ort.Tensor("float32", data, shape) })).z;
  const t1 = performance.now();
  await dec.run({ z });
  const t2 = performance.now();
  if (r >= warmups) [te, td] = [Math.min(te, t1 - t0), Math.min(td, t2 - t1)];
}
const rss = process.resourceUsage().maxRSS;
console.log(`RESULT ${te.toFixed(1)} ${td.toFixed(1)} ${rss} ${threads}`);
process.exit(0);
