/**
 * The queue's dead-letter rule against the real queue (redis-server on 127.0.0.1, `cosmos dataset
 * work` processes): a shard whose input kills its worker every time, and one that fails as a
 * whole every time, each end in NAME:dead after exactly --max-deliveries deliveries, with their
 * last error, acknowledged; the other shards are tokenized and the workers exit. The killing
 * input is a FIFO: a worker reading it blocks, the test's open of its other end tells the test
 * the worker is on it, and the test SIGKILLs the worker there (as an input that crashes the
 * decoder would). Bad --max-deliveries values are refused with the flag named.
 * Skipped, saying why, without redis-server or ffmpeg (.ci/run installs both).
 */

import assert from "node:assert/strict";
import { HAS_FFMPEG } from "./helpers.ts";
import { checkDataset, cosmos, DV_ENCODER, MAIN, makeDataset, ok } from "./dataset_fixtures.ts";
import { RedisClient } from "../src/dataset/resp.ts";
import { REDIS, withRedis } from "./redis_server.ts";

const skip = !REDIS
  ? "redis-server is not installed (apt-get install redis-server)"
  : !HAS_FFMPEG
  ? "ffmpeg is not on PATH"
  : null;
if (skip) console.warn(`The dataset dead-letter tests are skipped: ${skip}`);

/** The queue tests' options: worker processes and a server outlive a test's ops. */
const QUEUE_TEST = { ignore: skip !== null, sanitizeResources: false, sanitizeOps: false };

const WORKER = ["--encoder", DV_ENCODER, "--backend", "wasm", "--threads", "1"];

/** `cosmos dataset work` as a process of its own, its stderr collected. */
function worker(out: string, queue: string, extra: string[] = []) {
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      ...["run", "-A", MAIN, "dataset", "work", "--out", out, "--queue", queue],
      ...WORKER,
      ...["--visibility", "1", ...extra],
    ],
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp" },
    stdout: "null",
    stderr: "piped",
  }).spawn();
  return { child, log: new Response(child.stderr).text() };
}

/** enqueue with one item a shard. */
async function enqueue(manifest: string, out: string, queue: string) {
  return ok(
    await cosmos([
      ...["dataset", "enqueue", manifest, "--out", out, "--queue", queue],
      ...["--shard-size", "1"],
    ]),
  );
}

Deno.test({
  name:
    "dataset: a shard whose input kills its worker each time is dead-lettered after exactly 3 deliveries, the others tokenized",
  ...QUEUE_TEST,
}, () =>
  withRedis("cosmos-dead-", async (dir, port) => {
    const { manifest, keys } = makeDataset(dir, 3);
    const fifo = `${dir}/media/poison.png`;
    const made = new Deno.Command("mkfifo", { args: [fifo] }).outputSync();
    assert.ok(made.success, "mkfifo");
    Deno.writeTextFileSync(manifest, "media/poison.png\n", { append: true });
    const out = `${dir}/out`;
    const queue = `redis://127.0.0.1:${port}/poisoned`;
    await enqueue(manifest, out, queue);
    // Workers one after another (the default --max-deliveries, 3): each one that opens the
    // poisoned input is killed on it; the one after the third is to dead-letter it, not run it.
    let kills = 0;
    let last: { code: number; log: string } | null = null;
    for (let round = 0; round < 6 && !last; round++) {
      const w = worker(out, queue);
      const writer = Deno.open(fifo, { write: true });
      const first = await Promise.race([
        writer.then((f) => ({ f })),
        w.child.status.then((status) => ({ status })),
      ]);
      if ("f" in first) {
        w.child.kill("SIGKILL");
        assert.equal((await w.child.status).signal, "SIGKILL");
        first.f.close();
        await w.log;
        kills++;
      } else {
        // It exited without opening the input: open the other end to release the test's own.
        const reader = await Deno.open(fifo, { read: true });
        (await writer).close();
        reader.close();
        last = { code: first.status.code, log: await w.log };
      }
    }
    assert.equal(kills, 3, "the poisoned input was opened exactly --max-deliveries times");
    assert.ok(last, "no worker finished");
    assert.equal(last.code, 1, last.log);
    assert.match(
      last.log,
      /shard-000003: dead-lettered after 3 deliveries \(--max-deliveries 3\), acknowledged: its worker stopped without finishing it 3 times \(crashed, killed or cut off from the queue, on ".*media\/poison\.png" \(its first item without a record\)\); fix or remove that input, then enqueue again/,
    );
    assert.match(last.log, /worker .*: 0 shards, 0 tokenized, 0 failed, 1 shards dead-lettered/);
    // The three other items are in the shards, each once; the dead one left only its records'
    // folder (removed here so the check sees the finished shards alone).
    Deno.removeSync(`${out}/.staging`, { recursive: true });
    await checkDataset(out, keys);
    const st = await cosmos(["dataset", "status", out, "--queue", queue, "--json"]);
    assert.equal(st.code, 1, "status: an item is missing");
    const report = JSON.parse(st.stdout);
    assert.equal(report.done, 3);
    assert.equal(report.missing, 1);
    assert.equal(report.queue.pending, 0);
    assert.equal(report.queue.waiting, 0);
    assert.equal(report.queue.deadLettered, 1);
    assert.equal(report.queue.dead.length, 1);
    const dead = report.queue.dead[0];
    assert.equal(dead.shard, 3);
    assert.equal(dead.deliveries, 3);
    assert.match(dead.error, /poison\.png/);
    const text = await cosmos(["dataset", "status", out, "--queue", queue]);
    assert.match(
      text.stdout,
      /queue: 0 shards waiting, 0 held by workers .*, 1 shards dead-lettered/,
    );
    assert.match(
      text.stdout,
      new RegExp(`dead-lettered: shard-000003 \\(message ${dead.id}, 3 deliveries\\): its worker`),
    );
  }));

Deno.test({
  name:
    "dataset: a shard that fails as a whole each time is dead-lettered with its error after --max-deliveries 2; enqueue puts it back",
  ...QUEUE_TEST,
}, () =>
  withRedis("cosmos-dead-", async (dir, port) => {
    const { manifest, keys } = makeDataset(dir, 3);
    const out = `${dir}/out`;
    const queue = `redis://127.0.0.1:${port}/failing`;
    await enqueue(manifest, out, queue);
    // A file where shard 1's records' folder goes: that shard fails as a whole, every time.
    Deno.mkdirSync(`${out}/.staging`);
    Deno.writeTextFileSync(`${out}/.staging/shard-000001`, "");
    const w = worker(out, queue, ["--max-deliveries", "2"]);
    const status = await w.child.status;
    const log = await w.log;
    assert.equal(status.code, 1, log);
    // Failed once and left for another worker, then failed again and dead-lettered at once,
    // with that failure as its error; the job ended (this worker exited, nothing pending).
    assert.equal(log.match(/shard-000001: .*\(left in the queue for another worker\)/g)?.length, 1);
    const line = log.match(
      /shard-000001: dead-lettered after 2 deliveries \(--max-deliveries 2\), acknowledged: (.*)/,
    );
    assert.ok(line, log);
    assert.match(line[1], /exists/i);
    assert.match(log, /worker .*: 2 shards, 2 tokenized, 0 failed, 1 shards dead-lettered/);
    const report = JSON.parse(
      (await cosmos(["dataset", "status", out, "--queue", queue, "--json"])).stdout,
    );
    assert.equal(report.done, 2);
    assert.equal(report.queue.pending, 0);
    assert.equal(report.queue.deadLettered, 1);
    assert.equal(report.queue.dead[0].shard, 1);
    assert.equal(report.queue.dead[0].deliveries, 2);
    assert.equal(report.queue.dead[0].error, line[1]);
    // The kept error went with the dead letter. Something else's entry in the dead letters is
    // counted and shown for what it is, not taken for a shard.
    const redisClient = await RedisClient.connect("127.0.0.1", port);
    try {
      assert.equal(await redisClient.command("HLEN", "failing:errors"), 0);
      await redisClient.command("XADD", "failing:dead", "*", "shard", "{not json", "x", "y");
    } finally {
      redisClient.close();
    }
    const odd = await cosmos(["dataset", "status", out, "--queue", queue]);
    assert.match(odd.stdout, /, 2 shards dead-lettered/);
    assert.match(
      odd.stdout,
      /^dead-lettered: \d+-\d+ of failing:dead is not a shard cosmos put there; remove it with XDEL$/m,
    );
    // The cause removed, enqueue forgets the dead letter and puts the shard back.
    Deno.removeSync(`${out}/.staging`, { recursive: true });
    const again = await enqueue(manifest, out, queue);
    assert.match(again.stderr, /cleared 2 dead-lettered shards of the run before/);
    assert.match(again.stderr, /enqueued 1 shards \(1 items\)/);
    const w2 = worker(out, queue);
    assert.equal((await w2.child.status).code, 0, await w2.log);
    await checkDataset(out, keys);
    const done = ok(await cosmos(["dataset", "status", out, "--queue", queue, "--json"]));
    assert.equal(JSON.parse(done.stdout).queue.deadLettered, 0);
  }));

Deno.test("dataset work: --max-deliveries must be a positive integer, said before any queue is opened", async () => {
  for (const bad of ["0", "-1", "2.5", "three", ""]) {
    const r = await cosmos([
      ...["dataset", "work", "--out", "/nonexistent/out", "--queue", "redis://127.0.0.1:1/q"],
      ...WORKER,
      `--max-deliveries=${bad}`,
    ]);
    assert.equal(r.code, 2, r.stderr);
    assert.match(
      r.stderr,
      new RegExp(`cosmos dataset: --max-deliveries must be a positive integer, got "${bad}"`),
    );
  }
});
