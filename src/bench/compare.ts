/**
 * `deno task bench --compare`: encode and decode of the same official-width tokenizers (seed-0
 * random weights, float32) timed in one run by PyTorch (the reference, subprocess
 * src/bench/reference_speed.py), ONNX Runtime native and Web (subprocess node on
 * src/bench/ort_speed.mjs over an export of the reference by src/bench/reference_onnx.py) and
 * this package's WebAssembly backend, side by side with the ratios; then, per case, our op
 * families' effective GFLOP/s, their fraction of this machine's WebAssembly SIMD peak, and the
 * threads' idle time. A runtime whose tools are absent is skipped with a line saying what to
 * pass; one that fails says so and the others go on.
 * @module
 */

import { WasmOps } from "../backends/wasm/backend.ts";
import { loadTokenizer } from "../load.ts";
import {
  imageDecoderShapes,
  imageEncoderShapes,
  officialImageArchitecture,
} from "../testing/image_checkpoint.ts";
import {
  officialVideoArchitecture,
  videoDecoderShapes,
  videoEncoderShapes,
} from "../testing/video_checkpoint.ts";
import { randomCheckpoint } from "../testing/random_weights.ts";
import { findVariant } from "../models/variants.ts";
import type { HostTensor } from "../types.ts";
import { type KernelPeak, kernelPeak, type SimdPeak, simdPeak } from "./peak.ts";

/** One model at one input size. */
interface Case {
  variant: string;
  shape: number[];
}

/** One runtime's result for a case: milliseconds, or why there is none. */
export type Timing = { enc: number; dec: number; rssMiB?: number } | { none: string };

/** Our op families of one case: ms, effective GFLOP, thread-ms and busy thread-ms. */
type Families = Record<string, { ms: number; flops: number; threadMs: number; busyMs: number }>;

const DEFAULT_CASES = "CI8x8:1x3x256x256,CI8x8:1x3x1024x1024,CV4x8x8:1x3x9x128x128";
const CLIP_720P = "CV4x8x8:1x3x17x720x1280";
const RUNTIMES = ["pytorch", "ort-node", "ort-web", "ours"] as const;
/** A runtime the comparison times. */
export type Runtime = typeof RUNTIMES[number];
const RUNTIME_LABEL: Record<Runtime, string> = {
  "pytorch": "PyTorch (reference)",
  "ort-node": "ONNX Runtime native",
  "ort-web": "ONNX Runtime Web",
  "ours": "cosmos-webgpu wasm",
};

function argOf(args: string[], name: string): string | undefined {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
}

function parseCases(spec: string): Case[] {
  return spec.split(",").filter((s) => s).map((item) => {
    const [variant, shapeText] = item.split(":");
    const shape = (shapeText ?? "").split("x").map(Number);
    const v = findVariant(variant);
    const rank = v.kind === "image" ? 4 : 5;
    if (shape.length !== rank || shape.some((d) => !Number.isInteger(d) || d < 1)) {
      throw new Error(
        `Cannot compare "${item}": give VARIANT:SHAPE with a ${rank}-dimensional shape such as ${
          v.kind === "image" ? "CI8x8:1x3x256x256" : "CV4x8x8:1x3x9x128x128"
        }`,
      );
    }
    return { variant: v.name.replace(/^Cosmos-0\.1-Tokenizer-/, ""), shape };
  });
}

/** A directory, from a flag or an environment variable, if it exists. */
function dirFrom(args: string[], flag: string, env: string): string | undefined {
  const d = argOf(args, flag) ?? Deno.env.get(env);
  if (!d) return undefined;
  try {
    return Deno.statSync(d).isDirectory ? d : undefined;
  } catch {
    return undefined;
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const HERE = new URL(".", import.meta.url);
const script = (name: string) => decodeURIComponent(new URL(name, HERE).pathname);

/** Runs a subprocess that prints `RESULT enc dec rssKiB threads`; its timing or its failure. */
async function subprocess(cmd: string, argv: string[], env: Record<string, string>) {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args: argv, env, stdout: "piped", stderr: "piped" })
      .output();
  } catch (err) {
    return { none: `cannot run ${cmd}: ${(err as Error).message}` };
  }
  const text = new TextDecoder().decode(out.stdout);
  const m = text.match(/^RESULT (\S+) (\S+) (\S+)/m);
  if (out.success && m) {
    return { enc: Number(m[1]), dec: Number(m[2]), rssMiB: Number(m[3]) / 1024 };
  }
  const err = new TextDecoder().decode(out.stderr).trim().split("\n");
  // The last line of a Python traceback or a Node error names the failure.
  const why = err.filter((l) => /Error|error|Killed|failed/.test(l)).pop() ?? err.pop() ?? "";
  return {
    none: `cannot run (exit ${out.code}${out.signal ? `, ${out.signal}` : ""}): ${
      why.slice(0, 200)
    }`,
  };
}

/** Content in [-0.9, 0.9], the same formula as ort_speed.mjs. */
function content(shape: number[]): HostTensor {
  const data = new Float32Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < data.length; i++) data[i] = Math.sin(i * 0.001) * 0.9;
  return { data, shape };
}

/** Ours: encode and decode of the whole input (a video through the streaming engine). */
async function timeOurs(ops: WasmOps, c: Case, warmups: number, repeats: number) {
  const v = findVariant(c.variant);
  const [encoder, decoder] = v.kind === "image"
    ? (() => {
      const arch = officialImageArchitecture(v.discrete, v.spatialCompression);
      return [imageEncoderShapes(arch), imageDecoderShapes(arch)];
    })()
    : (() => {
      const arch = officialVideoArchitecture(
        v.discrete,
        v.spatialCompression,
        v.temporalCompression,
      );
      return [videoEncoderShapes(arch), videoDecoderShapes(arch)];
    })();
  const tok = await loadTokenizer({
    encoder: randomCheckpoint(encoder, 1),
    decoder: randomCheckpoint(decoder, 2),
    model: v.name,
    backend: ops,
  });
  try {
    const input = content(c.shape);
    let enc = Infinity, dec = Infinity;
    const families: Families = {};
    for (let r = 0; r < warmups + repeats; r++) {
      ops.startProfiling();
      let t0 = performance.now();
      const coded = await tok.encode(input);
      const e = performance.now() - t0;
      t0 = performance.now();
      await tok.decode((coded.latent ?? coded.indices)!);
      const d = performance.now() - t0;
      const prof = ops.stopProfiling();
      const threads = ops.threadProfile();
      // Warm-ups compile and let V8 optimise the kernels.
      if (r < warmups) continue;
      // The families of the fastest pass.
      if (e + d < enc + dec) {
        for (const k of Object.keys(families)) delete families[k];
        for (const [k, p] of Object.entries(prof)) {
          const t = threads[k] ?? { threadMs: 0, busyMs: 0 };
          families[k] = { ms: p.ms, flops: p.flops, ...t };
        }
      }
      [enc, dec] = [Math.min(enc, e), Math.min(dec, d)];
    }
    return { timing: { enc, dec, rssMiB: ops.memoryStats().peakAllocated / 2 ** 20 }, families };
  } finally {
    await tok.dispose();
  }
}

/** Each case's timings by runtime ("CI8x8 1x3x256x256" -> runtime -> timing). */
export type CompareResults = Record<string, Partial<Record<Runtime, Timing>>>;

/**
 * Runs the comparison (see the module doc) and prints it with `log`; `args` are the bench's
 * command-line arguments. Returns the timings.
 */
export async function runCompare(
  args: string[],
  log: (line: string) => void = console.log,
): Promise<CompareResults> {
  const arg = (name: string) => argOf(args, name);
  const repeats = Number(arg("repeats") ?? 3);
  const threads = Number(arg("threads") ?? navigator.hardwareConcurrency);
  let spec = arg("cases") ?? DEFAULT_CASES;
  if (args.includes("--720p")) spec += `,${CLIP_720P}`;
  const cases = parseCases(spec);
  const only = (arg("runtimes") ?? RUNTIMES.join(",")).split(",");
  for (const r of only) {
    if (!(RUNTIMES as readonly string[]).includes(r)) {
      throw new Error(
        `Unknown runtime "${r}" in --runtimes: expected some of ${RUNTIMES.join(",")}`,
      );
    }
  }
  const python = arg("python") ?? "/usr/bin/python3";
  const node = arg("node") ?? "node";
  const reference = dirFrom(args, "reference", "COSMOS_REFERENCE");
  const shims = dirFrom(args, "shims", "COSMOS_REFERENCE_SHIMS");
  const onnxRoot = arg("onnx") ?? Deno.env.get("COSMOS_ONNX_DIR");
  const modules = dirFrom(args, "ort-modules", "COSMOS_ORT_MODULES");
  const env = { THREADS: String(threads), OMP_NUM_THREADS: String(threads) };

  const ops = await WasmOps.create({ threads });
  const peak: SimdPeak = simdPeak(ops);
  const kernel = await kernelPeak();
  log(
    `Compare: ${cases.length} cases, min of ${repeats} after a warm-up, ${threads} threads each; ${ops.label}`,
  );
  const results: CompareResults = {};
  const ourFamilies: Record<string, Families> = {};
  for (const c of cases) {
    const key = `${c.variant} ${c.shape.join("x")}`;
    const row: Partial<Record<Runtime, Timing>> = results[key] = {};
    const shape = c.shape.join("x");
    // One export per variant serves every input size: its time, height and width are dynamic.
    const onnxDir = onnxRoot ? `${onnxRoot}/${c.variant}` : undefined;
    // A pass of 2^20 pixels or more takes a minute or more per runtime: timed once, with no
    // warm-up (the JIT warmed up on the smaller cases; the subprocesses' start is a small part).
    const pixels = c.shape.slice(2).reduce((a, b) => a * b, 1);
    const long = pixels >= 1 << 20;
    const [reps, warm] = long ? ["1", "0"] : [String(repeats), "1"];
    const big = c.shape.length === 5 && pixels >= 17 * 720 * 1280;
    for (const r of only as Runtime[]) {
      const t0 = performance.now();
      if (r === "pytorch") {
        row[r] = reference && shims
          ? await subprocess(python, [
            script("reference_speed.py"),
            reference,
            shims,
            c.variant,
            shape,
            reps,
            warm,
          ], env)
          : {
            none:
              "skipped: pass --reference DIR (the reference's source) and --shims DIR, or set COSMOS_REFERENCE and COSMOS_REFERENCE_SHIMS",
          };
      } else if (r === "ort-node" || r === "ort-web") {
        if (!modules || !onnxDir) {
          row[r] = {
            none:
              "skipped: pass --ort-modules DIR (a node_modules with onnxruntime-node and onnxruntime-web) and --onnx DIR, or set COSMOS_ORT_MODULES and COSMOS_ONNX_DIR",
          };
        } else if (r === "ort-web" && big) {
          // wasm32: one linear memory of at most 4 GiB, against the reference's 11 GB at 720p.
          row[r] = {
            none:
              "cannot fit: its WebAssembly memory is 4 GiB at most, and one pass of the whole clip needs several times that (not tried)",
          };
        } else {
          if (!exists(`${onnxDir}/decoder.onnx`)) {
            if (!reference || !shims) {
              row[r] = {
                none:
                  `skipped: no ${onnxDir}/decoder.onnx, and no --reference/--shims to export it`,
              };
              continue;
            }
            log(`  exporting ${key} to ONNX in ${onnxDir}`);
            const ex = await new Deno.Command(python, {
              args: [
                script("reference_onnx.py"),
                reference,
                shims,
                c.variant,
                // Traced on a small input (seconds, where tracing the case's own size took over
                // half an hour at 1024x1024): the graph is the same for any size.
                c.shape.length === 4 ? "1x3x64x64" : "1x3x9x64x64",
                onnxDir,
              ],
              stdout: "null",
              stderr: "piped",
            }).output();
            if (!ex.success) {
              const why = new TextDecoder().decode(ex.stderr).trim().split("\n").pop();
              row["ort-node"] = row["ort-web"] = { none: `cannot export to ONNX: ${why}` };
              continue;
            }
          }
          row[r] = await subprocess(node, [
            script("ort_speed.mjs"),
            r.slice(4),
            modules,
            onnxDir,
            shape,
            String(threads),
            reps,
            warm,
          ], {});
        }
      } else {
        try {
          const { timing, families } = await timeOurs(ops, c, Number(warm), Number(reps));
          row[r] = timing;
          ourFamilies[key] = families;
        } catch (err) {
          row[r] = { none: `failed: ${(err as Error).message}` };
        }
      }
      const t = row[r]!;
      log(
        `  ${key.padEnd(24)} ${RUNTIME_LABEL[r].padEnd(20)} ${
          "none" in t ? t.none : `${t.enc.toFixed(0)} + ${t.dec.toFixed(0)} ms`
        }  (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
      );
    }
  }
  ops.destroy();
  printTable(log, results, only as Runtime[]);
  printPeak(log, peak, kernel, ourFamilies);
  return results;
}

function printTable(log: (line: string) => void, results: CompareResults, only: Runtime[]) {
  log(
    `\n| case | runtime | encode ms | decode ms | total ms | peak MiB | ours / it |\n|---|---|---|---|---|---|---|`,
  );
  for (const [key, row] of Object.entries(results)) {
    const ours = row.ours && !("none" in row.ours) ? row.ours.enc + row.ours.dec : NaN;
    for (const r of only) {
      const t = row[r];
      if (!t) continue;
      if ("none" in t) {
        log(`| ${key} | ${RUNTIME_LABEL[r]} | ${t.none} | | | | |`);
        continue;
      }
      const total = t.enc + t.dec;
      const ratio = r === "ours" || !Number.isFinite(ours) ? "" : `${(ours / total).toFixed(2)}x`;
      log(
        `| ${key} | ${RUNTIME_LABEL[r]} | ${t.enc.toFixed(0)} | ${t.dec.toFixed(0)} | ${
          total.toFixed(0)
        } | ${t.rssMiB === undefined ? "" : t.rssMiB.toFixed(0)} | ${ratio} |`,
      );
    }
  }
  log(
    "peak MiB: the subprocess's peak RSS (PyTorch, ONNX Runtime: weights, runtime and all); " +
      "ours: the WebAssembly heap's peak bytes allocated. ours / it < 1 means ours is faster.",
  );
}

function printPeak(
  log: (line: string) => void,
  peak: SimdPeak,
  kernel: KernelPeak,
  families: Record<string, Families>,
) {
  log(
    `\nWebAssembly SIMD peak: ${peak.formula} = ${peak.computed.toFixed(1)} GFLOP/s; ` +
      `measured (independent relaxed f32x4 FMAs on every thread): ${
        peak.measured.toFixed(1)
      } GFLOP/s`,
  );
  log(
    `GEMM micro-kernel with its operands in L1, one thread: ${
      kernel.microKernel.toFixed(1)
    } GFLOP/s, ${(100 * kernel.microKernel / kernel.fma).toFixed(0)}% of one thread's ` +
      `independent FMAs (${kernel.fma.toFixed(1)}): the ceiling of every product (Deno runs ` +
      "WebAssembly without a trap handler, so each load is a bounds check beside the multiply-adds).",
  );
  log(
    "GFLOP/s are effective: a convolution counts the direct sum's multiply-adds, so Winograd's " +
      "(a quarter of them) can pass the peak. Idle: thread-ms with no kernel running, of threads x op ms.",
  );
  for (const [key, fam] of Object.entries(families)) {
    const total = Object.values(fam).reduce((a, f) => a + f.ms, 0);
    log(`\n${key}, ours: ${total.toFixed(0)} ms in ops`);
    log("| op family | ms | % of op time | GFLOP/s | % of peak | threads idle |");
    log("|---|---|---|---|---|---|");
    for (const [name, f] of Object.entries(fam).sort((a, b) => b[1].ms - a[1].ms)) {
      const g = f.flops ? f.flops / f.ms / 1e6 : 0;
      const idle = f.threadMs ? 100 * (1 - f.busyMs / f.threadMs) : NaN;
      log(
        `| ${name} | ${f.ms.toFixed(0)} | ${(100 * f.ms / total).toFixed(0)}% | ${
          g ? g.toFixed(1) : ""
        } | ${g ? `${(100 * g / peak.computed).toFixed(0)}%` : ""} | ${
          Number.isFinite(idle) ? `${idle.toFixed(0)}%` : ""
        } |`,
      );
    }
  }
}
