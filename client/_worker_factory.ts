/**
 * Starts the view's worker from the file beside the bundle
 * (`rfb-worker.js`, built from `worker/main.ts`). The single-file bundle swaps this module for one that
 * starts the worker from an inlined blob.
 *
 * @module
 */

/**
 * Start the worker.
 *
 * @example
 * ```ts ignore
 * const worker = createWorker();
 * ```
 */
export function createWorker(): Worker {
  return new Worker(new URL("./rfb-worker.js", import.meta.url), {
    type: "module",
  });
}
