/**
 * Reads the state_dict of a TorchScript archive (the `.jit` files torch.jit.save writes, as NVIDIA
 * ships the Cosmos tokenizers) without Python; and of a `torch.save` of a state_dict (a `.pth`,
 * as Wan ships its VAE: the same ZIP layout, whose data.pkl holds an OrderedDict of name ->
 * tensor instead of a module tree).
 *
 * Layout: a ZIP whose members all lie under one folder `<archive>/`. `<archive>/data.pkl` pickles
 * the module tree: each module is an object of a `__torch__.*` class whose BUILD state is a dict of
 * attribute name -> value, where parameters and buffers are tensors, submodules are nested objects
 * and everything else (`training`, hooks) is a plain value. A tensor's storage is a persistent id
 * `("storage", torch.FloatStorage, key, location, numel)` naming the member `<archive>/data/<key>`.
 * The state_dict is every tensor reachable through module attributes, names joined with dots, as
 * `torch.jit.load(...).state_dict()` gives it. Of `code/`, the traced source, only the classes
 * of a video tokenizer's patcher and resamplers are read, for its compression (traced_code.ts);
 * `*.debug_pkl`, `constants.pkl` and `constants/` are not needed; `byteorder`, when present, must
 * say "little".
 *
 * Every size and count is bounded before it costs memory or time: data.pkl is read first and each
 * record's declared size checked against what it says the record holds; the module tree is walked
 * once per module, without recursion, to a bounded depth and tensor count; and a tensor may not
 * view more values than its storage holds.
 *
 * @module
 */

import type { TensorSource } from "./checkpoint.ts";
import { f16ToF32 } from "./safetensors.ts";
import {
  DTYPE_BYTES,
  PickledObject,
  PickledTensor,
  StorageType,
  type TorchDtype,
  unpickle,
} from "./pickle.ts";
import { ZipArchive } from "./zip.ts";
import {
  codeMembers,
  MAX_CODE_BYTES,
  readTracedCode,
  type TracedArchitecture,
} from "./traced_code.ts";

interface Storage {
  dtype: TorchDtype;
  /** The ZIP member holding it. */
  record: string;
  numel: number;
}

interface Tensor {
  storage: Storage;
  offset: number;
  shape: number[];
  stride: number[];
}

/** What data.pkl describes: the state_dict's tensors and the storages behind them. */
interface Layout {
  tensors: Map<string, Tensor>;
  storages: Storage[];
  /** Every module's class name, by path ("encoder.down.0.downsample"; "" for the root). */
  classes: Map<string, string>;
  /** The archive folder ("encoder/"). */
  prefix: string;
}

/**
 * The largest data.pkl read. A module tree pickles to about 190 bytes a tensor (28 KB for the
 * CV4x8x8 fixture's encoder); this is room for MAX_TENSORS of them.
 */
const MAX_PICKLE_BYTES = 32 << 20;
/** `byteorder` holds "little" or "big". */
const MAX_BYTEORDER_BYTES = 16;
/** The deepest module nesting read (a Cosmos tokenizer's is 6). */
export const MAX_MODULE_DEPTH = 100;
/** The most tensors one state_dict may hold (a Cosmos decoder has a few hundred). */
export const MAX_TENSORS = 100_000;
/** The longest tensor name ("decoder.up.0.block.0.conv1.0.conv3d.weight" is 42 characters). */
const MAX_NAME_LENGTH = 1000;
/** The most dimensions a tensor may have (Cosmos' convolution kernels have 5). */
const MAX_DIMS = 16;

function failIn(source: string, detail: string): never {
  throw new Error(`Cannot read TorchScript "${source}": ${detail}`);
}

/** Parses a TorchScript archive whose members are stored (as torch writes them). */
export function parseTorchScript(bytes: Uint8Array, source: string): TensorSource {
  const zip = ZipArchive.open(bytes, source, "TorchScript");
  const layout = readLayout(zip, source, (name) => zip.read(name));
  const code = new Map<string, Uint8Array>();
  for (const member of tracedMembers(zip, layout, source)) code.set(member, zip.read(member));
  return tensorSource(layout, source, (record) => zip.read(record), traced(layout, code));
}

/**
 * Like {@link parseTorchScript}, and also reads archives whose members were deflated. data.pkl is
 * read first, since only it says what the records hold: each record is inflated only after its
 * declared size has been checked against that, and never past it.
 */
export async function readTorchScript(bytes: Uint8Array, source: string): Promise<TensorSource> {
  const zip = ZipArchive.open(bytes, source, "TorchScript");
  const inflated = new Map<string, Uint8Array>();
  for (const name of Object.values(frame(zip, source).small)) {
    if (name !== undefined && zip.entry(name)!.method !== 0) {
      inflated.set(name, await zip.readAsync(name));
    }
  }
  const layout = readLayout(zip, source, (name) => inflated.get(name) ?? zip.read(name));
  for (const { record } of layout.storages) {
    if (zip.entry(record)!.method !== 0) inflated.set(record, await zip.readAsync(record));
  }
  const code = new Map<string, Uint8Array>();
  for (const member of tracedMembers(zip, layout, source)) {
    code.set(member, await zip.readAsync(member));
  }
  const record = (name: string) => inflated.get(name) ?? zip.read(name);
  return tensorSource(layout, source, record, traced(layout, code));
}

/** The code members the compression is read from that the archive has, sizes checked. */
function tracedMembers(zip: ZipArchive, layout: Layout, source: string): string[] {
  return codeMembers(layout.classes, layout.prefix).filter((member) => {
    const size = zip.entry(member)?.size;
    if (size !== undefined && size > MAX_CODE_BYTES) {
      failIn(
        source,
        `member "${member}" declares ${size} bytes; a module's traced code is far smaller (at most ${MAX_CODE_BYTES} bytes are read)`,
      );
    }
    return size !== undefined;
  });
}

/** What the traced code members (read into `code`) say about a video tokenizer's compression. */
function traced(layout: Layout, code: Map<string, Uint8Array>): TracedArchitecture {
  const decoder = new TextDecoder();
  return readTracedCode(layout.classes, layout.prefix, (member) => {
    const bytes = code.get(member);
    return bytes === undefined ? undefined : decoder.decode(bytes);
  });
}

/**
 * The archive's folder ("encoder/"), once every member is checked to lie in it, and its
 * `byteorder` and `data.pkl` members, once their declared sizes are checked.
 */
function frame(
  zip: ZipArchive,
  source: string,
): { prefix: string; small: { byteorder?: string; pickle: string } } {
  function fail(detail: string): never {
    failIn(source, detail);
  }
  const first = zip.names()[0];
  const slash = first?.indexOf("/") ?? -1;
  if (slash <= 0) {
    fail(
      first === undefined
        ? "the archive is empty"
        : `member "${first}" lies outside an archive folder`,
    );
  }
  const archive = first.slice(0, slash);
  const prefix = `${archive}/`;
  for (const name of zip.names()) {
    if (!name.startsWith(prefix)) {
      fail(`member "${name}" lies outside the archive folder "${archive}"`);
    }
  }
  const small = (member: string, max: number, what: string) => {
    const name = prefix + member;
    const size = zip.entry(name)?.size;
    if (size !== undefined && size > max) {
      fail(`member "${name}" declares ${size} bytes; ${what} (at most ${max} bytes are read)`);
    }
    return size === undefined ? undefined : name;
  };
  const byteorder = small("byteorder", MAX_BYTEORDER_BYTES, 'it holds "little" or "big"');
  const pickle = small("data.pkl", MAX_PICKLE_BYTES, "a module tree pickles far smaller") ??
    fail(`there is no member "${prefix}data.pkl" (not a TorchScript archive?)`);
  return { prefix, small: { byteorder, pickle } };
}

/** Unpickles data.pkl (read by `read`) and checks every tensor it names against its record. */
function readLayout(
  zip: ZipArchive,
  source: string,
  read: (name: string) => Uint8Array,
): Layout {
  function fail(detail: string): never {
    failIn(source, detail);
  }
  const { prefix, small } = frame(zip, source);
  if (small.byteorder !== undefined) {
    const order = new TextDecoder().decode(read(small.byteorder)).trim();
    if (order === "big") fail("its tensors are big-endian, which is not supported");
    if (order !== "little") fail(`unknown byteorder ${JSON.stringify(order)}`);
  }

  const storages = new Map<string, Storage>();
  const root = unpickle(read(small.pickle), {
    source,
    persistentLoad(pid) {
      if (
        !Array.isArray(pid) || pid.length !== 5 || pid[0] !== "storage" ||
        !(pid[1] instanceof StorageType) || typeof pid[2] !== "string" ||
        !Number.isSafeInteger(pid[4]) || pid[4] < 0
      ) {
        return fail(`data.pkl has an unexpected persistent id ${describe(pid)}`);
      }
      const [, type, key, , numel] = pid as [string, StorageType, string, unknown, number];
      const record = `${prefix}data/${key}`;
      const known = storages.get(key);
      if (known) {
        if (known.dtype !== type.dtype || known.numel !== numel) {
          fail(`data.pkl uses record "${record}" as two different storages`);
        }
        return known;
      }
      const entry = zip.entry(record) ?? fail(`data.pkl references missing record "${record}"`);
      const bytes = numel * DTYPE_BYTES[type.dtype];
      if (entry.size !== bytes) {
        fail(
          `record "${record}" has ${entry.size} bytes, but data.pkl says it holds ${numel} ${type.dtype} values (${bytes} bytes)`,
        );
      }
      const storage: Storage = { dtype: type.dtype, record, numel };
      storages.set(key, storage);
      return storage;
    },
  });

  const backing = new Set(storages.values());
  const tensors = new Map<string, Tensor>();
  const checkTensor = (t: PickledTensor, name: string): Tensor => {
    const storage = t.storage as Storage;
    if (!backing.has(storage)) {
      fail(`tensor "${name}" is not backed by a storage record`);
    }
    if (t.shape.length > MAX_DIMS) {
      fail(`tensor "${name}" has ${t.shape.length} dimensions, more than ${MAX_DIMS}`);
    }
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const declared = `(shape [${t.shape.join(", ")}], stride [${
      t.stride.join(", ")
    }], offset ${t.offset})`;
    // Zero or overlapping strides would let a 1-value storage read as billions of values.
    if (numel > storage.numel) {
      fail(
        `tensor "${name}" ${declared} declares ${numel} values over the ${storage.numel} of "${storage.record}"; a checkpoint's tensor is a view of its storage and holds at most as many values`,
      );
    }
    const last = t.offset + t.shape.reduce((a, d, i) => a + (d - 1) * t.stride[i], 0);
    if (numel > 0 && last >= storage.numel) {
      fail(
        `tensor "${name}" ${declared} reaches past the ${storage.numel} values of "${storage.record}"`,
      );
    }
    return { storage, offset: t.offset, shape: t.shape, stride: t.stride };
  };
  const classes = new Map<string, string>();
  const add = (name: string, t: PickledTensor) => {
    if (tensors.size >= MAX_TENSORS) {
      fail(`data.pkl holds more than ${MAX_TENSORS} tensors, more than any checkpoint`);
    }
    tensors.set(name, checkTensor(t, name));
  };
  if (root instanceof Map) {
    // torch.save of a state_dict (a `.pth`, as Wan ships its VAE): names -> tensors.
    for (const [key, value] of root) {
      if (typeof key !== "string") {
        fail(`the state_dict has a key that is not a name: ${describe(key)}`);
      }
      if (key.length > MAX_NAME_LENGTH) {
        fail(`the name "${key.slice(0, 200)}..." is longer than ${MAX_NAME_LENGTH} characters`);
      }
      if (!(value instanceof PickledTensor)) {
        fail(`the state_dict's entry "${key.slice(0, 200)}" is ${describe(value)}, not a tensor`);
      }
      add(key, value);
    }
    return { tensors, storages: [...backing], classes, prefix };
  }
  if (!(root instanceof PickledObject)) {
    fail("data.pkl holds neither a module (torch.jit.save) nor a state_dict (torch.save)");
  }
  walkModules(root, source, add, (path, className) => classes.set(path, className));
  return { tensors, storages: [...backing], classes, prefix };
}

/**
 * Calls `visit` with every tensor attribute of the module tree under `root`, depth first in
 * attribute order, named by its path. Every module and attribute dict is walked once, without
 * recursion: a pickle's memo can make one module the child of many, and a tree walk of a
 * module that references its child twice, whose child does too, ... would take 2^depth steps.
 * A checkpoint's modules form a tree, so a module met twice is refused.
 */
function walkModules(
  root: PickledObject,
  source: string,
  visit: (name: string, tensor: PickledTensor) => void,
  visitModule: (path: string, className: string) => void,
): void {
  function fail(detail: string): never {
    failIn(source, detail);
  }
  /** The name each module and attribute dict was first met under. */
  const met = new Map<PickledObject | Map<unknown, unknown>, string>();
  const frames: { obj: PickledObject; path: string; attrs: Iterator<[unknown, unknown]> }[] = [];
  const enter = (obj: PickledObject, path: string) => {
    const name = path || "<root>";
    const state = obj.state;
    if (!(state instanceof Map)) fail(`module "${name}" (${obj.className}) has no attribute dict`);
    const again = met.get(obj);
    if (again !== undefined) {
      fail(
        frames.some((f) => f.obj === obj)
          ? `module "${name}" contains itself`
          : `module "${name}" is module "${again}" again (a module tree's modules are not shared)`,
      );
    }
    const sharer = met.get(state);
    if (sharer !== undefined) {
      fail(`module "${name}" shares its attribute dict with module "${sharer}"`);
    }
    if (frames.length >= MAX_MODULE_DEPTH) {
      fail(`modules nest deeper than ${MAX_MODULE_DEPTH} levels (at "${name.slice(0, 200)}...")`);
    }
    met.set(obj, name);
    met.set(state, name);
    visitModule(path, obj.className);
    frames.push({ obj, path, attrs: state.entries() });
  };
  enter(root, "");
  while (frames.length) {
    const { path, attrs } = frames[frames.length - 1];
    const next = attrs.next();
    if (next.done) {
      frames.pop();
      continue;
    }
    const [key, value] = next.value;
    if (!(value instanceof PickledTensor || value instanceof PickledObject)) continue;
    const k = String(key);
    if (path.length + 1 + k.length > MAX_NAME_LENGTH) {
      const start = (path ? `${path}.${k.slice(0, 200)}` : k).slice(0, 200);
      fail(`the name "${start}..." is longer than ${MAX_NAME_LENGTH} characters`);
    }
    const name = path ? `${path}.${k}` : k;
    if (value instanceof PickledTensor) visit(name, value);
    else enter(value, name);
  }
}

/**
 * The tensors of `layout`, read from their records' bytes (`record`) when asked for, and what
 * the archive's traced code says.
 */
function tensorSource(
  { tensors }: Layout,
  source: string,
  record: (name: string) => Uint8Array,
  traced: TracedArchitecture,
): TensorSource {
  return {
    source,
    metadata: {},
    traced,
    names: () => [...tensors.keys()],
    shape: (name) => tensors.get(name)?.shape.slice(),
    float32(name) {
      const t = tensors.get(name) ?? failIn(source, `there is no tensor "${name}"`);
      return gather(t, record(t.storage.record));
    },
  };
}

/** The tensor's values in row-major order, converted to f32 as torch's `.float()` does. */
function gather(t: Tensor, raw: Uint8Array): Float32Array {
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  const bits = new Uint32Array(1), asF32 = new Float32Array(bits.buffer);
  const load: (i: number) => number = {
    F32: (i: number) => dv.getFloat32(4 * i, true),
    F16: (i: number) => f16ToF32(dv.getUint16(2 * i, true)),
    BF16: (i: number) => (bits[0] = dv.getUint16(2 * i, true) << 16, asF32[0]),
    F64: (i: number) => dv.getFloat64(8 * i, true),
    I64: (i: number) => Number(dv.getBigInt64(8 * i, true)),
    I32: (i: number) => dv.getInt32(4 * i, true),
    I16: (i: number) => dv.getInt16(2 * i, true),
    I8: (i: number) => dv.getInt8(i),
    U8: (i: number) => dv.getUint8(i),
    BOOL: (i: number) => dv.getUint8(i) ? 1 : 0,
  }[t.storage.dtype];
  const { shape, stride } = t;
  const n = shape.reduce((a, b) => a * b, 1);
  if (t.storage.dtype === "F32" && LITTLE_ENDIAN && isContiguous(t)) {
    return new Float32Array(raw.slice(4 * t.offset, 4 * (t.offset + n)).buffer);
  }
  const out = new Float32Array(n);
  if (n === 0) return out;
  // Walk the index space row-major, keeping the storage index in step with a counter per dim.
  const idx = new Array(shape.length).fill(0);
  let src = t.offset;
  for (let k = 0; k < n; k++) {
    out[k] = load(src);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) {
        src += stride[d];
        break;
      }
      src -= (shape[d] - 1) * stride[d];
      idx[d] = 0;
    }
  }
  return out;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isContiguous({ shape, stride }: Tensor): boolean {
  let expect = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    if (shape[d] !== 1 && stride[d] !== expect) return false;
    expect *= shape[d];
  }
  return true;
}

/**
 * A short rendering of a pickled value for a message: a pickle's values can nest deeply, and
 * memo references make them huge when spelled out.
 */
function describe(v: unknown, depth = 0): string {
  if (typeof v === "string") return JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v);
  if (Array.isArray(v)) {
    if (depth >= 2) return "[...]";
    const items = v.slice(0, 5).map((x) => describe(x, depth + 1));
    return `[${items.join(", ")}${v.length > 5 ? ", ..." : ""}]`;
  }
  if (v instanceof StorageType) return `torch ${v.dtype} storage`;
  if (v !== null && typeof v === "object") return `<${v.constructor?.name ?? "object"}>`;
  return String(v);
}

const ENCODER_HALF = /^(encoder|quant_conv|quantizer|distribution)\./;
const DECODER_HALF = /^(decoder|post_quant_conv|inv_quant)\./;

/** The tensors of `src` whose names match `keep`, under the label `source`. */
function subset(src: TensorSource, keep: RegExp, source: string): TensorSource {
  const names = src.names().filter((n) => keep.test(n));
  const own = new Set(names);
  return {
    source,
    metadata: src.metadata,
    traced: src.traced,
    names: () => names.slice(),
    shape: (name) => own.has(name) ? src.shape(name) : undefined,
    float32(name) {
      if (!own.has(name)) throw new Error(`"${source}" has no tensor "${name}"`);
      return src.float32(name);
    },
  };
}

/**
 * Splits an autoencoder checkpoint (the whole model: `encoder.*`, `quant_conv.*`,
 * `quantizer.*`/`distribution.*`, `post_quant_conv.*`, `decoder.*`) into the tensors of
 * encoder_jit() and decoder_jit(), names unchanged.
 */
export function splitHalves(src: TensorSource): { encoder: TensorSource; decoder: TensorSource } {
  const stray = src.names().find((n) => !ENCODER_HALF.test(n) && !DECODER_HALF.test(n));
  if (stray !== undefined) {
    throw new Error(
      `Cannot split "${src.source}" into encoder and decoder: tensor "${stray}" belongs to neither`,
    );
  }
  const encoder = subset(src, ENCODER_HALF, `${src.source} (encoder half)`);
  const decoder = subset(src, DECODER_HALF, `${src.source} (decoder half)`);
  for (const [half, s] of [["encoder", encoder], ["decoder", decoder]] as const) {
    if (!s.names().some((n) => n.startsWith(`${half}.`))) {
      throw new Error(`Cannot split "${src.source}": it has no ${half} tensors`);
    }
  }
  return { encoder, decoder };
}

/** Whether `src` holds a whole autoencoder (both `encoder.*` and `decoder.*` tensors). */
export function isAutoencoder(src: TensorSource): boolean {
  const names = src.names();
  return names.some((n) => n.startsWith("encoder.")) && names.some((n) => n.startsWith("decoder."));
}
