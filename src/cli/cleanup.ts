/**
 * Outputs that appear whole or not at all: every file is written under a temporary name in its
 * final directory and renamed once complete, so Ctrl-C (or a crash, or an error halfway through
 * a video) never leaves a truncated image, video or token file under the real name. On SIGINT
 * the temporary files are removed, child processes (ffmpeg) are killed, and the process exits
 * with 130, as shells expect of an interrupted command.
 * @module
 */

import { killChildren } from "../media/children.ts";

const pending = new Set<string>();
let counter = 0;
let installed = false;

/**
 * A temporary path beside `final`, hidden (leading dot) and keeping its extension, since ffmpeg
 * picks the container from it.
 */
export function tempPathFor(final: string): string {
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

/** Installs the SIGINT handler (once): remove temporary files, kill children, exit 130. */
export function cleanUpOnInterrupt(): void {
  if (installed || Deno.build.os === "windows") return;
  installed = true;
  Deno.addSignalListener("SIGINT", () => {
    killChildren();
    for (const tmp of pending) {
      try {
        Deno.removeSync(tmp);
      } catch {
        // never created, or already renamed
      }
    }
    Deno.stderr.writeSync(new TextEncoder().encode("\ninterrupted: no partial outputs left\n"));
    Deno.exit(130);
  });
}
