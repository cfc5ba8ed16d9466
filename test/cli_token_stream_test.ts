/**
 * Video token files that never sit whole in memory: the CLI's writer (token_writer.ts) spools
 * each chunk as it comes out and writes the file from the spool, byte for byte what
 * encodeTokenFile writes for the joined tokens; its reader (token_reader.ts) checks the header
 * against the file's size and reads one latent frame or window at a time. The buffers are
 * counted, the spool and temporary files checked gone after success and failure, a truncated or
 * hostile file checked to fail with readTokenFile's message before any data is read; and
 * `cosmos encode` / `decode` end to end against the tokenizer run in-process.
 */

import assert from "node:assert/strict";
import { FIXTURES, GPU_TEST, HAS_FFMPEG } from "./helpers.ts";
import type { HostTensor } from "../src/types.ts";
import { concatTime } from "../src/media/windows.ts";
import { encodeTokenFile, readTokenFile, type TokenInfo } from "../src/cli/tokens.ts";
import { COPY_BYTES, TokenFileWriter } from "../src/cli/token_writer.ts";
import {
  type ByteReader,
  bytesReader,
  fileReader,
  openTokenFile,
  readTokenHeader,
  readTokenInfo,
} from "../src/cli/token_reader.ts";
import { encodeWhole, encodeWindows } from "../src/cli/video_items.ts";
import { encodeItem } from "../src/cli/media.ts";
import { probeVideo } from "../src/media/video.ts";
import { loadTokenizer } from "../mod.ts";

const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
const fixture = (v: string, half: string) => new URL(`${v}/${half}.safetensors`, FIXTURES).pathname;

/** Metadata of a whole clip of `t` latent frames at tc 4 (1 + (t - 1) x 4 frames, none padded). */
function videoInfo(
  discrete: boolean,
  t: number,
  window: number | null = null,
  crop = { top: 0, left: 0, height: 16, width: 40 },
): TokenInfo {
  return {
    model: discrete ? "DV4x8x8 (unofficial)" : "CV4x8x8 (unofficial)",
    kind: "video",
    discrete,
    spatialCompression: 8,
    temporalCompression: 4,
    source: "clip.mp4",
    sourceFormat: "mp4",
    crop,
    frames: window === null ? 1 + (t - 1) * 4 : framesOfWindows(t, window),
    window,
    fps: 8,
    lastWindowPad: [0, 0],
  };
}

/** Frames that `t` latent frames in windows of `window` frames (tc 4) decode to, none padded. */
function framesOfWindows(t: number, window: number): number {
  const latent = 1 + (window - 1) / 4;
  const full = Math.ceil(t / latent) - 1;
  return full * window + 1 + (t - full * latent - 1) * 4;
}

/** A chunk of `t` latent frames [1, 3, t, 2, 5] or indices [1, t, 2, 5], values by position. */
function chunk(discrete: boolean, t: number, seed: number): HostTensor {
  const shape = discrete ? [1, t, 2, 5] : [1, 3, t, 2, 5];
  const n = shape.reduce((a, b) => a * b, 1);
  const data = discrete ? new Int32Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) data[i] = discrete ? seed * 1000 + i : seed + i / 7 - 3;
  return { data, shape };
}

const bytesOf = (t: HostTensor) => t.data.byteLength;

/** A ByteReader that records the largest read and every byte range asked for. */
function counted(reader: ByteReader) {
  const stats = { largest: 0, reads: 0, bytes: 0 };
  const wrapped: ByteReader = {
    size: reader.size,
    read(offset, into) {
      stats.largest = Math.max(stats.largest, into.length);
      stats.reads++;
      stats.bytes += into.length;
      return reader.read(offset, into);
    },
    close: () => reader.close(),
  };
  return { reader: wrapped, stats };
}

for (const discrete of [false, true]) {
  const what = discrete ? "indices" : "latents";
  for (const window of [null, 9]) {
    Deno.test(`TokenFileWriter writes ${what} (${window ?? "whole"}) chunk by chunk, byte for byte what encodeTokenFile writes, and leaves no spool`, async () => {
      const dir = Deno.makeTempDirSync();
      try {
        // Whole clips come a latent frame at a time; windows of 9 frames (3 latent frames) a
        // window at a time, the last one shorter.
        const sizes = window === null ? [1, 1, 1, 1, 1] : [3, 3, 2];
        const parts = sizes.map((t, i) => chunk(discrete, t, i));
        const t = sizes.reduce((a, b) => a + b, 0);
        const info = videoInfo(discrete, t, window);
        const writer = await TokenFileWriter.open(`${dir}/v.safetensors`, discrete);
        for (const p of parts) await writer.add(p);
        assert.deepEqual(writer.shape, discrete ? [1, t, 2, 5] : [1, 3, t, 2, 5]);
        await writer.finish(info);
        const written = Deno.readFileSync(`${dir}/v.safetensors`);
        const whole = encodeTokenFile({ info, tokens: concatTime(parts, discrete ? 1 : 2) });
        assert.deepEqual(written, whole);
        assert.deepEqual(readTokenFile(written, "v").info, info);
        // Nothing larger than a chunk was ever held: latents are copied a chunk's channel at a
        // time, indices in pieces of up to COPY_BYTES (here the whole spool, 200 or 320 bytes).
        const largest = Math.max(...parts.map(bytesOf));
        const spooled = parts.reduce((a, p) => a + bytesOf(p), 0);
        assert.equal(writer.largestBuffer, discrete ? spooled : largest);
        assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["v.safetensors"]);
      } finally {
        Deno.removeSync(dir, { recursive: true });
      }
    });
  }
}

for (const discrete of [false, true]) {
  Deno.test(`TokenFileWriter copies long ${discrete ? "indices" : "latents"} in bounded pieces: its largest buffer is one chunk or COPY_BYTES, not the file`, async () => {
    const dir = Deno.makeTempDirSync();
    try {
      // 40 latent frames of [16, 45, 80] floats (230 KB each, 9.2 MB in all) or, for indices,
      // 1000 of [45, 80] (14.4 KB each, 14.4 MB): both above COPY_BYTES.
      const t = discrete ? 1000 : 40;
      const frame = (i: number): HostTensor => {
        const data = discrete
          ? new Int32Array(45 * 80).fill(i)
          : new Float32Array(16 * 45 * 80).fill(i);
        return { data, shape: discrete ? [1, 1, 45, 80] : [1, 16, 1, 45, 80] };
      };
      const path = `${dir}/long.safetensors`;
      const writer = await TokenFileWriter.open(path, discrete);
      for (let i = 0; i < t; i++) await writer.add(frame(i));
      await writer.finish(
        videoInfo(discrete, t, null, { top: 0, left: 0, height: 360, width: 640 }),
      );
      const size = Deno.statSync(path).size;
      const chunkBytes = bytesOf(frame(0));
      assert.ok(size > t * chunkBytes && size > COPY_BYTES, `${size}`);
      assert.equal(writer.largestBuffer, discrete ? COPY_BYTES : chunkBytes);
      // Every latent frame back as it went in (channel-major latents: each channel's planes in
      // order), read a frame at a time.
      const { reader, stats } = counted(await fileReader(path));
      const { video } = await openTokenFile(reader, "long");
      stats.largest = 0;
      for (const i of [0, 1, t - 2, t - 1]) {
        const back = await video!.frames(i, i + 1);
        assert.deepEqual(back.shape, frame(0).shape);
        assert.ok(back.data.every((v) => v === i), `frame ${i}`);
      }
      assert.equal(stats.largest, 45 * 80 * 4);
      video!.close();
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["long.safetensors"]);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  });
}

Deno.test("TokenFileWriter removes its spool and its half-written output after a failure mid-way", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    // A chunk that does not fit the ones before: the writer refuses it with a sentence.
    const writer = await TokenFileWriter.open(`${dir}/a.safetensors`, false);
    await writer.add(chunk(false, 1, 0));
    assert.equal([...Deno.readDirSync(dir)].length, 1, "the spool is beside the output");
    await assert.rejects(
      () => writer.add(chunk(true, 1, 0)),
      /^Error: Cannot write tokens of shape \[1,1,2,5\] after \[1,3,1,2,5\]: chunks differ beyond time$/,
    );
    await writer.abort();
    assert.deepEqual([...Deno.readDirSync(dir)], []);

    // A failure while the output is being committed: its final name is a directory.
    Deno.mkdirSync(`${dir}/b.safetensors`);
    const second = await TokenFileWriter.open(`${dir}/b.safetensors`, true);
    for (let i = 0; i < 3; i++) await second.add(chunk(true, 1, i));
    await assert.rejects(() => second.finish(videoInfo(true, 3)), /rename/);
    await second.abort();
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["b.safetensors"]);
    assert.ok(Deno.statSync(`${dir}/b.safetensors`).isDirectory);

    const none = await TokenFileWriter.open(`${dir}/c.safetensors`, true);
    await assert.rejects(
      () => none.finish(videoInfo(true, 1)),
      /^Error: Cannot write a token file of no tokens$/,
    );
    await none.abort();
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name), ["b.safetensors"]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

for (const discrete of [false, true]) {
  const what = discrete ? "indices" : "latents";
  Deno.test(`VideoTokens reads a ${what} file a latent frame at a time: every read is at most one frame's plane`, async () => {
    const t = 6;
    const parts = Array.from({ length: t }, (_, i) => chunk(discrete, 1, i));
    const axis = discrete ? 1 : 2;
    const bytes = encodeTokenFile({
      info: videoInfo(discrete, t),
      tokens: concatTime(parts, axis),
    });
    const { reader, stats } = counted(bytesReader(bytes));
    const { header, video } = await openTokenFile(reader, "v");
    assert.deepEqual(header.info, videoInfo(discrete, t));
    const headerReads = stats.reads;
    stats.largest = 0;
    for (let i = 0; i < t; i++) assert.deepEqual(await video!.frames(i, i + 1), parts[i]);
    // A latent frame's bytes: for latents one plane per channel (its C planes lie T apart).
    const plane = 2 * 5 * 4;
    assert.equal(stats.largest, plane);
    assert.equal(stats.reads - headerReads, t * (discrete ? 1 : 3));
    // Windows: a range of frames, one read per channel.
    assert.deepEqual(await video!.frames(2, 5), concatTime(parts.slice(2, 5), axis));
    assert.equal(stats.largest, 3 * plane);
    video!.close();
  });
}

Deno.test("readTokenHeader fails on a truncated token file with readTokenFile's message, reading no data", async () => {
  const info = videoInfo(false, 4);
  const bytes = encodeTokenFile({
    info,
    tokens: concatTime([0, 1, 2, 3].map((i) => chunk(false, 1, i))),
  });
  const headerEnd = bytes.length - 4 * 3 * 2 * 5 * 4;
  for (const cut of [1, 4 * 30, bytes.length - headerEnd]) {
    const short = bytes.slice(0, bytes.length - cut);
    const { reader, stats } = counted(bytesReader(short));
    const message = (() => {
      try {
        readTokenFile(short, "v.safetensors");
      } catch (err) {
        return (err as Error).message;
      }
      assert.fail("readTokenFile read a truncated file");
    })();
    assert.match(
      message,
      /^"v.safetensors" is not a token file written by cosmos encode, nor any safetensors file \(truncated data section: tensor "latent" ends at byte 480 but the data section has only \d+ bytes\)$/,
    );
    await assert.rejects(() => readTokenHeader(reader, "v.safetensors"), { message });
    // Only the header was read.
    assert.ok(stats.bytes <= 64 + headerEnd, `${stats.bytes}`);
  }
});

Deno.test("readTokenHeader checks a hostile header length before reading or allocating it", async () => {
  const cases: [Uint8Array, RegExp][] = [];
  // A header claiming 2^40 bytes, and one claiming more than the file holds.
  for (const claimed of [2n ** 40n, 1000n]) {
    const bytes = new Uint8Array(200).fill(0x20);
    new DataView(bytes.buffer).setBigUint64(0, claimed, true);
    bytes[8] = 0x7b;
    cases.push([
      bytes,
      claimed > 1000n
        ? /nor any safetensors file \(oversized header: 1099511627776 bytes, the limit is 100000000\)$/
        : /nor any safetensors file \(truncated header: header length is 1000 bytes but only 192 bytes follow\)$/,
    ]);
  }
  cases.push([new Uint8Array(5), /nor any safetensors file \(file has 5 bytes, too short/]);
  for (const [bytes, message] of cases) {
    const { reader, stats } = counted(bytesReader(bytes));
    await assert.rejects(() => readTokenHeader(reader, "x"), message);
    assert.throws(() => readTokenFile(bytes, "x"), message);
    assert.ok(stats.largest <= 64, `${stats.largest}`);
  }
});

Deno.test("fileReader says a token file is damaged when it shrinks under the reader", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const path = `${dir}/v.safetensors`;
    const parts = [0, 1, 2].map((i) => chunk(true, 1, i));
    Deno.writeFileSync(
      path,
      encodeTokenFile({ info: videoInfo(true, 3), tokens: concatTime(parts, 1) }),
    );
    const info = await readTokenInfo(path);
    assert.equal(info.frames, 9);
    const { video } = await openTokenFile(await fileReader(path), path);
    Deno.truncateSync(path, Deno.statSync(path).size - 8);
    await assert.rejects(
      () => video!.frames(2, 3),
      new RegExp(
        `^Error: Token file "${path}" is damaged: it ends at byte \\d+, inside its tokens$`,
      ),
    );
    video!.close();
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

async function cosmos(args: string[]) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
}

Deno.test({
  name:
    "cosmos encode writes a video's latents chunk by chunk, byte for byte encodeTokenFile of the tokens joined; decode reads them back a frame at a time",
  ignore: !HAS_FFMPEG,
  ...GPU_TEST,
  async fn() {
    const dir = Deno.makeTempDirSync();
    try {
      const video = `${dir}/v.mp4`;
      const ff = new Deno.Command("ffmpeg", {
        args: [
          "-v",
          "error",
          "-f",
          "lavfi",
          "-i",
          "testsrc=size=40x24:rate=8",
          "-frames:v",
          "11",
          video,
        ],
      }).outputSync();
      assert.ok(ff.success);
      const halves = [
        "--encoder",
        fixture("CV4x8x8", "encoder"),
        "--decoder",
        fixture("CV4x8x8", "decoder"),
      ];
      const wasm = ["--backend", "wasm", "--threads", "1"];
      const tok = await loadTokenizer({
        encoder: fixture("CV4x8x8", "encoder"),
        decoder: fixture("CV4x8x8", "decoder"),
        model: "CV4x8x8",
        backend: "wasm",
        wasm: { threads: 1 },
      });
      const windowed = await loadTokenizer({
        encoder: fixture("CV4x8x8", "encoder"),
        decoder: fixture("CV4x8x8", "decoder"),
        model: "CV4x8x8",
        backend: "wasm",
        wasm: { threads: 1 },
        window: 9,
      });
      try {
        const probe = await probeVideo(video);
        for (
          const [t, run, flags] of [[tok, encodeWhole, []], [windowed, encodeWindows, [
            "--window",
            "9",
          ]]] as const
        ) {
          const out = `${dir}/v${flags.length ? "_w" : ""}.safetensors`;
          await cosmos(["encode", video, ...halves, ...wasm, ...flags, "-o", out]);
          const written = Deno.readFileSync(out);
          // The same clip through the same pipeline in-process, its chunks kept and joined.
          const encoded = await run(t, video, probe, "reflect", () => {});
          const info = readTokenFile(written, out).info;
          const whole = encodeTokenFile({ info, tokens: concatTime(encoded.parts, 2) });
          assert.equal(written.length, whole.length);
          assert.ok(written.every((b, i) => b === whole[i]), "the bytes encodeTokenFile writes");
          await cosmos(["decode", out, ...halves, ...wasm, "-o", `${out}.mp4`]);
          assert.equal((await probeVideo(`${out}.mp4`)).frames, 11);
        }
        assert.deepEqual(
          [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
          ["v.mp4", "v.safetensors", "v.safetensors.mp4", "v_w.safetensors", "v_w.safetensors.mp4"],
        );
      } finally {
        await tok.dispose();
        await windowed.dispose();
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});

/**
 * Writes and reads back, in a subprocess, a whole-clip latent of `frames` 720p latent frames
 * ([16, 90, 160] floats, 921.6 KB each); returns its peak RSS above the RSS before, and the file's
 * size.
 */
async function roundTripRss(dir: string, frames: number): Promise<{ grew: number; size: number }> {
  const url = (p: string) => new URL(p, import.meta.url).href;
  const script = `
    import { TokenFileWriter } from "${url("../src/cli/token_writer.ts")}";
    import { fileReader, openTokenFile } from "${url("../src/cli/token_reader.ts")}";
    const path = "${dir}/long.safetensors";
    const rss = () => Deno.memoryUsage().rss;
    // One array for every frame written: the writer's memory is what is measured.
    const frame = new Float32Array(16 * 90 * 160);
    const before = rss();
    let peak = before;
    const writer = await TokenFileWriter.open(path, false);
    for (let i = 0; i < ${frames}; i++) {
      await writer.add({ data: frame.fill(i), shape: [1, 16, 1, 90, 160] });
      peak = Math.max(peak, rss());
    }
    await writer.finish({
      model: "CV4x8x8 (unofficial)", kind: "video", discrete: false, spatialCompression: 8,
      temporalCompression: 4, source: "x.mp4", sourceFormat: "mp4",
      crop: { top: 0, left: 0, height: 720, width: 1280 }, frames: ${1 + (frames - 1) * 4},
      window: null, fps: 24, lastWindowPad: [0, 0],
    });
    peak = Math.max(peak, rss());
    const { video } = await openTokenFile(await fileReader(path), path);
    for (let t = 0; t < video.total; t++) {
      const got = await video.frames(t, t + 1, true);
      if (got.data[12345] !== t) throw new Error("frame " + t + " read back wrong");
      peak = Math.max(peak, rss());
    }
    video.close();
    console.log(JSON.stringify({ grew: peak - before, size: Deno.statSync(path).size }));
  `;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--ext=ts", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.equal(out.code, 0, dec.decode(out.stderr));
  return JSON.parse(dec.decode(out.stdout));
}

Deno.test("a 300-frame 720p latent (276 MB) is written and read back in a subprocess whose memory stays flat", async () => {
  const dir = Deno.makeTempDirSync();
  try {
    const { grew, size } = await roundTripRss(dir, 300);
    assert.ok(size > 276e6, `${size}`);
    // Held whole, the latent alone would be 276 MB; a chunk is 0.9 MB and the copy buffer 4 MB
    // (measured: 8 MB; without `reuse` on reading, the fresh arrays left as garbage, 50-70 MB).
    assert.ok(grew < 32e6, `RSS grew ${(grew / 1e6).toFixed(1)} MB`);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "encodeItem removes the spool and the temporary token file when the output cannot be committed at the end",
  ignore: !HAS_FFMPEG,
  ...GPU_TEST,
  async fn() {
    const dir = Deno.makeTempDirSync();
    const tok = await loadTokenizer({
      encoder: fixture("DV4x8x8", "encoder"),
      decoder: fixture("DV4x8x8", "decoder"),
      model: "DV4x8x8",
      backend: "wasm",
      wasm: { threads: 1 },
    });
    try {
      const video = `${dir}/v.mp4`;
      const ff = new Deno.Command("ffmpeg", {
        args: [
          "-v",
          "error",
          "-f",
          "lavfi",
          "-i",
          "testsrc=size=32x32:rate=8",
          "-frames:v",
          "11",
          video,
        ],
      }).outputSync();
      assert.ok(ff.success);
      // The output's name is taken by a directory: the whole clip is encoded and spooled, and
      // the rename at the end fails.
      Deno.mkdirSync(`${dir}/v.safetensors`);
      const opts = { pad: "reflect" as const, quality: 95, progress: false };
      await assert.rejects(() => encodeItem(tok, video, `${dir}/v.safetensors`, opts), /rename/);
      assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
        "v.mp4",
        "v.safetensors",
      ]);
      // And with a free name, the same call writes the file and leaves nothing else.
      const report = await encodeItem(tok, video, `${dir}/w.safetensors`, opts);
      assert.deepEqual(report.tokens, [1, 4, 4, 4]);
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name).sort(),
        ["v.mp4", "v.safetensors", "w.safetensors"],
      );
      assert.equal(readTokenFile(Deno.readFileSync(`${dir}/w.safetensors`), "w").info.frames, 11);
    } finally {
      await tok.dispose();
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
