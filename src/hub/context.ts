/**
 * What one `resolveCheckpoint` call knows while it talks to the hub (repo, revision, cache,
 * endpoint, token), what the hub said about a file, and the error sentences both the lookup
 * (hub.ts) and the download (download.ts) give.
 * @module
 */

import type { DownloadProgress } from "./hub.ts";
import { repoFolder } from "./cache.ts";

/** One resolve's settings, every default filled in. */
export interface Context {
  repo: string;
  revision: string;
  cacheDir: string;
  endpoint: string;
  token: string | undefined;
  fetch: typeof fetch;
  onProgress?: (p: DownloadProgress) => void;
  /** Largest file accepted (ResolveOptions.maxBytes). */
  maxBytes: number;
}

/** A file as the hub's HEAD answer describes it; commit and etag are checked (names.ts). */
export interface FileMeta {
  url: string;
  commit: string;
  etag: string;
  size: number | null;
}

/** Why a file cannot be had, and how to get it some other way. */
export function cannotDownload(ctx: Context, file: string, reason: string): Error {
  return new Error(
    `Cannot download "${file}" from ${ctx.repo}: ${reason}; set HF_ENDPOINT or download it yourself into ${
      repoFolder(ctx.cacheDir, ctx.repo)
    } (e.g. huggingface-cli download ${ctx.repo} --cache-dir ${ctx.cacheDir})`,
  );
}

/** A 401 or 403, explained by whether a token was sent. */
export function authError(ctx: Context, file: string, res: Response): Error {
  const why = ctx.token
    ? "the token given (HF_TOKEN) was refused: check that it can read this repository"
    : "the repository is private, gated or does not exist: set HF_TOKEN to an access token that can read it";
  return new Error(
    `Cannot download "${file}" from ${ctx.repo}: HTTP ${res.status} ${res.statusText}; ${why}`,
  );
}

/**
 * Request headers: the token, and no compression, so that Content-Length counts the file's own
 * bytes (as the Python client asks).
 */
export function headers(ctx: Context, extra: Record<string, string> = {}): Headers {
  const h = new Headers({ "Accept-Encoding": "identity", ...extra });
  if (ctx.token) h.set("Authorization", `Bearer ${ctx.token}`);
  return h;
}
