/**
 * The `cosmos` CLI under attack (issue 14, items 12-15), as a subprocess where it matters: an
 * output that names its input another way (./x, an absolute path, "..", a symlink, a hard link)
 * is refused and the input left as it was; a token file's metadata is checked field by field
 * against its tensor (no endless loop, no oversized or black output, no path from the file);
 * SIGTERM and SIGHUP leave no temporary file and no ffmpeg behind, like Ctrl-C; and images,
 * videos or checkpoints given to decode, and non-tensors given to the tokenizer's streams, fail
 * with sentences instead of bare TypeErrors.
 */

import assert from "node:assert/strict";
import { FIXTURES, GPU_TEST, HAS_FFMPEG } from "./helpers.ts";
import { encodeImage, type RgbImage } from "../src/media/image.ts";
import { encodeTokenFile, readTokenFile, type TokenInfo } from "../src/cli/tokens.ts";
import { encodeSafetensors, parseSafetensors } from "../src/weights/safetensors.ts";
import { expandInputs, planOutputs } from "../src/cli/outputs.ts";
import { loadTokenizer } from "../mod.ts";
import type { HostTensor } from "../src/types.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const fixture = (v: string, half: string) => new URL(`${v}/${half}.safetensors`, FIXTURES).pathname;
const WASM = ["--backend", "wasm", "--threads", "1"];
const CI = ["--encoder", fixture("CI8x8", "encoder"), "--decoder", fixture("CI8x8", "decoder")];
const DV = ["--encoder", fixture("DV4x8x8", "encoder"), "--decoder", fixture("DV4x8x8", "decoder")];

if (!HAS_FFMPEG) console.warn("ffmpeg is not on PATH: the CLI's video tests are skipped");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

const ENV = () => ({
  NO_COLOR: "1",
  XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp",
});

async function cosmos(args: string[], cwd?: string): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    cwd,
    env: ENV(),
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function pattern(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7) % 256;
  return { width, height, data };
}

function ffmpeg(args: string[]): void {
  const r = new Deno.Command("ffmpeg", { args: ["-v", "error", "-y", ...args], stderr: "piped" })
    .outputSync();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
}

const dir = Deno.makeTempDirSync({ prefix: "cosmos-hostile-test-" });
const PNG = encodeImage(pattern(16, 16), "png");
Deno.writeFileSync(`${dir}/photo.png`, PNG);
Deno.writeFileSync(`${dir}/photo.jpg`, encodeImage(pattern(16, 16), "jpeg", 90));
if (HAS_FFMPEG) {
  ffmpeg(["-f", "lavfi", "-i", "testsrc=size=32x32:rate=8", "-frames:v", "11", `${dir}/v.mp4`]);
  ffmpeg(["-f", "lavfi", "-i", "testsrc=size=32x32:rate=8", "-frames:v", "161", `${dir}/long.mp4`]);
}

// ---------------------------------------------------------------------------------------------
// 12. An output may not replace an input, whatever the path says

Deno.test("cosmos refuses an output that is its own input by another name, and leaves the input as it was", async () => {
  const d = Deno.makeTempDirSync({ dir, prefix: "own-" });
  Deno.writeFileSync(`${d}/victim.png`, PNG);
  Deno.mkdirSync(`${d}/sub`);
  Deno.symlinkSync(`${d}/victim.png`, `${d}/link.png`);
  Deno.linkSync(`${d}/victim.png`, `${d}/hard.png`);
  Deno.symlinkSync(d, `${d}/linkdir`);
  const cases: [string, string[]][] = [
    ["./victim.png", ["autoencode", "victim.png", ...CI, "-o", "./victim.png"]],
    ["an absolute path", ["autoencode", "victim.png", ...CI, "-o", `${d}/victim.png`]],
    ["sub/..", ["autoencode", "victim.png", ...CI, "-o", "sub/../victim.png"]],
    ["missing/.. (a directory not made yet)", [
      "autoencode",
      "victim.png",
      ...CI,
      "-o",
      "missing/../victim.png",
    ]],
    ["a symlink to the input", ["autoencode", "victim.png", ...CI, "-o", "link.png"]],
    ["a hard link of the input", ["autoencode", "victim.png", ...CI, "-o", "hard.png"]],
    ["the input's directory", ["autoencode", "victim.png", ...CI, "-o", "."]],
    ["a symlinked directory", ["autoencode", "victim.png", ...CI, "-o", "linkdir/"]],
    ["a token file", ["encode", "./victim.png", ...CI, "-o", "victim.png"]],
  ];
  for (const [what, args] of cases) {
    const r = await cosmos(args, d);
    assert.equal(r.code, 1, `${what}: exit ${r.code}\n${r.stderr}`);
    assert.match(
      r.stderr,
      /"(\.\/)?victim.png" would be overwritten by its own output \(".*"\); choose another output with -o/,
      what,
    );
    assert.deepEqual(Deno.readFileSync(`${d}/victim.png`), PNG, what);
  }
  assert.ok(Deno.lstatSync(`${d}/link.png`).isSymlink);
  assert.deepEqual([...Deno.readDirSync(d)].map((e) => e.name).sort(), [
    "hard.png",
    "link.png",
    "linkdir",
    "sub",
    "victim.png",
  ]);
});

Deno.test("cosmos refuses an output that replaces another input, a checkpoint it reads, or a convert input", async () => {
  const d = Deno.makeTempDirSync({ dir, prefix: "other-" });
  Deno.mkdirSync(`${d}/rec`);
  Deno.writeFileSync(`${d}/a.png`, PNG);
  Deno.writeFileSync(`${d}/rec/a.png`, PNG);
  const other = await cosmos(["autoencode", "a.png", "rec/a.png", ...CI, "-o", "rec/"], d);
  assert.equal(other.code, 1, other.stderr);
  assert.match(
    other.stderr,
    /"rec\/a.png" would be overwritten by the output of "a.png" \("rec\/a.png"\)/,
  );
  const encoder = `${d}/encoder.safetensors`;
  Deno.copyFileSync(fixture("CI8x8", "encoder"), encoder);
  const before = Deno.readFileSync(encoder);
  const checkpoint = await cosmos(
    ["encode", "a.png", "--encoder", encoder, ...WASM, "-o", "./"],
    d,
  );
  assert.equal(checkpoint.code, 0, checkpoint.stderr); // a.safetensors: not the checkpoint
  Deno.copyFileSync(`${d}/a.png`, `${d}/encoder.png`);
  const clash = await cosmos(["encode", "encoder.png", "--encoder", encoder, "-o", "."], d);
  assert.equal(clash.code, 1, clash.stderr);
  assert.match(
    clash.stderr,
    /".*encoder.safetensors" \(the --encoder checkpoint\) would be overwritten by the output of "encoder.png"/,
  );
  assert.deepEqual(Deno.readFileSync(encoder), before);
  const convert = await cosmos(["convert", encoder, `${d}/./encoder.safetensors`], d);
  assert.equal(convert.code, 1, convert.stderr);
  assert.match(convert.stderr, /would be overwritten by its own output/);
  assert.deepEqual(Deno.readFileSync(encoder), before);
});

Deno.test("expandInputs() counts a file named twice (a.png ./a.png, a symlink) as one input", () => {
  const d = Deno.makeTempDirSync({ dir, prefix: "twice-" });
  Deno.writeFileSync(`${d}/a.png`, PNG);
  Deno.writeFileSync(`${d}/c.png`, PNG);
  Deno.symlinkSync(`${d}/a.png`, `${d}/b.png`);
  assert.deepEqual(expandInputs([`${d}/a.png`, `${d}/./a.png`, `${d}/b.png`, `${d}/c.png`]), [
    `${d}/a.png`,
    `${d}/c.png`,
  ]);
  const name = (i: string) => i.split("/").pop()!.replace(/\.\w+$/, ".safetensors");
  // planOutputs itself sees two inputs and one output: refused, by file rather than by string.
  assert.throws(
    () => planOutputs([`${d}/a.png`, `${d}/./a.png`], `${d}/out/`, "tokens", name),
    /"[^"]*a.png" and "[^"]*a.png" would both be written to/,
  );
});

Deno.test({
  name: "cosmos autoencode of a video refuses -o ./itself and writes nothing",
  ignore: !HAS_FFMPEG,
  async fn() {
    const d = Deno.makeTempDirSync({ dir, prefix: "video-" });
    Deno.copyFileSync(`${dir}/v.mp4`, `${d}/v.mp4`);
    const before = Deno.readFileSync(`${d}/v.mp4`);
    const r = await cosmos(["autoencode", "v.mp4", ...DV, ...WASM, "-o", `./v.mp4`], d);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /"v.mp4" would be overwritten by its own output \("\.\/v.mp4"\)/);
    assert.deepEqual(Deno.readFileSync(`${d}/v.mp4`), before);
    assert.deepEqual([...Deno.readDirSync(d)].map((e) => e.name), ["v.mp4"]);
  },
});

// ---------------------------------------------------------------------------------------------
// 13. Token file metadata is checked against its tensor

const VIDEO: TokenInfo = {
  model: "Cosmos-0.1-Tokenizer-DV4x8x8",
  kind: "video",
  discrete: true,
  spatialCompression: 8,
  temporalCompression: 4,
  source: "v.mp4",
  sourceFormat: "mp4",
  crop: { top: 0, left: 0, height: 32, width: 32 },
  frames: 11,
  window: null,
  fps: 8,
  lastWindowPad: [0, 2],
};
/** 4 latent frames of 4x4: 13 frames of 32x32, the last 2 padding. */
const VIDEO_TOKENS: HostTensor = { data: new Int32Array(64), shape: [1, 4, 4, 4] };

/** A token file with some metadata replaced (undefined: removed), the tensor as given. */
function tokenFile(
  patch: Record<string, string | undefined>,
  info = VIDEO,
  tokens: HostTensor = VIDEO_TOKENS,
  tensorName?: string,
  dtype: "I32" | "F32" = "I32",
): Uint8Array {
  const meta = { ...parseSafetensors(encodeTokenFile({ info, tokens }), "x").metadata };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) delete meta[k];
    else meta[k] = v;
  }
  const name = tensorName ?? (info.discrete ? "indices" : "latent");
  const data = dtype === "I32" ? Int32Array.from(tokens.data) : Float32Array.from(tokens.data);
  return encodeSafetensors({ [name]: { dtype, shape: tokens.shape, data } as never }, meta);
}

Deno.test("readTokenFile() accepts what cosmos encode writes, whole clips and windows", () => {
  assert.deepEqual(readTokenFile(tokenFile({}), "ok").info, VIDEO);
  // 11 frames in windows of 9: a full window (3 latent frames), then 2 frames padded to 5.
  const windows = { ...VIDEO, window: 9, lastWindowPad: [1, 2] as [number, number] };
  const t5 = { data: new Int32Array(80), shape: [1, 5, 4, 4] };
  assert.deepEqual(readTokenFile(tokenFile({}, windows, t5), "w").info, windows);
  const image: TokenInfo = {
    model: "Cosmos-0.1-Tokenizer-CI8x8",
    kind: "image",
    discrete: false,
    spatialCompression: 8,
    temporalCompression: 1,
    source: "a.png",
    sourceFormat: "png",
    crop: { top: 1, left: 0, height: 30, width: 40 },
  };
  const latent = { data: new Float32Array(16 * 20), shape: [1, 16, 4, 5] };
  const read = readTokenFile(tokenFile({}, image, latent, undefined, "F32"), "i").info;
  assert.deepEqual(read, image);
});

Deno.test("readTokenFile() names the damaged field and its value, for every field decode relies on", () => {
  const cases: [Record<string, string | undefined>, RegExp][] = [
    [{ kind: "audio" }, /metadata "kind" is "audio", expected "image" or "video"/],
    [{ discrete: "yes" }, /metadata "discrete" is "yes", expected "true" or "false"/],
    [{ model: undefined }, /metadata "model" is missing/],
    [{ model: "" }, /metadata "model" is ""/],
    [{ model: "a\nb" }, /metadata "model" is "a\\nb", expected a model name/],
    [
      { model: "Cosmos-0.1-Tokenizer-CI8x8" },
      /metadata "model" is "Cosmos-0.1-Tokenizer-CI8x8", expected a model of the file's discrete video tokens at 4x8x8 \(that one makes continuous image tokens at 8x8\)/,
    ],
    [
      { spatial_compression: "0" },
      /metadata "spatial_compression" is "0", expected a power of two/,
    ],
    [{ spatial_compression: "-8" }, /metadata "spatial_compression" is "-8"/],
    [{ spatial_compression: "3" }, /metadata "spatial_compression" is "3"/],
    [{ spatial_compression: "1e1" }, /metadata "spatial_compression" is "1e1"/],
    [{ spatial_compression: " 8" }, /metadata "spatial_compression" is " 8"/],
    [{ spatial_compression: "128" }, /metadata "spatial_compression" is "128"/],
    [{ temporal_compression: "Infinity" }, /metadata "temporal_compression" is "Infinity"/],
    [{ temporal_compression: undefined }, /metadata "temporal_compression" is missing/],
    [{ shape: "[1,2,3,4]" }, /metadata "shape" is \[1,2,3,4\], expected the "indices" tensor's/],
    [{ crop: "{" }, /metadata "crop" is \{, expected the place of the picture/],
    [
      { crop: "[]" },
      /metadata "crop" is \[\], expected the place of the picture in the 32x32 pixels/,
    ],
    [
      { crop: '{"top":0,"left":0,"height":3000,"width":3000}' },
      /metadata "crop" is \{"top":0,"left":0,"height":3000,"width":3000\}, expected the place of the picture in the 32x32 pixels the tokens \[1, 4, 4, 4\] decode to, with less than 8 of padding each way/,
    ],
    [{ crop: '{"top":100,"left":100,"height":32,"width":32}' }, /metadata "crop" is /],
    [{ crop: '{"top":0,"left":0,"height":-5,"width":32}' }, /metadata "crop" is /],
    [{ crop: '{"top":0,"left":0,"height":24,"width":32}' }, /metadata "crop" is /], // 8 rows pad
    [{ crop: '{"top":0.5,"left":0,"height":31,"width":32}' }, /metadata "crop" is /],
    [
      { source_format: "/../../../tmp/x.mp4" },
      /metadata "source_format" is "\/..\/..\/..\/tmp\/x.mp4", expected a video file extension/,
    ],
    [{ source_format: "png" }, /metadata "source_format" is "png", expected a video file/],
    [{ window: "-3" }, /metadata "window" is "-3", expected "whole" or a frame count 1 \+ k x 4/],
    [{ window: "0" }, /metadata "window" is "0"/],
    [{ window: "2" }, /metadata "window" is "2"/],
    [{ window: "1.5" }, /metadata "window" is "1.5"/],
    [{ window: "9e99" }, /metadata "window" is "9e99"/],
    [{ last_window_pad: "[1,1]" }, /metadata "last_window_pad" is \[1,1\], expected \[0, n\]/],
    [{ last_window_pad: "[0,4]" }, /metadata "last_window_pad" is \[0,4\]/],
    [{ last_window_pad: undefined }, /metadata "last_window_pad" is missing/],
    [
      { frames: "12" },
      /metadata "frames" is "12", expected 11: what 4 latent frames of a whole clip, less the padding \[0,2\], decode to/,
    ],
    [{ frames: "0" }, /metadata "frames" is "0"/],
    [{ frames: "-1" }, /metadata "frames" is "-1"/],
    [{ frames: undefined }, /metadata "frames" is missing/],
    [{ fps: "0" }, /metadata "fps" is "0", expected a frame rate from 0.001 to 1000000/],
    [{ fps: "NaN" }, /metadata "fps" is "NaN"/],
    [{ fps: "Infinity" }, /metadata "fps" is "Infinity"/],
    [{ fps: "1e-9" }, /metadata "fps" is "1e-9"/],
  ];
  for (const [patch, message] of cases) {
    assert.throws(
      () => readTokenFile(tokenFile(patch), "x.safetensors"),
      (err: Error) => {
        assert.ok(err.constructor === Error, `${JSON.stringify(patch)}: ${err.stack}`);
        assert.match(err.message, /^Token file "x.safetensors" is damaged: /);
        assert.match(err.message, message, JSON.stringify(patch));
        return true;
      },
    );
  }
  // Windows: the frame count must be what the windows and the last one's padding give.
  const windows = { ...VIDEO, window: 9, frames: 12, lastWindowPad: [1, 2] as [number, number] };
  const t5 = { data: new Int32Array(80), shape: [1, 5, 4, 4] };
  assert.throws(
    () => readTokenFile(tokenFile({}, windows, t5), "w"),
    /metadata "frames" is "12", expected 11: what 5 latent frames in windows of 9, less the padding \[1,2\], decode to/,
  );
  // A last window of one latent frame is one frame: padding it leaves none.
  const t4 = { data: new Int32Array(64), shape: [1, 4, 4, 4] };
  assert.throws(
    () => readTokenFile(tokenFile({}, { ...windows, frames: 9, lastWindowPad: [0, 1] }, t4), "w"),
    /metadata "last_window_pad" is \[0,1\], expected fewer frames than the 1 the last window/,
  );
});

Deno.test("readTokenFile() checks the tensor against kind and discrete: name, type, rank, batch", () => {
  const cases: [Uint8Array, RegExp][] = [
    [tokenFile({}, VIDEO, VIDEO_TOKENS, "latent"), /no "indices" tensor/],
    [tokenFile({}, VIDEO, VIDEO_TOKENS, undefined, "F32"), /"indices" is F32, expected I32/],
    [
      tokenFile({ shape: undefined }, VIDEO, { data: new Int32Array(16), shape: [1, 4, 4] }),
      /"indices" has shape \[1, 4, 4\], expected rank 4/,
    ],
    [
      tokenFile({ shape: undefined }, VIDEO, { data: new Int32Array(128), shape: [2, 4, 4, 4] }),
      /"indices" has shape \[2, 4, 4, 4\], expected one item \(batch 1\)/,
    ],
    [
      tokenFile({ shape: undefined }, VIDEO, { data: new Int32Array(0), shape: [1, 0, 4, 4] }),
      /"indices" has shape \[1, 0, 4, 4\], expected one item \(batch 1\) of sizes >= 1/,
    ],
    [
      tokenFile({ temporal_compression: "4" }, {
        ...VIDEO,
        model: "x",
        kind: "image",
        temporalCompression: 1,
      }, { data: new Int32Array(16), shape: [1, 4, 4] }),
      /metadata "temporal_compression" is "4", expected 1 \(image tokens\)/,
    ],
  ];
  for (const [bytes, message] of cases) {
    assert.throws(() => readTokenFile(bytes, "t"), message);
    assert.throws(() => readTokenFile(bytes, "t"), /^Error: Token file "t" is damaged: /);
  }
});

/** Runs the CLI, sampling its resident memory until it exits. */
async function sampled(args: string[]): Promise<Run & { peakRssMB: number; ms: number }> {
  const started = Date.now();
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: ENV(),
    stdout: "piped",
    stderr: "piped",
    signal: AbortSignal.timeout(120_000),
  }).spawn();
  let peak = 0, done = false;
  const output = child.output().finally(() => done = true);
  while (!done) {
    // Through `cat`, as processes() uses `ps`; an empty answer: it exited between checks.
    const status = new TextDecoder().decode(
      (await new Deno.Command("cat", { args: [`/proc/${child.pid}/status`], stderr: "null" })
        .output()).stdout,
    );
    peak = Math.max(peak, Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0));
    await new Promise((r) => setTimeout(r, 20));
  }
  const out = await output;
  const dec = new TextDecoder();
  return {
    code: out.code,
    stdout: dec.decode(out.stdout),
    stderr: dec.decode(out.stderr),
    peakRssMB: peak / 1024,
    ms: Date.now() - started,
  };
}

Deno.test({
  name:
    "cosmos decode of a hostile token file stops at once with the field named: no output, memory flat",
  ignore: !HAS_FFMPEG,
  ...GPU_TEST,
  async fn() {
    const d = Deno.makeTempDirSync({ dir, prefix: "decode-" });
    const cases: [string, Record<string, string>, RegExp][] = [
      ["window", { window: "-3" }, /metadata "window" is "-3"/],
      // 4000x4000 from 32x32 pixels: a 33-frame 4000x4000 video once (2.4 GB of frames).
      [
        "crop",
        { crop: '{"top":0,"left":0,"height":4000,"width":4000}' },
        /metadata "crop" is \{"top":0,"left":0,"height":4000,"width":4000\}/,
      ],
      ["crop_offset", { crop: '{"top":100,"left":100,"height":32,"width":32}' }, /"crop"/],
      ["crop_negative", { crop: '{"top":0,"left":0,"height":-5,"width":32}' }, /"crop"/],
      ["path", { source_format: "/../../../x.mp4" }, /metadata "source_format" is /],
    ];
    for (const [name, patch, message] of cases) {
      const file = `${d}/${name}.safetensors`;
      Deno.writeFileSync(file, tokenFile(patch));
      const r = await sampled([
        "decode",
        file,
        "--decoder",
        fixture("DV4x8x8", "decoder"),
        ...WASM,
      ]);
      assert.equal(r.code, 1, `${name}: exit ${r.code}\n${r.stderr}`);
      assert.match(r.stderr, /Token file ".*" is damaged: /, name);
      assert.match(r.stderr, message, name);
      assert.doesNotMatch(r.stderr, /Invalid typed array length|TypeError/, name);
      assert.ok(r.peakRssMB > 0, `${name}: its memory was sampled`);
      assert.ok(r.peakRssMB < 250, `${name}: peak RSS ${r.peakRssMB.toFixed(0)} MB`);
      assert.ok(r.ms < 30_000, `${name}: ${r.ms} ms`);
    }
    // Nothing decoded, nothing written anywhere near.
    assert.deepEqual([...Deno.readDirSync(d)].filter((e) => !e.name.endsWith(".safetensors")), []);
  },
});

// ---------------------------------------------------------------------------------------------
// 14. SIGTERM and SIGHUP clean up as Ctrl-C does

/**
 * Every process as `ps` lists it (pid, parent pid, state, command): through `ps`, since Deno
 * lets a script read /proc only with every permission, and the test task grants --allow-run.
 */
function processes(): { pid: number; ppid: number; state: string; comm: string }[] {
  const out = new Deno.Command("ps", { args: ["-e", "-o", "pid=,ppid=,stat=,comm="] })
    .outputSync();
  return new TextDecoder().decode(out.stdout).split("\n").flatMap((line) => {
    const m = /^\s*(\d+)\s+(\d+)\s+(\S+)\s+(.*)$/.exec(line);
    return m ? [{ pid: Number(m[1]), ppid: Number(m[2]), state: m[3], comm: m[4].trim() }] : [];
  });
}

/** The pids of a process's children whose command is ffmpeg. */
function ffmpegChildren(pid: number): number[] {
  return processes().filter((p) => p.comm === "ffmpeg" && p.ppid === pid).map((p) => p.pid);
}

/** Whether `pid` is a live (not zombie) ffmpeg. */
function isFfmpegRunning(pid: number): boolean {
  return processes().some((p) => p.pid === pid && p.comm === "ffmpeg" && !p.state.startsWith("Z"));
}

async function signalMidRun(
  args: string[],
  out: string,
  signal: Deno.Signal,
): Promise<{ code: number; stderr: string; ffmpeg: number[] }> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: ENV(),
    stdout: "null",
    stderr: "piped",
  }).spawn();
  // Wait until the temporary output exists: frames are being written through ffmpeg.
  const deadline = Date.now() + 60_000;
  let seen: number[] = [];
  while (![...Deno.readDirSync(out)].length && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  seen = ffmpegChildren(child.pid);
  const names = [...Deno.readDirSync(out)].map((e) => e.name);
  assert.ok(names.length, "a temporary output appears while running");
  assert.match(names[0], /^\..*\.partial-\d+-\d+\.mp4$/);
  child.kill(signal);
  const { code, stderr } = await child.output();
  return { code, stderr: new TextDecoder().decode(stderr), ffmpeg: seen };
}

for (
  const [signal, status, said] of [["SIGTERM", 143, "terminated"], [
    "SIGHUP",
    129,
    "hung up",
  ]] as const
) {
  Deno.test({
    name:
      `${signal} during autoencode and decode of a video: no temporary file, no ffmpeg left, exit ${status}`,
    ignore: !HAS_FFMPEG,
    ...GPU_TEST,
    async fn() {
      const out = Deno.makeTempDirSync({ dir, prefix: `${signal}-` });
      const auto = await signalMidRun(
        ["autoencode", `${dir}/long.mp4`, ...DV, ...WASM, "--window", "9", "-o", `${out}/long.mp4`],
        out,
        signal,
      );
      assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), [], auto.stderr);
      assert.ok(auto.ffmpeg.length >= 1, "ffmpeg children were seen");
      assert.deepEqual(auto.ffmpeg.filter(isFfmpegRunning), [], "every ffmpeg child is gone");
      assert.equal(auto.code, status, auto.stderr);
      assert.match(auto.stderr, new RegExp(`${said}: no partial outputs left`));

      // decode writes its video through ffmpeg too.
      const tokens = `${dir}/long-${signal}.safetensors`;
      const enc = await cosmos(["encode", `${dir}/long.mp4`, ...DV, ...WASM, "-o", tokens]);
      assert.equal(enc.code, 0, enc.stderr);
      const dec = await signalMidRun(
        [
          "decode",
          tokens,
          "--decoder",
          fixture("DV4x8x8", "decoder"),
          ...WASM,
          "-o",
          `${out}/d.mp4`,
        ],
        out,
        signal,
      );
      assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), [], dec.stderr);
      assert.deepEqual(dec.ffmpeg.filter(isFfmpegRunning), [], "every ffmpeg child is gone");
      assert.equal(dec.code, status, dec.stderr);
    },
  });
}

// ---------------------------------------------------------------------------------------------
// 15. Sentences, not bare errors

Deno.test("cosmos decode names an image, a video or a checkpoint given instead of a token file", async () => {
  const cases: [string, RegExp][] = [
    [
      `${dir}/photo.png`,
      /"[^"]*photo.png" is a PNG image, not a token file: decode takes the .safetensors files that cosmos encode writes/,
    ],
    [`${dir}/photo.jpg`, /"[^"]*photo.jpg" is a JPEG image, not a token file/],
    [
      new URL("CV4x8x8/encoder.jit", FIXTURES).pathname,
      /is a zip archive \(a TorchScript checkpoint\?\), not a token file: pass a checkpoint as --encoder or --decoder/,
    ],
    [
      `${dir}/notes.txt`,
      /"[^"]*notes.txt" is not a token file written by cosmos encode, nor any safetensors file \(/,
    ],
  ];
  Deno.writeTextFileSync(`${dir}/notes.txt`, "hello, this is text and longer than eight bytes");
  if (HAS_FFMPEG) {
    cases.push([`${dir}/v.mp4`, /"[^"]*v.mp4" is an MP4\/MOV video, not a token file/]);
  }
  for (const [file, message] of cases) {
    const r = await cosmos(["decode", file, ...CI]);
    assert.equal(r.code, 1, `${file}: ${r.stderr}`);
    assert.match(r.stderr, message, file);
    assert.doesNotMatch(r.stderr, /TypeError/, file);
    if (!file.endsWith(".txt")) assert.doesNotMatch(r.stderr, /oversized header/, file);
  }
});

Deno.test({
  name:
    "Tokenizer streams and conversions reject what is not a tensor with a sentence, not a TypeError",
  ...GPU_TEST,
  async fn() {
    for (const window of [undefined, 9]) {
      const tok = await loadTokenizer({
        encoder: fixture("DV4x8x8", "encoder"),
        decoder: fixture("DV4x8x8", "decoder"),
        model: "DV4x8x8",
        backend: "wasm",
        wasm: { threads: 1 },
        window,
      });
      try {
        const drain = async (g: AsyncIterable<unknown>) => {
          for await (const _ of g) {
            // consumed only to run it
          }
        };
        const cases: [string, () => Promise<unknown>, RegExp][] = [];
        for (const bad of [null, undefined, 5, "x", {}, { shape: null }] as never[]) {
          const what = JSON.stringify(bad) ?? "undefined";
          cases.push(
            [
              `encodeStream([${what}])`,
              () => drain(tok.encodeStream([bad])),
              /^Cannot stream: expected frames \[B, 3, H, W\] or clips \[B, 3, t, H, W\], got /,
            ],
            [
              `encodeFrames([${what}])`,
              () => drain(tok.encodeFrames([bad])),
              /^Cannot stream: expected frames/,
            ],
            [`decodeStream([${what}])`, () => drain(tok.decodeStream([bad])), /^Cannot decode: /],
            [`decodeFrames([${what}])`, () => drain(tok.decodeFrames([bad])), /^Cannot decode: /],
            [
              `indicesToCodes(${what})`,
              () => tok.indicesToCodes(bad),
              /^Cannot convert indices to codes: expected a tensor/,
            ],
          );
        }
        for (const bad of [null, undefined, 5, {}] as never[]) {
          const what = JSON.stringify(bad) ?? "undefined";
          cases.push(
            [
              `encodeStream(${what})`,
              () => drain(tok.encodeStream(bad)),
              /^Cannot encode a stream: expected an iterable or async iterable of frames or clips, got /,
            ],
            [
              `encodeFrames(${what})`,
              () => drain(tok.encodeFrames(bad)),
              /^Cannot encode a stream: /,
            ],
            [
              `decodeStream(${what})`,
              () => drain(tok.decodeStream(bad)),
              /^Cannot decode a stream: expected an iterable or async iterable of tokens, got /,
            ],
            [
              `decodeFrames(${what})`,
              () => drain(tok.decodeFrames(bad)),
              /^Cannot decode a stream: /,
            ],
          );
        }
        // A second, broken piece fails on its own check, not inside the join of the two.
        const frame = { data: new Float32Array(3 * 64), shape: [1, 3, 8, 8] };
        cases.push([
          "encodeStream([frame, { shape, data: null }])",
          () => drain(tok.encodeStream([frame, { shape: [1, 3, 8, 8], data: null } as never])),
          /^Cannot encode: shape \[1, 3, 1, 8, 8\] needs 192 values, data has undefined/,
        ]);
        for (const [name, fn, message] of cases) {
          await assert.rejects(fn, (err: Error) => {
            assert.ok(err.constructor === Error, `window ${window} ${name}: ${err.stack}`);
            assert.match(err.message, message, `window ${window} ${name}`);
            return true;
          });
        }
      } finally {
        await tok.dispose();
      }
    }
  },
});

Deno.test({
  name: "clean up the hostile CLI test folder",
  fn() {
    Deno.removeSync(dir, { recursive: true });
  },
});
