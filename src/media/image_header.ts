/**
 * The size an image file will decode to, read the way its decoder reads it, before anything is
 * decoded: a size check is only worth what it agrees with the decoder on.
 *
 * - PNG: the chunks are walked strictly, as pngjs walks them: the signature, exactly one IHDR
 *   and first (pngjs takes the size from whichever IHDR comes last, so a file with two is
 *   refused), every chunk inside the file, no unknown critical chunk, IEND last. What is left
 *   is a header whose size is the one pngjs allocates for.
 * - JPEG: the markers are walked as the standard lays them out (fill bytes before a marker,
 *   segment lengths, entropy-coded data after SOS) and every frame header (SOF) met is listed.
 *   jpeg-js walks by its own arithmetic and can land elsewhere, so this list is a first check
 *   only: the decoder is also run with its own limits (image.ts).
 * @module
 */

/** What a PNG's single IHDR says, and the bytes its pixel data inflates to. */
export interface PngHeader {
  width: number;
  height: number;
  /** Bits per sample: 1, 2, 4, 8 or 16. */
  depth: number;
  /** 0 grey, 2 RGB, 3 palette, 4 grey + alpha, 6 RGBA. */
  colorType: number;
  interlaced: boolean;
  /** Bytes the IDAT stream must inflate to (filter bytes included), for every pass. */
  inflatedBytes: number;
  /** Where the IDAT chunks' data lie: [offset, length] in the file. */
  idat: [number, number][];
}

const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Samples per pixel of each PNG colour type. */
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

/** Adam7's seven passes: first column, column step, first row, row step. */
const ADAM7 = [
  [0, 8, 0, 8],
  [4, 8, 0, 8],
  [0, 4, 4, 8],
  [2, 4, 0, 4],
  [0, 2, 2, 4],
  [1, 2, 0, 2],
  [0, 1, 1, 2],
];

/** Critical chunks pngjs reads; it refuses any other critical one, and so does this walk. */
const KNOWN_CRITICAL = new Set(["IHDR", "PLTE", "IDAT", "IEND"]);

/** Whether the bytes start with the PNG signature. */
export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && PNG_SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Bytes of a width x height image's scanlines (one filter byte each) at this format. */
function scanlineBytes(width: number, height: number, bitsPerPixel: number): number {
  if (width === 0 || height === 0) return 0;
  return (Math.floor((width * bitsPerPixel + 7) / 8) + 1) * height;
}

/**
 * The header of a PNG file, after checking its chunk structure; throws an Error saying what is
 * wrong (the caller adds which file) when pngjs could read the file differently or not at all.
 */
export function readPngHeader(bytes: Uint8Array): PngHeader {
  if (!isPng(bytes)) throw new Error("it does not start with the PNG signature");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let header: PngHeader | null = null;
  let offset = 8;
  while (true) {
    if (offset + 12 > bytes.length) {
      throw new Error(`it ends at byte ${bytes.length} without an IEND chunk`);
    }
    const length = view.getUint32(offset);
    const type = String.fromCharCode(...bytes.subarray(offset + 4, offset + 8));
    const data = offset + 8;
    if (length > 0x7fffffff || data + length + 4 > bytes.length) {
      throw new Error(
        `its ${
          JSON.stringify(type)
        } chunk at byte ${offset} says ${length} bytes, past the end of the file`,
      );
    }
    if (!header && type !== "IHDR") {
      throw new Error(`its first chunk is ${JSON.stringify(type)}, not IHDR`);
    }
    if (type === "IHDR") {
      if (header) {
        throw new Error(
          `it has a second IHDR chunk at byte ${offset}; a PNG has one (decoders disagree on which size holds)`,
        );
      }
      if (length !== 13) throw new Error(`its IHDR chunk has ${length} bytes, not 13`);
      header = parseIhdr(view, data);
    } else if (type === "IDAT") {
      header!.idat.push([data, length]);
    } else if (type === "IEND") {
      const end = data + length + 4;
      if (end !== bytes.length) {
        throw new Error(`it has ${bytes.length - end} bytes after its IEND chunk`);
      }
      break;
    } else if (!(bytes[offset + 4] & 0x20) && !KNOWN_CRITICAL.has(type)) {
      throw new Error(`it has an unknown critical chunk ${JSON.stringify(type)}`);
    }
    offset = data + length + 4;
  }
  if (!header!.idat.length) throw new Error("it has no IDAT (pixel data) chunk");
  return header!;
}

function parseIhdr(view: DataView, at: number): PngHeader {
  const width = view.getUint32(at), height = view.getUint32(at + 4);
  const depth = view.getUint8(at + 8), colorType = view.getUint8(at + 9);
  const compression = view.getUint8(at + 10), filter = view.getUint8(at + 11);
  const interlace = view.getUint8(at + 12);
  if (width === 0 || height === 0 || width > 0x7fffffff || height > 0x7fffffff) {
    throw new Error(`its IHDR says ${width}x${height} pixels`);
  }
  if (![1, 2, 4, 8, 16].includes(depth)) throw new Error(`it has bit depth ${depth}`);
  if (!(colorType in CHANNELS)) throw new Error(`it has colour type ${colorType}`);
  if (compression !== 0 || filter !== 0 || interlace > 1) {
    throw new Error(
      `its IHDR names compression ${compression}, filter ${filter}, interlace ${interlace}`,
    );
  }
  const bits = CHANNELS[colorType] * depth;
  const inflatedBytes = interlace
    ? ADAM7.reduce((sum, [x0, dx, y0, dy]) =>
      sum +
      scanlineBytes(
        Math.max(0, Math.ceil((width - x0) / dx)),
        Math.max(0, Math.ceil((height - y0) / dy)),
        bits,
      ), 0)
    : scanlineBytes(width, height, bits);
  return { width, height, depth, colorType, interlaced: interlace === 1, inflatedBytes, idat: [] };
}

/** Whether the bytes start like a JPEG (SOI, then a marker). */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** SOF0..SOF15 carry a frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range. */
function isSof(marker: number): boolean {
  return marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 &&
    marker !== 0xcc;
}

/**
 * The frame sizes of every SOF marker met walking a JPEG's segments from SOI to EOI. Fill
 * bytes (FF FF ...) before a marker are skipped as the standard says; entropy-coded data, and
 * any byte where a marker should be, is skipped to the next marker, so a frame header cannot
 * hide behind bytes this walk does not expect.
 */
export function jpegFrames(bytes: Uint8Array): { width: number; height: number }[] {
  const frames: { width: number; height: number }[] = [];
  const n = bytes.length;
  let i = 2;
  while (i < n) {
    if (bytes[i] !== 0xff) {
      // Entropy-coded data, or damage: the next marker is the next FF (FF 00 is data, skipped
      // below as a marker with no length).
      i = bytes.indexOf(0xff, i);
      if (i < 0) break;
      continue;
    }
    let m = i + 1;
    while (m < n && bytes[m] === 0xff) m++; // fill bytes
    if (m >= n) break;
    const marker = bytes[m];
    if (marker === 0xd9) break; // EOI
    // Markers without a length: stuffed zero, TEM, RST0..7, SOI.
    if (marker === 0x00 || marker === 0x01 || (marker >= 0xd0 && marker <= 0xd8)) {
      i = m + 1;
      continue;
    }
    if (m + 2 >= n) break;
    const length = (bytes[m + 1] << 8) | bytes[m + 2];
    if (isSof(marker) && m + 7 < n) {
      frames.push({
        height: (bytes[m + 4] << 8) | bytes[m + 5],
        width: (bytes[m + 6] << 8) | bytes[m + 7],
      });
    }
    // A length under 2 is damage: look for the next marker from here.
    i = length >= 2 ? m + 1 + length : m + 1;
  }
  return frames;
}
