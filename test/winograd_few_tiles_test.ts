/**
 * The two-pass Winograd F(4x4, 3x3) convolution of asm/winograd.ts (winogradInput over ranges of
 * input channels, then winogradOutput over ranges of output-channel panels), which the backend
 * takes for calls of few tiles (a video's deep layers): against a float64 direct convolution,
 * and bit for bit against the one-pass winogradConv over the same input, for odd sizes (edge
 * tiles cut both ways, one pixel, one tile), channel counts that are not multiples of 4 or of
 * the 6-channel panels, several frames in one call, a channel stride larger than the frames
 * (the floats between left untouched), bias, and residual separate or in place; ranges taken in
 * any order, as threads take them.
 */

import assert from "node:assert/strict";
import { type CpuWasm, cpuWasm } from "../src/backends/wasm/kernels.ts";
import { randomArray } from "./helpers.ts";

/** max |wasm - float64| <= TOL * max |ref|, as test/winograd_test.ts states for F(4x4, 3x3). */
const TOL = 2e-5;

interface Case {
  cin: number;
  cout: number;
  h: number;
  w: number;
  frames: number;
  /** Floats between one channel's frames and the next channel's in Y and R. */
  gap: number;
  bias: boolean;
  res: "none" | "separate" | "inplace";
}

const CASES: Case[] = [
  { cin: 1, cout: 1, h: 1, w: 1, frames: 1, gap: 0, bias: true, res: "none" },
  { cin: 3, cout: 5, h: 5, w: 7, frames: 1, gap: 0, bias: true, res: "separate" },
  { cin: 7, cout: 13, h: 4, w: 4, frames: 2, gap: 3, bias: false, res: "inplace" },
  { cin: 13, cout: 19, h: 9, w: 17, frames: 3, gap: 11, bias: true, res: "separate" },
  { cin: 6, cout: 6, h: 16, w: 16, frames: 3, gap: 0, bias: true, res: "none" },
  { cin: 33, cout: 37, h: 8, w: 20, frames: 1, gap: 0, bias: true, res: "inplace" },
];

const ys = (c: Case) => c.frames * c.h * c.w + c.gap;
const tiles = (c: Case) => c.frames * Math.ceil(c.h / 4) * Math.ceil(c.w / 4);
const name = (c: Case) =>
  `${c.cin}->${c.cout} ${c.frames}x${c.h}x${c.w} gap ${c.gap}${c.bias ? " bias" : ""} res ${c.res}`;

function inputs(c: Case, seed: number) {
  const hp = c.h + 2, wp = c.w + 2, planes = c.cin * c.frames;
  const x = new Float32Array(planes * hp * wp);
  const inner = randomArray(planes * c.h * c.w, seed);
  for (let p = 0; p < planes; p++) {
    for (let i = 0; i < c.h; i++) {
      for (let j = 0; j < c.w; j++) {
        x[(p * hp + i + 1) * wp + j + 1] = inner[(p * c.h + i) * c.w + j];
      }
    }
  }
  const bound = 1 / Math.sqrt(3 * c.cin);
  return {
    x,
    wt: randomArray(c.cout * c.cin * 9, seed + 1, -bound, bound),
    bias: randomArray(c.cout, seed + 2),
    res: randomArray(c.cout * ys(c), seed + 3),
  };
}

/** The plain float64 direct convolution, laid out as Y (NaN in the gaps). */
function direct(c: Case, seed: number): Float64Array {
  const { x, wt, bias, res } = inputs(c, seed);
  const hp = c.h + 2, wp = c.w + 2;
  const out = new Float64Array(c.cout * ys(c)).fill(NaN);
  for (let co = 0; co < c.cout; co++) {
    for (let f = 0; f < c.frames; f++) {
      for (let i = 0; i < c.h; i++) {
        for (let j = 0; j < c.w; j++) {
          let s = c.bias ? bias[co] : 0;
          for (let ci = 0; ci < c.cin; ci++) {
            const plane = (ci * c.frames + f) * hp;
            for (let u = 0; u < 3; u++) {
              for (let v = 0; v < 3; v++) {
                s += wt[((co * c.cin + ci) * 3 + u) * 3 + v] * x[(plane + i + u) * wp + j + v];
              }
            }
          }
          const at = co * ys(c) + (f * c.h + i) * c.w + j;
          out[at] = s + (c.res === "none" ? 0 : res[at]);
        }
      }
    }
  }
  return out;
}

/**
 * How Y is computed: the two passes, each whole or in two ranges the later one first
 * ("split"), or one winogradConv call over every tile.
 */
type Mode = "two-pass" | "split" | "one-pass";
const TWO_PASS_MODES = ["two-pass", "split"] as const;

function run(wasm: CpuWasm, c: Case, seed: number, mode: Mode) {
  const { x, wt, bias, res } = inputs(c, seed);
  const k = wasm.k;
  const ny = c.cout * ys(c), n = tiles(c), panels = Math.ceil(c.cout / 6);
  const scratch = Math.max(
    k.winogradScratchBytes(c.cout, c.cin),
    k.winogradInputScratchBytes(),
    k.winogradOutputScratchBytes(panels, n),
  );
  const [px, pw, pu, pb, pr, py, pv, ps] = wasm.reserve(
    "winograd few tiles test",
    x.length * 4,
    wt.length * 4,
    k.winogradWeightsBytes(c.cout, c.cin),
    c.cout * 4,
    ny * 4,
    ny * 4,
    k.winogradInputBytes(c.cin, n),
    scratch,
  );
  wasm.f32(px, x.length).set(x);
  wasm.f32(pw, wt.length).set(wt);
  wasm.f32(pb, c.cout).set(bias);
  wasm.f32(pr, ny).set(res);
  const y0 = c.res === "inplace" ? res.slice() : new Float32Array(ny).fill(NaN);
  for (let co = 0; co < c.cout; co++) {
    y0.fill(NaN, co * ys(c) + c.frames * c.h * c.w, (co + 1) * ys(c));
  }
  wasm.f32(py, ny).set(y0);
  // Every value of V the products read for real tiles must be written (NaN would show).
  wasm.f32(pv, k.winogradInputBytes(c.cin, n) / 4).fill(NaN);
  k.winogradWeights(pw, pu, c.cout, c.cin);
  const r = c.res === "none" ? 0 : c.res === "inplace" ? py : pr;
  const b = c.bias ? pb : 0;
  if (mode === "one-pass") {
    k.winogradConv(px, pu, b, r, py, c.cin, c.cout, c.h, c.w, c.frames, ys(c), 0, n, ps);
  } else {
    const halves = (total: number) => {
      const cut = mode.endsWith("split") ? Math.floor(total / 2) : 0;
      return cut > 0 ? [[cut, total], [0, cut]] : [[0, total]];
    };
    for (const [c0, c1] of halves(c.cin)) {
      k.winogradInput(px, pv, c.cin, c.h, c.w, c.frames, ps, c0, c1);
    }
    for (const [p0, p1] of halves(panels)) {
      k.winogradOutput(pv, pu, b, r, py, c.cin, c.cout, c.h, c.w, c.frames, ys(c), ps, p0, p1);
    }
  }
  return wasm.f32(py, ny).slice();
}

Deno.test("winogradInput + winogradOutput: odd sizes, frames, gaps, bias and residual against a float64 direct conv", async () => {
  const wasm = await cpuWasm();
  let seed = 40;
  for (const c of CASES) {
    seed += 7;
    const want = direct(c, seed);
    for (const mode of TWO_PASS_MODES) {
      const got = run(wasm, c, seed, mode);
      let maxRef = 0, maxErr = 0;
      for (let i = 0; i < want.length; i++) {
        if (Number.isNaN(want[i])) {
          assert.ok(Number.isNaN(got[i]), `${name(c)} ${mode}: wrote ${got[i]} at ${i}, a gap`);
          continue;
        }
        maxRef = Math.max(maxRef, Math.abs(want[i]));
        const err = Math.abs(got[i] - want[i]);
        if (!(err <= maxErr)) maxErr = Number.isNaN(err) ? Infinity : err;
      }
      assert.ok(
        maxErr <= TOL * maxRef,
        `${name(c)} ${mode}: max |err| ${maxErr}, max |ref| ${maxRef}`,
      );
    }
  }
});

Deno.test("winogradInput + winogradOutput: equal to winogradConv bit for bit, in any ranges", async () => {
  const wasm = await cpuWasm();
  for (const c of CASES) {
    const one = run(wasm, c, 5, "one-pass");
    for (const mode of TWO_PASS_MODES) {
      assert.deepEqual(run(wasm, c, 5, mode), one, `${name(c)} ${mode}`);
    }
  }
});
