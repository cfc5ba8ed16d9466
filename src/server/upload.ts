/**
 * What an upload must be before any tokenizer work: not empty, a medium the server reads (415),
 * of the kind the model takes (422), and an image within the size limit as its decoder will
 * read it (422; damage the header walk sees: 400). Cheap (headers only, no pixel decoded), so
 * the HTTP thread runs it on a raw body before admitting the request to the queue; the
 * tokenizer's side runs it again on what a form held. Also the file a multipart/form-data
 * body carries.
 * @module
 */

import { ImageLimitError, readImageSize } from "../media/image.ts";
import { HttpError } from "./http.ts";
import { takesImageClips } from "../models/wan/images.ts";
import { type Media, MEDIA_TYPES, sniffMedia } from "./sniff.ts";

/** What the checks need to know of the tokenizer. */
export interface UploadTarget {
  model: string;
  kind: "image" | "video";
  family: "cosmos" | "wan";
}

/** The 422 of an image larger than the server takes, from the decoder's limit error. */
export function tooLarge(err: ImageLimitError, maxSide: number): HttpError {
  const what = err.size ? `${err.size.width}x${err.size.height}` : "The image";
  return new HttpError(
    422,
    `${what} is larger than this server takes (${maxSide} pixels a side)` +
      (err.size ? "" : `: ${err.message}`),
  );
}

/** The upload's media after the checks above; throws the HttpError that refuses it. */
export function checkUpload(bytes: Uint8Array, tok: UploadTarget, maxSide: number): Media {
  if (!bytes.length) throw new HttpError(400, "Empty body: send a PNG, JPEG or video file");
  const media = sniffMedia(bytes);
  if (!media) throw new HttpError(415, `Unsupported media: send ${MEDIA_TYPES}`);
  // The Wan VAE takes an image as a one-frame clip.
  if (media.kind !== tok.kind && !(media.kind === "image" && takesImageClips(tok))) {
    throw new HttpError(
      422,
      tok.kind === "image"
        ? `This server runs ${tok.model}, an image tokenizer: send an image`
        : `This server runs ${tok.model}, a video tokenizer: send a video`,
    );
  }
  if (media.kind === "image") {
    try {
      readImageSize(bytes, "upload", { maxSide });
    } catch (err) {
      if (err instanceof ImageLimitError) throw tooLarge(err, maxSide);
      throw new HttpError(400, (err as Error).message);
    }
  }
  return media;
}

/** Whether a Content-Type names a multipart form. */
export function isMultipart(contentType: string | null): boolean {
  return /^multipart\/form-data\s*;/i.test(contentType ?? "");
}

/**
 * The file a multipart/form-data body carries: its "file" field, else its first file. The
 * body was read within the size limit, so parsing it is bounded too.
 */
export async function formFile(
  body: Uint8Array<ArrayBuffer>,
  contentType: string,
): Promise<Uint8Array<ArrayBuffer>> {
  let form: FormData;
  try {
    form = await new Response(body, { headers: { "content-type": contentType } }).formData();
  } catch (err) {
    throw new HttpError(400, `Damaged multipart/form-data body: ${(err as Error).message}`);
  }
  const named = form.get("file");
  const file = typeof named === "object" && named
    ? named
    : [...form.values()].find((v): v is File => typeof v === "object");
  if (!file) {
    throw new HttpError(
      400,
      'The form holds no file: send the image or video as its "file" field (curl -F file=@photo.png)',
    );
  }
  return new Uint8Array(await file.arrayBuffer());
}
