/**
 * Outputs that appear whole or not at all: every file is written under a temporary name in its
 * final directory and renamed once complete, so Ctrl-C (or a crash, or an error halfway through
 * a video) never leaves a truncated image, video or token file under the real name. On SIGINT,
 * SIGTERM or SIGHUP, child processes (ffmpeg) are killed, the temporary files are removed, and
 * the process exits with 128 + the signal's number (130, 143, 129), as shells expect.
 * @module
 */

import { killChildren } from "../media/children.ts";

const pending = new Set<string>();
let counter = 0;
let installed = false;
/** Set once a signal arrived: no new temporary file (nor the ffmpeg that writes it) may start. */
let stopping = false;

/**
 * A temporary path beside `final`, hidden (leading dot) and keeping its extension, since ffmpeg
 * picks the container from it.
 */
export function tempPathFor(final: string): string {
  if (stopping) throw new Error(`Not writing "${final}": the command is stopping on a signal`);
  const slash = final.lastIndexOf("/");
  const dir = final.slice(0, slash + 1), base = final.slice(slash + 1);
  const dot = base.lastIndexOf(".");
  const ext = dot > 0 ? base.slice(dot) : "";
  const tmp = `${dir}.${base}.partial-${Deno.pid}-${counter++}${ext}`;
  pending.add(tmp);
  return tmp;
}

/** Moves a finished temporary file to its final name. */
export async function commitTemp(tmp: string, final: string): Promise<void> {
  await Deno.rename(tmp, final);
  pending.delete(tmp);
}

/** Removes a temporary file after a failure (missing is fine). */
export async function discardTemp(tmp: string): Promise<void> {
  pending.delete(tmp);
  await Deno.remove(tmp).catch(() => {});
}

/** Writes `bytes` to `path` through a temporary file. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const tmp = tempPathFor(path);
  try {
    await Deno.writeFile(tmp, bytes);
    await commitTemp(tmp, path);
  } catch (err) {
    await discardTemp(tmp);
    throw err;
  }
}

/**
 * The signals that end a command early, with the status a shell reports for each (128 + its
 * number) and what stderr says. SIGINT is Ctrl-C; SIGTERM is kill, systemd, docker stop and CI
 * timeouts; SIGHUP is a closed terminal or ssh session.
 */
const SIGNALS = [
  { signal: "SIGHUP", status: 128 + 1, said: "hung up" },
  { signal: "SIGINT", status: 128 + 2, said: "interrupted" },
  { signal: "SIGTERM", status: 128 + 15, said: "terminated" },
] as const;

/** How long to wait for killed children to be gone before removing the files they wrote. */
const CHILD_EXIT_WAIT_MS = 2000;

/**
 * Installs the signal handlers (once): on SIGINT, SIGTERM or SIGHUP, kill the children (ffmpeg),
 * wait until they are gone (a dying ffmpeg may still create its output), remove the temporary
 * files, and exit with 128 + the signal's number.
 */
export function cleanUpOnSignals(): void {
  if (installed || Deno.build.os === "windows") return;
  installed = true;
  for (const { signal, status, said } of SIGNALS) {
    Deno.addSignalListener(signal, async () => {
      if (stopping) return; // a second signal while cleaning up changes nothing
      stopping = true;
      await Promise.race([
        killChildren(),
        new Promise((resolve) => setTimeout(resolve, CHILD_EXIT_WAIT_MS)),
      ]);
      // A reader the command started while the others were dying (writers cannot start now).
      killChildren();
      for (const tmp of pending) {
        try {
          Deno.removeSync(tmp);
        } catch {
          // never created, or already renamed
        }
      }
      try {
        Deno.stderr.writeSync(new TextEncoder().encode(`\n${said}: no partial outputs left\n`));
      } catch {
        // a hung-up terminal cannot be written to; the status still says what happened
      }
      Deno.exit(status);
    });
  }
}
