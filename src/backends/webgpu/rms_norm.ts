/**
 * RMS norm over channels (+ SiLU) for the Wan VAE (wgsl/rms_norm.wgsl): one thread per batch
 * item and position.
 * @module
 */

import type { RmsNormWeights, Tensor } from "../ops.ts";
import { numel } from "../../types.ts";
import { defineParams } from "./params.ts";
import { elementwiseGroups, type GpuRuntime } from "./runtime.ts";
import { commonElement } from "./precision.ts";

/** rms_norm.wgsl's `struct Params`. */
export const RMS_NORM_PARAMS = defineParams("rms_norm.wgsl", [
  ["channels", "u32"],
  ["positions", "u32"],
  ["total", "u32"],
  ["silu", "u32"],
]);

/** Records the RMS norm of `xIn` over its channels (see Ops.rmsNorm). */
export function rmsNorm(
  rt: GpuRuntime,
  xIn: Tensor,
  weights: RmsNormWeights,
  silu: boolean,
): Tensor {
  const x = rt.tensor(xIn);
  const [b, c] = x.shape;
  if (x.shape.length < 2 || c !== weights.channels) {
    throw new Error(
      `rmsNorm: input has ${c} channels, the norm ${weights.channels} (shape [${x.shape}])`,
    );
  }
  const positions = numel(x.shape.slice(2));
  const gamma = rt.tensor(weights.gamma);
  const T = commonElement("rmsNorm", [x.element, gamma.element]);
  const out = rt.alloc(x.shape, "f32", "rmsnorm", T);
  const total = b * positions;
  rt.dispatch({
    family: "norm",
    pipeline: rt.pipelines.get("rms_norm", "main", { T }),
    bindings: [x, gamma, out],
    params: RMS_NORM_PARAMS.pack({ channels: c, positions, total, silu: silu ? 1 : 0 }),
    workgroups: elementwiseGroups(total),
  });
  return out;
}
