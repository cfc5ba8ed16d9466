/**
 * The `cosmos` CLI under attack (issue 14), as a subprocess: an output that names its input
 * another way (./x, an absolute path, "..", a symlink, a hard link) is refused and the input left
 * as it was.
 */

import assert from "node:assert/strict";
import { FIXTURES } from "./helpers.ts";
import { encodeImage, type RgbImage } from "../src/media/image.ts";
import { expandInputs, planOutputs } from "../src/cli/outputs.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const fixture = (v: string, half: string) => new URL(`${v}/${half}.safetensors`, FIXTURES).pathname;
const WASM = ["--backend", "wasm", "--threads", "1"];
const CI = ["--encoder", fixture("CI8x8", "encoder"), "--decoder", fixture("CI8x8", "decoder")];
const DV = ["--encoder", fixture("DV4x8x8", "encoder"), "--decoder", fixture("DV4x8x8", "decoder")];

const HAS_FFMPEG = (() => {
  try {
    return new Deno.Command("ffmpeg", { args: ["-version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();
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
if (HAS_FFMPEG) {
  ffmpeg(["-f", "lavfi", "-i", "testsrc=size=32x32:rate=8", "-frames:v", "11", `${dir}/v.mp4`]);
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

Deno.test({
  name: "clean up the hostile CLI test folder",
  fn() {
    Deno.removeSync(dir, { recursive: true });
  },
});
