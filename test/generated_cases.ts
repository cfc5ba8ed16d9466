/**
 * The generated reference cases of test/fixtures/generated/ (see its README): each file's
 * reference tensors, and the weights the reference ran on, regenerated from the file's seeds.
 */

import { parseSafetensors, type SafetensorsFile } from "../src/weights/safetensors.ts";
import {
  type ImageArchitecture,
  imageDecoderShapes,
  imageEncoderShapes,
} from "../src/testing/image_checkpoint.ts";
import { randomCheckpoint } from "../src/testing/random_weights.ts";
import {
  type VideoArchitecture,
  videoDecoderShapes,
  videoEncoderShapes,
} from "../src/testing/video_checkpoint.ts";
import type { VideoCompression } from "../src/models/config.ts";
import type { HostTensor } from "../src/types.ts";

const DIR = new URL("./fixtures/generated/", import.meta.url);

/** One generated case: its file, the regenerated checkpoints and what loading them needs. */
export interface GeneratedCase {
  file: SafetensorsFile;
  video: boolean;
  encoder: Uint8Array;
  decoder: Uint8Array;
  /** Video checkpoints do not show their compression in their shapes. */
  compression?: VideoCompression;
  /** A reference tensor of the file by name. */
  want(key: string): HostTensor;
}

/** Reads case `name` and regenerates its weights. */
export async function generatedCase(name: string): Promise<GeneratedCase> {
  const file = parseSafetensors(await Deno.readFile(new URL(`${name}.safetensors`, DIR)));
  const m = file.metadata;
  const video = m.kind === "video";
  let encShapes: Map<string, number[]>, decShapes: Map<string, number[]>;
  if (video) {
    const arch: VideoArchitecture = JSON.parse(m.arch);
    [encShapes, decShapes] = [videoEncoderShapes(arch), videoDecoderShapes(arch)];
  } else {
    const arch: ImageArchitecture = JSON.parse(m.arch);
    [encShapes, decShapes] = [imageEncoderShapes(arch), imageDecoderShapes(arch)];
  }
  return {
    file,
    video,
    encoder: randomCheckpoint(encShapes, Number(m.encoder_seed)),
    decoder: randomCheckpoint(decShapes, Number(m.decoder_seed)),
    compression: video
      ? { spatial: Number(m.spatial_compression), temporal: Number(m.temporal_compression) }
      : undefined,
    want: (key) =>
      key === "indices"
        ? { data: file.int32(key), shape: file.entries.get(key)!.shape }
        : { data: file.float32(key), shape: file.entries.get(key)!.shape },
  };
}
