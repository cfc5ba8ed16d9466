/**
 * An unpickler for the subset of the pickle format torch writes in TorchScript archives
 * (`data.pkl`, protocol 2). It evaluates nothing: GLOBAL resolves only an allowlist of the classes
 * and functions torch uses, and every other class, and every opcode outside the subset, throws.
 *
 * Python values map to: None -> null, bool, int -> number (bigint beyond 2^53), float -> number,
 * str -> string, bytes -> Uint8Array, list and tuple -> array, dict and OrderedDict -> Map,
 * TorchScript objects (`__torch__.*`) -> {@link PickledObject}, tensors -> {@link PickledTensor}.
 *
 * @module
 */

/** The element type of a torch storage class (`torch.FloatStorage` is "F32"). */
export type TorchDtype =
  | "F32"
  | "F16"
  | "BF16"
  | "F64"
  | "I64"
  | "I32"
  | "I16"
  | "I8"
  | "U8"
  | "BOOL";

/** Bytes per element of each dtype. */
export const DTYPE_BYTES: Record<TorchDtype, number> = {
  F32: 4,
  F16: 2,
  BF16: 2,
  F64: 8,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

const STORAGE_CLASSES: Record<string, TorchDtype> = {
  FloatStorage: "F32",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  DoubleStorage: "F64",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

/** A storage class named by GLOBAL, e.g. in a persistent id `("storage", torch.FloatStorage, ...)`. */
export class StorageType {
  constructor(readonly dtype: TorchDtype) {}
}

/** An instance of a TorchScript class (`__torch__.*`): a module, whose BUILD state is a dict. */
export class PickledObject {
  /** The dict BUILD gave it (attribute name -> value), or undefined before BUILD. */
  state: unknown = undefined;
  constructor(readonly className: string) {}
}

/** A tensor as `torch._utils._rebuild_tensor_v2` describes it; the storage is what persistentLoad returned. */
export class PickledTensor {
  constructor(
    readonly storage: unknown,
    readonly offset: number,
    readonly shape: number[],
    readonly stride: number[],
  ) {}
}

class PickledClass {
  constructor(readonly name: string) {}
}

class PickledFunction {
  constructor(readonly name: string, readonly call: (args: unknown[]) => unknown) {}
}

export interface UnpickleOptions {
  /** Label for messages (the archive's file name). */
  source: string;
  /** Resolves a BINPERSID id (torch: a storage tuple); throws to reject it. */
  persistentLoad(pid: unknown): unknown;
}

/**
 * The most opcodes one pickle may run, and so the most values it can make (each makes at most
 * one). A checkpoint's data.pkl runs about 50 per tensor (7,300 for the CV4x8x8 fixture's
 * encoder); without a bound, a pickle of 1-byte EMPTY_LIST + APPEND pairs would hold a
 * JavaScript array per byte.
 */
export const MAX_PICKLE_OPS = 1 << 20;

function isIntList(v: unknown): v is number[] {
  return Array.isArray(v) && v.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/**
 * Unpickles `bytes` (one pickle, nothing after STOP). A memo GET hands out the stored object
 * itself, not a copy: a pickle that references one object many times describes one object.
 */
export function unpickle(bytes: Uint8Array, options: UnpickleOptions): unknown {
  const { source } = options;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const text = new TextDecoder("utf-8", { fatal: true });
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();
  let pos = 0;
  let at = 0; // offset of the opcode being run
  let ops = 0;

  function fail(detail: string): never {
    throw new Error(`Cannot read pickle in "${source}": ${detail} (opcode at byte ${at})`);
  }
  const need = (n: number) => {
    if (pos + n > bytes.length) {
      fail(`data is truncated (needs ${pos + n - bytes.length} more bytes)`);
    }
    const p = pos;
    pos += n;
    return p;
  };
  const top = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) {
      fail("stack underflow");
    }
    return stack[stack.length - 1];
  };
  const pop = (): unknown => (top(), stack.pop());
  const popMark = (): unknown[] => {
    const m = marks.pop();
    return m === undefined ? fail("no MARK on the stack") : stack.splice(m);
  };
  const str = (n: number) => {
    const p = need(n);
    try {
      return text.decode(bytes.subarray(p, p + n));
    } catch {
      return fail("string is not valid UTF-8");
    }
  };
  const line = (): string => {
    const end = bytes.indexOf(0x0a, pos);
    if (end < 0) fail("data is truncated (unterminated GLOBAL)");
    const s = str(end - pos);
    pos++; // the newline
    return s;
  };
  const long = (n: number): number | bigint => {
    const p = need(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(bytes[p + i]);
    if (n > 0 && bytes[p + n - 1] & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER)
      ? Number(v)
      : v;
  };
  const put = (key: number) => memo.set(key, top());
  const get = (key: number) => {
    if (!memo.has(key)) fail(`memo key ${key} was never stored`);
    stack.push(memo.get(key));
  };
  const setItems = (dict: unknown, items: unknown[]) => {
    if (!(dict instanceof Map)) fail("SETITEM(S) on something that is not a dict");
    if (items.length % 2) fail("SETITEMS with an odd number of items");
    for (let i = 0; i < items.length; i += 2) {
      const k = items[i];
      if (k !== null && typeof k === "object") fail("dict key that is not a str, int or bool");
      dict.set(k, items[i + 1]);
    }
  };
  const append = (list: unknown, items: unknown[]) => {
    if (!Array.isArray(list)) fail("APPEND(S) on something that is not a list");
    // One at a time: spreading a long APPENDS would pass it as arguments, past the call stack.
    for (const item of items) list.push(item);
  };
  const call = (fn: unknown, args: unknown) => {
    if (!(fn instanceof PickledFunction)) fail("REDUCE on something that is not a function");
    if (!Array.isArray(args)) fail(`arguments of ${fn.name} are not a tuple`);
    return fn.call(args);
  };
  const resolve = (module: string, name: string): unknown => {
    const full = `${module}.${name}`;
    if (module === "__torch__" || module.startsWith("__torch__.")) return new PickledClass(full);
    if (module === "torch" && Object.hasOwn(STORAGE_CLASSES, name)) {
      return new StorageType(STORAGE_CLASSES[name]);
    }
    const fn = (call: (args: unknown[]) => unknown) => new PickledFunction(full, call);
    switch (full) {
      case "collections.OrderedDict":
        return fn((args) => {
          if (args.length) fail("OrderedDict with arguments");
          return new Map();
        });
      case "torch._utils._rebuild_tensor_v2":
        return fn((args) => {
          const [storage, offset, shape, stride] = args;
          if (
            args.length < 6 || args.length > 7 || !Number.isSafeInteger(offset) ||
            (offset as number) < 0 || !isIntList(shape) || !isIntList(stride) ||
            shape.length !== stride.length
          ) {
            fail(`unexpected arguments to ${full}`);
          }
          return new PickledTensor(storage, offset as number, shape, stride);
        });
      case "torch._utils._rebuild_parameter":
        return fn((args) => {
          if (args.length !== 3 || !(args[0] instanceof PickledTensor)) {
            fail(`unexpected arguments to ${full}`);
          }
          return args[0];
        });
      case "torch.jit._pickle.build_intlist":
      case "torch.jit._pickle.build_doublelist":
      case "torch.jit._pickle.build_boollist":
      case "torch.jit._pickle.build_tensorlist":
      case "torch.jit._pickle.build_genericlist":
      case "torch.jit._pickle.restore_type_tag":
        return fn((args) => {
          if (args.length < 1) fail(`no arguments to ${full}`);
          return args[0];
        });
    }
    throw new Error(`Unsupported class "${full}" in "${source}"`);
  };

  for (;;) {
    at = pos;
    if (++ops > MAX_PICKLE_OPS) {
      fail(`it runs more than ${MAX_PICKLE_OPS} opcodes, far more than a module tree needs`);
    }
    const op = bytes[need(1)];
    switch (op) {
      case 0x80: { // PROTO
        const v = bytes[need(1)];
        if (v > 5) fail(`unknown protocol ${v}`);
        break;
      }
      case 0x95: // FRAME
        need(8);
        break;
      case 0x2e: { // STOP
        if (marks.length) fail("MARK left open at STOP");
        if (stack.length !== 1) fail(`STOP with ${stack.length} values on the stack`);
        if (pos !== bytes.length) fail(`${bytes.length - pos} bytes after STOP`);
        return stack[0];
      }
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4a: // BININT
        stack.push(dv.getInt32(need(4), true));
        break;
      case 0x4b: // BININT1
        stack.push(bytes[need(1)]);
        break;
      case 0x4d: // BININT2
        stack.push(dv.getUint16(need(2), true));
        break;
      case 0x8a: // LONG1
        stack.push(long(bytes[need(1)]));
        break;
      case 0x8b: { // LONG4
        const n = dv.getInt32(need(4), true);
        if (n < 0 || n > 64) fail(`LONG4 of ${n} bytes`);
        stack.push(long(n));
        break;
      }
      case 0x47: // BINFLOAT
        stack.push(dv.getFloat64(need(8), false));
        break;
      case 0x58: // BINUNICODE
        stack.push(str(dv.getUint32(need(4), true)));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(str(bytes[need(1)]));
        break;
      case 0x42: // BINBYTES
      case 0x43: { // SHORT_BINBYTES
        const n = op === 0x42 ? dv.getUint32(need(4), true) : bytes[need(1)];
        const p = need(n);
        stack.push(bytes.slice(p, p + n));
        break;
      }
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x85: // TUPLE1
      case 0x86: // TUPLE2
      case 0x87: { // TUPLE3
        const items = Array.from({ length: op - 0x84 }, pop).reverse();
        stack.push(items);
        break;
      }
      case 0x74: // TUPLE
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x64: { // DICT
        const d = new Map();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        append(top(), [v]);
        break;
      }
      case 0x65: { // APPENDS
        const items = popMark();
        append(top(), items);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop(), k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x71: // BINPUT
        put(bytes[need(1)]);
        break;
      case 0x72: // LONG_BINPUT
        put(dv.getUint32(need(4), true));
        break;
      case 0x94: // MEMOIZE
        put(memo.size);
        break;
      case 0x68: // BINGET
        get(bytes[need(1)]);
        break;
      case 0x6a: // LONG_BINGET
        get(dv.getUint32(need(4), true));
        break;
      case 0x63: { // GLOBAL
        const module = line();
        stack.push(resolve(module, line()));
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop(), cls = pop();
        if (!(cls instanceof PickledClass)) fail("NEWOBJ on something that is not a class");
        if (!Array.isArray(args) || args.length) fail(`NEWOBJ of ${cls.name} with arguments`);
        stack.push(new PickledObject(cls.name));
        break;
      }
      case 0x62: { // BUILD
        const state = pop(), obj = top();
        // torch.save's state_dict is an OrderedDict with a `_metadata` attribute (versions of
        // the modules' formats): its attribute dict is not needed.
        if (obj instanceof Map && state instanceof Map) break;
        if (!(obj instanceof PickledObject)) fail("BUILD on something that is not an object");
        if (obj.state !== undefined) fail(`BUILD twice on ${obj.className}`);
        obj.state = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(options.persistentLoad(pop()));
        break;
      default:
        throw new Error(
          `Unsupported pickle opcode 0x${
            op.toString(16).padStart(2, "0")
          } at byte ${at} in "${source}"`,
        );
    }
  }
}
