/**
 * How the server cuts a video in time, the same way for /tokenize (which pads it) and
 * /decode (which crops the padding off again and bounds what tokens may decode to): a
 * tokenizer without the window option streams the whole clip exactly, so it gets the whole
 * video (at most maxFrames) as one window, padded at its ends to 1 + k x tc frames; one with
 * it, the reference CLI's windows of that many frames, the last one padded likewise.
 * @module
 */

/** What the windows depend on (a Tokenizer has all three). */
export interface ClipTokenizer {
  window: number | null;
  temporalCompression: number;
  spatialCompression: number;
}

/** The geometry paddedWindows (media/padded_windows.ts) cuts an upload with. */
export function serverGeometry(
  tok: ClipTokenizer,
  maxFrames: number,
): { streamWindow: number; temporalCompression: number; spatialCompression: number } {
  const tc = tok.temporalCompression;
  return {
    streamWindow: tok.window ?? 1 + tc * Math.ceil((maxFrames - 1) / tc),
    temporalCompression: tc,
    spatialCompression: tok.spatialCompression,
  };
}

/** One window of a clip: its frames, and the frames added before and after it. */
export interface TimeWindow {
  count: number;
  pad: [number, number];
}

/** The windows paddedWindows cuts a clip of `frames` frames into (the last one padded). */
export function timeWindows(tok: ClipTokenizer, frames: number, maxFrames: number): TimeWindow[] {
  const { streamWindow: window, temporalCompression: tc } = serverGeometry(tok, maxFrames);
  const out: TimeWindow[] = [];
  for (let left = frames; left > 0; left -= window) {
    const count = Math.min(window, left);
    const extra = count === window ? 0 : (tc - ((count - 1) % tc)) % tc;
    out.push({ count, pad: [extra >> 1, extra - (extra >> 1)] });
  }
  return out;
}

/** Latent frames the encoder gives for these windows. */
export function latentFrames(windows: TimeWindow[], tc: number): number {
  return windows.reduce((n, w) => n + 1 + (w.count + w.pad[0] + w.pad[1] - 1) / tc, 0);
}

/** The most latent frames any clip of at most `maxFrames` frames encodes to. */
export function maxLatentFrames(tok: ClipTokenizer, maxFrames: number): number {
  let most = 0;
  for (let n = 1; n <= maxFrames; n++) {
    most = Math.max(most, latentFrames(timeWindows(tok, n, maxFrames), tok.temporalCompression));
  }
  return most;
}

/** Which decoded frames are the clip's own, once each window's padding is dropped. */
export function clipFrames(windows: TimeWindow[]): number[] {
  const kept: number[] = [];
  let start = 0;
  for (const w of windows) {
    for (let i = 0; i < w.count; i++) kept.push(start + w.pad[0] + i);
    start += w.count + w.pad[0] + w.pad[1];
  }
  return kept;
}
