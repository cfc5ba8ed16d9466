/**
 * One pass of a tokenizer's half on its backend, from host tensor to host tensor: upload, run
 * the network, quantize (encoder of a discrete tokenizer) or dequantize (its decoder), read
 * back, and release everything made on the way, on failure too (backends/scopes.ts: a pass
 * that throws half-way leaves intermediates no variable holds). The whole-clip calls and the
 * streaming engine both run their passes through these, with the network's `forward` or one step
 * of its stream.
 * @module
 */

import type { Backend, Ops, Tensor } from "./backends/ops.ts";
import type { HostTensor } from "./types.ts";

/** The latent, or the FSQ indices and codes, of one encoder pass. */
export interface PassTokens {
  latent?: HostTensor;
  indices?: HostTensor;
  codes?: HostTensor;
}

/** A network run on a backend tensor (whole, or one step of a stream). */
export type Network = (ops: Ops, x: Tensor) => Promise<Tensor>;

/**
 * `pass()`; if it throws, `failed` runs (a stream frees its state: no later step can continue
 * it), then every tensor the pass made and left is released, and the error goes on.
 */
async function freeingOnFailure<T>(
  ops: Backend,
  pass: () => Promise<T>,
  failed?: () => void,
): Promise<T> {
  const scope = ops.trackTensors?.();
  try {
    return await pass();
  } catch (err) {
    try {
      failed?.();
    } catch {
      // A layer held a tensor its failed step had released: the others are freed regardless.
    }
    for (const t of scope?.stop() ?? []) ops.release(t);
    throw err;
  } finally {
    scope?.stop();
  }
}

/** What a pass runs on, and what to free first when it fails (a stream's state). */
export interface PassContext {
  ops: Backend;
  failed?: () => void;
}

/** Pixels through the encoder `run`, quantized with `fsqLevels` when the tokenizer has them. */
export function encodePass(
  on: PassContext,
  run: Network,
  input: HostTensor,
  fsqLevels: number[] | null,
): Promise<PassTokens> {
  return freeingOnFailure(on.ops, () => encodeTokens(on.ops, run, input, fsqLevels), on.failed);
}

async function encodeTokens(
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

/**
 * Tokens (a latent, or FSQ indices when `fsqLevels` is set) through the decoder `run`; the
 * pixels are read into `into(size)` when given (a stream's reused array), else a new array.
 */
export function decodePass(
  on: PassContext,
  run: Network,
  input: HostTensor,
  fsqLevels: number[] | null,
  into?: (size: number) => Float32Array,
): Promise<HostTensor> {
  return freeingOnFailure(
    on.ops,
    () => decodePixels(on.ops, run, input, fsqLevels, into),
    on.failed,
  );
}

async function decodePixels(
  ops: Ops,
  run: Network,
  input: HostTensor,
  fsqLevels: number[] | null,
  into?: (size: number) => Float32Array,
): Promise<HostTensor> {
  const uploaded = ops.upload(input);
  let z = uploaded;
  let y: Tensor | null = null;
  try {
    if (fsqLevels) z = ops.fsqDequantize(uploaded, { levels: fsqLevels });
    y = await run(ops, z);
    return await ops.read(y, into?.(y.shape.reduce((a, b) => a * b, 1)));
  } finally {
    ops.release(uploaded);
    if (z !== uploaded) ops.release(z);
    if (y) ops.release(y);
  }
}
