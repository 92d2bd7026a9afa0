/**
 * Displays fed from elsewhere and what stands in for them: `sourcedDisplay`
 * makes a display whose pictures come from a `TrackSource` (an edge
 * server's relay of a render host), and `standIn` lets another object (a
 * `RemoteDisplay`) be served in its place by `handler()` and a server's
 * `add()`, which find the display behind it with `displayBehind`.
 *
 * @module
 */

import { Display } from "./display.ts";
import { type SourcedOptions, withSlot } from "./display_slot.ts";
import type { DisplayOptions } from "./options.ts";

export type { SourcedOptions };

/** Objects served in a display's place (`RemoteDisplay`), and that display. */
const standIns = new WeakMap<object, Display>();

/**
 * A display whose pictures come from a `TrackSource` (an edge server's
 * relay of a render host) and whose viewers' input goes to `input`: it
 * encodes nothing, and `publish()` throws.
 *
 * @example
 * ```ts ignore
 * const display = sourcedDisplay("scene", 640, 480, {}, { source, input });
 * ```
 */
export function sourcedDisplay(
  name: string,
  width: number,
  height: number,
  options: DisplayOptions,
  sourced: SourcedOptions,
): Display {
  return withSlot(
    { name, sourced },
    () => new Display(width, height, options),
  );
}

/**
 * Serve `display` wherever `front` is given to `handler()` or a server
 * (an object standing for a display, without its `publish`).
 *
 * @example
 * ```ts ignore
 * standIn(remote, display);
 * ```
 */
export function standIn(front: object, display: Display): void {
  standIns.set(front, display);
}

/**
 * The display behind `target`: itself, or the one it stands in for; null
 * when it is neither.
 *
 * @example
 * ```ts
 * import { Display } from "./display.ts";
 * import { displayBehind } from "./sourced_display.ts";
 * const display = new Display(16, 16);
 * console.log(displayBehind(display) === display, displayBehind({})); // true null
 * await display.close();
 * ```
 */
export function displayBehind(target: unknown): Display | null {
  if (target instanceof Display) return target;
  if (typeof target !== "object" || target === null) return null;
  return standIns.get(target) ?? null;
}
