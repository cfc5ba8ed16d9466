/**
 * The default download progress line: on a terminal's stderr, rewritten in place, at most a few
 * times a second; nothing when stderr is not a terminal (logs, CI) or outside Deno.
 * @module
 */

import type { DownloadProgress } from "./hub.ts";

const MB = 1024 * 1024;

export function terminalProgress(): ((p: DownloadProgress) => void) | undefined {
  const deno = (globalThis as {
    Deno?: { stderr: { isTerminal(): boolean; writeSync(b: Uint8Array): number } };
  }).Deno;
  if (!deno?.stderr.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  const started = performance.now();
  let last = 0;
  return (p) => {
    const now = performance.now();
    const done = p.total > 0 && p.bytes >= p.total;
    if (!done && now - last < 250) return;
    last = now;
    const rate = p.bytes / MB / Math.max(0.001, (now - started) / 1000);
    const of = p.total > 0 ? ` / ${(p.total / MB).toFixed(1)}` : "";
    const line = `\rdownloading ${p.file}: ${(p.bytes / MB).toFixed(1)}${of} MB, ${
      rate.toFixed(1)
    } MB/s${done ? "\n" : ""}`;
    deno.stderr.writeSync(encoder.encode(line));
  };
}
