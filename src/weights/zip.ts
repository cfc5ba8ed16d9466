/**
 * A small, strict ZIP reader over bytes in memory, enough for the archives torch.jit.save writes:
 * stored and deflated members, ZIP64 end records and extra fields, and the extra-field padding
 * torch uses to align stored members. Every member read is checked against its CRC-32.
 *
 * Anything malformed (truncated, bad signature, offsets or sizes past the end, members that share
 * bytes, unsupported method, encryption, CRC mismatch) throws an Error naming the archive and the
 * problem; no partial data is ever returned. A deflated member is never inflated past the size its
 * header declares.
 *
 * @module
 */

/** One member, as the central directory describes it. */
export interface ZipEntry {
  name: string;
  /** 0: stored, 8: deflated; anything else cannot be read. */
  method: number;
  flags: number;
  crc32: number;
  compressedSize: number;
  /** Uncompressed size in bytes. */
  size: number;
  /** Offset of the member's data (after its local header) in the archive. */
  dataOffset: number;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;

/** Deflate's largest ratio: a 258-byte match in 2 bits. */
const MAX_DEFLATE_RATIO = 1032;
/** Compressed bytes handed to the inflater at a time (see readAsync). */
const INFLATE_CHUNK = 8 * 1024;

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, as ZIP uses it) of `data`. */
export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let crc = 0xffffffff;
  for (let i = 0; i < data.length; i++) crc = crcTable[(crc ^ data[i]) & 0xff] ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

/** A parsed archive; members are read on demand. */
export class ZipArchive {
  readonly #bytes: Uint8Array;
  readonly #entries: Map<string, ZipEntry>;
  readonly #verified = new Set<string>();

  private constructor(readonly label: string, readonly what: string, bytes: Uint8Array) {
    this.#bytes = bytes;
    this.#entries = new Map();
  }

  /**
   * Parses the end records, the central directory and every local header.
   * @param label the file name or URL, for messages
   * @param what how messages name the archive ("ZIP archive", "TorchScript")
   */
  static open(bytes: Uint8Array, label: string, what = "ZIP archive"): ZipArchive {
    const zip = new ZipArchive(label, what, bytes);
    zip.#parse();
    return zip;
  }

  /** Member names in central-directory order. */
  names(): string[] {
    return [...this.#entries.keys()];
  }

  entry(name: string): ZipEntry | undefined {
    return this.#entries.get(name);
  }

  /**
   * A stored member's bytes (a view into the archive, no copy), CRC-checked. Deflated members need
   * {@link readAsync}.
   */
  read(name: string): Uint8Array {
    const e = this.#checkReadable(name);
    if (e.method === 8) {
      this.#fail(`member "${name}" is deflated; read it with readAsync`);
    }
    if (e.compressedSize !== e.size) {
      this.#fail(
        `stored member "${name}" has compressed size ${e.compressedSize} but size ${e.size}`,
      );
    }
    return this.#verify(e, this.#bytes.subarray(e.dataOffset, e.dataOffset + e.size));
  }

  /**
   * Any readable member's bytes (inflated when deflated), CRC-checked. A deflated member is
   * inflated into a buffer of its declared size and never past it: callers check the declared
   * size (`entry(name).size`) against what they need before reading.
   */
  async readAsync(name: string): Promise<Uint8Array> {
    const e = this.#checkReadable(name);
    if (e.method === 0) return this.read(name);
    if (e.size > MAX_DEFLATE_RATIO * e.compressedSize + 1024) {
      this.#fail(
        `member "${name}" declares ${e.size} bytes, more than its ${e.compressedSize} deflated bytes can hold`,
      );
    }
    let out: Uint8Array;
    try {
      out = new Uint8Array(e.size);
    } catch {
      this.#fail(`member "${name}" declares ${e.size} bytes, more than this machine can allocate`);
    }
    const packed = this.#bytes.subarray(e.dataOffset, e.dataOffset + e.compressedSize);
    // The inflater turns each chunk it is given into all of its output at once: a bomb's whole
    // body in one chunk comes back as a gigabyte before any size check can run. Fed
    // INFLATE_CHUNK bytes at a time (and only when the last output was taken), it returns at
    // most INFLATE_CHUNK x MAX_DEFLATE_RATIO bytes per step.
    let next = 0;
    const input = new ReadableStream<Uint8Array<ArrayBuffer>>({
      pull(controller) {
        if (next >= packed.length) return controller.close();
        controller.enqueue(packed.subarray(next, next + INFLATE_CHUNK) as Uint8Array<ArrayBuffer>);
        next += INFLATE_CHUNK;
      },
    }, { highWaterMark: 0 });
    const reader = input.pipeThrough(new DecompressionStream("deflate-raw")).getReader();
    let filled = 0;
    try {
      for (let r = await reader.read(); !r.done; r = await reader.read()) {
        if (filled + r.value.length > e.size) {
          filled = Infinity;
          await reader.cancel();
          break;
        }
        out.set(r.value, filled);
        filled += r.value.length;
      }
    } catch (err) {
      this.#fail(`member "${name}" is not valid deflate data (${(err as Error).message})`);
    }
    if (filled === Infinity) this.#fail(`member "${name}" inflates to more than ${e.size} bytes`);
    if (filled !== e.size) {
      this.#fail(`member "${name}" inflates to ${filled} bytes, not ${e.size}`);
    }
    return this.#verify(e, out);
  }

  #fail(detail: string): never {
    throw new Error(`Cannot read ${this.what} "${this.label}": ${detail}`);
  }

  #checkReadable(name: string): ZipEntry {
    const e = this.#entries.get(name);
    if (!e) this.#fail(`no member "${name}"`);
    if (e.flags & 0x41) this.#fail(`member "${name}" is encrypted`);
    if (e.method !== 0 && e.method !== 8) {
      this.#fail(`member "${name}" uses unsupported compression method ${e.method}`);
    }
    return e;
  }

  #verify(e: ZipEntry, data: Uint8Array): Uint8Array {
    if (!this.#verified.has(e.name)) {
      const got = crc32(data);
      if (got !== e.crc32) {
        this.#fail(
          `member "${e.name}" fails its CRC-32 check (stored ${hex(e.crc32)}, computed ${
            hex(got)
          })`,
        );
      }
      this.#verified.add(e.name);
    }
    return data;
  }

  #parse(): void {
    const b = this.#bytes;
    const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
    const need = (offset: number, length: number, what: string) => {
      if (offset < 0 || offset + length > b.length) {
        this.#fail(`${what} at byte ${offset} runs past the end of the file (${b.length} bytes)`);
      }
    };
    const u64 = (offset: number, what: string): number => {
      const v = dv.getBigUint64(offset, true);
      if (v > BigInt(Number.MAX_SAFE_INTEGER)) this.#fail(`${what} ${v} is too large`);
      return Number(v);
    };

    // End of central directory: the last signature whose comment reaches exactly to the end.
    let eocd = -1;
    for (let p = b.length - 22; p >= Math.max(0, b.length - 22 - 0xffff); p--) {
      if (dv.getUint32(p, true) === SIG_EOCD && p + 22 + dv.getUint16(p + 20, true) === b.length) {
        eocd = p;
        break;
      }
    }
    if (eocd < 0) {
      this.#fail(
        b.length < 22
          ? `${b.length} bytes is too short for a ZIP archive`
          : "no end-of-central-directory record (not a ZIP archive, or truncated)",
      );
    }
    if (dv.getUint16(eocd + 4, true) !== 0 || dv.getUint16(eocd + 6, true) !== 0) {
      this.#fail("multi-disk archives are not supported");
    }
    let count = dv.getUint16(eocd + 10, true);
    let cdSize = dv.getUint32(eocd + 12, true);
    let cdOffset = dv.getUint32(eocd + 16, true);
    let cdEnd = eocd;
    if (eocd >= 20 && dv.getUint32(eocd - 20, true) === SIG_ZIP64_LOCATOR) {
      const rec = u64(eocd - 12, "ZIP64 end record offset");
      need(rec, 56, "ZIP64 end-of-central-directory record");
      if (dv.getUint32(rec, true) !== SIG_ZIP64_EOCD) {
        this.#fail(`bad ZIP64 end-of-central-directory signature at byte ${rec}`);
      }
      if (dv.getUint32(rec + 16, true) !== 0 || dv.getUint32(rec + 20, true) !== 0) {
        this.#fail("multi-disk archives are not supported");
      }
      count = u64(rec + 32, "entry count");
      cdSize = u64(rec + 40, "central directory size");
      cdOffset = u64(rec + 48, "central directory offset");
      cdEnd = rec;
    } else if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
      this.#fail("ZIP64 values without a ZIP64 end-of-central-directory locator");
    }
    if (cdOffset + cdSize > cdEnd) {
      this.#fail(
        `central directory (${cdSize} bytes at ${cdOffset}) runs past its end record at ${cdEnd}`,
      );
    }

    const decoder = new TextDecoder();
    /** Each member's local header offset and the end of its data, for the overlap check. */
    const spans: { name: string; start: number; end: number }[] = [];
    let p = cdOffset;
    for (let i = 0; i < count; i++) {
      need(p, 46, `central directory entry ${i}`);
      if (p + 46 > cdOffset + cdSize) {
        this.#fail(`central directory holds fewer than ${count} entries`);
      }
      if (dv.getUint32(p, true) !== SIG_CENTRAL) {
        this.#fail(`bad central directory signature at byte ${p}`);
      }
      const flags = dv.getUint16(p + 8, true);
      const method = dv.getUint16(p + 10, true);
      const crc = dv.getUint32(p + 16, true);
      let compressedSize = dv.getUint32(p + 20, true);
      let size = dv.getUint32(p + 24, true);
      const nameLen = dv.getUint16(p + 28, true);
      const extraLen = dv.getUint16(p + 30, true);
      const commentLen = dv.getUint16(p + 32, true);
      let disk = dv.getUint16(p + 34, true);
      let local = dv.getUint32(p + 42, true);
      const end = p + 46 + nameLen + extraLen + commentLen;
      if (end > cdOffset + cdSize) this.#fail(`central directory entry ${i} runs past its end`);
      const nameBytes = b.subarray(p + 46, p + 46 + nameLen);
      const name = decoder.decode(nameBytes);
      // ZIP64 extra field: the 64-bit values, for the 32-bit fields that are all ones, in order.
      for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen;) {
        const id = dv.getUint16(x, true), len = dv.getUint16(x + 2, true);
        const stop = x + 4 + len;
        if (stop > p + 46 + nameLen + extraLen) {
          this.#fail(`member "${name}" has a malformed extra field`);
        }
        if (id === 0x0001) {
          let q = x + 4;
          const take = (what: string) => {
            if (q + 8 > stop) this.#fail(`member "${name}" has a short ZIP64 extra field`);
            const v = u64(q, `member "${name}" ${what}`);
            q += 8;
            return v;
          };
          if (size === 0xffffffff) size = take("size");
          if (compressedSize === 0xffffffff) compressedSize = take("compressed size");
          if (local === 0xffffffff) local = take("offset");
          if (disk === 0xffff) disk = q + 4 <= stop ? dv.getUint32(q, true) : disk;
        }
        x = stop;
      }
      if (disk !== 0) this.#fail(`member "${name}" lies on another disk`);
      if (this.#entries.has(name)) this.#fail(`member "${name}" appears twice`);

      // Local header: its extra field may differ from the central one (torch pads with it).
      need(local, 30, `local header of "${name}"`);
      if (dv.getUint32(local, true) !== SIG_LOCAL) {
        this.#fail(`bad local header signature for member "${name}" at byte ${local}`);
      }
      const localNameLen = dv.getUint16(local + 26, true);
      const localExtraLen = dv.getUint16(local + 28, true);
      need(local + 30, localNameLen + localExtraLen, `local header of "${name}"`);
      const localName = b.subarray(local + 30, local + 30 + localNameLen);
      if (localName.length !== nameBytes.length || localName.some((c, k) => c !== nameBytes[k])) {
        this.#fail(`local header at byte ${local} does not name member "${name}"`);
      }
      if (dv.getUint16(local + 8, true) !== method) {
        this.#fail(`member "${name}" has different methods in its local and central headers`);
      }
      const dataOffset = local + 30 + localNameLen + localExtraLen;
      if (dataOffset + compressedSize > cdOffset) {
        this.#fail(`member "${name}" is truncated (${compressedSize} bytes at ${dataOffset})`);
      }
      this.#entries.set(name, {
        name,
        method,
        flags,
        crc32: crc,
        compressedSize,
        size,
        dataOffset,
      });
      spans.push({ name, start: local, end: dataOffset + compressedSize });
      p = end;
    }
    // Members that share bytes let a small archive inflate one deflate bomb many times over;
    // no writer lays an archive out that way.
    spans.sort((x, y) => x.start - y.start);
    for (let i = 1; i < spans.length; i++) {
      if (spans[i].start < spans[i - 1].end) {
        this.#fail(`members "${spans[i - 1].name}" and "${spans[i].name}" overlap`);
      }
    }
  }
}

function hex(v: number): string {
  return `0x${v.toString(16).padStart(8, "0")}`;
}
