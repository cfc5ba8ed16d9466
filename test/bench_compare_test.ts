/**
 * `deno task bench --compare` (src/bench/compare.ts) without the heavy runtimes: its errors, its
 * skip lines, and the reading of its subprocesses' results, with stand-in executables in place
 * of python3 and node; the threads' busy-time accounting and the SIMD peak it prints.
 */

import assert from "node:assert/strict";
import { runCompare } from "../src/bench/compare.ts";
import { kernelPeak, simdPeak } from "../src/bench/peak.ts";
import { WasmOps } from "../src/backends/wasm/backend.ts";
import { convParams } from "../src/nn/params.ts";
import { randomArray } from "./helpers.ts";

/** An executable shell script in a fresh folder that prints `out` and exits with `code`. */
async function fakeTool(out: string, code = 0): Promise<string> {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/tool`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\necho '${out}'\necho 'ValueError: stand-in failed' >&2\nexit ${code}\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

Deno.test("compare: a case without a shape of the variant's rank is refused, saying the form", async () => {
  await assert.rejects(
    runCompare(["--compare", "--cases", "CI8x8:1x3x256"], () => {}),
    /Cannot compare "CI8x8:1x3x256": give VARIANT:SHAPE with a 4-dimensional shape such as CI8x8:1x3x256x256/,
  );
  await assert.rejects(
    runCompare(["--compare", "--cases", "CV4x8x8:1x3x9x128"], () => {}),
    /5-dimensional shape such as CV4x8x8:1x3x9x128x128/,
  );
});

Deno.test("compare: an unknown runtime is refused, naming the known ones", async () => {
  await assert.rejects(
    runCompare(["--compare", "--runtimes", "pytorch,tensorflow"], () => {}),
    /Unknown runtime "tensorflow" in --runtimes: expected some of pytorch,ort-node,ort-web,ours/,
  );
});

Deno.test("compare: runtimes whose tools are absent are skipped with a line saying what to pass", async () => {
  const lines: string[] = [];
  const env = ["COSMOS_REFERENCE", "COSMOS_ORT_MODULES", "COSMOS_ONNX_DIR"];
  const saved = env.map((k) => Deno.env.get(k));
  env.forEach((k) => Deno.env.delete(k));
  try {
    const results = await runCompare(
      ["--compare", "--cases", "CI8x8:1x3x256x256", "--runtimes", "pytorch,ort-node,ort-web"],
      (l) => lines.push(l),
    );
    const row = results["CI8x8 1x3x256x256"];
    assert.match((row.pytorch as { none: string }).none, /skipped: pass --reference DIR/);
    assert.match((row["ort-node"] as { none: string }).none, /skipped: pass --ort-modules DIR/);
    assert.match((row["ort-web"] as { none: string }).none, /skipped: pass --ort-modules DIR/);
    assert.ok(lines.some((l) => l.includes("| CI8x8 1x3x256x256 | PyTorch (reference) | skipped")));
    // The peak is printed with its formula.
    assert.ok(lines.some((l) => /WebAssembly SIMD peak: .*lanes \(f32x4\)|clock unknown/.test(l)));
    // And the micro-kernel's own ceiling beside it.
    assert.ok(
      lines.some((l) => /^GEMM micro-kernel with its operands in L1, one thread: \d/.test(l)),
    );
  } finally {
    env.forEach((k, i) => saved[i] === undefined ? Deno.env.delete(k) : Deno.env.set(k, saved[i]!));
  }
});

Deno.test("compare: subprocess results are read, ratios printed, and a failure says why", async () => {
  const ok = await fakeTool("RESULT 100.0 300.0 2048 2");
  const bad = await fakeTool("no result", 3);
  const ref = await Deno.makeTempDir(), onnx = await Deno.makeTempDir();
  const modules = await Deno.makeTempDir();
  // An export exists: the ONNX columns run node on it instead of exporting.
  await Deno.mkdir(`${onnx}/CI8x8`);
  await Deno.writeTextFile(`${onnx}/CI8x8/decoder.onnx`, "");
  const lines: string[] = [];
  const common = ["--compare", "--cases", "CI8x8:1x3x256x256", "--reference", ref, "--shims", ref];
  const results = await runCompare([
    ...common,
    ...["--onnx", onnx, "--ort-modules", modules, "--python", ok, "--node", bad],
    ...["--runtimes", "pytorch,ort-node"],
  ], (l) => lines.push(l));
  const row = results["CI8x8 1x3x256x256"];
  assert.deepEqual(row.pytorch, { enc: 100, dec: 300, rssMiB: 2 });
  assert.match(
    (row["ort-node"] as { none: string }).none,
    /cannot run \(exit 3\): ValueError: stand-in failed/,
  );
  assert.ok(lines.includes("| CI8x8 1x3x256x256 | PyTorch (reference) | 100 | 300 | 400 | 2 |  |"));
});

Deno.test("wasm: the thread profile counts op time x threads and the part inside kernels", async () => {
  const ops = await WasmOps.create({ threads: 2 });
  try {
    const [cin, cout, h] = [128, 128, 64];
    const w = convParams(
      ops,
      randomArray(cout * cin * 9, 1, -0.1, 0.1),
      [cout, cin, 3, 3],
      new Float32Array(cout),
    );
    const x = ops.upload({ data: randomArray(cin * h * h, 2), shape: [1, cin, h, h] });
    // Workers start in the background: run until both threads take part.
    for (let i = 0; i < 50 && ops.threads < 2; i++) {
      ops.release(ops.conv(x, w, {}));
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(ops.threads, 2);
    ops.startProfiling();
    for (let i = 0; i < 3; i++) ops.release(ops.conv(x, w, {}));
    const prof = ops.stopProfiling().conv3x3;
    const t = ops.threadProfile().conv3x3;
    assert.ok(Math.abs(t.threadMs - 2 * prof.ms) < 1e-6 * t.threadMs + 1e-9);
    // Both threads work in a Winograd convolution: more kernel time than the op's wall time,
    // which the calling thread alone cannot have (the workers' time is counted).
    assert.ok(t.busyMs > prof.ms, `busy ${t.busyMs} ms of ${t.threadMs}`);
    assert.ok(t.busyMs <= t.threadMs * 1.001, `busy ${t.busyMs} ms of ${t.threadMs}`);
    for (const tensor of [x, w.weight, w.bias]) ops.release(tensor);
  } finally {
    ops.destroy();
  }
});

Deno.test("wasm: the measured SIMD peak is positive and the formula names its terms", async () => {
  const ops = await WasmOps.create({ threads: 1 });
  try {
    const peak = simdPeak(ops);
    assert.ok(peak.measured > 0.5, `measured ${peak.measured} GFLOP/s`);
    assert.ok(peak.computed >= peak.measured * 0.5);
    assert.match(
      peak.formula,
      /FMA units x 4 lanes \(f32x4\) x 2 flops x [\d.]+ GHz x 1 threads|clock unknown/,
    );
  } finally {
    ops.destroy();
  }
});

Deno.test("wasm: the GEMM micro-kernel's rate in L1 is measured beside the FMA peak, and not above it", async () => {
  const k = await kernelPeak(5);
  assert.ok(k.fma > 0.5 && k.microKernel > 0.1, `fma ${k.fma}, micro-kernel ${k.microKernel}`);
  // The kernel's multiply-adds are a subset of what independent FMAs can issue (some slack for
  // a shared machine's noise between the two timings).
  assert.ok(k.microKernel <= 1.5 * k.fma, `micro-kernel ${k.microKernel} > fma ${k.fma}`);
});
