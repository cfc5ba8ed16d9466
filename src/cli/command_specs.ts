/**
 * What the `cosmos` commands accept: their option tables (shared groups such as the model and
 * output options, merged per command) and each command's {@link CommandSpec}, from which the
 * parser checks arguments and the help is written. What each command runs is in commands.ts.
 * @module
 */

import type { CommandSpec, OptionSpec } from "./args.ts";
import { DATASET_SPEC } from "../dataset/command_spec.ts";

const MODEL_OPTIONS: Record<string, OptionSpec> = {
  model: {
    type: "string",
    short: "m",
    value: "NAME",
    help:
      "official model (CI8x8, Cosmos-0.1-Tokenizer-DV4x8x8, nvidia/...), hub repo id or local directory; with --encoder/--decoder, a check and a video's compression",
  },
  encoder: { type: "string", value: "FILE", help: "encoder checkpoint (.safetensors, .jit)" },
  decoder: { type: "string", value: "FILE", help: "decoder checkpoint (.safetensors, .jit)" },
  backend: {
    type: "string",
    value: "NAME",
    help:
      "what runs the network: auto (default: WebGPU on a GPU, else WebAssembly), webgpu or wasm",
  },
  threads: {
    type: "string",
    value: "N",
    help: "WebAssembly backend threads (default: every core)",
  },
  precision: {
    type: "string",
    value: "P",
    help:
      "f32 (default) or f16: weights and activations stored as f16 on WebGPU (needs shader-f16)",
  },
};

const OUTPUT_OPTIONS: Record<string, OptionSpec> = {
  output: {
    type: "string",
    short: "o",
    value: "PATH",
    help:
      "output file (one input) or directory (several inputs, or a path ending in /); - for stdout",
  },
  json: {
    type: "boolean",
    help: "one JSON object per item on stdout (input, output, psnr, ssim, timings, ...)",
  },
  quiet: { type: "boolean", short: "q", help: "no progress bar" },
  overwrite: {
    type: "boolean",
    short: "y",
    help: "replace outputs that exist already (default: refuse, before any work)",
  },
};

const MEDIA_OPTIONS: Record<string, OptionSpec> = {
  "short-size": {
    type: "string",
    value: "N",
    help:
      "images: resize so the short side is N first (Lanczos, the long side rounded up to even), as the reference CLI's --short_size",
  },
  window: {
    type: "string",
    value: "N",
    help:
      "cut videos into independent windows of N = 1 + k x temporal compression frames, as the reference CLI (17); default: none, the whole clip is streamed exactly",
  },
  pad: {
    type: "string",
    value: "MODE",
    help:
      "sizes the model cannot take are padded to its multiple and cropped back: reflect (default) or zero",
  },
};

const IMAGE_OUT_OPTIONS: Record<string, OptionSpec> = {
  format: {
    type: "string",
    value: "EXT",
    help: "output format when writing to a directory: png, jpg, mp4, ... (default: the input's)",
  },
  quality: { type: "string", value: "Q", help: "JPEG quality 1-100 (default 95)" },
  fps: {
    type: "string",
    value: "FPS",
    help: "frame rate of written videos (default: the input's)",
  },
};

const INPUTS_HELP =
  "Inputs are files or glob patterns (quote them: 'frames/*.png'). Images: PNG, JPEG. Videos\n" +
  "(.mp4, .mov, .mkv, .webm, ...) are read and written through ffmpeg, which must be on PATH.\n" +
  "A video streams through the tokenizer whole, as one exact causal pass (a latent frame at a\n" +
  "time, padded at its end by repeating its last frame); --window N cuts it into independent\n" +
  "windows of N frames as the reference CLI does (seams at window starts).\n" +
  "INPUT - reads one image from stdin; -o - writes the output to stdout.";

/** Every `cosmos` command's options, usage and help, by name. */
export const COMMANDS: Record<string, CommandSpec> = {
  encode: {
    name: "encode",
    summary: "images or videos to token files (.safetensors)",
    usage: "INPUT... (--model NAME | --encoder FILE) [-o PATH] [options]",
    description: INPUTS_HELP +
      "\nEach token file holds `indices` (discrete models) or `latent` (continuous) and, in its\n" +
      "__metadata__, the model, shapes and source, so `cosmos decode` can restore the original size.\n" +
      "Default output: tokens/NAME.safetensors beside each input.",
    options: { ...MODEL_OPTIONS, ...MEDIA_OPTIONS, ...OUTPUT_OPTIONS },
    minPositionals: 1,
  },
  decode: {
    name: "decode",
    summary: "token files back to images or videos",
    usage: "TOKENS... [--model NAME | --decoder FILE] [-o PATH] [options]",
    description:
      "Token files come from `cosmos encode`. Without --model or --decoder, the model\n" +
      "named in the first file is loaded (from the hub cache, downloading it if needed).\n" +
      "Default output: decoded/NAME.EXT beside each token file, EXT being the source's.\n" +
      "TOKENS - reads one token file from stdin; -o - writes the image to stdout.",
    options: {
      ...MODEL_OPTIONS,
      ...OUTPUT_OPTIONS,
      ...IMAGE_OUT_OPTIONS,
    },
    minPositionals: 1,
  },
  autoencode: {
    name: "autoencode",
    summary: "encode and decode: reconstructions with PSNR and SSIM",
    usage: "INPUT... (--model NAME | --encoder FILE --decoder FILE) [-o PATH] [options]",
    description: INPUTS_HELP +
      "\nPSNR and SSIM are computed as NVIDIA's tokenizer evaluation (TokenBench) computes them, on\n" +
      "0..255 pixels: PSNR over all frames of an item, SSIM per frame (7x7 window) then averaged.\n" +
      "Default output: reconstructions/NAME beside each input, as the reference CLI writes.",
    options: { ...MODEL_OPTIONS, ...MEDIA_OPTIONS, ...OUTPUT_OPTIONS, ...IMAGE_OUT_OPTIONS },
    minPositionals: 1,
  },
  info: {
    name: "info",
    summary: "what a weights file or token file holds",
    usage: "FILE... [--model NAME] [--json]",
    description:
      "Checkpoints: safetensors, TorchScript (.jit) or diffusers files. Video checkpoints\n" +
      "do not record their compression unless converted; --model supplies it.",
    options: {
      model: { type: "string", short: "m", value: "NAME", help: "a video checkpoint's model" },
      json: { type: "boolean", help: "one JSON object per file" },
    },
    minPositionals: 1,
  },
  convert: {
    name: "convert",
    summary: "any supported checkpoint to canonical safetensors",
    usage: "IN OUT [--model NAME | --spatial S --temporal T]",
    description:
      "Writes our parameter names in F32 with the variant, compression and provenance in\n" +
      "__metadata__, from a TorchScript .jit (encoder, decoder or autoencoder), a diffusers file\n" +
      "or safetensors, so the result loads with no further options.",
    options: {
      model: {
        type: "string",
        short: "m",
        value: "NAME",
        help: "the model (a check; a video's compression)",
      },
      spatial: { type: "string", value: "S", help: "a video checkpoint's spatial compression" },
      temporal: { type: "string", value: "T", help: "a video checkpoint's temporal compression" },
      overwrite: {
        type: "boolean",
        short: "y",
        help: "replace OUT if it exists (default: refuse)",
      },
    },
    minPositionals: 2,
    maxPositionals: 2,
  },
  bench: {
    name: "bench",
    summary: "throughput on this machine, WebGPU and WebAssembly (random official-width weights)",
    usage:
      "[--backend webgpu,wasm] [--threads N] [--variant CI8x8] [--sizes 256,512] [--video-sizes 128] ...",
    description:
      "CPU Haar/FSQ/SGEMM/Winograd throughput; then for each backend its matrix-product ceiling,\n" +
      "representative convolutions, and ms per image and per video frame with peak memory and\n" +
      "GFLOP/s per kernel family.",
    options: {
      backend: {
        type: "string",
        value: "LIST",
        help: "backends to measure: webgpu, wasm or both (default webgpu,wasm)",
      },
      threads: { type: "string", value: "N", help: "WebAssembly threads (default: every core)" },
      "winograd-cache": {
        type: "string",
        value: "MiB",
        help: "WebAssembly: keep transformed 3x3 weights between calls (default 0)",
      },
      variant: { type: "string", value: "NAME", help: "image variant (default CI8x8)" },
      sizes: { type: "string", value: "LIST", help: "image sizes, e.g. 256,512" },
      "video-variant": { type: "string", value: "NAME", help: "video variant (default CV4x8x8)" },
      "video-sizes": { type: "string", value: "LIST", help: "video frame sizes" },
      window: { type: "string", value: "N", help: "video window in frames" },
      repeats: { type: "string", value: "N", help: "timed repeats (default 1)" },
      "cpu-only": { type: "boolean", help: "only the WebAssembly Haar and FSQ" },
      "kernels-only": { type: "boolean", help: "stop after the kernel measurements" },
      "image-only": { type: "boolean", help: "no video tokenizer" },
      "video-only": { type: "boolean", help: "no image tokenizer" },
    },
    minPositionals: 0,
    maxPositionals: 0,
  },
  dataset: DATASET_SPEC,
};
