/**
 * Hostile checkpoints (issue 14): archives that inflate past what they declare or declare more
 * than the pickle needs, pickles that blow up through shared references or nest without end,
 * tensors whose zero strides read one value a billion times, and weights that are not numbers.
 * Every file is built here, a few hundred bytes to a few hundred kilobytes; each is refused with
 * what is wrong, and where memory was the failure a subprocess's peak RSS shows it stayed
 * bounded.
 */

import assert from "node:assert/strict";
import { encodeSafetensors, loadTokenizer, parseSafetensors } from "../mod.ts";
import { crc32, ZipArchive } from "../src/weights/zip.ts";
import { MAX_PICKLE_OPS, unpickle } from "../src/weights/pickle.ts";
import {
  MAX_MODULE_DEPTH,
  MAX_TENSORS,
  parseTorchScript,
  readTorchScript,
} from "../src/weights/torchscript.ts";
import {
  ARCHITECTURE_BUFFERS,
  firstNonFinite,
  requireFinite,
  safetensorsSource,
  type TensorSource,
} from "../src/weights/checkpoint.ts";
import { toDiffusers } from "../src/weights/diffusers.ts";

const FIXTURES = new URL("./fixtures/", import.meta.url);
const enc = new TextEncoder();
const MiB = 1 << 20;

// ---------------------------------------------------------------------------------------------
// A ZIP writer that declares whatever it is told: sizes, CRCs, ZIP64 fields.

interface RawMember {
  name: string;
  /** The bytes as the archive holds them (deflated when method is 8). */
  body: Uint8Array;
  method?: 0 | 8;
  /** The declared uncompressed size; the body's length by default. */
  size?: number;
  crc?: number;
  /** Declare the sizes in a ZIP64 extra field. */
  zip64?: boolean;
}

function zipOf(members: RawMember[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const push = (b: Uint8Array) => (parts.push(b), offset += b.length);
  for (const m of members) {
    const name = enc.encode(m.name);
    const size = m.size ?? m.body.length, crc = m.crc ?? crc32(m.body);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 45, true);
    lv.setUint16(8, m.method ?? 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, m.zip64 ? 0xffffffff : m.body.length, true);
    lv.setUint32(22, m.zip64 ? 0xffffffff : size, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const headerAt = offset;
    push(local);
    push(m.body);
    const extra = m.zip64 ? 20 : 0;
    const c = new Uint8Array(46 + name.length + extra);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, 45, true);
    cv.setUint16(10, m.method ?? 0, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, m.zip64 ? 0xffffffff : m.body.length, true);
    cv.setUint32(24, m.zip64 ? 0xffffffff : size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, extra, true);
    cv.setUint32(42, headerAt, true);
    c.set(name, 46);
    if (m.zip64) {
      const x = 46 + name.length;
      cv.setUint16(x, 1, true);
      cv.setUint16(x + 2, 16, true);
      cv.setBigUint64(x + 4, BigInt(size), true);
      cv.setBigUint64(x + 12, BigInt(m.body.length), true);
    }
    central.push(c);
  }
  const cdOffset = offset;
  for (const c of central) push(c);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, members.length, true);
  ev.setUint16(10, members.length, true);
  ev.setUint32(12, offset - cdOffset, true);
  ev.setUint32(16, cdOffset, true);
  push(eocd);
  const out = new Uint8Array(offset);
  let p = 0;
  for (const b of parts) out.set(b, p), p += b.length;
  return out;
}

/** Raw deflate of `data`, or of `zeros` zero bytes (a bomb: 256 MiB deflate to 260 KB). */
async function deflate(data: Uint8Array | { zeros: number }): Promise<Uint8Array> {
  const cs = new CompressionStream("deflate-raw");
  const out = new Response(cs.readable).arrayBuffer();
  const w = cs.writable.getWriter();
  if (data instanceof Uint8Array) await w.write(data as Uint8Array<ArrayBuffer>);
  else {
    const chunk = new Uint8Array(MiB);
    for (let left = data.zeros; left > 0; left -= MiB) {
      await w.write(left >= MiB ? chunk : chunk.subarray(0, left));
    }
  }
  await w.close();
  return new Uint8Array(await out);
}

// ---------------------------------------------------------------------------------------------
// A pickle writer for torch-layout module trees, with the memo under the test's control.

class Pickle {
  readonly #out: number[] = [0x80, 2];
  op(...codes: number[]): this {
    for (const c of codes) this.#out.push(c);
    return this;
  }
  u32(v: number): this {
    return this.op(v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255);
  }
  str(s: string): this {
    const b = enc.encode(s);
    return this.op(0x58).u32(b.length).op(...b);
  }
  /** BININT, or LONG1 of 8 bytes beyond 2^31. */
  int(v: number): this {
    if (v < 2 ** 31) return this.op(0x4a).u32(v);
    const b = new Uint8Array(new BigInt64Array([BigInt(v)]).buffer);
    return this.op(0x8a, 8, ...b);
  }
  global(module: string, name: string): this {
    return this.op(0x63, ...enc.encode(`${module}\n${name}\n`));
  }
  /** LONG_BINPUT: memoizes the top of the stack. */
  put(key: number): this {
    return this.op(0x72).u32(key);
  }
  /** LONG_BINGET: pushes the memoized object itself. */
  get(key: number): this {
    return this.op(0x6a).u32(key);
  }
  /** A module object, then MARK for its attributes: key, value, ... then {@link endModule}. */
  beginModule(): this {
    return this.global("__torch__.m", "Mod").op(0x29, 0x81, 0x7d, 0x28);
  }
  endModule(): this {
    return this.op(0x75, 0x62); // SETITEMS, BUILD
  }
  /** `torch._utils._rebuild_tensor_v2` of record `key` (an F32 storage of `numel` values). */
  tensor(key: string, numel: number, shape: number[], stride: number[]): this {
    this.global("torch._utils", "_rebuild_tensor_v2").op(0x28, 0x28).str("storage");
    this.global("torch", "FloatStorage").str(key).str("cpu").int(numel).op(0x74, 0x51);
    this.int(0).op(0x28);
    for (const d of shape) this.int(d);
    this.op(0x74, 0x28);
    for (const s of stride) this.int(s);
    this.op(0x74, 0x89).global("collections", "OrderedDict").op(0x29, 0x52, 0x74, 0x52);
    return this;
  }
  bytes(): Uint8Array {
    return new Uint8Array([...this.#out, 0x2e]);
  }
}

/** A module holding one tensor "w" of `values`, stored as record "m/data/0". */
function oneTensorPickle(numel: number, shape = [numel], stride = [1]): Uint8Array {
  return new Pickle().beginModule().str("w").tensor("0", numel, shape, stride).endModule()
    .bytes();
}

const stored = (name: string, data: Uint8Array): RawMember => ({ name, body: data });

function rethrows(fn: () => unknown, re: RegExp) {
  assert.throws(fn, (err: Error) => (assert.match(err.message, re), true));
}

async function rejects(p: Promise<unknown>, re: RegExp) {
  await assert.rejects(p, (err: Error) => (assert.match(err.message, re), true));
}

/**
 * Loads `bytes` as an encoder in a fresh process (backend "none": the load reads and checks the
 * weights only) and reports the error and how far the peak RSS rose above where it stood just
 * before the load (VmHWM, reset through /proc/self/clear_refs where the kernel allows it).
 */
async function loadInSubprocess(bytes: Uint8Array): Promise<{ message: string; grewMiB: number }> {
  const file = await Deno.makeTempFile({ suffix: ".jit" });
  try {
    await Deno.writeFile(file, bytes);
    const script = `
      import { loadTokenizer } from ${JSON.stringify(new URL("../mod.ts", import.meta.url).href)};
      const kb = (key) => Number(
        Deno.readTextFileSync("/proc/self/status").match(new RegExp(key + ":\\\\s+(\\\\d+) kB"))[1],
      );
      const input = await Deno.readFile(${JSON.stringify(file)});
      try {
        Deno.writeTextFileSync("/proc/self/clear_refs", "5");
      } catch { /* the peak so far then counts as the start */ }
      const start = Math.max(kb("VmRSS"), kb("VmHWM"));
      let message = "loaded";
      try {
        await loadTokenizer({ encoder: input, backend: "none" });
      } catch (err) {
        message = err.message;
      }
      console.log(JSON.stringify({ message, grewMiB: (kb("VmHWM") - start) / 1024 }));
    `;
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["eval", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(out.stderr);
    assert.equal(out.code, 0, stderr);
    return JSON.parse(new TextDecoder().decode(out.stdout).trim().split("\n").pop()!);
  } finally {
    await Deno.remove(file);
  }
}

// ---------------------------------------------------------------------------------------------
// 5. ZIP bombs

Deno.test("a deflated record that inflates past its declared 16 bytes is cut off, in bounded memory", async () => {
  const bomb = await deflate({ zeros: 256 * MiB });
  const bytes = zipOf([
    stored("m/data.pkl", oneTensorPickle(4)),
    { name: "m/data/0", body: bomb, method: 8, size: 16, crc: 0 },
  ]);
  const { message, grewMiB } = await loadInSubprocess(bytes);
  console.log(`peak RSS rose ${grewMiB.toFixed(1)} MiB`);
  assert.match(
    message,
    /Cannot read TorchScript ".*": member "m\/data\/0" inflates to more than 16 bytes/,
  );
  assert.ok(grewMiB < 64, `inflating a 256 MiB bomb raised the peak RSS by ${grewMiB} MiB`);
});

Deno.test("a record that honestly holds 256 MiB where data.pkl needs 16 bytes is refused before inflating", async () => {
  const bomb = await deflate({ zeros: 256 * MiB });
  const bytes = zipOf([
    stored("m/data.pkl", oneTensorPickle(4)),
    { name: "m/data/0", body: bomb, method: 8, size: 256 * MiB, crc: 0 },
  ]);
  const started = performance.now();
  const { message, grewMiB } = await loadInSubprocess(bytes);
  console.log(`peak RSS rose ${grewMiB.toFixed(1)} MiB`);
  assert.match(
    message,
    /record "m\/data\/0" has 268435456 bytes, but data.pkl says it holds 4 F32 values \(16 bytes\)/,
  );
  assert.ok(grewMiB < 64, `refusing a 256 MiB record raised the peak RSS by ${grewMiB} MiB`);
  assert.ok(performance.now() - started < 10_000);
});

Deno.test("ZIP64 members declaring 2^40 bytes are refused by what they declare, not by the allocator", async () => {
  const pkl = oneTensorPickle(4);
  const body = await deflate(new Uint8Array(16));
  const huge = 2 ** 40;
  // The pickle needs 16 bytes: the declared size is refused against it.
  const record = zipOf([
    stored("m/data.pkl", pkl),
    { name: "m/data/0", body, method: 8, size: huge, zip64: true },
  ]);
  await rejects(
    readTorchScript(record, "z64.jit"),
    /^Cannot read TorchScript "z64.jit": record "m\/data\/0" has 1099511627776 bytes, but data.pkl says it holds 4 F32 values \(16 bytes\)$/,
  );
  // The pickle agrees with the claim: a few deflated bytes cannot hold 2^40.
  const agreed = zipOf([
    stored("m/data.pkl", oneTensorPickle(huge / 4)),
    { name: "m/data/0", body, method: 8, size: huge, zip64: true },
  ]);
  await rejects(
    readTorchScript(agreed, "z64.jit"),
    new RegExp(
      `^Cannot read TorchScript "z64.jit": member "m/data/0" declares 1099511627776 bytes, more than its ${body.length} deflated bytes can hold$`,
    ),
  );
  // data.pkl itself: its declared size is checked before it is read.
  const pickle = zipOf([{
    name: "m/data.pkl",
    body: await deflate(pkl),
    method: 8,
    size: huge,
    zip64: true,
  }]);
  await rejects(
    readTorchScript(pickle, "pkl.jit"),
    /"pkl.jit": member "m\/data.pkl" declares 1099511627776 bytes; a module tree pickles far smaller \(at most 33554432 bytes are read\)/,
  );
  // Members that share bytes (one bomb inflated many times over) are refused on opening.
  const two = zipOf([stored("m/a", new Uint8Array(8)), stored("m/b", new Uint8Array(8))]);
  const cd = new DataView(two.buffer).getUint32(two.length - 6, true);
  new DataView(two.buffer).setUint32(cd + 20, 30, true); // "m/a" now runs into "m/b"'s header
  new DataView(two.buffer).setUint32(cd + 24, 30, true);
  rethrows(() => ZipArchive.open(two, "o.zip"), /"o.zip": members "m\/a" and "m\/b" overlap/);
});

// ---------------------------------------------------------------------------------------------
// 6. Pickle blow-ups

Deno.test("a module referenced twice by each of 40 nested modules is walked once and refused", () => {
  // Module d holds "a" and "b", both module d-1 (the second a memo GET); module 0 a tensor.
  // A tree walk would name 2^40 tensors.
  const p = new Pickle();
  const nest = (d: number) => {
    p.beginModule();
    if (d === 0) p.str("w").tensor("0", 4, [4], [1]);
    else {
      p.str("a");
      nest(d - 1);
      p.put(d).str("b").get(d);
    }
    p.endModule();
  };
  nest(40);
  const pkl = p.bytes();
  assert.ok(pkl.length < 4096, `${pkl.length} bytes`);
  const bytes = zipOf([stored("m/data.pkl", pkl), stored("m/data/0", new Uint8Array(16))]);
  const started = performance.now();
  const a39 = Array(39).fill("a").join(".");
  rethrows(
    () => parseTorchScript(bytes, "dag.jit"),
    new RegExp(
      `^Cannot read TorchScript "dag.jit": module "${a39}.b" is module "${a39}.a" again \\(a module tree's modules are not shared\\)$`,
    ),
  );
  assert.ok(performance.now() - started < 1000);

  // A persistent id of lists that each hold the previous one twice: the message shows its start.
  const pid = new Pickle().op(0x5d).put(0);
  for (let d = 1; d <= 40; d++) pid.op(0x5d, 0x28).get(d - 1).get(d - 1).op(0x65).put(d);
  rethrows(
    () => parseTorchScript(zipOf([stored("m/data.pkl", pid.op(0x51).bytes())]), "pid.jit"),
    /^Cannot read TorchScript "pid.jit": data.pkl has an unexpected persistent id \[\[\[\.\.\.\], \[\.\.\.\]\], \[\[\.\.\.\], \[\.\.\.\]\]\]$/,
  );
});

Deno.test("a tensor referenced under two names stays one tensor; a module that contains itself is refused", () => {
  const shared = new Pickle().beginModule().str("w").tensor("0", 4, [4], [1]).put(1)
    .str("tied").get(1).endModule().bytes();
  const values = new Float32Array([1, 2, 3, 4]);
  const src = parseTorchScript(
    zipOf([stored("m/data.pkl", shared), stored("m/data/0", new Uint8Array(values.buffer))]),
    "tied.jit",
  );
  assert.deepEqual(src.names(), ["w", "tied"]);
  assert.deepEqual(src.float32("tied"), values);

  // The module is memoized before its state is built, and its state holds it.
  const loop = new Pickle().global("__torch__.m", "Mod").op(0x29, 0x81).put(1)
    .op(0x7d, 0x28).str("self").get(1).endModule().bytes();
  rethrows(
    () => parseTorchScript(zipOf([stored("m/data.pkl", loop)]), "loop.jit"),
    /"loop.jit": module "self" contains itself/,
  );
  // Two modules built from one attribute dict.
  const dict = new Pickle().beginModule()
    .str("a").global("__torch__.m", "Mod").op(0x29, 0x81, 0x7d).put(2).op(0x28)
    .str("x").op(0x4e).endModule()
    .str("b").global("__torch__.m", "Mod").op(0x29, 0x81).get(2).op(0x62)
    .endModule().bytes();
  rethrows(
    () => parseTorchScript(zipOf([stored("m/data.pkl", dict)]), "dict.jit"),
    /"dict.jit": module "b" shares its attribute dict with module "a"/,
  );
});

Deno.test("100,000 nested modules are refused by depth, not by the call stack", () => {
  const p = new Pickle();
  const depth = 100_000;
  for (let i = 0; i < depth; i++) p.beginModule().str("m");
  p.op(0x4e); // the innermost value: None
  for (let i = 0; i < depth; i++) p.endModule();
  rethrows(
    () => parseTorchScript(zipOf([stored("m/data.pkl", p.bytes())]), "deep.jit"),
    new RegExp(`"deep.jit": modules nest deeper than ${MAX_MODULE_DEPTH} levels`),
  );
});

Deno.test("pickles that make more values or tensors than any checkpoint are refused", () => {
  const opts = { source: "x.jit", persistentLoad: () => null };
  // One EMPTY_LIST + APPEND pair per value: 2 bytes each.
  const lists = new Uint8Array(4 + 2 * MAX_PICKLE_OPS);
  lists.set([0x80, 2, 0x5d]);
  for (let i = 3; i < lists.length - 1; i += 2) lists.set([0x5d, 0x61], i);
  lists[lists.length - 1] = 0x2e;
  rethrows(
    () => unpickle(lists, opts),
    new RegExp(`"x.jit": it runs more than ${MAX_PICKLE_OPS} opcodes, far more than a module tree`),
  );
  // A long APPENDS is appended item by item (spread as arguments, it overflowed the stack).
  const n = 400_000;
  const appends = new Uint8Array(6 + 2 * n);
  appends.set([0x80, 2, 0x5d, 0x28]);
  for (let i = 0; i < n; i++) appends.set([0x4b, i & 0xff], 4 + 2 * i);
  appends.set([0x65, 0x2e], 4 + 2 * n);
  const list = unpickle(appends, opts) as number[];
  assert.equal(list.length, n);
  assert.equal(list[n - 1], (n - 1) & 0xff);

  // One memoized tensor under MAX_TENSORS + 1 names.
  const p = new Pickle().beginModule().str("t0").tensor("0", 1, [1], [1]).put(1);
  for (let i = 1; i <= MAX_TENSORS; i++) p.str(`t${i}`).get(1);
  const many = zipOf([
    stored("m/data.pkl", p.endModule().bytes()),
    stored("m/data/0", new Uint8Array(4)),
  ]);
  rethrows(
    () => parseTorchScript(many, "many.jit"),
    new RegExp(`"many.jit": data.pkl holds more than ${MAX_TENSORS} tensors`),
  );

  // Names and ranks beyond any checkpoint's.
  const long = "x".repeat(1001);
  const named = zipOf([
    stored(
      "m/data.pkl",
      new Pickle().beginModule().str(long).tensor("0", 1, [1], [1]).endModule()
        .bytes(),
    ),
    stored("m/data/0", new Uint8Array(4)),
  ]);
  rethrows(
    () => parseTorchScript(named, "long.jit"),
    /"long.jit": the name "xxxx+\.\.\." is longer than 1000 characters$/,
  );
  const ones = Array(17).fill(1);
  const ranked = zipOf([
    stored("m/data.pkl", oneTensorPickle(1, ones, ones)),
    stored("m/data/0", new Uint8Array(4)),
  ]);
  rethrows(
    () => parseTorchScript(ranked, "rank.jit"),
    /"rank.jit": tensor "w" has 17 dimensions, more than 16$/,
  );
});

// ---------------------------------------------------------------------------------------------
// 7. Zero strides

Deno.test("a [32768, 32768] tensor of zero strides over one value is refused, saying what it declared", async () => {
  const bytes = zipOf([
    stored("m/data.pkl", oneTensorPickle(1, [32768, 32768], [0, 0])),
    stored("m/data/0", new Uint8Array(4)),
  ]);
  assert.ok(bytes.length < 1024, `${bytes.length} bytes`);
  const want =
    /^Cannot read TorchScript "s0.jit": tensor "w" \(shape \[32768, 32768\], stride \[0, 0\], offset 0\) declares 1073741824 values over the 1 of "m\/data\/0"; a checkpoint's tensor is a view of its storage and holds at most as many values$/;
  rethrows(() => parseTorchScript(bytes, "s0.jit"), want);
  await rejects(readTorchScript(bytes, "s0.jit"), want);
  await rejects(
    loadTokenizer({ encoder: bytes, backend: "none" }),
    /"<encoder bytes>": tensor "w" \(shape \[32768, 32768\], stride \[0, 0\]/,
  );
  // A broadcast that stays within its storage still reads (values repeated, as torch gives).
  const ok = zipOf([
    stored("m/data.pkl", oneTensorPickle(2, [2], [0])),
    stored("m/data/0", new Uint8Array(new Float32Array([5, 6]).buffer)),
  ]);
  assert.deepEqual([...parseTorchScript(ok, "b.jit").float32("w")], [5, 5]);
});

// ---------------------------------------------------------------------------------------------
// 8. Non-finite weights

function fixtureBytes(path: string): Uint8Array {
  return Deno.readFileSync(new URL(path, FIXTURES));
}

/** The tensors of `src` as a safetensors file, with `edit` applied to a copy of one. */
function safetensorsWith(
  src: TensorSource,
  name: string,
  edit: (values: Float32Array) => void,
): Uint8Array {
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  for (const n of src.names()) {
    const data = src.float32(n).slice();
    if (n === name) edit(data);
    tensors[n] = { dtype: "F32", shape: src.shape(n)!, data };
  }
  return encodeSafetensors(tensors, src.metadata);
}

Deno.test("a NaN weight in a safetensors file is refused at load, naming the tensor", async () => {
  const src = safetensorsSource(parseSafetensors(fixtureBytes("CI8x8/encoder.safetensors")));
  const name = "encoder.down.0.block.0.conv1.weight";
  const n = src.float32(name).length;
  const bytes = safetensorsWith(src, name, (v) => v[5] = NaN);
  await rejects(
    loadTokenizer({ encoder: bytes, backend: "none" }),
    new RegExp(
      `^Cannot load encoder: tensor "${name}" in "<encoder bytes>" holds NaN at index 5 of ${n}; a model's weights must be finite`,
    ),
  );
  const inf = safetensorsWith(src, "encoder.conv_out.bias", (v) => v[0] = -Infinity);
  await rejects(
    loadTokenizer({ encoder: inf, backend: "none" }),
    /tensor "encoder.conv_out.bias" in "<encoder bytes>" holds -Infinity at index 0/,
  );
  // The untouched fixture loads.
  await (await loadTokenizer({
    encoder: fixtureBytes("CI8x8/encoder.safetensors"),
    backend: "none",
  }))
    .dispose();
});

Deno.test("an infinite weight in a .jit archive is refused at load, naming the tensor", async () => {
  const zip = ZipArchive.open(fixtureBytes("CV4x8x8/encoder.jit"), "encoder.jit");
  const members = zip.names().map((name) => ({ name, data: zip.read(name).slice() }));
  const archive = () => zipOf(members.map((m) => stored(m.name, m.data)));
  // A record holding a weight the encoder runs (not an architecture buffer, which it rebuilds).
  let names: string[] = [];
  for (const m of members.filter((m) => /\/data\/\d+$/.test(m.name))) {
    const saved = m.data.slice();
    new DataView(m.data.buffer).setFloat32(0, Infinity, true);
    const src = parseTorchScript(archive(), "e.jit");
    names = src.names().filter((n) =>
      !ARCHITECTURE_BUFFERS.test(n) && src.float32(n).includes(Infinity)
    );
    if (names.length) break;
    m.data.set(saved);
  }
  assert.ok(names.length > 0);
  await rejects(
    loadTokenizer({ encoder: archive(), model: "Cosmos-0.1-Tokenizer-CV4x8x8", backend: "none" }),
    new RegExp(
      `^Cannot load encoder: tensor "(${
        names.join("|").replaceAll(".", "\\.")
      })" in "<encoder bytes>" holds Infinity at index \\d+ of \\d+`,
    ),
  );
});

Deno.test("a NaN weight in a diffusers file is refused at load under its diffusers name", async () => {
  const fixture = (half: string) =>
    safetensorsSource(parseSafetensors(fixtureBytes(`CV8x8x8/${half}.safetensors`)));
  const diffusers = toDiffusers([fixture("encoder"), fixture("decoder")]);
  const name = "decoder.conv_in.conv_s.weight";
  assert.ok(diffusers.names().includes(name));
  const bytes = safetensorsWith(diffusers, name, (v) => v[1] = NaN);
  await rejects(
    loadTokenizer({ decoder: bytes, model: "Cosmos-1.0-Tokenizer-CV8x8x8", backend: "none" }),
    /^Cannot load decoder: tensor "decoder\.conv_in\.conv_s\.weight" in "<decoder bytes>" holds NaN at index 1/,
  );
});

Deno.test("the finiteness check hands on the array it checked, and finds only NaN and infinities", () => {
  const values = new Float32Array([1, 2, 3]);
  const inner: TensorSource = {
    source: "x",
    metadata: {},
    names: () => ["w"],
    shape: () => [3],
    float32: () => values,
  };
  assert.equal(requireFinite(inner, "encoder").float32("w"), values, "no copy");
  const f = (...v: number[]) => firstNonFinite(new Float32Array(v));
  assert.equal(f(0, -0, 1e-45, 3.4028234e38, -3.4028234e38), -1);
  assert.equal(f(1, NaN), 1);
  assert.equal(f(Infinity), 0);
  assert.equal(f(2, 3, -Infinity), 2);
  assert.equal(firstNonFinite(new Float32Array(new Float32Array(8).buffer, 4, 1)), -1);
});
