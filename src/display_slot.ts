/**
 * What the next `new Display` is made with besides its public arguments:
 * its stream name, and, for a display that does not encode, where its
 * pictures come from and where its viewers' input goes. Set just around
 * the constructor (`withSlot`) and taken by it (`takeSlot`): the public
 * constructor has no such parameters.
 *
 * @module
 */

import type { DisplayEvent } from "./events.ts";
import type { StreamDesk } from "./hub/presence.ts";
import type { TrackSource } from "./hub/tracks.ts";

/** How a display that does not encode is fed (see `sourcedDisplay`). */
export interface SourcedOptions {
  /** Its tracks. */
  source: TrackSource;
  /** Where its viewers' input goes (instead of its event queue). */
  input: (ev: DisplayEvent) => void;
  /** Who decides who drives (an edge's desk passes it to its host). */
  desk?: StreamDesk;
}

/** The constructor's hidden arguments. */
export interface DisplaySlot {
  /** The stream's name. */
  name: string;
  /** Where its pictures come from, when it does not encode. */
  sourced: SourcedOptions | null;
}

let next: DisplaySlot | null = null;

/**
 * Run `make` (which calls `new Display`) with `slot` set.
 *
 * @example
 * ```ts ignore
 * const cam = withSlot({ name: "cam", sourced: null }, () => new Display(64, 64));
 * ```
 */
export function withSlot<T>(slot: DisplaySlot, make: () => T): T {
  next = slot;
  try {
    return make();
  } finally {
    next = null;
  }
}

/**
 * The slot set for this construction (a plain `new Display`: the name
 * `"default"`, not sourced); it is cleared.
 *
 * @example
 * ```ts
 * import { takeSlot } from "./display_slot.ts";
 * console.log(takeSlot().name); // default
 * ```
 */
export function takeSlot(): DisplaySlot {
  const slot = next ?? { name: "default", sourced: null };
  next = null;
  return slot;
}
