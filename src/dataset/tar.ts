/**
 * POSIX tar (ustar), as WebDataset shards use it: a reader that lists the regular files of a
 * tar file by their offsets without holding their bytes (every header field checked: a hostile
 * tar cannot claim a member past the file's end, a name that climbs out with "..", or more
 * members than the limit), and the header writer of the output shards (deterministic: mode
 * 0644, owner 0, mtime 0, so the same members give the same bytes on every machine).
 * @module
 */

/** A regular file inside a tar. */
export interface TarMember {
  name: string;
  /** Byte offset of its data in the tar file. */
  offset: number;
  size: number;
}

const BLOCK = 512;
/**
 * Most members listed from one tar: bounds the listing's memory (about 150 MB) whatever a file
 * claims; WebDataset shards hold thousands.
 */
export const MAX_TAR_MEMBERS = 1_000_000;
/** Longest pax or GNU long name accepted. */
const MAX_LONG_NAME = 4096;

const ascii = (b: Uint8Array) => new TextDecoder().decode(b).replace(/\0[\s\S]*$/, "");

/** A header's octal number field (NUL or space terminated), or null when it is not one. */
function octal(field: Uint8Array): number | null {
  const text = ascii(field).trim();
  if (!/^[0-7]{1,12}$/.test(text)) return text === "" ? 0 : null;
  return parseInt(text, 8);
}

/** Whether a 512-byte header's checksum field matches its bytes (the field read as spaces). */
function checksumOk(h: Uint8Array): boolean {
  const want = octal(h.subarray(148, 156));
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 32 : h[i];
  return want === sum;
}

/** A member name made safe to use as a key: relative, no "..", no control characters. */
function checkName(name: string, tar: string): string {
  const clean = name.replace(/^(\.\/)+/, "");
  if (
    !clean || clean.startsWith("/") || clean.split("/").includes("..") ||
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f]/.test(clean)
  ) {
    throw new Error(
      `Cannot read tar "${tar}": member name ${
        JSON.stringify(name)
      } is absolute, climbs out with "..", or holds control characters; rewrite the shard with relative names`,
    );
  }
  return clean;
}

/** Reads exactly `n` bytes at `offset`, or fewer where the file ends. */
async function readAt(file: Deno.FsFile, offset: number, n: number): Promise<Uint8Array> {
  await file.seek(offset, Deno.SeekMode.Start);
  const buf = new Uint8Array(n);
  let got = 0;
  while (got < n) {
    const r = await file.read(buf.subarray(got));
    if (r === null) break;
    got += r;
  }
  return buf.subarray(0, got);
}

/**
 * The regular files of the tar at `path`, in order, with their data offsets. Directories, links
 * and global pax headers are skipped; pax `path` records and GNU long names are honoured.
 * Throws, saying where, on a damaged header, a member running past the end or too many members.
 */
export async function listTar(path: string, maxMembers = MAX_TAR_MEMBERS): Promise<TarMember[]> {
  const fail = (what: string): never => {
    throw new Error(`Cannot read tar "${path}": ${what}; the shard is damaged or not a tar file`);
  };
  const file = await Deno.open(path, { read: true });
  try {
    const length = (await file.stat()).size;
    const members: TarMember[] = [];
    let at = 0, longName: string | null = null;
    while (at + BLOCK <= length) {
      const h = await readAt(file, at, BLOCK);
      if (h.every((b) => b === 0)) return members; // end-of-archive blocks
      if (!checksumOk(h)) fail(`the header at byte ${at} has a wrong checksum`);
      const size = octal(h.subarray(124, 136));
      if (size === null) fail(`the header at byte ${at} has a size that is not an octal number`);
      const data = at + BLOCK;
      if (data + size! > length) {
        fail(`the member at byte ${at} claims ${size} bytes, past the file's end (${length})`);
      }
      const type = String.fromCharCode(h[156] || 48);
      const next = data + Math.ceil(size! / BLOCK) * BLOCK;
      if (type === "x" || type === "L") {
        if (size! > MAX_LONG_NAME * 4) fail(`the extended header at byte ${at} is too large`);
        const body = new TextDecoder().decode(await readAt(file, data, size!));
        longName = type === "L" ? body.replace(/\0[\s\S]*$/, "") : paxPath(body) ?? longName;
        at = next;
        continue;
      }
      if (type === "0" || type === "7") {
        const prefix = ascii(h.subarray(345, 500));
        const short = ascii(h.subarray(0, 100));
        const name = longName ?? (prefix ? `${prefix}/${short}` : short);
        if (members.length >= maxMembers) fail(`it holds more than ${maxMembers} members`);
        members.push({ name: checkName(name, path), offset: data, size: size! });
      }
      longName = null;
      at = next;
    }
    if (at !== length) fail(`it ends inside a header (byte ${at} of ${length})`);
    return members;
  } finally {
    file.close();
  }
}

/** The `path` record of a pax extended header ("LEN path=NAME\n" records). */
function paxPath(body: string): string | null {
  let i = 0;
  while (i < body.length) {
    const space = body.indexOf(" ", i);
    const len = parseInt(body.slice(i, space), 10);
    if (!(len > 0) || space < 0) return null;
    const record = body.slice(space + 1, i + len - 1);
    if (record.startsWith("path=")) return record.slice(5);
    i += len;
  }
  return null;
}

/** The bytes of `offset`..`offset + size` of a file (one tar member). */
export async function readMember(path: string, m: TarMember): Promise<Uint8Array> {
  const file = await Deno.open(path, { read: true });
  try {
    const bytes = await readAt(file, m.offset, m.size);
    if (bytes.length !== m.size) {
      throw new Error(
        `Cannot read "${m.name}" from tar "${path}": the file is shorter than listed`,
      );
    }
    return bytes;
  } finally {
    file.close();
  }
}

/** Copies one member to a file through one 1 MiB buffer (a video member can be gigabytes). */
export async function copyMember(path: string, m: TarMember, to: string): Promise<void> {
  const file = await Deno.open(path, { read: true });
  const out = await Deno.open(to, { write: true, create: true, truncate: true });
  try {
    await file.seek(m.offset, Deno.SeekMode.Start);
    const buf = new Uint8Array(1 << 20);
    let done = 0;
    while (done < m.size) {
      const n = await file.read(buf.subarray(0, Math.min(buf.length, m.size - done)));
      if (n === null) {
        throw new Error(
          `Cannot read "${m.name}" from tar "${path}": the file is shorter than listed`,
        );
      }
      for (let at = 0; at < n;) at += await out.write(buf.subarray(at, n));
      done += n;
    }
  } finally {
    file.close();
    out.close();
  }
}

function field(h: Uint8Array, at: number, len: number, text: string): void {
  const b = new TextEncoder().encode(text);
  if (b.length > len) throw new Error(`tar field "${text}" does not fit ${len} bytes`);
  h.set(b, at);
}

/**
 * The 512-byte ustar header of a regular file `name` of `size` bytes. Names over 100 bytes are
 * split at a "/" into the 155-byte prefix; one that cannot be split is refused.
 */
export function tarHeader(name: string, size: number): Uint8Array {
  const h = new Uint8Array(BLOCK);
  let prefix = "", short = name;
  if (new TextEncoder().encode(name).length > 100) {
    const cut = name.lastIndexOf("/", name.length - 1);
    prefix = cut > 0 ? name.slice(0, cut) : "";
    short = cut > 0 ? name.slice(cut + 1) : name;
    if (!prefix || new TextEncoder().encode(short).length > 100 || prefix.length > 155) {
      throw new Error(`Cannot write tar member "${name}": its name is too long for ustar`);
    }
  }
  field(h, 0, 100, short);
  field(h, 100, 8, "0000644\0");
  field(h, 108, 8, "0000000\0");
  field(h, 116, 8, "0000000\0");
  field(h, 124, 12, size.toString(8).padStart(11, "0") + "\0");
  field(h, 136, 12, "00000000000\0");
  h[156] = 48; // "0": a regular file
  field(h, 257, 8, "ustar\u000000");
  field(h, 345, 155, prefix);
  h.fill(32, 148, 156);
  let sum = 0;
  for (const b of h) sum += b;
  field(h, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return h;
}

/** Zero bytes that pad a member of `size` bytes to a whole block. */
export function tarPadding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

/** The two zero blocks that end an archive. */
export const TAR_END: Uint8Array = new Uint8Array(2 * BLOCK);
