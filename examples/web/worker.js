// The page's tokenizer runs here, in a module worker: a page's main thread may not block in
// Atomics.wait, which the WebAssembly backend's threads need, and a worker may. With the
// server's COOP/COEP headers the page is cross-origin isolated, so the backend gets
// SharedArrayBuffer and starts its own worker threads from here.
import {
  framesToVideoTensor,
  imageDataToTensor,
  loadTokenizer,
  pixelsToRgb,
  QualityMeter,
  tensorToImageData,
} from "../../dist/cosmos-webgpu.js";

/** The tokenizer loaded last, and what it was loaded from. */
let current = null;

function post(message, transfer = []) {
  self.postMessage(message, transfer);
}

async function tokenizerFor(checkpoint, backend) {
  const key = JSON.stringify([checkpoint, backend]);
  if (current?.key === key) return { tok: current.tok, loadMs: 0 };
  if (current) await current.tok.dispose();
  current = null;
  const t0 = performance.now();
  let options;
  if (checkpoint.hub) {
    // By name: without Deno, loadTokenizer fetches the hub's files into the Cache API.
    post({ type: "progress", text: `fetching ${checkpoint.hub} from the hub` });
    const onProgress = (p) =>
      post({
        type: "progress",
        text: `${p.file}: ${(p.bytes / 1e6).toFixed(1)}${
          p.total ? ` of ${(p.total / 1e6).toFixed(1)}` : ""
        } MB`,
      });
    options = {
      model: checkpoint.hub,
      hub: { endpoint: checkpoint.endpoint || undefined, onProgress },
    };
  } else {
    // URLs relative to the page: the library resolves them against this worker's own URL.
    const dir = `/checkpoints/${encodeURIComponent(checkpoint.name)}/`;
    options = { encoder: dir + checkpoint.encoder, decoder: dir + checkpoint.decoder };
  }
  post({ type: "progress", text: `loading on ${backend}` });
  const tok = await loadTokenizer({ ...options, backend });
  current = { key, tok };
  return { tok, loadMs: performance.now() - t0 };
}

async function run({ checkpoint, backend, frames }) {
  const { tok, loadMs } = await tokenizerFor(checkpoint, backend);
  // An image model takes the clip's first frame; a video model takes 1 + k x temporal frames.
  const video = tok.kind === "video";
  const tc = tok.temporalCompression;
  const used = video ? frames.slice(0, 1 + Math.floor((frames.length - 1) / tc) * tc) : [frames[0]];
  const opts = { multiple: tok.spatialCompression };
  const { tensor, crop } = video
    ? framesToVideoTensor(used, opts)
    : imageDataToTensor(used[0], opts);
  post({ type: "progress", text: `encoding ${used.length} frame(s) on ${tok.backend}` });
  const t1 = performance.now();
  const enc = await tok.encode(tensor);
  const t2 = performance.now();
  post({ type: "progress", text: "decoding" });
  const rec = await tok.decode(enc.latent ?? enc.indices);
  const t3 = performance.now();
  const out = tensorToImageData(rec, crop);
  const meter = new QualityMeter();
  used.forEach((f, i) => {
    const a = pixelsToRgb(f), b = pixelsToRgb(out[i]);
    meter.add(a.data, b.data, a.width, a.height);
  });
  const quality = meter.result();
  const tokens = enc.latent ?? enc.indices;
  post({
    type: "result",
    model: tok.model,
    backend: tok.backend,
    discrete: tok.discrete,
    kind: tok.kind,
    frames: used.length,
    crossOriginIsolated: self.crossOriginIsolated === true,
    tokens: { data: tokens.data, shape: tokens.shape },
    reconstruction: out,
    psnr: quality.psnr,
    ssim: quality.ssim,
    timings: { load: loadMs, encode: t2 - t1, decode: t3 - t2, metrics: performance.now() - t3 },
  }, [tokens.data.buffer, ...out.map((p) => p.data.buffer)]);
}

self.onmessage = (e) => {
  run(e.data).catch((err) => {
    post({ type: "error", message: err?.message ?? String(err) });
  });
};
