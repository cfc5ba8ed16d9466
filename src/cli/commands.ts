/**
 * What each `cosmos` command runs: the tokenizer its options name, its items one by one with a
 * report line each, and the exit status. Their options and help are in command_specs.ts; input
 * expansion and output paths in outputs.ts.
 * @module
 */

import { type LoadOptions, loadTokenizer } from "../load.ts";
import type { Tokenizer } from "../tokenizer.ts";
import { findVariant } from "../models/variants.ts";
import { convertCheckpoint } from "../tools/convert.ts";
import { runBench } from "../bench/bench.ts";
import {
  helpText,
  intOption,
  parseCommand,
  type Parsed,
  UsageError,
  withCliFlags,
} from "./args.ts";
import { COMMANDS } from "./command_specs.ts";
import {
  basename,
  expandInputs,
  isDirectory,
  planOutputs,
  type ProtectedFile,
  refuseExisting,
  refuseOverwrites,
  STDIO,
  stem,
} from "./outputs.ts";
import {
  autoencodeItem,
  decodeItem,
  encodeItem,
  type ItemReport,
  mediaKind,
  type MediaOptions,
} from "./media.ts";
import type { TokenInfo } from "./tokens.ts";
import { readTokenInfo } from "./token_reader.ts";
import { describeFile, formatInfo } from "./info.ts";
import { cleanUpOnSignals, writeFileAtomic } from "./cleanup.ts";
import { ProgressBar } from "./progress.ts";
import { requireFfmpeg } from "../media/video.ts";
import { fmtShape } from "../types.ts";
import { datasetCommand } from "../dataset/command.ts";

/** The tokenizer the options name. */
async function openTokenizer(
  values: Parsed["values"],
  command: string,
  extra: Partial<LoadOptions> = {},
): Promise<Tokenizer> {
  const model = values.model as string | undefined;
  const encoder = values.encoder as string | undefined;
  const decoder = values.decoder as string | undefined;
  if (!model && !encoder && !decoder && !extra.model) {
    throw new UsageError(`cosmos ${command}: give --model NAME, or --encoder/--decoder FILE`);
  }
  if (model) findVariantOrRepo(model);
  const options: LoadOptions = { ...extra };
  const backend = (values.backend as string | undefined) ?? "auto";
  if (!["auto", "webgpu", "wasm"].includes(backend)) {
    throw new UsageError(
      `cosmos ${command}: --backend must be auto, webgpu or wasm, got "${backend}"`,
    );
  }
  options.backend = backend as LoadOptions["backend"];
  const precision = values.precision as string | undefined;
  if (precision !== undefined && precision !== "f32" && precision !== "f16") {
    throw new UsageError(`cosmos ${command}: --precision must be f32 or f16, got "${precision}"`);
  }
  if (precision) options.precision = precision;
  if (values.threads !== undefined) {
    options.wasm = { threads: intOption(values, "threads", 1, command) };
  }
  if (model) options.model = model;
  // A command that runs one half loads (and downloads) only that half.
  if (model && !encoder && !decoder && (command === "encode" || command === "decode")) {
    options.halves = [command === "encode" ? "encoder" : "decoder"];
  }
  if (encoder) options.encoder = encoder;
  if (decoder) options.decoder = decoder;
  return await loadTokenizer(options);
}

/** Unknown short names fail here with the list of models; repo ids and directories pass. */
function findVariantOrRepo(model: string): void {
  if (model.includes("/") || isDirectory(model)) return;
  findVariant(model);
}

function mediaOptions(values: Parsed["values"], command: string): MediaOptions {
  const pad = (values.pad as string | undefined) ?? "reflect";
  if (pad !== "reflect" && pad !== "zero") {
    throw new UsageError(`cosmos ${command}: --pad must be reflect or zero, got "${pad}"`);
  }
  const quality = intOption(values, "quality", 95, command);
  if (quality > 100) throw new UsageError(`cosmos ${command}: --quality must be 1-100`);
  const fps = values.fps === undefined ? undefined : Number(values.fps);
  if (fps !== undefined && !(fps > 0)) {
    throw new UsageError(`cosmos ${command}: --fps must be a positive number, got "${values.fps}"`);
  }
  if (values.output === STDIO && values.json === true) {
    throw new UsageError(`cosmos ${command}: --json and -o - both write to stdout; choose one`);
  }
  return {
    pad,
    quality,
    fps,
    format: values.format as string | undefined,
    shortSize: values["short-size"] === undefined
      ? undefined
      : intOption(values, "short-size", 0, command),
    progress: values.json !== true && values.quiet !== true,
  };
}

const fmt = (v: number | null, digits: number) => (v === null ? "-" : v.toFixed(digits));

/** One human-readable line per item. */
function itemLine(r: ItemReport): string {
  const size = `${r.width}x${r.height}${r.kind === "video" ? `x${r.frames}f` : ""}`;
  const parts = [`${r.input} -> ${r.output}`, size, `tokens ${fmtShape(r.tokens)}`];
  if (r.psnr !== null) parts.push(`PSNR ${fmt(r.psnr, 2)} dB`, `SSIM ${fmt(r.ssim, 4)}`);
  if (r.encode_ms !== null) parts.push(`encode ${r.encode_ms} ms`);
  if (r.decode_ms !== null) parts.push(`decode ${r.decode_ms} ms`);
  return parts.join("  ");
}

type ItemFn = (
  tok: Tokenizer,
  input: string,
  output: string,
  opts: MediaOptions,
) => Promise<ItemReport>;

/**
 * Runs items one by one: a failing item is reported (stderr, or a JSON line with `error`) and
 * the others still run; the status is 1 if any failed. Totals at the end.
 */
async function runItems(
  tok: Tokenizer,
  inputs: string[],
  outputs: string[],
  opts: MediaOptions,
  json: boolean,
  fn: ItemFn,
  verb: string,
): Promise<number> {
  const reports: ItemReport[] = [];
  let failed = 0;
  const images = inputs.every((i) => !i.endsWith(".safetensors") && mediaKindOrNull(i) === "image");
  // A batch of images shows one bar over items; videos show their own bars over frames.
  const bar = images && inputs.length > 1
    ? new ProgressBar(verb, inputs.length, "images", opts.progress)
    : null;
  const started = performance.now();
  // With -o -, stdout holds the output's bytes and nothing else.
  const log = outputs.includes(STDIO) ? console.error : console.log;
  if (!json) console.error(`${tok.model} on ${tok.backend}`);
  for (let i = 0; i < inputs.length; i++) {
    try {
      const r = await fn(tok, inputs[i], outputs[i], opts);
      bar?.clear();
      reports.push(r);
      if (json) console.log(JSON.stringify({ ...r, backend: tok.backend }));
      else log(itemLine(r));
    } catch (err) {
      failed++;
      bar?.clear();
      const message = withCliFlags((err as Error).message);
      if (json) console.log(JSON.stringify({ input: inputs[i], output: null, error: message }));
      else console.error(`${inputs[i]}: ${message}`);
    }
    bar?.tick();
  }
  bar?.finish();
  const secs = ((performance.now() - started) / 1000).toFixed(1);
  const summary = [`${verb}: ${reports.length} of ${inputs.length} done in ${secs} s`];
  const mean = (k: "psnr" | "ssim") => {
    const values = reports.map((r) => r[k]).filter((v): v is number => v !== null);
    return values.length ? values.reduce((a, v) => a + v, 0) / values.length : null;
  };
  const psnr = mean("psnr"), ssim = mean("ssim");
  if (psnr !== null) summary.push(`mean PSNR ${psnr.toFixed(2)} dB`);
  if (ssim !== null) summary.push(`mean SSIM ${ssim.toFixed(4)}`);
  if (failed) summary.push(`${failed} failed`);
  // With --json, stdout holds only the item lines.
  (json ? console.error : log)(summary.join(", "));
  return failed ? 1 : 0;
}

function mediaKindOrNull(path: string): "image" | "video" | null {
  try {
    return mediaKind(path);
  } catch {
    return null;
  }
}

async function withTokenizer(tok: Tokenizer, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn();
  } finally {
    await tok.dispose();
  }
}

/** The checkpoint files the options name: no output may replace them. */
function checkpointsOf(values: Parsed["values"]): ProtectedFile[] {
  return (["encoder", "decoder"] as const).flatMap((half) => {
    const path = values[half];
    return typeof path === "string" ? [{ path, what: `the --${half} checkpoint` }] : [];
  });
}

/** Fails before loading a model when a video is among the inputs and ffmpeg is missing. */
async function checkTools(
  inputs: string[],
  outputs: string[],
  values: Parsed["values"] = {},
): Promise<void> {
  for (const p of [...inputs, ...outputs]) mediaKind(p); // unsupported formats fail first
  const video = inputs.find((p) => mediaKind(p) === "video");
  if (values["short-size"] !== undefined && video) {
    throw new Error(
      `--short-size resizes images; "${video}" is a video (resize it first, e.g. with ffmpeg -vf scale)`,
    );
  }
  if ([...inputs, ...outputs].some((p) => mediaKind(p) === "video")) await requireFfmpeg();
}

/**
 * `--window N`: the reference CLI's independent windows of N frames. Without it, none: a video
 * streams through the tokenizer whole, exactly as one causal pass.
 */
function windowOption(values: Parsed["values"], command: string): number | undefined {
  return values.window === undefined ? undefined : intOption(values, "window", 17, command);
}

async function encodeCommand(p: Parsed): Promise<number> {
  const inputs = expandInputs(p.positionals);
  const outputs = planOutputs(
    inputs,
    p.values.output as string | undefined,
    "tokens",
    (i) => `${stem(i)}.safetensors`,
    checkpointsOf(p.values),
    p.values.overwrite === true,
  );
  await checkTools(inputs, [], p.values);
  const opts = mediaOptions(p.values, "encode");
  const tok = await openTokenizer(p.values, "encode", { window: windowOption(p.values, "encode") });
  return await withTokenizer(
    tok,
    () => runItems(tok, inputs, outputs, opts, p.values.json === true, encodeItem, "encode"),
  );
}

async function decodeCommand(p: Parsed): Promise<number> {
  const inputs = expandInputs(p.positionals);
  // Only each file's header is read (checked): its tokens are read when the item runs.
  const infos: TokenInfo[] = [];
  for (const i of inputs) infos.push(await readTokenInfo(i));
  const format = p.values.format as string | undefined;
  const outputs = planOutputs(
    inputs,
    p.values.output as string | undefined,
    "decoded",
    (i) => `${stem(i)}.${format ?? infos[inputs.indexOf(i)].sourceFormat}`,
    checkpointsOf(p.values),
    p.values.overwrite === true,
  );
  await checkTools([], outputs);
  const opts = mediaOptions(p.values, "decode");
  const first = infos[0];
  const extra: Partial<LoadOptions> = {};
  // The token file names its model and compression: enough to load a decoder file that does not
  // record them, or, with no option at all, to fetch the official model.
  if (first.kind === "video") {
    extra.compression = { spatial: first.spatialCompression, temporal: first.temporalCompression };
  }
  const official = officialName(first.model);
  if (!p.values.model && !p.values.decoder && !p.values.encoder) {
    if (!official) {
      throw new UsageError(
        `cosmos decode: "${inputs[0]}" was made by ${first.model}; give --decoder FILE`,
      );
    }
    extra.model = official;
  }
  const tok = await openTokenizer(p.values, "decode", extra);
  return await withTokenizer(
    tok,
    () => runItems(tok, inputs, outputs, opts, p.values.json === true, decodeItem, "decode"),
  );
}

function officialName(model: string): string | null {
  try {
    return findVariant(model).name;
  } catch {
    return null;
  }
}

async function autoencodeCommand(p: Parsed): Promise<number> {
  const inputs = expandInputs(p.positionals);
  const format = p.values.format as string | undefined;
  const outputs = planOutputs(
    inputs,
    p.values.output as string | undefined,
    "reconstructions",
    (i) => (format ? `${stem(i)}.${format}` : basename(i)),
    checkpointsOf(p.values),
    p.values.overwrite === true,
  );
  if (!p.values.model && (!p.values.encoder || !p.values.decoder)) {
    throw new UsageError("cosmos autoencode: give --model NAME, or both --encoder and --decoder");
  }
  await checkTools(inputs, outputs, p.values);
  const opts = mediaOptions(p.values, "autoencode");
  const tok = await openTokenizer(p.values, "autoencode", {
    window: windowOption(p.values, "autoencode"),
  });
  return await withTokenizer(
    tok,
    () =>
      runItems(tok, inputs, outputs, opts, p.values.json === true, autoencodeItem, "autoencode"),
  );
}

async function infoCommand(p: Parsed): Promise<number> {
  if (p.positionals.includes(STDIO)) {
    throw new UsageError("cosmos info: reads files, not stdin (-); give a path");
  }
  let status = 0;
  for (const file of expandInputs(p.positionals)) {
    try {
      const info = await describeFile(file, p.values.model as string | undefined);
      console.log(p.values.json ? JSON.stringify(info) : formatInfo(info));
    } catch (err) {
      status = 1;
      console.error((err as Error).message);
    }
  }
  return status;
}

async function convertCommand(p: Parsed): Promise<number> {
  const [input, output] = p.positionals;
  if (input === STDIO || output === STDIO) {
    throw new UsageError("cosmos convert: reads and writes files, not stdin or stdout (-)");
  }
  refuseOverwrites([input], [output]);
  if (p.values.overwrite !== true) refuseExisting([output]);
  const spatial = p.values.spatial as string | undefined;
  const temporal = p.values.temporal as string | undefined;
  if ((spatial === undefined) !== (temporal === undefined)) {
    throw new UsageError("cosmos convert: give both --spatial and --temporal, or neither");
  }
  const result = await convertCheckpoint(input, {
    model: p.values.model as string | undefined,
    compression: spatial && temporal
      ? {
        spatial: intOption(p.values, "spatial", 0, "convert"),
        temporal: intOption(p.values, "temporal", 0, "convert"),
      }
      : undefined,
  });
  await writeFileAtomic(output, result.bytes);
  console.log(
    `${output}: ${result.variant}, ${result.tensors} tensors, ${result.bytes.length} bytes`,
  );
  return 0;
}

async function benchCommand(_p: Parsed, argv: string[]): Promise<number> {
  await runBench(argv);
  return 0;
}

const RUNNERS: Record<string, (p: Parsed, argv: string[]) => Promise<number>> = {
  encode: encodeCommand,
  decode: decodeCommand,
  autoencode: autoencodeCommand,
  info: infoCommand,
  convert: convertCommand,
  bench: benchCommand,
  // The encoder half alone is loaded (and downloaded) unless --metrics decodes too.
  dataset: (p) =>
    datasetCommand(
      p,
      (v) => openTokenizer(v, "dataset", v.metrics ? {} : { halves: ["encoder"] }),
    ),
};

/** Runs one command; returns the exit status (help and usage errors included). */
export async function runCommand(name: string, argv: string[]): Promise<number> {
  const spec = COMMANDS[name];
  const p = parseCommand(spec, argv);
  if (p.help) {
    console.log(helpText(spec));
    return 0;
  }
  cleanUpOnSignals();
  return await RUNNERS[name](p, argv);
}
