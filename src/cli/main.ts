#!/usr/bin/env -S deno run -A
/**
 * `cosmos`: the command line of cosmos-webgpu.
 *
 *   deno task cosmos <command> ...
 *   deno install -g -A -n cosmos <this repository>/src/cli/main.ts   # then: cosmos <command> ...
 *
 * Not part of mod.ts: the library stays importable from a URL with no npm dependencies; the CLI
 * brings the image codecs and ffmpeg.
 * @module
 */

import { COMMANDS } from "./command_specs.ts";
import { runCommand } from "./commands.ts";
import { UsageError, withCliFlags } from "./args.ts";
// The one place the version is written; a JSON import resolves from a URL install too.
import config from "../../deno.json" with { type: "json" };

/** This package's version, as deno.json gives it. */
export const VERSION: string = config.version;

const USAGE = [
  "cosmos: NVIDIA Cosmos tokenizers on WebGPU",
  "",
  "usage: cosmos <command> [options]     (cosmos <command> --help for its options)",
  "       cosmos --version",
  "",
  "commands:",
  ...Object.values(COMMANDS).map((c) => `  ${c.name.padEnd(11)} ${c.summary}`),
].join("\n");

/**
 * Runs the CLI on `args`; returns the exit status.
 *
 * @example
 * ```ts
 * import { main } from "@cosmos/webgpu/cli";
 * import assert from "node:assert/strict";
 * assert.equal(await main(["--help"]), 0); // prints the commands
 * ```
 */
export async function main(args: string[]): Promise<number> {
  const [command, ...rest] = args;
  if (!command || command === "--help" || command === "-h" || command === "help") {
    console.log(USAGE);
    return command ? 0 : 2;
  }
  if (command === "--version" || command === "-V") {
    console.log(`cosmos ${VERSION} (${config.name}, deno ${Deno.version.deno})`);
    return 0;
  }
  if (!Object.hasOwn(COMMANDS, command)) {
    console.error(`cosmos: unknown command "${command}"\n\n${USAGE}`);
    return 2;
  }
  try {
    return await runCommand(command, rest);
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`${err.message}\n(see cosmos ${command} --help)`);
      return 2;
    }
    console.error(`cosmos ${command}: ${withCliFlags((err as Error).message)}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
