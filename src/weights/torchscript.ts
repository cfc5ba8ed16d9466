/**
 * Reads the state_dict of a TorchScript archive (the `.jit` files torch.jit.save writes, as NVIDIA
 * ships the Cosmos tokenizers) without Python.
 *
 * Layout: a ZIP whose members all lie under one folder `<archive>/`. `<archive>/data.pkl` pickles
 * the module tree: each module is an object of a `__torch__.*` class whose BUILD state is a dict of
 * attribute name -> value, where parameters and buffers are tensors, submodules are nested objects
 * and everything else (`training`, hooks) is a plain value. A tensor's storage is a persistent id
 * `("storage", torch.FloatStorage, key, location, numel)` naming the member `<archive>/data/<key>`.
 * The state_dict is every tensor reachable through module attributes, names joined with dots, as
 * `torch.jit.load(...).state_dict()` gives it. `code/`, `*.debug_pkl`, `constants.pkl` and
 * `constants/` are not needed; `byteorder`, when present, must say "little".
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

/** Parses a TorchScript archive whose members are stored (as torch writes them). */
export function parseTorchScript(bytes: Uint8Array, source: string): TensorSource {
  const zip = ZipArchive.open(bytes, source, "TorchScript");
  return build(zip, source, (name) => zip.read(name));
}

/** Like {@link parseTorchScript}, and also reads archives whose members were deflated. */
export async function readTorchScript(bytes: Uint8Array, source: string): Promise<TensorSource> {
  const zip = ZipArchive.open(bytes, source, "TorchScript");
  const inflated = new Map<string, Uint8Array>();
  for (const name of zip.names()) {
    if (zip.entry(name)!.method !== 0 && isNeeded(name)) {
      inflated.set(name, await zip.readAsync(name));
    }
  }
  return build(zip, source, (name) => inflated.get(name) ?? zip.read(name));
}

/** Members a state_dict reader reads: data.pkl, data/<key> and byteorder. */
function isNeeded(name: string): boolean {
  return /^[^/]+\/(data\.pkl|byteorder|data\/[^/]+)$/.test(name);
}

function build(zip: ZipArchive, source: string, read: (name: string) => Uint8Array): TensorSource {
  function fail(detail: string): never {
    throw new Error(`Cannot read TorchScript "${source}": ${detail}`);
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
  if (zip.entry(`${prefix}byteorder`)) {
    const order = new TextDecoder().decode(read(`${prefix}byteorder`)).trim();
    if (order === "big") fail("its tensors are big-endian, which is not supported");
    if (order !== "little") fail(`unknown byteorder ${JSON.stringify(order)}`);
  }
  if (!zip.entry(`${prefix}data.pkl`)) {
    fail(`there is no member "${prefix}data.pkl" (not a TorchScript archive?)`);
  }

  const storages = new Map<string, Storage>();
  const root = unpickle(read(`${prefix}data.pkl`), {
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
  const walk = (obj: PickledObject, path: string, seen: Set<PickledObject>) => {
    if (!(obj.state instanceof Map)) {
      fail(`module "${path || "<root>"}" (${obj.className}) has no attribute dict`);
    }
    seen.add(obj);
    for (const [key, value] of obj.state) {
      const name = path ? `${path}.${key}` : String(key);
      if (value instanceof PickledTensor) {
        tensors.set(name, checkTensor(value, name));
      } else if (value instanceof PickledObject) {
        if (seen.has(value)) fail(`module "${name}" contains itself`);
        walk(value, name, seen);
      }
    }
    seen.delete(obj);
  };
  const checkTensor = (t: PickledTensor, name: string): Tensor => {
    const storage = t.storage as Storage;
    if (!backing.has(storage)) {
      fail(`tensor "${name}" is not backed by a storage record`);
    }
    const numel = t.shape.reduce((a, b) => a * b, 1);
    const last = t.offset + t.shape.reduce((a, d, i) => a + (d - 1) * t.stride[i], 0);
    if (numel > 0 && last >= storage.numel) {
      fail(
        `tensor "${name}" (shape [${t.shape}], stride [${t.stride}], offset ${t.offset}) reaches past the ${storage.numel} values of "${storage.record}"`,
      );
    }
    return { storage, offset: t.offset, shape: t.shape, stride: t.stride };
  };
  if (!(root instanceof PickledObject)) fail("data.pkl does not hold a module");
  walk(root, "", new Set());

  return {
    source,
    metadata: {},
    names: () => [...tensors.keys()],
    shape: (name) => tensors.get(name)?.shape.slice(),
    float32(name) {
      const t = tensors.get(name) ?? fail(`there is no tensor "${name}"`);
      return gather(t, read(t.storage.record));
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

function describe(v: unknown): string {
  try {
    return JSON.stringify(v, (_, x) => typeof x === "bigint" ? String(x) : x) ?? String(v);
  } catch {
    return String(v);
  }
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
