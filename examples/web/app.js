// The page: picks the input (a dropped or chosen file, or the sample), the checkpoint and the
// backend, hands the frames to the tokenizer worker (worker.js) and shows what comes back.
import { drawPixels, errorPixels, indexPixels, latentPixels, samplePixels } from "./view.js";

const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);
/** Frames are scaled down to this longer side (images) before they go to the tokenizer. */
const MAX_IMAGE_SIDE = 512;
const MAX_CLIP_SIDE = 256;
/** Frames taken from a clip: enough for two latent frames of a 4x or 8x temporal model. */
const CLIP_FRAMES = 17;
const CLIP_FPS = 24;

const worker = new Worker("worker.js", { type: "module" });
let input = null; // { frames: ImageData[], label }

function setState(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function describeEnvironment() {
  const threads = crossOriginIsolated ? navigator.hardwareConcurrency : 1;
  $("env").textContent = `WebGPU API: ${"gpu" in navigator ? "present" : "absent"}; ` +
    `cross-origin isolated: ${crossOriginIsolated ? "yes" : "no"} (wasm threads: up to ${threads})`;
}

async function loadCheckpoints() {
  const select = $("checkpoint");
  const list = await (await fetch("/checkpoints/")).json();
  for (const c of list) {
    select.add(new Option(`${c.name} (served: ${c.encoder}, ${c.decoder})`, JSON.stringify(c)));
  }
  select.add(new Option("an official model from the hub (name below)", "hub"));
  const wanted = params.get("checkpoint");
  const match = list.find((c) => c.name === wanted);
  if (match) select.value = JSON.stringify(match);
  else if (params.get("hub")) select.value = "hub";
  $("hub").value = params.get("hub") ?? "Cosmos-0.1-Tokenizer-CI8x8";
  $("endpoint").value = params.get("endpoint") ?? "";
  if (params.get("backend")) $("backend").value = params.get("backend");
}

function checkpointChoice() {
  const v = $("checkpoint").value;
  return v === "hub"
    ? { hub: $("hub").value.trim(), endpoint: $("endpoint").value.trim() }
    : JSON.parse(v);
}

/** Pixels of a drawable, scaled so its longer side is at most `maxSide`. */
function grab(source, width, height, maxSide) {
  const scale = Math.min(1, maxSide / Math.max(width, height));
  const w = Math.max(1, Math.round(width * scale)), h = Math.max(1, Math.round(height * scale));
  const canvas = new OffscreenCanvas(w, h);
  const ctx = canvas.getContext("2d", { willReadFrequently: true });
  ctx.drawImage(source, 0, 0, w, h);
  return ctx.getImageData(0, 0, w, h);
}

async function imageFrames(file) {
  // No colour management: the pixels are the file's, as the library's own decoder reads them.
  const bitmap = await createImageBitmap(file, {
    colorSpaceConversion: "none",
    premultiplyAlpha: "none",
  });
  const frame = grab(bitmap, bitmap.width, bitmap.height, MAX_IMAGE_SIDE);
  bitmap.close();
  return [frame];
}

async function clipFrames(file) {
  const video = document.createElement("video");
  video.muted = true;
  video.src = URL.createObjectURL(file);
  try {
    await new Promise((resolve, reject) => {
      video.onloadeddata = resolve;
      video.onerror = () => reject(new Error(`Cannot play "${file.name}" in this browser`));
    });
    // Rounded, not floored: WebM keeps its duration in whole milliseconds, so 10 frames at 24 fps
    // (416.7 ms) may say 416 ms, 9.98 frames.
    const count = Math.max(1, Math.min(CLIP_FRAMES, Math.round(video.duration * CLIP_FPS)));
    const frames = [];
    for (let i = 0; i < count; i++) {
      await new Promise((resolve, reject) => {
        video.onseeked = resolve;
        video.onerror = () => reject(new Error(`Cannot seek in "${file.name}"`));
        // The middle of frame i, not its start: a time on a frame's boundary may show the frame
        // before it.
        video.currentTime = (i + 0.5) / CLIP_FPS;
      });
      frames.push(grab(video, video.videoWidth, video.videoHeight, MAX_CLIP_SIDE));
    }
    return frames;
  } finally {
    URL.revokeObjectURL(video.src);
  }
}

async function useFile(file) {
  try {
    setState("reading", `reading ${file.name}`);
    const frames = file.type.startsWith("video/")
      ? await clipFrames(file)
      : await imageFrames(file);
    input = { frames, label: file.name };
    run();
  } catch (err) {
    fail(err.message ?? String(err));
  }
}

function run() {
  if (!input) return;
  drawPixels($("input"), input.frames[0]);
  $("input-caption").textContent =
    `${input.label}: ${input.frames[0].width}x${input.frames[0].height}` +
    (input.frames.length > 1 ? `, ${input.frames.length} frames` : "");
  for (const id of ["psnr", "ssim"]) {
    $(id).textContent = "…";
    delete $(id).dataset.value;
  }
  $("error").textContent = "";
  setState("running", "starting");
  // Copies go to the worker; the page keeps its frames to compare and to run again.
  worker.postMessage({
    checkpoint: checkpointChoice(),
    backend: $("backend").value,
    frames: input.frames.map((f) => ({ width: f.width, height: f.height, data: f.data })),
  });
}

function fail(message) {
  $("error").textContent = message;
  setState("error", "failed");
}

function show(r) {
  const rec = r.reconstruction[0];
  drawPixels($("reconstruction"), rec);
  drawPixels($("tokens"), r.discrete ? indexPixels(r.tokens) : latentPixels(r.tokens));
  drawPixels($("error-map"), errorPixels(input.frames[0], rec));
  const frames = r.kind === "video" ? ", first latent frame" : "";
  $("tokens-caption").textContent = `${r.discrete ? "token indices" : "latent channels"} ` +
    `[${r.tokens.shape.join(", ")}]${frames}`;
  // The frames the tokenizer took (the worker takes the first r.frames), for the console and
  // for the page's test, which measures the library on the same pixels.
  globalThis.cosmosFramesUsed = input.frames.slice(0, r.frames);
  $("psnr").textContent = `${r.psnr.toFixed(4)} dB`;
  $("psnr").dataset.value = String(r.psnr);
  $("ssim").textContent = r.ssim.toFixed(4);
  $("ssim").dataset.value = String(r.ssim);
  $("backend-used").textContent = r.backend;
  $("model").textContent = `${r.model} (${r.kind}, ${r.frames} frame${r.frames > 1 ? "s" : ""})`;
  const t = r.timings;
  $("timings").textContent = `load ${t.load.toFixed(0)} ms, encode ${t.encode.toFixed(0)} ms, ` +
    `decode ${t.decode.toFixed(0)} ms, metrics ${t.metrics.toFixed(0)} ms`;
  setState("done", "done");
}

worker.onmessage = (e) => {
  const m = e.data;
  if (m.type === "progress") setState("running", m.text);
  else if (m.type === "result") show(m);
  else if (m.type === "error") fail(m.message);
};
worker.onerror = (e) => fail(`The tokenizer worker failed: ${e.message}`);

$("file").addEventListener("change", () => {
  const f = $("file").files[0];
  if (f) useFile(f);
});
$("sample").addEventListener("click", () => {
  input = { frames: [samplePixels()], label: "sample" };
  run();
});
$("run").addEventListener("click", run);
const drop = $("drop");
drop.addEventListener("dragover", (e) => {
  e.preventDefault();
  drop.classList.add("over");
});
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (e) => {
  e.preventDefault();
  drop.classList.remove("over");
  const f = e.dataTransfer.files[0];
  if (f) useFile(f);
});

describeEnvironment();
loadCheckpoints().then(
  () => setState("idle", "ready: drop an image or a short clip, or use the sample"),
  (err) => fail(`Cannot list the checkpoints: ${err.message}`),
);
