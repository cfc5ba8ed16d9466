/**
 * `deno task gpu-report [--smallest] [--budget SECONDS] [--out FILE] [--fixtures DIR]
 *  [--autotune on|off] [--fidelity-only]`
 *
 * Everything one run on an unknown adapter should tell: the adapter, its driver, features and
 * limits; the fixture fidelity of every variant through the WebGPU backend (per precision);
 * the official-width CI8x8 and CV4x8x8 tokenizers at the issue's sizes, the largest that fit
 * the time budget, with ms per frame and per-kernel GFLOP/s; and the autotuner's choices. One
 * JSON file holds it all, rewritten after each step so that a run cut short still leaves what
 * it measured ("complete": false). `--smallest` times only the smallest size of each model
 * (CI runs it on lavapipe). The budget is also a hard stop: when it runs out the file is
 * written as it stands and the report exits. Autotune is on by default on a real GPU and off on
 * a CPU rasterizer, whose timings would choose nothing useful at minutes' cost (`--autotune`).
 * Exits 1 when a fidelity case is out of tolerance, 3 when the budget ran out before fidelity
 * was done (during the timed runs it only ends them: "complete" stays false).
 * @module
 */

import { WebGpuOps } from "../backends/webgpu/backend.ts";
import { fidelityCase, type FidelityRow, fixtureVariants, PRECISIONS } from "./gpu_fidelity.ts";
import {
  type BenchRow,
  benchSize,
  benchTokenizer,
  PLANS,
  predictMs,
  rowGflops,
  sizeLabel,
} from "./gpu_timing.ts";
import {
  type AdapterFacts,
  printAdapter,
  printBench,
  printFidelity,
  reportAdapter,
} from "./gpu_report_print.ts";
import type { TuneChoice } from "../backends/webgpu/autotune.ts";

/** What the command line asked for. */
export interface ReportArgs {
  smallest: boolean;
  /** Seconds the whole report may take; sizes predicted to pass it are skipped. */
  budgetSeconds: number;
  out: string;
  /** The fixture folders (one per variant). */
  fixtures: string;
  /** Only the adapter and the fixture fidelity, no timed runs. */
  fidelityOnly: boolean;
  /** Time tile candidates (autotune.ts); default: on unless the adapter is a CPU rasterizer. */
  autotune?: boolean;
}

/** Default budget: 7 minutes, so that a lent GPU's start-up and this fit in 8. */
const DEFAULT_BUDGET_S = 420;
/** Share of the time left after fidelity that the image sizes may use; video gets the rest. */
const IMAGE_SHARE = 0.4;

const USAGE =
  "Usage: deno task gpu-report [--smallest] [--budget SECONDS] [--out FILE] [--fixtures DIR] [--autotune on|off] [--fidelity-only]";

/** Parses the command line; throws a sentence naming the bad argument. */
export function parseReportArgs(args: readonly string[]): ReportArgs {
  const out: ReportArgs = {
    smallest: false,
    fidelityOnly: false,
    budgetSeconds: DEFAULT_BUDGET_S,
    out: "gpu-report.json",
    fixtures: new URL("../../test/fixtures", import.meta.url).pathname,
  };
  for (let i = 0; i < args.length; i++) {
    const a = args[i];
    const value = () => {
      const v = args[++i];
      if (v === undefined || v.startsWith("--")) throw new Error(`${a} needs a value. ${USAGE}`);
      return v;
    };
    if (a === "--smallest") out.smallest = true;
    else if (a === "--fidelity-only") out.fidelityOnly = true;
    else if (a === "--budget") {
      const v = value();
      const s = Number(v);
      if (!/^\d+(\.\d+)?$/.test(v) || !(s > 0) || s > 86400) {
        throw new Error(`Invalid --budget "${v}": give the seconds the report may take (1-86400)`);
      }
      out.budgetSeconds = s;
    } else if (a === "--out") out.out = value();
    else if (a === "--fixtures") out.fixtures = value();
    else if (a === "--autotune") {
      const v = value();
      if (v !== "on" && v !== "off") throw new Error(`Invalid --autotune "${v}": give on or off`);
      out.autotune = v === "on";
    } else throw new Error(`Unknown argument "${a}". ${USAGE}`);
  }
  return out;
}

/** The JSON file's content. */
export interface Report {
  format: "cosmos-webgpu gpu-report";
  version: 1;
  /** False until the last step has run. */
  complete: boolean;
  date: string;
  deno: string;
  args: ReportArgs;
  adapter: AdapterFacts;
  fidelity: FidelityRow[];
  bench: BenchRow[];
  /** Sizes not run, and why (over budget, or an error). */
  skipped: { model: string; size: string; reason: string }[];
  autotune: { enabled: boolean; why: string; store?: string; choices: TuneChoice[] };
  elapsedSeconds: number;
}

/** 1 (with the cases named on stderr) when a fixture case is out of tolerance, else 0. */
function exitCode(report: Report): number {
  const failed = report.fidelity.filter((r) => !r.pass);
  if (!failed.length) return 0;
  console.error(
    `gpu-report: ${failed.length} fixture case(s) out of tolerance: ${
      failed.map((r) => `${r.variant} ${r.case} ${r.precision}`).join(", ")
    }`,
  );
  return 1;
}

/** Runs the report, printing as it goes and rewriting `args.out` after each step. */
export async function gpuReport(args: ReportArgs): Promise<Report> {
  const start = performance.now();
  const elapsed = () => (performance.now() - start) / 1000;
  const adapter = await reportAdapter();
  printAdapter(adapter);
  const software = adapter.isFallbackAdapter || /llvmpipe|lavapipe|swiftshader/i.test(adapter.name);
  const tune = args.autotune ?? !software;
  const why = args.autotune !== undefined
    ? `--autotune ${args.autotune ? "on" : "off"}`
    : software
    ? "off on a CPU rasterizer (its timings choose nothing useful); --autotune on to force"
    : "on by default on a GPU";
  const ops = await WebGpuOps.create({ autotune: tune });
  const report: Report = {
    format: "cosmos-webgpu gpu-report",
    version: 1,
    complete: false,
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    args,
    adapter,
    fidelity: [],
    bench: [],
    skipped: [],
    autotune: {
      enabled: ops.autotuner !== null,
      why,
      store: ops.autotuner?.store.where,
      choices: [],
    },
    elapsedSeconds: 0,
  };
  const save = () => {
    report.elapsedSeconds = elapsed();
    report.autotune.choices = ops.autotuner?.choices() ?? [];
    try {
      Deno.writeTextFileSync(args.out, JSON.stringify(report, null, 1) + "\n");
    } catch (err) {
      throw new Error(`Cannot write the report to "${args.out}": ${(err as Error).message}`);
    }
  };
  // The budget is a hard stop: GPU work is awaited, so this timer runs even mid-network.
  // Fidelity is owed in full; timed runs are what fits, so a budget spent among them is no error.
  let inFidelity = true;
  const stop = setTimeout(() => {
    report.skipped.push({ model: "*", size: "*", reason: "interrupted: the budget ran out" });
    save();
    console.error(`gpu-report: the budget of ${args.budgetSeconds} s ran out; wrote ${args.out}`);
    Deno.exit(inFidelity ? 3 : exitCode(report));
  }, args.budgetSeconds * 1000);
  try {
    save();
    for (const precision of PRECISIONS) {
      for (const { variant, cases } of await fixtureVariants(args.fixtures)) {
        for (const c of args.smallest ? cases.slice(0, 1) : cases) {
          const where = { dir: args.fixtures, variant, case: c };
          const row = await fidelityCase(ops, where, precision).catch((err): FidelityRow => ({
            variant,
            case: c,
            precision,
            tolerance: 0,
            maxRelError: Infinity,
            errors: { [`error: ${(err as Error).message}`]: Infinity },
            ms: 0,
            pass: false,
          }));
          report.fidelity.push(row);
          printFidelity(row);
        }
      }
      save();
    }
    if (!report.fidelity.length) {
      throw new Error(`No fixtures found in "${args.fixtures}": give the folder with --fixtures`);
    }
    inFidelity = false;
    const plans = args.fidelityOnly ? [] : PLANS;
    const left = args.budgetSeconds - elapsed();
    const deadlines = [elapsed() + IMAGE_SHARE * left, args.budgetSeconds];
    for (const [p, plan] of plans.entries()) {
      const deadline = deadlines[p];
      const sizes = args.smallest ? plan.sizes.slice(0, 1) : plan.sizes;
      const skip = (size: [number, number, number], reason: string) =>
        report.skipped.push({ model: plan.model, size: sizeLabel(size), reason });
      if (elapsed() >= deadline) {
        for (const s of [plan.calibration, ...sizes]) skip(s, "no time left in the budget");
        continue;
      }
      const tok = await benchTokenizer(ops, plan.model);
      try {
        const calibration = { model: plan.model, size: plan.calibration, calibration: true };
        let last = await benchSize(ops, tok, calibration).catch((err) => {
          for (const s of [plan.calibration, ...sizes]) {
            skip(s, `failed: ${(err as Error).message}`);
          }
          return null;
        });
        if (!last) continue;
        let lastSize = plan.calibration;
        report.bench.push(last);
        printBench(last);
        save();
        for (const [i, size] of sizes.entries()) {
          const best = Math.max(...report.bench.map(rowGflops));
          const predicted = predictMs(last, lastSize, size, best) / 1000;
          // On a GPU the smallest size of each model always runs: a calibration run is launch-
          // bound there, so what it predicts is far too slow, and these sizes take seconds.
          const certain = i === 0 && !software;
          if (!certain && elapsed() + predicted > deadline) {
            for (const s of sizes.slice(i)) {
              skip(
                s,
                `predicted ${predicted.toFixed(0)} s (from ${last.size}); ${
                  (deadline - elapsed()).toFixed(0)
                } s of the budget left for ${plan.model}`,
              );
            }
            break;
          }
          try {
            last = await benchSize(ops, tok, { model: plan.model, size, calibration: false });
          } catch (err) {
            for (const s of sizes.slice(i)) skip(s, `failed: ${(err as Error).message}`);
            break;
          }
          lastSize = size;
          report.bench.push(last);
          printBench(last);
          save();
        }
      } finally {
        await tok.dispose();
      }
    }
    await ops.autotuner?.settled();
    report.complete = true;
    save();
    for (const c of report.autotune.choices) {
      console.log(`autotune  ${c.key.padEnd(30)} ${JSON.stringify(c.tiles)} (${c.source})`);
    }
    for (const s of report.skipped) console.log(`skipped   ${s.model} ${s.size}: ${s.reason}`);
    console.log(`wrote ${args.out} (${report.elapsedSeconds.toFixed(0)} s)`);
    return report;
  } finally {
    clearTimeout(stop);
    ops.destroy();
  }
}

if (import.meta.main) {
  let args: ReportArgs;
  try {
    args = parseReportArgs(Deno.args);
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(2);
  }
  const report = await gpuReport(args).catch((err) => {
    console.error(`gpu-report: ${(err as Error).message}`);
    Deno.exit(2);
  });
  Deno.exit(exitCode(report));
}
