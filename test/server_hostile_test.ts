/**
 * The attacks of issue 14 against the tokenization server, each reproduced and each answered
 * with a clear refusal: images whose real frame hides from a size check (a second PNG IHDR, a
 * JPEG frame behind fill bytes or behind jpeg-js's own arithmetic, zlib bombs), refused by
 * decodeImage (which the CLI shares) before the memory they claim is allocated.
 */

import assert from "node:assert/strict";
import {
  bombPng,
  dqtOverrunJpeg,
  fillByteJpeg,
  interlacedPng,
  twoIhdrPng,
} from "./hostile_media.ts";
import { decodeImage, encodeImage, ImageLimitError, type RgbImage } from "../src/media/image.ts";

const HAS_FFMPEG = (() => {
  try {
    return new Deno.Command("ffmpeg", { args: ["-version"], stdout: "null", stderr: "null" })
      .outputSync().success;
  } catch {
    return false;
  }
})();

function image(width: number, height: number, seed: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < data.length; i++) data[i] = (i * 7 + seed * 31 + (i >> 5)) % 256;
  return { width, height, data };
}

/** ffmpeg's own decode of an image file to RGB, an oracle independent of pngjs. */
function ffmpegRgb(path: string): Uint8Array {
  const out = new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    stdout: "piped",
  }).outputSync();
  assert.ok(out.success);
  return out.stdout;
}

Deno.test("decodeImage() refuses a PNG with a second IHDR, the one pngjs would decode at 12000x12000", () => {
  const file = twoIhdrPng(40, 12000);
  for (const limits of [{ maxSide: 64 }, {}]) {
    assert.throws(
      () => decodeImage(file, "two.png", limits),
      /Cannot read image "two.png": damaged PNG \(it has a second IHDR chunk at byte 33/,
    );
  }
});

Deno.test("decodeImage() reads the JPEG frame header behind FF fill bytes, not the decoy 48 KB on", () => {
  const file = fillByteJpeg(40, 12000);
  assert.throws(
    () => decodeImage(file, "fill.jpg", { maxSide: 64 }),
    (err: Error) =>
      err instanceof ImageLimitError && err.size?.width === 12000 &&
      /"fill.jpg": 12000x12000 is larger than 64 pixels a side/.test(err.message),
  );
  // Without limits (the CLI), two frame headers are damage, as jpeg-js would find after
  // allocating the first.
  assert.throws(
    () => decodeImage(file, "fill.jpg"),
    /damaged JPEG \(it has 2 frame headers \(SOF\); a JPEG has one\)/,
  );
});

Deno.test("decodeImage() refuses a frame only jpeg-js's arithmetic finds, inside jpeg-js, before its blocks", () => {
  const file = dqtOverrunJpeg(12000);
  assert.throws(
    () => decodeImage(file, "dqt.jpg", { maxSide: 64 }),
    (err: Error) =>
      err instanceof ImageLimitError && err.size === null &&
      /"dqt.jpg": its frame is larger than 4096 pixels \(maxResolutionInMP limit exceeded by 144MP\)/
        .test(err.message),
  );
});

Deno.test("decodeImage() refuses zlib bombs in a PNG's pixel data, interlaced or not", async () => {
  for (const interlace of [0, 1]) {
    const file = await bombPng(64, interlace, 256 << 20);
    assert.ok(file.length < 300_000, `${file.length} bytes claim 256 MiB`);
    assert.throws(
      () => decodeImage(file, "bomb.png"),
      /damaged PNG \(its pixel data inflates to more than the \d+ bytes its IHDR holds\)/,
      `interlace ${interlace}`,
    );
  }
});

Deno.test("decodeImage() refuses PNG chunks pngjs would read otherwise or not at all", () => {
  const ok = encodeImage(image(8, 8, 1), "png");
  const cases: [string, Uint8Array, RegExp][] = [
    ["cut short", ok.slice(0, ok.length - 20), /says \d+ bytes, past the end|without an IEND/],
    ["bytes after IEND", new Uint8Array([...ok, 1, 2, 3]), /3 bytes after its IEND chunk/],
    [
      "no IHDR first",
      new Uint8Array([...ok.slice(0, 8), ...ok.slice(33)]),
      /first chunk is "\w+", not IHDR/,
    ],
  ];
  for (const [what, bytes, message] of cases) {
    assert.throws(() => decodeImage(bytes, "x.png"), message, what);
  }
});

Deno.test({
  name: "decodeImage() still reads interlaced, palette, grey, alpha and 16-bit PNGs",
  ignore: !HAS_FFMPEG,
  fn() {
    const src = image(37, 21, 5);
    assert.deepEqual(decodeImage(interlacedPng(src), "adam7.png"), src);
    const dir = Deno.makeTempDirSync();
    try {
      for (const pixFmt of ["pal8", "gray", "ya8", "rgba", "rgb48be", "monob"]) {
        const path = `${dir}/${pixFmt}.png`;
        const made = new Deno.Command("ffmpeg", {
          args: ["-v", "error", "-f", "lavfi", "-i", "testsrc=size=35x19", "-frames:v", "1"]
            .concat(["-pix_fmt", pixFmt, path]),
        }).outputSync();
        assert.ok(made.success, pixFmt);
        const img = decodeImage(Deno.readFileSync(path), path);
        const want = ffmpegRgb(path);
        assert.equal(img.width, 35);
        assert.equal(img.height, 19);
        // 16-bit samples are brought to 8 bits by each decoder's own rounding.
        const tol = pixFmt === "rgb48be" ? 1 : 0;
        const worst = img.data.reduce((m, v, i) => Math.max(m, Math.abs(v - want[i])), 0);
        assert.ok(worst <= tol, `${pixFmt}: off by ${worst}`);
      }
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  },
});
