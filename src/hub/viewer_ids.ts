/**
 * Viewer ids: one counter for the process, shared by the viewers of every
 * stream and by those watching through edge servers, so an id names one
 * viewer wherever it watches.
 *
 * @module
 */

let next = 1;

/**
 * A viewer id not given before in this process.
 *
 * @example
 * ```ts
 * import { newViewerId } from "./viewer_ids.ts";
 * console.log(newViewerId() < newViewerId()); // true
 * ```
 */
export function newViewerId(): number {
  return next++;
}
