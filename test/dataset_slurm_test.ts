/**
 * `cosmos dataset tokenize` under a real single-node Slurm (Debian's slurm-wlm, munge included),
 * configured here in a temporary folder on 127.0.0.1 with its own ports (SlurmUser=root,
 * proctrack/linuxproc, no cgroups): examples/dataset/tokenize.sbatch submitted as an array of 4
 * tasks over 16 generated images and 9-frame videos; task 0 is killed (SIGKILL) once it has
 * recorded an item, and the array is submitted again. The result must be complete, every key
 * once, nothing partial, and byte-equal to a single-process run (tokens bit-equal). The daemons
 * are stopped at the end whatever happens. Skipped, saying why, when not root or without the
 * packages (.ci/run installs them).
 */

import assert from "node:assert/strict";
import { HAS_FFMPEG } from "./helpers.ts";
import { checkDataset, cosmos, DV_ENCODER, MAIN, makeDataset, ok } from "./dataset_fixtures.ts";

const TOOLS = ["munged", "slurmctld", "slurmd", "sbatch", "squeue", "scancel", "sinfo"];
const SBIN = ["/usr/sbin", "/usr/bin", "/sbin", "/bin"];

function which(tool: string): string | null {
  for (const d of SBIN) {
    try {
      if (Deno.statSync(`${d}/${tool}`).isFile) return `${d}/${tool}`;
    } catch {
      // not there
    }
  }
  return null;
}

/** Output of a command run here (no --allow-sys: `id -u` and `hostname -s`, not Deno.uid()). */
function shell(cmd: string, args: string[]): string {
  const r = new Deno.Command(cmd, { args, stdout: "piped", stderr: "null" }).outputSync();
  return new TextDecoder().decode(r.stdout).trim();
}

const isRoot = shell("id", ["-u"]) === "0";
const missing = TOOLS.filter((t) => !which(t));
const skip = !isRoot
  ? "not root (the test's slurmd runs jobs as root)"
  : missing.length
  ? `${missing.join(", ")} not installed (apt-get install slurm-wlm munge)`
  : !HAS_FFMPEG
  ? "ffmpeg is not on PATH"
  : null;
if (skip) console.warn(`The Slurm dataset test is skipped: ${skip}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(tool: string, args: string[], env: Record<string, string>): string {
  const r = new Deno.Command(which(tool)!, { args, env, stdout: "piped", stderr: "piped" })
    .outputSync();
  const dec = new TextDecoder();
  if (!r.success) throw new Error(`${tool} ${args.join(" ")}: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout);
}

async function until(what: string, ms: number, check: () => boolean): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** A single-node cluster in `dir`: munged, slurmctld and slurmd in the foreground, as children. */
async function startCluster(dir: string): Promise<{ env: Record<string, string>; stop(): void }> {
  const children: Deno.ChildProcess[] = [];
  let env: Record<string, string> = {};
  const stop = () => {
    // Jobs first: their slurmstepd would outlive slurmd.
    try {
      const jobs = run("squeue", ["-h", "-o", "%A"], env).split("\n").filter(Boolean);
      if (jobs.length) run("scancel", ["--signal=KILL", "--full", ...jobs], env);
    } catch {
      // no controller: no jobs
    }
    for (const c of children.reverse()) {
      try {
        c.kill("SIGKILL");
      } catch {
        // exited
      }
    }
  };
  try {
    for (const d of ["state", "spool", "log", "munge"]) Deno.mkdirSync(`${dir}/${d}`);
    const key = crypto.getRandomValues(new Uint8Array(1024));
    Deno.writeFileSync(`${dir}/munge/munge.key`, key, { mode: 0o400 });
    const sock = `${dir}/munge/munge.sock`;
    const spawn = (tool: string, args: string[], env: Record<string, string> = {}) => {
      const c = new Deno.Command(which(tool)!, { args, env, stdout: "null", stderr: "null" })
        .spawn();
      children.push(c);
    };
    spawn("munged", [
      "--foreground",
      "--force",
      `--key-file=${dir}/munge/munge.key`,
      `--socket=${sock}`,
      `--pid-file=${dir}/munge/munged.pid`,
      `--log-file=${dir}/munge/munged.log`,
      `--seed-file=${dir}/munge/seed`,
    ]);
    await until("munged's socket", 10_000, () => exists(sock));
    const host = shell("hostname", ["-s"]);
    const port = 20000 + Math.floor(Math.random() * 20000);
    const conf = `${dir}/slurm.conf`;
    Deno.writeTextFileSync(
      conf,
      [
        "ClusterName=cosmos-test",
        `SlurmctldHost=${host}(127.0.0.1)`,
        `SlurmctldPort=${port}`,
        `SlurmdPort=${port + 1}`,
        "SlurmUser=root",
        "SlurmdUser=root",
        "AuthType=auth/munge",
        "CredType=cred/munge",
        `AuthInfo=socket=${sock}`,
        `StateSaveLocation=${dir}/state`,
        `SlurmdSpoolDir=${dir}/spool`,
        `SlurmctldPidFile=${dir}/slurmctld.pid`,
        `SlurmdPidFile=${dir}/slurmd.pid`,
        `SlurmctldLogFile=${dir}/log/slurmctld.log`,
        `SlurmdLogFile=${dir}/log/slurmd.log`,
        "ProctrackType=proctrack/linuxproc",
        "TaskPlugin=task/none",
        "JobAcctGatherType=jobacct_gather/none",
        "AccountingStorageType=accounting_storage/none",
        "SelectType=select/cons_tres",
        "SelectTypeParameters=CR_CPU",
        "MpiDefault=none",
        "ReturnToService=2",
        "SchedulerType=sched/builtin",
        "InactiveLimit=0",
        "MinJobAge=300",
        "KillWait=2",
        `NodeName=${host} NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN`,
        "PartitionName=test Nodes=ALL Default=YES MaxTime=INFINITE State=UP",
      ].join("\n") + "\n",
    );
    env = { SLURM_CONF: conf };
    spawn("slurmctld", ["-D", "-f", conf], env);
    spawn("slurmd", ["-D", "-f", conf], env);
    await until("the node to be idle", 30_000, () => {
      try {
        return run("sinfo", ["-h", "-o", "%T"], env).trim() === "idle";
      } catch {
        return false;
      }
    });
    return { env, stop };
  } catch (err) {
    stop();
    throw err;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

const SBATCH = new URL("../examples/dataset/tokenize.sbatch", import.meta.url).pathname;

Deno.test({
  name:
    "dataset: a Slurm array of 4, one task killed mid-way and resubmitted: complete, once each, equal to one process",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = Deno.makeTempDirSync({ prefix: "cosmos-slurm-" });
  const cluster = await startCluster(dir);
  try {
    const { manifest, keys } = makeDataset(dir, 16);
    const out = `${dir}/out`;
    const env = {
      ...cluster.env,
      COSMOS: `${Deno.execPath()} run -A ${MAIN}`,
      XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp",
    };
    const args = [manifest, out, "--encoder", DV_ENCODER, "--backend", "wasm", "--threads", "1"];
    const submit = (tag: string) =>
      run("sbatch", [
        ...["--parsable", "--array=0-3", "-c", "1", "--export=ALL"],
        ...["-o", `${dir}/log/${tag}-%a.out`, SBATCH, ...args, "--shard-size", "3"],
      ], env).trim().split(";")[0];
    const done = (job: string) => run("squeue", ["-h", "-j", job], env).trim() === "";

    const first = submit("run1");
    // Shards 0..5 of 3 items; task 0 writes shards 0 and 4. Killed once it has an item recorded.
    const record = /^\d{6}\.json$/;
    const recorded = () =>
      ["shard-000000", "shard-000004"].some((s) => {
        try {
          return [...Deno.readDirSync(`${out}/.staging/${s}`)].some((e) => record.test(e.name));
        } catch {
          return false;
        }
      });
    await until("task 0 to record an item", 90_000, recorded);
    run("scancel", ["--signal=KILL", "--full", `${first}_0`], env);
    await until("the first array to end", 120_000, () => done(first));
    const killedLog = Deno.readTextFileSync(`${dir}/log/run1-0.out`);
    assert.doesNotMatch(killedLog, /task 0\/4: \d+ tokenized/, "task 0 was killed before its end");
    assert.equal(exists(`${out}/shard-000004.index.json`), false, "task 0 left shard 4 undone");
    const before = await cosmos(["dataset", "status", out]);
    assert.equal(before.code, 1, before.stdout);
    assert.match(before.stdout, /(partial|missing)/);

    const second = submit("run2");
    await until("the second array to end", 120_000, () => done(second));
    const resumed = Deno.readTextFileSync(`${dir}/log/run2-0.out`);
    // Task 0 redoes only what it had not recorded; the others find their shards complete.
    const n = Number(/task 0\/4: (\d+) tokenized, 0 failed/.exec(resumed)?.[1]);
    assert.ok(n >= 1 && n < 6, resumed);
    for (const t of [1, 2, 3]) {
      assert.match(Deno.readTextFileSync(`${dir}/log/run2-${t}.out`), /complete and verified/);
    }
    const after = ok(await cosmos(["dataset", "status", out, "--verify"]));
    assert.match(after.stdout, /6\/6 shards complete; 16 done, 0 failed, 0 missing of 16 items/);
    const tokens = await checkDataset(out, keys);

    // One process over the same manifest: the same shards, byte for byte.
    const single = `${dir}/single`;
    ok(
      await cosmos([
        ...["dataset", "tokenize", manifest, "--out", single, "--encoder", DV_ENCODER],
        ...["--backend", "wasm", "--shard-size", "3"],
      ]),
    );
    const reference = await checkDataset(single, keys);
    for (const k of keys) assert.deepEqual(tokens.get(k), reference.get(k), `tokens of ${k}`);
    for (let s = 0; s < 6; s++) {
      const name = `shard-${String(s).padStart(6, "0")}.tar`;
      assert.deepEqual(Deno.readFileSync(`${out}/${name}`), Deno.readFileSync(`${single}/${name}`));
    }
  } finally {
    cluster.stop();
    await sleep(500);
    Deno.removeSync(dir, { recursive: true });
  }
});
