/**
 * The WebAssembly Winograd F(4x4, 3x3) convolution of asm/winograd.ts against a direct float64
 * convolution: odd sizes (edge tiles cut both ways), small channel counts not multiples of the
 * micro-tile, bias and residual (also in place), more tiles than one block, several frames in
 * one call (tiles numbered across them) written at a channel stride larger than the frames (the
 * floats between left untouched), and tile ranges split in two that must equal the unsplit call
 * bit for bit.
 */

import assert from "node:assert/strict";
import { type CpuWasm, cpuWasm } from "../src/backends/wasm/kernels.ts";
import { randomArray } from "./helpers.ts";

/**
 * max |wasm - float64| <= TOL * max |ref|: the float32 transforms and sums of F(4x4, 3x3) err
 * by a few 1e-6 of the output's range at these channel counts (measured up to about 1e-6).
 */
const TOL = 2e-5;

interface Conv {
  cin: number;
  cout: number;
  h: number;
  w: number;
  bias: boolean;
  /** Residual: none, a separate buffer, or Y itself (in place). */
  res: "none" | "separate" | "inplace";
  /** Frames in one call (default 1), each padded alone. */
  frames?: number;
  /** Floats between one channel's frames and the next channel's in Y and R (default 0). */
  gap?: number;
}

const framesOf = (c: Conv) => c.frames ?? 1;
/** Y's and R's channel stride in floats. */
const ysOf = (c: Conv) => framesOf(c) * c.h * c.w + (c.gap ?? 0);

function inputs(c: Conv, seed: number) {
  const planes = c.cin * framesOf(c);
  const x = new Float32Array(planes * (c.h + 2) * (c.w + 2));
  const inner = randomArray(planes * c.h * c.w, seed);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < c.h; i++) {
      for (let j = 0; j < c.w; j++) {
        x[(p * (c.h + 2) + i + 1) * (c.w + 2) + j + 1] = inner[(p * c.h + i) * c.w + j];
      }
    }
  }
  const wt = randomArray(
    c.cout * c.cin * 9,
    seed + 1,
    -1 / Math.sqrt(3 * c.cin),
    1 / Math.sqrt(3 * c.cin),
  );
  const bias = randomArray(c.cout, seed + 2);
  const res = randomArray(c.cout * ysOf(c), seed + 3);
  return { x, wt, bias, res };
}

/** Y by a float64 direct convolution, laid out as winogradConv writes it (NaN in the gaps). */
function direct(c: Conv, seed: number): Float64Array {
  const { x, wt, bias, res } = inputs(c, seed);
  const frames = framesOf(c), ys = ysOf(c);
  const out = new Float64Array(c.cout * ys).fill(NaN);
  const wp = c.w + 2, hp = c.h + 2;
  for (let co = 0; co < c.cout; co++) {
    for (let f = 0; f < frames; f++) {
      for (let i = 0; i < c.h; i++) {
        for (let j = 0; j < c.w; j++) {
          let s = c.bias ? bias[co] : 0;
          for (let ci = 0; ci < c.cin; ci++) {
            const plane = (ci * frames + f) * hp;
            for (let u = 0; u < 3; u++) {
              for (let v = 0; v < 3; v++) {
                s += wt[((co * c.cin + ci) * 3 + u) * 3 + v] * x[(plane + i + u) * wp + j + v];
              }
            }
          }
          const at = co * ys + (f * c.h + i) * c.w + j;
          out[at] = s + (c.res === "none" ? 0 : res[at]);
        }
      }
    }
  }
  return out;
}

/** Runs winogradConv over each tile range in turn; returns Y. */
function run(wasm: CpuWasm, c: Conv, seed: number, ranges: number[][]): Float32Array {
  const { x, wt, bias, res } = inputs(c, seed);
  const k = wasm.k;
  const ny = c.cout * ysOf(c);
  const [px, pw, pu, pb, pr, py, ps] = wasm.reserve(
    "winograd test",
    x.length * 4,
    wt.length * 4,
    k.winogradWeightsBytes(c.cout, c.cin),
    c.cout * 4,
    ny * 4,
    ny * 4,
    k.winogradScratchBytes(c.cout, c.cin),
  );
  wasm.f32(px, x.length).set(x);
  wasm.f32(pw, wt.length).set(wt);
  wasm.f32(pb, c.cout).set(bias);
  wasm.f32(pr, ny).set(res);
  // NaN where nothing may be written (the gaps between channels), and everywhere without an
  // in-place residual.
  const y0 = c.res === "inplace" ? res.slice() : new Float32Array(ny).fill(NaN);
  const valid = framesOf(c) * c.h * c.w;
  for (let co = 0; co < c.cout; co++) y0.fill(NaN, co * ysOf(c) + valid, (co + 1) * ysOf(c));
  wasm.f32(py, ny).set(y0);
  k.winogradWeights(pw, pu, c.cout, c.cin);
  const resPtr = c.res === "none" ? 0 : c.res === "inplace" ? py : pr;
  for (const [t0, t1] of ranges) {
    k.winogradConv(
      px,
      pu,
      c.bias ? pb : 0,
      resPtr,
      py,
      c.cin,
      c.cout,
      c.h,
      c.w,
      framesOf(c),
      ysOf(c),
      t0,
      t1,
      ps,
    );
  }
  return wasm.f32(py, ny).slice();
}

const tiles = (c: Conv) => framesOf(c) * Math.ceil(c.h / 4) * Math.ceil(c.w / 4);
const name = (c: Conv) =>
  `${c.cin}->${c.cout} ${framesOf(c)}x${c.h}x${c.w}${c.bias ? " bias" : ""} res ${c.res}` +
  (c.gap ? ` gap ${c.gap}` : "");

function check(got: Float32Array, want: Float64Array, what: string): void {
  let maxRef = 0, maxErr = 0;
  for (let i = 0; i < want.length; i++) {
    // The gaps: nothing written there (NaN stays NaN).
    if (Number.isNaN(want[i])) {
      assert.ok(Number.isNaN(got[i]), `${what}: wrote ${got[i]} at ${i}, between channels`);
      continue;
    }
    maxRef = Math.max(maxRef, Math.abs(want[i]));
    const err = Math.abs(got[i] - want[i]);
    if (!(err <= maxErr)) maxErr = Number.isNaN(err) ? Infinity : err;
  }
  assert.ok(maxErr <= TOL * maxRef, `${what}: max |err| ${maxErr}, max |ref| ${maxRef}`);
}

const CASES: Conv[] = [
  { cin: 1, cout: 1, h: 1, w: 1, bias: true, res: "none" },
  { cin: 3, cout: 5, h: 5, w: 7, bias: true, res: "separate" },
  { cin: 8, cout: 7, h: 9, w: 4, bias: false, res: "none" },
  { cin: 13, cout: 12, h: 6, w: 11, bias: true, res: "inplace" },
  { cin: 5, cout: 9, h: 33, w: 35, bias: true, res: "separate" }, // 81 tiles: two blocks
  { cin: 16, cout: 6, h: 2, w: 30, bias: false, res: "separate" },
  { cin: 7, cout: 13, h: 8, w: 20, bias: true, res: "inplace" }, // whole rows of four tiles
  { cin: 180, cout: 181, h: 5, w: 70, bias: true, res: "separate" }, // blocks of 64 tiles
  // Several frames in one call: blocks of tiles that span frames, edge tiles in every frame.
  { cin: 6, cout: 7, h: 5, w: 6, bias: true, res: "separate", frames: 3 },
  { cin: 9, cout: 8, h: 8, w: 16, bias: false, res: "inplace", frames: 4, gap: 13 },
  { cin: 5, cout: 6, h: 7, w: 17, bias: true, res: "none", frames: 5, gap: 40 },
];

Deno.test("winograd conv: odd sizes, bias and residual against a float64 direct conv", async () => {
  const wasm = await cpuWasm();
  let seed = 10;
  for (const c of CASES) {
    seed += 5;
    check(run(wasm, c, seed, [[0, tiles(c)]]), direct(c, seed), name(c));
  }
});

Deno.test("winograd conv: tile ranges split in two equal the unsplit call", async () => {
  const wasm = await cpuWasm();
  for (const c of CASES) {
    const n = tiles(c);
    const whole = run(wasm, c, 3, [[0, n]]);
    for (const cut of [1, Math.floor(n / 2), n - 1]) {
      if (cut <= 0 || cut >= n) continue;
      assert.deepEqual(run(wasm, c, 3, [[cut, n], [0, cut]]), whole, `${name(c)} cut ${cut}`);
    }
  }
});

Deno.test("winograd weights: the panel-blocked transform equals the per-channel one bit for bit", async () => {
  const wasm = await cpuWasm();
  const k = wasm.k;
  // Cout not a multiple of the 6-channel panels, Cin not a multiple of the 8-channel blocks.
  for (const [cout, cin] of [[1, 1], [7, 13], [18, 8], [131, 29]]) {
    const wt = randomArray(cout * cin * 9, cout + cin, -1, 1);
    const bytes = k.winogradWeightsBytes(cout, cin);
    const [pw, pa, pb, ps] = wasm.reserve(
      "winograd weights test",
      wt.length * 4,
      bytes,
      bytes,
      k.winogradWeightsScratchBytes(),
    );
    wasm.f32(pw, wt.length).set(wt);
    wasm.f32(pb, bytes / 4).fill(NaN); // every float must be written, the padding channels too
    k.winogradWeights(pw, pa, cout, cin);
    const panels = Math.ceil(cout / 6);
    // In two ranges, the later first, as threads would take them.
    const cut = Math.floor(panels / 2);
    k.winogradWeightsPanels(pw, pb, cout, cin, ps, cut, panels);
    k.winogradWeightsPanels(pw, pb, cout, cin, ps, 0, cut);
    assert.deepEqual(
      wasm.f32(pb, bytes / 4).slice(),
      wasm.f32(pa, bytes / 4).slice(),
      `${cout}x${cin}`,
    );
  }
});
