/**
 * Convolutions on the WebAssembly backend, by the cheapest path the geometry allows: 3x3
 * stride-1 convolutions are Winograd F(4x4, 3x3) on a padded copy of the frames; 1x1
 * and causal temporal convolutions multiply the input directly; the rest are matrix products
 * over gathered columns (im2col), a bounded block at a time. GroupNorm, SiLU, upsampling and
 * padding are applied while the input is gathered.
 * @module
 */

import type { ConvOptions, ConvWeights, FusedNorm, Tensor } from "../ops.ts";
import { type ConvGeometry, convGeometry } from "../geometry.ts";
import type { LaunchArgs } from "./kernels.ts";
import { CHUNKS_PER_THREAD, type WasmRuntime, type WasmTensor } from "./runtime.ts";
import { gemm, gemmPacked, packA, type PackedA } from "./gemm.ts";
import { groupNorm } from "./norm.ts";
import { ParkedTensor } from "./parking.ts";

/** im2col's normalisation arguments. */
type GatherNorm = Pick<
  LaunchArgs<"im2col">,
  "stats" | "gammaBeta" | "groups" | "statFrames" | "act"
>;

/** A convolution (the op interface's `conv`). */
export function conv(rt: WasmRuntime, xIn: Tensor, w: ConvWeights, opts: ConvOptions): Tensor {
  const x = rt.tensor(xIn);
  const g = convGeometry(x.shape, w, opts);
  const { b, cin, tIn, hIn, wIn, kt, kh, kw, st, sh, sw, padT, up, tOut, hOut, wOut } = g;
  const [plH, plW, phH, phW] = [g.padLowH, g.padLowW, g.padHighH, g.padHighW];
  const M = w.cout, P = tOut * hOut * wOut, K = cin * kt * kh * kw;
  const pIn = tIn * hIn * wIn;
  const out = rt.alloc(g.outShape, "f32", "conv");
  const weight = rt.tensor(w.weight).ptr, bias = rt.tensor(w.bias).ptr;
  const residual = opts.residual ? rt.tensor(opts.residual) : null;
  if (residual) rt.f32(out.ptr, out.size).set(rt.f32(residual.ptr, residual.size));
  const norm = opts.norm;
  const direct = K === cin && st === 1 && sh === 1 && sw === 1 && up === 1 && !norm &&
    plH + phH + plW + phW + padT === 0;
  const family = g.family;
  // Causal (kt, 1, 1) convolutions multiply frames directly, one tap at a time.
  const temporal = family === "conv-time" && st === 1 && sh === 1 && sw === 1 && up === 1 &&
    plH + phH + plW + phW === 0;
  const winograd = kt === 1 && kh === 3 && kw === 3 && st === 1 && sh === 1 && sw === 1 &&
    plH <= 1 && phH <= 1 && plW === 1 && phW === 1 &&
    rt.kernels.winogradScratchBytes(M, cin) <= rt.scratchBytes;
  rt.timed(family, 2 * M * K * P * b, () => {
    if (winograd) {
      winogradConv(rt, x, w, opts, out, [b, cin, tIn, hIn, wIn], up, [plH, phH]);
      return;
    }
    if (temporal) {
      temporalConv(rt, x, w, opts, out, g);
      return;
    }
    if (opts.context) throw new Error("conv context: the conv must have no spatial padding");
    if (direct) {
      // The weights packed once for every batch item and every thread's block.
      const A = packA(rt, weight, K, 1, M, K);
      try {
        for (let bi = 0; bi < b; bi++) {
          const product = {
            b: x.ptr + 4 * bi * cin * pIn,
            sbk: pIn,
            c: out.ptr + 4 * bi * M * P,
            ldc: P,
            N: P,
            bias,
            accumulate: !!residual,
          };
          if (A) gemmPacked(rt, A, product);
          else gemm(rt, { ...product, a: weight, sam: K, sak: 1, sbn: 1, M, K });
        }
      } finally {
        if (A) rt.heap.free(A.ptr);
      }
      return;
    }
    const len = Math.max(1, Math.min(P, Math.floor(rt.columnBytes / (4 * K))));
    const col = rt.heap.alloc(4 * K * len, "convolution columns");
    // The weights packed once for every block of columns (and every thread's part of it).
    let A: PackedA | null = null;
    try {
      A = packA(rt, weight, K, 1, M, K);
      for (let bi = 0; bi < b; bi++) {
        for (let q0 = 0; q0 < P; q0 += len) {
          const n = Math.min(len, P - q0);
          rt.launch("im2col", {
            x: x.ptr + 4 * bi * cin * pIn,
            col,
            cin,
            tIn,
            hIn,
            wIn,
            kt,
            kh,
            kw,
            tOut,
            hOut,
            wOut,
            st,
            sh,
            sw,
            padT,
            padH: plH,
            padW: plW,
            up,
            ...gatherNorm(rt, norm, bi),
            q0,
            len: n,
          }, K);
          const product = {
            b: col,
            sbk: n,
            c: out.ptr + 4 * (bi * M * P + q0),
            ldc: P,
            N: n,
            bias,
            accumulate: !!residual,
          };
          if (A) gemmPacked(rt, A, product);
          else gemm(rt, { ...product, a: weight, sam: K, sak: 1, sbn: 1, M, K });
        }
      }
    } finally {
      rt.heap.free(col);
      if (A) rt.heap.free(A.ptr);
    }
  });
  return out;
}

/** im2col's normalisation arguments for batch item `bi`, or no normalisation. */
function gatherNorm(rt: WasmRuntime, norm: FusedNorm | undefined, bi: number): GatherNorm {
  if (!norm) return { stats: 0, gammaBeta: 0, groups: 1, statFrames: 1, act: 0 };
  const stats = rt.tensor(norm.stats);
  const { groups } = norm.weights;
  const frames = stats.shape[1];
  return {
    stats: stats.ptr + 4 * bi * frames * groups * 2,
    gammaBeta: rt.tensor(norm.weights.gammaBeta).ptr,
    groups,
    statFrames: frames,
    act: norm.silu ? 1 : 0,
  };
}

/**
 * A 3x3, stride 1, pad 1 convolution by Winograd F(4x4, 3x3) (asm/winograd.ts): the input is
 * gathered into zero-padded planes (normalised, upsampled), then transformed, multiplied and
 * transformed back by bands of tile rows on every thread, written straight into the output (the
 * kernel takes the output's channel stride, so a frame or a band of rows needs no staging copy).
 * As many frames as fit `winogradBandBytes` of padded copy go in one call, their tiles numbered
 * together, so that small planes (a video's deep layers) still make products wide enough to
 * keep every thread busy; a frame larger than that goes in bands of rows (a band reads one row
 * of halo above and below; its rows are whole tiles, so the sums are those of one pass): a
 * whole 720p frame of 512 channels would be 120 MB. A call of few tiles (a video's deep layers:
 * 48 tiles at 3 frames of 16 x 16) is split by output channels instead (fewTiles), so that the
 * transformed weights are read once rather than once per thread's sliver of tiles. The weights
 * are transformed per call into a transient buffer unless the cache keeps them (runtime.ts).
 */
function winogradConv(
  rt: WasmRuntime,
  x: WasmTensor,
  w: ConvWeights,
  opts: ConvOptions,
  out: WasmTensor,
  [b, cin, frames, hIn, wIn]: number[],
  up: number,
  [padTop, padBottom]: number[],
): void {
  const cout = w.cout;
  // Output rows: the input's, unless a row band's window (../bands.ts) brings its halo rows
  // instead of zero padding (padTop or padBottom 0).
  const h = hIn * up + padTop + padBottom - 2, wd = wIn * up, hp = h + 2, wp = wd + 2;
  const plane = h * wd, pIn = frames * hIn * wIn;
  const frameBytes = 4 * cin * hp * wp;
  // Frames per call, or (a frame too large) rows per band: a multiple of the 4-row tiles.
  const perCall = Math.max(1, Math.min(frames, Math.floor(rt.winogradBandBytes / frameBytes)));
  const fit = Math.floor(rt.winogradBandBytes / (4 * cin * wp)) - 2;
  const bandRows = frameBytes <= rt.winogradBandBytes || fit >= h
    ? h
    : Math.max(4, Math.floor(fit / 4) * 4);
  const callTiles = (bandRows < h ? Math.ceil(bandRows / 4) : perCall * Math.ceil(h / 4)) *
    Math.ceil(wd / 4);
  const few = fewTilesChunk(rt, cin, cout, callTiles);
  const { ptr: u, owned } = rt.winogradWeights(w, b * frames * plane);
  const xp = rt.heap.alloc(
    bandRows < h ? 4 * cin * (bandRows + 2) * wp : perCall * frameBytes,
    "padded input",
  );
  try {
    const norm = opts.norm;
    const bias = rt.tensor(w.bias).ptr;
    // The residual was copied into `out`: the kernel adds it in place.
    const inPlace = !!opts.residual;
    for (let bi = 0; bi < b; bi++) {
      const outBase = out.ptr + 4 * bi * cout * frames * plane;
      const step = bandRows < h ? 1 : perCall;
      for (let f = 0; f < frames; f += step) {
        const nf = Math.min(step, frames - f);
        for (let r0 = 0; r0 < h; r0 += bandRows) {
          const rowsHere = Math.min(bandRows, h - r0);
          // A 1x1 "convolution" with pad 1 gathers the padded, normalised, upsampled rows:
          // frames [f, f + nf) whole, or one band of frame f with its halo rows.
          rt.launch("im2col", {
            x: x.ptr + 4 * bi * cin * pIn,
            col: xp,
            cin,
            tIn: frames,
            hIn,
            wIn,
            kt: 1,
            kh: 1,
            kw: 1,
            tOut: frames,
            hOut: hp,
            wOut: wp,
            st: 1,
            sh: 1,
            sw: 1,
            padT: 0,
            padH: padTop,
            padW: 1,
            up,
            ...gatherNorm(rt, norm, bi),
            q0: f * hp * wp + r0 * wp,
            len: bandRows < h ? (rowsHere + 2) * wp : nf * hp * wp,
          }, cin);
          // Where these rows start in channel 0 of the output; channels are frames x plane apart.
          const y = outBase + 4 * (f * plane + r0 * wd);
          const args = {
            x: xp,
            u,
            bias,
            res: inPlace ? y : 0,
            y,
            cin,
            cout,
            h: rowsHere,
            w: wd,
            frames: nf,
            ys: frames * plane,
          };
          if (few) {
            fewTiles(rt, args, nf * Math.ceil(rowsHere / 4) * Math.ceil(wd / 4), few);
          } else rt.launch("winogradRows", args, nf * Math.ceil(rowsHere / 4), 1);
        }
      }
    }
  } finally {
    if (owned) rt.heap.free(u);
    rt.heap.free(xp);
  }
}

/**
 * Bytes of the transformed tiles at one position (cin x tiles floats) up to which a call may
 * take the two passes split by output channels (fewTiles): half of this machine class's 1.25
 * MiB L2, so that they stay there while a thread's channels sweep them (512 channels: 320
 * tiles). Measured on 2 threads of an Ice Lake Xeon, wall ms per call (min of 10), one pass
 * -> two, three runs each on a quiet machine: 512 channels at 3 x 32 x 32 (192 tiles) 133, 138,
 * 163 -> 93, 108, 115; 256 channels there 35.7, 35.1, 54.3 -> 27.8, 30.6, 35.5, at 1 x 32 x 32
 * 13.0, 13.6, 18.5 -> 8.9, 10.5, 11.3; against the code before, 512 channels at 3 x 16 x 16 (48
 * tiles) with GroupNorm and SiLU 72, 62 -> 24, 39, at 1 x 16 x 16 28, 29 -> 9, 14.
 */
const FEW_TILES_BYTES = 640 << 10;

/**
 * Panels of 6 output channels per chunk of winogradOutput when a call of `tiles` tiles of `cin`
 * channels takes the two passes (fewTiles), or 0 when it takes winogradRows: tiles past
 * FEW_TILES_BYTES, more tiles than output channels (then V, read once per chunk, outweighs U,
 * read once), or a thread's scratch too small for its channels' products.
 */
function fewTilesChunk(rt: WasmRuntime, cin: number, cout: number, tiles: number): number {
  const padded = Math.ceil(tiles / 8) * 8;
  if (4 * cin * padded > FEW_TILES_BYTES || padded > Math.ceil(cout / 6) * 6) return 0;
  const chunk = Math.ceil(Math.ceil(cout / 6) / (rt.threads * CHUNKS_PER_THREAD));
  return rt.kernels.winogradOutputScratchBytes(chunk, tiles) <= rt.scratchBytes ? chunk : 0;
}

/**
 * winogradRows' call as two passes (asm/winograd.ts winogradInput and winogradOutput): every
 * tile's input transform once, split by input channels, then the products and output
 * transform split by output channels (`chunk` panels of 6 at a time), so that U is read once
 * rather than once per thread's sliver of tiles.
 */
function fewTiles(
  rt: WasmRuntime,
  args: LaunchArgs<"winogradRows">,
  tiles: number,
  chunk: number,
): void {
  const v = rt.heap.alloc(rt.kernels.winogradInputBytes(args.cin, tiles), "Winograd tiles");
  try {
    const { x, cin, h, w, frames } = args;
    rt.launch("winogradInput", { x, v, cin, h, w, frames }, cin);
    rt.launch("winogradOutput", { ...args, v }, Math.ceil(args.cout / 6), chunk);
  } finally {
    rt.heap.free(v);
  }
}

/**
 * A causal temporal convolution (kt, 1, 1): out[:, t] = bias + sum_dt W[:, :, dt] x[:, t - padT
 * + dt] (frames before 0 read frame 0, or the stream's carried frames of `context`). The
 * weights [cout, cin kt] are the A of one product over depth cin kt whose B rows (ci, dt) are
 * channel ci's frames shifted by dt: a table of row addresses (asm/gemm.ts gemmPacked), so
 * nothing is gathered and C is written once. Output frames from padT on read no padding and go
 * in one product; each earlier frame has its own table. A parked context, or weights too large
 * to pack, take one product per tap instead (temporalByTaps).
 */
function temporalConv(
  rt: WasmRuntime,
  x: WasmTensor,
  w: ConvWeights,
  opts: ConvOptions,
  out: WasmTensor,
  g: ConvGeometry,
): void {
  const { b, cin, tIn, hIn, wIn, kt, padT, tOut } = g;
  const cout = w.cout, hw = hIn * wIn, K = cin * kt;
  const context = opts.context ? rt.stored(opts.context) : null;
  if (context instanceof ParkedTensor) return temporalByTaps(rt, x, w, opts, out, g);
  const A = packA(rt, rt.tensor(w.weight).ptr, K, 1, cout, K);
  if (!A) return temporalByTaps(rt, x, w, opts, out, g);
  const norm = opts.norm;
  const src = norm ? groupNorm(rt, x, norm) : x;
  const rows = rt.heap.alloc(4 * K, "temporal conv rows");
  try {
    const bias = rt.tensor(w.bias).ptr;
    for (let bi = 0; bi < b; bi++) {
      const xb = src.ptr + 4 * bi * cin * tIn * hw;
      const ob = out.ptr + 4 * bi * cout * tOut * hw;
      /** Output frames [t, t + frames): row (ci, dt) reads input frame t - padT + dt on. */
      const product = (t: number, frames: number) => {
        const table = new Int32Array(rt.heap.memory.buffer, rows, K);
        for (let ci = 0; ci < cin; ci++) {
          for (let dt = 0; dt < kt; dt++) {
            const f = t - padT + dt;
            table[ci * kt + dt] = f >= 0
              ? xb + 4 * (ci * tIn + f) * hw
              : context
              ? context.ptr + 4 * ((bi * cin + ci) * (kt - 1) + f + kt - 1) * hw
              : xb + 4 * ci * tIn * hw;
          }
        }
        gemmPacked(rt, A, {
          b: 0,
          sbk: 0,
          rows,
          c: ob + 4 * t * hw,
          ldc: tOut * hw,
          N: frames * hw,
          bias,
          accumulate: !!opts.residual,
        });
      };
      const t0 = Math.min(tOut, padT);
      for (let t = 0; t < t0; t++) product(t, 1);
      if (t0 < tOut) product(t0, tOut - t0);
    }
  } finally {
    rt.heap.free(rows);
    rt.heap.free(A.ptr);
    if (src !== x) rt.release(src);
  }
}

/**
 * temporalConv as kt accumulating products per output frame, one per tap, on the input itself
 * (or its normalised copy): a parked context is copied in a frame at a time, so the heap never
 * holds the carried frames beside the step's.
 */
function temporalByTaps(
  rt: WasmRuntime,
  x: WasmTensor,
  w: ConvWeights,
  opts: ConvOptions,
  out: WasmTensor,
  g: ConvGeometry,
): void {
  const { b, cin, tIn, hIn, wIn, kt, padT, tOut } = g;
  const cout = w.cout, hw = hIn * wIn;
  const norm = opts.norm;
  const src = norm ? groupNorm(rt, x, norm) : x;
  const context = opts.context ? rt.stored(opts.context) : null;
  const parked = context instanceof ParkedTensor ? context : null;
  const held = parked ? null : context as WasmTensor | null;
  // One frame of every (batch, channel) of a parked context, copied in when a tap reads it.
  const staged = parked ? rt.alloc([b, cin, 1, hIn, wIn], "f32", "conv context frame") : null;
  let stagedFrame = -1;
  /** Where frame `f` (of kt - 1) of the context starts for batch `bi`, and its channel stride. */
  const contextFrame = (bi: number, f: number): [number, number] => {
    if (held) return [held.ptr + 4 * (bi * cin * (kt - 1) + f) * hw, (kt - 1) * hw];
    if (stagedFrame !== f) {
      const words = new Int32Array(rt.heap.memory.buffer);
      rt.parking.copyOut(parked!, f, f + 1, b * cin, hw, words, staged!.ptr / 4, hw);
      stagedFrame = f;
    }
    return [staged!.ptr + 4 * bi * cin * hw, hw];
  };
  try {
    const weight = rt.tensor(w.weight).ptr, bias = rt.tensor(w.bias).ptr;
    for (let dt = 0; dt < kt; dt++) {
      for (let bi = 0; bi < b; bi++) {
        const xb = src.ptr + 4 * bi * cin * tIn * hw;
        const ob = out.ptr + 4 * bi * cout * tOut * hw;
        // Tap dt of output frames t >= t0 reads frames t - padT + dt, consecutive in memory:
        // one product over all of them. Earlier frames read frame 0 (or the context), one
        // product each.
        const product = (t: number, frames: number, from: number, stride: number) =>
          gemm(rt, {
            a: weight + 4 * dt,
            sam: cin * kt,
            sak: kt,
            b: from,
            sbk: stride,
            sbn: 1,
            c: ob + 4 * t * hw,
            ldc: tOut * hw,
            M: cout,
            N: frames * hw,
            K: cin,
            bias: dt === 0 ? bias : 0,
            accumulate: dt > 0 || !!opts.residual,
          });
        const t0 = Math.min(tOut, Math.max(0, padT - dt));
        for (let t = 0; t < t0; t++) {
          if (context) product(t, 1, ...contextFrame(bi, t + dt));
          else product(t, 1, xb, tIn * hw);
        }
        if (t0 < tOut) product(t0, tOut - t0, xb + 4 * (t0 - padT + dt) * hw, tIn * hw);
      }
    }
  } finally {
    if (src !== x) rt.release(src);
    if (staged) rt.release(staged);
  }
}
