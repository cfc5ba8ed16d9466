/**
 * The host's parameter layouts (src/backends/webgpu/params.ts) against the shaders' `struct
 * Params`: same fields, same types, same order, for every WGSL file. Pure CPU: no adapter.
 * @module
 */

import assert from "node:assert/strict";
import { WGSL } from "../src/generated/wgsl.ts";
import { declaredParams, defineParams } from "../src/backends/webgpu/params.ts";
// Loads every lowering module, each of which declares its layouts.
import "../src/backends/webgpu/backend.ts";

/** WGSL types compared without their spacing: `array<vec4<u32>, 2>` as `array<vec4<u32>,2>`. */
function normType(type: string): string {
  return type.replace(/\s+/g, "");
}

/** The fields of a WGSL source's `struct Params` as [name, type], or null where it has none. */
function parseParams(src: string): [string, string][] | null {
  const code = src.replace(/\/\/[^\n]*/g, "");
  const m = /\bstruct\s+Params\s*\{([^}]*)\}/.exec(code);
  if (!m) return null;
  // Split at the commas outside <...> (array<vec4<u32>, 2> holds one).
  const items: string[] = [];
  let depth = 0, start = 0;
  const body = m[1];
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "<") depth++;
    else if (body[i] === ">") depth--;
    else if (body[i] === "," && depth === 0) {
      items.push(body.slice(start, i));
      start = i + 1;
    }
  }
  items.push(body.slice(start));
  return items.map((s) => s.trim()).filter((s) => s).map((item) => {
    const colon = item.indexOf(":");
    assert.ok(colon > 0, `Cannot parse struct field "${item}"`);
    return [item.slice(0, colon).trim(), normType(item.slice(colon + 1))];
  });
}

/** Every WGSL file's `struct Params`, by file name. */
function shaderParams(): Map<string, [string, string][]> {
  const out = new Map<string, [string, string][]>();
  for (const [kernel, src] of Object.entries(WGSL)) {
    const fields = parseParams(src);
    if (fields) out.set(`${kernel}.wgsl`, fields);
  }
  return out;
}

Deno.test("every WGSL struct Params has one host layout with the same fields, types and order", () => {
  const shaders = shaderParams();
  assert.ok(shaders.size >= 9, `only ${shaders.size} WGSL files declare struct Params`);
  const declared = new Map(declaredParams().map((l) => [l.file, l]));
  for (const [file, fields] of shaders) {
    const layout = declared.get(file);
    assert.ok(layout, `${file} has a struct Params but no defineParams("${file}", ...)`);
    assert.deepEqual(
      layout.fields.map(([name, type]) => [name, normType(type)]),
      fields,
      `defineParams("${file}") disagrees with the struct Params of ${file}`,
    );
  }
  for (const file of declared.keys()) {
    assert.ok(shaders.has(file), `defineParams("${file}") names no WGSL struct Params`);
  }
});

Deno.test("parseParams() reads fields across comments, lines and array types", () => {
  const src = `// struct Params { not: u32 }
    struct Params {
      a: u32, // first
      b: f32,
      c: array<vec4<f32>, 2>,
    }`;
  assert.deepEqual(parseParams(src), [["a", "u32"], ["b", "f32"], ["c", "array<vec4<f32>,2>"]]);
  assert.equal(parseParams("fn main() {}"), null);
});

/** The declared layout of a WGSL file, untyped: the tests pass it hand-made objects. */
function layoutOf(file: string) {
  const layout = declaredParams().find((l) => l.file === file);
  assert.ok(layout, `no layout for ${file}`);
  return layout as unknown as {
    byteSize: number;
    pack(values: Record<string, number | number[]>): ArrayBuffer;
  };
}

Deno.test("pack() lays fields out by the WGSL rules: scalars at 4 bytes, vec4 arrays at 16", () => {
  // groupnorm.wgsl: eight 4-byte fields, eps an f32 at byte 20.
  const norm = layoutOf("groupnorm.wgsl");
  const n = norm.pack({
    channels: 64,
    frames: 3,
    spatial: 100,
    groups: 32,
    ch_per_group: 2,
    eps: 1e-6,
    silu: 1,
    total: 19200,
  });
  assert.equal(norm.byteSize, 32);
  assert.deepEqual([...new Uint32Array(n)].filter((_, i) => i !== 5), [
    64,
    3,
    100,
    32,
    2,
    1,
    19200,
  ]);
  assert.equal(new Float32Array(n)[5], Math.fround(1e-6));
  // fsq.wgsl: a 16-byte header, then five arrays of two vec4 each, unused lanes zero.
  const fsq = layoutOf("fsq.wgsl");
  const f = fsq.pack({
    positions: 10,
    dims: 3,
    total: 20,
    levels: [8, 5, 5],
    basis: [1, 8, 40],
    half_l: [3.5, 2, 2],
    offset: [0.5, 0, 0],
    shift: [0.25, 0, 0],
  });
  assert.equal(fsq.byteSize, 176);
  const u = new Uint32Array(f), x = new Float32Array(f);
  assert.deepEqual([...u.slice(0, 20)], [
    ...[10, 3, 20, 0],
    ...[8, 5, 5, 0, 0, 0, 0, 0],
    ...[1, 8, 40, 0, 0, 0, 0, 0],
  ]);
  assert.deepEqual([...x.slice(20, 23)], [3.5, 2, 2]);
  assert.deepEqual([...x.slice(28, 29)], [0.5]);
  assert.deepEqual([...x.slice(36, 44)], [0.25, 0, 0, 0, 0, 0, 0, 0]);
});

Deno.test("pack() rejects missing, unknown and oversized fields; a file is declared once", () => {
  const haar = layoutOf("haar.wgsl");
  assert.throws(() => haar.pack({ channels: 1, h: 1, w: 1 }), /missing field total/);
  assert.throws(
    () => haar.pack({ channels: 1, h: 1, w: 1, total: 1, t: 1 }),
    /unknown field t/,
  );
  const fsq = layoutOf("fsq.wgsl");
  const nine = [2, 2, 2, 2, 2, 2, 2, 2, 2];
  assert.throws(
    () =>
      fsq.pack({
        positions: 1,
        dims: 9,
        total: 1,
        levels: nine,
        basis: nine,
        half_l: nine,
        offset: nine,
        shift: nine,
      }),
    /9 values do not fit levels/,
  );
  assert.throws(() => defineParams("haar.wgsl", []), /declared twice/);
});
