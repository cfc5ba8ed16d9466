/**
 * `deno task gpu-report` (src/bench/gpu_report.ts), run for real as CI runs it: its JSON's
 * shape and values (fidelity within tolerance, timed rows with positive times and GFLOP/s,
 * every size either timed or skipped with a reason), a fixture whose reference was tampered
 * with failing the report, and the command line's errors.
 */

import assert from "node:assert/strict";
import { parseReportArgs, type Report } from "../src/bench/gpu_report.ts";
import { PLANS, sizeLabel } from "../src/bench/gpu_timing.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import { FIXTURES, GPU_TEST, gpuOps } from "./helpers.ts";

const REPORT = new URL("../src/bench/gpu_report.ts", import.meta.url).pathname;

/** Runs the report in a child process; its exit code, output and JSON. */
async function runReport(args: string[]): Promise<{ code: number; out: string; report: Report }> {
  const dir = await Deno.makeTempDir({ prefix: "gpu-report-" });
  const out = `${dir}/report.json`;
  const child = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-read", "--allow-write", "--allow-env", REPORT, "--out", out, ...args],
    stdout: "piped",
    stderr: "piped",
    env: { COSMOS_AUTOTUNE_CACHE: `${dir}/autotune.json` },
  }).output();
  const text = new TextDecoder().decode(child.stdout) + new TextDecoder().decode(child.stderr);
  const report = JSON.parse(await Deno.readTextFile(out));
  await Deno.remove(dir, { recursive: true });
  return { code: child.code, out: text, report };
}

/** A fixtures folder holding links to the named variants of test/fixtures. */
async function fixtureSubset(variants: string[]): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "fixtures-" });
  for (const v of variants) await Deno.symlink(new URL(v, FIXTURES).pathname, `${dir}/${v}`);
  return dir;
}

Deno.test({
  name: "gpu-report --smallest writes a complete JSON: adapter, fidelity in tolerance, timings",
  ...GPU_TEST,
  async fn() {
    if (!await gpuOps()) return;
    const fixtures = await fixtureSubset(["CV8x8x8", "DV8x16x16"]);
    try {
      const { code, out, report: r } = await runReport([
        "--smallest",
        "--budget",
        "90",
        "--fixtures",
        fixtures,
      ]);
      assert.equal(code, 0, out);
      assert.equal(r.format, "cosmos-webgpu gpu-report");
      assert.equal(r.version, 1);
      // The budget may end the timed runs early on a slow machine: then it says so.
      const interrupted = r.skipped.some((s) => s.reason === "interrupted: the budget ran out");
      assert.equal(r.complete, !interrupted);
      assert.ok(r.adapter.name.length > 0);
      assert.ok(r.adapter.features.length > 0);
      assert.ok(r.adapter.limits.maxStorageBufferBindingSize > 0);
      assert.match(out, /^adapter {3}\S/m);
      // Fidelity: both variants, their smallest case, within the f32 tolerance.
      assert.deepEqual(r.fidelity.map((f) => `${f.variant} ${f.case}`), [
        "CV8x8x8 9x32x32",
        "DV8x16x16 9x32x32",
      ]);
      for (const f of r.fidelity) {
        assert.equal(f.precision, "f32");
        assert.equal(f.tolerance, 1e-4);
        assert.ok(f.maxRelError > 0 && f.maxRelError <= 1e-4, `${f.variant}: ${f.maxRelError}`);
        assert.equal(f.maxRelError, Math.max(...Object.values(f.errors)));
        assert.ok("reconstruction" in f.errors);
        assert.ok(Object.keys(f.errors).some((k) => k.startsWith("probe.")));
        assert.equal(f.pass, true);
      }
      assert.ok("latent" in r.fidelity[0].errors);
      assert.equal(r.fidelity[1].indexMismatch, 0);
      // Every size was timed or skipped with a reason; timed rows have times and kernels.
      for (const plan of PLANS) {
        for (const size of [plan.calibration, plan.sizes[0]]) {
          const label = sizeLabel(size);
          const timed = r.bench.find((b) => b.model === plan.model && b.size === label);
          const skipped = r.skipped.find((s) => s.model === plan.model && s.size === label);
          assert.ok(
            timed || skipped || interrupted,
            `${plan.model} ${label} not timed nor skipped`,
          );
          if (skipped) assert.match(skipped.reason, /predicted \d+ s|no time left/);
        }
      }
      assert.ok(r.bench.length > 0 || interrupted, "the first calibration is timed");
      for (const b of r.bench) {
        assert.ok(b.msPerFrame.total > 0 && b.encodeMs > 0 && b.decodeMs > 0);
        assert.ok(Math.abs(b.msPerFrame.total - (b.encodeMs + b.decodeMs) / b.frames) < 1e-6);
        if (r.adapter.features.includes("timestamp-query")) {
          assert.ok(b.kernels.conv3x3.gflops > 0, "conv3x3 GFLOP/s");
          assert.ok(b.gflop > 0 && b.gpuMs > 0);
        }
      }
      assert.equal(typeof r.autotune.enabled, "boolean");
      assert.ok(r.autotune.why.length > 0);
    } finally {
      await Deno.remove(fixtures, { recursive: true });
    }
  },
});

Deno.test({
  name: "gpu-report fails when a fixture's reference disagrees, and says which case",
  ...GPU_TEST,
  async fn() {
    if (!await gpuOps()) return;
    const dir = await Deno.makeTempDir({ prefix: "fixtures-" });
    try {
      // CV8x8x8 with its reference reconstruction changed by 1% of its range at one value.
      const src = new URL("CV8x8x8/", FIXTURES);
      await Deno.mkdir(`${dir}/CV8x8x8`);
      for (const name of ["encoder.safetensors", "decoder.safetensors"]) {
        await Deno.symlink(new URL(name, src).pathname, `${dir}/CV8x8x8/${name}`);
      }
      const bytes = await Deno.readFile(new URL("case_9x32x32.safetensors", src));
      const file = parseSafetensors(bytes);
      const headerLen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
      const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
      const [from] = header.reconstruction.data_offsets;
      const view = new DataView(bytes.buffer, 8 + headerLen + from);
      const rec = file.float32("reconstruction");
      const range = Math.max(...rec.map(Math.abs));
      view.setFloat32(0, view.getFloat32(0, true) + 0.01 * range, true);
      await Deno.writeFile(`${dir}/CV8x8x8/case_9x32x32.safetensors`, bytes);
      const { code, out, report } = await runReport([
        "--fidelity-only",
        "--fixtures",
        dir,
      ]);
      assert.equal(code, 1, out);
      assert.match(out, /gpu-report: 1 fixture case\(s\) out of tolerance: CV8x8x8 9x32x32 f32/);
      const [row] = report.fidelity;
      assert.equal(row.pass, false);
      assert.ok(row.errors.reconstruction > 9e-3 && row.errors.reconstruction < 1.1e-2);
      assert.ok(row.errors.latent <= 1e-4, "the rest still matches");
      assert.deepEqual(report.bench, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "gpu-report says so when the fixtures folder holds no fixtures",
  ...GPU_TEST,
  async fn() {
    if (!await gpuOps()) return;
    const dir = await Deno.makeTempDir();
    try {
      const child = await new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", REPORT, "--fixtures", dir, "--out", `${dir}/r.json`],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.equal(child.code, 2);
      assert.match(
        new TextDecoder().decode(child.stderr),
        /gpu-report: No fixtures found in ".*": give the folder with --fixtures/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test("parseReportArgs() takes the flags and refuses bad ones with the usage", () => {
  const d = parseReportArgs([]);
  assert.equal(d.smallest, false);
  assert.equal(d.budgetSeconds, 420);
  assert.equal(d.out, "gpu-report.json");
  assert.equal(d.autotune, undefined);
  assert.match(d.fixtures, /test\/fixtures$/);
  const a = parseReportArgs([
    "--smallest",
    "--budget",
    "90",
    "--out",
    "x.json",
    "--autotune",
    "on",
  ]);
  assert.deepEqual([a.smallest, a.budgetSeconds, a.out, a.autotune], [true, 90, "x.json", true]);
  const bad: [string[], RegExp][] = [
    [["--budget", "abc"], /Invalid --budget "abc": give the seconds the report may take/],
    [["--budget", "0"], /Invalid --budget "0"/],
    [["--budget", "-5"], /--budget needs a value|Invalid --budget "-5"/],
    [["--budget"], /--budget needs a value\. Usage: deno task gpu-report/],
    [["--out", "--smallest"], /--out needs a value/],
    [["--autotune", "maybe"], /Invalid --autotune "maybe": give on or off/],
    [["--fast"], /Unknown argument "--fast"\. Usage: deno task gpu-report \[--smallest\]/],
  ];
  for (const [args, message] of bad) assert.throws(() => parseReportArgs(args), message);
});

Deno.test("gpu-report names an --out it cannot write", async () => {
  // The path is checked by writing it: the report's first save names it.
  const dir = await Deno.makeTempDir();
  try {
    const child = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", REPORT, "--fidelity-only", "--out", `${dir}/missing/r.json`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const err = new TextDecoder().decode(child.stderr);
    if (/No WebGPU adapter/.test(err)) return; // no adapter: nothing is written at all
    assert.equal(child.code, 2);
    assert.match(err, /gpu-report: Cannot write the report to ".*missing\/r.json": /);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
