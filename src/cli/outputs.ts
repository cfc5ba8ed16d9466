/**
 * Where the CLI's items come from and go to: input arguments expanded into files (globs
 * included), and the output path planned for each, checked before any work starts; with the
 * small path helpers the runners use to name outputs.
 * @module
 */

import { globSync } from "node:fs";

const GLOB_CHARS = /[*?[{]/;

/** Files named by the arguments: globs expanded (sorted), plain paths checked. */
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
  return [...new Set(out)];
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

/**
 * Output paths: `-o FILE` for one input, `-o DIR` for any number (made if missing), else
 * `defaultDir` beside each input. Two inputs writing one output, or an output overwriting its
 * input, are errors before any work.
 */
export function planOutputs(
  inputs: string[],
  output: string | undefined,
  defaultDir: string,
  name: (input: string) => string,
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
  const seen = new Map<string, string>();
  outs.forEach((o, i) => {
    if (o === inputs[i]) throw new Error(`"${inputs[i]}" would be overwritten by its own output`);
    const other = seen.get(o);
    if (other) throw new Error(`"${other}" and "${inputs[i]}" would both be written to "${o}"`);
    seen.set(o, inputs[i]);
  });
  for (const o of outs) Deno.mkdirSync(dirname(o), { recursive: true });
  return outs;
}
