/**
 * Ops.spaceToChannel / channelToSpace on the WebAssembly backend (the Wan2.2 VAE's patchify and
 * its AvgDown3D / DupUp3D shortcuts; the geometry is ../shuffle.ts). No kernel: the ops move
 * each value once (spaceToChannel adds `group` of them), a few percent of a network's time
 * beside its convolutions, so they run on the calling thread over views of the heap, as
 * joinFrames does. Timed under the family "frames".
 * @module
 */

import type { Tensor } from "../ops.ts";
import { channelToSpaceGeometry, type ShuffleOptions, spaceToChannelGeometry } from "../shuffle.ts";
import type { WasmRuntime, WasmTensor } from "./runtime.ts";

/** Folds (time x space x space) blocks into channels, averaging groups (Ops.spaceToChannel). */
export function spaceToChannel(rt: WasmRuntime, xIn: Tensor, o: ShuffleOptions): WasmTensor {
  const x = rt.tensor(xIn);
  const g = spaceToChannelGeometry(x.shape, o);
  const [, c, t, h, w] = x.shape;
  const [b, co, to, ho, wo] = g.outShape;
  const out = rt.alloc(g.outShape, "f32", "spaceToChannel");
  const { time, space, group } = o;
  rt.timed("frames", 0, () => {
    // Views made after the allocation, which may have grown (and so replaced) the buffer.
    const src = rt.f32(x.ptr, x.size), dst = rt.f32(out.ptr, out.size);
    const frame = h * w;
    let at = 0;
    for (let bi = 0; bi < b; bi++) {
      for (let oc = 0; oc < co; oc++) {
        for (let tt = 0; tt < to; tt++) {
          for (let hh = 0; hh < ho; hh++) {
            for (let ww = 0; ww < wo; ww++) {
              let sum = 0;
              for (let k = 0; k < group; k++) {
                const j = oc * group + k, r = j % g.block;
                const ft = tt * time + Math.floor(r / (space * space)) - g.pad;
                if (ft < 0) continue;
                const ci = Math.floor(j / g.block);
                const y = hh * space + (Math.floor(r / space) % space), xw = ww * space + r % space;
                sum += src[((bi * c + ci) * t + ft) * frame + y * w + xw];
              }
              dst[at++] = sum / group;
            }
          }
        }
      }
    }
  });
  return out;
}

/** Repeats each channel `group` times and unfolds blocks into space-time (Ops.channelToSpace). */
export function channelToSpace(rt: WasmRuntime, xIn: Tensor, o: ShuffleOptions): WasmTensor {
  const x = rt.tensor(xIn);
  const g = channelToSpaceGeometry(x.shape, o);
  const [, c, t, h, w] = x.shape;
  const [b, co, to, ho, wo] = g.outShape;
  const out = rt.alloc(g.outShape, "f32", "channelToSpace");
  const { time, space, group } = o;
  rt.timed("frames", 0, () => {
    const src = rt.f32(x.ptr, x.size), dst = rt.f32(out.ptr, out.size);
    const frame = h * w;
    let at = 0;
    for (let bi = 0; bi < b; bi++) {
      for (let oc = 0; oc < co; oc++) {
        for (let tt = 0; tt < to; tt++) {
          const ts = Math.floor(tt / time), dt = tt % time;
          for (let hh = 0; hh < ho; hh++) {
            const hs = Math.floor(hh / space), dh = hh % space;
            for (let ww = 0; ww < wo; ww++) {
              const j = ((oc * time + dt) * space + dh) * space + (ww % space);
              const ci = Math.floor(j / group);
              dst[at++] = src[((bi * c + ci) * t + ts) * frame + hs * w + Math.floor(ww / space)];
            }
          }
        }
      }
    }
  });
  return out;
}
