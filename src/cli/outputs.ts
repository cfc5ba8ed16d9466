/**
 * Where the CLI's items come from and go to: input arguments expanded into files (globs
 * included), and the output path planned for each, checked before any work starts; with the
 * small path helpers the runners use to name outputs.
 * @module
 */

import { globSync } from "node:fs";
import { identityKeys, identityOf } from "./same_file.ts";
import { writeFileAtomic } from "./cleanup.ts";

const GLOB_CHARS = /[*?[{]/;

/**
 * Files named by the arguments: globs expanded (sorted), plain paths checked; a file named twice
 * ("a.png ./a.png", a symlink and its target) is one item.
 */
export function expandInputs(args: string[]): string[] {
  const out: string[] = [];
  if (args.includes(STDIO) && args.length > 1) {
    throw new Error(`"-" (stdin) must be the only input`);
  }
  if (args[0] === STDIO) return [STDIO];
  for (const arg of args) {
    if (GLOB_CHARS.test(arg)) {
      const matches = (globSync(arg) as string[]).filter((p) => {
        try {
          return Deno.statSync(p).isFile;
        } catch {
          return false;
        }
      }).sort();
      if (!matches.length) throw new Error(`No files match "${arg}"`);
      out.push(...matches);
      continue;
    }
    let stat: Deno.FileInfo;
    try {
      stat = Deno.statSync(arg);
    } catch {
      throw new Error(`No such file: "${arg}"`);
    }
    if (stat.isDirectory) {
      throw new Error(`"${arg}" is a directory; give files or a glob such as "${arg}/*.png"`);
    }
    out.push(arg);
  }
  const seen = new Set<string>();
  return out.filter((path) => {
    const keys = identityKeys(identityOf(path));
    if (keys.some((k) => seen.has(k))) return false;
    keys.forEach((k) => seen.add(k));
    return true;
  });
}

function dirname(path: string): string {
  const i = path.lastIndexOf("/");
  return i < 0 ? "." : i === 0 ? "/" : path.slice(0, i);
}

/** The last component of `path`. */
export function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** The last component of `path` without its extension. */
export function stem(path: string): string {
  const base = basename(path);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(0, dot) : base;
}

/** Whether `path` exists and is a directory. */
export function isDirectory(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

/** A file an output must not replace besides the inputs: a checkpoint the command reads. */
export interface ProtectedFile {
  path: string;
  /** What it is, for the message ("the --encoder checkpoint"). */
  what: string;
}

/**
 * Output paths: `-o FILE` for one input, `-o DIR` for any number (made if missing), else
 * `defaultDir` beside each input. Two inputs writing one output, or an output replacing an input
 * or a `protect`ed file, are errors before any work (see refuseOverwrites); so is an output that
 * exists already, unless `overwrite` (-y) says to replace it (see refuseExisting).
 */
export function planOutputs(
  inputs: string[],
  output: string | undefined,
  defaultDir: string,
  name: (input: string) => string,
  protect: ProtectedFile[] = [],
  overwrite = false,
): string[] {
  if (output === STDIO || inputs[0] === STDIO) return planStdio(inputs, output, protect, overwrite);
  const toDir = output !== undefined &&
    (inputs.length > 1 || output.endsWith("/") || isDirectory(output));
  const outs = inputs.map((input) => {
    if (output !== undefined && !toDir) return output;
    const dir = output !== undefined
      ? output.replace(/\/+$/, "") || "/"
      : `${dirname(input)}/${defaultDir}`;
    return `${dir}/${name(input)}`;
  });
  refuseOverwrites(inputs, outs, protect);
  if (!overwrite) refuseExisting(outs);
  for (const o of outs) Deno.mkdirSync(dirname(o), { recursive: true });
  return outs;
}

/** The outputs of `-` (stdin) or `-o -` (stdout): one item, and a file it names checked as any. */
function planStdio(
  inputs: string[],
  output: string | undefined,
  protect: ProtectedFile[],
  overwrite: boolean,
): string[] {
  if (output === undefined) {
    throw new Error(`reading stdin (-), give the output with -o FILE, or -o - for stdout`);
  }
  if (output === STDIO && inputs.length > 1) {
    throw new Error(`-o - (stdout) takes one input, not ${inputs.length}`);
  }
  if (output !== STDIO) {
    if (output.endsWith("/") || isDirectory(output)) {
      throw new Error(`reading stdin (-), -o must name a file, not the directory "${output}"`);
    }
    refuseOverwrites(inputs, [output], protect);
    if (!overwrite) refuseExisting([output]);
    Deno.mkdirSync(dirname(output), { recursive: true });
  }
  return [output];
}

/**
 * Throws when `outputs[i]` (written for `inputs[i]`) is the same file as any input, a protected
 * file or another output. Paths are compared as files, not strings (see same_file.ts): by real
 * path, and by device and inode where the file exists, so "./a.png", an absolute path, a symlink
 * and a hard link all count as "a.png".
 */
export function refuseOverwrites(
  inputs: string[],
  outputs: string[],
  protect: ProtectedFile[] = [],
): void {
  const reads = new Map<string, { index: number } | ProtectedFile>();
  inputs.forEach((input, index) => {
    for (const k of identityKeys(identityOf(input))) if (!reads.has(k)) reads.set(k, { index });
  });
  for (const file of protect) {
    for (const k of identityKeys(identityOf(file.path))) if (!reads.has(k)) reads.set(k, file);
  }
  const writes = new Map<string, number>();
  outputs.forEach((o, i) => {
    const keys = identityKeys(identityOf(o));
    for (const k of keys) {
      const read = reads.get(k);
      if (read && "path" in read) {
        throw new Error(
          `"${read.path}" (${read.what}) would be overwritten by the output of "${
            inputs[i]
          }" ("${o}"); choose another output with -o`,
        );
      }
      if (read) {
        const whose = read.index === i ? "its own output" : `the output of "${inputs[i]}"`;
        throw new Error(
          `"${
            inputs[read.index]
          }" would be overwritten by ${whose} ("${o}"); choose another output with -o`,
        );
      }
      const other = writes.get(k);
      if (other !== undefined) {
        throw new Error(`"${inputs[other]}" and "${inputs[i]}" would both be written to "${o}"`);
      }
    }
    for (const k of keys) writes.set(k, i);
  });
}

/**
 * Throws when any of `outputs` exists (a file, a directory, a link, even a dangling one): the CLI
 * never replaces a file it was not told to, so a second run, or a typo in -o, cannot destroy
 * earlier work. `-y` (`--overwrite`) allows it. Checked for every output before any work starts.
 */
export function refuseExisting(outputs: string[]): void {
  const existing = outputs.filter((o) => {
    try {
      Deno.lstatSync(o);
      return true;
    } catch {
      return false;
    }
  });
  if (!existing.length) return;
  const more = existing.length > 1 ? ` (and ${existing.length - 1} other output(s))` : "";
  throw new Error(
    `"${
      existing[0]
    }" exists${more}; pass -y (--overwrite) to replace it, or choose another output with -o`,
  );
}

/** The path that means stdin as an input and stdout as an output (`-o -`). */
export const STDIO = "-";

/** Most bytes read from stdin: it is held whole (an image or a token file), so it is bounded. */
export const MAX_STDIN_BYTES = 1 << 30;

let stdinBytes: Promise<Uint8Array> | null = null;

/** All of stdin, up to `max` bytes, read once however often it is asked for. */
async function readStdin(max: number): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of Deno.stdin.readable) {
    total += chunk.length;
    if (total > max) {
      throw new Error(`stdin holds more than ${max} bytes; give the input as a file instead`);
    }
    chunks.push(chunk);
  }
  if (!total) throw new Error("stdin (-) is empty; pipe an image or a token file into it");
  const out = new Uint8Array(total);
  let at = 0;
  for (const c of chunks) out.set(c, (at += c.length) - c.length);
  return out;
}

/** An input's bytes: a file's, or stdin's for `-`. */
export function readInput(path: string, max = MAX_STDIN_BYTES): Promise<Uint8Array> {
  if (path !== STDIO) return Deno.readFile(path);
  return (stdinBytes ??= readStdin(max));
}

/** Writes a finished output: to stdout for `-`, else under its name through a temporary file. */
export async function writeOutput(path: string, bytes: Uint8Array): Promise<void> {
  if (path !== STDIO) return await writeFileAtomic(path, bytes);
  const w = Deno.stdout.writable.getWriter();
  try {
    await w.write(bytes);
  } finally {
    w.releaseLock();
  }
}
