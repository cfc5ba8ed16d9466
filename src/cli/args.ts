/**
 * Command-line parsing (node:util's parseArgs, strict: an unknown option is an error) and the
 * help text, both from one table of options per command.
 * @module
 */

import { parseArgs } from "node:util";

export interface OptionSpec {
  type: "string" | "boolean";
  short?: string;
  /** Placeholder in the help ("NAME", "DIR"). */
  value?: string;
  help: string;
}

export interface CommandSpec {
  name: string;
  /** One line for the command list. */
  summary: string;
  /** The arguments after the command name, e.g. "INPUT... [options]". */
  usage: string;
  /** Paragraphs after the usage line. */
  description?: string;
  options: Record<string, OptionSpec>;
  /** Fewest positional arguments. */
  minPositionals: number;
  maxPositionals?: number;
}

/** A mistake in the command line: exit status 2, with a pointer to --help. */
export class UsageError extends Error {}

export interface Parsed {
  values: Record<string, string | boolean | undefined>;
  positionals: string[];
  help: boolean;
}

export function parseCommand(spec: CommandSpec, argv: string[]): Parsed {
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const [name, o] of Object.entries(spec.options)) {
    options[name] = o.short ? { type: o.type, short: o.short } : { type: o.type };
  }
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch (err) {
    // node's messages ("Unknown option '--foo'...") are clear; drop its advice about "--".
    const msg = (err as Error).message.split(". To specify")[0];
    throw new UsageError(`cosmos ${spec.name}: ${msg}`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const help = values.help === true;
  if (!help) {
    const n = parsed.positionals.length;
    if (n < spec.minPositionals) {
      throw new UsageError(`cosmos ${spec.name}: expected ${spec.usage.split(" [")[0]}`);
    }
    if (spec.maxPositionals !== undefined && n > spec.maxPositionals) {
      throw new UsageError(
        `cosmos ${spec.name}: too many arguments (${
          parsed.positionals.slice(spec.maxPositionals).join(" ")
        })`,
      );
    }
  }
  return { values, positionals: parsed.positionals, help };
}

/** The --help text of a command. */
export function helpText(spec: CommandSpec): string {
  const rows = Object.entries(spec.options).map(([name, o]) => {
    const flag = `${o.short ? `-${o.short}, ` : "    "}--${name}${o.value ? ` ${o.value}` : ""}`;
    return [flag, o.help] as const;
  });
  rows.push(["-h, --help", "show this help"]);
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  const lines = rows.map(([f, h]) => `  ${f.padEnd(width)}${h}`);
  return [
    `cosmos ${spec.name}: ${spec.summary}`,
    "",
    `usage: cosmos ${spec.name} ${spec.usage}`,
    ...(spec.description ? ["", spec.description] : []),
    "",
    "options:",
    ...lines,
  ].join("\n");
}

/** A positive integer option, or the default. */
export function intOption(
  values: Parsed["values"],
  name: string,
  fallback: number,
  command: string,
): number {
  const raw = values[name];
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new UsageError(`cosmos ${command}: --${name} must be a positive integer, got "${raw}"`);
  }
  return n;
}

/**
 * Library phrases that name a `loadTokenizer` option, each with the CLI flag that sets it: the
 * library's messages are written for its API (`model`, `compression: { spatial, temporal }`,
 * `window`), and a CLI user can only act on a flag.
 */
const LIBRARY_TO_FLAGS: [RegExp, string][] = [
  [
    /; pass model \(e\.g\. "(?:Cosmos-[\d.]+-Tokenizer-)?([^"]+)"\) or compression: \{ spatial, temporal \}/,
    "; pass --model NAME with the model it belongs to (e.g. --model $1)",
  ],
  [/^Invalid temporal window (\d+): it must be/, "Invalid --window $1: it must be"],
  [/, or another window length\)/, ", or another --window)"],
];

/** A library error's message as the CLI shows it: option names replaced by the CLI's flags. */
export function withCliFlags(message: string): string {
  return LIBRARY_TO_FLAGS.reduce((m, [from, to]) => m.replace(from, to), message);
}
