/**
 * `deno task web`: serves the tokenizer page (examples/web), the browser bundle
 * (dist/cosmos-webgpu.js) and a folder of checkpoints, with the cross-origin isolation headers
 * (COOP/COEP) that give a page SharedArrayBuffer, so the WebAssembly backend runs on threads.
 *
 *   deno task web [--port 8000] [--host 127.0.0.1] [--checkpoints DIR]
 *
 * The page is at /examples/web/ (/ leads there). DIR (default test/fixtures, the small random-weight checkpoints of the tests) holds one folder
 * per checkpoint, each with encoder.safetensors or encoder.jit and decoder.safetensors or
 * decoder.jit (the safetensors where there are both); the page lists them at /checkpoints/ and can load an official model from
 * the hub by name instead.
 * @module
 */

import { parseArgs } from "node:util";

const HERE = new URL("./", import.meta.url);
const ROOT = new URL("../../", import.meta.url);

/** The page's own files, by request path: laid out as in the repository, so that the worker's
 * import of ../../dist/cosmos-webgpu.js resolves alike here and in `deno check`. */
const PAGE_FILES: Record<string, URL> = {
  "/examples/web/": new URL("index.html", HERE),
  "/examples/web/index.html": new URL("index.html", HERE),
  "/examples/web/app.js": new URL("app.js", HERE),
  "/examples/web/view.js": new URL("view.js", HERE),
  "/examples/web/worker.js": new URL("worker.js", HERE),
  "/dist/cosmos-webgpu.js": new URL("dist/cosmos-webgpu.js", ROOT),
};
/** Where the page is. */
export const PAGE_PATH = "/examples/web/";

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  json: "application/json",
};

/** A checkpoint folder's or file's name: no separators, no dot-dot, nothing odd. */
const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;
const HALF_FILES = ["encoder.jit", "encoder.safetensors", "decoder.jit", "decoder.safetensors"];

/** Options of `serveWebPage`. */
export interface WebPageOptions {
  hostname?: string;
  /** 0 picks a free port. */
  port?: number;
  /** Folder of checkpoint folders. */
  checkpoints: string | URL;
}

function isolated(headers: Record<string, string> = {}): Headers {
  return new Headers({
    ...headers,
    // Cross-origin isolation: without both, a page has no SharedArrayBuffer and wasm one thread.
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-embedder-policy": "require-corp",
    "cross-origin-resource-policy": "same-origin",
    "cache-control": "no-cache",
  });
}

function text(status: number, body: string): Response {
  return new Response(body, { status, headers: isolated({ "content-type": "text/plain" }) });
}

async function exists(url: URL): Promise<boolean> {
  try {
    return (await Deno.stat(url)).isFile;
  } catch {
    return false;
  }
}

/** A checkpoint folder as the page sees it: its name and the file of each half. */
export interface CheckpointEntry {
  name: string;
  encoder: string;
  decoder: string;
}

/** The checkpoint folders under `dir` that hold both halves. */
async function listCheckpoints(dir: URL): Promise<CheckpointEntry[]> {
  const found: CheckpointEntry[] = [];
  for await (const e of Deno.readDir(dir)) {
    if (!e.isDirectory || !NAME.test(e.name)) continue;
    const sub = new URL(`${e.name}/`, dir);
    const file = async (half: string) => {
      // The safetensors first where a folder has both: a canonical file (`deno task convert`)
      // says its variant and compression in its metadata, where a .jit says them only in its
      // traced code, which a hand-made or stripped archive (the test fixtures') lacks.
      for (const f of [`${half}.safetensors`, `${half}.jit`]) {
        if (await exists(new URL(f, sub))) return f;
      }
      return null;
    };
    const [encoder, decoder] = [await file("encoder"), await file("decoder")];
    if (encoder && decoder) found.push({ name: e.name, encoder, decoder });
  }
  return found.sort((a, b) => a.name < b.name ? -1 : 1);
}

async function serveFile(url: URL, type: string): Promise<Response> {
  try {
    const file = await Deno.open(url);
    const { size } = await file.stat();
    return new Response(file.readable, {
      headers: isolated({ "content-type": type, "content-length": String(size) }),
    });
  } catch {
    return text(404, "not found");
  }
}

/** Starts the page's server; returns its URL and a function that stops it. */
export function serveWebPage(options: WebPageOptions): { url: string; close: () => Promise<void> } {
  const given = options.checkpoints instanceof URL
    ? options.checkpoints
    : new URL(options.checkpoints, `file://${Deno.cwd()}/`);
  const dir = new URL(given.href.endsWith("/") ? given.href : `${given.href}/`);
  const server = Deno.serve(
    { hostname: options.hostname ?? "127.0.0.1", port: options.port ?? 0, onListen() {} },
    async (req) => {
      if (req.method !== "GET" && req.method !== "HEAD") return text(405, "GET only");
      const path = new URL(req.url).pathname;
      if (path === "/") {
        return new Response(null, { status: 302, headers: isolated({ location: PAGE_PATH }) });
      }
      const page = PAGE_FILES[path];
      if (page) return await serveFile(page, TYPES[page.pathname.split(".").pop()!]);
      if (path === "/checkpoints/") {
        return new Response(JSON.stringify(await listCheckpoints(dir)), {
          headers: isolated({ "content-type": TYPES.json }),
        });
      }
      // /checkpoints/<folder>/<half file>, each part checked: nothing else under DIR is served.
      const m = /^\/checkpoints\/([^/]+)\/([^/]+)$/.exec(path);
      if (m && NAME.test(m[1]) && HALF_FILES.includes(m[2])) {
        return await serveFile(new URL(`${m[1]}/${m[2]}`, dir), "application/octet-stream");
      }
      return text(404, "not found");
    },
  );
  const { hostname, port } = server.addr;
  return { url: `http://${hostname}:${port}${PAGE_PATH}`, close: () => server.shutdown() };
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      host: { type: "string", default: "127.0.0.1" },
      port: { type: "string", default: "8000" },
      checkpoints: { type: "string", default: new URL("test/fixtures/", ROOT).pathname },
    },
    strict: true,
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`--port must be a port number, got "${values.port}"`);
    Deno.exit(2);
  }
  const { url } = serveWebPage({ hostname: values.host, port, checkpoints: values.checkpoints });
  console.log(`cosmos-webgpu page at ${url} (checkpoints from ${values.checkpoints})`);
}
