/**
 * What an upload is, told by its magic numbers (a name or Content-Type proves nothing): the
 * images and the video containers the CLI reads by extension (src/cli/media.ts), so that the
 * server takes what the command line takes. Videos are written to a temporary file with the
 * container's extension for ffmpeg.
 * @module
 */

import { type ImageFormat, sniffImage } from "../media/image.ts";

/** An upload's media: an image format, or a video container (its file extension). */
export type Media =
  | { kind: "image"; format: ImageFormat }
  | { kind: "video"; container: string };

/** Every type the server names in its 415 answer. */
export const MEDIA_TYPES = "PNG or JPEG images; MP4, MOV, M4V, MKV, WebM, AVI, MPEG or GIF videos";

const ascii = (bytes: Uint8Array, from: number, to: number) =>
  String.fromCharCode(...bytes.subarray(from, to));

/** QuickTime files from before `ftyp`: their first atom. */
const QUICKTIME_ATOMS = new Set(["moov", "mdat", "wide", "free", "skip", "pnot"]);

/** The container a video's first bytes name, or null. */
export function sniffVideo(bytes: Uint8Array): string | null {
  if (bytes.length < 12) return null;
  if (ascii(bytes, 4, 8) === "ftyp") return "mp4"; // MP4, MOV, M4V (ISO base media)
  if (QUICKTIME_ATOMS.has(ascii(bytes, 4, 8))) return "mov";
  if (bytes[0] === 0x1a && bytes[1] === 0x45 && bytes[2] === 0xdf && bytes[3] === 0xa3) {
    return "mkv"; // Matroska and WebM (EBML)
  }
  if (ascii(bytes, 0, 4) === "RIFF" && ascii(bytes, 8, 12) === "AVI ") return "avi";
  if (
    bytes[0] === 0 && bytes[1] === 0 && bytes[2] === 1 && (bytes[3] === 0xba || bytes[3] === 0xb3)
  ) {
    return "mpg"; // MPEG program stream, or an elementary video stream
  }
  if (ascii(bytes, 0, 6) === "GIF87a" || ascii(bytes, 0, 6) === "GIF89a") return "gif";
  return null;
}

/** The media an upload holds, or null when it is none the server reads. */
export function sniffMedia(bytes: Uint8Array): Media | null {
  const format = sniffImage(bytes);
  if (format) return { kind: "image", format };
  const container = sniffVideo(bytes);
  return container ? { kind: "video", container } : null;
}
