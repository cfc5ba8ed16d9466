/**
 * Every fixture of ../shared/fixtures (copied to test/fixtures), image and video: latents, FSQ
 * codes and indices, reconstructions and every intermediate probe against the reference
 * PyTorch run.
 */

import assert from "node:assert/strict";
import {
  assertClose,
  BACKENDS,
  backendTest,
  FIXTURE_VARIANTS,
  fixtureCases,
  FIXTURES,
} from "./helpers.ts";
import { loadTokenizer } from "../mod.ts";
import { parseSafetensors } from "../src/weights/safetensors.ts";
import type { HostTensor } from "../src/types.ts";

/** The fixture README's tolerance: max |diff| / max |ref|. */
const TOL = 1e-4;

/** Largest error per variant, printed at the end for the issue note. */
const worst: Record<string, number> = {};

for (const backend of BACKENDS) {
  for (const variant of FIXTURE_VARIANTS) {
    for (const size of fixtureCases(variant)) {
      backendTest(
        `${variant} ${size} matches the reference (latents, reconstruction, probes)`,
        backend,
        async (ops) => {
          const dir = new URL(`${variant}/`, FIXTURES);
          const tok = await loadTokenizer({
            encoder: new URL("encoder.safetensors", dir).pathname,
            decoder: new URL("decoder.safetensors", dir).pathname,
            backend: ops,
          });
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
            errs[name] = assertClose(got.data, ref.data, TOL, `${variant} ${size} ${name}`);
          };
          const input = want("input");
          const enc = await tok.encode(input, probe);
          let rec: HostTensor;
          if (tok.discrete) {
            const idx = c.int32("indices");
            assert.deepEqual(enc.indices!.shape, c.entries.get("indices")!.shape);
            const mismatches = [...idx].filter((v, i) => v !== enc.indices!.data[i]).length;
            assert.equal(mismatches, 0, `${mismatches} of ${idx.length} indices differ`);
            check("codes", enc.codes!);
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
          const max = Math.max(...Object.values(errs));
          const key = `${variant} [${backend}]`;
          worst[key] = Math.max(worst[key] ?? 0, max);
          console.log(
            `${variant} ${size} [${backend}]: max relative error ${max.toExponential(2)}`,
          );
        },
      );
    }
  }
}
