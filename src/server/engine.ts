/**
 * The side of the server that owns the tokenizer, as the HTTP layer sees it: something that
 * runs jobs in turn and says what it serves. Two kinds: `inlineEngine`, a Tokenizer passed in,
 * run on the calling thread (a WebGPU tokenizer mostly waits on the device, so that thread
 * stays free), and TokenizerWorker (worker_engine.ts), a Web Worker that owns its own
 * tokenizer, so that WebAssembly kernels, which compute on the thread that calls them, never
 * hold up the thread that answers HTTP.
 * @module
 */

import type { Tokenizer } from "../tokenizer.ts";
import { infoOf, type Job, type JobResult, type TokenizerInfo } from "./protocol.ts";
import { runJob } from "./jobs.ts";

/** Runs the server's jobs with a tokenizer. */
export interface Engine {
  /** What the tokenizer is. */
  readonly info: TokenizerInfo;
  /**
   * Runs a job to its result (in turn with the others); refusals reject with an HttpError.
   * The job's body may be transferred (then it is empty here afterwards).
   */
  run(job: Job): Promise<JobResult>;
}

/** An engine that runs jobs on this thread with a tokenizer the caller owns. */
export function inlineEngine(tok: Tokenizer): Engine {
  return {
    info: infoOf(tok),
    run: (job) => runJob(tok, job),
  };
}
