/**
 * `cosmos dataset` in one process and its parts: the tar reader and writer against GNU tar,
 * hostile tars, manifests and queue replies refused with messages that say what to do, the
 * task slot from flags and from Slurm's and Kubernetes' variables, tokens equal to `cosmos
 * encode`'s, WebDataset and URL inputs, failures recorded per item, damaged outputs and records
 * redone, and `status`.
 */

import assert from "node:assert/strict";
import { FIXTURES, HAS_FFMPEG } from "./helpers.ts";
import { checkDataset, cosmos, DV_ENCODER, makeDataset, ok } from "./dataset_fixtures.ts";
import {
  copyMember,
  listTar,
  readMember,
  TAR_END,
  tarHeader,
  tarPadding,
} from "../src/dataset/tar.ts";
import { readManifest } from "../src/dataset/manifest.ts";
import { taskSlot } from "../src/dataset/shards.ts";
import { readDone, recordDone, sha256 } from "../src/dataset/records.ts";
import { parseQueueUrl, parseShardMessage } from "../src/dataset/queue.ts";
import { RedisClient } from "../src/dataset/resp.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import { existsSync } from "node:fs";
import { runShard } from "../src/dataset/run_shard.ts";
import { prepare, tokenizeItem } from "../src/dataset/item_tokenize.ts";
import { readPlan } from "../src/dataset/plan.ts";
import { loadTokenizer } from "../mod.ts";

const CI_ENCODER = new URL("CI8x8/encoder.safetensors", FIXTURES).pathname;

const tmp = () => Deno.makeTempDirSync({ prefix: "cosmos-dataset-" });
const NO_FFMPEG = !HAS_FFMPEG;

function sh(cmd: string, args: string[], cwd?: string): string {
  const r = new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" }).outputSync();
  const dec = new TextDecoder();
  if (!r.success) throw new Error(`${cmd}: ${dec.decode(r.stderr)}`);
  return dec.decode(r.stdout);
}

/** A tar of `members` written with our header writer. */
function ourTar(path: string, members: [string, Uint8Array][]): void {
  const parts: Uint8Array[] = [];
  for (const [name, bytes] of members) {
    parts.push(tarHeader(name, bytes.length), bytes, tarPadding(bytes.length));
  }
  parts.push(TAR_END);
  const total = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(total);
  let at = 0;
  for (const p of parts) out.set(p, (at += p.length) - p.length);
  Deno.writeFileSync(path, out);
}

Deno.test("dataset tar: our shards read by GNU tar, GNU and pax tars (long names) read by us", async () => {
  const dir = tmp();
  try {
    const long = `${"d".repeat(120)}/${"n".repeat(90)}.json`;
    ourTar(`${dir}/ours.tar`, [["a.json", new TextEncoder().encode("{}")], [
      long,
      new Uint8Array(700),
    ]]);
    assert.deepEqual(sh("tar", ["tf", `${dir}/ours.tar`]).trim().split("\n"), ["a.json", long]);
    Deno.mkdirSync(`${dir}/src/${"x".repeat(150)}`, { recursive: true });
    const name = `${"x".repeat(150)}/${"y".repeat(120)}.png`;
    Deno.writeFileSync(`${dir}/src/${name}`, new Uint8Array([1, 2, 3]));
    for (const format of ["gnu", "pax"]) {
      sh("tar", [`--format=${format}`, "-cf", `${dir}/${format}.tar`, "-C", `${dir}/src`, "."]);
      const members = await listTar(`${dir}/${format}.tar`);
      assert.deepEqual(members.map((m) => m.name), [name], format);
      assert.deepEqual(
        await readMember(`${dir}/${format}.tar`, members[0]),
        new Uint8Array([1, 2, 3]),
      );
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("dataset tar: damaged or hostile tars are refused, saying where", async () => {
  const dir = tmp();
  try {
    const good = () => {
      ourTar(`${dir}/t.tar`, [["k.png", new Uint8Array(600)]]);
      return Deno.readFileSync(`${dir}/t.tar`);
    };
    const refuse = async (bytes: Uint8Array, message: RegExp, max?: number) => {
      Deno.writeFileSync(`${dir}/bad.tar`, bytes);
      await assert.rejects(listTar(`${dir}/bad.tar`, max), message);
    };
    const sum = good();
    sum[0] ^= 1; // the name changes, the checksum does not
    await refuse(sum, /Cannot read tar ".*bad\.tar": the header at byte 0 has a wrong checksum/);
    // A member claiming more bytes than the file holds (the header is otherwise valid).
    const big = tarHeader("k.png", 1 << 30);
    await refuse(big, /claims 1073741824 bytes, past the file's end \(512\)/);
    await refuse(tarHeader("../escape.png", 0), /climbs out with "\.\."/);
    await refuse(tarHeader("/etc/x.png", 0), /is absolute/);
    await refuse(good().subarray(0, 1200), /past the file's end|ends inside a header/);
    ourTar(`${dir}/many.tar`, [["a.png", new Uint8Array(1)], ["b.png", new Uint8Array(1)], [
      "c.png",
      new Uint8Array(1),
    ]]);
    await refuse(Deno.readFileSync(`${dir}/many.tar`), /holds more than 2 members/, 2);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("dataset tar: a video member is copied out in pieces, not held whole", async () => {
  const dir = tmp();
  try {
    const size = 256 << 20;
    const f = Deno.openSync(`${dir}/big.tar`, { write: true, create: true });
    f.writeSync(tarHeader("clip.mp4", size));
    f.truncateSync(512 + size + 1024); // sparse: no disk written for the zeros
    f.close();
    const [member] = await listTar(`${dir}/big.tar`);
    const before = Deno.memoryUsage().rss;
    await copyMember(`${dir}/big.tar`, member, `${dir}/clip.mp4`);
    assert.ok(Deno.memoryUsage().rss - before < 64 << 20, "the member was not read into memory");
    assert.equal(Deno.statSync(`${dir}/clip.mp4`).size, size);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("dataset manifest: lists, JSONL, globs and WebDataset tars; bad ones refused with what to do", async () => {
  const dir = tmp();
  try {
    for (const f of ["a.png", "b.jpg", "c.mp4", "notes.txt"]) {
      Deno.writeFileSync(`${dir}/${f}`, new Uint8Array(1));
    }
    Deno.writeTextFileSync(
      `${dir}/m.txt`,
      "# comment\na.png\n\n  b.jpg  \nhttps://example.com/x/c.v2.webm\n",
    );
    const items = await readManifest(`${dir}/m.txt`);
    assert.deepEqual(items.map((i) => [i.key, i.kind, i.ext]), [["a", "image", "png"], [
      "b",
      "image",
      "jpg",
    ], ["c_v2", "video", "webm"]]);
    assert.equal(items[0].source, `${dir}/a.png`, "relative to the manifest's folder");
    Deno.writeTextFileSync(`${dir}/m.jsonl`, `"a.png"\n{"path": "c.mp4", "key": "clips/c"}\n`);
    assert.deepEqual((await readManifest(`${dir}/m.jsonl`)).map((i) => i.key), ["a", "clips/c"]);
    assert.deepEqual((await readManifest(`${dir}/*.{png,mp4}`)).map((i) => i.key), ["a", "c"]);

    // WebDataset: members grouped by key; a sample with no media is not an item.
    ourTar(`${dir}/wds.tar`, [
      ["s/0001.png", new Uint8Array(5)],
      ["s/0001.cls", new TextEncoder().encode("3")],
      ["s/0002.mp4", new Uint8Array(7)],
      ["s/0003.txt", new Uint8Array(1)],
    ]);
    const wds = await readManifest(`${dir}/wds.tar`);
    assert.deepEqual(wds.map((i) => [i.key, i.kind, i.member?.size]), [["s/0001", "image", 5], [
      "s/0002",
      "video",
      7,
    ]]);
    assert.equal(wds[0].source, `${dir}/wds.tar#s/0001.png`);

    const refuse = async (name: string, text: string, message: RegExp) => {
      Deno.writeTextFileSync(`${dir}/${name}`, text);
      await assert.rejects(readManifest(`${dir}/${name}`), message);
    };
    await refuse(
      "dup.txt",
      "a.png\nsub/a.png\n",
      /"\S*a\.png" and "\S*sub\/a\.png" would both be written as key "a"; give keys in a JSONL manifest/,
    );
    await refuse(
      "txt.txt",
      "notes.txt\n",
      /line 1: ".*notes\.txt" is not an image or video .*remove it from the manifest/,
    );
    await refuse(
      "j1.jsonl",
      "{nope\n",
      /line 1: not JSON; each line is "path" or \{"path": \.\.\., "key": \.\.\.\}/,
    );
    await refuse(
      "j2.jsonl",
      `{"key": "x"}\n`,
      /line 1: give a string, or an object with a "path" or "url" string/,
    );
    await refuse(
      "j3.jsonl",
      `{"path": "a.png", "key": "a.b"}\n`,
      /key "a\.b" is not usable \(1-200 characters, no "\."/,
    );
    await refuse("j4.jsonl", `{"path": "a.png", "key": "../up"}\n`, /key "\.\.\/up" is not usable/);
    await refuse("empty.txt", "# nothing\n", /lists no images or videos/);
    await refuse(
      "hash.txt",
      "a#b.png\n",
      /"\S*a#b\.png": "#" is reserved for tar members; rename the file/,
    );
    await refuse(
      "tarkey.jsonl",
      `{"path": "wds.tar", "key": "x"}\n`,
      /line 1: a tar shard takes its keys from its members/,
    );
    await refuse("long.txt", "x".repeat(9000) + ".png\n", /longer than 8192 characters/);
    await assert.rejects(
      readManifest(`${dir}/absent.txt`),
      /No such manifest: ".*absent\.txt"; give a list file, a glob or \.tar shards/,
    );
    await assert.rejects(readManifest(`${dir}/*.gif`), /No files match/);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("dataset shards: the task from --shard, a Slurm array, a Kubernetes Indexed Job; bad ones refused", () => {
  const env = (vars: Record<string, string>) => (n: string) => vars[n];
  assert.deepEqual(taskSlot("2/5", undefined, env({})), { index: 2, count: 5, from: "--shard" });
  assert.deepEqual(taskSlot(undefined, undefined, env({})), {
    index: 0,
    count: 1,
    from: "one process",
  });
  const slurm = {
    SLURM_ARRAY_TASK_ID: "7",
    SLURM_ARRAY_TASK_COUNT: "4",
    SLURM_ARRAY_TASK_MIN: "5",
  };
  assert.deepEqual(taskSlot(undefined, undefined, env(slurm)), {
    index: 2,
    count: 4,
    from: "Slurm array",
  });
  assert.deepEqual(taskSlot(undefined, "8", env({ JOB_COMPLETION_INDEX: "3" })), {
    index: 3,
    count: 8,
    from: "Kubernetes Indexed Job",
  });
  for (const bad of ["4/4", "1", "a/b", "-1/3", "0/0"]) {
    assert.throws(
      () => taskSlot(bad, undefined, env({})),
      /--shard must be i\/N with 0 <= i < N \(e\.g\. --shard 0\/4\)/,
    );
  }
  // Ids 2 and 5 of an array of 8 submitted again: with --tasks 8 each keeps its own shards.
  const again = {
    SLURM_ARRAY_TASK_ID: "5",
    SLURM_ARRAY_TASK_COUNT: "2",
    SLURM_ARRAY_TASK_MIN: "2",
    SLURM_ARRAY_TASK_MAX: "5",
  };
  assert.deepEqual(taskSlot(undefined, "8", env(again)), {
    index: 5,
    count: 8,
    from: "Slurm array, --tasks",
  });
  assert.throws(
    () => taskSlot(undefined, undefined, env(again)),
    /Slurm array task 5 is not in a contiguous array .*; submit --array=0-N \(a % limit is fine, no step or list\), or pass --tasks N, the full array's size/,
  );
  assert.throws(
    () => taskSlot(undefined, "4", env(again)),
    /--tasks must be the full array's size, above every task id/,
  );
  assert.throws(
    () => taskSlot(undefined, undefined, env({ ...slurm, SLURM_ARRAY_TASK_ID: "9" })),
    /Slurm array task 9 is not in a contiguous array/,
  );
  assert.throws(
    () => taskSlot(undefined, undefined, env({ SLURM_ARRAY_TASK_ID: "x" })),
    /SLURM_ARRAY_TASK_ID is "x", not a task number; pass --shard i\/N/,
  );
  assert.throws(
    () => taskSlot(undefined, undefined, env({ JOB_COMPLETION_INDEX: "3" })),
    /needs the number of tasks: pass --tasks N/,
  );
  assert.throws(
    () => taskSlot(undefined, "3", env({ JOB_COMPLETION_INDEX: "3" })),
    /0 <= index < N/,
  );
  assert.throws(
    () => taskSlot(undefined, "3", env({})),
    /--tasks is for Kubernetes Indexed Jobs and Slurm arrays/,
  );
});

Deno.test("dataset records: a damaged token file or another model's record is not taken as done", async () => {
  const dir = tmp();
  try {
    const item = { key: "k", source: "k.png", kind: "image" as const, ext: "png" };
    const tokens = new Uint8Array([1, 2, 3, 4]);
    const meta = {
      key: "k",
      source: "k.png",
      model: "M",
      kind: "image" as const,
      width: 8,
      height: 8,
      frames: 1,
      member: "k.tokens.safetensors",
      tokens: [1, 1, 1],
      bytes: 4,
      sha256: sha256(tokens),
    };
    await recordDone(dir, 0, tokens, { meta, ms: 1 });
    assert.ok(await readDone(dir, 0, item, "M"));
    await assert.rejects(
      readDone(dir, 0, item, "N"),
      /holds tokens of M, and this run uses N; write to another --out/,
    );
    assert.equal(await readDone(dir, 0, { ...item, key: "other" }, "M"), null);
    Deno.writeFileSync(`${dir}/000000.out`, new Uint8Array([1, 2, 3, 5]));
    assert.equal(await readDone(dir, 0, item, "M"), null, "the hash no longer matches");
    assert.deepEqual([...Deno.readDirSync(dir)].map((e) => e.name).sort(), [
      "000000.json",
      "000000.out",
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("dataset queue: bad addresses, bad messages and hostile replies are refused before anything is held", async () => {
  assert.deepEqual(parseQueueUrl("redis://:pw@127.0.0.1:7000/jobs"), {
    hostname: "127.0.0.1",
    port: 7000,
    password: "pw",
    stream: "jobs",
  });
  for (const bad of ["http://h/x", "redis://h:1/", "nope", "redis://h/a b"]) {
    assert.throws(() => parseQueueUrl(bad), /--queue must be redis:\/\/HOST:PORT\/NAME/);
  }
  assert.throws(
    () => parseShardMessage("1-0", { shard: "{" }),
    /Queue message 1-0 is not a shard of cosmos dataset enqueue \(no JSON shard field\); skipped \(it was put there by something else: remove it with XDEL\)/,
  );
  assert.throws(
    () => parseShardMessage("1-0", { shard: JSON.stringify({ shard: 0, items: [{ key: "a" }] }) }),
    /an item without key, source, kind and extension/,
  );
  assert.throws(
    () =>
      parseShardMessage("1-0", {
        shard: JSON.stringify({
          shard: 0,
          items: [{ key: "../x", source: "s", kind: "image", ext: "png" }],
        }),
      }),
    /key "\.\.\/x" is not usable/,
  );
  // A server that claims more than the limits: refused from the length line alone.
  for (
    const [reply, message] of [
      [
        "$99999999999\r\n",
        /sent a bad reply: a bulk string of 99999999999, over the limit of 67108864/,
      ],
      ["*99999999\r\n", /a array of 99999999, over the limit of 1048576/],
      ["?what\r\n", /sent a bad reply: type byte "\?"/],
      ["-ERR nope\r\n", /The queue at 127\.0\.0\.1:\d+ says: ERR nope/],
      ["", /closed the connection; is redis-server up\?/],
    ] as const
  ) {
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const served = (async () => {
      const conn = await listener.accept();
      await conn.read(new Uint8Array(1024));
      if (reply) await conn.write(new TextEncoder().encode(reply));
      conn.close();
    })();
    const client = await RedisClient.connect("127.0.0.1", listener.addr.port);
    const before = Deno.memoryUsage().rss;
    await assert.rejects(client.command("PING"), message);
    assert.ok(
      Deno.memoryUsage().rss - before < 32 << 20,
      "nothing of the claimed size was allocated",
    );
    client.close();
    await served;
    listener.close();
  }
  await assert.rejects(
    RedisClient.connect("127.0.0.1", 1),
    /Cannot connect to the queue at 127\.0\.0\.1:1: .*; is redis-server running there\?/,
  );
});

Deno.test({
  name:
    "dataset tokenize: tokens equal cosmos encode's (videos streamed whole), WebDataset input equal to files, --metrics equal to autoencode's",
  ignore: NO_FFMPEG,
}, async () => {
  const dir = tmp();
  try {
    const { manifest, keys } = makeDataset(dir, 4);
    const model = ["--encoder", DV_ENCODER, "--backend", "wasm"];
    const r = ok(
      await cosmos([
        "dataset",
        "tokenize",
        manifest,
        "--out",
        `${dir}/out`,
        ...model,
        "--shard-size",
        "3",
      ]),
    );
    assert.match(r.stderr, /task 0\/1 \(one process\): 2 of 2 shards/);
    assert.match(r.stderr, /task 0\/1: 4 tokenized, 0 failed in [\d.]+ s, [\d.]+ items\/s/);
    const tokens = await checkDataset(`${dir}/out`, keys);
    const tensor = (bytes: Uint8Array) => {
      const f = parseSafetensors(bytes, "t");
      return { shape: f.entries.get("indices")!.shape, data: f.int32("indices") };
    };
    // item001 is a video: the same tokens as `cosmos encode` gives it.
    ok(
      await cosmos([
        "encode",
        `${dir}/media/item001.mp4`,
        "-o",
        `${dir}/enc.safetensors`,
        ...model,
      ]),
    );
    const enc = tensor(Deno.readFileSync(`${dir}/enc.safetensors`));
    assert.deepEqual(tensor(tokens.get("item001")!), enc);
    assert.deepEqual(enc.shape, [1, 3, 4, 4]);

    // The same media as a WebDataset tar: the same tensors (sources differ, so not the bytes).
    sh("tar", ["-cf", `${dir}/wds.tar`, "-C", `${dir}/media`, "."]);
    ok(await cosmos(["dataset", "tokenize", `${dir}/wds.tar`, "--out", `${dir}/wout`, ...model]));
    const wds = await checkDataset(`${dir}/wout`, keys);
    for (const k of keys) assert.deepEqual(tensor(wds.get(k)!), tensor(tokens.get(k)!), k);
    const meta = JSON.parse(sh("tar", ["-xOf", `${dir}/wout/shard-000000.tar`, "item001.json"]));
    assert.deepEqual(
      [meta.source, meta.kind, meta.frames, meta.tokens, meta.member],
      [`${dir}/wds.tar#item001.mp4`, "video", 9, [1, 3, 4, 4], "item001.tokens.safetensors"],
    );

    // --metrics: PSNR and SSIM in KEY.json, the same as cosmos autoencode reports.
    const decoder = DV_ENCODER.replace("encoder.safetensors", "decoder.safetensors");
    const mout = `${dir}/mout`;
    ok(
      await cosmos([
        "dataset",
        "tokenize",
        manifest,
        "--out",
        mout,
        ...model,
        "--decoder",
        decoder,
        "--metrics",
      ]),
    );
    const video = JSON.parse(sh("tar", ["-xOf", `${mout}/shard-000000.tar`, "item001.json"]));
    const ae = ok(
      await cosmos([
        "autoencode",
        `${dir}/media/item001.mp4`,
        "-o",
        `${dir}/rec.mp4`,
        ...model,
        "--decoder",
        decoder,
        "--json",
      ]),
    );
    const expected = JSON.parse(ae.stdout);
    assert.equal(video.psnr, expected.psnr);
    assert.equal(video.ssim, expected.ssim);
    const still = JSON.parse(sh("tar", ["-xOf", `${mout}/shard-000000.tar`, "item000.json"]));
    assert.ok(
      Number.isFinite(still.psnr) && still.psnr > 0 && Math.abs(still.ssim) <= 1,
      JSON.stringify(still),
    );
    const noDecoder = await cosmos([
      "dataset",
      "tokenize",
      manifest,
      "--out",
      mout,
      ...model,
      "--metrics",
    ]);
    assert.equal(noDecoder.code, 2);
    assert.match(noDecoder.stderr, /--metrics decodes the tokens; give --decoder FILE too/);

    // Complete: a re-run skips every shard without loading a model.
    const again = ok(
      await cosmos([
        "dataset",
        "tokenize",
        manifest,
        "--out",
        `${dir}/out`,
        "--encoder",
        "/absent",
        "--shard-size",
        "3",
      ]),
    );
    assert.match(again.stderr, /shard-000000: complete and verified, skipped/);
    // Another shard size, or another manifest, into the same folder: refused.
    const size = await cosmos(["dataset", "tokenize", manifest, "--out", `${dir}/out`, ...model]);
    assert.equal(size.code, 1);
    assert.match(
      size.stderr,
      /was made with --shard-size 3, not 1000; pass --shard-size 3 or use another --out/,
    );
    const other = await cosmos([
      "dataset",
      "tokenize",
      `${dir}/wds.tar`,
      "--out",
      `${dir}/out`,
      ...model,
      "--shard-size",
      "3",
    ]);
    assert.match(other.stderr, /holds the tokens of another manifest/);
    // Another model with a shard to redo: refused, not a dataset of two models.
    Deno.removeSync(`${dir}/out/shard-000001.index.json`);
    const cv = new URL("CV4x8x8/encoder.safetensors", FIXTURES).pathname;
    const mixed = await cosmos([
      "dataset",
      "tokenize",
      manifest,
      "--out",
      `${dir}/out`,
      "--encoder",
      cv,
      "--backend",
      "wasm",
      "--shard-size",
      "3",
    ]);
    assert.equal(mixed.code, 1);
    assert.match(
      mixed.stderr,
      /".*out" holds tokens of Cosmos-0\.1-Tokenizer-DV4x8x8, and this run uses \S*CV4x8x8\S*; write to another --out/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "dataset tokenize: failed items recorded with their errors, a damaged shard redone, URLs fetched within the limit",
  ignore: NO_FFMPEG,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = tmp();
  const png = makeDataset(dir, 1);
  const served = Deno.readFileSync(`${dir}/media/item000.png`);
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response(served),
  );
  try {
    Deno.writeFileSync(
      `${dir}/media/broken.png`,
      new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]),
    );
    Deno.writeFileSync(`${dir}/media/huge.png`, new Uint8Array(5000));
    const url = `http://127.0.0.1:${server.addr.port}/remote.png`;
    Deno.writeTextFileSync(
      png.manifest,
      ["media/item000.png", "media/broken.png", "media/gone.png", "media/huge.png", url].join("\n"),
    );
    const model = [
      "--encoder",
      DV_ENCODER,
      "--backend",
      "wasm",
      "--shard-size",
      "2",
      "--max-input-bytes",
      "4000",
    ];
    const out = `${dir}/out`;
    const r = await cosmos(["dataset", "tokenize", png.manifest, "--out", out, ...model]);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /task 0\/1: 2 tokenized, 3 failed/);
    const st = await cosmos(["dataset", "status", out]);
    assert.equal(st.code, 1);
    assert.match(st.stdout, /failed: broken \(.*broken\.png\): .*PNG/);
    assert.match(
      st.stdout,
      /failed: gone \(.*gone\.png\): No such file: ".*gone\.png"; fix the manifest or restore the file/,
    );
    assert.match(
      st.stdout,
      /failed: huge \(.*huge\.png\): ".*huge\.png" is 5000 bytes, over --max-input-bytes 4000; raise it if it is right/,
    );
    assert.match(st.stdout, /3\/3 shards complete; 2 done, 3 failed, 0 missing of 5 items/);
    assert.match(st.stdout, /^model: Cosmos-0\.1-Tokenizer-DV4x8x8$/m);
    await checkDataset(out, ["item000", "remote"]);

    // Failures stay until asked; --retry-failed runs them again (the file is back now).
    Deno.copyFileSync(`${dir}/media/item000.png`, `${dir}/media/gone.png`);
    // A damaged tar is found by its index's hash and its shard written again.
    const tar = Deno.readFileSync(`${out}/shard-000002.tar`);
    tar[700] ^= 0xff;
    Deno.writeFileSync(`${out}/shard-000002.tar`, tar);
    const verify = await cosmos(["dataset", "status", out, "--verify", "--all"]);
    assert.match(verify.stdout, /shard-000002 {2}damaged/);
    const again = await cosmos(["dataset", "tokenize", png.manifest, "--out", out, ...model]);
    assert.match(again.stderr, /shard-000002: 1 tokenized, 0 failed/);
    assert.match(again.stderr, /shard-000001: complete and verified, skipped/, "failures kept");
    const retry = await cosmos([
      "dataset",
      "tokenize",
      png.manifest,
      "--out",
      out,
      ...model,
      "--retry-failed",
    ]);
    // Shard 0 holds item000 and broken.png, shard 1 gone.png and huge.png, shard 2 the URL.
    assert.match(retry.stderr, /shard-000000: 0 tokenized, 1 failed/, "broken.png fails again");
    assert.match(retry.stderr, /shard-000001: 1 tokenized, 1 failed/, "gone.png is back");
    assert.match(retry.stderr, /shard-000002: complete and verified, skipped/, "none failed");
    const final = await cosmos(["dataset", "status", out, "--verify"]);
    assert.match(final.stdout, /3\/3 shards complete; 3 done, 2 failed, 0 missing of 5 items/);
    await checkDataset(out, ["item000", "gone", "remote"]);
  } finally {
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "dataset tokenize: two pods of a Kubernetes Indexed Job (JOB_COMPLETION_INDEX, --tasks 2) write the whole dataset between them",
  ignore: NO_FFMPEG,
}, async () => {
  const dir = tmp();
  try {
    const { manifest, keys } = makeDataset(dir, 4);
    const out = `${dir}/out`;
    const args = ["dataset", "tokenize", manifest, "--out", out, "--encoder", DV_ENCODER];
    const pods = await Promise.all(
      [0, 1].map((i) =>
        cosmos([
          ...args,
          "--backend",
          "wasm",
          "--threads",
          "1",
          "--shard-size",
          "1",
          "--tasks",
          "2",
        ], {
          JOB_COMPLETION_INDEX: String(i),
        })
      ),
    );
    pods.forEach((r, i) => {
      ok(r);
      assert.match(r.stderr, new RegExp(`task ${i}/2 \\(Kubernetes Indexed Job\\): 2 of 4 shards`));
    });
    await checkDataset(out, keys);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("dataset tokenize: a record that cannot be written stops the shard, and is not taken for the item's failure", async () => {
  const dir = tmp();
  try {
    const { manifest, keys } = makeDataset(dir, 1);
    const out = `${dir}/out`;
    // A directory where item 0's token file goes: its rename fails, as on a full disk.
    Deno.mkdirSync(`${out}/.staging/shard-000000/000000.out/x`, { recursive: true });
    const args = ["dataset", "tokenize", manifest, "--out", out, "--encoder", DV_ENCODER];
    const r = await cosmos([...args, "--backend", "wasm"]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /cosmos dataset: .*000000\.out/);
    assert.equal(existsSync(`${out}/.staging/shard-000000/000000.failed.json`), false);
    assert.equal(existsSync(`${out}/shard-000000.tar`), false);
    Deno.removeSync(`${out}/.staging/shard-000000/000000.out`, { recursive: true });
    ok(await cosmos([...args, "--backend", "wasm"]));
    await checkDataset(out, keys);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name: "dataset runShard: the next input is fetched while the current one is in the tokenizer",
  ignore: NO_FFMPEG,
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = tmp();
  makeDataset(dir, 3);
  const asked: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (req) => {
    const name = new URL(req.url).pathname.slice(1);
    asked.push(name);
    return new Response(Deno.readFileSync(`${dir}/media/${name}`));
  });
  const tok = await loadTokenizer({ encoder: CI_ENCODER, backend: "wasm", wasm: { threads: 1 } });
  try {
    const base = `http://127.0.0.1:${server.addr.port}`;
    const items = ["item000.png", "item002.png"].map((n) => ({
      key: n.slice(0, 7),
      source: `${base}/${n}`,
      kind: "image" as const,
      ext: "png",
    }));
    // Item 0's encode waits until item 2's download has begun: it would never come if the
    // loop fetched inputs only between items.
    const encode = tok.encode.bind(tok);
    let calls = 0;
    tok.encode = async (t) => {
      if (calls++ === 0) {
        const end = Date.now() + 10_000;
        while (!asked.includes("item002.png")) {
          if (Date.now() > end) throw new Error("the next input was not fetched during this one");
          await new Promise((r) => setTimeout(r, 10));
        }
      }
      return await encode(t);
    };
    const r = await runShard({
      out: `${dir}/out`,
      tokenizer: () => Promise.resolve(tok),
      pad: "reflect",
      maxInputBytes: 1 << 20,
      retryFailed: false,
      metrics: false,
      log: (line) => assert.fail(line),
    }, { index: 0, items });
    assert.deepEqual([r.tokenized, r.failed], [2, 0]);
    assert.deepEqual(asked, ["item000.png", "item002.png"]);
  } finally {
    await tok.dispose();
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test({
  name:
    "dataset inputs: a missing URL, an input over the limit, a damaged plan and a video for an image model are refused, saying what to do",
  sanitizeResources: false,
  sanitizeOps: false,
}, async () => {
  const dir = tmp();
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname === "/big.png"
        ? new Response(new Uint8Array(5000))
        : new Response("no", { status: 404 }),
  );
  const tok = await loadTokenizer({ encoder: CI_ENCODER, backend: "wasm", wasm: { threads: 1 } });
  try {
    const url = (name: string) => ({
      key: "k",
      source: `http://127.0.0.1:${server.addr.port}/${name}`,
      kind: "image" as const,
      ext: "png",
    });
    await assert.rejects(
      prepare(url("gone.png"), dir, 4000),
      /Cannot fetch "http:\/\/127\.0\.0\.1:\d+\/gone\.png": HTTP 404; check the URL/,
    );
    await assert.rejects(
      prepare(url("big.png"), dir, 4000),
      /"http:.*big\.png" is over 4000 bytes; raise --max-input-bytes if it is right/,
    );
    ourTar(`${dir}/w.tar`, [["clip.mp4", new Uint8Array(5000)]]);
    const [member] = await readManifest(`${dir}/w.tar`);
    await assert.rejects(
      prepare(member, dir, 4000),
      /"\S*w\.tar#clip\.mp4" is 5000 bytes, over --max-input-bytes 4000/,
    );
    assert.deepEqual(
      [...Deno.readDirSync(dir)].map((e) => e.name),
      ["w.tar"],
      "no temporary input left",
    );
    // A video for an image model: refused before any ffmpeg or tokenizer work.
    await assert.rejects(
      tokenizeItem(tok, { ...member, kind: "video" }, {
        video: `${dir}/w.tar`,
        cleanup: async () => {},
      }, "reflect"),
      /"\S*w\.tar#clip\.mp4" is a video but \S+ is an image tokenizer; use a video model \(CV\/DV\), which takes images too/,
    );
    assert.throws(
      () => tarHeader(`${"x".repeat(101)}.json`, 1),
      /Cannot write tar member "x+\.json": its name is too long for ustar/,
    );
    Deno.writeTextFileSync(`${dir}/dataset.json`, `{"format": "something else"}`);
    await assert.rejects(
      readPlan(dir),
      /".*dataset\.json" is not a cosmos dataset plan; remove it or use another --out/,
    );
  } finally {
    await tok.dispose();
    await server.shutdown();
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("dataset CLI: usage mistakes say what to give", async () => {
  const r1 = await cosmos(["dataset", "frob"]);
  assert.equal(r1.code, 2);
  assert.match(r1.stderr, /unknown subcommand "frob"; use tokenize, enqueue, work or status/);
  const r2 = await cosmos(["dataset", "tokenize", "m.txt"]);
  assert.match(r2.stderr, /give the output folder with --out DIR/);
  const r3 = await cosmos(["dataset", "tokenize", "m.txt", "--out", "/tmp/x"]);
  assert.match(r3.stderr, /give --model NAME or --encoder FILE/);
  const r4 = await cosmos(["dataset", "work", "--out", "/tmp/x"]);
  assert.match(r4.stderr, /give --queue redis:\/\/HOST:PORT\/NAME/);
  const r7 = await cosmos([
    "dataset",
    "work",
    "--out",
    "/nonexistent/x",
    "--queue",
    "redis://127.0.0.1:1/q",
    "-m",
    "DV4x8x8",
  ]);
  assert.equal(r7.code, 1);
  assert.match(
    r7.stderr,
    /"\/nonexistent\/x" has no dataset\.json; run cosmos dataset enqueue with this --out first/,
  );
  const r6 = await cosmos([
    "dataset",
    "tokenize",
    "m.txt",
    "--out",
    "/tmp/x",
    "--model",
    "DV4x8x8",
    "--shard-size",
    "0",
  ]);
  assert.equal(r6.code, 2);
  assert.match(r6.stderr, /--shard-size must be a positive integer, got "0"/);
  const help = ok(await cosmos(["dataset", "--help"]));
  assert.match(help.stdout, /dataset tokenize MANIFEST --out DIR/);
  assert.match(help.stdout, /--queue URL +Redis stream of shards/);
  assert.match(ok(await cosmos(["--help"])).stdout, /\n {2}dataset {5}tokenize whole datasets/);
  const dir = tmp();
  try {
    const r5 = await cosmos(["dataset", "status", dir]);
    assert.equal(r5.code, 1);
    assert.match(
      r5.stderr,
      /is not a dataset folder \(no dataset\.json\); give the --out of cosmos dataset tokenize or enqueue/,
    );
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});
