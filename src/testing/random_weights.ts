/**
 * Seeded random weights for a checkpoint's parameter list (image_checkpoint.ts,
 * video_checkpoint.ts), as safetensors bytes: models of any architecture without downloading one.
 *
 * src/testing/ holds what the tests and the benchmark (`cosmos bench`, src/bench/bench.ts) share;
 * the benchmark ships with the CLI, so this cannot live under test/.
 * @module
 */

import { encodeSafetensors } from "../weights/safetensors.ts";

/** A checkpoint's parameter list: every tensor's name and shape. */
export type CheckpointShapes = Map<string, number[]>;

/**
 * A safetensors checkpoint with these shapes and seeded random F32 values: weights uniform with
 * variance 1 / fan_in (activations keep their scale through the depth), norms near identity.
 */
export function randomCheckpoint(shapes: CheckpointShapes, seed: number): Uint8Array {
  let state = seed >>> 0;
  const rand = () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), state | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  for (const [name, shape] of shapes) {
    const n = shape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    const isNorm = /norm[^.]*\.(weight|bias)$/.test(name);
    const fanIn = shape.length > 1 ? n / shape[0] : 1;
    const bound = Math.sqrt(3 / fanIn);
    for (let i = 0; i < n; i++) {
      const u = 2 * rand() - 1;
      if (isNorm) data[i] = name.endsWith("weight") ? 1 + 0.1 * u : 0.1 * u;
      else if (name.endsWith("bias")) data[i] = 0.05 * u;
      else data[i] = bound * u;
    }
    tensors[name] = { dtype: "F32", shape, data };
  }
  return encodeSafetensors(tensors, { source: "cosmos-webgpu random weights", seed: `${seed}` });
}
