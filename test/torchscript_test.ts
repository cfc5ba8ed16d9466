/**
 * TorchScript (.jit) checkpoints: the ZIP reader, the pickle subset, the state_dict walk, and the
 * CV4x8x8 fixture archives against their safetensors twins and the reference outputs.
 */

import assert from "node:assert/strict";
import { assertClose, gpuTest } from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import { ARCHITECTURE_BUFFERS } from "../src/weights/checkpoint.ts";
import type { TensorSource } from "../src/weights/checkpoint.ts";
import { crc32, ZipArchive } from "../src/weights/zip.ts";
import { unpickle } from "../src/weights/pickle.ts";
import { parseTorchScript, readTorchScript, splitHalves } from "../src/weights/torchscript.ts";
import { isZip, parseCheckpoint, readCheckpoint } from "../src/weights/formats.ts";

const DIR = new URL("./fixtures/CV4x8x8/", import.meta.url);
const read = (name: string) => Deno.readFileSync(new URL(name, DIR));
const enc = new TextEncoder();

// ---------------------------------------------------------------------------------------------
// A small ZIP writer, laid out as torch.jit.save does (stored members padded to 64 bytes with an
// "FB" extra field), optionally deflating members and writing ZIP64 records.

interface Member {
  name: string;
  data: Uint8Array;
  deflate?: boolean;
}

async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("deflate-raw"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function makeZip(
  members: Member[],
  { zip64 = false, align = 64 }: { zip64?: boolean; align?: number } = {},
): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  const push = (b: Uint8Array) => (parts.push(b), offset += b.length);
  for (const m of members) {
    const name = enc.encode(m.name);
    const body = m.deflate ? await deflateRaw(m.data) : m.data;
    const start = offset + 30 + name.length + 4;
    const pad = align > 1 ? (align - (start % align)) % align : 0;
    const extra = new Uint8Array(align > 1 ? 4 + pad : 0);
    if (align > 1) new DataView(extra.buffer).setUint32(0, 0x4246 | (pad << 16), true); // "FB"
    const local = new Uint8Array(30 + name.length + extra.length);
    const lv = new DataView(local.buffer);
    const crc = crc32(m.data);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, m.deflate ? 8 : 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, m.data.length, true);
    lv.setUint16(26, name.length, true);
    lv.setUint16(28, extra.length, true);
    local.set(name, 30);
    local.set(extra, 30 + name.length);
    const headerAt = offset;
    push(local);
    push(body);
    const z64 = zip64 ? 28 : 0;
    const c = new Uint8Array(46 + name.length + z64);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 45, true);
    cv.setUint16(6, 45, true);
    cv.setUint16(10, m.deflate ? 8 : 0, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, zip64 ? 0xffffffff : body.length, true);
    cv.setUint32(24, zip64 ? 0xffffffff : m.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint16(30, z64, true);
    cv.setUint32(42, zip64 ? 0xffffffff : headerAt, true);
    c.set(name, 46);
    if (zip64) {
      const x = 46 + name.length;
      cv.setUint16(x, 1, true);
      cv.setUint16(x + 2, 24, true);
      cv.setBigUint64(x + 4, BigInt(m.data.length), true);
      cv.setBigUint64(x + 12, BigInt(body.length), true);
      cv.setBigUint64(x + 20, BigInt(headerAt), true);
    }
    central.push(c);
  }
  const cdOffset = offset;
  for (const c of central) push(c);
  const cdSize = offset - cdOffset;
  if (zip64) {
    const rec = new Uint8Array(56 + 20);
    const rv = new DataView(rec.buffer);
    rv.setUint32(0, 0x06064b50, true);
    rv.setBigUint64(4, 44n, true);
    rv.setUint16(12, 45, true);
    rv.setUint16(14, 45, true);
    rv.setBigUint64(24, BigInt(members.length), true);
    rv.setBigUint64(32, BigInt(members.length), true);
    rv.setBigUint64(40, BigInt(cdSize), true);
    rv.setBigUint64(48, BigInt(cdOffset), true);
    rv.setUint32(56, 0x07064b50, true); // locator
    rv.setBigUint64(64, BigInt(offset), true);
    rv.setUint32(72, 1, true);
    push(rec);
  }
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, zip64 ? 0xffff : members.length, true);
  ev.setUint16(10, zip64 ? 0xffff : members.length, true);
  ev.setUint32(12, zip64 ? 0xffffffff : cdSize, true);
  ev.setUint32(16, zip64 ? 0xffffffff : cdOffset, true);
  push(eocd);
  const out = new Uint8Array(offset);
  let p = 0;
  for (const b of parts) out.set(b, p), p += b.length;
  return out;
}

/** The members of a fixture archive, as name -> bytes. */
function membersOf(file: string): Map<string, Uint8Array> {
  const zip = ZipArchive.open(read(file), file);
  return new Map(zip.names().map((n) => [n, zip.read(n).slice()]));
}

function rethrows(fn: () => unknown, re: RegExp) {
  assert.throws(fn, (err: Error) => {
    assert.match(err.message, re);
    return true;
  });
}

async function rejects(p: Promise<unknown>, re: RegExp) {
  await assert.rejects(p, (err: Error) => {
    assert.match(err.message, re);
    return true;
  });
}

function sameTensors(a: TensorSource, b: TensorSource) {
  assert.deepEqual(a.names().sort(), b.names().sort());
  for (const n of a.names()) {
    assert.deepEqual(a.shape(n), b.shape(n), n);
    assert.deepEqual(a.float32(n), b.float32(n), n);
  }
}

// ---------------------------------------------------------------------------------------------
// A small pickle writer for synthetic module trees in torch's layout.

type Node =
  | { module: string; attrs: Record<string, Node> }
  | {
    storage: string;
    key: string;
    numel: number;
    offset: number;
    shape: number[];
    stride: number[];
  }
  | boolean
  | null
  | number;

function pickleTree(root: Node): Uint8Array {
  const out: number[] = [0x80, 2];
  const bytes = (...b: number[]) => out.push(...b);
  const u32 = (v: number) => bytes(v & 255, (v >> 8) & 255, (v >> 16) & 255, (v >>> 24) & 255);
  const str = (s: string) => (bytes(0x58), u32(enc.encode(s).length), bytes(...enc.encode(s)));
  const global = (m: string, n: string) => bytes(0x63, ...enc.encode(`${m}\n${n}\n`));
  const int = (v: number) => (bytes(0x4a), u32(v));
  const ints = (vs: number[]) => (bytes(0x28), vs.forEach(int), bytes(0x74));
  const node = (v: Node) => {
    if (v === null) bytes(0x4e);
    else if (typeof v === "boolean") bytes(v ? 0x88 : 0x89);
    else if (typeof v === "number") int(v);
    else if ("module" in v) {
      const dot = v.module.lastIndexOf(".");
      global(v.module.slice(0, dot), v.module.slice(dot + 1));
      bytes(0x29, 0x81, 0x7d, 0x28);
      for (const [k, x] of Object.entries(v.attrs)) str(k), node(x);
      bytes(0x75, 0x62);
    } else {
      global("torch._utils", "_rebuild_tensor_v2");
      bytes(0x28, 0x28);
      str("storage");
      global("torch", v.storage);
      str(v.key);
      str("cpu");
      int(v.numel);
      bytes(0x74, 0x51);
      int(v.offset);
      ints(v.shape);
      ints(v.stride);
      bytes(0x89);
      global("collections", "OrderedDict");
      bytes(0x29, 0x52, 0x74, 0x52);
    }
  };
  node(root);
  bytes(0x2e);
  return new Uint8Array(out);
}

const mod = (attrs: Record<string, Node>, name = "__torch__.m.Mod"): Node => ({
  module: name,
  attrs: { training: false, ...attrs },
});

// ---------------------------------------------------------------------------------------------

Deno.test("fixture .jit archives equal their safetensors twins bit for bit", () => {
  for (const half of ["encoder", "decoder"]) {
    const jit = parseTorchScript(read(`${half}.jit`), `${half}.jit`);
    const st = parseSafetensors(read(`${half}.safetensors`), `${half}.safetensors`);
    const names = jit.names().filter((n) => !ARCHITECTURE_BUFFERS.test(n)).sort();
    assert.deepEqual(names, [...st.entries.keys()].sort());
    assert.ok(
      jit.names().some((n) => ARCHITECTURE_BUFFERS.test(n)),
      "non-persistent buffers are kept",
    );
    for (const n of names) {
      assert.deepEqual(jit.shape(n), st.entries.get(n)!.shape, n);
      const a = jit.float32(n), b = st.float32(n);
      assert.ok(
        a.length === b.length && a.every((v, i) => Object.is(v, b[i])),
        `${half} ${n} differs`,
      );
    }
  }
  const e = parseTorchScript(read("encoder.jit"), "encoder.jit");
  assert.deepEqual(e.shape("encoder.conv_in.0.conv3d.weight"), [16, 192, 1, 3, 3]);
  assert.deepEqual([...e.float32("encoder.patcher3d._arange")], [0, 1]);
});

Deno.test("zip: stored, padded, deflated and ZIP64 members read back", async () => {
  const a = enc.encode("hello, stored member");
  const b = new Uint8Array(5000).map((_, i) => (i * 7) % 13);
  for (const zip64 of [false, true]) {
    const bytes = await makeZip(
      [{ name: "x/a", data: a }, { name: "x/b", data: b, deflate: true }],
      {
        zip64,
      },
    );
    const zip = ZipArchive.open(bytes, "t.zip");
    assert.deepEqual(zip.names(), ["x/a", "x/b"]);
    assert.equal(zip.entry("x/a")!.dataOffset % 64, 0, "torch-style padding honoured");
    assert.deepEqual(zip.read("x/a"), a);
    assert.deepEqual(await zip.readAsync("x/a"), a);
    assert.deepEqual(await zip.readAsync("x/b"), b);
    rethrows(() => zip.read("x/b"), /member "x\/b" is deflated; read it with readAsync/);
    rethrows(() => zip.read("x/c"), /Cannot read ZIP archive "t.zip": no member "x\/c"/);
  }
  const plain = await makeZip([{ name: "a", data: a }], { align: 1 });
  assert.deepEqual(ZipArchive.open(plain, "p.zip").read("a"), a);
  assert.equal(crc32(enc.encode("123456789")), 0xcbf43926);
});

Deno.test("zip: malformed archives fail with what is wrong", async () => {
  const data = enc.encode("some member data");
  const good = await makeZip([{ name: "x/a", data }, { name: "x/z", data, deflate: true }]);
  const open = (b: Uint8Array) => ZipArchive.open(b, "bad.zip");
  const edit = (f: (b: Uint8Array, dv: DataView) => void) => {
    const b = good.slice();
    f(b, new DataView(b.buffer));
    return b;
  };
  const cd = new DataView(good.buffer).getUint32(good.length - 6, true);
  const dataAt = open(good).entry("x/a")!.dataOffset;
  const zAt = open(good).entry("x/z")!.dataOffset;

  rethrows(() => open(good.subarray(0, good.length - 5)), /"bad.zip": no end-of-central-directory/);
  rethrows(() => open(good.subarray(0, 10)), /10 bytes is too short/);
  rethrows(() => open(new Uint8Array(100)), /no end-of-central-directory/);
  rethrows(
    () => open(edit((_, dv) => dv.setUint32(good.length - 6, good.length + 100, true))),
    /central directory .* runs past/,
  );
  rethrows(() => open(edit((b) => b[cd] = 0)), /bad central directory signature at byte \d+/);
  rethrows(() => open(edit((b) => b[0] = 0)), /bad local header signature for member "x\/a"/);
  rethrows(
    () => open(edit((_, dv) => dv.setUint32(cd + 20, 1 << 30, true))),
    /member "x\/a" is truncated/,
  );
  rethrows(() => open(edit((b) => b[dataAt] ^= 1)).read("x/a"), /"x\/a" fails its CRC-32 check/);
  await rejects(
    open(edit((b) => b[zAt + 2] ^= 0x55)).readAsync("x/z"),
    /"x\/z" (fails its CRC|is not valid deflate|inflates to)/,
  );
  const zCd = cd + 46 + 3; // the second central entry ("x/a" has a 3-byte name, no extra)
  await rejects(
    open(edit((_, dv) => dv.setUint32(zCd + 24, 4, true))).readAsync("x/z"),
    /"x\/z" inflates to more than 4 bytes/,
  );
  await rejects(
    open(edit((_, dv) => dv.setUint32(zCd + 24, 99, true))).readAsync("x/z"),
    /"x\/z" inflates to 16 bytes, not 99/,
  );
  const method = (m: number) =>
    edit((_, dv) => {
      dv.setUint16(8, m, true);
      dv.setUint16(cd + 10, m, true);
    });
  rethrows(() => open(method(12)).read("x/a"), /"x\/a" uses unsupported compression method 12/);
  rethrows(() => open(edit((_, dv) => dv.setUint16(cd + 10, 8, true))), /different methods/);
  rethrows(
    () => open(edit((_, dv) => dv.setUint16(cd + 8, 1, true))).read("x/a"),
    /member "x\/a" is encrypted/,
  );
});

Deno.test("pickle: unknown opcodes, disallowed classes and truncation are refused", () => {
  const opts = { source: "x.jit", persistentLoad: () => null };
  rethrows(
    () => unpickle(new Uint8Array([0x80, 2, 0x93, 0x2e]), opts),
    /^Unsupported pickle opcode 0x93 at byte 2 in "x.jit"$/,
  );
  rethrows(
    () => unpickle(new Uint8Array([0x80, 2, ...enc.encode("cos\nsystem\n"), 0x2e]), opts),
    /^Unsupported class "os.system" in "x.jit"$/,
  );
  rethrows(
    () => unpickle(new Uint8Array([0x80, 2, ...enc.encode("cbuiltins\neval\n")]), opts),
    /Unsupported class "builtins.eval"/,
  );
  rethrows(() => unpickle(new Uint8Array([0x80, 2, 0x58, 9, 0, 0, 0, 0x61]), opts), /truncated/);
  rethrows(() => unpickle(new Uint8Array([0x80, 2, 0x4e]), opts), /truncated/);
  rethrows(() => unpickle(new Uint8Array([0x80, 2, 0x68, 3, 0x2e]), opts), /memo key 3/);
  const list = unpickle(
    new Uint8Array([0x80, 2, 0x5d, 0x28, 0x4b, 7, 0x8a, 1, 0xff, 0x88, 0x65, 0x2e]),
    opts,
  );
  assert.deepEqual(list, [7, -1, true]);
});

Deno.test("torchscript: archives with official extras load; big-endian and broken ones do not", async () => {
  const members = membersOf("encoder.jit");
  const base = parseTorchScript(read("encoder.jit"), "encoder.jit");
  const list = (m: Map<string, Uint8Array>, deflate = false): Member[] =>
    [...m].map(([name, data]) => ({ name, data, deflate }));
  const extras = new Map(members);
  extras.set("encoder/code/__torch__/x.py", enc.encode("class X: pass\n"));
  extras.set("encoder/x.debug_pkl", new Uint8Array([0x80, 2, 0x29, 0x2e]));
  extras.set("encoder/byteorder", enc.encode("little"));
  extras.set("encoder/.data/serialization_id", enc.encode("1234567890"));
  sameTensors(parseTorchScript(await makeZip(list(extras)), "official.jit"), base);
  sameTensors(parseTorchScript(await makeZip(list(extras), { zip64: true }), "z64.jit"), base);

  // Deflated members need the async reader.
  const deflated = await makeZip(list(members, true));
  rethrows(() => parseTorchScript(deflated, "d.jit"), /"d.jit".*is deflated/);
  sameTensors(await readTorchScript(deflated, "d.jit"), base);
  sameTensors(await readCheckpoint(deflated, "d.jit"), base);

  const variant = async (f: (m: Map<string, Uint8Array>) => void) => {
    const m = new Map(members);
    f(m);
    return await makeZip(list(m));
  };
  const big = await variant((m) => m.set("encoder/byteorder", enc.encode("big")));
  rethrows(() => parseTorchScript(big, "big.jit"), /"big.jit": its tensors are big-endian/);
  const pkl = members.get("encoder/data.pkl")!;
  const cut = await variant((m) => m.set("encoder/data.pkl", pkl.subarray(0, 5000)));
  rethrows(
    () => parseTorchScript(cut, "cut.jit"),
    /Cannot read pickle in "cut.jit": data is truncated/,
  );
  const missing = await variant((m) => m.delete("encoder/data/3"));
  rethrows(
    () => parseTorchScript(missing, "m.jit"),
    /Cannot read TorchScript "m.jit": data.pkl references missing record "encoder\/data\/3"/,
  );
  const short = await variant((m) => m.set("encoder/data/3", new Uint8Array(8)));
  rethrows(() => parseTorchScript(short, "s.jit"), /record "encoder\/data\/3" has 8 bytes/);
  const noPkl = await variant((m) => m.delete("encoder/data.pkl"));
  rethrows(() => parseTorchScript(noPkl, "n.jit"), /no member "encoder\/data.pkl"/);
  const stray = await variant((m) => m.set("other/x", new Uint8Array(1)));
  rethrows(() => parseTorchScript(stray, "o.jit"), /"other\/x" lies outside the archive folder/);
});

Deno.test("torchscript: dtypes, strides and storage offsets of a synthetic module tree", async () => {
  const f32 = new Float32Array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  const f16 = new Uint16Array([0x3c00, 0xc000, 0x0001, 0x7bff]); // 1, -2, 2^-24, 65504
  const bf16 = new Uint16Array([0x3f80, 0x4049]); // 1, 3.140625
  const i64 = new BigInt64Array([-3n, 1n << 40n]);
  const t = (
    storage: string,
    key: string,
    numel: number,
    shape: number[],
    stride: number[],
    offset = 0,
  ) => ({
    storage,
    key,
    numel,
    offset,
    shape,
    stride,
  });
  const tree = mod({
    _is_full_backward_hook: null,
    block: mod({
      weight: t("FloatStorage", "0", 10, [2, 3], [1, 2], 1), // transposed view at offset 1
      bias: t("FloatStorage", "0", 10, [3], [3], 0), // strided view of the same storage
      half: t("HalfStorage", "1", 4, [2, 2], [2, 1]),
      brain: t("BFloat16Storage", "2", 2, [2], [1]),
      big: t("LongStorage", "3", 2, [2], [1]),
      scalar: t("FloatStorage", "0", 10, [], [], 9),
      empty: t("FloatStorage", "0", 10, [0, 4], [4, 1]),
      nothing: null,
      count: 3,
    }),
  });
  const archive = (root: Node) =>
    makeZip([
      { name: "m/data.pkl", data: pickleTree(root) },
      { name: "m/data/0", data: new Uint8Array(f32.buffer) },
      { name: "m/data/1", data: new Uint8Array(f16.buffer) },
      { name: "m/data/2", data: new Uint8Array(bf16.buffer) },
      { name: "m/data/3", data: new Uint8Array(i64.buffer) },
      { name: "m/version", data: enc.encode("3\n") },
    ]);
  const src = parseTorchScript(await archive(tree), "syn.jit");
  assert.deepEqual(src.names(), [
    "block.weight",
    "block.bias",
    "block.half",
    "block.brain",
    "block.big",
    "block.scalar",
    "block.empty",
  ]);
  assert.deepEqual([...src.float32("block.weight")], [1, 3, 5, 2, 4, 6]);
  assert.deepEqual([...src.float32("block.bias")], [0, 3, 6]);
  assert.deepEqual([...src.float32("block.half")], [1, -2, 2 ** -24, 65504]);
  assert.deepEqual([...src.float32("block.brain")], [1, 3.140625]);
  assert.deepEqual([...src.float32("block.big")], [-3, 2 ** 40]);
  assert.deepEqual([...src.float32("block.scalar")], [9]);
  assert.deepEqual(src.shape("block.scalar"), []);
  assert.deepEqual(src.float32("block.empty").length, 0);
  rethrows(() => src.float32("nope"), /"syn.jit": there is no tensor "nope"/);

  const past = mod({ w: t("FloatStorage", "0", 10, [2, 3], [3, 1], 5) });
  await rejects(
    archive(past).then((b) => parseTorchScript(b, "p.jit")),
    /tensor "w" .* reaches past the 10 values of "m\/data\/0"/,
  );
});

Deno.test("splitHalves and parseCheckpoint on an autoencoder archive", async () => {
  const w = (key: string) => ({
    storage: "FloatStorage",
    key,
    numel: 2,
    offset: 0,
    shape: [2],
    stride: [1],
  });
  const conv = (key: string) => mod({ conv3d: mod({ weight: w(key), bias: null }) });
  const tree = mod({
    encoder: mod({ conv_in: conv("0") }),
    decoder: mod({ conv_out: conv("1") }),
    quant_conv: conv("2"),
    post_quant_conv: conv("3"),
  });
  const bytes = await makeZip([
    { name: "autoencoder/data.pkl", data: pickleTree(tree) },
    ...["0", "1", "2", "3"].map((k) => ({
      name: `autoencoder/data/${k}`,
      data: new Uint8Array(new Float32Array([+k, -k]).buffer),
    })),
  ]);
  assert.ok(isZip(bytes));
  const all = parseCheckpoint(bytes, "autoencoder.jit");
  assert.equal(all.names().length, 4);
  const { encoder, decoder } = splitHalves(all);
  assert.deepEqual(encoder.names(), ["encoder.conv_in.conv3d.weight", "quant_conv.conv3d.weight"]);
  assert.deepEqual(decoder.names(), [
    "decoder.conv_out.conv3d.weight",
    "post_quant_conv.conv3d.weight",
  ]);
  assert.deepEqual([...decoder.float32("post_quant_conv.conv3d.weight")], [3, -3]);
  assert.equal(decoder.shape("encoder.conv_in.conv3d.weight"), undefined);
  rethrows(() => decoder.float32("quant_conv.conv3d.weight"), /has no tensor/);
  assert.deepEqual(parseCheckpoint(bytes, "a.jit", "encoder").names(), encoder.names());
  assert.deepEqual(parseCheckpoint(bytes, "a.jit", "decoder").names(), decoder.names());

  // Real halves: merged encoder.jit + decoder.jit, split back.
  const e = parseTorchScript(read("encoder.jit"), "encoder.jit");
  const d = parseTorchScript(read("decoder.jit"), "decoder.jit");
  const merged: TensorSource = {
    source: "autoencoder.jit",
    metadata: {},
    names: () => [...e.names(), ...d.names()],
    shape: (n) => e.shape(n) ?? d.shape(n),
    float32: (n) => (e.shape(n) ? e : d).float32(n),
  };
  const split = splitHalves(merged);
  assert.deepEqual(split.encoder.names().sort(), e.names().sort());
  assert.deepEqual(split.decoder.names().sort(), d.names().sort());
  // A half on its own is not an autoencoder; parseCheckpoint leaves it whole.
  assert.deepEqual(parseCheckpoint(read("encoder.jit"), "e.jit", "encoder").names(), e.names());
  rethrows(() => splitHalves(e), /"encoder.jit": it has no decoder tensors/);
  const odd = mod({ encoder: conv("0"), decoder: conv("1"), extra: conv("2") });
  const oddBytes = await makeZip([
    { name: "a/data.pkl", data: pickleTree(odd) },
    ...["0", "1", "2"].map((k) => ({ name: `a/data/${k}`, data: new Uint8Array(8) })),
  ]);
  rethrows(
    () => splitHalves(parseTorchScript(oddBytes, "odd.jit")),
    /tensor "extra.conv3d.weight" belongs to neither/,
  );
});

Deno.test("parseCheckpoint sniffs safetensors and TorchScript", () => {
  const st = parseCheckpoint(read("encoder.safetensors"), "encoder.safetensors");
  const jit = parseCheckpoint(read("encoder.jit"), "encoder.jit");
  assert.deepEqual(
    jit.names().filter((n) => !ARCHITECTURE_BUFFERS.test(n)).sort(),
    st.names().sort(),
  );
  assert.ok(!isZip(read("encoder.safetensors")));
});

gpuTest("CV4x8x8 from .jit files matches the reference (9x32x32)", async (ops) => {
  const tok = await loadTokenizer({
    encoder: new URL("encoder.jit", DIR).pathname,
    decoder: new URL("decoder.jit", DIR).pathname,
    model: "Cosmos-0.1-Tokenizer-CV4x8x8",
    backend: ops,
  });
  try {
    const c = parseSafetensors(read("case_9x32x32.safetensors"));
    const want = (name: string) => ({ data: c.float32(name), shape: c.entries.get(name)!.shape });
    const { latent } = await tok.encode(want("input"));
    assert.deepEqual(latent!.shape, want("latent").shape);
    const e1 = assertClose(latent!.data, want("latent").data, 1e-4, "latent");
    const rec = await tok.decode(want("latent"));
    assert.deepEqual(rec.shape, want("reconstruction").shape);
    const e2 = assertClose(rec.data, want("reconstruction").data, 1e-4, "reconstruction");
    console.log(
      `CV4x8x8 .jit 9x32x32: latent ${e1.toExponential(2)}, reconstruction ${e2.toExponential(2)}`,
    );
  } finally {
    await tok.dispose();
  }
});
