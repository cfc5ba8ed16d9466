/**
 * A dataset's items from its manifest: a text file of paths or URLs (one a line, `#` comments),
 * a JSONL file (a string, or `{"path" | "url": ..., "key"?: ...}` a line), a glob of media
 * files, or WebDataset tar shards (a `.tar`, a glob of them, or a text manifest listing them),
 * whose samples are the members sharing a key. Every item gets a key, the WebDataset name of its
 * outputs: given, or the file's name without extension; keys are checked (no ".", nothing that
 * climbs out of a directory) and must be unique, so outputs can never collide.
 * @module
 */

import { globSync } from "node:fs";
import { imageFormatOf } from "../media/image.ts";
import { isVideoPath } from "../media/video.ts";
import { listTar, type TarMember } from "./tar.ts";

/** One input of a dataset. */
export interface Item {
  /** The WebDataset key of its outputs (`KEY.tokens.safetensors`, `KEY.json`). */
  key: string;
  /** Where it comes from: a path, a URL, or `SHARD.tar#MEMBER`. */
  source: string;
  kind: "image" | "video";
  /** Its media file's extension ("png", "mp4"). */
  ext: string;
  /** Where in a WebDataset tar its bytes are. */
  member?: { tar: string; offset: number; size: number };
}

/** Longest line a manifest may hold: a path or URL, not a file's contents. */
const MAX_LINE = 8192;
/** Largest manifest read (it is held whole while items are listed). */
export const MAX_MANIFEST_BYTES = 1 << 30;
const MAX_KEY = 200;
const GLOB_CHARS = /[*?[{]/;

const isUrl = (s: string) => /^https?:\/\//i.test(s);

/** The extension of a path or URL ("png"), lower case. */
function extOf(source: string): string {
  const path = isUrl(source) ? new URL(source).pathname : source;
  const base = path.slice(path.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return dot > 0 ? base.slice(dot + 1).toLowerCase() : "";
}

function kindOf(source: string, where: string): "image" | "video" {
  const name = `x.${extOf(source)}`;
  if (imageFormatOf(name)) return "image";
  if (isVideoPath(name)) return "video";
  throw new Error(
    `${where}: "${source}" is not an image or video (images: .png, .jpg; videos: .mp4, .webm, .mkv, .mov, ...); remove it from the manifest`,
  );
}

/** A key derived from a name: its last component without extension, dots made "_". */
function keyOf(source: string): string {
  const path = isUrl(source) ? new URL(source).pathname : source;
  const base = path.slice(path.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  return (dot > 0 ? base.slice(0, dot) : base).replaceAll(".", "_");
}

/** Throws unless `key` can name tar members and files: what WebDataset readers split on. */
export function checkKey(key: string, where: string): string {
  if (
    !key || key.length > MAX_KEY || key.includes(".") || key.startsWith("/") ||
    key.split("/").some((p) => p === "" || p === "..") ||
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f\\]/.test(key)
  ) {
    throw new Error(
      `${where}: key ${
        JSON.stringify(key)
      } is not usable (1-${MAX_KEY} characters, no ".", no backslash or control characters, relative path parts); give another key`,
    );
  }
  return key;
}

/** The samples of one WebDataset tar: members grouped by key, the media member of each. */
async function tarItems(tar: string): Promise<Item[]> {
  const members = await listTar(tar);
  const samples = new Map<string, TarMember[]>();
  for (const m of members) {
    const slash = m.name.lastIndexOf("/");
    const dot = m.name.indexOf(".", slash + 1);
    if (dot <= slash + 1) continue; // no key: not part of any sample
    const key = m.name.slice(0, dot);
    samples.set(key, [...(samples.get(key) ?? []), m]);
  }
  const items: Item[] = [];
  for (const [key, ms] of samples) {
    const media = ms.find((m) => {
      const name = `x.${extOf(m.name)}`;
      return imageFormatOf(name) !== null || isVideoPath(name);
    });
    if (!media) continue; // a sample of only labels or metadata has nothing to tokenize
    const source = `${tar}#${media.name}`;
    items.push({
      key: checkKey(key, `WebDataset "${tar}"`),
      source,
      kind: kindOf(media.name, `WebDataset "${tar}"`),
      ext: extOf(media.name),
      member: { tar, offset: media.offset, size: media.size },
    });
  }
  return items;
}

function pathItem(source: string, key: string | undefined, where: string): Item {
  if (!isUrl(source) && source.includes("#")) {
    throw new Error(`${where}: "${source}": "#" is reserved for tar members; rename the file`);
  }
  return {
    key: checkKey(key ?? keyOf(source), where),
    source,
    kind: kindOf(source, where),
    ext: extOf(source),
  };
}

/** Files a glob matches, sorted, or an error saying it matched none. */
function globFiles(pattern: string): string[] {
  const files = (globSync(pattern) as string[]).filter((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  }).sort();
  if (!files.length) throw new Error(`No files match "${pattern}"`);
  return files;
}

/** Items of one entry: a .tar's samples, else the media file (or URL) itself. */
async function entryItems(entry: string, key: string | undefined, where: string) {
  if (!isUrl(entry) && extOf(entry) === "tar") {
    if (key !== undefined) throw new Error(`${where}: a tar shard takes its keys from its members`);
    return await tarItems(entry);
  }
  return [pathItem(entry, key, where)];
}

/** Relative paths in a manifest file are relative to the manifest's folder. */
function resolveFrom(manifest: string, entry: string): string {
  if (isUrl(entry) || entry.startsWith("/")) return entry;
  const slash = manifest.lastIndexOf("/");
  return slash < 0 ? entry : `${manifest.slice(0, slash + 1)}${entry}`;
}

async function manifestFileItems(path: string): Promise<Item[]> {
  let size: number;
  try {
    size = (await Deno.stat(path)).size;
  } catch {
    throw new Error(`No such manifest: "${path}"; give a list file, a glob or .tar shards`);
  }
  if (size > MAX_MANIFEST_BYTES) {
    throw new Error(`Manifest "${path}" is over ${MAX_MANIFEST_BYTES} bytes; split the dataset`);
  }
  const text = new TextDecoder("utf-8", { fatal: true }).decode(await Deno.readFile(path));
  const jsonl = path.toLowerCase().endsWith(".jsonl");
  const items: Item[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const where = `Manifest "${path}" line ${i + 1}`;
    const line = lines[i].trim();
    if (!line || (!jsonl && line.startsWith("#"))) continue;
    if (line.length > MAX_LINE) throw new Error(`${where}: longer than ${MAX_LINE} characters`);
    let entry: string, key: string | undefined;
    if (jsonl) {
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        throw new Error(`${where}: not JSON; each line is "path" or {"path": ..., "key": ...}`);
      }
      const o = v as Record<string, unknown>;
      const src = typeof v === "string" ? v : o?.path ?? o?.url;
      if (typeof src !== "string" || (o?.key !== undefined && typeof o.key !== "string")) {
        throw new Error(`${where}: give a string, or an object with a "path" or "url" string`);
      }
      entry = src;
      key = typeof v === "string" ? undefined : o.key as string | undefined;
    } else {
      entry = line;
    }
    items.push(...await entryItems(resolveFrom(path, entry), key, where));
  }
  return items;
}

/**
 * The items of a manifest argument: a glob or `.tar` names files directly, anything else is a
 * list file. Keys are unique across the whole manifest (two items with one key are an error,
 * naming both), and items keep the manifest's order, which fixes each item's shard.
 */
export async function readManifest(manifest: string): Promise<Item[]> {
  let items: Item[];
  if (GLOB_CHARS.test(manifest)) {
    items = [];
    for (const f of globFiles(manifest)) items.push(...await entryItems(f, undefined, f));
  } else if (extOf(manifest) === "tar") {
    items = await entryItems(manifest, undefined, manifest);
  } else {
    items = await manifestFileItems(manifest);
  }
  if (!items.length) throw new Error(`Manifest "${manifest}" lists no images or videos`);
  const seen = new Map<string, string>();
  for (const item of items) {
    const other = seen.get(item.key);
    if (other !== undefined) {
      throw new Error(
        `"${other}" and "${item.source}" would both be written as key "${item.key}"; give keys in a JSONL manifest ({"path": ..., "key": ...})`,
      );
    }
    seen.set(item.key, item.source);
  }
  return items;
}
