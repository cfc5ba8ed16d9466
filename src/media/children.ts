/**
 * The child processes (ffmpeg) that media code has running, so that whoever handles Ctrl-C (the
 * CLI's src/cli/cleanup.ts) can kill them: media spawns them, but only the program knows when it
 * is being interrupted.
 * @module
 */

const children = new Set<Deno.ChildProcess>();

/** Tracks a child process until it exits, so that killChildren() reaches it. */
export function trackChild(child: Deno.ChildProcess): void {
  children.add(child);
  child.status.finally(() => children.delete(child));
}

/**
 * Kills every tracked child process that is still running (SIGKILL); resolves once they have
 * all exited, after which none of them can create or write a file.
 */
export function killChildren(): Promise<void> {
  const exits: Promise<unknown>[] = [];
  for (const child of children) {
    try {
      child.kill("SIGKILL");
    } catch {
      // already gone
    }
    exits.push(child.status.catch(() => {}));
  }
  return Promise.all(exits).then(() => {});
}
