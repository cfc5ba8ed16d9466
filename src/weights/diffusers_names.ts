/**
 * The parameter names of diffusers' `AutoencoderKLCosmos` (the causal continuous video
 * tokenizers as a diffusers pipeline holds them), translated to and from the official
 * encoder.jit / decoder.jit state_dict names.
 *
 * The mapping follows diffusers' `AutoencoderKLCosmos` module tree (and the renames of its
 * `scripts/convert_cosmos_to_diffusers.py`); it is written once, as the {@link GRAMMAR} below,
 * and read in both directions. The Haar patcher buffers (`wavelets`, `_arange`) are not
 * persistent in diffusers and have no name there: they are left out of every mapping.
 *
 * The one non-local rule: the decoder's levels run in opposite orders. The official
 * `decoder.up.{k}` counts from the output (up.0 is the last level run), diffusers'
 * `decoder.up_blocks.{k}` from the input, so `up.{k}` is `up_blocks.{L - 1 - k}` with L the
 * number of levels, read off the names.
 *
 * Whole checkpoints (halves split and merged, missing resampler convs) are converted in
 * diffusers.ts, with these names.
 * @module
 */

/** The module kinds of the name grammar. */
type Kind =
  | "model"
  | "encoder"
  | "decoder"
  | "mid"
  | "resnet"
  | "attention"
  | "resample"
  | "factorized"
  | "conv"
  | "norm"
  | "param";

/**
 * One rule: an official name prefix, the diffusers prefix it becomes, and the kind of module
 * below it; without a kind, both sides must match the rest of the name exactly. `{i}` and `{j}`
 * are indices copied across; `{u}` is a decoder level, reversed across (see the module notes).
 */
type Rule = readonly [ours: string, diffusers: string, child?: Kind];

/** The whole mapping, as a grammar over dotted names. */
const GRAMMAR: Record<Kind, readonly Rule[]> = {
  model: [
    ["encoder.", "encoder.", "encoder"],
    ["quant_conv.", "quant_conv.", "conv"],
    ["post_quant_conv.", "post_quant_conv.", "conv"],
    ["decoder.", "decoder.", "decoder"],
  ],
  encoder: [
    ["conv_in.", "conv_in.", "factorized"],
    ["down.{i}.block.{j}.", "down_blocks.{i}.resnets.{j}.", "resnet"],
    ["down.{i}.attn.{j}.0.", "down_blocks.{i}.attentions.{j}.", "attention"],
    ["down.{i}.attn.{j}.1.", "down_blocks.{i}.temp_attentions.{j}.", "attention"],
    ["down.{i}.downsample.", "down_blocks.{i}.downsamplers.0.", "resample"],
    ["mid.", "mid_block.", "mid"],
    ["norm_out.", "norm_out.", "norm"],
    ["conv_out.", "conv_out.", "factorized"],
  ],
  decoder: [
    ["conv_in.", "conv_in.", "factorized"],
    ["mid.", "mid_block.", "mid"],
    ["up.{u}.block.{j}.", "up_blocks.{u}.resnets.{j}.", "resnet"],
    ["up.{u}.attn.{j}.0.", "up_blocks.{u}.attentions.{j}.", "attention"],
    ["up.{u}.attn.{j}.1.", "up_blocks.{u}.temp_attentions.{j}.", "attention"],
    ["up.{u}.upsample.", "up_blocks.{u}.upsamplers.0.", "resample"],
    ["norm_out.", "norm_out.", "norm"],
    ["conv_out.", "conv_out.", "factorized"],
  ],
  mid: [
    ["block_1.", "resnets.0.", "resnet"],
    ["attn_1.0.", "attentions.0.", "attention"],
    ["attn_1.1.", "temp_attentions.0.", "attention"],
    ["block_2.", "resnets.1.", "resnet"],
  ],
  resnet: [
    ["norm1.", "norm1.", "norm"],
    ["conv1.", "conv1.", "factorized"],
    ["norm2.", "norm2.", "norm"],
    ["conv2.", "conv2.", "factorized"],
    ["nin_shortcut.", "conv_shortcut.", "conv"],
  ],
  attention: [
    ["norm.", "norm.", "norm"],
    ["q.", "to_q.", "conv"],
    ["k.", "to_k.", "conv"],
    ["v.", "to_v.", "conv"],
    ["proj_out.", "to_out.0.", "conv"],
  ],
  // Both hybrid resamplers keep their three convs under the same names (conv1..conv3).
  resample: [
    ["conv1.", "conv1.", "conv"],
    ["conv2.", "conv2.", "conv"],
    ["conv3.", "conv3.", "conv"],
  ],
  factorized: [
    ["0.", "conv_s.", "conv"],
    ["1.", "conv_t.", "conv"],
  ],
  conv: [["conv3d.", "", "param"]],
  norm: [["norm.", "norm.", "param"]],
  param: [["weight", "weight"], ["bias", "bias"]],
};

/** Which side of a rule a name is written in: 0 official, 1 diffusers. */
export type Side = 0 | 1;

interface Compiled {
  match: [RegExp, RegExp];
  /** Placeholder names, in the order of the capture groups (the same on both sides). */
  slots: string[][];
  templates: [string, string];
  child?: Kind;
}

function compile(template: string, leaf: boolean): { re: RegExp; slots: string[] } {
  const slots: string[] = [];
  const body = template.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{(\w)\}/g, (_, s) => {
    slots.push(s);
    return "(\\d+)";
  });
  return { re: new RegExp(`^${body}${leaf ? "$" : ""}`), slots };
}

const COMPILED: Record<Kind, Compiled[]> = Object.fromEntries(
  Object.entries(GRAMMAR).map(([kind, rules]) => [
    kind,
    rules.map(([ours, theirs, child]) => {
      const a = compile(ours, child === undefined), b = compile(theirs, child === undefined);
      return { match: [a.re, b.re], slots: [a.slots, b.slots], templates: [ours, theirs], child };
    }),
  ]),
) as Record<Kind, Compiled[]>;

/** The non-parameter buffers that are dropped rather than mapped. */
const BUFFERS = /(^|\.)(wavelets|_arange|patch_size_buffer)$/;
/**
 * Number of decoder levels named in `names`: written on side 0 (official, `decoder.up.{k}`) or
 * side 1 (diffusers, `decoder.up_blocks.{k}`).
 */
export function upLevels(names: Iterable<string>, side: Side): number {
  const re = side === 0 ? /^decoder\.up\.(\d+)\./ : /^decoder\.up_blocks\.(\d+)\./;
  let n = 0;
  for (const name of names) {
    const m = re.exec(name);
    if (m) n = Math.max(n, Number(m[1]) + 1);
  }
  return n;
}

/** `rest` (written on `from`) under `kind`, written on the other side; undefined if no rule fits. */
function translate(rest: string, kind: Kind, from: Side, levels: number): string | undefined {
  const to: Side = from === 0 ? 1 : 0;
  for (const rule of COMPILED[kind]) {
    const m = rule.match[from].exec(rest);
    if (!m) continue;
    const values = new Map<string, number>();
    rule.slots[from].forEach((slot, k) => values.set(slot, Number(m[k + 1])));
    let ok = true;
    const head = rule.templates[to].replace(/\{(\w)\}/g, (_, slot: string) => {
      const v = values.get(slot)!;
      if (slot !== "u") return String(v);
      if (v >= levels) ok = false;
      return String(levels - 1 - v);
    });
    if (!ok) continue;
    if (rule.child === undefined) return head;
    const tail = translate(rest.slice(m[0].length), rule.child, from, levels);
    if (tail !== undefined) return head + tail;
  }
  return undefined;
}

/**
 * The diffusers name of an official tensor name, or undefined when it has none.
 * @param levels number of decoder levels (`decoder.up.{k}`), needed for decoder names
 */
export function toDiffusersName(name: string, levels: number): string | undefined {
  return translate(name, "model", 0, levels);
}

/**
 * The official name of a diffusers tensor name, or undefined when it has none.
 * @param levels number of decoder levels (`decoder.up_blocks.{k}`), needed for decoder names
 */
export function fromDiffusersName(name: string, levels: number): string | undefined {
  return translate(name, "model", 1, levels);
}

/**
 * The official name of every diffusers name in `names` (buffers left out), keyed by the
 * diffusers name.
 * @param source label for messages
 * @throws Error naming the first tensor that has no official counterpart
 */
export function fromDiffusersNames(names: string[], source = "<names>"): Map<string, string> {
  return mapAll(names, 1, source);
}

/**
 * The diffusers name of every official name in `names` (buffers left out), keyed by the
 * official name.
 * @param source label for messages
 * @throws Error naming the first tensor that has no diffusers counterpart
 */
export function toDiffusersNames(names: string[], source = "<names>"): Map<string, string> {
  return mapAll(names, 0, source);
}

function mapAll(names: string[], from: Side, source: string): Map<string, string> {
  const levels = upLevels(names, from);
  const out = new Map<string, string>();
  const seen = new Map<string, string>();
  for (const name of names) {
    if (BUFFERS.test(name)) continue;
    const mapped = translate(name, "model", from, levels);
    if (mapped === undefined) {
      throw new Error(
        from === 1
          ? `Cannot read diffusers checkpoint "${source}": tensor "${name}" is not an AutoencoderKLCosmos parameter this loader knows`
          : `Cannot convert "${source}" to diffusers names: tensor "${name}" has no AutoencoderKLCosmos counterpart`,
      );
    }
    const twin = seen.get(mapped);
    if (twin !== undefined) {
      throw new Error(`"${source}": tensors "${twin}" and "${name}" both map to "${mapped}"`);
    }
    seen.set(mapped, name);
    out.set(name, mapped);
  }
  return out;
}
