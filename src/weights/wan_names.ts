/**
 * The Wan VAE's checkpoints: recognising them, diffusers' AutoencoderKLWan names mapped to the
 * reference's (`Wan2.1_VAE.pth`'s: `encoder.downsamples.3.residual.2.weight`, `conv1.weight`,
 * ...), and the split into the encoder's and the decoder's tensors.
 *
 * diffusers renames the reference's Sequential indices: a residual block's `residual.0/2/3/6`
 * are `norm1/conv1/norm2/conv2` and its `shortcut` is `conv_shortcut`; the encoder's flat
 * `downsamples.k` list keeps its index as `down_blocks.k`; the middle's three modules are
 * `mid_block.resnets.0`, `mid_block.attentions.0`, `mid_block.resnets.1`; the decoder's flat
 * `upsamples.k` list is grouped per level as `up_blocks.i.resnets.j` and
 * `up_blocks.i.upsamplers.0`; `head.0/2` are `norm_out/conv_out`, `conv_in` is `conv1`, and the
 * top-level `conv1/conv2` are `quant_conv/post_quant_conv`.
 *
 * Wan2.2's levels (`encoder.downsamples.i.downsamples.j`, `decoder.upsamples.i.upsamples.j`)
 * are `down_blocks.i.resnets.j` / `up_blocks.i.resnets.j`, and the resampler after a level's
 * blocks `down_blocks.i.downsampler` / `up_blocks.i.upsampler` (one, unnumbered): its index in
 * the reference's list is the level's block count.
 * @module
 */

import type { TensorSource } from "./checkpoint.ts";

/**
 * A reference-named Wan residual block's norm gain (Wan2.2's sit one level deeper, in
 * `encoder.downsamples.i.downsamples.j`), or a diffusers-named one.
 */
const WAN_MARKER =
  /^(?:(?:encoder\.downsamples|decoder\.upsamples)\.\d+(?:\.(?:downsamples|upsamples)\.\d+)?\.residual\.0|(?:encoder|decoder)\.(?:down_blocks\.\d+|mid_block\.resnets\.\d+|up_blocks\.\d+\.resnets\.\d+)\.norm1)\.gamma$/;
const DIFFUSERS_WAN = /^(?:encoder|decoder)\.(?:down_blocks|mid_block|up_blocks)\./;

/** Whether `src` holds (a half of) a Wan VAE, under the reference's or diffusers' names. */
export function isWanCheckpoint(src: Pick<TensorSource, "names">): boolean {
  return src.names().some((n) => WAN_MARKER.test(n));
}

/** A residual block's leaf under the reference's names (other leaves are the same in both). */
function residualLeaf(leaf: string): string {
  return leaf
    .replace(/^norm1\./, "residual.0.")
    .replace(/^conv1\./, "residual.2.")
    .replace(/^norm2\./, "residual.3.")
    .replace(/^conv2\./, "residual.6.")
    .replace(/^conv_shortcut\./, "shortcut.");
}

function fail(src: TensorSource, detail: string): never {
  throw new Error(`Cannot read Wan VAE "${src.source}": ${detail}`);
}

/** diffusers' names of a Wan2.2 level: its blocks, or its one resampler. */
const LEVEL22 =
  /^(encoder|decoder)\.(?:down|up)_blocks\.(\d+)\.(?:resnets\.(\d+)|(?:down|up)sampler)\.(.+)$/;

/** Wan2.2 under diffusers' names: each name -> the reference's, or null if `src` is not. */
function referenceNames22(src: TensorSource): Map<string, string> | null {
  const names = src.names();
  const v22 = names.some((n) =>
    /^(?:encoder\.down_blocks\.\d+\.resnets|(?:encoder|decoder)\.(?:down|up)_blocks\.\d+\.(?:down|up)sampler)\./
      .test(n)
  );
  if (!v22) return null;
  // Blocks per level, where the level's resampler goes in the reference's list.
  const blocks = new Map<string, number>();
  for (const n of names) {
    const m = LEVEL22.exec(n);
    if (m && m[3] !== undefined) {
      const key = `${m[1]}.${m[2]}`;
      blocks.set(key, Math.max(blocks.get(key) ?? 0, Number(m[3]) + 1));
    }
  }
  const out = new Map<string, string>();
  for (const n of names) {
    const m = LEVEL22.exec(n);
    let ref: string | null;
    if (m) {
      const inner = m[1] === "encoder" ? "downsamples" : "upsamples";
      const j = m[3] !== undefined ? Number(m[3]) : blocks.get(`${m[1]}.${m[2]}`) ?? 0;
      const leaf = m[3] !== undefined ? residualLeaf(m[4]) : m[4];
      ref = `${m[1]}.${inner}.${m[2]}.${inner}.${j}.${leaf}`;
    } else if (/^(?:encoder|decoder)\.(?:down|up)_blocks\./.test(n)) ref = null;
    else ref = referenceName(n, [], []);
    if (ref === null) fail(src, `tensor "${n}" is not a name of diffusers' AutoencoderKLWan`);
    out.set(n, ref);
  }
  return out;
}

/** Each diffusers name of `src` -> the reference's name for it. */
function referenceNames(src: TensorSource): Map<string, string> {
  const v22 = referenceNames22(src);
  if (v22) return v22;
  const names = src.names();
  // The decoder's levels: resnets per level and whether an upsampler follows, for the indices
  // of the reference's flat list.
  const resnets: number[] = [], upsamplers: boolean[] = [];
  for (const n of names) {
    const m = /^decoder\.up_blocks\.(\d+)\.(?:resnets\.(\d+)|upsamplers\.0)\./.exec(n);
    if (!m) continue;
    const i = Number(m[1]);
    if (i >= names.length) fail(src, `tensor "${n}" names level ${i} of ${names.length} tensors`);
    resnets[i] = Math.max(resnets[i] ?? 0, m[2] === undefined ? 0 : Number(m[2]) + 1);
    if (m[2] === undefined) upsamplers[i] = true;
  }
  const offsets: number[] = [];
  for (let i = 0, at = 0; i < resnets.length; i++) {
    if (resnets[i] === undefined) fail(src, `it has decoder.up_blocks.${i + 1} but no level ${i}`);
    offsets[i] = at;
    at += resnets[i] + (upsamplers[i] ? 1 : 0);
  }
  const out = new Map<string, string>();
  for (const n of names) {
    const ref = referenceName(n, resnets, offsets);
    if (ref === null) fail(src, `tensor "${n}" is not a name of diffusers' AutoencoderKLWan`);
    out.set(n, ref);
  }
  return out;
}

/** The reference's name of diffusers name `n`, or null for a name outside AutoencoderKLWan. */
function referenceName(n: string, resnets: number[], offsets: number[]): string | null {
  let m = /^(quant_conv|post_quant_conv)\.(weight|bias)$/.exec(n);
  if (m) return `${m[1] === "quant_conv" ? "conv1" : "conv2"}.${m[2]}`;
  m = /^(encoder|decoder)\.(conv_in|conv_out|norm_out)\.(weight|bias|gamma)$/.exec(n);
  if (m) {
    const to = { conv_in: "conv1", conv_out: "head.2", norm_out: "head.0" }[m[2]];
    return `${m[1]}.${to}.${m[3]}`;
  }
  m = /^(encoder|decoder)\.mid_block\.(resnets|attentions)\.(\d+)\.(.+)$/.exec(n);
  if (m) {
    const j = Number(m[3]);
    return m[2] === "resnets"
      ? `${m[1]}.middle.${2 * j}.${residualLeaf(m[4])}`
      : `${m[1]}.middle.${2 * j + 1}.${m[4]}`;
  }
  m = /^encoder\.down_blocks\.(\d+)\.(.+)$/.exec(n);
  if (m) return `encoder.downsamples.${m[1]}.${residualLeaf(m[2])}`;
  m = /^decoder\.up_blocks\.(\d+)\.(?:resnets\.(\d+)|upsamplers\.0)\.(.+)$/.exec(n);
  if (m) {
    const i = Number(m[1]);
    if (m[2] === undefined) return `decoder.upsamples.${offsets[i] + resnets[i]}.${m[3]}`;
    return `decoder.upsamples.${offsets[i] + Number(m[2])}.${residualLeaf(m[3])}`;
  }
  return null;
}

const ENCODER_HALF = /^(?:encoder|conv1)\./;
const DECODER_HALF = /^(?:decoder|conv2)\./;

/**
 * The tensors of one half of a Wan VAE checkpoint (`src` of either naming) under the
 * reference's names: the encoder's are `encoder.*` and `conv1.*`, the decoder's `decoder.*` and
 * `conv2.*`. A name of neither, or a half with no tensors, is an error.
 */
export function wanHalf(src: TensorSource, half: "encoder" | "decoder"): TensorSource {
  const diffusers = src.names().some((n) => DIFFUSERS_WAN.test(n));
  const names = diffusers ? referenceNames(src) : new Map(src.names().map((n) => [n, n]));
  const keep = half === "encoder" ? ENCODER_HALF : DECODER_HALF;
  const own = new Map<string, string>();
  for (const [original, ref] of names) {
    if (!ENCODER_HALF.test(ref) && !DECODER_HALF.test(ref)) {
      fail(src, `tensor "${original}" belongs to neither the encoder nor the decoder`);
    }
    if (keep.test(ref)) own.set(ref, original);
  }
  if (![...own.keys()].some((n) => n.startsWith(`${half}.`))) {
    fail(src, `it has no ${half} tensors`);
  }
  return {
    source: src.source,
    metadata: src.metadata,
    names: () => [...own.keys()],
    shape: (name) => {
      const original = own.get(name);
      return original === undefined ? undefined : src.shape(original);
    },
    float32: (name) => {
      const original = own.get(name);
      if (original === undefined) throw new Error(`"${src.source}" has no tensor "${name}"`);
      return src.float32(original);
    },
  };
}
