/**
 * Throughput of the CPU kernels (src/backends/wasm/standalone.ts, WebAssembly) next to plain
 * TypeScript loops doing the same computation (the float32 oracles of src/testing/oracle/). Called by the
 * project's bench.
 * @module
 */

import { fsqIndicesToCodes, fsqQuantize, haarPatch } from "../backends/wasm/standalone.ts";
import { tsFsqIndicesToCodes, tsFsqQuantize } from "../testing/oracle/fsq.ts";
import { tsHaarPatch } from "../testing/oracle/haar.ts";
import { DEFAULT_FSQ_LEVELS } from "../backends/fsq.ts";
import { benchGemm } from "./gemm.ts";
import type { HostTensor } from "../types.ts";

/** Deterministic values in [lo, hi). */
function filled(n: number, lo: number, hi: number): Float32Array {
  const out = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    out[i] = lo + (hi - lo) * (s / 4294967296);
  }
  return out;
}

/** Median seconds per call over enough runs to fill about `budget` seconds (at least 3). */
async function time(fn: () => unknown | Promise<unknown>, budget = 0.5): Promise<number> {
  await fn(); // warm-up (instantiation, JIT)
  const times: number[] = [];
  const start = performance.now();
  while (times.length < 3 || (performance.now() - start < budget * 1000 && times.length < 50)) {
    const t0 = performance.now();
    await fn();
    times.push((performance.now() - t0) / 1000);
  }
  times.sort((a, b) => a - b);
  return times[times.length >> 1];
}

function line(name: string, wasm: number, ts: number, unit: string, digits = 0): string {
  return `${name}: wasm ${wasm.toFixed(digits)} ${unit}, TS ${ts.toFixed(digits)} ${unit} ` +
    `(${(wasm / ts).toFixed(1)}x)`;
}

/**
 * Measures Haar patching (2D 1x3x512x512, 3D 1x3x17x256x256; MB/s of float32 input) and FSQ
 * quantize / indices-to-codes (million positions per second, 1M positions, levels
 * [8, 8, 8, 5, 5, 5]), then the SGEMM and Winograd convolution of src/bench/gemm.ts
 * (single-thread GFLOP/s, plain and relaxed SIMD); returns one printable line per measurement.
 */
export async function benchCpu(): Promise<string[]> {
  const lines: string[] = [];
  const haarCases: [string, number[]][] = [
    ["haar2d patch", [1, 3, 512, 512]],
    ["haar3d patch", [1, 3, 17, 256, 256]],
  ];
  for (const [name, shape] of haarCases) {
    const x: HostTensor = { data: filled(shape.reduce((a, b) => a * b), -1, 1), shape };
    const mb = x.data.byteLength / 1e6;
    const wasm = await time(() => haarPatch(x, 4));
    const ts = await time(() => tsHaarPatch(x, 4));
    lines.push(line(`${name} ${shape.join("x")} p4`, mb / wasm, mb / ts, "MB/s"));
  }
  const levels = DEFAULT_FSQ_LEVELS;
  const positions = 1 << 20;
  const z: HostTensor = {
    data: filled(levels.length * positions, -3, 3),
    shape: [1, levels.length, positions],
  };
  const m = positions / 1e6;
  const q = await fsqQuantize(z, levels);
  lines.push(line(
    `fsqQuantize ${positions} positions`,
    m / await time(() => fsqQuantize(z, levels)),
    m / await time(() => tsFsqQuantize(z, levels)),
    "M codes/s",
    1,
  ));
  lines.push(line(
    `fsqIndicesToCodes ${positions} positions`,
    m / await time(() => fsqIndicesToCodes(q.indices, levels)),
    m / await time(() => tsFsqIndicesToCodes(q.indices, levels)),
    "M codes/s",
    1,
  ));
  lines.push(...await benchGemm());
  return lines;
}

if (import.meta.main) {
  for (const l of await benchCpu()) console.log(l);
}
