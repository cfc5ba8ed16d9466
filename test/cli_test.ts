/**
 * The `cosmos` CLI end to end, as a subprocess: a generated PNG and JPEG and a short video made
 * with ffmpeg through autoencode, encode, info and decode with the small fixture checkpoints;
 * the error messages for bad input; Ctrl-C leaving no output behind. Also the CLI's pure parts
 * (padding, tensor conversion, output planning, progress line).
 */

import assert from "node:assert/strict";
import { FIXTURES, GPU_TEST, HAS_FFMPEG } from "./helpers.ts";
import { decodeImage, encodeImage, type RgbImage } from "../src/media/image.ts";
import { cropImage, padImage } from "../src/media/pad.ts";
import { framesToTensor, tensorToFrames } from "../src/media/tensor.ts";
import { planOutputs } from "../src/cli/outputs.ts";
import { formatDuration, formatProgress } from "../src/cli/progress.ts";
import { encodeTokenFile, readTokenFile } from "../src/cli/tokens.ts";
import { convertCheckpoint } from "../src/tools/convert.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import { probeVideo, readVideoFrames } from "../src/media/video.ts";
import { loadTokenizer } from "../mod.ts";
import { existsSync } from "node:fs";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const fixture = (v: string, half: string) => new URL(`${v}/${half}.safetensors`, FIXTURES).pathname;
const CI = ["--encoder", fixture("CI8x8", "encoder"), "--decoder", fixture("CI8x8", "decoder")];
const DV = ["--encoder", fixture("DV4x8x8", "encoder"), "--decoder", fixture("DV4x8x8", "decoder")];

const NO_FFMPEG = HAS_FFMPEG ? false : true;
if (!HAS_FFMPEG) console.warn("ffmpeg is not on PATH: the CLI's video tests are skipped");

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function cosmos(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

function ok(r: Run): Run {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** Colour gradients with a disc: content with edges, so padding and crops show. */
function pattern(width: number, height: number, seed = 0): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      const disc = (x - width / 2) ** 2 + (y - height / 2) ** 2 < (height / 3) ** 2 ? 90 : 0;
      data[i] = (x * 255 / width + seed) % 256;
      data[i + 1] = (y * 255 / height + disc) % 256;
      data[i + 2] = (128 + disc + 7 * seed) % 256;
    }
  }
  return { width, height, data };
}

function ffmpeg(args: string[]): void {
  const r = new Deno.Command("ffmpeg", { args: ["-v", "error", "-y", ...args], stderr: "piped" })
    .outputSync();
  if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
}

function probe(path: string): { width: number; height: number; frames: number } {
  const r = new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-count_frames",
      "-show_entries",
      "stream=width,height,nb_read_frames",
      "-of",
      "json",
      path,
    ],
    stdout: "piped",
  }).outputSync();
  const s = JSON.parse(new TextDecoder().decode(r.stdout)).streams[0];
  return { width: s.width, height: s.height, frames: Number(s.nb_read_frames) };
}

/** A video's frames as ffmpeg decodes them to 8-bit RGB, all in one array. */
function rawFrames(path: string): Uint8Array {
  const r = new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    stdout: "piped",
  }).outputSync();
  if (!r.success) throw new Error(`ffmpeg could not decode ${path}`);
  return r.stdout;
}

/** PSNR written out plainly (20 log10(255 / (rmse + eps))), independent of src/media/metrics.ts. */
function plainPsnr(a: Uint8Array, b: Uint8Array): number {
  let se = 0;
  for (let i = 0; i < a.length; i++) se += (a[i] - b[i]) ** 2;
  return 20 * Math.log10(255 / (Math.sqrt(se / a.length) + 2 ** -23));
}

const dir = Deno.makeTempDirSync({ prefix: "cosmos-cli-test-" });
// 40x30 is not a multiple of 8: padded by reflection and cropped back.
Deno.writeFileSync(`${dir}/a.png`, encodeImage(pattern(40, 30), "png"));
Deno.writeFileSync(`${dir}/b.jpg`, encodeImage(pattern(32, 24, 50), "jpeg", 90));
if (HAS_FFMPEG) {
  ffmpeg(["-f", "lavfi", "-i", "testsrc=size=32x32:rate=8", "-frames:v", "11", `${dir}/v.mp4`]);
}

// ---------------------------------------------------------------------------------------------
// Pure parts

Deno.test("padImage: reflection (numpy 'reflect') split as the reference splits it, cropImage undoes it", () => {
  // One row 1 2 3, padded from width 3 to 8: 5 columns, 2 before and 3 after.
  const row: RgbImage = {
    width: 3,
    height: 1,
    data: Uint8Array.from([1, 2, 3].flatMap((v) => [v, v, v])),
  };
  const { image, crop } = padImage(row, 8);
  assert.equal(image.width, 8);
  assert.equal(image.height, 8);
  const first = [...image.data.subarray(0, 24)].filter((_, i) => i % 3 === 0);
  assert.deepEqual(first, [3, 2, 1, 2, 3, 2, 1, 2]);
  assert.deepEqual(crop, { top: 3, left: 2, height: 1, width: 3 });
  assert.deepEqual([...cropImage(image, crop).data], [...row.data]);
  const zero = padImage(row, 8, "zero").image;
  assert.deepEqual([...zero.data.subarray(0, 24)].filter((_, i) => i % 3 === 0), [
    0,
    0,
    0,
    0,
    0,
    0,
    0,
    0,
  ]);
  // Already a multiple: returned as is.
  const img = pattern(16, 8);
  assert.equal(padImage(img, 8).image, img);
});

Deno.test("framesToTensor / tensorToFrames: [-1, 1] channels-first and back, the reference's rounding", () => {
  const img = pattern(5, 3);
  const t = framesToTensor([img], false);
  assert.deepEqual(t.shape, [1, 3, 3, 5]);
  assert.equal(t.data[0], img.data[0] / 127.5 - 1);
  assert.equal(t.data[15], img.data[1] / 127.5 - 1); // channel 1 of pixel 0
  assert.deepEqual([...tensorToFrames(t)[0].data], [...img.data]);
  const v = framesToTensor([img, pattern(5, 3, 9)], true);
  assert.deepEqual(v.shape, [1, 3, 2, 3, 5]);
  assert.deepEqual([...tensorToFrames(v)[1].data], [...pattern(5, 3, 9).data]);
  // Out of range values clamp; 0.5 rounds up as (x * 255 + 0.5) truncated.
  const edge = tensorToFrames({ data: new Float32Array([-2, 2, 0]), shape: [1, 3, 1, 1] })[0];
  assert.deepEqual([...edge.data], [0, 255, 128]);
  // Into arrays a stream reuses: the same values, in the same arrays; another size, a new one.
  const into = new Float32Array(45);
  const t2 = framesToTensor([img], false, into);
  assert.equal(t2.data, into);
  assert.deepEqual([...into], [...t.data]);
  assert.notEqual(framesToTensor([img], false, new Float32Array(44)).data.length, 44);
  const pool: Uint8Array[] = [];
  const first = tensorToFrames(v, pool);
  const second = tensorToFrames(v, pool);
  assert.deepEqual([pool.length, second[0].data, second[1].data], [2, pool[0], pool[1]]);
  assert.equal(second[1].data, first[1].data);
  assert.deepEqual([...second[1].data], [...pattern(5, 3, 9).data]);
});

Deno.test("planOutputs: file or directory, defaults beside inputs, clashes refused", () => {
  const d = Deno.makeTempDirSync();
  const name = (i: string) => i.split("/").pop()!.replace(/\.\w+$/, ".safetensors");
  assert.deepEqual(planOutputs([`${d}/x.png`], `${d}/t.safetensors`, "tokens", name), [
    `${d}/t.safetensors`,
  ]);
  assert.deepEqual(planOutputs([`${d}/x.png`, `${d}/y.png`], `${d}/out`, "tokens", name), [
    `${d}/out/x.safetensors`,
    `${d}/out/y.safetensors`,
  ]);
  assert.deepEqual(planOutputs([`${d}/x.png`], undefined, "tokens", name), [
    `${d}/tokens/x.safetensors`,
  ]);
  assert.throws(
    () => planOutputs([`${d}/x.png`, `${d}/x.jpg`], `${d}/o/`, "tokens", name),
    /would both be written to/,
  );
  Deno.removeSync(d, { recursive: true });
});

Deno.test("readTokenFile() refuses a video token file whose time padding is not what 1 + k x tc takes", () => {
  const file = (lastWindowPad: unknown) =>
    encodeTokenFile({
      info: {
        model: "Cosmos-0.1-Tokenizer-DV4x8x8",
        kind: "video",
        discrete: true,
        spatialCompression: 8,
        temporalCompression: 4,
        source: "v.mp4",
        sourceFormat: "mp4",
        crop: { top: 0, left: 0, height: 8, width: 8 },
        frames: 2, // 2 latent frames are 5 frames, less the 3 padding ones
        window: null,
        fps: 8,
        lastWindowPad: lastWindowPad as [number, number],
      },
      tokens: { data: new Int32Array(2), shape: [1, 2, 1, 1] },
    });
  assert.deepEqual(readTokenFile(file([0, 3]), "ok").info.lastWindowPad, [0, 3]);
  for (const bad of [[0, 4], [2, 2], [-1, 0], [0, 1.5], [0], { length: 2 }]) {
    assert.throws(
      () => readTokenFile(file(bad), "bad"),
      /Token file "bad" is damaged: metadata "last_window_pad" is /,
      JSON.stringify(bad),
    );
  }
});

Deno.test("progress line: bar, count, rate and ETA; rate only without a total", () => {
  assert.equal(
    formatProgress("encode v.mp4", 10, 40, "frames", 5, 8),
    "encode v.mp4 [##......] 10/40 frames  2.0 frames/s  ETA 0:15",
  );
  assert.equal(formatProgress("x", 30, null, "frames", 2), "x 30 frames  15 frames/s");
  assert.equal(formatDuration(3725), "1:02:05");
});

// ---------------------------------------------------------------------------------------------
// Help and errors (no model is loaded)

Deno.test("--help on the CLI and every command", async () => {
  const top = ok(await cosmos(["--help"]));
  for (const cmd of ["encode", "decode", "autoencode", "info", "convert", "bench"]) {
    assert.match(top.stdout, new RegExp(`\\n  ${cmd} `));
    const r = ok(await cosmos([cmd, "--help"]));
    assert.match(r.stdout, new RegExp(`usage: cosmos ${cmd} `));
    assert.match(r.stdout, /-h, --help/);
  }
});

Deno.test("bad input: each mistake gets a message that names it", async () => {
  const cases: [string[], number, RegExp, Record<string, string>?][] = [
    [["frobnicate"], 2, /unknown command "frobnicate"/],
    [["encode", `${dir}/a.png`, "--bogus"], 2, /Unknown option '--bogus'/],
    [["encode", `${dir}/missing.png`, ...CI], 1, /No such file: ".*missing.png"/],
    [["encode", `${dir}/*.gif`, ...CI], 1, /No files match/],
    [["encode", `${dir}/a.png`], 2, /give --model NAME, or --encoder\/--decoder FILE/],
    [["encode", `${dir}/a.png`, "--model", "CX9x9"], 1, /Unknown model "CX9x9": expected one of/],
    [
      ["autoencode", `${dir}/a.png`, "--encoder", fixture("CI8x8", "encoder")],
      2,
      /both --encoder and --decoder/,
    ],
    [["encode", `${dir}/notes.txt`, ...CI], 1, /Unsupported format: ".*notes.txt"/],
    [["encode", `${dir}/a.png`, "--encoder", `${dir}/a.png`], 1, /Invalid safetensors file/],
    [
      ["decode", fixture("CI8x8", "decoder"), ...CI],
      1,
      /not a token file written by cosmos encode .*a checkpoint\?/,
    ],
    [["info", `${dir}/a.png`], 1, /neither a safetensors file nor a TorchScript archive/],
    [["encode", `${dir}/a.png`, ...CI, "--window", "0"], 2, /--window must be a positive integer/],
    [
      ["encode", `${dir}/a.png`, ...CI, "--backend", "cuda"],
      2,
      /--backend must be auto, webgpu or wasm, got "cuda"/,
    ],
    [["encode", `${dir}/a.png`, ...CI, "--threads", "0"], 2, /--threads must be a positive/],
    [
      ["autoencode", `${dir}/v.mp4`, ...DV],
      1,
      /ffmpeg was not found on PATH.*apt-get install ffmpeg/,
      {
        PATH: dir,
      },
    ],
  ];
  Deno.writeTextFileSync(`${dir}/notes.txt`, "hello");
  if (!HAS_FFMPEG) Deno.writeFileSync(`${dir}/v.mp4`, new Uint8Array(16));
  for (const [args, code, message, env] of cases) {
    const r = await cosmos(args, env);
    assert.equal(r.code, code, `${args.join(" ")}: exit ${r.code}\n${r.stderr}`);
    assert.match(r.stderr, message, args.join(" "));
  }
  Deno.removeSync(`${dir}/notes.txt`);
});

Deno.test("convert and bench are the tools' own code behind the CLI", async () => {
  const jit = new URL("CV4x8x8/encoder.jit", FIXTURES).pathname;
  const noModel = await cosmos(["convert", jit, `${dir}/c.safetensors`]);
  assert.equal(noModel.code, 1);
  assert.match(noModel.stderr, /pass --model NAME or --spatial S --temporal T/);
  assert.ok(!existsSync(`${dir}/c.safetensors`));
  const r = ok(await cosmos(["convert", jit, `${dir}/c.safetensors`, "--model", "CV4x8x8"]));
  assert.match(r.stdout, /Cosmos-0.1-Tokenizer-CV4x8x8, 144 tensors/);
  const expected = await convertCheckpoint(jit, { model: "CV4x8x8" });
  assert.deepEqual(Deno.readFileSync(`${dir}/c.safetensors`), expected.bytes);
  const shown = ok(await cosmos(["info", `${dir}/c.safetensors`]));
  assert.match(shown.stdout, /Cosmos-0.1-Tokenizer-CV4x8x8 \(video, continuous, 4x8x8 compression/);
  // The CPU kernels, then the WebAssembly backend's ceiling and convolutions.
  const wasm = ok(await cosmos(["bench", "--backend", "wasm", "--threads", "2", "--kernels-only"]));
  assert.match(wasm.stdout, /haar2d patch .* wasm [\d.]+ MB\/s/);
  assert.match(wasm.stdout, /fsqQuantize .* M codes\/s/);
  assert.match(wasm.stdout, /WebAssembly: wasm \((relaxed )?SIMD, 2 threads\)/);
  assert.match(wasm.stdout, /ceiling +[\d.]+ GFLOP\/s \(SGEMM/);
  assert.match(wasm.stdout, /conv +3x3 512->512 @32x32 +[\d.]+ GFLOP\/s +\d+% of ceiling/);
});

// ---------------------------------------------------------------------------------------------
// End to end on the fixtures

Deno.test({
  name: "autoencode: PNG and JPEG by glob, JSON lines with PSNR, SSIM and timings, sizes kept",
  ...GPU_TEST,
  async fn() {
    const r = ok(
      await cosmos([
        "autoencode",
        `${dir}/*.png`,
        `${dir}/b.jpg`,
        ...CI,
        "-o",
        `${dir}/rec`,
        "--json",
        "--backend",
        "wasm",
        "--threads",
        "2",
      ]),
    );
    const lines = r.stdout.trim().split("\n").map((l) => JSON.parse(l));
    assert.equal(lines.length, 2);
    for (const line of lines) {
      assert.match(line.backend, /^wasm \((relaxed )?SIMD, 2 threads\)$/);
      for (const k of ["input", "output", "psnr", "ssim", "encode_ms", "decode_ms", "total_ms"]) {
        assert.ok(k in line, `${k} in ${JSON.stringify(line)}`);
      }
      assert.ok(Number.isFinite(line.psnr) && line.ssim <= 1 && line.ssim >= -1);
      assert.ok(line.encode_ms > 0 && line.decode_ms > 0 && line.total_ms >= line.encode_ms);
    }
    assert.deepEqual(lines.map((l) => l.input), [`${dir}/a.png`, `${dir}/b.jpg`]);
    assert.deepEqual(lines[0].tokens, [1, 16, 4, 5]); // 40x30 padded to 40x32
    // The written PNG is the reconstruction that was measured, at the input's size.
    const input = decodeImage(Deno.readFileSync(`${dir}/a.png`), "a");
    const rec = decodeImage(Deno.readFileSync(`${dir}/rec/a.png`), "rec");
    assert.deepEqual([rec.width, rec.height], [40, 30]);
    assert.ok(Math.abs(plainPsnr(input.data, rec.data) - lines[0].psnr) < 1e-9);
    const jpg = decodeImage(Deno.readFileSync(`${dir}/rec/b.jpg`), "rec");
    assert.deepEqual([jpg.width, jpg.height], [32, 24]);
    assert.match(r.stderr, /autoencode: 2 of 2 done .* mean PSNR/);
  },
});

Deno.test({
  name:
    "encode -> info -> decode: the token file holds the model, shapes and source; decode gives the autoencode result",
  ...GPU_TEST,
  async fn() {
    ok(await cosmos(["encode", `${dir}/a.png`, ...CI, "-o", `${dir}/a.safetensors`]));
    const { info, tokens } = readTokenFile(Deno.readFileSync(`${dir}/a.safetensors`), "a");
    assert.equal(info.model, "Cosmos-0.1-Tokenizer-CI8x8");
    assert.equal(info.source, `${dir}/a.png`);
    assert.deepEqual(tokens.shape, [1, 16, 4, 5]);
    assert.deepEqual(info.crop, { top: 1, left: 0, height: 30, width: 40 });
    const shown = ok(await cosmos(["info", `${dir}/a.safetensors`, fixture("CI8x8", "encoder")]));
    assert.match(shown.stdout, /image tokens \(latent \[1, 16, 4, 5\]\)/);
    assert.match(shown.stdout, /Cosmos-0.1-Tokenizer-CI8x8 \(image, continuous, 8x8 compression/);
    ok(
      await cosmos([
        "decode",
        `${dir}/a.safetensors`,
        "--decoder",
        fixture("CI8x8", "decoder"),
        "-o",
        `${dir}/a_dec.png`,
      ]),
    );
    const decoded = decodeImage(Deno.readFileSync(`${dir}/a_dec.png`), "dec");
    const autoencoded = decodeImage(Deno.readFileSync(`${dir}/rec/a.png`), "rec");
    assert.deepEqual([...decoded.data], [...autoencoded.data]);
  },
});

Deno.test({
  name: "video: autoencode, encode and decode stream through ffmpeg window by window",
  ignore: NO_FFMPEG,
  ...GPU_TEST,
  async fn() {
    // 11 frames in windows of 9: a full window, then 2 frames padded to 5.
    const r = ok(
      await cosmos([
        "autoencode",
        `${dir}/v.mp4`,
        ...DV,
        "--window",
        "9",
        "-o",
        `${dir}/v_rec.mp4`,
        "--json",
      ]),
    );
    const line = JSON.parse(r.stdout);
    assert.equal(line.frames, 11);
    assert.deepEqual(line.tokens, [1, 5, 4, 4]);
    assert.ok(Number.isFinite(line.psnr) && Number.isFinite(line.ssim));
    assert.deepEqual(probe(`${dir}/v_rec.mp4`), { width: 32, height: 32, frames: 11 });

    ok(
      await cosmos([
        "encode",
        `${dir}/v.mp4`,
        ...DV,
        "--window",
        "9",
        "-o",
        `${dir}/v.safetensors`,
      ]),
    );
    const { info, tokens } = readTokenFile(Deno.readFileSync(`${dir}/v.safetensors`), "v");
    assert.deepEqual(tokens.shape, [1, 5, 4, 4]);
    assert.equal(info.frames, 11);
    assert.equal(info.window, 9);
    assert.deepEqual(info.lastWindowPad, [1, 2]);
    ok(
      await cosmos([
        "decode",
        `${dir}/v.safetensors`,
        "--decoder",
        fixture("DV4x8x8", "decoder"),
        "-o",
        `${dir}/v_dec.mp4`,
      ]),
    );
    assert.deepEqual(probe(`${dir}/v_dec.mp4`), { width: 32, height: 32, frames: 11 });
    // Each window decoded on its own, as it was encoded: the pixels autoencode gave.
    assert.deepEqual(rawFrames(`${dir}/v_dec.mp4`), rawFrames(`${dir}/v_rec.mp4`));
    // An image model refuses the video with a message saying why.
    const wrong = await cosmos(["encode", `${dir}/v.mp4`, ...CI, "-o", `${dir}/w.safetensors`]);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /is a video but Cosmos-0.1-Tokenizer-CI8x8 is an image tokenizer; use a video model/,
    );
  },
});

Deno.test({
  name:
    "video: by default the whole clip streams exactly, its token file equal to one whole-clip encode padded at its end",
  ignore: NO_FFMPEG,
  ...GPU_TEST,
  async fn() {
    const wasm = ["--backend", "wasm", "--threads", "2"];
    // 11 frames: padded at the end to 13 = 1 + 3 x 4 by repeating frame 10 twice.
    ok(await cosmos(["encode", `${dir}/v.mp4`, ...DV, ...wasm, "-o", `${dir}/vx.safetensors`]));
    const bytes = Deno.readFileSync(`${dir}/vx.safetensors`);
    const { info, tokens } = readTokenFile(bytes, "vx");
    assert.equal(parseSafetensors(bytes, "vx").metadata.window, "whole");
    assert.equal(info.window, null);
    assert.equal(info.frames, 11);
    assert.deepEqual(info.lastWindowPad, [0, 2]);
    assert.deepEqual(tokens.shape, [1, 4, 4, 4]);
    const shown = ok(await cosmos(["info", `${dir}/vx.safetensors`]));
    assert.match(shown.stdout, /\(32x32, 11 frames at 8 fps, whole clip\)/);

    // The same frames through the library in one pass: the same indices, to the last one.
    const tok = await loadTokenizer({
      encoder: fixture("DV4x8x8", "encoder"),
      model: "DV4x8x8",
      backend: "wasm",
      wasm: { threads: 2 },
    });
    try {
      const info = await probeVideo(`${dir}/v.mp4`);
      const frames: RgbImage[] = [];
      for await (const f of readVideoFrames(`${dir}/v.mp4`, info)) frames.push(f);
      // With `reuse`: the same pixels, each frame read into the memory of the one before (a
      // BYOB read moves it, leaving the earlier view empty); without, each frame keeps its own.
      let n = 0;
      let previous = null as Uint8Array | null;
      for await (const f of readVideoFrames(`${dir}/v.mp4`, info, Infinity, true)) {
        assert.equal(previous?.byteLength ?? 0, 0, `frame ${n - 1}'s memory went to frame ${n}`);
        assert.deepEqual(f.data, frames[n++].data, `frame ${n - 1} read into the reused memory`);
        previous = f.data;
      }
      assert.equal(n, 11);
      assert.ok(frames.every((f) => f.data.byteLength === 32 * 32 * 3), "frames read anew kept");
      frames.push(frames[10], frames[10]);
      const whole = await tok.encode(framesToTensor(frames, true));
      assert.deepEqual([...tokens.data], [...whole.indices!.data]);
    } finally {
      await tok.dispose();
    }

    // Decoding the file gives the 11 frames autoencode reconstructs (the same pixels).
    const r = ok(
      await cosmos([
        "autoencode",
        `${dir}/v.mp4`,
        ...DV,
        ...wasm,
        "-o",
        `${dir}/vx_rec.mp4`,
        "--json",
      ]),
    );
    const line = JSON.parse(r.stdout);
    assert.equal(line.frames, 11);
    assert.deepEqual(line.tokens, [1, 4, 4, 4]);
    assert.ok(Number.isFinite(line.psnr) && Number.isFinite(line.ssim));
    ok(
      await cosmos([
        "decode",
        `${dir}/vx.safetensors`,
        "--decoder",
        fixture("DV4x8x8", "decoder"),
        ...wasm,
        "-o",
        `${dir}/vx_dec.mp4`,
      ]),
    );
    assert.deepEqual(probe(`${dir}/vx_dec.mp4`), { width: 32, height: 32, frames: 11 });
    assert.deepEqual(probe(`${dir}/vx_rec.mp4`), { width: 32, height: 32, frames: 11 });
    assert.deepEqual(rawFrames(`${dir}/vx_dec.mp4`), rawFrames(`${dir}/vx_rec.mp4`));
  },
});

Deno.test({
  name: "Ctrl-C during a long video leaves no output file, partial or whole, and exits 130",
  ignore: NO_FFMPEG,
  ...GPU_TEST,
  async fn() {
    ffmpeg([
      "-f",
      "lavfi",
      "-i",
      "testsrc=size=32x32:rate=8",
      "-frames:v",
      "81",
      `${dir}/long.mp4`,
    ]);
    const out = `${dir}/interrupted`;
    Deno.mkdirSync(out);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "autoencode",
        `${dir}/long.mp4`,
        ...DV,
        "--window",
        "9",
        "-o",
        `${out}/long.mp4`,
      ],
      env: { NO_COLOR: "1" },
      stdout: "null",
      stderr: "piped",
    }).spawn();
    // Wait until the temporary output exists: frames are being written.
    const deadline = Date.now() + 60_000;
    while (![...Deno.readDirSync(out)].length && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.ok([...Deno.readDirSync(out)].length, "a temporary output appears while running");
    child.kill("SIGINT");
    const { code, stderr } = await child.output();
    assert.equal(code, 130, new TextDecoder().decode(stderr));
    assert.deepEqual([...Deno.readDirSync(out)].map((e) => e.name), []);
  },
});

Deno.test({
  name:
    "examples: encode_image.ts and decode_tokens.ts give the CLI's reconstruction; encode_video.ts whole or in windows",
  ...GPU_TEST,
  async fn() {
    const example = (name: string, args: string[]) =>
      new Deno.Command(Deno.execPath(), {
        args: ["run", "-A", new URL(`../examples/${name}`, import.meta.url).pathname, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output().then((o) => ({
        code: o.code,
        stdout: new TextDecoder().decode(o.stdout),
        stderr: new TextDecoder().decode(o.stderr),
      }));
    Deno.copyFileSync(`${dir}/a.png`, `${dir}/ex.png`);
    const enc = ok(
      await example("encode_image.ts", [`${dir}/ex.png`, "--encoder", fixture("CI8x8", "encoder")]),
    );
    assert.match(enc.stdout, /40x30 -> latent \[1,16,4,5\]/);
    ok(
      await example("decode_tokens.ts", [
        `${dir}/ex.tokens.safetensors`,
        "--decoder",
        fixture("CI8x8", "decoder"),
      ]),
    );
    const decoded = decodeImage(Deno.readFileSync(`${dir}/ex.tokens.png`), "ex");
    const autoencoded = decodeImage(Deno.readFileSync(`${dir}/rec/a.png`), "rec");
    assert.deepEqual([...decoded.data], [...autoencoded.data]);
    if (HAS_FFMPEG) {
      const v = ok(
        await example("encode_video.ts", [
          `${dir}/v.mp4`,
          "--encoder",
          fixture("DV4x8x8", "encoder"),
          "--window",
          "9",
        ]),
      );
      assert.match(
        v.stdout,
        /window 0: frames \[0,9\) -> \[1,3,4,4\]\nwindow 1: frames \[9,14\) -> \[1,2,4,4\]/,
      );
      // The default: the whole clip, a latent frame at a time, padded at its end to 13 frames.
      const whole = ok(
        await example("encode_video.ts", [
          `${dir}/v.mp4`,
          "--encoder",
          fixture("DV4x8x8", "encoder"),
        ]),
      );
      assert.match(
        whole.stdout,
        /latent frame 0: frames \[0,1\) -> \[1,1,4,4\]\nlatent frame 1: frames \[1,5\) -> \[1,1,4,4\]\nlatent frame 2: frames \[5,9\) -> \[1,1,4,4\]\nlatent frame 3: frames \[9,13\) -> \[1,1,4,4\]\n/,
      );
      // decode_tokens.ts of the CLI's token files, whole and in windows: the 11 frames each.
      for (const [args, name] of [[[], "vw"], [["--window", "9"], "vn"]] as const) {
        ok(
          await cosmos([
            "encode",
            `${dir}/v.mp4`,
            ...DV,
            ...args,
            "-o",
            `${dir}/${name}.safetensors`,
          ]),
        );
        ok(
          await example("decode_tokens.ts", [
            `${dir}/${name}.safetensors`,
            "--decoder",
            fixture("DV4x8x8", "decoder"),
          ]),
        );
        assert.equal([...Deno.readDirSync(`${dir}/${name}_frames`)].length, 11, name);
      }
    }
  },
});

Deno.test({
  name: "clean up the CLI test folder",
  fn() {
    Deno.removeSync(dir, { recursive: true });
  },
});
