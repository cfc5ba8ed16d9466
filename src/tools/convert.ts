/**
 * `deno task convert IN OUT [--model NAME | --spatial S --temporal T]`
 *
 * Writes a canonical safetensors checkpoint (our names, F32) from any supported input: a
 * TorchScript .jit (encoder, decoder or autoencoder), a diffusers-named file, or safetensors. The
 * architecture is checked on the way (the same inference the loader runs), and the variant,
 * the compression (which a video checkpoint's weights do not show) and the provenance go into
 * `__metadata__`, so the result loads with no further options.
 * @module
 */

import { readCheckpoint } from "../weights/formats.ts";
import { readWeightsInput, type WeightsInput } from "../weights/source.ts";
import { encodeSafetensors } from "../weights/safetensors.ts";
import { ARCHITECTURE_BUFFERS } from "../weights/checkpoint.ts";
import type { VideoCompression } from "../models/config.ts";
import { architectureOf, halvesOf, inferHalves } from "../models/halves.ts";
import { describeVariant, findVariant, isArchitectureOf } from "../models/variants.ts";

export interface ConvertOptions {
  /** Official model name, for a video checkpoint's compression (and as a check). */
  model?: string;
  compression?: VideoCompression;
}

/** The converted checkpoint's bytes. */
export async function convertCheckpoint(
  input: WeightsInput,
  options: ConvertOptions = {},
): Promise<{ bytes: Uint8Array; variant: string; tensors: number }> {
  const { bytes, source } = await readWeightsInput(input, "checkpoint");
  const src = await readCheckpoint(bytes, source);
  const halves = halvesOf(src);
  if (!halves) {
    throw new Error(
      `Cannot convert "${src.source}": it holds no Cosmos tokenizer encoder or decoder`,
    );
  }
  const spec = options.model ? findVariant(options.model) : undefined;
  const configs = inferHalves(halves, { variant: spec, compression: options.compression });
  if (!configs) {
    throw new Error(
      `Cannot convert "${source}": a video checkpoint's weights do not say its compression; pass --model NAME or --spatial S --temporal T`,
    );
  }
  const cfg = configs[0];
  const arch = architectureOf(cfg);
  let variant = describeVariant(arch);
  if (spec) {
    if (!isArchitectureOf(spec, arch)) {
      throw new Error(
        `Cannot convert "${source}": it holds a ${variant} checkpoint, not ${spec.name}`,
      );
    }
    variant = spec.name;
  }
  const tensors: Parameters<typeof encodeSafetensors>[0] = {};
  for (const { src: h } of halves) {
    for (const name of h.names()) {
      if (ARCHITECTURE_BUFFERS.test(name)) continue;
      tensors[name] = { dtype: "F32", shape: h.shape(name)!, data: h.float32(name) };
    }
  }
  const config = {
    kind: arch.kind,
    discrete: arch.discrete,
    spatial_compression: arch.spatialCompression,
    temporal_compression: arch.temporalCompression,
    latent_channels: cfg.latentChannels,
    ...(cfg.fsqLevels ? { levels: cfg.fsqLevels } : {}),
  };
  const metadata = {
    format: "cosmos-webgpu canonical checkpoint",
    variant,
    halves: configs.map((c) => c.half).join(","),
    config: JSON.stringify(config),
    converted_from: source,
    source_format: bytes[0] === 0x50 && bytes[1] === 0x4b ? "torchscript" : "safetensors",
  };
  return {
    bytes: encodeSafetensors(tensors, metadata),
    variant,
    tensors: Object.keys(tensors).length,
  };
}

function arg(name: string): string | undefined {
  const i = Deno.args.indexOf(`--${name}`);
  return i >= 0 ? Deno.args[i + 1] : undefined;
}

if (import.meta.main) {
  const positional = Deno.args.filter((a, i) =>
    !a.startsWith("--") && !Deno.args[i - 1]?.startsWith("--")
  );
  const [input, output] = positional;
  if (!input || !output || Deno.args.includes("--help")) {
    console.log("usage: deno task convert IN OUT [--model NAME | --spatial S --temporal T]");
    Deno.exit(input ? 0 : 2);
  }
  const spatial = arg("spatial"), temporal = arg("temporal");
  try {
    const result = await convertCheckpoint(input, {
      model: arg("model"),
      compression: spatial && temporal
        ? { spatial: Number(spatial), temporal: Number(temporal) }
        : undefined,
    });
    // Written under a temporary name and renamed, so an interrupted run leaves no partial file.
    const tmp = `${output}.partial`;
    await Deno.writeFile(tmp, result.bytes);
    await Deno.rename(tmp, output);
    console.log(
      `${output}: ${result.variant}, ${result.tensors} tensors, ${result.bytes.length} bytes`,
    );
  } catch (err) {
    console.error((err as Error).message);
    Deno.exit(1);
  }
}
