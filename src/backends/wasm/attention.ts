/**
 * Self-attention on the WebAssembly backend. Spatial attention is two matrix products per block
 * of query rows (scores, then values) with a row softmax between, holding the scores of one
 * block at a time; causal temporal attention is one kernel over pixels (asm/nn.ts), each
 * thread keeping a pixel's scores in its scratch area.
 * @module
 */

import type { AttentionOptions, Tensor } from "../ops.ts";
import { attentionGeometry } from "../geometry.ts";
import type { WasmRuntime } from "./runtime.ts";
import { gemm } from "./gemm.ts";

/** Attention over packed q/k/v (the op interface's `attention`). */
export function attention(
  rt: WasmRuntime,
  qkvIn: Tensor,
  kind: "spatial" | "temporal",
  opts: AttentionOptions = {},
): Tensor {
  const qkv = rt.tensor(qkvIn);
  const kv = opts.keysValues ? rt.tensor(opts.keysValues) : qkv;
  const { b, c, frames, pixels: n, q0, outShape, layout } = attentionGeometry(
    qkv.shape,
    kind,
    opts.queries,
    opts.keysValues?.shape,
  );
  const c3 = 3 * c;
  const out = rt.alloc(outShape, "f32", "attention");
  const scale = Math.fround(c ** -0.5);
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
