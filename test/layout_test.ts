/**
 * The house rules of the source tree, checked by reading the files (no adapter, no type
 * checker): which directory may import which (models -> nn -> the op interface <- backends;
 * cli and server -> media and the tokenizer), every relative import naming a file that exists,
 * every module opening with its `@module` doc, and no module over 500 lines unless its doc says
 * why. Each rule fails with the list of every offending file (and import), not the first.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);

/** Repository-relative paths of the .ts files under `dir`, sorted. */
function tsFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (rel: string) => {
    for (const entry of Deno.readDirSync(new URL(rel, ROOT))) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDirectory) walk(path);
      else if (entry.isFile && entry.name.endsWith(".ts")) out.push(path);
    }
  };
  walk(dir);
  return out.sort();
}

/** Generated from asm/ and wgsl/ by `deno task build`: not written by hand, not held to the rules. */
const GENERATED = "src/generated/";

/** The hand-written modules of the library, CLI and server. */
const SOURCES = tsFiles("src").filter((f) => !f.startsWith(GENERATED));

/** Every file whose imports must resolve: the sources, the generated code, tests, examples. */
const ALL_FILES = [
  "mod.ts",
  ...tsFiles("src"),
  ...tsFiles("test"),
  ...tsFiles("examples"),
];

const TEXT = new Map(
  [...new Set([...SOURCES, ...ALL_FILES])].map((f) => [f, Deno.readTextFileSync(new URL(f, ROOT))]),
);

/**
 * The import and export specifiers of a module: `import ... from "x"`, `export ... from "x"`
 * and `import "x"` at the start of a line (so examples inside doc comments, written after
 * ` * `, are not taken), and `import("x")` outside comment lines.
 */
function specifiers(text: string): string[] {
  const out: string[] = [];
  // The statement part before `from` holds no quote or semicolon, so a match cannot run on
  // into a later statement.
  for (const m of text.matchAll(/^\s*(?:import|export)\b[^;"'`]*?\bfrom\s*["']([^"']+)["']/gm)) {
    out.push(m[1]);
  }
  for (const m of text.matchAll(/^\s*import\s*["']([^"']+)["']/gm)) out.push(m[1]);
  for (const line of text.split("\n")) {
    if (/^\s*(\*|\/\/|\/\*)/.test(line)) continue;
    for (const m of line.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) out.push(m[1]);
  }
  return out;
}

/** `spec` as imported from `file`: a repository-relative path, or null when not relative. */
function resolve(file: string, spec: string): string | null {
  if (!spec.startsWith("./") && !spec.startsWith("../")) return null;
  const url = new URL(spec, new URL(file, ROOT));
  const root = ROOT.pathname;
  return url.pathname.startsWith(root) ? url.pathname.slice(root.length) : url.pathname;
}

interface Import {
  file: string;
  spec: string;
  /** Repository-relative path of the imported file. */
  target: string;
}

/** The relative imports of `files`, resolved. */
function relativeImports(files: string[]): Import[] {
  const out: Import[] = [];
  for (const file of files) {
    for (const spec of specifiers(TEXT.get(file)!)) {
      const target = resolve(file, spec);
      if (target !== null) out.push({ file, spec, target });
    }
  }
  return out;
}

const SOURCE_IMPORTS = relativeImports(SOURCES);

/** Whether `path` is `prefix` (a file) or lies under it (a directory ending in "/"). */
const within = (path: string, prefix: string) =>
  prefix.endsWith("/") ? path.startsWith(prefix) : path === prefix;

/** One offending import, as the failure messages list it. */
const importLine = (i: Import) => `  ${i.file} -> ${i.target}`;

/** Fails with `message` and one line per offender when `offenders` is not empty. */
function assertNone<T>(offenders: T[], message: string, line: (offender: T) => string): void {
  if (offenders.length) assert.fail(`${message}\n${offenders.map(line).join("\n")}`);
}

/**
 * The imports of modules under `from` that reach under one of `forbidden` (directories end in
 * "/"; files are exact paths), less those reaching under one of `allowed`.
 */
function importsInto(from: string, forbidden: string[], allowed: string[] = []): Import[] {
  return SOURCE_IMPORTS.filter((i) =>
    within(i.file, from) &&
    forbidden.some((f) => within(i.target, f)) &&
    !allowed.some((a) => within(i.target, a))
  );
}

/** Fails, listing every one, when a module under `from` imports under `forbidden`. */
function assertNoImports(
  from: string,
  forbidden: string[],
  why: string,
  allowed: string[] = [],
): void {
  assertNone(importsInto(from, forbidden, allowed), `${why}; these imports break it:`, importLine);
}

Deno.test("layout: the import scan sees the tree (sanity of this test itself)", () => {
  assert.ok(SOURCES.includes("src/backends/ops.ts"), "src/backends/ops.ts is among the sources");
  assert.ok(!SOURCES.some((f) => f.startsWith(GENERATED)), "src/generated/ is left out");
  assert.ok(
    SOURCE_IMPORTS.some((i) => i.file === "src/nn/chain.ts" && i.target === "src/backends/ops.ts"),
    "nn/chain.ts's import of backends/ops.ts is found",
  );
  assert.ok(
    SOURCE_IMPORTS.some((i) => i.file === "src/cli/commands.ts" && i.target === "src/cli/media.ts"),
    "cli/commands.ts's import over several lines (from ./media.ts) is found",
  );
});

Deno.test("layout: backends import nothing from nn/, models/, cli/, server/, media/, load.ts or tokenizer.ts", () => {
  assertNoImports(
    "src/backends/",
    [
      "src/nn/",
      "src/models/",
      "src/cli/",
      "src/server/",
      "src/media/",
      "src/load.ts",
      "src/tokenizer.ts",
    ],
    "src/backends/ sits below the networks, the loader and the tokenizer, which build on it",
  );
});

Deno.test("layout: the wasm and webgpu backends do not import each other", () => {
  assertNone(
    [
      ...importsInto("src/backends/wasm/", ["src/backends/webgpu/"]),
      ...importsInto("src/backends/webgpu/", ["src/backends/wasm/"]),
    ],
    "src/backends/wasm/ and src/backends/webgpu/ share only what lies in src/backends/ itself; " +
      "these imports break it:",
    importLine,
  );
});

Deno.test("layout: nn imports only the op interface (backends/ops.ts, backends/fsq.ts) and nothing from models/, cli/, server/", () => {
  assertNoImports(
    "src/nn/",
    ["src/backends/", "src/models/", "src/cli/", "src/server/"],
    "src/nn/ builds on the op interface alone (src/backends/ops.ts, src/backends/fsq.ts), " +
      "never a backend implementation, and is used by models/, not the other way",
    ["src/backends/ops.ts", "src/backends/fsq.ts"],
  );
});

Deno.test("layout: models import no backend implementation (backends/wasm/, backends/webgpu/) and nothing from cli/, server/", () => {
  assertNoImports(
    "src/models/",
    ["src/backends/wasm/", "src/backends/webgpu/", "src/cli/", "src/server/"],
    "src/models/ runs on whatever backend it is given, through the op interface",
  );
});

Deno.test("layout: the server imports nothing from cli/", () => {
  assertNoImports(
    "src/server/",
    ["src/cli/"],
    "src/server/ and src/cli/ are siblings: what both need lives in media/ or the library",
  );
});

Deno.test("layout: media imports nothing from cli/ or server/", () => {
  assertNoImports(
    "src/media/",
    ["src/cli/", "src/server/"],
    "src/media/ is shared by src/cli/ and src/server/ and depends on neither",
  );
});

Deno.test("layout: every relative import in mod.ts, src/, test/ and examples/ names a file that exists", () => {
  const exists = (path: string) => {
    try {
      return Deno.statSync(new URL(path, ROOT)).isFile;
    } catch {
      return false;
    }
  };
  assertNone(
    relativeImports(ALL_FILES).filter((i) => !exists(i.target)),
    "these imports name files that do not exist (moved or removed?):",
    (i) => `  ${i.file} -> ${i.spec} (${i.target})`,
  );
});

/** The text of the `/** ... *\/` block a module opens with (after a `#!` line), or null. */
function moduleDoc(text: string): string | null {
  const m = /^(?:#![^\n]*\n)?\s*\/\*\*([\s\S]*?)\*\//.exec(text);
  return m ? m[1].replace(/^\s*\* ?/gm, "").replace(/\s+/g, " ") : null;
}

Deno.test("layout: every module in src/ opens with a /** ... @module */ doc", () => {
  assertNone(
    SOURCES.filter((f) => !/@module\b/.test(moduleDoc(TEXT.get(f)!) ?? "")),
    "each module opens with a /** ... @module */ block saying what it holds and why; " +
      "these do not:",
    (f) => `  ${f}`,
  );
});

/** The most lines a module in src/ may have unless its module doc says why. */
const MAX_LINES = 500;

Deno.test("layout: no module in src/ is over 500 lines unless its module doc says why", () => {
  const lines = (text: string) => text.replace(/\n$/, "").split("\n").length;
  assertNone(
    SOURCES.filter((f) => lines(TEXT.get(f)!) > MAX_LINES)
      .filter((f) => !(moduleDoc(TEXT.get(f)!) ?? "").includes(`over ${MAX_LINES} lines`)),
    `split these by job, or say in the module doc why one is "over ${MAX_LINES} lines":`,
    (f) => `  ${f}: ${lines(TEXT.get(f)!)} lines`,
  );
});
