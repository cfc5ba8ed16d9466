import assert from "node:assert/strict";
import {
  bf16ToF32,
  encodeSafetensors,
  f16ToF32,
  parseSafetensors,
} from "../src/weights/safetensors.ts";
import { safetensorsSource } from "../src/weights/checkpoint.ts";

/** Builds a file from a header (JSON text or a value to stringify) and a data section. */
function build(header: unknown, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const json = new TextEncoder().encode(
    typeof header === "string" ? header : JSON.stringify(header),
  );
  return withHeaderBytes(json, data);
}

function withHeaderBytes(json: Uint8Array, data: Uint8Array = new Uint8Array(0)): Uint8Array {
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

/** Parses a file built from a single F32 tensor entry `t`, with `bytes` data bytes. */
function parseEntry(entry: unknown, bytes = 16) {
  return parseSafetensors(build({ t: entry }, new Uint8Array(bytes)), "x.safetensors");
}

/** Reference half decoding by the textbook formula, independent of the implementation. */
function f16Formula(bits: number): number {
  const sign = bits >> 15 ? -1 : 1;
  const e = (bits >> 10) & 31;
  const m = bits & 1023;
  if (e === 31) return m ? NaN : sign * Infinity;
  if (e === 0) return sign * 2 ** -14 * (m / 1024);
  return sign * 2 ** (e - 15) * (1 + m / 1024);
}

Deno.test("encodeSafetensors() and parseSafetensors() round-trip every dtype", () => {
  const f32 = new Float32Array([1.5, -2.25, 3e-40, Infinity, -0, 1e30]);
  const f16 = new Uint16Array([0x0000, 0x8000, 0x3c00, 0x7bff, 0x0001, 0x7c00, 0x7e00]);
  const bf16 = new Uint16Array([0x3f80, 0xc040, 0x7f80, 0x0001]);
  const i32 = new Int32Array([0, -1, 2147483647, -2147483648]);
  const i64 = new BigInt64Array([0n, -5n, 2147483647n, -2147483648n]);
  const u8 = new Uint8Array([0, 1, 255]);
  const bytes = encodeSafetensors({
    "a.f32": { dtype: "F32", shape: [2, 3], data: f32 },
    "b.f16": { dtype: "F16", shape: [7], data: f16 },
    "c.bf16": { dtype: "BF16", shape: [2, 2], data: bf16 },
    "d.i32": { dtype: "I32", shape: [4], data: i32 },
    "e.i64": { dtype: "I64", shape: [2, 2], data: i64 },
    "f.u8": { dtype: "U8", shape: [3], data: u8 },
  }, { format: "pt", note: "héllo" });
  const file = parseSafetensors(bytes, "round.safetensors");

  assert.equal(file.source, "round.safetensors");
  assert.deepEqual(file.metadata, { format: "pt", note: "héllo" });
  assert.deepEqual([...file.entries.keys()], [
    "a.f32",
    "b.f16",
    "c.bf16",
    "d.i32",
    "e.i64",
    "f.u8",
  ]);
  assert.deepEqual(file.entries.get("a.f32"), {
    name: "a.f32",
    dtype: "F32",
    shape: [2, 3],
    begin: 0,
    end: 24,
  });
  assert.deepEqual(file.float32("a.f32"), f32);
  assert.deepEqual(
    file.float32("b.f16"),
    new Float32Array([0, -0, 1, 65504, 2 ** -24, Infinity, NaN]),
  );
  assert.ok(Object.is(file.float32("b.f16")[1], -0));
  assert.deepEqual(file.float32("c.bf16"), new Float32Array([1, -3, Infinity, 2 ** -133]));
  assert.deepEqual(file.int32("d.i32"), i32);
  assert.deepEqual(file.int32("e.i64"), new Int32Array([0, -5, 2147483647, -2147483648]));
  assert.deepEqual(file.int32("f.u8"), new Int32Array([0, 1, 255]));
  assert.deepEqual(file.raw("f.u8"), u8);
  assert.deepEqual(new Uint16Array(file.raw("b.f16").slice().buffer), f16);
  assert.ok(file.has("e.i64"));
  assert.ok(!file.has("missing"));
});

Deno.test("encodeSafetensors() writes a space-padded header with contiguous offsets", () => {
  const bytes = encodeSafetensors({
    z: { dtype: "U8", shape: [3], data: new Uint8Array([1, 2, 3]) },
    a: { dtype: "F16", shape: [1, 2], data: new Uint16Array([0x3c00, 0x4000]) },
  });
  const view = new DataView(bytes.buffer);
  const n = Number(view.getBigUint64(0, true));
  assert.equal(n % 8, 0);
  const text = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  const json = '{"z":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},' +
    '"a":{"dtype":"F16","shape":[1,2],"data_offsets":[3,7]}}';
  assert.equal(text, json.padEnd(n, " "));
  assert.ok(n - json.length < 8);
  assert.equal(bytes.length, 8 + n + 7);
  assert.deepEqual([...bytes.subarray(8 + n)], [1, 2, 3, 0x00, 0x3c, 0x00, 0x40]);
  assert.deepEqual(parseSafetensors(bytes).metadata, {});
});

Deno.test("encodeSafetensors() writes __metadata__ only when given", () => {
  const text = (b: Uint8Array) => new TextDecoder().decode(b.subarray(8)).trimEnd();
  assert.equal(text(encodeSafetensors({})), "{}");
  assert.equal(text(encodeSafetensors({}, {})), '{"__metadata__":{}}');
  assert.equal(text(encodeSafetensors({}, { k: "v" })), '{"__metadata__":{"k":"v"}}');
});

Deno.test("encodeSafetensors() rejects data that does not match dtype or shape", () => {
  assert.throws(
    () => encodeSafetensors({ w: { dtype: "F32", shape: [2, 2], data: new Float32Array(3) } }),
    /^Error: Cannot encode tensor "w": data has 3 elements, expected 4 \(shape \[2, 2\]\)$/,
  );
  assert.throws(
    () => encodeSafetensors({ w: { dtype: "F16", shape: [2], data: new Float32Array(2) } }),
    /^Error: Cannot encode tensor "w": F16 data must be a Uint16Array, got Float32Array$/,
  );
  assert.throws(
    () => encodeSafetensors({ w: { dtype: "U8", shape: [-1], data: new Uint8Array(0) } }),
    /Cannot encode tensor "w": invalid shape \[-1\]/,
  );
  assert.throws(
    () => encodeSafetensors({ __metadata__: { dtype: "U8", shape: [0], data: new Uint8Array(0) } }),
    /Cannot encode tensor "__metadata__": the name is reserved/,
  );
  assert.throws(
    () => encodeSafetensors({}, { k: 1 as unknown as string }),
    /Cannot encode metadata: key "k" is 1, not a string/,
  );
});

Deno.test("f16ToF32() decodes special values", () => {
  assert.ok(Object.is(f16ToF32(0x0000), 0));
  assert.ok(Object.is(f16ToF32(0x8000), -0));
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0xc000), -2);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0x0001), 2 ** -24);
  assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24); // largest subnormal
  assert.equal(f16ToF32(0x0400), 2 ** -14); // smallest normal
  assert.equal(f16ToF32(0x7c00), Infinity);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  assert.ok(Number.isNaN(f16ToF32(0xfc01)));
});

Deno.test("f16ToF32() matches DataView.getFloat16 and the formula for all 65536 values", () => {
  const view = new DataView(new ArrayBuffer(2));
  for (let bits = 0; bits < 0x10000; bits++) {
    view.setUint16(0, bits);
    const value = f16ToF32(bits);
    assert.ok(Object.is(value, view.getFloat16(0)), `bits 0x${bits.toString(16)}`);
    assert.ok(Object.is(value, f16Formula(bits)), `bits 0x${bits.toString(16)}`);
    assert.ok(Object.is(value, Math.fround(value)), "every half is exact in f32");
  }
});

Deno.test("bf16ToF32() reinterprets bits << 16 as f32", () => {
  const f32 = new Float32Array(1);
  const u32 = new Uint32Array(f32.buffer);
  for (const bits of [0x0000, 0x8000, 0x3f80, 0xbf80, 0x4049, 0x7f7f, 0x0001, 0x7f80, 0xff80]) {
    u32[0] = bits << 16;
    assert.ok(Object.is(bf16ToF32(bits), f32[0]), `bits 0x${bits.toString(16)}`);
  }
  assert.equal(bf16ToF32(0x3f80), 1);
  assert.equal(bf16ToF32(0xc040), -3);
  assert.ok(Number.isNaN(bf16ToF32(0x7fc0)));
});

Deno.test("float32() returns an aligned copy of a tensor at an unaligned offset", () => {
  const bytes = encodeSafetensors({
    pad: { dtype: "U8", shape: [1], data: new Uint8Array([7]) },
    w: { dtype: "F32", shape: [3], data: new Float32Array([1, 2, 3]) },
    h: { dtype: "F16", shape: [1], data: new Uint16Array([0x3c00]) },
  });
  const file = parseSafetensors(bytes);
  assert.equal(file.entries.get("w")!.begin, 1);
  const w = file.float32("w");
  assert.deepEqual(w, new Float32Array([1, 2, 3]));
  assert.equal(w.byteOffset, 0);
  w[0] = 42; // a copy: the file's bytes are unchanged
  assert.deepEqual(file.float32("w"), new Float32Array([1, 2, 3]));
  assert.deepEqual(file.float32("h"), new Float32Array([1]));
});

Deno.test("float32() of BF16 keeps NaN payloads", () => {
  const bytes = encodeSafetensors({
    b: { dtype: "BF16", shape: [1], data: new Uint16Array([0x7fa1]) },
  });
  const out = parseSafetensors(bytes).float32("b");
  assert.equal(new Uint32Array(out.buffer)[0], 0x7fa10000);
});

Deno.test("raw() returns a view into the parsed bytes", () => {
  const bytes = encodeSafetensors({ u: { dtype: "U8", shape: [2], data: new Uint8Array([5, 6]) } });
  const raw = parseSafetensors(bytes).raw("u");
  assert.equal(raw.buffer, bytes.buffer);
  assert.deepEqual([...raw], [5, 6]);
});

Deno.test("float32() and int32() reject the other kind of dtype", () => {
  const file = parseSafetensors(
    encodeSafetensors({
      i: { dtype: "I32", shape: [1], data: new Int32Array([1]) },
      f: { dtype: "BF16", shape: [1], data: new Uint16Array([0x3f80]) },
    }),
    "m.safetensors",
  );
  assert.throws(
    () => file.float32("i"),
    /^Error: Tensor "i" in "m.safetensors" is I32, expected a float tensor$/,
  );
  assert.throws(
    () => file.int32("f"),
    /^Error: Tensor "f" in "m.safetensors" is BF16, expected an integer tensor$/,
  );
});

Deno.test("int32() rejects I64 values out of int32 range", () => {
  for (const big of [2147483648n, -2147483649n, 1n << 62n]) {
    const bytes = encodeSafetensors({
      ids: { dtype: "I64", shape: [2], data: new BigInt64Array([1n, big]) },
    });
    assert.throws(
      () => parseSafetensors(bytes, "ids.safetensors").int32("ids"),
      new RegExp(
        `^Error: Cannot narrow tensor "ids" in "ids.safetensors" to int32: ` +
          `value ${big} at index 1 is out of range$`,
      ),
    );
  }
});

Deno.test("parseSafetensors() accepts gaps, trailing bytes, empty and scalar tensors", () => {
  const data = new Uint8Array(32);
  new DataView(data.buffer).setFloat32(8, 2.5, true);
  new DataView(data.buffer).setFloat32(12, -1, true);
  const file = parseSafetensors(
    build({
      __metadata__: { format: "pt" },
      s: { dtype: "F32", shape: [], data_offsets: [8, 12] },
      v: { dtype: "F32", shape: [1], data_offsets: [12, 16] },
      empty: { dtype: "F32", shape: [0, 4], data_offsets: [14, 14] },
    }, data),
  );
  // "s" sits after an 8-byte gap, 16 trailing bytes follow "v", and "empty" (inside "v") occupies
  // no bytes, so it overlaps nothing.
  assert.deepEqual(file.float32("s"), new Float32Array([2.5]));
  assert.deepEqual(file.float32("v"), new Float32Array([-1]));
  assert.deepEqual(file.float32("empty"), new Float32Array(0));
  assert.deepEqual(file.entries.get("s")!.shape, []);
  assert.equal(file.source, "<bytes>");
});

Deno.test("parseSafetensors() reads a header in the reference writer's format", () => {
  // Shaped like the CI8x8 encoder fixture: F16 weights, string metadata, space padding.
  const header = '{"__metadata__":{"format":"pt"},' +
    '"encoder.conv_in.bias":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},' +
    '"encoder.conv_in.weight":{"dtype":"F16","shape":[1,2,1,1],"data_offsets":[4,8]}}';
  const padded = header.padEnd(Math.ceil(header.length / 8) * 8, " ");
  const data = new Uint8Array([0x00, 0x3c, 0x00, 0xc0, 0x00, 0x38, 0x01, 0x00]);
  const file = parseSafetensors(build(padded, data), "encoder.safetensors");
  assert.deepEqual(file.metadata, { format: "pt" });
  assert.deepEqual([...file.entries.keys()], ["encoder.conv_in.bias", "encoder.conv_in.weight"]);
  assert.deepEqual(file.entries.get("encoder.conv_in.weight")!.shape, [1, 2, 1, 1]);
  assert.deepEqual(file.float32("encoder.conv_in.bias"), new Float32Array([1, -2]));
  assert.deepEqual(file.float32("encoder.conv_in.weight"), new Float32Array([0.5, 2 ** -24]));
});

// Errors, one test per case.

Deno.test("parseSafetensors() rejects a file shorter than 8 bytes", () => {
  assert.throws(
    () => parseSafetensors(new Uint8Array(5), "short.safetensors"),
    /^Error: Invalid safetensors file "short.safetensors": file has 5 bytes, too short for the header length$/,
  );
});

Deno.test("parseSafetensors() rejects a truncated header", () => {
  const bytes = build("{}").subarray(0, 9);
  assert.throws(
    () => parseSafetensors(bytes, "t.safetensors"),
    /^Error: Invalid safetensors file "t.safetensors": truncated header: header length is 2 bytes but only 1 bytes follow$/,
  );
});

Deno.test("parseSafetensors() rejects an oversized header", () => {
  for (const length of [100_000_001n, 0xffffffffffffffffn]) {
    const bytes = new Uint8Array(16);
    new DataView(bytes.buffer).setBigUint64(0, length, true);
    assert.throws(
      () => parseSafetensors(bytes, "big.safetensors"),
      new RegExp(
        `^Error: Invalid safetensors file "big.safetensors": oversized header: ${length} bytes`,
      ),
    );
  }
});

Deno.test("parseSafetensors() rejects a header that is not valid UTF-8", () => {
  const bytes = withHeaderBytes(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])); // {"\xff":1}
  assert.throws(
    () => parseSafetensors(bytes, "u.safetensors"),
    /^Error: Invalid safetensors file "u.safetensors": header is not valid UTF-8$/,
  );
});

Deno.test("parseSafetensors() rejects a header that is not valid JSON", () => {
  for (const text of ['{"a": ', "", "\ufeff{}", "{} x"]) {
    assert.throws(
      () => parseSafetensors(build(text), "j.safetensors"),
      /^Error: Invalid safetensors file "j.safetensors": header is not valid JSON: /,
    );
  }
});

Deno.test("parseSafetensors() rejects a header that is not a JSON object", () => {
  for (const text of ["[]", "null", "3", '"x"']) {
    assert.throws(
      () => parseSafetensors(build(text), "o.safetensors"),
      /^Error: Invalid safetensors file "o.safetensors": header is not a JSON object$/,
    );
  }
});

Deno.test("parseSafetensors() rejects a tensor entry that is not an object", () => {
  for (const entry of [null, [1], "F32", 4]) {
    assert.throws(
      () => parseEntry(entry),
      /^Error: Invalid safetensors file "x.safetensors": tensor "t" entry is not an object: got /,
    );
  }
});

Deno.test("parseSafetensors() rejects a missing dtype", () => {
  assert.throws(
    () => parseEntry({ shape: [4], data_offsets: [0, 16] }),
    /^Error: Invalid safetensors file "x.safetensors": tensor "t" has no dtype$/,
  );
});

Deno.test("parseSafetensors() rejects an unknown dtype", () => {
  for (const dtype of ["F64", "f32", "BOOL", 4, null]) {
    assert.throws(
      () => parseEntry({ dtype, shape: [2], data_offsets: [0, 16] }),
      new RegExp(
        `^Error: Invalid safetensors file "x.safetensors": tensor "t" has unknown dtype ` +
          `${JSON.stringify(dtype)} \\(expected one of F32, F16, BF16, I32, I64, U8\\)$`,
      ),
    );
  }
});

Deno.test("parseSafetensors() rejects a shape that is not an array of non-negative integers", () => {
  for (const shape of [undefined, 4, [-1], [1.5], ["4"], [null], [2 ** 53]]) {
    assert.throws(
      () => parseEntry({ dtype: "F32", shape, data_offsets: [0, 16] }),
      /^Error: Invalid safetensors file "x.safetensors": tensor "t" has invalid shape: expected an array of non-negative integers, got /,
    );
  }
});

Deno.test("parseSafetensors() rejects invalid data_offsets", () => {
  for (const offsets of [undefined, [0], [0, 4, 8], [-4, 0], [0, 4.5], ["0", "4"], [8, 4]]) {
    assert.throws(
      () => parseEntry({ dtype: "U8", shape: [4], data_offsets: offsets }),
      /^Error: Invalid safetensors file "x.safetensors": tensor "t" has invalid data_offsets: expected \[begin, end\] with 0 <= begin <= end, got /,
    );
  }
});

Deno.test("parseSafetensors() rejects a byte length that does not match the shape", () => {
  const bytes = build(
    { "conv_in.weight": { dtype: "F32", shape: [3], data_offsets: [0, 9] } },
    new Uint8Array(12),
  );
  assert.throws(
    () => parseSafetensors(bytes, "enc.safetensors"),
    /^Error: Invalid safetensors file "enc.safetensors": tensor "conv_in.weight" has 9 bytes, expected 12 \(shape \[3\] x F32\)$/,
  );
});

Deno.test("parseSafetensors() rejects a truncated data section", () => {
  const bytes = encodeSafetensors({
    a: { dtype: "F32", shape: [2], data: new Float32Array(2) },
    b: { dtype: "I64", shape: [1], data: new BigInt64Array(1) },
  });
  assert.throws(
    () => parseSafetensors(bytes.subarray(0, bytes.length - 1), "cut.safetensors"),
    /^Error: Invalid safetensors file "cut.safetensors": truncated data section: tensor "b" ends at byte 16 but the data section has only 15 bytes$/,
  );
});

Deno.test("parseSafetensors() rejects overlapping tensors", () => {
  const bytes = build({
    c: { dtype: "U8", shape: [4], data_offsets: [12, 16] },
    b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
    a: { dtype: "U8", shape: [6], data_offsets: [0, 6] },
  }, new Uint8Array(16));
  assert.throws(
    () => parseSafetensors(bytes, "ov.safetensors"),
    /^Error: Invalid safetensors file "ov.safetensors": tensors "a" and "b" overlap: "a" spans bytes \[0, 6\) and "b" begins at 4$/,
  );
});

Deno.test("parseSafetensors() rejects __metadata__ that is not an object of strings", () => {
  for (const metadata of [null, [], "pt", { format: 1 }, { a: "x", b: null }]) {
    assert.throws(
      () => parseSafetensors(build({ __metadata__: metadata }), "meta.safetensors"),
      /^Error: Invalid safetensors file "meta.safetensors": __metadata__ is not an object of strings: /,
    );
  }
});

Deno.test("float32(), int32() and raw() reject an unknown tensor name", () => {
  const file = parseSafetensors(encodeSafetensors({}), "src");
  assert.throws(() => file.float32("x"), /^Error: Tensor "x" not found in "src"$/);
  assert.throws(() => file.int32("x"), /^Error: Tensor "x" not found in "src"$/);
  assert.throws(() => file.raw("x"), /^Error: Tensor "x" not found in "src"$/);
});

Deno.test("safetensorsSource() views aligned F32 tensors in the file and copies the rest", () => {
  const f32 = new Float32Array([1.5, -2.25, 3, 4]);
  const bytes = encodeSafetensors({
    "a.f32": { dtype: "F32", shape: [4], data: f32 },
    "b.f16": { dtype: "F16", shape: [2], data: new Uint16Array([0x3c00, 0xc000]) },
  });
  const src = safetensorsSource(parseSafetensors(bytes, "v.safetensors"));
  const a = src.float32("a.f32");
  assert.deepEqual([...a], [...f32]);
  assert.equal(a.buffer, bytes.buffer, "an aligned F32 tensor is a view, not a copy");
  const b = src.float32("b.f16");
  assert.deepEqual([...b], [1, -2]);
  assert.notEqual(b.buffer, bytes.buffer, "halves are upcast into a copy");
  // The same file 1 byte into a larger buffer: unaligned F32 data is copied, with equal values.
  const shifted = new Uint8Array(bytes.length + 1);
  shifted.set(bytes, 1);
  const unaligned = safetensorsSource(parseSafetensors(shifted.subarray(1), "u.safetensors"));
  const c = unaligned.float32("a.f32");
  assert.deepEqual([...c], [...f32]);
  assert.notEqual(c.buffer, shifted.buffer);
});
