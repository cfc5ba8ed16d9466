/**
 * The shapes of the ops, worked out and checked once for every backend: each backend's op
 * validates its inputs and sizes its outputs here, then only launches kernels, so a bad shape
 * fails the same way, before anything is allocated, whichever backend runs it.
 * @module
 */

import { fmtShape, numel } from "../types.ts";
import type { ConvOptions, ConvWeights, FrameRange, GroupNormOptions } from "./ops.ts";

/** A convolution's extents; see ConvOptions for the padding and upsampling conventions. */
export interface ConvGeometry {
  video: boolean;
  b: number;
  cin: number;
  tIn: number;
  hIn: number;
  wIn: number;
  kt: number;
  kh: number;
  kw: number;
  st: number;
  sh: number;
  sw: number;
  /** Causal temporal padding (taps before frame 0 read frame 0). */
  padT: number;
  padLowH: number;
  padLowW: number;
  padHighH: number;
  padHighW: number;
  /** 2 when the input is read through a nearest 2x upsample, else 1. */
  up: number;
  tOut: number;
  hOut: number;
  wOut: number;
  outShape: number[];
  /** Kernel family for profiles: "conv3x3" (spatial taps), "conv-time" (temporal only), "conv1x1". */
  family: "conv3x3" | "conv-time" | "conv1x1";
}

export function convGeometry(
  shape: readonly number[],
  w: ConvWeights,
  opts: ConvOptions,
): ConvGeometry {
  const video = shape.length === 5;
  if (shape.length !== 4 && !video) {
    throw new Error(`conv expects a rank 4 or 5 input, got ${fmtShape(shape)}`);
  }
  const [b, cin] = shape;
  const [tIn, hIn, wIn] = video ? shape.slice(2) : [1, shape[2], shape[3]];
  if (cin !== w.cin) {
    throw new Error(`conv expects ${w.cin} input channels, got ${fmtShape(shape)}`);
  }
  const [kt, kh, kw] = w.kernel;
  const [st, sh, sw] = opts.stride ?? [1, 1, 1];
  const [padLowH, padLowW] = opts.padLow ?? [(kh - 1) >> 1, (kw - 1) >> 1];
  const [padHighH, padHighW] = opts.padHigh ?? [(kh - 1) >> 1, (kw - 1) >> 1];
  const padT = opts.padTime ?? kt - 1;
  const up = opts.upsample ? 2 : 1;
  if (opts.context) checkContext(shape, w, opts, opts.context.shape);
  const tOut = Math.floor((tIn + padT - kt) / st) + 1;
  const hOut = Math.floor((hIn * up + padLowH + padHighH - kh) / sh) + 1;
  const wOut = Math.floor((wIn * up + padLowW + padHighW - kw) / sw) + 1;
  const outShape = video ? [b, w.cout, tOut, hOut, wOut] : [b, w.cout, hOut, wOut];
  if (opts.residual && fmtShape(opts.residual.shape) !== fmtShape(outShape)) {
    throw new Error(
      `conv residual ${fmtShape(opts.residual.shape)} does not match output ${fmtShape(outShape)}`,
    );
  }
  return {
    video,
    b,
    cin,
    tIn,
    hIn,
    wIn,
    kt,
    kh,
    kw,
    st,
    sh,
    sw,
    padT,
    padLowH,
    padLowW,
    padHighH,
    padHighW,
    up,
    tOut,
    hOut,
    wOut,
    outShape,
    family: kh * kw > 1 ? "conv3x3" : kt > 1 ? "conv-time" : "conv1x1",
  };
}

/** ConvOptions.context's conditions: a (kt, 1, 1) stride-1 conv, kt - 1 frames like `x`'s. */
function checkContext(
  shape: readonly number[],
  w: ConvWeights,
  opts: ConvOptions,
  context: readonly number[],
): void {
  const [kt, kh, kw] = w.kernel;
  const fail = (why: string): never => {
    throw new Error(`conv context: ${why}`);
  };
  if (shape.length !== 5 || kt < 2 || kh * kw !== 1) {
    fail(`only a causal temporal conv (kt, 1, 1) of video takes one, not kernel ${w.kernel}`);
  }
  if ((opts.stride ?? [1, 1, 1]).some((s) => s !== 1) || opts.upsample) {
    fail("the conv must have stride 1 and no upsample");
  }
  if ((opts.padTime ?? kt - 1) !== kt - 1) fail(`padTime must be kt - 1 = ${kt - 1}`);
  if (opts.norm) fail("a fused norm cannot be applied to carried frames");
  const want = [shape[0], shape[1], kt - 1, shape[3], shape[4]];
  if (fmtShape(context) !== fmtShape(want)) {
    fail(`expected ${fmtShape(want)} (kt - 1 frames like the input's), got ${fmtShape(context)}`);
  }
}

/** GroupNorm's view [B, C, F, S] of an activation: F frames with their own statistics. */
export function groupNormGeometry(
  shape: readonly number[],
  opts: GroupNormOptions,
): { b: number; c: number; frames: number; spatial: number } {
  const [b, c] = shape;
  const frames = opts.perFrame && shape.length === 5 ? shape[2] : 1;
  if (c % opts.groups !== 0) {
    throw new Error(`GroupNorm: ${c} channels do not split into ${opts.groups} groups`);
  }
  return { b, c, frames, spatial: numel(shape.slice(2)) / frames };
}

/**
 * Where temporal attention reads its operands, in floats: query c of frame tq at pixel p is at
 * `qBatch * b + qPlane * c + pixels * (tq - qShift) + p` of the queries' tensor, key c of frame
 * tk at `kBase + kvBatch * b + kvPlane * c + pixels * tk + p` of the keys' tensor, and its value
 * `channels * kvPlane` after the key. Packed q/k/v is one tensor holding all three.
 */
export interface TemporalLayout {
  qBatch: number;
  qPlane: number;
  qShift: number;
  kBase: number;
  kvBatch: number;
  kvPlane: number;
}

/**
 * Attention over packed q/k/v [B, 3C, (T,) H, W], or temporal queries [B, C, Tq, H, W] with
 * keys and values [B, 2C, T, H, W] (`kvShape`): C, frames attended, positions per frame, the
 * first query frame, the output shape and (temporal) where the operands are.
 */
export function attentionGeometry(
  shape: readonly number[],
  kind: "spatial" | "temporal",
  queries?: number,
  kvShape?: readonly number[],
): {
  b: number;
  c: number;
  frames: number;
  pixels: number;
  /** The first query frame: frames - queries (0 unless `queries` is given). */
  q0: number;
  outShape: number[];
  layout: TemporalLayout;
} {
  const [b, c3] = shape;
  const video = shape.length === 5;
  if (kvShape) {
    if (kind !== "temporal") throw new Error("attention: keysValues apply to temporal attention");
    if (!video) throw new Error(`temporal attention needs [B, C, T, H, W], got ${fmtShape(shape)}`);
    const [kb, c2, frames] = kvShape;
    const c = shape[1], tq = shape[2];
    if (
      kvShape.length !== 5 || kb !== b || c2 !== 2 * c || kvShape[3] !== shape[3] ||
      kvShape[4] !== shape[4] || frames < tq
    ) {
      throw new Error(
        `attention: keysValues ${fmtShape(kvShape)} do not fit queries ${
          fmtShape(shape)
        } (expected [${b}, ${2 * c}, T >= ${tq}, ${shape[3]}, ${shape[4]}])`,
      );
    }
    if (queries !== undefined && queries !== tq) {
      throw new Error(`attention: queries must be the ${tq} query frames given, got ${queries}`);
    }
    const pixels = shape[3] * shape[4], plane = frames * pixels;
    return {
      b,
      c,
      frames,
      pixels,
      q0: frames - tq,
      outShape: [...shape],
      layout: {
        qBatch: c * tq * pixels,
        qPlane: tq * pixels,
        qShift: frames - tq,
        kBase: 0,
        kvBatch: 2 * c * plane,
        kvPlane: plane,
      },
    };
  }
  if (c3 % 3 !== 0 || shape.length < 3) {
    throw new Error(`attention expects packed q/k/v, got ${fmtShape(shape)}`);
  }
  if (kind === "temporal" && !video) {
    throw new Error(`temporal attention needs [B, 3C, T, H, W], got ${fmtShape(shape)}`);
  }
  const frames = video ? shape[2] : 1;
  if (queries !== undefined) {
    if (kind !== "temporal") throw new Error("attention: queries apply to temporal attention");
    if (!Number.isInteger(queries) || queries < 1 || queries > frames) {
      throw new Error(`attention: queries must be 1 to ${frames} frames, got ${queries}`);
    }
  }
  const q = queries ?? frames;
  const c = c3 / 3, pixels = numel(shape.slice(video ? 3 : 2)), plane = frames * pixels;
  return {
    b,
    c,
    frames,
    pixels,
    q0: frames - q,
    outShape: video ? [b, c, q, ...shape.slice(3)] : [b, c, ...shape.slice(2)],
    layout: {
      qBatch: 3 * c * plane,
      qPlane: plane,
      qShift: 0,
      kBase: c * plane,
      kvBatch: 3 * c * plane,
      kvPlane: plane,
    },
  };
}

/** The video resamplers of Ops.avgPool / Ops.upsample. */
export type Resample = "poolSpace" | "poolTime" | "upSpace" | "upTime";

/** Output [T, H, W] of a resampler on [B, C, T, H, W]. */
export function resampleDims(shape: readonly number[], op: Resample): [number, number, number] {
  if (shape.length !== 5) {
    throw new Error(`${op} expects [B, C, T, H, W], got ${fmtShape(shape)}`);
  }
  const [, , t, h, w] = shape;
  switch (op) {
    case "poolSpace":
      return [t, Math.ceil(h / 2), Math.ceil(w / 2)];
    case "poolTime":
      return [Math.floor((t - 1) / 2) + 1, h, w];
    case "upSpace":
      return [t, 2 * h, 2 * w];
    case "upTime":
      return [Math.max(1, 2 * t - 1), h, w];
  }
}

/** One Haar level: 2D ([B, C, H, W]) or 3D ([B, C, T, H, W]). */
export interface HaarStep {
  outShape: number[];
  /** Channels of the full-resolution side (the input forward, the output inverse). */
  c: number;
  /** Extents of the half-resolution side: [h, w], or [t, h, w] for video. */
  half: number[];
  /** Video, forward, first level: frame 0 repeated this many more times first. */
  lead: number;
  /** Video, inverse, last level: leading frames dropped after it. */
  trim: number;
  /** Video: frames of the full-resolution side. */
  full: number;
}

/**
 * The levels of Ops.haarPatch (forward) or Ops.haarUnpatch, planned in full so that a shape
 * that fails at any level fails before the first runs.
 */
export function haarPlan(shape: readonly number[], levels: number, forward: boolean): HaarStep[] {
  const video = shape.length === 5;
  if (!video && shape.length !== 4) {
    throw new Error(`Haar transform expects rank 4 or 5, got ${fmtShape(shape)}`);
  }
  const repeat = 2 ** levels - 1;
  const steps: HaarStep[] = [];
  let s = [...shape];
  for (let l = 0; l < levels; l++) {
    if (!video) {
      const [b, c, h, w] = s;
      if (forward) {
        if (h % 2 || w % 2) {
          throw new Error(
            `Haar patching needs [B, C, H, W] with even H, W at every level, got ${
              fmtShape(shape)
            }`,
          );
        }
        s = [b, 4 * c, h / 2, w / 2];
        steps.push({ outShape: s, c, half: [h / 2, w / 2], lead: 0, trim: 0, full: 1 });
      } else {
        if (c % 4) {
          throw new Error(`Haar unpatching needs [B, 4C, H, W], got ${fmtShape(shape)}`);
        }
        s = [b, c / 4, 2 * h, 2 * w];
        steps.push({ outShape: s, c: c / 4, half: [h, w], lead: 0, trim: 0, full: 1 });
      }
      continue;
    }
    const [b, c, t, h, w] = s;
    if (forward) {
      const lead = l === 0 ? repeat : 0;
      if ((t + lead) % 2 || h % 2 || w % 2) {
        throw new Error(
          `Haar patching of ${
            fmtShape(shape)
          }: frames (+${repeat}), height and width must be even at every level`,
        );
      }
      const half = [(t + lead) / 2, h / 2, w / 2];
      s = [b, 8 * c, ...half];
      steps.push({ outShape: s, c, half, lead, trim: 0, full: t });
    } else {
      if (c % 8) {
        throw new Error(`Haar unpatching needs [B, 8C, T, H, W], got ${fmtShape(shape)}`);
      }
      const trim = l === levels - 1 ? repeat : 0;
      const full = 2 * t - trim;
      if (full < 1) throw new Error(`Haar unpatching of ${fmtShape(shape)} leaves no frames`);
      s = [b, c / 8, full, 2 * h, 2 * w];
      steps.push({ outShape: s, c: c / 8, half: [t, h, w], lead: 0, trim, full });
    }
  }
  return steps;
}

/** FSQ shapes: z and codes [B, D, ...] (D = levels.length), indices [B, ...]. */
export interface FsqGeometry {
  /** B. */
  batch: number;
  /** Positions per batch item: the product of the trailing extents. */
  positions: number;
  /** [B, D, ...]. */
  codesShape: number[];
  /** [B, ...]. */
  indicesShape: number[];
}

/** The FSQ shapes of a quantisation of z (fsqQuantize), checking its channel count. */
export function fsqQuantizeGeometry(
  zShape: readonly number[],
  levels: readonly number[],
): FsqGeometry {
  const [b, d, ...rest] = zShape;
  if (d !== levels.length) {
    throw new Error(`FSQ expects ${levels.length} channels, got ${fmtShape(zShape)}`);
  }
  return { batch: b, positions: numel(rest), codesShape: [...zShape], indicesShape: [b, ...rest] };
}

/** The FSQ shapes of turning indices back into codes (fsqDequantize). */
export function fsqDequantizeGeometry(
  indicesShape: readonly number[],
  levels: readonly number[],
): FsqGeometry {
  const [b, ...rest] = indicesShape;
  return {
    batch: b,
    positions: numel(rest),
    codesShape: [b, levels.length, ...rest],
    indicesShape: [...indicesShape],
  };
}

/** Ops.joinFrames's layout: every part is copied as B * C runs of whole frames. */
export interface JoinFramesGeometry {
  /** [B, C, sum of (to - from), H, W]. */
  outShape: number[];
  /** The parts' common dtype, and the output's. */
  dtype: "f32" | "i32";
  /** B * C: the (batch, channel) planes, each part one contiguous run of frames per plane. */
  planes: number;
  /** H * W: values per frame. */
  frameSize: number;
  /** Per part: its frames in the output (to - from). */
  frames: number[];
  /** Per part: the output frame its first frame lands on. */
  offsets: number[];
}

/**
 * The output of joining `parts` along time (Ops.joinFrames), checking that each is a video
 * tensor of part 0's B, C, H, W and dtype with a non-empty integer range inside its frames.
 */
export function joinFramesGeometry(parts: readonly FrameRange[]): JoinFramesGeometry {
  const fail = (why: string): never => {
    throw new Error(`Cannot join frames: ${why}`);
  };
  if (parts.length === 0) fail("no parts given (at least one frame range is needed)");
  const first = parts[0].tensor;
  const frames: number[] = [];
  const offsets: number[] = [];
  let total = 0;
  parts.forEach(({ tensor, from, to }, i) => {
    const shape = tensor.shape;
    if (shape.length !== 5) {
      fail(`part ${i} is ${fmtShape(shape)}, expected a video tensor [B, C, T, H, W]`);
    }
    if (tensor.dtype !== first.dtype) {
      fail(`part ${i} holds ${tensor.dtype}, part 0 ${first.dtype}`);
    }
    const s0 = first.shape;
    if ([0, 1, 3, 4].some((a) => shape[a] !== s0[a])) {
      fail(`part ${i} is ${fmtShape(shape)}, expected B, C, H, W of ${fmtShape(s0)}`);
    }
    const t = shape[2];
    if (!Number.isInteger(from) || !Number.isInteger(to)) {
      fail(`part ${i}'s range [${from}, ${to}) is not two integers`);
    }
    if (from < 0 || to > t) {
      fail(`part ${i}'s range [${from}, ${to}) is outside its ${t} frames ${fmtShape(shape)}`);
    }
    if (from >= to) {
      fail(`part ${i}'s range [${from}, ${to}) is empty (from must be below to)`);
    }
    frames.push(to - from);
    offsets.push(total);
    total += to - from;
  });
  const [b, c, , h, w] = first.shape;
  return {
    outShape: [b, c, total, h, w],
    dtype: first.dtype,
    planes: b * c,
    frameSize: h * w,
    frames,
    offsets,
  };
}
