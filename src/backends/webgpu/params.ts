/**
 * Kernel parameters named once: the host side of each WGSL `struct Params`.
 *
 * Every kernel reads its shapes, strides and scalars from one uniform `struct Params`. Each
 * kernel family declares that struct's fields here, by name and WGSL type in the WGSL order,
 * with `defineParams`; the packer it gets back lays the values out by the WGSL alignment rules,
 * so no offset is counted by hand. Every declaration is recorded, and
 * test/webgpu_params_test.ts compares each one with the struct parsed from the shader source:
 * a field added, dropped, renamed, retyped or reordered on one side only fails that test.
 * @module
 */

/** A scalar uniform field. */
type ScalarType = "u32" | "f32";

/**
 * The WGSL types a `struct Params` field may have: a scalar, or an array of vec4 (the uniform
 * address space needs array strides of 16 bytes, so small vectors travel four to a vec4).
 */
export type ParamType = ScalarType | `array<vec4<${ScalarType}>, ${number}>`;

/** One field of a `struct Params`: its WGSL name and type. Names starting with `_` are padding. */
export type ParamField = readonly [name: string, type: ParamType];

/** A value of a field: a number for a scalar, up to 4 * length numbers for an array. */
type ValueOf<T extends ParamType> = T extends ScalarType ? number : ArrayLike<number>;

/** What a packer takes: every named field of the struct, padding excluded. */
export type ParamValues<F extends readonly ParamField[]> = {
  [E in F[number] as E[0] extends `_${string}` ? never : E[0]]: ValueOf<E[1]>;
};

/** A declared `struct Params` and the packer of its bytes. */
export interface ParamsLayout<F extends readonly ParamField[] = readonly ParamField[]> {
  /** The WGSL file whose `struct Params` this fills, e.g. "conv.wgsl". */
  readonly file: string;
  /** The struct's fields in WGSL order. */
  readonly fields: F;
  /** The struct's size in bytes (WGSL's: the end of the last field, rounded to its alignment). */
  readonly byteSize: number;
  /** The struct's bytes for these values; padding and unused array lanes are zero. */
  pack(values: ParamValues<F>): ArrayBuffer;
}

/** Where one field lies, in 4-byte words. */
interface Slot {
  name: string;
  scalar: ScalarType;
  word: number;
  /** Words the field holds: 1 for a scalar, 4 per vec4 of an array. */
  words: number;
}

const ARRAY_TYPE = /^array<vec4<(u32|f32)>, ([1-9][0-9]*)>$/;

/** Every layout declared so far, by file (the test checks them all against the WGSL). */
const declared = new Map<string, ParamsLayout>();

/** Lays out the fields by the WGSL rules: scalars align to 4 bytes, vec4 arrays to 16. */
function slotsOf(file: string, fields: readonly ParamField[]): { slots: Slot[]; words: number } {
  const slots: Slot[] = [];
  let word = 0, alignWords = 1;
  for (const [name, type] of fields) {
    if (type === "u32" || type === "f32") {
      slots.push({ name, scalar: type, word, words: 1 });
      word += 1;
      continue;
    }
    const m = ARRAY_TYPE.exec(type);
    if (!m) throw new Error(`Unsupported uniform type in ${file}: ${name}: ${type}`);
    word = Math.ceil(word / 4) * 4;
    alignWords = 4;
    const words = 4 * Number(m[2]);
    slots.push({ name, scalar: m[1] as ScalarType, word, words });
    word += words;
  }
  return { slots, words: Math.ceil(word / alignWords) * alignWords };
}

/**
 * Declares the `struct Params` of a WGSL file, fields in WGSL order, and returns its packer.
 * Declare each file once, beside the lowering that dispatches it.
 */
export function defineParams<const F extends readonly ParamField[]>(
  file: string,
  fields: F,
): ParamsLayout<F> {
  if (declared.has(file)) throw new Error(`Params of ${file} are declared twice`);
  const { slots, words } = slotsOf(file, fields);
  const named = slots.filter((s) => !s.name.startsWith("_"));
  const names = new Set(named.map((s) => s.name));
  const layout: ParamsLayout<F> = {
    file,
    fields,
    byteSize: 4 * words,
    pack(values: ParamValues<F>): ArrayBuffer {
      const given = values as unknown as Record<string, number | ArrayLike<number>>;
      for (const k in given) {
        if (!names.has(k)) throw new Error(`Params of ${file}: unknown field ${k}`);
      }
      const buffer = new ArrayBuffer(4 * words);
      const u32 = new Uint32Array(buffer), f32 = new Float32Array(buffer);
      for (const s of named) {
        const v = given[s.name];
        if (v === undefined) throw new Error(`Params of ${file}: missing field ${s.name}`);
        const view = s.scalar === "u32" ? u32 : f32;
        if (typeof v === "number") {
          if (s.words !== 1) throw new Error(`Params of ${file}: ${s.name} needs an array`);
          view[s.word] = v;
        } else {
          if (s.words === 1 || v.length > s.words) {
            throw new Error(`Params of ${file}: ${v.length} values do not fit ${s.name}`);
          }
          view.set(v, s.word);
        }
      }
      return buffer;
    },
  };
  declared.set(file, layout as unknown as ParamsLayout);
  return layout;
}

/** Every layout declared by the modules loaded so far. */
export function declaredParams(): readonly ParamsLayout[] {
  return [...declared.values()];
}
