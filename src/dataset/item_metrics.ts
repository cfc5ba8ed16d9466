/**
 * `--metrics`: an item's reconstruction quality, as `cosmos autoencode` reports it (TokenBench's
 * PSNR over all frames, SSIM per frame then averaged, on 0..255 pixels), measured by decoding the
 * tokens just written: an image in one pass, a video a latent frame at a time (`decodedVideo`)
 * beside its original frames read again from ffmpeg, two frames held at a time.
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";
import type { HostTensor } from "../types.ts";
import type { RgbImage } from "../media/image.ts";
import { cropImage } from "../media/pad.ts";
import { tensorToFrames } from "../media/tensor.ts";
import { QualityMeter } from "../media/metrics.ts";
import { readVideoFrames, type VideoInfo } from "../media/video.ts";
import type { TokenInfo } from "../cli/tokens.ts";
import { decodedVideo } from "../cli/video_items.ts";

/** PSNR (dB) and SSIM of one item; SSIM is left out for frames under its 7x7 window. */
export interface ItemQuality {
  psnr: number;
  ssim?: number;
}

async function* oneFrame(img: RgbImage): AsyncGenerator<RgbImage> {
  yield img;
}

/**
 * The quality of `tokens` (with `info`, as written) against the original: `image` for an image
 * item, else the video file `video` as `probe` describes it.
 */
export async function measureItem(
  tok: Tokenizer,
  info: TokenInfo,
  tokens: HostTensor,
  original: { image?: RgbImage; video?: string; probe?: VideoInfo },
): Promise<ItemQuality> {
  const meter = new QualityMeter();
  if (info.kind === "image") {
    const rec = cropImage(tensorToFrames(await tok.decode(tokens))[0], info.crop);
    const img = original.image!;
    meter.add(img.data, rec.data, img.width, img.height);
  } else {
    const source = original.image
      ? oneFrame(original.image)
      : readVideoFrames(original.video!, original.probe!);
    const originals = source[Symbol.asyncIterator]();
    try {
      for await (const rec of decodedVideo(tok, info, tokens, { decodeMs: 0 })) {
        const next = await originals.next();
        if (next.done) throw new Error("the reconstruction has more frames than the original");
        meter.add(next.value.data, rec.data, rec.width, rec.height);
      }
    } finally {
      await originals.return?.(undefined);
    }
  }
  const q = meter.result();
  return Number.isFinite(q.ssim) ? { psnr: q.psnr, ssim: q.ssim } : { psnr: q.psnr };
}
