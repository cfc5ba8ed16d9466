/**
 * The tokenizer's Web Worker (started by TokenizerWorker, worker_engine.ts): it loads the
 * tokenizer, then runs the jobs it is sent, one at a time, and answers each with its result
 * or its refusal. Decoding uploads, running the network and encoding outputs all happen here,
 * off the thread that serves HTTP.
 * @module
 */

import { loadTokenizer } from "../load.ts";
import type { Tokenizer } from "../tokenizer.ts";
import { HttpError } from "./http.ts";
import { runJob } from "./jobs.ts";
import {
  type FromWorker,
  infoOf,
  type ToWorker,
  transferablesOf,
  type WorkerLoadOptions,
} from "./protocol.ts";

/** The parts of a worker's global scope used here (the lib types are those of a window). */
interface WorkerScope {
  onmessage: ((event: MessageEvent<ToWorker>) => void) | null;
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
}

const scope = globalThis as unknown as WorkerScope;
let tok: Tokenizer | null = null;

function load(options: WorkerLoadOptions): Promise<Tokenizer> {
  return loadTokenizer({
    model: options.model,
    encoder: options.encoder,
    decoder: options.decoder,
    backend: options.backend ?? "auto",
    wasm: options.threads ? { threads: options.threads } : undefined,
    window: options.window,
  });
}

scope.onmessage = async ({ data: msg }) => {
  if (msg.type === "load") {
    try {
      tok = await load(msg.options);
      scope.postMessage({ type: "ready", info: infoOf(tok) });
    } catch (err) {
      scope.postMessage({ type: "failed", message: (err as Error).message });
    }
    return;
  }
  try {
    const result = await runJob(tok!, msg.job);
    scope.postMessage({ type: "done", id: msg.id, result }, transferablesOf(result));
  } catch (err) {
    if (err instanceof HttpError) {
      scope.postMessage({ type: "error", id: msg.id, status: err.status, message: err.message });
      return;
    }
    // Anything else is ours, not the client's: report it and keep serving.
    console.error(`tokenize: ${(err as Error).stack ?? err}`);
    const message = `Internal error: ${(err as Error).message}`;
    scope.postMessage({ type: "error", id: msg.id, status: 500, message });
  }
};
