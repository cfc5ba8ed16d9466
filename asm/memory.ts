// deno-fmt-ignore-file
// deno-lint-ignore-file
// (AssemblyScript, like the other kernel files.)

// What the module says about its memory as a whole, not about one kernel: where its static data
// (every file's constant tables) ends. The host imports the memory and owns its layout past this
// point (src/backends/wasm/kernels.ts for the standalone functions, src/backends/wasm/runtime.ts
// for the backend's control block, per-thread scratch and heap).

/** First byte past the module's static data, where the host may lay out its buffers. */
export function heapBase(): usize {
  return __heap_base;
}
