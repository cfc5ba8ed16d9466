/**
 * Precision "f16" on WebGPU against every fixture of ../shared/fixtures (copied to
 * test/fixtures): latents or codes, reconstructions and every probe against the reference
 * PyTorch run, at the f16 tolerance below. Weights and activations are stored as f16 and the
 * kernels accumulate in f32, so the error is that of rounding every stored value to 11 bits
 * (2^-11 ~ 4.9e-4 relative), compounded through the network.
 * FSQ indices computed from f16 latents may differ from the reference's where a value sits
 * near a rounding boundary: the fraction that differs is printed and bounded; the decoder is
 * run from the reference's indices, so its error is its own.
 * Runs where the adapter has shader-f16 (lavapipe does); elsewhere the tests show as ignored.
 */

import assert from "node:assert/strict";
import {
  assertClose,
  FIXTURE_VARIANTS,
  fixtureCases,
  FIXTURES,
  GPU_TEST,
  skipWithoutF16,
} from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { WebGpuOps } from "../src/backends/webgpu/backend.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import type { HostTensor } from "../src/types.ts";

/** max |diff| / max |ref| allowed at f16 storage (measured worst: see the printed table). */
export const F16_TOL = 5e-3;
/**
 * FSQ indices allowed to differ from the reference's at f16 (values on a rounding boundary):
 * 5% of them, or one where a case has fewer than 20.
 */
const INDEX_FRACTION = 0.05;

let shared: Promise<WebGpuOps> | null = null;

/** One f16 backend for every test here (each test first skips without shader-f16). */
function f16Ops(): Promise<WebGpuOps> {
  shared ??= WebGpuOps.create({ precision: "f16" });
  return shared;
}

for (const variant of FIXTURE_VARIANTS) {
  for (const size of fixtureCases(variant)) {
    Deno.test({
      name: `${variant} ${size} at precision f16 matches the reference within ${F16_TOL}`,
      ...GPU_TEST,
      async fn(t) {
        if (await skipWithoutF16(t)) return;
        const ops = await f16Ops();
        const dir = new URL(`${variant}/`, FIXTURES);
        const tok = await loadTokenizer({
          encoder: new URL("encoder.safetensors", dir).pathname,
          decoder: new URL("decoder.safetensors", dir).pathname,
          backend: ops,
        });
        assert.equal(tok.precision, "f16");
        const c = parseSafetensors(await Deno.readFile(new URL(`case_${size}.safetensors`, dir)));
        const want = (name: string) => ({
          data: c.float32(name),
          shape: c.entries.get(name)!.shape,
        });
        const probes = new Map<string, HostTensor>();
        const probe = async (name: string, tensor: Parameters<typeof ops.read>[0]) => {
          probes.set(name, await ops.read(tensor));
        };
        const errs: Record<string, number> = {};
        const check = (name: string, got: HostTensor) => {
          const ref = want(name);
          assert.deepEqual(got.shape, ref.shape, `${name} shape`);
          errs[name] = assertClose(got.data, ref.data, F16_TOL, `${variant} ${size} f16 ${name}`);
        };
        const enc = await tok.encode(want("input"), probe);
        let rec: HostTensor;
        let indexNote = "";
        if (tok.discrete) {
          const idx = c.int32("indices");
          const differ = [...idx].filter((v, i) => v !== enc.indices!.data[i]).length;
          const fraction = differ / idx.length;
          indexNote = `, FSQ indices differing ${differ}/${idx.length} (${
            (100 * fraction).toFixed(2)
          }%)`;
          assert.ok(
            differ <= Math.max(1, INDEX_FRACTION * idx.length),
            `${differ} of ${idx.length} indices differ, above ${100 * INDEX_FRACTION}% (or one)`,
          );
          // Codes are a function of the indices: compare them where the indices agree.
          const codes = want("codes");
          const dims = codes.shape[1], positions = idx.length / codes.shape[0];
          const kept = (a: Float32Array) =>
            a.filter((_, i) => {
              const b = Math.floor(i / (dims * positions)), q = i % positions;
              return idx[b * positions + q] === enc.indices!.data[b * positions + q];
            });
          errs.codes = assertClose(kept(enc.codes!.data as Float32Array), kept(codes.data), 0);
          rec = await tok.decode({ data: idx, shape: c.entries.get("indices")!.shape }, probe);
        } else {
          check("latent", enc.latent!);
          rec = await tok.decode(want("latent"), probe);
        }
        check("reconstruction", rec);
        const expected = c.metadata.probes.split(",").map((p) => p.replace(/^probe\./, ""));
        for (const name of expected) {
          const got = probes.get(name);
          assert.ok(got, `probe ${name} was not produced`);
          check(`probe.${name}`, got);
        }
        await tok.dispose();
        const out = tok.discrete ? "probe.quant_conv" : "latent";
        const max = Math.max(...Object.values(errs));
        console.log(
          `${variant} ${size} [webgpu f16]: max relative error ${max.toExponential(2)} (${out} ${
            errs[out]?.toExponential(2)
          }, reconstruction ${errs.reconstruction.toExponential(2)})${indexNote}`,
        );
      },
    });
  }
}
