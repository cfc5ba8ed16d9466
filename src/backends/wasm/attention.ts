/**
 * Self-attention on the WebAssembly backend. Spatial attention is two matrix products per block
 * of query rows (scores, then values) with a row softmax between, holding the scores of one
 * block at a time; causal temporal attention is one kernel over pixels (asm/nn.ts), each
 * thread keeping a pixel's scores in its scratch area.
 * @module
 */

import type { AttentionOptions, Tensor } from "../ops.ts";
import { attentionGeometry, type TemporalLayout } from "../geometry.ts";
import type { WasmRuntime, WasmTensor } from "./runtime.ts";
import { ParkedTensor } from "./parking.ts";
import { gemm } from "./gemm.ts";

/** Attention over packed q/k/v (the op interface's `attention`). */
export function attention(
  rt: WasmRuntime,
  qkvIn: Tensor,
  kind: "spatial" | "temporal",
  opts: AttentionOptions = {},
): Tensor {
  const qkv = rt.tensor(qkvIn);
  const given = opts.keysValues ? rt.stored(opts.keysValues) : qkv;
  const parked = given instanceof ParkedTensor ? given : null;
  const kv = parked ? qkv : given as WasmTensor;
  const { b, c, frames, pixels: n, q0, outShape, layout } = attentionGeometry(
    qkv.shape,
    kind,
    opts.queries,
    opts.keysValues?.shape,
  );
  const c3 = 3 * c;
  const out = rt.alloc(outShape, "f32", "attention");
  const scale = Math.fround(c ** -0.5);
  if (parked) {
    chunkedTemporal(rt, qkv, parked, out, { b, c, frames, pixels: n, q0, scale, layout });
    return out;
  }
  if (kind === "temporal") {
    if (4 * frames > rt.scratchBytes) throw new Error(`Too many frames (${frames}) to attend`);
    rt.timed(
      "attention",
      4 * b * (frames - q0) * frames * n * c,
      () =>
        rt.launch("temporalAttention", {
          q: qkv.ptr,
          kv: kv.ptr,
          out: out.ptr,
          channels: c,
          frames,
          pixels: n,
          scale,
          q0,
          ...layout,
        }, b * n),
    );
    return out;
  }
  const rows = Math.max(1, Math.min(n, Math.floor(rt.attentionScoreBytes / (4 * n))));
  const scores = rt.heap.alloc(4 * rows * n, "attention scores");
  const vol = frames * n;
  try {
    rt.timed("attention", 4 * b * frames * n * n * c, () => {
      for (let bi = 0; bi < b; bi++) {
        const base = qkv.ptr + 4 * bi * c3 * vol;
        for (let f = 0; f < frames; f++) {
          for (let q0 = 0; q0 < n; q0 += rows) {
            const qr = Math.min(rows, n - q0);
            // S[i, j] = sum_c q[c, f, q0 + i] k[c, f, j]
            gemm(rt, {
              a: base + 4 * (f * n + q0),
              sam: 1,
              sak: vol,
              b: base + 4 * (c * vol + f * n),
              sbk: vol,
              sbn: 1,
              c: scores,
              ldc: n,
              M: qr,
              N: n,
              K: c,
            });
            rt.launch("softmaxRows", { s: scores, n, scale }, qr);
            // out[c, f, q0 + i] = sum_j v[c, f, j] S[i, j]
            gemm(rt, {
              a: base + 4 * (2 * c * vol + f * n),
              sam: vol,
              sak: 1,
              b: scores,
              sbk: 1,
              sbn: n,
              c: out.ptr + 4 * (bi * c * vol + f * n + q0),
              ldc: vol,
              M: c,
              N: qr,
              K: n,
            });
          }
        }
      }
    });
  } finally {
    rt.heap.free(scores);
  }
  return out;
}

/**
 * Temporal attention over parked keys and values (a stream's cache, kept outside the heap): each
 * chunk is copied into the heap in turn and attended with an online softmax, so the heap holds
 * one chunk however long the cache has grown.
 */
function chunkedTemporal(
  rt: WasmRuntime,
  q: WasmTensor,
  kv: ParkedTensor,
  out: WasmTensor,
  e: {
    b: number;
    c: number;
    frames: number;
    pixels: number;
    q0: number;
    scale: number;
    layout: TemporalLayout;
  },
): void {
  const { b, c, frames, pixels, q0, scale, layout } = e;
  const ml = rt.alloc([b, frames - q0, pixels, 2], "f32", "attention softmax state");
  try {
    let k0 = 0;
    for (const [i, chunk] of kv.chunks.entries()) {
      if (4 * chunk.frames > rt.scratchBytes) {
        throw new Error(`Too many frames (${chunk.frames}) to attend`);
      }
      const keys = rt.alloc([b, 2 * c, chunk.frames, pixels], "f32", "attention keys and values");
      try {
        new Int32Array(rt.heap.memory.buffer, keys.ptr, chunk.data.length).set(chunk.data);
        rt.timed(
          "attention",
          4 * b * (frames - q0) * chunk.frames * pixels * c,
          () =>
            rt.launch("temporalAttentionChunk", {
              q: q.ptr,
              kv: keys.ptr,
              acc: out.ptr,
              ml: ml.ptr,
              channels: c,
              frames,
              pixels,
              scale,
              q0,
              qBatch: layout.qBatch,
              qPlane: layout.qPlane,
              qShift: layout.qShift,
              k0,
              kFrames: chunk.frames,
              last: i === kv.chunks.length - 1 ? 1 : 0,
            }, b * pixels),
        );
      } finally {
        rt.release(keys);
      }
      k0 += chunk.frames;
    }
  } finally {
    rt.release(ml);
  }
}
