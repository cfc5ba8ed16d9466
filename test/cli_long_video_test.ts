/**
 * A long video through `cosmos autoencode` as a subprocess, the way a user runs it. By default
 * the whole clip streams exactly (one causal pass, a latent frame at a time): the output has
 * every input frame, the process's memory stays flat while it streams, and the reconstruction
 * shows no seam where the reference CLI's windows of 17 frames would start. `--window 17` runs
 * the same video in those windows for comparison (printed, not asserted: with the random test
 * weights its seams are small too; that the exact stream equals one whole-clip pass, to the last
 * index, is asserted in cli_test.ts).
 *
 * The size and length can be raised to look at longer runs (the memory bound below is computed
 * for them): COSMOS_LONG_VIDEO="WIDTHxHEIGHTxFRAMES", default 48x32x203.
 */

import assert from "node:assert/strict";
import { FIXTURES, GPU_TEST, HAS_FFMPEG } from "./helpers.ts";
import { psnr } from "../src/media/metrics.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const fixture = (v: string, half: string) => new URL(`${v}/${half}.safetensors`, FIXTURES).pathname;
const DV = ["--encoder", fixture("DV4x8x8", "encoder"), "--decoder", fixture("DV4x8x8", "decoder")];

if (!HAS_FFMPEG) console.warn("ffmpeg is not on PATH: the long video test is skipped");

// 203 frames: 1 + 50 x 4 + 2, so the CLI repeats the last frame twice and crops it back.
const [WIDTH, HEIGHT, FRAMES] = (Deno.env.get("COSMOS_LONG_VIDEO") ?? "48x32x203").split("x")
  .map(Number);
const MiB = 1 << 20;
/** Each run is killed past this (the default one takes a few seconds on 2 cores). */
const RUN_LIMIT_MS = 150_000;

/**
 * What the exact stream may add to the process while it runs: the causal temporal attention of
 * the encoder's and the decoder's mid block carries the packed keys and values (f32) of every
 * latent frame so far, so it grows by 2 x 2 x width x (H/8 x W/8) x 4 bytes per latent frame (the
 * test checkpoint's width is 64, read from its weights: 2 x 2 x 64 x 24 x 4 = 24 KiB per latent
 * frame at 48x32, 1.2 MiB over the 51 latent frames of the default video). The carried state is
 * parked between steps in JavaScript memory, a chunk per step, and each step reads a working
 * copy of the cache in the backend's heap, which keeps the blocks each copy outgrows; below
 * 1 MiB (each of them, in the default run) its size classes are powers of two, so they add at
 * most as much again. Then 16 MiB for the rest: the garbage JavaScript leaves between
 * collections (frames are a few kB each) and ffmpeg's pipes. Holding the video would cost more
 * than that only for longer or larger videos (the default one is 3.6 MiB as f32 pixels); what
 * the default run guards against is a growth that scales with the length.
 *
 * Past 1 MiB the heap's classes are eighths of a power of two, and a heap that only reuses a
 * freed block for a request of its own class keeps every block the carried tensors outgrow (no
 * later request is that small): about 10-16x the carried frames, beyond this bound (measured:
 * 64x64x203 +54 MiB, 48x32x1001 +70 MiB, against 26 and 34 allowed). A heap that merges free
 * neighbours and splits larger blocks stays within it (+10 and -2 MiB).
 */
function memoryAllowance(): { kvBytes: number; allowance: number } {
  const weights = parseSafetensors(Deno.readFileSync(fixture("DV4x8x8", "encoder")), "enc");
  const width = weights.entries.get("encoder.mid.attn_1.1.q.conv3d.weight")!.shape[0];
  const latentFrames = 1 + Math.ceil((FRAMES - 1) / 4);
  const perLatentFrame = 2 * 2 * width * (HEIGHT / 8) * (WIDTH / 8) * 4;
  const kvBytes = perLatentFrame * latentFrames;
  return { kvBytes, allowance: 2 * kvBytes + 16 * MiB };
}

function ffmpeg(args: string[]): void {
  const r = new Deno.Command("ffmpeg", { args: ["-v", "error", "-y", ...args], stderr: "piped" })
    .outputSync();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
}

/** A video's frames as ffmpeg decodes them to 8-bit RGB, one array per frame. */
function rawFrames(path: string): Uint8Array[] {
  const r = new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    stdout: "piped",
  }).outputSync();
  if (!r.success) throw new Error(`ffmpeg could not decode ${path}`);
  const size = WIDTH * HEIGHT * 3;
  const out: Uint8Array[] = [];
  for (let o = 0; o + size <= r.stdout.length; o += size) out.push(r.stdout.subarray(o, o + size));
  return out;
}

/**
 * The resident set of a process in bytes (VmRSS of /proc/PID/status), or null once it is gone.
 * Read through `cat`: Deno lets a script read /proc only with every permission, and the test
 * task grants --allow-run, not --allow-all.
 */
async function rss(pid: number): Promise<number | null> {
  const out = await new Deno.Command("cat", { args: [`/proc/${pid}/status`], stderr: "null" })
    .output();
  const m = new TextDecoder().decode(out.stdout).match(/^VmRSS:\s+(\d+) kB/m);
  return out.success && m ? Number(m[1]) * 1024 : null;
}

interface Sampled {
  code: number;
  stdout: string;
  stderr: string;
  /** [ms since the process began streaming, RSS bytes], every 100 ms. */
  samples: [number, number][];
  /** ms from the start of streaming to the exit. */
  streamingMs: number;
  totalMs: number;
}

/**
 * Runs the CLI writing into the empty `outDir`, sampling its RSS every 100 ms from when it
 * streams (its temporary output appears: the model is loaded and frames are coming out) to
 * its exit; killed past RUN_LIMIT_MS.
 */
async function sampledRun(args: string[], outDir: string): Promise<Sampled> {
  const started = performance.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  let exited = false;
  output.finally(() => exited = true);
  const samples: [number, number][] = [];
  let streaming: number | null = null;
  while (!exited && performance.now() < started + RUN_LIMIT_MS) {
    if (streaming === null && [...Deno.readDirSync(outDir)].length) streaming = performance.now();
    const r = await rss(child.pid);
    if (streaming !== null && r !== null) samples.push([performance.now() - streaming, r]);
    await new Promise((res) => setTimeout(res, 100));
  }
  if (!exited) child.kill("SIGKILL");
  const out = await output;
  const end = performance.now();
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    samples,
    streamingMs: streaming === null ? 0 : end - streaming,
    totalMs: end - started,
  };
}

/** The RSS peaks over the first quarter and the second half of the streaming. */
function peaks(run: Sampled): { first: number; second: number } {
  const over = (keep: (t: number) => boolean) =>
    Math.max(...run.samples.filter(([t]) => keep(t)).map(([, r]) => r));
  return {
    first: over((t) => t <= run.streamingMs / 4),
    second: over((t) => t >= run.streamingMs / 2),
  };
}

/** Starts of the reference CLI's windows of 17 frames (but the first), two frames clear of the end. */
function windowStarts(frames: number): number[] {
  const out = [];
  for (let b = 17; b + 2 < frames; b += 17) out.push(b);
  return out;
}

/** Per-frame PSNR at each window start minus the mean of its neighbours b-2, b-1, b+1, b+2. */
function seams(input: Uint8Array[], output: Uint8Array[]): number[] {
  const p = input.map((f, i) => psnr(f, output[i], 255));
  return windowStarts(p.length).map((b) => p[b] - (p[b - 2] + p[b - 1] + p[b + 1] + p[b + 2]) / 4);
}

const mean = (v: number[]) => v.reduce((a, x) => a + x, 0) / v.length;
const mib = (bytes: number) => `${(bytes / MiB).toFixed(1)} MiB`;
const db = (v: number[]) => `${Math.min(...v).toFixed(2)} .. ${Math.max(...v).toFixed(2)} dB`;

Deno.test({
  name:
    `autoencode of a ${FRAMES}-frame video streams it whole: every frame out, memory flat, no seam at window starts`,
  ignore: !HAS_FFMPEG,
  ...GPU_TEST,
  async fn() {
    const started = performance.now();
    const dir = Deno.makeTempDirSync({ prefix: "cosmos-long-video-" });
    try {
      const input = `${dir}/long.mp4`;
      ffmpeg([
        "-f",
        "lavfi",
        "-i",
        `testsrc=size=${WIDTH}x${HEIGHT}:rate=24`,
        "-frames:v",
        String(FRAMES),
        input,
      ]);
      // The frames the CLI reads: the same ffmpeg decoding of the same file.
      const original = rawFrames(input);
      assert.equal(original.length, FRAMES);
      const common = [...DV, "--backend", "wasm", "--threads", "2", "--json"];

      // (a) The default, whole-clip exact stream: every frame comes back.
      Deno.mkdirSync(`${dir}/exact`);
      const exact = await sampledRun(
        ["autoencode", input, ...common, "-o", `${dir}/exact/rec.mp4`],
        `${dir}/exact`,
      );
      assert.equal(exact.code, 0, exact.stderr);
      const line = JSON.parse(exact.stdout);
      assert.equal(line.frames, FRAMES);
      assert.deepEqual(line.tokens, [1, 1 + Math.ceil((FRAMES - 1) / 4), HEIGHT / 8, WIDTH / 8]);
      const rec = rawFrames(`${dir}/exact/rec.mp4`);
      assert.equal(rec.length, FRAMES);

      // (b) Memory: what the run adds after its first quarter is the attention's carried
      // frames and noise, not anything that grows with the frames done.
      const { kvBytes, allowance } = memoryAllowance();
      const mem = peaks(exact);
      console.log(
        `exact: ${(exact.totalMs / 1000).toFixed(1)} s (${
          (exact.streamingMs / 1000).toFixed(1)
        } s streaming, ${exact.samples.length} RSS samples); RSS peak ${
          mib(mem.first)
        } over the first quarter, ${mib(mem.second)} over the second half: +${
          mib(mem.second - mem.first)
        } (allowed ${mib(allowance)}; carried attention frames at the end ${mib(kvBytes)})`,
      );
      assert.ok(Number.isFinite(mem.first) && Number.isFinite(mem.second), "RSS was sampled");
      assert.ok(
        mem.second <= mem.first + allowance,
        `RSS grew by ${mib(mem.second - mem.first)} after the first quarter, more than ${
          mib(allowance)
        }`,
      );

      // (c) No seam where the reference's windows would start: the PSNR there is that of the
      // frames around it.
      const exactSeams = seams(original, rec);
      console.log(
        `exact: PSNR ${line.psnr.toFixed(3)} dB; at window starts minus their neighbours: ${
          db(exactSeams)
        }, mean ${mean(exactSeams).toFixed(3)} dB`,
      );
      for (const [i, s] of exactSeams.entries()) {
        assert.ok(
          s >= -1,
          `frame ${windowStarts(FRAMES)[i]}: ${s.toFixed(2)} dB below its neighbours`,
        );
      }

      // The reference's windows, for comparison.
      Deno.mkdirSync(`${dir}/window`);
      const windowed = await sampledRun(
        ["autoencode", input, ...common, "--window", "17", "-o", `${dir}/window/rec.mp4`],
        `${dir}/window`,
      );
      assert.equal(windowed.code, 0, windowed.stderr);
      const recWindowed = rawFrames(`${dir}/window/rec.mp4`);
      assert.equal(recWindowed.length, FRAMES);
      const windowSeams = seams(original, recWindowed);
      const wmem = peaks(windowed);
      // The two runs share their first window's causal context: they part at frame 17.
      const agree = (t0: number, t1: number) =>
        mean(rec.slice(t0, t1).map((f, i) => psnr(f, recWindowed[t0 + i], 255)));
      console.log(
        `--window 17: ${(windowed.totalMs / 1000).toFixed(1)} s; RSS ${mib(wmem.first)} -> ${
          mib(wmem.second)
        }; PSNR ${JSON.parse(windowed.stdout).psnr.toFixed(3)} dB; at window starts: ${
          db(windowSeams)
        }, mean ${mean(windowSeams).toFixed(3)} dB; exact vs windowed frames 0-16 ${
          agree(0, 17).toFixed(1)
        } dB, frames 17- ${agree(17, FRAMES).toFixed(1)} dB`,
      );
    } finally {
      Deno.removeSync(dir, { recursive: true });
      console.log(`test: ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
  },
});
