/**
 * The tokenization server as its users run it, for the server tests: examples/server.ts started
 * in a subprocess on 127.0.0.1 (port 0), its address read from what it prints, its peak
 * resident memory read from /proc; and a raw-socket client that sends a body as slowly as an
 * attacker would.
 * @module
 */

import { Buffer } from "node:buffer";

const ROOT = new URL("../", import.meta.url);

/** A running server subprocess. */
export interface ServerProcess {
  url: string;
  port: number;
  pid: number;
  /** Peak resident memory of the process so far (VmHWM), in MiB. */
  peakRssMiB(): number;
  /** What it wrote to stderr so far. */
  stderr(): string;
  stop(): Promise<void>;
}

/** The permissions the server needs: read weights, temp files and ffmpeg for videos, loopback. */
const PERMISSIONS = [
  "--allow-read",
  "--allow-write",
  "--allow-env",
  "--allow-run",
  "--allow-net=127.0.0.1",
];

/** The fixture's checkpoint path, relative to the repository (the server's working directory). */
export function fixture(variant: string, half: "encoder" | "decoder"): string {
  return `test/fixtures/${variant}/${half}.safetensors`;
}

/** Runs examples/server.ts with these flags to its exit (for its usage errors). */
export async function runServerScript(
  args: string[],
): Promise<{ code: number; stderr: string }> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, "examples/server.ts", ...args],
    cwd: ROOT,
    stdout: "null",
    stderr: "piped",
  }).output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

/** Starts examples/server.ts with these flags on 127.0.0.1, port 0, and waits until it listens. */
export async function startServer(args: string[]): Promise<ServerProcess> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMISSIONS, "examples/server.ts", ...args, "--port", "0"],
    cwd: ROOT,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let err = "";
  const errDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({ write: (s) => void (err += s) }),
  ).catch(() => {});
  const lines = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "", url: string | null = null;
  const deadline = setTimeout(() => child.kill("SIGKILL"), 120_000);
  try {
    while (!url) {
      const { value, done } = await lines.read();
      if (done) {
        await errDone;
        throw new Error(`examples/server.ts ended before it listened:\n${out}${err}`);
      }
      out += value;
      url = out.match(/listening on (http:\/\/[\d.]+:\d+)/)?.[1] ?? null;
    }
  } finally {
    clearTimeout(deadline);
  }
  // Keep reading stdout so the child never blocks on a full pipe.
  const outDone = (async () => {
    while (!(await lines.read().catch(() => ({ done: true }))).done) { /* drain */ }
  })();
  return {
    url,
    port: Number(new URL(url).port),
    pid: child.pid,
    peakRssMiB() {
      // Through `cat`: Deno lets a script read /proc only with every permission, and the test
      // task grants --allow-run, not --allow-all.
      const status = new TextDecoder().decode(
        new Deno.Command("cat", { args: [`/proc/${child.pid}/status`] }).outputSync().stdout,
      );
      return Number(status.match(/VmHWM:\s+(\d+) kB/)![1]) / 1024;
    },
    stderr: () => err,
    async stop() {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      await child.status;
      await outDone;
      await errDone;
    },
  };
}

/** A response read off a raw socket. */
export interface RawReply {
  status: number;
  headers: string;
  body: string;
  /** Milliseconds from the connection to the end of the response. */
  ms: number;
}

/**
 * POSTs a body of `length` bytes to `path` the way a slowloris client does: the headers at
 * once, then one byte every `everyMs`, until the server answers (or the body is all sent).
 */
export async function trickle(
  port: number,
  path: string,
  length: number,
  everyMs: number,
): Promise<RawReply> {
  const t0 = performance.now();
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const head = `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
    `Content-Type: application/octet-stream\r\nContent-Length: ${length}\r\n\r\n`;
  await conn.write(new TextEncoder().encode(head));
  let answered = false;
  const reading = (async () => {
    const chunks: Uint8Array[] = [];
    const buf = new Uint8Array(4096);
    while (true) {
      const n = await conn.read(buf).catch(() => null);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
      const text = Buffer.concat(chunks).toString();
      const end = text.indexOf("\r\n\r\n");
      const len = Number(text.match(/content-length: (\d+)/i)?.[1] ?? NaN);
      if (end >= 0 && text.length >= end + 4 + len) break;
    }
    answered = true;
    return Buffer.concat(chunks).toString();
  })();
  for (let sent = 0; sent < length && !answered; sent++) {
    await new Promise((r) => setTimeout(r, everyMs));
    if (answered) break;
    await conn.write(new Uint8Array([0x89])).catch(() => {});
  }
  const text = await reading;
  conn.close();
  const end = text.indexOf("\r\n\r\n");
  return {
    status: Number(text.match(/^HTTP\/1\.1 (\d+)/)?.[1] ?? 0),
    headers: text.slice(0, end),
    body: text.slice(end + 4),
    ms: performance.now() - t0,
  };
}
