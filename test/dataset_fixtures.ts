/**
 * What the dataset tests share: a manifest of generated 32x32 PNGs and 9-frame 32x32 videos
 * (made with ffmpeg), the CLI run as a subprocess, and a check of a dataset folder's shards:
 * every tar against its index, every key once, nothing partial left.
 * @module
 */

import assert from "node:assert/strict";
import { encodeImage } from "../src/media/image.ts";
import { listTar, readMember } from "../src/dataset/tar.ts";
import { FIXTURES } from "./helpers.ts";

export const MAIN = new URL("../src/cli/main.ts", import.meta.url).pathname;
/** The small DV4x8x8 fixture: a video model, which takes images as one-frame clips. */
export const DV_ENCODER = new URL("DV4x8x8/encoder.safetensors", FIXTURES).pathname;

/** A 32x32 image with content that differs by seed. */
function image(seed: number): Uint8Array {
  const w = 32, h = 32, data = new Uint8Array(w * h * 3);
  for (let i = 0; i < w * h; i++) {
    data[i * 3] = (i * 7 + seed * 31) % 256;
    data[i * 3 + 1] = ((i >> 5) * 9 + seed * 17) % 256;
    data[i * 3 + 2] = (seed * 53 + (i % 32) * 5) % 256;
  }
  return encodeImage({ width: w, height: h, data }, "png", 95);
}

/**
 * `count` items in `dir` (every third a 9-frame video, the others PNGs) and a text manifest
 * listing them; returns the manifest's path and the keys in order.
 */
export function makeDataset(dir: string, count: number): { manifest: string; keys: string[] } {
  Deno.mkdirSync(`${dir}/media`, { recursive: true });
  const lines: string[] = [], keys: string[] = [];
  for (let i = 0; i < count; i++) {
    const key = `item${String(i).padStart(3, "0")}`;
    if (i % 3 === 1) {
      const r = new Deno.Command("ffmpeg", {
        args: [
          ...["-v", "error", "-y", "-f", "lavfi", "-i"],
          `testsrc=size=32x32:rate=24,hue=h=${i * 20}`,
          ...["-frames:v", "9", "-pix_fmt", "yuv420p", `${dir}/media/${key}.mp4`],
        ],
        stderr: "piped",
      }).outputSync();
      if (!r.success) throw new Error(new TextDecoder().decode(r.stderr));
      lines.push(`media/${key}.mp4`);
    } else {
      Deno.writeFileSync(`${dir}/media/${key}.png`, image(i));
      lines.push(`media/${key}.png`);
    }
    keys.push(key);
  }
  const manifest = `${dir}/manifest.txt`;
  Deno.writeTextFileSync(manifest, lines.join("\n") + "\n");
  return { manifest, keys };
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** `cosmos ARGS` in a subprocess. */
export async function cosmos(args: string[], env: Record<string, string> = {}): Promise<Run> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, ...args],
    env: { NO_COLOR: "1", XDG_RUNTIME_DIR: Deno.env.get("XDG_RUNTIME_DIR") ?? "/tmp", ...env },
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  return { code: out.code, stdout: dec.decode(out.stdout), stderr: dec.decode(out.stderr) };
}

/** Throws with the run's output unless it exited 0. */
export function ok(r: Run): Run {
  assert.equal(r.code, 0, `exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/**
 * Checks a finished dataset folder: only shard tars, their indexes, dataset.json and model.json (no
 * temporary file, no records left); each tar's members are its index's, in order, with the
 * hashes it gives; every key of `keys` appears exactly once across the shards. Returns each
 * key's token member bytes.
 */
export async function checkDataset(out: string, keys: string[]): Promise<Map<string, Uint8Array>> {
  const names = [...Deno.readDirSync(out)].map((e) => e.name).sort();
  for (const n of names) {
    assert.match(
      n,
      /^(shard-\d{6}\.(tar|index\.json)|dataset\.json|model\.json)$/,
      `left in ${out}: ${n}`,
    );
  }
  const tokens = new Map<string, Uint8Array>();
  const seen = new Map<string, string>();
  for (const n of names.filter((n) => n.endsWith(".tar"))) {
    const tar = `${out}/${n}`;
    const index = JSON.parse(Deno.readTextFileSync(tar.replace(/\.tar$/, ".index.json")));
    const members = await listTar(tar);
    const listed = index.done.flatMap((d: { members: { name: string }[] }) => d.members);
    assert.deepEqual(members.map((m) => m.name), listed.map((m: { name: string }) => m.name));
    for (const m of members) {
      const bytes = await readMember(tar, m);
      const key = m.name.slice(0, m.name.indexOf("."));
      if (m.name.endsWith(".json")) {
        assert.equal(seen.has(key), false, `${key} is in ${seen.get(key)} and in ${n}`);
        seen.set(key, n);
        const meta = JSON.parse(new TextDecoder().decode(bytes));
        assert.equal(meta.key, key);
      } else {
        tokens.set(key, bytes);
      }
    }
  }
  assert.deepEqual([...seen.keys()].sort(), [...keys].sort(), "every key exactly once");
  assert.equal(tokens.size, keys.length);
  return tokens;
}
