/**
 * One pass of a tokenizer's half on its backend, from host tensor to host tensor: upload, run
 * the network, quantize (encoder of a discrete tokenizer) or dequantize (its decoder), read
 * back, and release everything made on the way. The whole-clip calls and the streaming engine
 * both run their passes through these, with the network's `forward` or one step of its stream.
 * @module
 */

import type { Ops, Tensor } from "./backends/ops.ts";
import type { HostTensor } from "./types.ts";

/** The latent, or the FSQ indices and codes, of one encoder pass. */
export interface PassTokens {
  latent?: HostTensor;
  indices?: HostTensor;
  codes?: HostTensor;
}

/** A network run on a backend tensor (whole, or one step of a stream). */
export type Network = (ops: Ops, x: Tensor) => Promise<Tensor>;

/** Pixels through the encoder `run`, quantized with `fsqLevels` when the tokenizer has them. */
export async function encodePass(
  ops: Ops,
  run: Network,
  input: HostTensor,
  fsqLevels: number[] | null,
): Promise<PassTokens> {
  const x = ops.upload(input);
  let z: Tensor | null = null;
  try {
    z = await run(ops, x);
    if (!fsqLevels) return { latent: await ops.read(z) };
    const q = ops.fsqQuantize(z, { levels: fsqLevels });
    try {
      return { indices: await ops.read(q.indices), codes: await ops.read(q.codes) };
    } finally {
      ops.release(q.indices);
      ops.release(q.codes);
    }
  } finally {
    ops.release(x);
    if (z) ops.release(z);
  }
}

/** Tokens (a latent, or FSQ indices when `fsqLevels` is set) through the decoder `run`. */
export async function decodePass(
  ops: Ops,
  run: Network,
  input: HostTensor,
  fsqLevels: number[] | null,
): Promise<HostTensor> {
  const uploaded = ops.upload(input);
  let z = uploaded;
  let y: Tensor | null = null;
  try {
    if (fsqLevels) z = ops.fsqDequantize(uploaded, { levels: fsqLevels });
    y = await run(ops, z);
    return await ops.read(y);
  } finally {
    ops.release(uploaded);
    if (z !== uploaded) ops.release(z);
    if (y) ops.release(y);
  }
}
