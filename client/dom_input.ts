/**
 * Page-side helpers of the view: a stream URL as a WebSocket URL, and the
 * protocol's modifiers and buttons read from a DOM event.
 *
 * @module
 */

import type { Modifier } from "../src/protocol.ts";

const MODS: ReadonlyArray<[keyof KeyboardEvent & keyof MouseEvent, Modifier]> =
  [
    ["shiftKey", "Shift"],
    ["ctrlKey", "Control"],
    ["altKey", "Alt"],
    ["metaKey", "Meta"],
  ];
/** DOM `button` → protocol button (left 1, middle 3, right 2, back 4, forward 5). */
export const BUTTON: readonly number[] = [1, 3, 2, 4, 5];
/** DOM `buttons` bits → protocol buttons. */
const BUTTON_BITS = [1, 2, 3, 4, 5];

/**
 * The modifiers held during a DOM event.
 *
 * @example
 * ```ts ignore
 * canvas.addEventListener("keydown", (e) => console.log(modifiers(e))); // ["Shift"]
 * ```
 */
export function modifiers(e: MouseEvent | KeyboardEvent): Modifier[] {
  return MODS.filter(([k]) => e[k]).map(([, m]) => m);
}

/**
 * The protocol buttons held during a DOM mouse event.
 *
 * @example
 * ```ts ignore
 * canvas.addEventListener("pointermove", (e) => console.log(buttons(e))); // [1]
 * ```
 */
export function buttons(e: MouseEvent): number[] {
  return BUTTON_BITS.filter((_, i) => e.buttons & (1 << i));
}

/**
 * Resolve a stream URL against the page: `/cam` or `http://…` become `ws(s)://…`.
 *
 * @example
 * ```ts ignore
 * toWebSocketUrl("/cam"); // "ws://localhost:8000/cam" on http://localhost:8000/
 * ```
 */
export function toWebSocketUrl(url: string): string {
  const u = new URL(url, location.href);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  return u.href;
}
