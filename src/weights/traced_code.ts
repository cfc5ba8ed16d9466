/**
 * What the traced code of a video tokenizer's TorchScript archive says about its compression.
 *
 * A video tokenizer's weights do not show which levels resample in time or space: every hybrid
 * resampler holds all its convolutions. torch.jit.trace records only the operations a module ran,
 * and torch.jit.save keeps that record as Python-like source under `<archive>/code/`, one class
 * per traced module. So a downsampler's class shows `torch.avg_pool3d(x, [1, 2, 2], ...)` when it
 * halves space and `[2, 1, 1]` when it halves time; an upsampler shows `repeat_interleave(x, 2,
 * 3)` and `(.., 2, 4)` for space and `(.., 2, 2)` for time; the patcher repeats the first frame
 * `patch size` times and the unpatcher drops `patch size - 1` frames.
 *
 * Only the classes of the patcher and the resamplers are read (each module's class is named by
 * data.pkl), each bounded in size, and matched against those few patterns: nothing is executed
 * and nothing else of the code is parsed. An archive without `code/` (as the reference fixtures)
 * or whose code does not read as expected says nothing, and the caller falls back to a name or
 * the options.
 * @module
 */

/** What one resampler of a level runs. */
export interface TracedResampler {
  /** The level index (`encoder.down.<level>.downsample`, `decoder.up.<level>.upsample`). */
  level: number;
  spatial: boolean;
  temporal: boolean;
}

/** What a video half's traced code says. */
export interface TracedHalf {
  half: "encoder" | "decoder";
  patchSize: number;
  /** Every level's resampler, by level. */
  resamplers: TracedResampler[];
  /** The compression these give: patch size x 2^(resamplers that halve that axis). */
  spatial: number;
  temporal: number;
}

/** What an archive's traced code says about each half it holds, or why it says nothing. */
export interface TracedArchitecture {
  encoder?: TracedHalf;
  decoder?: TracedHalf;
  /** Why a video half present in the module tree could not be read from its code. */
  unread?: string;
}

/** The largest code member read: a resampler's or patcher's module file is a few KB. */
export const MAX_CODE_BYTES = 1 << 20;
/** The most resampler levels looked at (a Cosmos tokenizer has 2 to 4). */
const MAX_LEVELS = 16;

/** A `__torch__` class name's parts, each a Python identifier (no path can be made of them). */
const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** The module paths whose classes tell the compression, for one half. */
function modulesOf(half: "encoder" | "decoder", classes: Map<string, string>): string[] {
  const patcher = half === "encoder" ? "encoder.patcher3d" : "decoder.unpatcher3d";
  const resampler = half === "encoder" ? "downsample" : "upsample";
  const group = half === "encoder" ? "down" : "up";
  const paths = [patcher];
  for (let i = 0; i < MAX_LEVELS; i++) {
    const path = `${half}.${group}.${i}.${resampler}`;
    if (classes.has(path)) paths.push(path);
  }
  return paths;
}

/** Whether a half of the module tree is a video network (it has a 3D patcher). */
function hasVideoHalf(half: "encoder" | "decoder", classes: Map<string, string>): boolean {
  return classes.has(half === "encoder" ? "encoder.patcher3d" : "decoder.unpatcher3d");
}

/**
 * The code member and class name of a `__torch__` class: `__torch__.a.b.___torch_mangle_3.C` is
 * class `C` in `code/__torch__/a/b/___torch_mangle_3.py`; null for a name of another shape.
 */
export function classLocation(
  className: string,
  prefix: string,
): { member: string; name: string } | null {
  const parts = className.split(".");
  if (parts.length < 2 || parts[0] !== "__torch__" || !parts.every((p) => IDENT.test(p))) {
    return null;
  }
  return { member: `${prefix}code/${parts.slice(0, -1).join("/")}.py`, name: parts.at(-1)! };
}

/** The code members the compression is read from (to be read, size-checked, by the caller). */
export function codeMembers(classes: Map<string, string>, prefix: string): string[] {
  const members = new Set<string>();
  for (const half of ["encoder", "decoder"] as const) {
    if (!hasVideoHalf(half, classes)) continue;
    for (const path of modulesOf(half, classes)) {
      const loc = classLocation(classes.get(path)!, prefix);
      if (loc) members.add(loc.member);
    }
  }
  return [...members];
}

/** The text of class `name` in a module file: from `class name(` to the next top-level line. */
function classText(source: string, name: string): string | null {
  const start = source.indexOf(`class ${name}(`);
  if (start < 0 || (start > 0 && source[start - 1] !== "\n")) return null;
  const next = /\n\S/g;
  next.lastIndex = start + 1;
  const end = next.exec(source);
  return source.slice(start, end ? end.index : source.length);
}

const ENCODER_SPATIAL = /torch\.avg_pool3d\(\w+, \[1, 2, 2\], \[1, 2, 2\]/;
const ENCODER_TEMPORAL = /torch\.avg_pool3d\(\w+, \[2, 1, 1\], \[2, 1, 1\]/;
const DECODER_SPATIAL_H = /torch\.repeat_interleave\(\w+, 2, 3\)/;
const DECODER_SPATIAL_W = /, 2, 4\)/;
const DECODER_TEMPORAL = /torch\.repeat_interleave\(\w+, 2, 2\)/;
/** Patcher3D repeats the first frame `patch` times along dim 2. */
const PATCHER = /torch\.repeat_interleave\(\w+, (\d+), 2\)/g;
/** UnPatcher3D drops the first `patch - 1` frames: `x[:, :, patch - 1:]`. */
const UNPATCHER = /torch\.slice\(\w+, 2, (\d+), 9223372036854775807\)/g;

/** The one value `pattern` captures in `text`, or null when it captures none or several. */
function single(text: string, pattern: RegExp): number | null {
  const values = new Set([...text.matchAll(pattern)].map((m) => Number(m[1])));
  return values.size === 1 ? [...values][0] : null;
}

/**
 * Reads the compression of each video half of the module tree from its traced code. `classes`
 * maps module paths to class names (from data.pkl); `code(member)` gives a code member's text, or
 * undefined when the archive lacks it.
 */
export function readTracedCode(
  classes: Map<string, string>,
  prefix: string,
  code: (member: string) => string | undefined,
): TracedArchitecture {
  const out: TracedArchitecture = {};
  for (const half of ["encoder", "decoder"] as const) {
    if (!hasVideoHalf(half, classes)) continue;
    const texts = new Map<string, string>();
    let unread: string | null = null;
    for (const path of modulesOf(half, classes)) {
      const cls = classes.get(path)!;
      const loc = classLocation(cls, prefix);
      const source = loc ? code(loc.member) : undefined;
      const text = loc && source !== undefined ? classText(source, loc.name) : null;
      if (text === null) {
        unread = loc && source === undefined
          ? `it has no traced code (no member "${loc.member}")`
          : `its traced code has no class for module "${path}" (${cls.slice(0, 200)})`;
        break;
      }
      texts.set(path, text);
    }
    if (unread === null) {
      const traced = halfFromCode(half, texts);
      if (typeof traced === "string") unread = traced;
      else out[half] = traced;
    }
    if (unread !== null) out.unread ??= `${half}: ${unread}`;
  }
  return out;
}

/** One half's reading, or why its code does not read as a Cosmos tokenizer's. */
function halfFromCode(
  half: "encoder" | "decoder",
  texts: Map<string, string>,
): TracedHalf | string {
  const [patcherPath, ...resamplerPaths] = texts.keys();
  const patcher = texts.get(patcherPath)!;
  const found = half === "encoder" ? single(patcher, PATCHER) : single(patcher, UNPATCHER);
  const patchSize = found === null ? null : half === "encoder" ? found : found + 1;
  if (patchSize === null || !(patchSize >= 1 && patchSize <= 64) || (patchSize & (patchSize - 1))) {
    return `the traced code of "${patcherPath}" does not show its patch size`;
  }
  const resamplers = resamplerPaths.map((path) => {
    const text = texts.get(path)!;
    const level = Number(path.split(".")[2]);
    return half === "encoder"
      ? { level, spatial: ENCODER_SPATIAL.test(text), temporal: ENCODER_TEMPORAL.test(text) }
      : {
        level,
        spatial: DECODER_SPATIAL_H.test(text) && DECODER_SPATIAL_W.test(text),
        temporal: DECODER_TEMPORAL.test(text),
      };
  });
  const count = (axis: "spatial" | "temporal") => resamplers.filter((r) => r[axis]).length;
  return {
    half,
    patchSize,
    resamplers,
    spatial: patchSize * 2 ** count("spatial"),
    temporal: patchSize * 2 ** count("temporal"),
  };
}
