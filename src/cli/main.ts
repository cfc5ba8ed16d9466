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
import { UsageError } from "./args.ts";

const USAGE = [
  "cosmos: NVIDIA Cosmos tokenizers on WebGPU",
  "",
  "usage: cosmos <command> [options]     (cosmos <command> --help for its options)",
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
    console.error(`cosmos ${command}: ${(err as Error).message}`);
    return 1;
  }
}

if (import.meta.main) Deno.exit(await main(Deno.args));
