/**
 * Single-thread GFLOP/s of the WebAssembly SGEMM (asm/gemm.ts) and Winograd 3x3 convolution
 * (asm/winograd.ts), in both embedded builds: plain SIMD (multiply then add) and relaxed SIMD
 * (fused multiply-add).
 * Winograd rates are "effective": the direct convolution's 2 Cout Cin 9 H W over the time.
 * Also the Winograd error against a float64 direct convolution (a few output channels) on
 * kaiming-like weights N(0, 1 / (9 Cin)) and N(0, 1) inputs. The best of a few runs is reported,
 * the machine may be shared. Called by src/bench/cpu.ts; `deno run -A src/bench/gemm.ts`.
 * @module
 */

import {
  callKernel,
  CpuWasm,
  hasRelaxedSimd,
  instantiateKernels,
  kernelModule,
  type WasmVariant,
} from "../backends/wasm/kernels.ts";

async function instantiate(variant: WasmVariant): Promise<CpuWasm> {
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 65536 });
  return new CpuWasm(await instantiateKernels(await kernelModule(variant), memory), memory);
}

/** Normal deviates (Box-Muller on a fixed LCG), scaled by `sd`. */
function gauss(n: number, seed: number, sd: number): Float32Array {
  let s = seed >>> 0;
  const u = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s + 0.5) / 4294967296;
  };
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(u())), t = 2 * Math.PI * u();
    out[i] = sd * r * Math.cos(t);
    if (i + 1 < n) out[i + 1] = sd * r * Math.sin(t);
  }
  return out;
}

/** Best seconds of `reps` runs after one warm-up. */
function best(fn: () => void, reps: number): number {
  fn();
  let t = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    fn();
    t = Math.min(t, (performance.now() - t0) / 1000);
  }
  return t;
}

/** Seconds of one C = A B of the given shape (A [m, k], B [k, n] row-major). */
function timeGemm(w: CpuWasm, m: number, n: number, k: number, reps: number): number {
  const [pa, pb, pc, ps] = w.reserve(
    "bench gemm",
    m * k * 4,
    k * n * 4,
    m * n * 4,
    w.k.gemmScratchBytes(m, n, k),
  );
  w.f32(pa, m * k).set(gauss(m * k, 1, 1));
  w.f32(pb, k * n).set(gauss(k * n, 2, 1));
  const args = {
    m0: 0,
    m1: m,
    n0: 0,
    n1: n,
    K: k,
    a: pa,
    sam: k,
    sak: 1,
    b: pb,
    sbk: n,
    sbn: 1,
    c: pc,
    ldc: n,
    bias: 0,
    accumulate: 0,
    scratch: ps,
  };
  return best(() => callKernel(w.k, "gemm", args), reps);
}

interface ConvSetup {
  w: CpuWasm;
  px: number;
  pu: number;
  pb: number;
  py: number;
  ps: number;
  x: Float32Array;
  wt: Float32Array;
}

function setupConv(w: CpuWasm, c: number, h: number, wd: number): ConvSetup {
  const nx = c * (h + 2) * (wd + 2);
  const [px, pw, pu, pb, py, ps] = w.reserve(
    "bench winograd",
    nx * 4,
    c * c * 9 * 4,
    w.k.winogradWeightsBytes(c, c),
    c * 4,
    c * h * wd * 4,
    w.k.winogradScratchBytes(c, c),
  );
  const x = new Float32Array(nx);
  const inner = gauss(c * h * wd, 3, 1);
  for (let ci = 0; ci < c; ci++) {
    for (let i = 0; i < h; i++) {
      const row = (ci * (h + 2) + i + 1) * (wd + 2) + 1;
      x.set(inner.subarray((ci * h + i) * wd, (ci * h + i + 1) * wd), row);
    }
  }
  const wt = gauss(c * c * 9, 4, Math.sqrt(1 / (9 * c)));
  w.f32(px, nx).set(x);
  w.f32(pw, wt.length).set(wt);
  w.f32(pb, c).fill(0);
  callKernel(w.k, "winogradWeights", { w: pw, u: pu, cout: c, cin: c });
  return { w, px, pu, pb, py, ps, x, wt };
}

function timeConv(s: ConvSetup, c: number, h: number, wd: number, reps: number): number {
  const tiles = Math.ceil(h / 4) * Math.ceil(wd / 4);
  const args = {
    x: s.px,
    u: s.pu,
    bias: s.pb,
    res: 0,
    y: s.py,
    cin: c,
    cout: c,
    h,
    w: wd,
    frames: 1,
    ys: h * wd,
    t0: 0,
    t1: tiles,
    scratch: s.ps,
  };
  return best(() => callKernel(s.w.k, "winogradConv", args), reps);
}

/** max |winograd - float64 direct| / max |direct| over the first `co` output channels. */
function convError(c: number, h: number, wd: number, s: ConvSetup, co: number): number {
  const y = s.w.f32(s.py, c * h * wd);
  const hp = h + 2, wp = wd + 2;
  let maxRef = 0, maxErr = 0;
  for (let o = 0; o < co; o++) {
    for (let i = 0; i < h; i++) {
      for (let j = 0; j < wd; j++) {
        let sum = 0;
        for (let ci = 0; ci < c; ci++) {
          const wb = (o * c + ci) * 9, xb = (ci * hp + i) * wp + j;
          for (let u = 0; u < 3; u++) {
            for (let v = 0; v < 3; v++) sum += s.wt[wb + u * 3 + v] * s.x[xb + u * wp + v];
          }
        }
        maxRef = Math.max(maxRef, Math.abs(sum));
        maxErr = Math.max(maxErr, Math.abs(y[(o * h + i) * wd + j] - sum));
      }
    }
  }
  return maxErr / maxRef;
}

/** One printable line per measurement. */
export async function benchGemm(reps = 3): Promise<string[]> {
  const lines: string[] = [];
  const variants: [string, CpuWasm][] = [["plain", await instantiate("simd")]];
  if (hasRelaxedSimd()) variants.push(["relaxed", await instantiate("relaxed")]);
  const gemms: [string, number, number, number][] = [
    ["3x3 conv 512->512 @ 64x64 as im2col", 512, 4096, 4608],
    ["3x3 conv 256->256 @ 128x128 as im2col", 256, 16384, 2304],
    ["1x1 conv 512->512 @ 64x64", 512, 4096, 512],
  ];
  const gemmTime = new Map<string, number>();
  for (const [name, m, n, k] of gemms) {
    const parts: string[] = [];
    for (const [v, w] of variants) {
      const t = timeGemm(w, m, n, k, reps);
      gemmTime.set(`${v} ${name}`, t);
      parts.push(`${v} ${(2 * m * n * k / t / 1e9).toFixed(1)}`);
    }
    lines.push(`gemm ${m}x${n}x${k} (${name}): ${parts.join(", ")} GFLOP/s`);
  }
  const convs: [number, number][] = [[512, 64], [256, 128]];
  for (const [c, h] of convs) {
    const parts: string[] = [];
    let err = 0;
    for (const [v, w] of variants) {
      const s = setupConv(w, c, h, h);
      const t = timeConv(s, c, h, h, reps);
      const flops = 2 * c * c * 9 * h * h;
      const viaGemm = gemmTime.get(`${v} 3x3 conv ${c}->${c} @ ${h}x${h} as im2col`)!;
      parts.push(
        `${v} ${(flops / t / 1e9).toFixed(1)} (${(viaGemm / t).toFixed(2)}x the im2col GEMM)`,
      );
      err = Math.max(err, convError(c, h, h, s, 4));
    }
    lines.push(
      `winograd F(4x4,3x3) ${c}->${c} @ ${h}x${h}: ${parts.join(", ")} effective GFLOP/s; ` +
        `max |err| / max |ref| ${err.toExponential(1)}`,
    );
  }
  return lines;
}

if (import.meta.main) {
  for (const l of await benchGemm()) console.log(l);
}
