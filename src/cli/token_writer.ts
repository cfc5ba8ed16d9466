/**
 * A video token file written as encode makes it, never whole in memory: each chunk's tokens (a
 * latent frame, or a window) go to a spool file beside the output as they come out, and at the
 * end the output is written from it: the safetensors header (the tensor's shape and the
 * metadata are known only then), then the data. Indices [1, T, h, w] are time-major, so the
 * spool is copied as it is; latents [1, C, T, h, w] are channel-major, so for each channel the
 * spool's planes of that channel are read back chunk by chunk. Reads and writes go a few MB at a
 * time. The bytes are those `encodeTokenFile` writes for the joined tokens. The output appears
 * under its name only once complete (through a temporary file), and the spool and the temporary
 * file are removed on success and on failure alike.
 * @module
 */

import type { HostTensor } from "../types.ts";
import { type TokenInfo, tokenMetadata } from "./tokens.ts";
import { commitTemp, discardTemp, tempPathFor } from "./cleanup.ts";
import { STDIO } from "./outputs.ts";
import { LITTLE_ENDIAN } from "../weights/elements.ts";
import { headerBytes } from "../weights/safetensors.ts";

/** Most bytes copied from the spool to the output in one read and write. */
export const COPY_BYTES = 4 << 20;

/** One chunk in the spool: where it starts and how many latent frames it holds. */
interface SpooledChunk {
  offset: number;
  frames: number;
}

/** Where the output goes: a file, or stdout. */
interface Writer {
  write(bytes: Uint8Array): Promise<number>;
}

/** Writes all of `bytes` to `w`. */
async function writeAll(w: Writer, bytes: Uint8Array): Promise<void> {
  for (let at = 0; at < bytes.length;) at += await w.write(bytes.subarray(at));
}

/** Fills `into` from `file` at `offset`. */
async function readAt(file: Deno.FsFile, offset: number, into: Uint8Array): Promise<void> {
  await file.seek(offset, Deno.SeekMode.Start);
  for (let at = 0; at < into.length;) {
    const n = await file.read(into.subarray(at));
    if (n === null) throw new Error(`The token spool ended early, at byte ${offset + at}`);
    at += n;
  }
}

/** A video token file being written chunk by chunk (see the module's comment). */
export class TokenFileWriter {
  /** Largest buffer read or written so far, in bytes (what memory the writer needs). */
  largestBuffer = 0;
  #chunks: SpooledChunk[] = [];
  #spooled = 0;
  #shape: number[] | null = null;
  #copy = new Uint8Array(0);
  #output: string | null = null;
  #done = false;

  private constructor(
    private readonly final: string,
    private readonly discrete: boolean,
    private readonly spoolPath: string,
    private readonly spool: Deno.FsFile,
  ) {}

  /** Starts the token file `output` (`-` for stdout) of a discrete or continuous model. */
  static async open(output: string, discrete: boolean): Promise<TokenFileWriter> {
    if (!LITTLE_ENDIAN) throw new Error("Cannot write token files on a big-endian machine");
    // Spooled beside the output; for stdout, in the temporary directory.
    const tmpDir = Deno.env.get("TMPDIR") || "/tmp";
    const beside = output === STDIO ? `${tmpDir}/cosmos-stdout.safetensors` : output;
    const spoolPath = tempPathFor(`${beside}.spool`);
    try {
      const spool = await Deno.open(spoolPath, { read: true, write: true, createNew: true });
      return new TokenFileWriter(output, discrete, spoolPath, spool);
    } catch (err) {
      await discardTemp(spoolPath);
      throw err;
    }
  }

  /** Appends a chunk's tokens: [1, C, t, h, w] (latent) or [1, t, h, w] (indices). */
  async add(tokens: HostTensor): Promise<void> {
    const axis = this.discrete ? 1 : 2;
    const shape = tokens.shape;
    const first = this.#shape ??= [...shape];
    const same = shape.length === first.length &&
      shape.every((d, i) => i === axis || d === first[i]);
    if (!same) {
      throw new Error(
        `Cannot write tokens of shape [${shape}] after [${first}]: chunks differ beyond time`,
      );
    }
    const bytes = new Uint8Array(
      tokens.data.buffer,
      tokens.data.byteOffset,
      tokens.data.byteLength,
    );
    this.#note(bytes.length);
    await this.spool.seek(this.#spooled, Deno.SeekMode.Start);
    await writeAll(this.spool, bytes);
    this.#chunks.push({ offset: this.#spooled, frames: shape[axis] });
    this.#spooled += bytes.length;
  }

  /** The shape of all the tokens added so far, joined along time. */
  get shape(): number[] {
    const shape = [...(this.#shape ?? [])];
    shape[this.discrete ? 1 : 2] = this.#chunks.reduce((a, c) => a + c.frames, 0);
    return shape;
  }

  /** Writes the token file of the chunks added, with `info`'s metadata, under its name. */
  async finish(info: TokenInfo): Promise<void> {
    if (!this.#chunks.length) throw new Error("Cannot write a token file of no tokens");
    const shape = this.shape;
    const name = this.discrete ? "indices" : "latent";
    const header = {
      __metadata__: tokenMetadata(info, shape),
      [name]: {
        dtype: this.discrete ? "I32" : "F32",
        shape,
        data_offsets: [0, this.#spooled],
      },
    };
    const head = headerBytes(header);

    const toStdout = this.final === STDIO;
    const out = toStdout ? null : (this.#output = tempPathFor(this.final));
    const file = out ? await Deno.open(out, { write: true, createNew: true }) : null;
    const w: Writer = file ?? Deno.stdout;
    try {
      await writeAll(w, head);
      if (this.discrete) {
        await this.#copyRange(w, 0, this.#spooled);
      } else {
        // Channel c of a chunk of t frames is its c-th block of t planes.
        const channels = shape[1], plane = shape[3] * shape[4] * 4;
        for (let c = 0; c < channels; c++) {
          for (const chunk of this.#chunks) {
            const block = chunk.frames * plane;
            await this.#copyRange(w, chunk.offset + c * block, block);
          }
        }
      }
    } finally {
      file?.close();
    }
    if (out) await commitTemp(out, this.final);
    this.#output = null;
    await this.#close();
  }

  /** Removes the spool and any half-written output (after a failure). */
  async abort(): Promise<void> {
    if (this.#output) await discardTemp(this.#output);
    this.#output = null;
    await this.#close();
  }

  async #close(): Promise<void> {
    if (this.#done) return;
    this.#done = true;
    this.spool.close();
    await discardTemp(this.spoolPath);
  }

  /** Copies `length` spool bytes from `offset` to `w`, at most COPY_BYTES at a time. */
  async #copyRange(w: Writer, offset: number, length: number): Promise<void> {
    for (let at = 0; at < length;) {
      const n = Math.min(COPY_BYTES, length - at);
      if (this.#copy.length < n) this.#copy = new Uint8Array(n);
      const piece = this.#copy.subarray(0, n);
      this.#note(n);
      await readAt(this.spool, offset + at, piece);
      await writeAll(w, piece);
      at += n;
    }
  }

  #note(bytes: number): void {
    this.largestBuffer = Math.max(this.largestBuffer, bytes);
  }
}
