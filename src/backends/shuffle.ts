/**
 * The geometry of Ops.spaceToChannel / channelToSpace (the Wan2.2 VAE's patchify, AvgDown3D and
 * DupUp3D shortcuts, github:Wan-Video/Wan2.2 wan/modules/vae2_2.py), shared by the backends:
 * the checks, with their messages, and the output shape.
 *
 * spaceToChannel folds blocks of (time x space x space) values of [B, C, T, H, W] into
 * channels, unfolded channel j = ((c * time + dt) * space + dh) * space + dw reading
 * x[c, t' * time + dt - pad, h' * space + dh, w' * space + dw], where `pad` = (time - T % time)
 * % time zero frames stand before the clip (AvgDown3D's front padding); output channel o is
 * the mean of unfolded channels [o * group, (o + 1) * group). channelToSpace is DupUp3D: output
 * channel o at (t * time + dt, h * space + dh, w * space + dw) reads input channel
 * (((o * time + dt) * space + dh) * space + dw) / group (integer division: each input channel
 * repeated `group` times, then unfolded).
 * @module
 */

import { fmtShape } from "../types.ts";

/** How a tensor's blocks fold into channels or back (see the module comment). */
export interface ShuffleOptions {
  /** Frames per block: 1 or 2. */
  time: number;
  /** Pixels per block side: 1 or 2. */
  space: number;
  /**
   * spaceToChannel: unfolded channels averaged into each output channel; channelToSpace: times
   * each input channel is repeated before unfolding. 1: neither.
   */
  group: number;
}

/** What a backend needs to run one of the two ops. */
export interface ShuffleGeometry {
  outShape: number[];
  /** Values per block (time x space x space). */
  block: number;
  /** spaceToChannel: zero frames before the clip. */
  pad: number;
}

function checkOptions(op: string, shape: readonly number[], o: ShuffleOptions): void {
  const small = (v: unknown) => v === 1 || v === 2;
  if (!o || !small(o.time) || !small(o.space) || !Number.isSafeInteger(o.group) || o.group < 1) {
    throw new Error(
      `${op}: time and space must be 1 or 2 and group a positive integer, got ${JSON.stringify(o)}`,
    );
  }
  if (shape.length !== 5) throw new Error(`${op} expects [B, C, T, H, W], got ${fmtShape(shape)}`);
}

/** The checked geometry of spaceToChannel(x of `shape`, `o`). */
export function spaceToChannelGeometry(
  shape: readonly number[],
  o: ShuffleOptions,
): ShuffleGeometry {
  checkOptions("spaceToChannel", shape, o);
  const [b, c, t, h, w] = shape;
  const block = o.time * o.space * o.space;
  if (h % o.space || w % o.space || (c * block) % o.group) {
    throw new Error(
      `spaceToChannel: ${
        fmtShape(shape)
      } does not fold by ${o.time}x${o.space}x${o.space} into groups of ${o.group} (H and W must be multiples of ${o.space}, C x ${block} of ${o.group})`,
    );
  }
  const pad = (o.time - (t % o.time)) % o.time;
  return {
    outShape: [b, (c * block) / o.group, (t + pad) / o.time, h / o.space, w / o.space],
    block,
    pad,
  };
}

/** The checked geometry of channelToSpace(x of `shape`, `o`). */
export function channelToSpaceGeometry(
  shape: readonly number[],
  o: ShuffleOptions,
): ShuffleGeometry {
  checkOptions("channelToSpace", shape, o);
  const [b, c, t, h, w] = shape;
  const block = o.time * o.space * o.space;
  if ((c * o.group) % block) {
    throw new Error(
      `channelToSpace: ${
        fmtShape(shape)
      } does not unfold by ${o.time}x${o.space}x${o.space} after repeating each channel ${o.group} times (C x ${o.group} must be a multiple of ${block})`,
    );
  }
  return {
    outShape: [b, (c * o.group) / block, t * o.time, h * o.space, w * o.space],
    block,
    pad: 0,
  };
}
