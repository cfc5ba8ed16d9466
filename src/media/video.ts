/**
 * Videos in and out through ffmpeg (Debian's package, found on PATH), as raw RGB frames over
 * pipes: frames are read from ffmpeg's stdout one at a time and written to another ffmpeg's
 * stdin one at a time, so a long video is never held whole.
 * @module
 */

import type { RgbImage } from "./image.ts";
import { trackChild } from "./children.ts";

const VIDEO_EXTENSIONS = new Set(["mp4", "mov", "mkv", "webm", "avi", "m4v", "mpg", "mpeg", "gif"]);

/** Whether a path names a video by its extension. */
export function isVideoPath(path: string): boolean {
  const ext = path.toLowerCase().match(/\.([a-z0-9]+)$/)?.[1];
  return ext !== undefined && VIDEO_EXTENSIONS.has(ext);
}

const MISSING =
  "ffmpeg was not found on PATH; videos are read and written through it: install it (Debian/Ubuntu: apt-get install ffmpeg, macOS: brew install ffmpeg)";

let checked: Promise<void> | null = null;

/** Throws a clear message when ffmpeg or ffprobe is not on PATH. */
export function requireFfmpeg(): Promise<void> {
  checked ??= (async () => {
    for (const tool of ["ffmpeg", "ffprobe"]) {
      try {
        const { success } = await new Deno.Command(tool, {
          args: ["-version"],
          stdout: "null",
          stderr: "null",
        }).output();
        if (!success) throw new Error(`${tool} -version failed`);
      } catch (err) {
        if (err instanceof Deno.errors.NotFound) throw new Error(MISSING);
        throw new Error(`${MISSING} (${(err as Error).message})`);
      }
    }
  })();
  return checked;
}

/** What ffprobe says of a video's first video stream. */
export interface VideoInfo {
  width: number;
  height: number;
  fps: number;
  /** Frame count from the container, or null when it does not say (then no ETA). */
  frames: number | null;
}

/** Width, height, frame rate and frame count of a video's first video stream. */
export async function probeVideo(path: string): Promise<VideoInfo> {
  await requireFfmpeg();
  const out = await new Deno.Command("ffprobe", {
    args: [
      "-v",
      "error",
      "-select_streams",
      "v:0",
      "-show_entries",
      "stream=width,height,r_frame_rate,nb_frames",
      "-of",
      "json",
      path,
    ],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) {
    throw new Error(`Cannot read video "${path}": ${err.split("\n").pop() || "ffprobe failed"}`);
  }
  const stream = JSON.parse(new TextDecoder().decode(out.stdout)).streams?.[0];
  if (!stream?.width || !stream?.height) {
    throw new Error(`Cannot read video "${path}": it has no video stream`);
  }
  const [num, den] = String(stream.r_frame_rate ?? "24/1").split("/").map(Number);
  const fps = num > 0 && den > 0 ? num / den : 24;
  const frames = Number(stream.nb_frames);
  return {
    width: stream.width,
    height: stream.height,
    fps,
    frames: Number.isInteger(frames) && frames > 0 ? frames : null,
  };
}

/**
 * The frames of a video as 8-bit RGB, decoded by ffmpeg as they are consumed. Stopping early
 * (break, or an error downstream) kills the decoder. With `reuse`, every frame is read into the
 * same array, valid until the next frame is asked for: for a consumer that converts each frame
 * before it takes the next, a long video then makes no garbage per frame.
 */
export async function* readVideoFrames(
  path: string,
  info: VideoInfo,
  maxFrames = Infinity,
  reuse = false,
): AsyncGenerator<RgbImage> {
  await requireFfmpeg();
  const child = new Deno.Command("ffmpeg", {
    args: ["-v", "error", "-nostdin", "-i", path, "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  trackChild(child);
  const stderr = new Response(child.stderr).text();
  const size = info.width * info.height * 3;
  // Bytes go straight into the frame (a BYOB read hands the same memory back as a new view),
  // so reading makes no chunk arrays for the collector.
  const reader = child.stdout.getReader({ mode: "byob" });
  let frame = new Uint8Array(size), filled = 0, count = 0;
  let finished = false;
  try {
    while (true) {
      const { value, done } = await reader.read(frame.subarray(filled));
      if (done || !value) break;
      frame = new Uint8Array(value.buffer, 0, size);
      filled += value.byteLength;
      if (filled === size) {
        if (count++ >= maxFrames) {
          throw new Error(`Video "${path}" has more than ${maxFrames} frames`);
        }
        yield { width: info.width, height: info.height, data: frame };
        if (!reuse) frame = new Uint8Array(size);
        filled = 0;
      }
    }
    const status = await child.status;
    finished = true;
    if (!status.success) {
      const msg = (await stderr).trim().split("\n").pop();
      throw new Error(`Cannot read video "${path}": ${msg || `ffmpeg exited with ${status.code}`}`);
    }
    if (count === 0) throw new Error(`Cannot read video "${path}": it has no frames`);
  } finally {
    if (!finished) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already exited
      }
      await reader.cancel().catch(() => {});
      await child.status;
    }
    await stderr.catch(() => "");
  }
}

/** Writes RGB frames to a video file through ffmpeg's stdin. */
export class VideoWriter {
  #child: Deno.ChildProcess;
  #writer: WritableStreamDefaultWriter<Uint8Array>;
  #stderr: Promise<string>;

  private constructor(readonly path: string, child: Deno.ChildProcess) {
    this.#child = child;
    this.#writer = child.stdin.getWriter();
    this.#stderr = new Response(child.stderr).text();
  }

  /**
   * Starts ffmpeg writing `path` (the container from its extension). H.264 in yuv420p plays
   * everywhere but needs even sizes; odd ones keep full-resolution chroma instead.
   */
  static async open(
    path: string,
    width: number,
    height: number,
    fps: number,
  ): Promise<VideoWriter> {
    await requireFfmpeg();
    const even = width % 2 === 0 && height % 2 === 0;
    const child = new Deno.Command("ffmpeg", {
      args: [
        "-v",
        "error",
        "-y",
        "-f",
        "rawvideo",
        "-pix_fmt",
        "rgb24",
        "-s",
        `${width}x${height}`,
        "-r",
        String(fps),
        "-i",
        "-",
        ...(path.toLowerCase().endsWith(".gif") ? [] : ["-pix_fmt", even ? "yuv420p" : "yuv444p"]),
        path,
      ],
      stdin: "piped",
      stdout: "null",
      stderr: "piped",
    }).spawn();
    trackChild(child);
    return new VideoWriter(path, child);
  }

  /** Writes the next frame (waiting while ffmpeg catches up). */
  async write(frame: RgbImage): Promise<void> {
    try {
      await this.#writer.write(frame.data);
    } catch {
      throw new Error(await this.#failure());
    }
  }

  async #failure(): Promise<string> {
    const status = await this.#child.status;
    const msg = (await this.#stderr).trim().split("\n").pop();
    return `Cannot write video "${this.path}": ${msg || `ffmpeg exited with ${status.code}`}`;
  }

  /** Finishes the file. */
  async close(): Promise<void> {
    await this.#writer.close().catch(() => {});
    const status = await this.#child.status;
    if (!status.success) throw new Error(await this.#failure());
  }

  /** Stops ffmpeg without finishing the file (the caller removes it). */
  async abort(): Promise<void> {
    try {
      this.#child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.#writer.abort().catch(() => {});
    await this.#child.status;
    await this.#stderr.catch(() => "");
  }
}
