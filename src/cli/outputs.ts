/**
 * Where the CLI's items come from and go to: input arguments expanded into files (globs
 * included), and the output path planned for each, checked before any work starts; with the
 * small path helpers the runners use to name outputs.
 * @module
 */

import { globSync } from "node:fs";
import { identityKeys, identityOf } from "./same_file.ts";

const GLOB_CHARS = /[*?[{]/;

/**
 * Files named by the arguments: globs expanded (sorted), plain paths checked; a file named twice
 * ("a.png ./a.png", a symlink and its target) is one item.
 */
export function expandInputs(args: string[]): string[] {
  const out: string[] = [];
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
