/**
 * Elastic mode against the real queue: Debian's redis-server started here on 127.0.0.1 (its own
 * port and folder, appendonly yes), 16 generated images and videos enqueued as 8 shards, 3
 * `cosmos dataset work` processes; the one holding a shard it has started (an item recorded,
 * the next in progress) is SIGKILLed. Its shard must be taken by another worker after the
 * visibility timeout, and every item must be in the output exactly once, nothing partial left.
 * Also: a worker that cannot write stops after 3 shards and leaves them pending for others.
 * Skipped, saying why, without redis-server (.ci/run installs it).
 */

import assert from "node:assert/strict";
import { HAS_FFMPEG } from "./helpers.ts";
import { checkDataset, cosmos, DV_ENCODER, MAIN, makeDataset, ok } from "./dataset_fixtures.ts";
import { ShardQueue } from "../src/dataset/queue.ts";
import { RedisClient } from "../src/dataset/resp.ts";
import { REDIS, startRedis, withRedis } from "./redis_server.ts";

const skip = !REDIS
  ? "redis-server is not installed (apt-get install redis-server)"
  : !HAS_FFMPEG
  ? "ffmpeg is not on PATH"
  : null;
if (skip) console.warn(`The dataset queue test is skipped: ${skip}`);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test({
  name:
    "dataset: 3 queue workers, one SIGKILLed mid-shard: its shard is redelivered, every item once",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = Deno.makeTempDirSync({ prefix: "cosmos-queue-" });
  const redis = await startRedis(dir);
  const workers: { child: Deno.ChildProcess; log: Promise<string> }[] = [];
  try {
    const { manifest, keys } = makeDataset(dir, 16);
    const out = `${dir}/out`;
    const queue = `redis://127.0.0.1:${redis.port}/cosmos-test`;
    ok(
      await cosmos([
        "dataset",
        "enqueue",
        manifest,
        "--out",
        out,
        "--queue",
        queue,
        "--shard-size",
        "2",
      ]),
    );
    // Something else's message in the stream: skipped by whichever worker gets it, not fatal.
    const junk = await RedisClient.connect("127.0.0.1", redis.port);
    await junk.command("XADD", "cosmos-test", "*", "hello", "world");
    junk.close();
    for (let w = 0; w < 3; w++) {
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          ...["run", "-A", MAIN, "dataset", "work", "--out", out, "--queue", queue],
          ...["--encoder", DV_ENCODER, "--backend", "wasm", "--threads", "1", "--visibility", "3"],
        ],
        env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
        stdout: "null",
        stderr: "piped",
      }).spawn();
      workers.push({ child, log: new Response(child.stderr).text() });
    }
    // Enqueued again while the first is not done: refused (two workers would share shards).
    const twice = await cosmos([
      "dataset",
      "enqueue",
      manifest,
      "--out",
      out,
      "--queue",
      queue,
      "--shard-size",
      "2",
    ]);
    assert.equal(twice.code, 1);
    assert.match(
      twice.stderr,
      /The queue "cosmos-test" still holds \d+ shards .*; let the workers drain it/,
    );
    // The worker to kill: one that holds a shard with an item recorded (so it is mid-item).
    const q = await ShardQueue.open(
      { hostname: "127.0.0.1", port: redis.port, stream: "cosmos-test" },
      "test",
    );
    let victim: { pid: number; shard: number } | null = null;
    const end = Date.now() + 90_000;
    try {
      while (!victim && Date.now() < end) {
        const pending = await q.client.command(
          "XPENDING",
          "cosmos-test",
          "cosmos-workers",
          "-",
          "+",
          10,
        );
        for (const entry of pending as [string, string][]) {
          const [id, consumer] = entry;
          const msg = await q.client.command("XRANGE", "cosmos-test", id, id) as [
            string,
            string[],
          ][];
          const shard = JSON.parse(msg[0][1][1]).shard as number;
          const staging = `${out}/.staging/shard-${String(shard).padStart(6, "0")}`;
          let recorded = false;
          try {
            recorded = [...Deno.readDirSync(staging)].some((e) => /^\d{6}\.json$/.test(e.name));
          } catch {
            // not started
          }
          const pid = Number(consumer.split("-").pop());
          if (recorded && workers.some((w) => w.child.pid === pid)) {
            victim = { pid, shard };
            break;
          }
        }
        if (!victim) await sleep(30);
      }
      assert.ok(victim, "no worker was seen mid-shard");
      Deno.kill(victim.pid, "SIGKILL");
    } finally {
      q.close();
    }
    // The others drain the queue, the killed one's shard included, and exit.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const statuses = await Promise.race([
      Promise.all(workers.map((w) => w.child.status)),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error("the workers did not drain the queue")), 100_000);
      }),
    ]).finally(() => clearTimeout(timer));
    const logs = await Promise.all(workers.map((w) => w.log));
    const killed = workers.findIndex((w) => w.child.pid === victim!.pid);
    assert.equal(statuses[killed].signal, "SIGKILL");
    const shardName = `shard-${String(victim.shard).padStart(6, "0")}`;
    workers.forEach((_, i) => {
      if (i === killed) return;
      assert.equal(statuses[i].code, 0, logs[i]);
      assert.match(logs[i], /worker .*: \d+ shards, \d+ tokenized, 0 failed in .* items\/s/);
    });
    // Another worker finished the killed one's shard.
    assert.ok(
      logs.some((l, i) => i !== killed && l.includes(`${shardName}: `)),
      `${shardName} not redone:\n${logs.join("\n")}`,
    );
    assert.match(
      logs.join("\n"),
      /Queue message \S+ is not a shard of cosmos dataset enqueue \(no JSON shard field\); skipped/,
    );
    await checkDataset(out, keys);
    const st = ok(await cosmos(["dataset", "status", out, "--queue", queue, "--json"]));
    const report = JSON.parse(st.stdout);
    assert.equal(report.done, 16);
    assert.equal(report.model, "Cosmos-0.1-Tokenizer-DV4x8x8");
    assert.equal(report.missing, 0);
    assert.equal(report.queue.waiting, 0);
    assert.equal(report.queue.pending, 0);
    assert.ok(report.itemsPerSecond > 0);
  } finally {
    for (const w of workers) {
      try {
        w.child.kill("SIGKILL");
      } catch {
        // exited
      }
      await w.child.status;
      await w.log.catch(() => "");
    }
    redis.child.kill("SIGKILL");
    await redis.child.status;
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "dataset: a worker that cannot write stops after 3 shards, leaving them unacknowledged for others",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
}, () =>
  withRedis("cosmos-queue-", async (dir, port) => {
    const { manifest } = makeDataset(dir, 4);
    const out = `${dir}/out`;
    const queue = `redis://127.0.0.1:${port}/broken`;
    ok(
      await cosmos([
        "dataset",
        "enqueue",
        manifest,
        "--out",
        out,
        "--queue",
        queue,
        "--shard-size",
        "1",
      ]),
    );
    // A file where the records' folder goes: no shard can be started.
    Deno.writeTextFileSync(`${out}/.staging`, "");
    const r = await cosmos([
      ...["dataset", "work", "--out", out, "--queue", queue],
      ...["--encoder", DV_ENCODER, "--backend", "wasm", "--threads", "1", "--visibility", "60"],
    ]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /shard-000000: .*\(left in the queue for another worker\)/);
    assert.match(r.stderr, /stopping: 3 shards failed as a whole on this worker; see above/);
    const st = await cosmos(["dataset", "status", out, "--queue", queue, "--json"]);
    const report = JSON.parse(st.stdout);
    assert.equal(report.queue.pending, 3, "the 3 failed shards are still held, not acknowledged");
    assert.equal(report.queue.waiting, 1);
  }));
