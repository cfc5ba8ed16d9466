/**
 * Where checkpoint bytes come from: a file path, a URL (fetched) or the bytes themselves, so the
 * same call works in a script, a server and a browser.
 * @module
 */

/** A checkpoint file given by path, URL or content. */
export type WeightsInput = string | URL | Uint8Array | ArrayBuffer;

const URL_LIKE = /^(https?|file|data|blob):/i;

/** Reads a weights input into memory; returns the bytes and a label for messages. */
export async function readWeightsInput(
  input: WeightsInput,
  what: string,
): Promise<{ bytes: Uint8Array; source: string }> {
  if (input instanceof Uint8Array) return { bytes: input, source: `<${what} bytes>` };
  if (input instanceof ArrayBuffer) {
    return { bytes: new Uint8Array(input), source: `<${what} bytes>` };
  }
  const deno = (globalThis as { Deno?: { readFile(p: string | URL): Promise<Uint8Array> } }).Deno;
  // In a page or worker a relative string is a URL relative to it, as fetch() would take it.
  const base = deno ? undefined : pageBase();
  if (typeof input === "string" && !URL_LIKE.test(input) && base) {
    try {
      input = new URL(input, base);
    } catch (err) {
      throw new Error(`Cannot read ${what} "${input}": ${(err as Error).message}`);
    }
  }
  const isUrl = input instanceof URL || URL_LIKE.test(input);
  const label = String(input);
  if (isUrl && !label.startsWith("file:")) {
    let res: Response;
    try {
      res = await fetch(input);
    } catch (err) {
      throw new Error(`Cannot fetch ${what} "${label}": ${(err as Error).message}`);
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`Cannot fetch ${what} "${label}": HTTP ${res.status} ${res.statusText}`);
    }
    return { bytes: new Uint8Array(await res.arrayBuffer()), source: label };
  }
  if (!deno) {
    throw new Error(
      `Cannot read ${what} "${label}": file paths need Deno, and this runtime has no page to resolve a relative URL against; pass an absolute URL or the bytes instead`,
    );
  }
  try {
    return { bytes: await deno.readFile(input), source: label };
  } catch (err) {
    throw new Error(`Cannot read ${what} "${label}": ${(err as Error).message}`);
  }
}

/** The URL relative strings resolve against in a browser: the document's, else the worker's. */
function pageBase(): string | undefined {
  const g = globalThis as { document?: { baseURI?: string }; location?: { href?: string } };
  return g.document?.baseURI ?? g.location?.href;
}
