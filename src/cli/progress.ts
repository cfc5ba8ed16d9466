/**
 * The CLI's progress bar: items or frames done, the rate and the time left, on a terminal's
 * stderr (through the same line writer as hub downloads), shown only once a job has run for a
 * second so quick runs stay quiet.
 * @module
 */

import { terminalLine } from "../hub/progress.ts";

/** "1:05" or "1:02:03". */
export function formatDuration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), r = s % 60;
  const mm = h ? String(m).padStart(2, "0") : String(m);
  return `${h ? `${h}:` : ""}${mm}:${String(r).padStart(2, "0")}`;
}

/**
 * One progress line: `label [#####.....] 12/40 frames  3.2 frames/s  ETA 0:09`; without a total
 * (a stream of unknown length) the bar and ETA are left out.
 */
export function formatProgress(
  label: string,
  done: number,
  total: number | null,
  unit: string,
  elapsedSeconds: number,
  width = 24,
): string {
  const rate = elapsedSeconds > 0 ? done / elapsedSeconds : 0;
  const speed = `${rate >= 10 ? rate.toFixed(0) : rate.toFixed(1)} ${unit}/s`;
  if (!total) return `${label} ${done} ${unit}  ${speed}`;
  const filled = Math.min(width, Math.floor((width * done) / total));
  const bar = "#".repeat(filled) + ".".repeat(width - filled);
  const eta = rate > 0 ? formatDuration((total - done) / rate) : "?";
  return `${label} [${bar}] ${done}/${total} ${unit}  ${speed}  ETA ${eta}`;
}

export class ProgressBar {
  #line: ((text: string, final?: boolean, force?: boolean) => void) | undefined;
  #start = performance.now();
  #done = 0;
  #shown = false;

  /**
   * @param enabled false turns the bar off (--json, --quiet); it is also off when stderr is not
   * a terminal.
   */
  constructor(
    readonly label: string,
    public total: number | null,
    readonly unit: string,
    enabled = true,
  ) {
    this.#line = enabled ? terminalLine() : undefined;
  }

  /** Counts `n` more units done. */
  tick(n = 1): void {
    this.#done += n;
    const elapsed = (performance.now() - this.#start) / 1000;
    if (!this.#line || elapsed < 1) return;
    this.#shown = true;
    this.#line(formatProgress(this.label, this.#done, this.total, this.unit, elapsed));
  }

  /** Erases the line so other output can be printed; the next tick draws it again. */
  clear(): void {
    if (this.#line && this.#shown) this.#line("", false, true);
  }

  /** Ends the line, if one was shown, with the final count. */
  finish(): void {
    if (!this.#line || !this.#shown) return;
    const elapsed = (performance.now() - this.#start) / 1000;
    this.#line(formatProgress(this.label, this.#done, this.total, this.unit, elapsed), true);
  }
}
