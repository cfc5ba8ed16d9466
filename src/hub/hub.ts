/**
 * Resolves a model name, a Hugging Face hub repo id or a local directory to encoder and decoder
 * checkpoint files, downloading them into the huggingface_hub cache (shared with the Python
 * client) when they are not there yet.
 *
 * @example Download (or find in the cache) an official checkpoint
 * ```ts ignore
 * import { resolveCheckpoint } from "@cosmos/webgpu/hub";
 * const { encoder, decoder, revision } = await resolveCheckpoint("Cosmos-0.1-Tokenizer-DV4x8x8");
 * ```
 * @module
 */

import { knownNames, officialRepo } from "../models/variants.ts";
import { denoApi, expandHome, hubCacheDir, hubEndpoint, hubOffline, hubToken } from "./env.ts";
import { cachedCommit, cachedFile } from "./cache.ts";
import { authError, cannotDownload, type Context, type FileMeta, headers } from "./context.ts";
import { download } from "./download.ts";
import {
  checkRepoId,
  checkRevision,
  COMMIT_RULE,
  ETAG_RULE,
  type Half,
  halfFileNames,
  isBlobName,
  isCommitHash,
  noCheckpointError,
  quote,
  WHOLE_MODEL_FILES,
} from "./names.ts";

/** Progress of one file's download; `bytes` counts a resumed download's earlier part too. */
export interface DownloadProgress {
  /** The file's name in the repo ("encoder.jit"). */
  file: string;
  /** Bytes of the file on disk so far. */
  bytes: number;
  /** Expected size, or 0 where the server did not say. */
  total: number;
}

/** Default `maxBytes`: 4 GiB, as in the browser (src/browser/hub.ts). */
const DEFAULT_MAX_BYTES = 4 * 2 ** 30;

/** Where and how `resolveCheckpoint` looks for files; every field has a default. */
export interface ResolveOptions {
  /** Hub URL; default HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Access token sent as `Authorization: Bearer`; default HF_TOKEN, else the saved login. */
  token?: string;
  /** Cache directory; default HF_HUB_CACHE, else $HF_HOME/hub (~/.cache/huggingface/hub). */
  cacheDir?: string;
  /** Branch, tag or commit hash; default "main". */
  revision?: string;
  /** fetch to use (tests, proxies); default globalThis.fetch. */
  fetch?: typeof fetch;
  /** Called as bytes arrive. */
  onProgress?: (p: DownloadProgress) => void;
  /**
   * Largest file accepted, in bytes; default 4 GiB (the largest official tokenizer file is
   * under 1 GB). A file the hub says is larger is refused before it is fetched, and a body of
   * no declared length is cut off here, so that a hostile server cannot fill the disk.
   */
  maxBytes?: number;
  /** Use only the cache; default HF_HUB_OFFLINE. */
  offline?: boolean;
  /**
   * The halves wanted; default both. A half left out is neither looked up nor downloaded, and
   * its path in the result is empty.
   */
  halves?: readonly ("encoder" | "decoder")[];
}

/** Local paths of a checkpoint's two halves, and where they came from. */
export interface ResolvedCheckpoint {
  /** Local path of encoder.jit or encoder.safetensors ("" when `halves` left it out). */
  encoder: string;
  /** Local path of decoder.jit or decoder.safetensors ("" when `halves` left it out). */
  decoder: string;
  /** Hub repo id ("nvidia/Cosmos-0.1-Tokenizer-CI8x8"), or the directory given. */
  repo: string;
  /** Commit hash the files come from, or "local" for a directory. */
  revision: string;
}

/** The shape of an owner/name id (checked in full by checkRepoId); anything else is no repo. */
const REPO_SHAPE = /^[^/]+\/[^/]+$/;

/**
 * Local encoder and decoder checkpoint paths for `model`: an official name ("CI8x8",
 * "Cosmos-0.1-Tokenizer-CI8x8", "nvidia/Cosmos-0.1-Tokenizer-CI8x8"; repo nvidia/<name>), any
 * hub repo id ("owner/name"), or a local directory holding encoder/decoder .jit or .safetensors
 * files (returned as is). Hub files come from the cache when there, else are downloaded into it.
 *
 * @example
 * ```ts ignore
 * import { resolveCheckpoint } from "@cosmos/webgpu/hub";
 * const files = await resolveCheckpoint("nvidia/Cosmos-0.1-Tokenizer-CI8x8", { offline: true });
 * console.log(files.encoder); // ~/.cache/huggingface/hub/models--nvidia--.../encoder.jit
 * ```
 */
export async function resolveCheckpoint(
  model: string,
  options: ResolveOptions = {},
): Promise<ResolvedCheckpoint> {
  if (!denoApi()) {
    throw new Error(
      `Cannot resolve "${model}": the hub cache needs a file system (Deno); pass encoder and decoder URLs instead`,
    );
  }
  const wanted = new Set<Half>(options.halves ?? ["encoder", "decoder"]);
  if (wanted.size === 0 || [...wanted].some((h) => h !== "encoder" && h !== "decoder")) {
    throw new Error(
      `Cannot resolve "${model}": halves must name "encoder", "decoder" or both`,
    );
  }
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  if (!Number.isSafeInteger(maxBytes) || maxBytes <= 0) {
    throw new Error(`Invalid maxBytes ${maxBytes}: expected a positive whole number of bytes`);
  }
  const local = await localCheckpoint(model, wanted);
  if (local) return local;
  const repo = repoId(model);
  const revision = options.revision ?? "main";
  // Both become cache paths (and URLs): refused here, before the cache or the hub is asked.
  checkRevision(revision);
  const ctx: Context = {
    repo,
    revision,
    cacheDir: expandHome(options.cacheDir ?? hubCacheDir()),
    endpoint: (options.endpoint ?? hubEndpoint()).replace(/\/+$/, ""),
    token: options.token ?? await hubToken(),
    fetch: options.fetch ?? globalThis.fetch.bind(globalThis),
    onProgress: options.onProgress,
    maxBytes,
  };
  const offline = options.offline ?? hubOffline();
  // Both halves run to the end (no download left writing behind a failure) before any throws.
  const none = Promise.resolve({ path: "", commit: "" });
  const [enc, dec] = await Promise.allSettled([
    wanted.has("encoder") ? findFile(ctx, halfFileNames("encoder"), offline) : none,
    wanted.has("decoder") ? findFile(ctx, halfFileNames("decoder"), offline) : none,
  ]);
  if (enc.status === "rejected") throw enc.reason;
  if (dec.status === "rejected") throw dec.reason;
  if ([...wanted].every((h) => !(h === "encoder" ? enc.value : dec.value))) {
    // No half file at all: a repo holding a whole VAE in one file (Wan's) gives both halves.
    const whole = await findFile(ctx, WHOLE_MODEL_FILES, offline);
    if (whole) {
      const path = (h: Half) => wanted.has(h) ? whole.path : "";
      return { encoder: path("encoder"), decoder: path("decoder"), repo, revision: whole.commit };
    }
    // Online, every name was asked for: say all of them, not only the first half's.
    if (!offline) throw noCheckpointError(repo, revisionNote(ctx), wanted, NO_CHECKPOINT_REMEDY);
  }
  if (!enc.value) throw notFound(ctx, "encoder", offline);
  if (!dec.value) throw notFound(ctx, "decoder", offline);
  const commit = enc.value.commit || dec.value.commit;
  return { encoder: enc.value.path, decoder: dec.value.path, repo, revision: commit };
}

/** What to do when a repo holds none of the files tried (the CLI's flags named too). */
const NO_CHECKPOINT_REMEDY =
  "download the checkpoint and pass its files as encoder and decoder (CLI: --encoder and --decoder; one file as both where it holds the whole VAE)";

/** The revision for a message, where it is not the default. */
function revisionNote(ctx: Context): string {
  return ctx.revision === "main" ? "" : ` at revision "${ctx.revision}"`;
}

/** Why `half` could not be had: offline and not cached, or not in the repo. */
function notFound(ctx: Context, half: Half, offline: boolean): Error {
  const names = halfFileNames(half);
  if (offline) {
    return cannotDownload(
      ctx,
      names[0],
      "offline (offline: true or HF_HUB_OFFLINE) and not cached",
    );
  }
  return new Error(`${ctx.repo} has no ${names.join(" or ")}${revisionNote(ctx)}`);
}

/** The hub repo id for an official name or an owner/name id. */
function repoId(model: string): string {
  const official = officialRepo(model);
  if (official) return official;
  if (!model.includes("/")) {
    throw new Error(
      `Unknown model "${model}": expected one of ${knownNames()}, a hub repo id (owner/name) or a directory of checkpoints`,
    );
  }
  if (REPO_SHAPE.test(model)) {
    checkRepoId(model);
    return model;
  }
  throw new Error(
    `Unknown model "${model}": expected an official name (e.g. "Cosmos-0.1-Tokenizer-CI8x8"), a hub repo id (owner/name) or an existing directory`,
  );
}

/** A directory's checkpoints, or null where `model` is no directory. */
async function localCheckpoint(
  model: string,
  wanted: Set<Half>,
): Promise<ResolvedCheckpoint | null> {
  const deno = denoApi()!;
  const dir = expandHome(model);
  if (!(await isDirectoryPath(dir))) return null;
  const find = async (half: Half): Promise<string> => {
    for (const name of halfFileNames(half)) {
      const path = `${dir.replace(/[\\/]+$/, "")}/${name}`;
      try {
        if ((await deno.stat(path)).isFile) return path;
      } catch { /* try the next */ }
    }
    throw new Error(
      `Directory "${model}" has no ${halfFileNames(half).join(" or ")}`,
    );
  };
  const [encoder, decoder] = await Promise.all(
    (["encoder", "decoder"] as const).map((h) => wanted.has(h) ? find(h) : ""),
  );
  return { encoder, decoder, repo: model, revision: "local" };
}

/**
 * Whether `path` is an existing directory as the kernel walks it, every directory on the way
 * included: Deno shortens "acme/.." to "." before it asks, which would make a repo id
 * such as "acme/.." (refused as one) the working directory.
 */
async function isDirectoryPath(path: string): Promise<boolean> {
  const parts = path.split(/[\\/]+/);
  for (let i = 1; i <= parts.length; i++) {
    const prefix = parts.slice(0, i).join("/");
    if (prefix === "") continue; // the root of an absolute path
    try {
      if (!(await denoApi()!.stat(prefix)).isDirectory) return false;
    } catch {
      return false;
    }
  }
  return true;
}

/**
 * The first of `names` the cache holds for this revision, else (online) the first the hub has,
 * downloaded; null when there is none.
 */
async function findFile(
  ctx: Context,
  names: readonly string[],
  offline: boolean,
): Promise<{ path: string; commit: string } | null> {
  for (const name of names) {
    const path = await cachedFile(ctx.cacheDir, ctx.repo, ctx.revision, name);
    if (path) {
      return { path, commit: (await cachedCommit(ctx.cacheDir, ctx.repo, ctx.revision))! };
    }
  }
  if (offline) return null;
  for (const name of names) {
    const meta = await headFile(ctx, name);
    if (meta) return { path: await download(ctx, name, meta), commit: meta.commit };
  }
  return null;
}

/** Strips W/ and quotes from an ETag. */
function normalizeEtag(etag: string): string {
  return etag.trim().replace(/^W\//, "").replace(/^"(.*)"$/, "$1");
}

function isRelativeUrl(location: string): boolean {
  return !/^[a-z][a-z0-9+.-]*:/i.test(location) && !location.startsWith("//");
}

/** HEAD resolve/<revision>/<file>: commit, etag and size, or null on 404. */
async function headFile(ctx: Context, file: string): Promise<FileMeta | null> {
  const resolveUrl = `${ctx.endpoint}/${ctx.repo}/resolve/${
    encodeURIComponent(ctx.revision)
  }/${file}`;
  let url = resolveUrl;
  for (let hops = 0;; hops++) {
    let res: Response;
    try {
      res = await ctx.fetch(url, { method: "HEAD", headers: headers(ctx), redirect: "manual" });
    } catch (err) {
      throw cannotDownload(ctx, file, (err as Error).message);
    }
    await res.body?.cancel();
    if (res.status === 404) return null;
    if (res.status === 401 || res.status === 403) throw authError(ctx, file, res);
    const redirect = res.status >= 300 && res.status < 400;
    const commit = res.headers.get("x-repo-commit");
    const location = res.headers.get("location");
    // A renamed repository answers with a relative redirect (and no commit): follow it, as the
    // Python client does. An absolute one (the LFS CDN) is the file itself: not followed.
    if (redirect && !commit && location && isRelativeUrl(location) && hops < 5) {
      url = new URL(location, url).href;
      continue;
    }
    if (!res.ok && !redirect) {
      throw cannotDownload(ctx, file, `HTTP ${res.status} ${res.statusText}`);
    }
    const etagHeader = res.headers.get("x-linked-etag") ?? res.headers.get("etag");
    if (!commit || !etagHeader) {
      throw cannotDownload(
        ctx,
        file,
        `the answer of ${ctx.endpoint} has no X-Repo-Commit or ETag (is it a Hugging Face hub?)`,
      );
    }
    // Both name cache entries (snapshots/<commit>, blobs/<etag>): "../.." would leave the cache.
    if (!isCommitHash(commit)) {
      throw cannotDownload(
        ctx,
        file,
        `the hub's X-Repo-Commit ${quote(commit)} is not ${COMMIT_RULE}`,
      );
    }
    const etag = normalizeEtag(etagHeader);
    if (!isBlobName(etag)) {
      throw cannotDownload(
        ctx,
        file,
        `the hub's ETag ${quote(etag)} cannot name a blob (expected ${ETAG_RULE})`,
      );
    }
    const sizeHeader = res.headers.get("x-linked-size") ?? res.headers.get("content-length");
    const size = sizeHeader !== null && /^\d+$/.test(sizeHeader) ? Number(sizeHeader) : null;
    // GET the resolve URL (not a redirect target, which may be signed and expire).
    return { url: resolveUrl, commit, etag, size };
  }
}
