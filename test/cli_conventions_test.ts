/**
 * The `cosmos` CLI's conventions, each run as a subprocess: no output replaced unless -y says
 * so, --version, RGB PNGs for RGB images, errors that name the CLI's flags, `-` for stdin and
 * stdout, --short-size; and the demo's banner and --help.
 */

import assert from "node:assert/strict";
import { FIXTURES, GPU_TEST } from "./helpers.ts";
import { withCliFlags } from "../src/cli/args.ts";
import { resizeShortSide, shortSideSize } from "../src/cli/resize.ts";
import { decodeImage, encodeImage, type RgbImage } from "../src/media/image.ts";
// deno-lint-ignore no-import-prefix
import { PNG } from "npm:pngjs@7.0.0";
import { Buffer } from "node:buffer";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const fixture = (v: string, half: string) => new URL(`${v}/${half}.safetensors`, FIXTURES).pathname;
const CI = ["--encoder", fixture("CI8x8", "encoder"), "--decoder", fixture("CI8x8", "decoder")];

interface Run {
  code: number;
  stdout: Uint8Array;
  out: string;
  err: string;
}

async function run(script: string, args: string[], stdin?: Uint8Array): Promise<Run> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script, ...args],
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdin: stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const r = await child.output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: r.stdout, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

const cosmos = (args: string[], stdin?: Uint8Array) => run(MAIN, args, stdin);

function ok(r: Run): Run {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
  return r;
}

function failed(r: Run, code: number, message: RegExp): Run {
  assert.equal(r.code, code, `exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`);
  assert.match(r.err, message);
  return r;
}

function pattern(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 37) % 251;
  return { width, height, data };
}

const dir = Deno.makeTempDirSync({ prefix: "cosmos-conventions-" });
Deno.writeFileSync(`${dir}/a.png`, encodeImage(pattern(24, 16), "png"));

Deno.test({
  name: "an output that exists is refused before any work, and replaced with -y / --overwrite",
  ...GPU_TEST,
  async fn() {
    const out = `${dir}/over.safetensors`;
    ok(await cosmos(["encode", `${dir}/a.png`, ...CI, "-o", out, "-q"]));
    Deno.writeTextFileSync(out, "earlier work");
    const r = failed(
      await cosmos(["encode", `${dir}/a.png`, ...CI, "-o", out, "-q"]),
      1,
      /over\.safetensors" exists; pass -y \(--overwrite\) to replace it/,
    );
    // Refused before the model was loaded (its "MODEL on BACKEND" line), the file untouched.
    assert.doesNotMatch(r.err, / on (webgpu|wasm)/);
    assert.equal(Deno.readTextFileSync(out), "earlier work");
    ok(await cosmos(["encode", `${dir}/a.png`, ...CI, "-o", out, "-q", "-y"]));
    assert.notEqual(Deno.readTextFileSync(out).slice(0, 12), "earlier work");
    Deno.writeTextFileSync(out, "earlier work");
    ok(await cosmos(["encode", `${dir}/a.png`, ...CI, "-o", out, "-q", "--overwrite"]));
    assert.notEqual(Deno.readTextFileSync(out).slice(0, 12), "earlier work");

    // The default output beside the input, and a directory of outputs, likewise.
    ok(await cosmos(["autoencode", `${dir}/a.png`, ...CI, "-q"]));
    failed(
      await cosmos(["autoencode", `${dir}/a.png`, ...CI, "-q"]),
      1,
      /reconstructions\/a\.png" exists; pass -y/,
    );
    ok(await cosmos(["autoencode", `${dir}/a.png`, ...CI, "-q", "-y"]));
    Deno.copyFileSync(`${dir}/a.png`, `${dir}/b.png`);
    Deno.mkdirSync(`${dir}/many`);
    Deno.writeTextFileSync(`${dir}/many/a.safetensors`, "x");
    Deno.writeTextFileSync(`${dir}/many/b.safetensors`, "x");
    failed(
      await cosmos(["encode", `${dir}/a.png`, `${dir}/b.png`, ...CI, "-o", `${dir}/many`]),
      1,
      /many\/a\.safetensors" exists \(and 1 other output\(s\)\); pass -y/,
    );
    Deno.removeSync(`${dir}/b.png`);

    // convert: OUT is refused likewise.
    const jit = new URL("CV4x8x8/encoder.jit", FIXTURES).pathname;
    const conv = `${dir}/conv.safetensors`;
    Deno.writeTextFileSync(conv, "earlier work");
    failed(
      await cosmos(["convert", jit, conv, "--model", "CV4x8x8"]),
      1,
      /conv\.safetensors" exists; pass -y \(--overwrite\)/,
    );
    assert.equal(Deno.readTextFileSync(conv), "earlier work");
    ok(await cosmos(["convert", jit, conv, "--model", "CV4x8x8", "-y"]));
    assert.notEqual(Deno.readTextFileSync(conv), "earlier work");
  },
});

Deno.test("--version prints the version deno.json gives", async () => {
  const { version } = JSON.parse(Deno.readTextFileSync(new URL("../deno.json", import.meta.url)));
  assert.match(version, /^\d+\.\d+\.\d+/);
  for (const flag of ["--version", "-V"]) {
    const r = ok(await cosmos([flag]));
    assert.equal(r.out.split(" ").slice(0, 2).join(" "), `cosmos ${version}`);
    assert.match(r.out, /\(@cosmos\/webgpu, deno \d+\.\d+\.\d+\)\n$/);
  }
  assert.match(ok(await cosmos(["--help"])).out, /cosmos --version/);
});

/** A PNG's colour type and bit depth as pngjs reads them, with the IHDR's own bytes. */
function pngColour(bytes: Uint8Array): { colorType: number; depth: number; ihdr: number } {
  const png = PNG.sync.read(Buffer.from(bytes));
  // IHDR is the first chunk: 8 signature bytes, length, "IHDR", width, height, depth, colour type.
  assert.equal(new TextDecoder().decode(bytes.subarray(12, 16)), "IHDR");
  return { colorType: png.colorType, depth: png.depth, ihdr: bytes[25] };
}

Deno.test({
  name: "PNGs written for RGB images are RGB (colour type 2), not RGBA",
  ...GPU_TEST,
  async fn() {
    assert.deepEqual(pngColour(encodeImage(pattern(5, 3), "png")), {
      colorType: 2,
      depth: 8,
      ihdr: 2,
    });
    const rec = `${dir}/rgb_rec.png`;
    ok(await cosmos(["autoencode", `${dir}/a.png`, ...CI, "-o", rec, "-q"]));
    assert.deepEqual(pngColour(Deno.readFileSync(rec)), { colorType: 2, depth: 8, ihdr: 2 });
    const tokens = `${dir}/rgb.safetensors`;
    ok(await cosmos(["encode", `${dir}/a.png`, ...CI, "-o", tokens, "-q"]));
    const decoded = `${dir}/rgb_dec.png`;
    ok(await cosmos(["decode", tokens, ...CI, "-o", decoded, "-q"]));
    assert.deepEqual(pngColour(Deno.readFileSync(decoded)), { colorType: 2, depth: 8, ihdr: 2 });
    // The same pixels as the reconstruction, read back through the CLI's own decoder.
    assert.deepEqual(
      decodeImage(Deno.readFileSync(decoded), "dec"),
      decodeImage(Deno.readFileSync(rec), "rec"),
    );
  },
});

Deno.test({
  name: "library errors that reach the CLI name its flags (--model, --window), not option names",
  ...GPU_TEST,
  async fn() {
    // A TorchScript video encoder does not record its compression: loadTokenizer asks for
    // `model` or `compression: { spatial, temporal }`; the CLI user is told the flag.
    const jit = new URL("CV4x8x8/encoder.jit", FIXTURES).pathname;
    const r = failed(
      await cosmos(["encode", `${dir}/a.png`, "--encoder", jit, "-o", `${dir}/jit.safetensors`]),
      1,
      /its weights do not say its compression.*; pass --model NAME with the model it belongs to \(e\.g\. --model CV8x8x8\)/,
    );
    assert.doesNotMatch(r.err, /compression: \{|pass model \(/);
    const dv = fixture("DV4x8x8", "encoder");
    const w = failed(
      await cosmos([
        "encode",
        `${dir}/a.png`,
        "--encoder",
        dv,
        "--window",
        "4",
        "-o",
        `${dir}/w.st`,
      ]),
      1,
      /Invalid --window 4: it must be 1 \+ k x 4 frames \(e\.g\. 9\)/,
    );
    assert.doesNotMatch(w.err, /temporal window/);
    // Per-item messages (a short last window) go through the same rewrite.
    assert.equal(
      withCliFlags("Cannot encode 20 frames: ... (use 17 or 21 frames, or another window length)"),
      "Cannot encode 20 frames: ... (use 17 or 21 frames, or another --window)",
    );
  },
});

/** `deno task demo -- ARGS` from the repository root, as its doc comment says to run it. */
async function demo(args: string[]): Promise<Run> {
  const r = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "demo", "--", ...args],
    cwd: new URL("..", import.meta.url).pathname,
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: r.code, stdout: r.stdout, out: dec.decode(r.stdout), err: dec.decode(r.stderr) };
}

Deno.test({
  name: "demo: `deno task demo -- --help` helps, and the banner names the backend it ran on",
  ...GPU_TEST,
  async fn() {
    const help = ok(await demo(["--help"]));
    assert.match(help.out, /^deno task demo \[options\]/);
    assert.match(help.out, /--backend NAME/);
    assert.doesNotMatch(help.out, /PSNR/); // it stopped at the help
    failed(await demo(["--bogus"]), 2, /demo: Unknown option '--bogus'/);
    failed(await demo(["--backend", "cuda"]), 2, /--backend must be auto, webgpu or wasm/);
    const r = ok(await demo(["--size", "32", "--backend", "wasm"]));
    const backend = r.out.match(/^backend +(.+)$/m)?.[1];
    assert.match(backend ?? "", /^wasm /);
    assert.ok(r.out.includes(`end to end on ${backend}.`), r.out);
    assert.doesNotMatch(r.out, /WebGPU adapter/);
    assert.match(r.out, /^PSNR +[\d.-]+ dB$/m);
  },
});

Deno.test({
  name: "`-` is stdin as the input and stdout as -o: encode, decode and autoencode of images",
  ...GPU_TEST,
  async fn() {
    const png = Deno.readFileSync(`${dir}/a.png`);
    // encode - -o -: an image in, the token file out, and nothing else on stdout.
    const enc = ok(await cosmos(["encode", "-", "-o", "-", ...CI], png));
    assert.match(enc.err, /- -> - {2}24x16 {2}tokens \[1, 16, 2, 3\]/);
    ok(await cosmos(["encode", `${dir}/a.png`, "-o", `${dir}/file.safetensors`, ...CI, "-q"]));
    const file = Deno.readFileSync(`${dir}/file.safetensors`);
    const header = (b: Uint8Array) =>
      JSON.parse(new TextDecoder().decode(b.subarray(8, 8 + b[0] + 256 * b[1])));
    const piped = header(enc.stdout), written = header(file);
    assert.equal(piped.__metadata__.source, "-");
    assert.equal(piped.__metadata__.source_format, "png"); // sniffed: decode writes a PNG
    delete piped.__metadata__.source, delete written.__metadata__.source;
    assert.deepEqual(piped, written);
    assert.deepEqual(enc.stdout.subarray(enc.stdout.length - 16), file.subarray(file.length - 16));

    // decode - -o -: the token file in, the image out; the same pixels as decoding the file.
    const dec = ok(await cosmos(["decode", "-", "-o", "-", ...CI], enc.stdout));
    ok(await cosmos(["decode", `${dir}/file.safetensors`, ...CI, "-o", `${dir}/file.png`, "-q"]));
    assert.deepEqual(
      decodeImage(dec.stdout, "stdout"),
      decodeImage(Deno.readFileSync(`${dir}/file.png`), "f"),
    );
    // autoencode - -o - with --format: a JPEG on stdout; and stdin to a file.
    const jpg = ok(await cosmos(["autoencode", "-", "-o", "-", "--format", "jpg", ...CI], png));
    assert.deepEqual([...jpg.stdout.subarray(0, 3)], [0xff, 0xd8, 0xff]);
    ok(await cosmos(["autoencode", "-", "-o", `${dir}/from_stdin.png`, ...CI, "-q"], png));
    assert.equal(decodeImage(Deno.readFileSync(`${dir}/from_stdin.png`), "f").width, 24);

    // What cannot work is refused, saying why.
    failed(
      await cosmos(["encode", "-", ...CI], png),
      1,
      /reading stdin \(-\), give the output with -o FILE, or -o -/,
    );
    failed(
      await cosmos(["encode", "-", `${dir}/a.png`, "-o", "-", ...CI], png),
      1,
      /"-" \(stdin\) must be the only input/,
    );
    failed(
      await cosmos(["encode", "-", "-o", "-", "--json", ...CI], png),
      2,
      /--json and -o - both write to stdout/,
    );
    failed(
      await cosmos(["encode", "-", "-o", "-", ...CI], new Uint8Array(0)),
      1,
      /stdin \(-\) is empty/,
    );
    failed(
      await cosmos(["encode", "-", "-o", "-", ...CI], new TextEncoder().encode("hello")),
      1,
      /Cannot read image "stdin": not a PNG or JPEG/,
    );
    failed(
      await cosmos(["decode", "-", "-o", "-", ...CI], png),
      1,
      /"-" is a PNG image, not a token file/,
    );
    failed(await cosmos(["info", "-"]), 2, /cosmos info: reads files, not stdin \(-\)/);
    failed(await cosmos(["convert", "-", `${dir}/c.st`]), 2, /not stdin or stdout \(-\)/);
  },
});

/**
 * Lanczos-3 resampling written plainly, in floating point (no fixed point, no separable
 * passes shared): each output pixel a normalised weighted sum over the support widened by the
 * scale when shrinking. Pillow's 22-bit fixed point may differ from it by one level.
 */
function plainLanczos(img: RgbImage, w: number, h: number): Float64Array {
  const taps = (inSize: number, outSize: number, o: number): [number, number][] => {
    const scale = inSize / outSize, fs = Math.max(1, scale), center = (o + 0.5) * scale;
    const out: [number, number][] = [];
    for (let i = 0; i < inSize; i++) {
      const t = (i + 0.5 - center) / fs;
      const sinc = (x: number) => (x === 0 ? 1 : Math.sin(Math.PI * x) / (Math.PI * x));
      const v = Math.abs(t) < 3 ? sinc(t) * sinc(t / 3) : 0;
      if (v !== 0) out.push([i, v]);
    }
    const sum = out.reduce((a, [, v]) => a + v, 0);
    return out.map(([i, v]) => [i, v / sum]);
  };
  // Rows first, rounded to 8 bits as Pillow's intermediate image is, then columns.
  const mid = new Float64Array(w * img.height * 3);
  for (let y = 0; y < img.height; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (const [i, k] of taps(img.width, w, x)) v += img.data[(y * img.width + i) * 3 + c] * k;
        mid[(y * w + x) * 3 + c] = Math.min(255, Math.max(0, Math.round(v)));
      }
    }
  }
  const out = new Float64Array(w * h * 3);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let c = 0; c < 3; c++) {
        let v = 0;
        for (const [i, k] of taps(img.height, h, y)) v += mid[(i * w + x) * 3 + c] * k;
        out[(y * w + x) * 3 + c] = Math.min(255, Math.max(0, v));
      }
    }
  }
  return out;
}

Deno.test("--short-size's arithmetic: the reference's sizes, and Lanczos within a level of plain", () => {
  // utils.resize_image: short side N, long side int(long x N / short + 0.5), odd made even.
  assert.deepEqual(shortSideSize(24, 16, 8), { width: 12, height: 8 });
  assert.deepEqual(shortSideSize(16, 24, 8), { width: 8, height: 12 });
  assert.deepEqual(shortSideSize(1920, 1080, 256), { width: 456, height: 256 }); // 455.1 -> 456
  assert.deepEqual(shortSideSize(30, 20, 9), { width: 14, height: 9 }); // 13.5 -> 14
  // A square counts as landscape: its width is the long side, made even (7 -> 8), as there.
  assert.deepEqual(shortSideSize(10, 10, 7), { width: 8, height: 7 });
  assert.deepEqual(shortSideSize(7, 5, 10), { width: 14, height: 10 }); // enlarging
  const img = pattern(29, 19);
  for (const short of [7, 12, 40]) {
    const out = resizeShortSide(img, short, "p");
    const want = plainLanczos(img, out.width, out.height);
    let worst = 0;
    for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(out.data[i] - want[i]));
    assert.ok(worst <= 1, `short ${short}: off by ${worst}`);
  }
  const flat = { width: 9, height: 6, data: new Uint8Array(9 * 6 * 3).fill(77) };
  assert.ok(resizeShortSide(flat, 4, "flat").data.every((v) => v === 77));
  const even = pattern(30, 19); // already the size asked: untouched (29 wide would become 30)
  assert.equal(resizeShortSide(even, 19, "same").data, even.data);
  assert.throws(
    () => resizeShortSide(img, 100_000, "big.png"),
    /--short-size 100000 would make "big.png" 152632x100000, more than 250000000 pixels/,
  );
});

Deno.test({
  name: "--short-size N resizes images before encoding, as the reference CLI's --short_size",
  ...GPU_TEST,
  async fn() {
    const r = ok(
      await cosmos([
        "autoencode",
        `${dir}/a.png`,
        ...CI,
        "--short-size",
        "8",
        "-o",
        `${dir}/s.png`,
        "--json",
      ]),
    );
    const item = JSON.parse(r.out);
    assert.deepEqual([item.width, item.height, item.tokens], [12, 8, [1, 16, 1, 2]]);
    const rec = decodeImage(Deno.readFileSync(`${dir}/s.png`), "s");
    assert.deepEqual([rec.width, rec.height], [12, 8]);
    // The token file holds the resized image: decode gives it at 12x8.
    ok(
      await cosmos([
        "encode",
        `${dir}/a.png`,
        ...CI,
        "--short-size",
        "8",
        "-o",
        `${dir}/s.safetensors`,
        "-q",
      ]),
    );
    ok(await cosmos(["decode", `${dir}/s.safetensors`, ...CI, "-o", `${dir}/s_dec.png`, "-q"]));
    assert.deepEqual(decodeImage(Deno.readFileSync(`${dir}/s_dec.png`), "d"), rec);
    failed(
      await cosmos(["encode", `${dir}/a.png`, ...CI, "--short-size", "0"]),
      2,
      /--short-size must be a positive integer, got "0"/,
    );
    Deno.writeFileSync(`${dir}/v.mp4`, new Uint8Array(16));
    failed(
      await cosmos(["encode", `${dir}/v.mp4`, ...CI, "--short-size", "8"]),
      1,
      /--short-size resizes images; ".*v\.mp4" is a video/,
    );
  },
});
