/**
 * The Wan2.1 VAE on the WebAssembly backend, timed per frame on a random clip, beside the
 * reference's figures from src/bench/wan_reference.py (which writes the random full-width
 * checkpoint both read).
 *
 * usage: deno run -A src/bench/wan.ts PTH TxHxW [threads]
 * Prints encode and decode milliseconds per frame (a whole clip, as `Tokenizer.encode` runs it:
 * in one pass or through the streaming engine), the backend's peak of held tensors and the
 * process's RSS at the end.
 * @module
 */

import { loadTokenizer } from "../load.ts";

if (import.meta.main) {
  const [pth, shape, threads] = Deno.args;
  const [t, h, w] = (shape ?? "").split("x").map(Number);
  if (!pth || ![t, h, w].every((n) => Number.isSafeInteger(n) && n > 0)) {
    throw new Error("usage: deno run -A src/bench/wan.ts PTH TxHxW [threads]");
  }
  const tok = await loadTokenizer({
    encoder: pth,
    decoder: pth,
    backend: "wasm",
    wasm: threads ? { threads: Number(threads) } : undefined,
  });
  // Seeded uniform pixels in [-1, 1].
  let seed = 1;
  const data = new Float32Array(3 * t * h * w).map(() => {
    seed = (seed * 1103515245 + 12345) >>> 0;
    return seed / 2 ** 31 - 1;
  });
  const t0 = performance.now();
  const { latent } = await tok.encode({ data, shape: [1, 3, t, h, w] });
  const t1 = performance.now();
  await tok.decode(latent!);
  const t2 = performance.now();
  const peak = tok.memoryStats().peakHeld / 1e6;
  const rss = Deno.memoryUsage().rss / 1e6;
  console.log(
    `${tok.model} on ${tok.backend}, ${shape}: encode ${((t1 - t0) / t).toFixed(0)} ms/frame, ` +
      `decode ${((t2 - t1) / t).toFixed(0)} ms/frame, peak held ${peak.toFixed(0)} MB, RSS ${
        rss.toFixed(0)
      } MB`,
  );
  await tok.dispose();
}
