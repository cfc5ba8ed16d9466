/**
 * Pipeline cache: one compute pipeline per (kernel, entry point, specialisation constants).
 *
 * Shapes never enter the key; they travel as uniforms, so one pipeline serves every resolution
 * and frame count. Constants (tile sizes, kernel extents, fusion flags) are prepended to the
 * WGSL source as `const` declarations, which lets the compiler unroll and fold them. A constant
 * whose value is a WGSL type ("f32", "f16", "u32", "i32") becomes an `alias`: the element type
 * of the bindings it names (see precision.ts), with `enable f16;` put first where one is f16.
 * `SUBGROUPS: true` swaps the workgroup-memory reductions (wgsl/reduce_workgroup.wgsl) for the
 * subgroup ones (wgsl/reduce_subgroup.wgsl) and enables the `subgroups` extension (where the
 * compiler takes the directive: see subgroups.ts).
 * @module
 */

import { WGSL } from "../../generated/wgsl.ts";

/** A WGSL element type a constant may name (an alias of the kernel's bindings). */
export type WgslType = "f32" | "f16" | "u32" | "i32";

export type ConstValue = number | boolean | WgslType;
export type Constants = Record<string, ConstValue>;

/** Kernels that include the shared GEMM core ahead of their own loaders. */
const INCLUDES: Record<string, string[]> = {
  conv: ["conv", "gemm_core"],
  matmul: ["matmul", "gemm_core"],
  groupnorm: ["groupnorm", "reduce"],
  softmax: ["softmax", "reduce"],
  band_stats: ["band_stats", "reduce"],
};

const WGSL_TYPES: readonly string[] = ["f32", "f16", "u32", "i32"];

function constDecl(name: string, value: ConstValue): string {
  if (typeof value === "boolean") return `const ${name}: bool = ${value};`;
  if (typeof value === "string") {
    if (!WGSL_TYPES.includes(value)) {
      throw new Error(`Invalid shader type ${name}: ${value} is not one of ${WGSL_TYPES}`);
    }
    return `alias ${name} = ${value};`;
  }
  if (!Number.isInteger(value) || value < 0) {
    throw new Error(`Invalid shader constant ${name}: ${value} is not a non-negative integer`);
  }
  return `const ${name}: u32 = ${value}u;`;
}

/**
 * Full WGSL source of a kernel with its constants; `subgroupsDirective` false leaves out
 * `enable subgroups;` for a compiler that refuses it.
 */
export function kernelSource(
  kernel: string,
  constants: Constants = {},
  subgroupsDirective = true,
): string {
  const subgroups = constants.SUBGROUPS === true;
  const parts = (INCLUDES[kernel] ?? [kernel]).map((part) =>
    part !== "reduce" ? part : subgroups ? "reduce_subgroup" : "reduce_workgroup"
  );
  // Directives come before every declaration.
  const directives = [
    ...(Object.values(constants).includes("f16") ? ["enable f16;"] : []),
    ...(subgroups && subgroupsDirective ? ["enable subgroups;"] : []),
  ];
  const decls = Object.keys(constants).sort().map((k) => constDecl(k, constants[k]));
  const bodies = parts.map((part) => {
    const src = WGSL[part];
    if (src === undefined) throw new Error(`Unknown WGSL kernel: ${part}`);
    return src;
  });
  return [...directives, ...decls, ...bodies].join("\n");
}

export class PipelineCache {
  #device: GPUDevice;
  #subgroupsDirective: boolean;
  #pipelines = new Map<string, GPUComputePipeline>();
  #modules = new Map<string, GPUShaderModule>();

  constructor(device: GPUDevice, subgroupsDirective = true) {
    this.#device = device;
    this.#subgroupsDirective = subgroupsDirective;
  }

  get size(): number {
    return this.#pipelines.size;
  }

  get(kernel: string, entryPoint = "main", constants: Constants = {}): GPUComputePipeline {
    const constKey = Object.keys(constants).sort().map((k) => `${k}=${constants[k]}`).join(",");
    const moduleKey = `${kernel}|${constKey}`;
    const key = `${moduleKey}|${entryPoint}`;
    let pipeline = this.#pipelines.get(key);
    if (pipeline) return pipeline;
    let module = this.#modules.get(moduleKey);
    if (!module) {
      module = this.#device.createShaderModule({
        code: kernelSource(kernel, constants, this.#subgroupsDirective),
        label: moduleKey,
      });
      this.#modules.set(moduleKey, module);
    }
    pipeline = this.#device.createComputePipeline({
      layout: "auto",
      compute: { module, entryPoint },
      label: key,
    });
    this.#pipelines.set(key, pipeline);
    return pipeline;
  }
}
