/**
 * Input events beyond pointer and keys, sent in `event` messages like the
 * others: `text_input` (typed or composed text, e.g. from an input method)
 * and `gamepad` (a gamepad's buttons and axes after a change), with the
 * check that normalises one sent by a client. Both are optional additions:
 * a client sends them only to a server whose `config` lists them in `input`.
 *
 * @example
 * ```ts
 * import { validateExtraEvent } from "@rfb/core/protocol";
 * validateExtraEvent({ type: "text_input", text: "日本語" }, 0);
 * // { type: "text_input", text: "日本語", timestamp: 0 }
 * ```
 *
 * @module
 */

import { isFiniteNumber } from "./_fields.ts";

/** Committed text: typed, composed by an input method, or from an on-screen keyboard. */
export interface TextInputEvent {
  /** Always `"text_input"`. */
  type: "text_input";
  /** The committed string (1 to {@linkcode MAX_TEXT_INPUT} characters). */
  text: string;
  /** Event time in seconds. */
  timestamp: number;
}

/**
 * A gamepad's state after a change (sent only when something changed, at
 * most once per animation frame), or its disconnection (`connected: false`,
 * no buttons or axes).
 */
export interface GamepadEvent {
  /** Always `"gamepad"`. */
  type: "gamepad";
  /** The pad's slot, 0 to {@linkcode MAX_GAMEPADS} - 1 (the Gamepad API's `index`). */
  index: number;
  /** The pad's name as the browser gives it (at most 128 characters). */
  id?: string;
  /** False once the pad is gone. */
  connected: boolean;
  /** Each button's value, 0 (released) to 1 (fully pressed). */
  buttons: number[];
  /** Each axis, -1 to 1. */
  axes: number[];
  /** Event time in seconds. */
  timestamp: number;
}

/** The longest `text_input` text, in UTF-16 code units. */
export const MAX_TEXT_INPUT = 1024;
/** Gamepad slots (`index` is below this). */
export const MAX_GAMEPADS = 16;
/** The most buttons a `gamepad` event may list. */
export const MAX_GAMEPAD_BUTTONS = 64;
/** The most axes a `gamepad` event may list. */
export const MAX_GAMEPAD_AXES = 32;
const MAX_GAMEPAD_ID = 128;

function numbers(
  v: unknown,
  name: string,
  max: number,
  lo: number,
): number[] | string {
  const list = v ?? [];
  if (
    !Array.isArray(list) || list.length > max ||
    !list.every((n) => isFiniteNumber(n) && n >= lo && n <= 1)
  ) {
    return `'${name}' must be a list of at most ${max} numbers in [${lo}, 1]`;
  }
  return [...list] as number[];
}

/**
 * Validate a `text_input` or `gamepad` event (an object whose `type` is
 * one of those) and return it normalised, with only its known fields, or
 * an error string. `now` (seconds) fills in a missing timestamp.
 *
 * @example
 * ```ts
 * import { validateExtraEvent } from "@rfb/core/protocol";
 * const ev = validateExtraEvent({ type: "gamepad", index: 0, buttons: [1, 0], axes: [0.5] }, 2);
 * console.log(typeof ev === "string" ? ev : ev.type); // "gamepad"
 * ```
 */
export function validateExtraEvent(
  raw: Record<string, unknown>,
  now: number,
): TextInputEvent | GamepadEvent | string {
  const timestamp = isFiniteNumber(raw.timestamp) ? raw.timestamp : now;
  if (raw.type === "text_input") {
    const text = raw.text;
    if (
      typeof text !== "string" || text.length === 0 ||
      text.length > MAX_TEXT_INPUT
    ) {
      return `'text' must be a non-empty string of at most ${MAX_TEXT_INPUT} characters`;
    }
    return { type: "text_input", text, timestamp };
  }
  if (raw.type !== "gamepad") return "not a text_input or gamepad event";
  const index = raw.index;
  if (
    !Number.isInteger(index) || (index as number) < 0 ||
    (index as number) >= MAX_GAMEPADS
  ) {
    return `'index' must be an integer 0-${MAX_GAMEPADS - 1}`;
  }
  const connected = raw.connected ?? true;
  if (typeof connected !== "boolean") return "'connected' must be a boolean";
  const buttons = numbers(raw.buttons, "buttons", MAX_GAMEPAD_BUTTONS, 0);
  if (typeof buttons === "string") return buttons;
  const axes = numbers(raw.axes, "axes", MAX_GAMEPAD_AXES, -1);
  if (typeof axes === "string") return axes;
  const ev: GamepadEvent = {
    type: "gamepad",
    index: index as number,
    connected,
    buttons,
    axes,
    timestamp,
  };
  if (typeof raw.id === "string" && raw.id.length <= MAX_GAMEPAD_ID) {
    ev.id = raw.id;
  }
  return ev;
}
