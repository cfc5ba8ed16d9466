/**
 * The package as it leaves the repository: `deno publish --dry-run` passing with no network and
 * shipping the licence but not the 80 MB of test fixtures; the doc lint of `deno task check`
 * covering every entry of deno.json's `exports`; and the README's install lines giving a
 * `cosmos` command that runs on a machine whose only tools are Node and npm.
 */

import assert from "node:assert/strict";

const ROOT = new URL("../", import.meta.url);
const REPO = ROOT.pathname;
const CONFIG = JSON.parse(Deno.readTextFileSync(new URL("deno.json", ROOT)));
const decoder = new TextDecoder();

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(cmd: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd: REPO,
    env: { NO_COLOR: "1", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: out.code, stdout: decoder.decode(out.stdout), stderr: decoder.decode(out.stderr) };
}

/** Every proxy variable Deno reads, pointed at a port where nothing listens. */
const NO_NETWORK: Record<string, string> = { NO_PROXY: "", no_proxy: "" };
for (const name of ["HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"]) {
  NO_NETWORK[name] = NO_NETWORK[name.toLowerCase()] = "http://127.0.0.1:9";
}

const UNITS: Record<string, number> = { B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 };

/** The files of a dry run's "Simulating publish ... with files:" list, repository-relative. */
function publishedFiles(stderr: string): Map<string, number> {
  const files = new Map<string, number>();
  for (const m of stderr.matchAll(/^\s+file:\/\/(\S+) \(([\d.]+)(B|KB|MB|GB)\)$/gm)) {
    const path = decodeURIComponent(m[1]);
    assert.ok(path.startsWith(REPO), `a published file outside the repository: ${path}`);
    files.set(path.slice(REPO.length), Number(m[2]) * UNITS[m[3]]);
  }
  return files;
}

Deno.test("deno publish --dry-run passes offline, with the licence and without the tests", async () => {
  const args = ["publish", "--dry-run", "--allow-dirty"];
  // The first run may fill Deno's cache from the npm registry (the npm: imports' types); the
  // second must then need nothing from the network: jsr.io is never asked.
  for (const env of [{}, NO_NETWORK]) {
    const r = await run(Deno.execPath(), args, env);
    const label = env === NO_NETWORK ? " with no network" : "";
    assert.equal(r.code, 0, `deno publish --dry-run failed${label}:\n${r.stderr}`);
    assert.match(r.stderr, /Success Dry run complete/);
    const files = publishedFiles(r.stderr);
    for (const name of ["LICENSE", "README.md", "deno.json"]) {
      assert.ok(files.has(name), `${name} is not published`);
    }
    for (const entry of Object.values<string>(CONFIG.exports)) {
      assert.ok(files.has(entry.replace(/^\.\//, "")), `export ${entry} is not published`);
    }
    const unwanted = [...files.keys()].filter((f) => /^(test|\.ci)\/|^\.git$/.test(f));
    assert.deepEqual(unwanted, [], "tests, CI scripts or git files are published");
    const total = [...files.values()].reduce((a, b) => a + b, 0);
    assert.ok(total < 4 * 1024 ** 2, `the package is ${(total / 1024 ** 2).toFixed(1)} MiB`);
    assert.doesNotMatch(r.stderr, /warning/i, `the dry run warns${label}:\n${r.stderr}`);
  }
});

Deno.test("LICENSE: the copyright line, then the Apache-2.0 text unchanged", async () => {
  assert.equal(CONFIG.license, "Apache-2.0");
  const text = Deno.readTextFileSync(new URL("LICENSE", ROOT));
  const [first, ...rest] = text.split("\n");
  assert.equal(first, "Copyright 2026 The cosmos-webgpu Authors");
  // SHA-256 of the standard text: apache.org's LICENSE-2.0.txt, Debian's common-licenses/Apache-2.0.
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(rest.join("\n")));
  assert.equal(
    [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join(""),
    "cfc7749b96f63bd31c3c42b5c471bf756814053e847c10f3eb003417bc523d30",
  );
});

Deno.test("deno task check doc-lints every entry point of deno.json's exports", () => {
  const check: string = CONFIG.tasks.check;
  const m = /deno doc --lint ([^&|;]+)/.exec(check);
  assert.ok(m, `the check task runs no doc lint: ${check}`);
  const linted = new Set(m[1].trim().split(/\s+/).map((p) => p.replace(/^\.\//, "")));
  const missing = Object.values<string>(CONFIG.exports)
    .map((p) => p.replace(/^\.\//, ""))
    .filter((p) => !linted.has(p));
  assert.deepEqual(missing, [], "exports the check task's deno doc --lint leaves out");
});

/** The directories on PATH that hold `node` and `npm` and no `deno`; null where there are none. */
function nodeOnlyPath(): string | null {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter((d) => d);
  const has = (dir: string, name: string) => {
    try {
      return Deno.statSync(`${dir}/${name}`).isFile;
    } catch {
      return false;
    }
  };
  const node = dirs.find((d) => has(d, "node"));
  const npm = dirs.find((d) => has(d, "npm"));
  if (!node || !npm || has(node, "deno") || has(npm, "deno")) return null;
  return [...new Set([node, npm])].join(":");
}

const NODE_ONLY_PATH = nodeOnlyPath();
if (!NODE_ONLY_PATH) {
  console.warn("no directory on PATH has node and npm without deno: the install test is skipped");
}

/** The README's install lines that run from a clone (not the jsr: and BASE/ ones). */
function readmeInstallLines(): string[] {
  const readme = Deno.readTextFileSync(new URL("README.md", ROOT));
  const block = [...readme.matchAll(/```sh\n([\s\S]*?)```/g)].map((b) => b[1])
    .find((b) => b.includes("npm install -g --prefix ~/.deno deno@"));
  assert.ok(block, "the README has no install block with npm install -g --prefix ~/.deno");
  return block.split("\n").filter((l) => l.trim() && !/jsr:|BASE\//.test(l));
}

Deno.test({
  name: "the README's install lines give a cosmos that runs with only node and npm on PATH",
  ignore: !NODE_ONLY_PATH,
  async fn() {
    const lines = readmeInstallLines();
    assert.ok(lines.some((l) => l.startsWith("npm install -g --prefix ~/.deno deno@2.9.6")));
    assert.ok(lines.some((l) => l.startsWith("deno install -g -A -n cosmos --config deno.json")));
    const tmp = await Deno.makeTempDir({ prefix: "cosmos-install-" });
    try {
      // What `npx --yes deno@2.9.6 install` alone leaves: a shim that runs `deno` from PATH,
      // which has none. This is why the README installs Deno itself first.
      const bare = `${tmp}/bare`;
      const install = ["install", "--root", bare, "-g", "-A", "-n", "cosmos", "--config"];
      const installed = await run(Deno.execPath(), [...install, "deno.json", "src/cli/main.ts"]);
      assert.equal(installed.code, 0, installed.stderr);
      const broken = await run("/bin/sh", ["-c", "cosmos --help"], {
        PATH: `${bare}/bin:${NODE_ONLY_PATH}`,
      });
      assert.equal(broken.code, 127, broken.stdout + broken.stderr);
      assert.match(broken.stderr, /deno: not found/);

      // The README's lines, their ~/.deno a temporary root (deno install's default root is
      // $DENO_INSTALL_ROOT, else ~/.deno), npm answering from its cache where it can.
      const root = `${tmp}/root`;
      const script = lines.map((l) => l.replaceAll("~/.deno", root).replaceAll("$HOME/.deno", root))
        .join("\n");
      const env = {
        PATH: NODE_ONLY_PATH!,
        DENO_INSTALL_ROOT: root,
        npm_config_prefer_offline: "true",
        npm_config_audit: "false",
        npm_config_fund: "false",
        npm_config_update_notifier: "false",
      };
      const setup = await run("/bin/sh", ["-e", "-c", script], env);
      assert.equal(setup.code, 0, `the README's install lines failed:\n${setup.stderr}`);
      const help = await run("/bin/sh", ["-c", "cosmos --help"], {
        PATH: `${root}/bin:${NODE_ONLY_PATH}`,
      });
      assert.equal(help.code, 0, help.stdout + help.stderr);
      assert.match(help.stdout, /^usage: cosmos <command>/m);
    } finally {
      await Deno.remove(tmp, { recursive: true });
    }
  },
});
