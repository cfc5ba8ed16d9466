/**
 * Self-attention over a packed q/k/v tensor: spatial (per frame, over pixels) and temporal
 * (causal, per pixel, over frames).
 *
 * Spatial attention is two strided matmuls (gemm.ts) around a row softmax
 * (wgsl/softmax.wgsl), with the scores materialised for one block of query rows at a time so
 * that an N x N matrix never exists; the block is sized by a byte budget. Temporal attention
 * (wgsl/attention_temporal.wgsl) has few frames, so its [B, T, T, H*W] scores are whole.
 * @module
 */

import type { AttentionOptions, Tensor } from "../ops.ts";
import { attentionGeometry, type TemporalLayout } from "../geometry.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime, type GpuTensor } from "./runtime.ts";
import { type GemmTiles, matmul } from "./gemm.ts";
import { commonElement } from "./precision.ts";

/** softmax.wgsl's `struct Params`: a [rows, cols] block, scaled before the softmax. */
const SOFTMAX_PARAMS = defineParams("softmax.wgsl", [
  ["rows", "u32"],
  ["cols", "u32"],
  ["scale", "f32"],
  ["_pad", "u32"],
]);

/** attention_temporal.wgsl's `struct Params` (`total`: threads of the entry point launched). */
const TEMPORAL_PARAMS = defineParams("attention_temporal.wgsl", [
  ["channels", "u32"],
  ["frames", "u32"],
  ["pixels", "u32"],
  ["total", "u32"],
  ["scale", "f32"],
  ["q0", "u32"],
  ["queries", "u32"],
  ["q_batch", "u32"],
  ["q_plane", "u32"],
  ["q_shift", "u32"],
  ["k_base", "u32"],
  ["kv_batch", "u32"],
  ["kv_plane", "u32"],
  ["_p0", "u32"],
  ["_p1", "u32"],
  ["_p2", "u32"],
]);

/** How attention runs on this backend. */
export interface AttentionConfig {
  /** GEMM tiles of the spatial matmuls. */
  tiles: GemmTiles;
  /** Bytes of attention scores held at once. */
  scoreBytes: number;
}

/** Records attention of `kind` over `qkvIn` (see Ops.attention). */
export function attention(
  rt: GpuRuntime,
  config: AttentionConfig,
  qkvIn: Tensor,
  kind: "spatial" | "temporal" = "spatial",
  opts: AttentionOptions = {},
): Tensor {
  const qkv = rt.tensor(qkvIn);
  const kv = opts.keysValues ? rt.tensor(opts.keysValues) : qkv;
  const { b, c, frames, pixels, q0, outShape, layout } = attentionGeometry(
    qkv.shape,
    kind,
    opts.queries,
    opts.keysValues?.shape,
  );
  const T = commonElement("attention", [qkv.element, kv.element]);
  const out = rt.alloc(outShape, "f32", "attention", T);
  const scale = Math.fround(c ** -0.5);
  if (kind === "temporal") {
    temporal(rt, qkv, kv, out, { b, c, frames, pixels, scale }, q0, layout);
  } else {
    spatial(rt, config, qkv, out, { b, c, frames, pixels, scale });
  }
  return out;
}

/** Sizes of one attention call. */
interface Extents {
  b: number;
  c: number;
  frames: number;
  pixels: number;
  scale: number;
}

/** Query frames [q0, frames) of causal temporal attention. */
function temporal(
  rt: GpuRuntime,
  q: GpuTensor,
  kv: GpuTensor,
  out: GpuTensor,
  e: Extents,
  q0: number,
  layout: TemporalLayout,
): void {
  const { b, c, frames, pixels, scale } = e;
  const queries = frames - q0;
  // Scores are f32 at every precision: their exponentials amplify any rounding of the logits.
  const scores = rt.alloc([b, queries, frames, pixels], "f32", "temporal scores", "f32");
  const T = { T: out.element };
  const total = b * queries * frames * pixels;
  const shape = {
    channels: c,
    frames,
    pixels,
    scale,
    q0,
    queries,
    q_batch: layout.qBatch,
    q_plane: layout.qPlane,
    q_shift: layout.qShift,
    k_base: layout.kBase,
    kv_batch: layout.kvBatch,
    kv_plane: layout.kvPlane,
  };
  rt.dispatch({
    family: "attention",
    pipeline: rt.pipelines.get("attention_temporal", "scores_main", T),
    bindings: [q, kv, scores, null],
    params: TEMPORAL_PARAMS.pack({ ...shape, total }),
    workgroups: elementwiseGroups(total),
    flops: 2 * total * c,
  });
  const applied = b * c * queries * pixels;
  rt.dispatch({
    family: "attention",
    pipeline: rt.pipelines.get("attention_temporal", "apply_main", T),
    bindings: [null, kv, scores, out],
    params: TEMPORAL_PARAMS.pack({ ...shape, total: applied }),
    workgroups: elementwiseGroups(applied),
    flops: applied * (frames + 1),
  });
  rt.release(scores);
}

/**
 * Frames are the matmul batch; scores exist for one block of query rows at a time (per
 * frame), never the whole N x N.
 */
function spatial(
  rt: GpuRuntime,
  config: AttentionConfig,
  qkv: GpuTensor,
  out: GpuTensor,
  e: Extents,
): void {
  const { b, c, frames, scale } = e;
  const c3 = 3 * c;
  const n = e.pixels;
  const budget = Math.min(config.scoreBytes, rt.ctx.limits.maxStorageBufferBindingSize);
  let rows = Math.max(1, Math.floor(budget / (4 * n * frames)));
  if (rows < n && rows > 64) rows -= rows % 64;
  rows = Math.min(rows, n);
  // Scores are f32 at every precision (see temporal); the matmuls mix them with the f16 q/k/v.
  const scores = rt.alloc([frames, rows, n], "f32", "attention scores", "f32");
  const softmax = rt.pipelines.get("softmax", "main", {
    SUBGROUPS: rt.ctx.features.has("subgroups"),
  });
  // Each block's scores are packed as [frames, qr, n], so a short last block needs no masking.
  const vol = frames * n; // one channel of one batch item
  for (let bi = 0; bi < b; bi++) {
    const base = bi * c3 * vol;
    for (let q0 = 0; q0 < n; q0 += rows) {
      const qr = Math.min(rows, n - q0);
      // S[f][i, j] = sum_c q[c, f, q0 + i] k[c, f, j]
      matmul(
        rt,
        config.tiles,
        { a: qkv, b: qkv, c: scores },
        { M: qr, N: n, K: c, batch: frames },
        {
          a: [base + q0, n, 1, vol],
          b: [base + c * vol, n, vol, 1],
          c: [0, qr * n, n, 1],
        },
        "attention",
      );
      rt.dispatch({
        family: "attention",
        pipeline: softmax,
        bindings: [{ buffer: scores.buffer, size: frames * qr * n * 4 }],
        params: SOFTMAX_PARAMS.pack({ rows: frames * qr, cols: n, scale }),
        workgroups: frames * qr,
      });
      // out[c, f, q0 + i] = sum_j v[c, f, j] S[f][i, j]
      matmul(
        rt,
        config.tiles,
        { a: qkv, b: scores, c: out },
        { M: c, N: qr, K: n, batch: frames },
        {
          a: [base + 2 * c * vol, n, vol, 1],
          b: [0, qr * n, 1, n],
          c: [bi * c * vol + q0, n, vol, 1],
        },
        "attention",
      );
    }
  }
  rt.release(scores);
}
