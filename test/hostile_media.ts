/**
 * Hostile image files for the tests: each claims one size where a naive reader looks and holds
 * another, far larger one where the decoder looks (the attacks of issue 14), built byte by
 * byte so that what they hold is plain; and an interlaced PNG built the same way, which a
 * strict reader must still take.
 * @module
 */

import { deflateSync } from "node:zlib";
import type { RgbImage } from "../src/media/image.ts";

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

function crc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

function concat(parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** One PNG chunk with a correct CRC (pngjs checks them). */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  out.set(new TextEncoder().encode(type), 4);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/** An IHDR chunk: width, height, bit depth, colour type, interlace. */
export function ihdr(
  width: number,
  height: number,
  depth: number,
  colorType: number,
  interlace = 0,
): Uint8Array {
  const data = new Uint8Array(13);
  const view = new DataView(data.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  data.set([depth, colorType, 0, 0, interlace], 8);
  return pngChunk("IHDR", data);
}

const SIGNATURE = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** A PNG of these chunks, with its signature and IEND. */
export function png(chunks: Uint8Array[]): Uint8Array<ArrayBuffer> {
  return concat([SIGNATURE, ...chunks, pngChunk("IEND", new Uint8Array(0))]);
}

/**
 * A PNG whose first IHDR says `small` x `small` and whose second, which pngjs takes, says
 * `side` x `side` one-bit grey, with the pixel data of the second: 12000 x 12000 is 18 KB of
 * file and 576 MB of RGBA once pngjs has decoded it.
 */
export function twoIhdrPng(small: number, side: number): Uint8Array<ArrayBuffer> {
  const rows = new Uint8Array((1 + Math.ceil(side / 8)) * side); // filter byte 0, black pixels
  return png([
    ihdr(small, small, 8, 2),
    ihdr(side, side, 1, 0),
    pngChunk("IDAT", deflateSync(rows)),
  ]);
}

/** Adam7's passes: first column, column step, first row, row step. */
const ADAM7 = [
  [0, 8, 0, 8],
  [4, 8, 0, 8],
  [0, 4, 4, 8],
  [2, 4, 0, 4],
  [0, 2, 2, 4],
  [1, 2, 0, 2],
  [0, 1, 1, 2],
];

/** An interlaced (Adam7) 8-bit RGB PNG of `img`, each scanline unfiltered. */
export function interlacedPng(img: RgbImage): Uint8Array<ArrayBuffer> {
  const rows: number[] = [];
  for (const [x0, dx, y0, dy] of ADAM7) {
    if (x0 >= img.width || y0 >= img.height) continue;
    for (let y = y0; y < img.height; y += dy) {
      rows.push(0);
      for (let x = x0; x < img.width; x += dx) {
        const i = (y * img.width + x) * 3;
        rows.push(img.data[i], img.data[i + 1], img.data[i + 2]);
      }
    }
  }
  return png([
    ihdr(img.width, img.height, 8, 2, 1),
    pngChunk("IDAT", deflateSync(new Uint8Array(rows))),
  ]);
}

/**
 * A `side` x `side` RGB PNG whose IDAT inflates to `inflated` bytes of zeros (a zlib bomb):
 * `inflated` far beyond the (1 + 3 x side) x side the image holds. Compressed as it goes, so
 * building it holds only the compressed stream.
 */
export async function bombPng(
  side: number,
  interlace: number,
  inflated: number,
): Promise<Uint8Array<ArrayBuffer>> {
  const chunk = new Uint8Array(1 << 20);
  let left = inflated;
  const zeros = new ReadableStream<BufferSource>({
    pull(c) {
      if (left <= 0) return c.close();
      const n = Math.min(left, chunk.length);
      left -= n;
      c.enqueue(chunk.subarray(0, n));
    },
  });
  const compressed = new Uint8Array(
    await new Response(zeros.pipeThrough(new CompressionStream("deflate"))).arrayBuffer(),
  );
  return png([ihdr(side, side, 8, 2, interlace), pngChunk("IDAT", compressed)]);
}

/** A JPEG frame header (SOF0) of `width` x `height`, three components, no subsampling. */
function sof0(width: number, height: number): Uint8Array {
  return new Uint8Array([
    0xff,
    0xc0,
    0x00,
    0x11,
    0x08,
    height >> 8,
    height & 0xff,
    width >> 8,
    width & 0xff,
    0x03,
    0x01,
    0x11,
    0x00,
    0x02,
    0x11,
    0x00,
    0x03,
    0x11,
    0x00,
  ]);
}

/** An APPn segment of `length` (the two length bytes included) filled with zeros. */
function app(n: number, length: number): Uint8Array {
  const out = new Uint8Array(2 + length);
  out.set([0xff, 0xe0 + n, length >> 8, length & 0xff]);
  return out;
}

/**
 * The fill-byte bypass: SOI, then FF FF C0 ..., which jpeg-js reads as fill bytes and a
 * `side` x `side` frame header, and a reader that takes FF FF for a segment reads as a marker
 * whose length (C0 00) jumps 48 KB ahead, where a `small` x `small` decoy frame header waits.
 * jpeg-js allocates the large frame's blocks as soon as it reads its header.
 */
export function fillByteJpeg(small: number, side: number): Uint8Array<ArrayBuffer> {
  // FF D8, then a fill byte FF before the large frame's FF C0.
  const head = concat([new Uint8Array([0xff, 0xd8, 0xff]), sof0(side, side)]);
  // A naive walk at byte 2 sees marker FF with length C0 00 (49152): it lands at 49156.
  const decoyAt = 2 + 2 + 0xc000;
  const pad = app(15, decoyAt - head.length - 2);
  return concat([head, pad, sof0(small, small), new Uint8Array([0xff, 0xd9])]);
}

/**
 * A JPEG whose frame header only jpeg-js's own arithmetic finds: a DQT segment that says 3
 * bytes but names a 16-bit table, which jpeg-js reads all 129 bytes of, landing inside the
 * APP segment that a marker walk skips whole, where a `side` x `side` frame header lies.
 */
export function dqtOverrunJpeg(side: number): Uint8Array<ArrayBuffer> {
  const dqt = new Uint8Array([0xff, 0xdb, 0x00, 0x03, 0x10]);
  // The DQT ends at byte 7 for a marker walk, where the APP1 segment starts; jpeg-js reads
  // 128 bytes of table from byte 7 and its next marker at 135: 128 bytes into the segment.
  const segment = app(1, 145);
  segment.set(sof0(side, side), 128);
  return concat([new Uint8Array([0xff, 0xd8]), dqt, segment, new Uint8Array([0xff, 0xd9])]);
}
