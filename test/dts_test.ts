/**
 * dist/cosmos-webgpu.d.ts as a web developer uses it: a consumer outside the repository (no
 * deno.json of ours) imports dist/cosmos-webgpu.js with `// @ts-types` pointing at the .d.ts,
 * and `deno check` must accept a right use and reject a wrong one, under Deno's own libs and
 * under a browser's ("dom"); and so must the TypeScript compiler itself, in a project that
 * imports a copy of the bundle with its declarations beside it. Whether the files are up to date is checked in url_import_test.ts.
 */

import assert from "node:assert/strict";
import ts from "typescript";

const DIST = new URL("../dist/", import.meta.url);

const RIGHT = `
const tok: Tokenizer = await loadTokenizer({
  encoder: "/checkpoints/CI8x8/encoder.safetensors",
  decoder: new URL("https://example.com/decoder.safetensors"),
  backend: "wasm",
});
const frame = { width: 2, height: 1, data: new Uint8ClampedArray(8) };
const { tensor, crop } = imageDataToTensor(frame, { multiple: tok.spatialCompression });
const enc = await tok.encode(tensor);
const rec = tensorToImageData(await tok.decode(enc.latent ?? enc.indices!), crop);
const meter = new QualityMeter();
meter.add(pixelsToRgb(frame).data, pixelsToRgb(rec[0]).data, 2, 1);
const db: number = meter.result().psnr + psnr([1, 2], [1, 3]);
const name: string = BROWSER_CACHE_NAME;
console.log(db, name, VARIANTS.length);
`;

const IMPORT = "loadTokenizer, type Tokenizer, imageDataToTensor, tensorToImageData, " +
  "QualityMeter, pixelsToRgb, psnr, BROWSER_CACHE_NAME, VARIANTS";

/** `deno check` of `body` importing the bundle typed by the .d.ts; returns its result. */
async function check(body: string, lib?: string[]) {
  const dir = await Deno.makeTempDir({ prefix: "cosmos-dts-" });
  try {
    const head = `// @ts-types="${new URL("cosmos-webgpu.d.ts", DIST).href}"\n` +
      `import { ${IMPORT} } from "${new URL("cosmos-webgpu.js", DIST).href}";\n`;
    await Deno.writeTextFile(`${dir}/consumer.ts`, head + body);
    await Deno.writeTextFile(
      `${dir}/deno.json`,
      JSON.stringify(lib ? { compilerOptions: { lib } } : {}),
    );
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", "--no-lock", "consumer.ts"],
      cwd: dir,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    return { code: out.code, text: new TextDecoder().decode(out.stderr) };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const lib of [undefined, ["dom", "dom.iterable", "esnext"]]) {
  const libs = lib ? `lib ${lib.join(", ")}` : "Deno's libs";
  Deno.test(`dist/cosmos-webgpu.d.ts types a consumer of the bundle (${libs})`, async () => {
    const { code, text } = await check(RIGHT, lib);
    assert.equal(code, 0, `a right use of the bundle did not type-check:\n${text}`);
  });

  Deno.test(`dist/cosmos-webgpu.d.ts rejects a wrong use of the bundle (${libs})`, async () => {
    // A number for `backend`, a string for a tensor: both must be type errors.
    const wrong = RIGHT +
      `await loadTokenizer({ encoder: "e", decoder: "d", backend: 42 });\n` +
      `await tok.encode("not a tensor");\n`;
    const { code, text } = await check(wrong, lib);
    assert.notEqual(code, 0, "deno check accepted a wrong use: the .d.ts typed nothing");
    assert.match(text, /TS2322 \[ERROR\]: Type 'number' is not assignable to type/);
    assert.match(text, /TS2345 \[ERROR\]: Argument of type 'string' is not assignable/);
  });
}

/** tsc's diagnostics (strict, skipLibCheck off) for `body` importing dist/cosmos-webgpu.js. */
async function tscCheck(body: string): Promise<string[]> {
  const dir = await Deno.makeTempDir({ prefix: "cosmos-tsc-" });
  try {
    const file = `${dir}/consumer.ts`;
    const js = new URL("cosmos-webgpu.js", DIST).pathname;
    await Deno.writeTextFile(file, `import { ${IMPORT} } from "${js}";\n${body}\nexport {};\n`);
    const program = ts.createProgram([file], {
      noEmit: true,
      strict: true,
      skipLibCheck: false,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      target: ts.ScriptTarget.ES2022,
      lib: ["lib.esnext.d.ts", "lib.dom.d.ts", "lib.dom.iterable.d.ts"],
      types: [],
    });
    return ts.getPreEmitDiagnostics(program).map((d) =>
      `${d.file?.fileName.replace(dir, "") ?? ""} TS${d.code}: ` +
      ts.flattenDiagnosticMessageText(d.messageText, " ")
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("tsc (strict, skipLibCheck off) types the bundle from the .d.ts beside it", async () => {
  assert.deepEqual(await tscCheck(RIGHT), []);
  const wrong = await tscCheck(
    RIGHT + `await loadTokenizer({ encoder: "e", decoder: "d", backend: 42 });\n`,
  );
  assert.equal(wrong.length, 1, wrong.join("\n"));
  assert.match(wrong[0], /^\/consumer\.ts TS2322: Type 'number' is not assignable to type/);
});
