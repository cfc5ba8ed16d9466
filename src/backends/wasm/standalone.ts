/**
 * The tokenizers' Haar wavelet (patcher / unpatcher) and finite scalar quantisation on the CPU,
 * in WebAssembly (asm/, compiled with AssemblyScript and embedded in the package), for servers
 * that hold pixels and need wavelet coefficients, or hold tokens and need codes, with no GPU.
 * The arithmetic follows the WGSL kernels step by step in float32, so results agree with the
 * WebGPU backend to the last rounding (Haar) and bit for bit (FSQ indices).
 *
 * The functions are async only because the module instantiates on first use; the work itself
 * runs synchronously on the calling thread.
 *
 * @example
 * ```ts
 * import { fsqIndicesToCodes, haarPatch } from "@cosmos/webgpu/cpu";
 * import assert from "node:assert/strict";
 * const image = { data: new Float32Array(3 * 64 * 64), shape: [1, 3, 64, 64] };
 * assert.deepEqual((await haarPatch(image, 4)).shape, [1, 48, 16, 16]);
 * const codes = await fsqIndicesToCodes({ data: new Int32Array(64), shape: [1, 8, 8] });
 * assert.deepEqual(codes.shape, [1, 6, 8, 8]);
 * ```
 * @module
 */

export type { HostTensor } from "../../types.ts";

import { DEFAULT_FSQ_LEVELS, fsqConstants } from "../fsq.ts";
import { fmtShape, type HostTensor, numel } from "../../types.ts";
import { callKernel, type CpuWasm, cpuWasm, writeFsqTable } from "./kernels.ts";

/** Patch sizes of the Cosmos tokenizers' patchers: 2^levels Haar levels. */
const PATCH_SIZES = [1, 2, 4, 8];

/** Largest FSQ codebook: indices are int32. */
const MAX_CODEBOOK = 2 ** 31 - 1;

function fail(what: string, message: string): never {
  throw new Error(`Cannot ${what}: ${message}`);
}

/** Checks that the shape is made of positive integers and matches the data's length. */
function checkTensor(what: string, x: HostTensor, dtype: "f32" | "i32", name: string): void {
  const want = dtype === "f32" ? Float32Array : Int32Array;
  if (!(x.data instanceof want)) {
    fail(what, `expected ${want.name} ${name}, got ${x.data?.constructor?.name ?? typeof x.data}`);
  }
  if (!Array.isArray(x.shape) || !x.shape.every((d) => Number.isInteger(d) && d > 0)) {
    fail(what, `${name} shape must be positive integers, got ${fmtShape(x.shape ?? [])}`);
  }
  if (x.data.length !== numel(x.shape)) {
    fail(what, `${x.data.length} values for ${name} shape ${fmtShape(x.shape)}`);
  }
}

function levelsOf(what: string, patchSize: number): number {
  if (!PATCH_SIZES.includes(patchSize)) {
    fail(what, `patch size must be one of ${PATCH_SIZES.join(", ")}, got ${patchSize}`);
  }
  return Math.log2(patchSize);
}

/** The checks both Haar directions make first, in order; returns the module and the levels. */
async function haarInput(
  what: string,
  x: HostTensor,
  patchSize: number,
): Promise<{ w: CpuWasm; levels: number }> {
  const w = await cpuWasm();
  const levels = levelsOf(what, patchSize);
  checkTensor(what, x, "f32", "input");
  if (x.shape.length !== 4 && x.shape.length !== 5) {
    fail(what, `expected [B, C, H, W] or [B, C, T, H, W], got ${fmtShape(x.shape)}`);
  }
  return { w, levels };
}

function copyOut(w: CpuWasm, ptr: number, shape: number[]): HostTensor {
  return { data: w.f32(ptr, numel(shape)).slice(), shape };
}

/**
 * The tokenizers' patcher: the Haar wavelet transform with log2(patchSize) levels.
 * Images [B, C, H, W] -> [B, C*p^2, H/p, W/p] (Patcher), H and W divisible by p.
 * Videos [B, C, T, H, W] -> [B, C*p^3, (T+p-1)/p, H/p, W/p] (Patcher3D: frame 0 repeated p-1
 * times before the first level), T = 1 + a multiple of p, H and W divisible by p.
 *
 * @example
 * ```ts
 * import { haarPatch } from "@cosmos/webgpu/cpu";
 * import assert from "node:assert/strict";
 * const video = { data: new Float32Array(3 * 9 * 32 * 32), shape: [1, 3, 9, 32, 32] };
 * assert.deepEqual((await haarPatch(video, 4)).shape, [1, 192, 3, 8, 8]);
 * ```
 */
export async function haarPatch(x: HostTensor, patchSize: number): Promise<HostTensor> {
  const what = "haarPatch";
  const { w, levels } = await haarInput(what, x, patchSize);
  const p = patchSize;
  const shape = x.shape;
  const [hh, ww] = shape.slice(-2);
  if (hh % p || ww % p) {
    fail(what, `height and width must be divisible by the patch size ${p}, got ${fmtShape(shape)}`);
  }
  if (shape.length === 5 && (shape[2] + p - 1) % p) {
    fail(
      what,
      `frames must be 1 + a multiple of the patch size ${p} ((T + ${p - 1}) divisible by ${p}), ` +
        `got ${fmtShape(shape)}`,
    );
  }
  if (levels === 0) return { data: x.data.slice(), shape: [...shape] };
  const n = x.data.length;
  if (shape.length === 4) {
    const [b, c, h, wd] = shape;
    const [a, bb] = w.reserve(what, 4 * n, 4 * n);
    w.f32(a, n).set(x.data);
    let src = a, dst = bb, ch = c, hs = h, ws = wd;
    for (let l = 0; l < levels; l++) {
      hs /= 2;
      ws /= 2;
      callKernel(w.k, "haar2dForward", { src, dst, b, c: ch, h: hs, w: ws });
      ch *= 4;
      [src, dst] = [dst, src];
    }
    return copyOut(w, src, [b, ch, hs, ws]);
  }
  const [b, c, t, h, wd] = shape;
  const lead = p - 1;
  const m = (n / t) * (t + lead);
  const [a, bb] = w.reserve(what, 4 * m, 4 * m);
  w.f32(a, n).set(x.data);
  let src = a, dst = bb, ch = c, ts = t, hs = h, ws = wd;
  for (let l = 0; l < levels; l++) {
    const full = ts;
    const pad = l === 0 ? lead : 0;
    ts = (ts + pad) / 2;
    hs /= 2;
    ws /= 2;
    callKernel(w.k, "haar3dForward", {
      src,
      dst,
      b,
      c: ch,
      t: ts,
      h: hs,
      w: ws,
      lead: pad,
      tFull: full,
    });
    ch *= 8;
    [src, dst] = [dst, src];
  }
  return copyOut(w, src, [b, ch, ts, hs, ws]);
}

/**
 * The tokenizers' unpatcher, the inverse of {@link haarPatch}; the rank decides 2D or 3D.
 * [B, C*p^2, h, w] -> [B, C, h*p, w*p]; [B, C*p^3, t, h, w] -> [B, C, p*t - (p-1), h*p, w*p]
 * (UnPatcher3D: the first p-1 frames dropped after the last level).
 *
 * @example The round trip gives the pixels back
 * ```ts
 * import { haarPatch, haarUnpatch } from "@cosmos/webgpu/cpu";
 * import assert from "node:assert/strict";
 * const data = Float32Array.from({ length: 3 * 16 * 16 }, (_, i) => Math.sin(i));
 * const back = await haarUnpatch(await haarPatch({ data, shape: [1, 3, 16, 16] }, 4), 4);
 * assert.deepEqual(back.shape, [1, 3, 16, 16]);
 * assert.ok(back.data.every((v, i) => Math.abs(v - data[i]) < 1e-6));
 * ```
 */
export async function haarUnpatch(x: HostTensor, patchSize: number): Promise<HostTensor> {
  const what = "haarUnpatch";
  const { w, levels } = await haarInput(what, x, patchSize);
  const p = patchSize;
  const shape = x.shape;
  const group = p ** (shape.length - 2);
  if (shape[1] % group) {
    fail(
      what,
      `channels must be divisible by ${group} (patch size ${p}, ${shape.length - 2} dims), ` +
        `got ${fmtShape(shape)}`,
    );
  }
  if (levels === 0) return { data: x.data.slice(), shape: [...shape] };
  const n = x.data.length;
  const [a, bb] = w.reserve(what, 4 * n, 4 * n);
  w.f32(a, n).set(x.data);
  let src = a, dst = bb;
  if (shape.length === 4) {
    let [b, ch, hs, ws] = shape;
    for (let l = 0; l < levels; l++) {
      ch /= 4;
      callKernel(w.k, "haar2dInverse", { src, dst, b, c: ch, h: hs, w: ws });
      hs *= 2;
      ws *= 2;
      [src, dst] = [dst, src];
    }
    return copyOut(w, src, [b, ch, hs, ws]);
  }
  let [b, ch, ts, hs, ws] = shape;
  for (let l = 0; l < levels; l++) {
    const trim = l === levels - 1 ? p - 1 : 0;
    ch /= 8;
    callKernel(w.k, "haar3dInverse", { src, dst, b, c: ch, t: ts, h: hs, w: ws, trim });
    ts = 2 * ts - trim;
    hs *= 2;
    ws *= 2;
    [src, dst] = [dst, src];
  }
  return copyOut(w, src, [b, ch, ts, hs, ws]);
}

/** Validates the levels and writes their constants to the module's table. */
function loadLevels(what: string, w: CpuWasm, levels: readonly number[]): number {
  if (!Array.isArray(levels)) fail(what, `levels must be an array of integers >= 2`);
  let k;
  try {
    k = fsqConstants(levels);
  } catch (err) {
    fail(what, (err as Error).message);
  }
  if (k.codebookSize > MAX_CODEBOOK) {
    fail(what, `FSQ levels [${levels.join(", ")}] give ${k.codebookSize} codes, more than int32`);
  }
  writeFsqTable(w.memory.buffer, w.k.fsqTable(), levels, k);
  return k.codebookSize;
}

/** Checks a [B, D, ...] tensor against the levels; returns [B, positions]. */
function checkChannels(what: string, x: HostTensor, name: string, d: number): [number, number] {
  if (x.shape.length < 2 || x.shape[1] !== d) {
    fail(
      what,
      `expected ${name} [B, D, ...] with D = ${d} (one channel per FSQ level), ` +
        `got ${fmtShape(x.shape)}`,
    );
  }
  return [x.shape[0], numel(x.shape.slice(2))];
}

/**
 * Finite scalar quantisation of pre-quantization values z [B, D, ...] (D = levels.length), as
 * the reference's FSQuantizer: per channel, tanh-bounded, rounded half to even and scaled to
 * [-1, 1]. Returns the codes [B, D, ...] and the int32 indices [B, ...]. Indices are summed in
 * integer arithmetic: equal to the GPU's float32 sum for codebooks up to 2^24 codes, and still
 * exact beyond (up to 2^31 - 1 codes, the int32 limit).
 *
 * @example
 * ```ts
 * import { fsqQuantize } from "@cosmos/webgpu/cpu";
 * import assert from "node:assert/strict";
 * const z = { data: new Float32Array(6 * 4 * 4).fill(0.3), shape: [1, 6, 4, 4] };
 * const { codes, indices } = await fsqQuantize(z);
 * assert.deepEqual(indices.shape, [1, 4, 4]);
 * assert.ok(codes.data.every((c) => c >= -1 && c <= 1));
 * ```
 */
export async function fsqQuantize(
  z: HostTensor,
  levels: readonly number[] = DEFAULT_FSQ_LEVELS,
): Promise<{ indices: HostTensor; codes: HostTensor }> {
  const what = "fsqQuantize";
  const w = await cpuWasm();
  loadLevels(what, w, levels);
  checkTensor(what, z, "f32", "z");
  const [b, positions] = checkChannels(what, z, "z", levels.length);
  const n = z.data.length;
  const [zp, cp, ip] = w.reserve(what, 4 * n, 4 * n, 4 * b * positions);
  w.f32(zp, n).set(z.data);
  const bad = callKernel(w.k, "fsqQuantize", {
    z: zp,
    codes: cp,
    indices: ip,
    b,
    dims: levels.length,
    positions,
  });
  if (bad >= 0) fail(what, `z holds the non-finite value ${z.data[bad]} at flat index ${bad}`);
  return {
    indices: { data: w.i32(ip, b * positions).slice(), shape: [b, ...z.shape.slice(2)] },
    codes: copyOut(w, cp, [...z.shape]),
  };
}

/**
 * Codes [B, D, ...] (each channel on its FSQ grid: (k - L/2) / (L/2) for k in [0, L)) to int32
 * indices [B, ...]. Codes off the grid (by more than 1e-3 of a step) are an error.
 *
 * @example Codes and indices convert both ways
 * ```ts
 * import { fsqCodesToIndices, fsqIndicesToCodes } from "@cosmos/webgpu/cpu";
 * import assert from "node:assert/strict";
 * const indices = { data: Int32Array.from([0, 1, 63999, 12345]), shape: [1, 2, 2] };
 * const back = await fsqCodesToIndices(await fsqIndicesToCodes(indices));
 * assert.deepEqual([...back.data], [0, 1, 63999, 12345]);
 * ```
 */
export async function fsqCodesToIndices(
  codes: HostTensor,
  levels: readonly number[] = DEFAULT_FSQ_LEVELS,
): Promise<HostTensor> {
  const what = "fsqCodesToIndices";
  const w = await cpuWasm();
  loadLevels(what, w, levels);
  checkTensor(what, codes, "f32", "codes");
  const [b, positions] = checkChannels(what, codes, "codes", levels.length);
  const n = codes.data.length;
  const [cp, ip] = w.reserve(what, 4 * n, 4 * b * positions);
  w.f32(cp, n).set(codes.data);
  const bad = callKernel(w.k, "fsqCodesToIndices", {
    codes: cp,
    indices: ip,
    b,
    dims: levels.length,
    positions,
  });
  if (bad >= 0) {
    const d = Math.floor(bad / positions) % levels.length;
    const l = levels[d];
    fail(
      what,
      `code ${codes.data[bad]} at flat index ${bad} is not on the grid of ${l} levels ` +
        `(k / ${Math.floor(l / 2)} - 1 for k = 0..${l - 1})`,
    );
  }
  return { data: w.i32(ip, b * positions).slice(), shape: [b, ...codes.shape.slice(2)] };
}

/**
 * Int32 indices [B, ...] in [0, product(levels)) to codes [B, D, ...] in [-1, 1].
 *
 * @example
 * ```ts
 * import { fsqIndicesToCodes } from "@cosmos/webgpu/cpu";
 * import assert from "node:assert/strict";
 * const codes = await fsqIndicesToCodes({ data: Int32Array.from([0]), shape: [1, 1] });
 * assert.deepEqual([...codes.data], [-1, -1, -1, -1, -1, -1]); // digit 0 of every level
 * ```
 */
export async function fsqIndicesToCodes(
  indices: HostTensor,
  levels: readonly number[] = DEFAULT_FSQ_LEVELS,
): Promise<HostTensor> {
  const what = "fsqIndicesToCodes";
  const w = await cpuWasm();
  const size = loadLevels(what, w, levels);
  checkTensor(what, indices, "i32", "indices");
  const [b, ...rest] = indices.shape;
  const positions = numel(rest);
  const n = indices.data.length;
  const [ip, cp] = w.reserve(what, 4 * n, 4 * n * levels.length);
  w.i32(ip, n).set(indices.data);
  const bad = callKernel(w.k, "fsqIndicesToCodes", {
    indices: ip,
    codes: cp,
    b,
    dims: levels.length,
    positions,
    size,
  });
  if (bad >= 0) {
    fail(what, `index ${indices.data[bad]} at flat index ${bad} is outside [0, ${size})`);
  }
  return copyOut(w, cp, [b, levels.length, ...rest]);
}
