/**
 * Progress lines on a terminal's stderr, rewritten in place, at most a few times a second;
 * nothing when stderr is not a terminal (logs, CI) or outside Deno. Downloads use the default
 * line below; the CLI's progress bar writes through the same `terminalLine`.
 * @module
 */

import type { DownloadProgress } from "./hub.ts";

const MB = 1024 * 1024;

/**
 * A writer of one status line on a terminal's stderr: each call replaces the line, calls closer
 * than `intervalMs` to the last are dropped unless `final` or `force`, and `final` ends the line.
 * Undefined when stderr is not a terminal.
 */
export function terminalLine(
  intervalMs = 250,
): ((text: string, final?: boolean, force?: boolean) => void) | undefined {
  const deno = (globalThis as {
    Deno?: { stderr: { isTerminal(): boolean; writeSync(b: Uint8Array): number } };
  }).Deno;
  if (!deno?.stderr.isTerminal()) return undefined;
  const encoder = new TextEncoder();
  let last = -Infinity;
  return (text, final = false, force = false) => {
    const now = performance.now();
    if (!final && !force && now - last < intervalMs) return;
    // A forced write (clearing the line for other output) leaves the next update free to redraw.
    if (!force) last = now;
    // Clear to the end of the line: a shorter line must not leave the tail of a longer one.
    deno.stderr.writeSync(encoder.encode(`\r${text}\x1b[K${final ? "\n" : ""}`));
  };
}

export function terminalProgress(): ((p: DownloadProgress) => void) | undefined {
  const line = terminalLine();
  if (!line) return undefined;
  const started = performance.now();
  return (p) => {
    const done = p.total > 0 && p.bytes >= p.total;
    const rate = p.bytes / MB / Math.max(0.001, (performance.now() - started) / 1000);
    const of = p.total > 0 ? ` / ${(p.total / MB).toFixed(1)}` : "";
    line(
      `downloading ${p.file}: ${(p.bytes / MB).toFixed(1)}${of} MB, ${rate.toFixed(1)} MB/s`,
      done,
    );
  };
}
