/**
 * The attention blocks of the Cosmos video networks (CausalAttnBlock, CausalTemporalAttnBlock
 * and the pair the mid blocks hold), over the op interface, whole clip or step by step: the
 * temporal one's stream carries, parked between steps, the keys and values of every frame so
 * far, the only carried state that grows with a clip's length.
 * @module
 */

import type { ConvWeights, NormWeights, Ops, Tensor, Uploader } from "../backends/ops.ts";
import type { WeightReader } from "../weights/checkpoint.ts";
import { loadPackedQkv } from "./params.ts";
import { causalNormConv, causalNormConvs, loadCausalNorm, loadConv3d } from "./blocks3d.ts";
import { allFrames, localStream, type StepStream } from "./stream.ts";

/** CausalAttnBlock ("spatial") or CausalTemporalAttnBlock ("temporal"). */
export class AttnBlock3d {
  norm: NormWeights;
  /** Spatial: q, k and v packed. Temporal: the queries alone (keys and values in `kv`). */
  qkv: ConvWeights;
  /**
   * Temporal only: k and v packed, apart from the queries, since a stream carries the keys and
   * values of every earlier frame and never their queries.
   */
  kv: ConvWeights | null;
  proj: ConvWeights;

  constructor(
    up: Uploader,
    w: WeightReader,
    prefix: string,
    c: number,
    readonly kind: "spatial" | "temporal",
  ) {
    this.norm = loadCausalNorm(up, w, `${prefix}.norm`, c);
    const name = (q: "q" | "k" | "v", part: "weight" | "bias") => `${prefix}.${q}.conv3d.${part}`;
    const temporal = kind === "temporal";
    this.qkv = loadPackedQkv(up, w, name, c, [1, 1, 1], temporal ? ["q"] : ["q", "k", "v"]);
    this.kv = temporal ? loadPackedQkv(up, w, name, c, [1, 1, 1], ["k", "v"]) : null;
    this.proj = loadConv3d(up, w, `${prefix}.proj_out`, c, c, [1, 1, 1]);
  }

  forward(ops: Ops, x: Tensor): Tensor {
    if (this.kind === "spatial") {
      const qkv = causalNormConv(ops, x, this.norm, false, this.qkv);
      const attended = ops.attention(qkv, "spatial");
      ops.release(qkv);
      return this.#project(ops, attended, x);
    }
    const { q, kv } = this.#queriesKeysValues(ops, x);
    const attended = ops.attention(q, "temporal", { keysValues: kv });
    ops.release(q);
    ops.release(kv);
    return this.#project(ops, attended, x);
  }

  /**
   * The block step by step. Spatial attention is per frame; causal temporal attention carries
   * the keys and values of every earlier frame, parked, and attends this step's frames (only)
   * over all of them.
   */
  stream(): StepStream {
    if (this.kind === "spatial") return localStream((ops, x) => this.forward(ops, x));
    let past: Tensor | null = null;
    return {
      step: (ops, x) => {
        const { q, kv } = this.#queriesKeysValues(ops, x);
        // The parked cache grows by this step's frames (on WebAssembly its earlier frames are
        // shared, not copied, and the attention reads it a chunk at a time).
        const kept = ops.joinFrames(past ? [allFrames(past), allFrames(kv)] : [allFrames(kv)], {
          park: true,
        });
        ops.release(kv);
        if (past) ops.release(past);
        past = kept;
        const attended = ops.attention(q, "temporal", { keysValues: kept });
        ops.release(q);
        return this.#project(ops, attended, x);
      },
      release: (ops) => {
        if (past) ops.release(past);
        past = null;
      },
    };
  }

  /** The queries and the packed keys and values of `x` (temporal), normalised once. */
  #queriesKeysValues(ops: Ops, x: Tensor): { q: Tensor; kv: Tensor } {
    const [q, kv] = causalNormConvs(ops, x, this.norm, false, [this.qkv, this.kv!]);
    return { q, kv };
  }

  /** proj_out of the attended values, plus the block's input; releases `attended`. */
  #project(ops: Ops, attended: Tensor, x: Tensor): Tensor {
    const out = ops.conv(attended, this.proj, { residual: x });
    ops.release(attended);
    return out;
  }
}

/** A spatial attention block followed by a causal temporal one (`${prefix}.0`, `.1`). */
export class SpaceTimeAttn {
  spatial: AttnBlock3d;
  temporal: AttnBlock3d;
  constructor(up: Uploader, w: WeightReader, prefix: string, c: number) {
    this.spatial = new AttnBlock3d(up, w, `${prefix}.0`, c, "spatial");
    this.temporal = new AttnBlock3d(up, w, `${prefix}.1`, c, "temporal");
  }
  forward(ops: Ops, x: Tensor): Tensor {
    const h = this.spatial.forward(ops, x);
    const y = this.temporal.forward(ops, h);
    ops.release(h);
    return y;
  }

  /** Both attentions step by step (the temporal one carries keys and values). */
  stream(): StepStream {
    const s = this.spatial.stream(), t = this.temporal.stream();
    return {
      step: (ops, x) => {
        const h = s.step(ops, x);
        const y = t.step(ops, h);
        ops.release(h);
        return y;
      },
      release: (ops) => {
        s.release(ops);
        t.release(ops);
      },
    };
  }
}
