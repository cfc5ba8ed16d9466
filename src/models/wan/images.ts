/**
 * Images through a Wan VAE, for the CLI and the server: the Wan VAE is a video model, and an
 * image is its one-frame clip (T = 1), as in the reference (`WanVAE.encode` of a [1, 3, 1, H, W]
 * clip). Frame 0 goes through the causal network alone, so the latent has one frame; the
 * image's tokens are that latent without its time axis ([1, z, h, w]), the layout an image
 * tokenizer's latent has, so token files and /tokenize answers of images keep one shape.
 * @module
 */

import type { HostTensor } from "../../types.ts";

/** What these need of a tokenizer (a Tokenizer has it all). */
export interface ClipCoder {
  family: "cosmos" | "wan";
  encode(input: HostTensor): Promise<{ latent?: HostTensor; indices?: HostTensor }>;
  decode(input: HostTensor): Promise<HostTensor>;
}

/** Whether a tokenizer of video kind takes images, as one-frame clips (the Wan VAE's). */
export function takesImageClips(tok: { family: "cosmos" | "wan" }): boolean {
  return tok.family === "wan";
}

/** [B, C, ...rest] with a time axis of 1 after C. */
function withTime(t: HostTensor): HostTensor {
  return { data: t.data, shape: [t.shape[0], t.shape[1], 1, ...t.shape.slice(2)] };
}

/** [B, C, 1, h, w] without its time axis; throws unless it has one frame. */
function withoutTime(t: HostTensor, what: string): HostTensor {
  if (t.shape.length !== 5 || t.shape[2] !== 1) {
    throw new Error(`Cannot ${what}: expected one frame, got shape [${t.shape.join(", ")}]`);
  }
  return { data: t.data, shape: [t.shape[0], t.shape[1], ...t.shape.slice(3)] };
}

/** Image pixels [B, 3, H, W] -> the latent of their one-frame clip, [B, z, h, w]. */
export async function encodeImageClip(tok: ClipCoder, pixels: HostTensor): Promise<HostTensor> {
  const r = await tok.encode(withTime(pixels));
  return withoutTime((r.latent ?? r.indices)!, "encode the image");
}

/** An image's latent [B, z, h, w] -> its pixels [B, 3, H, W], through the one-frame clip. */
export async function decodeImageClip(tok: ClipCoder, latent: HostTensor): Promise<HostTensor> {
  return withoutTime(await tok.decode(withTime(latent)), "decode the image");
}
