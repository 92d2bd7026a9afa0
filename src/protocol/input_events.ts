/**
 * Input events in the renderview vocabulary (pointer, wheel, key, resize),
 * with our optional `text_input` and `gamepad` (`extra_events.ts`), and the
 * check that normalises one sent by a client.
 *
 * @example
 * ```ts
 * import { validateEvent } from "@rfb/core/protocol";
 * validateEvent({ type: "key_down", key: "a" }, 0); // { type: "key_down", key: "a", modifiers: [], timestamp: 0 }
 * ```
 *
 * @module
 */

import {
  isFiniteNumber,
  isRecord,
  numberField,
  viewportFields,
} from "./_fields.ts";
import { logSafe } from "../log.ts";
import {
  type GamepadEvent,
  type TextInputEvent,
  validateExtraEvent,
} from "./extra_events.ts";

/** A modifier key name. */
export type Modifier = "Shift" | "Control" | "Alt" | "Meta";

/** Fields shared by pointer, double-click and wheel events. */
export interface PointerFields {
  /** X in framebuffer pixels. */
  x: number;
  /** Y in framebuffer pixels. */
  y: number;
  /** False when the pointer is over letterbox padding. */
  inside?: boolean;
  /** The view's device pixel ratio. */
  pixel_ratio?: number;
  /** Buttons held down. */
  buttons: number[];
  /** Modifier keys held down. */
  modifiers: Modifier[];
  /** Event time in seconds. */
  timestamp: number;
}

/**
 * One finger of a touch, in a pointer event's `touches`. The client sends
 * `id` (the DOM `pointerId`), `x` and `y`; `pressure` (0-1) is kept when a
 * client sends it. Other fields are dropped.
 */
export type TouchPoint = {
  /** The pointer's id, stable while the finger is down. */
  id?: number;
  /** X in framebuffer pixels. */
  x: number;
  /** Y in framebuffer pixels. */
  y: number;
  /** Pressure, 0-1. */
  pressure?: number;
};

/** A pointer or double-click event. */
export interface PointerEvent extends PointerFields {
  /** The event type. */
  type: "pointer_down" | "pointer_up" | "pointer_move" | "double_click";
  /** The button that changed: 0 none, 1 left, 2 right, 3 middle, 4-9 others. */
  button: number;
  /** Number of fingers down, for touch input (0-{@linkcode MAX_TOUCHES}). */
  ntouches?: number;
  /** The fingers down, for touch input (at most {@linkcode MAX_TOUCHES}). */
  touches?: TouchPoint[];
}

/** A wheel event (dy > 0 scrolls down, about 100 per notch). */
export interface WheelEvent extends PointerFields {
  /** Always `"wheel"`. */
  type: "wheel";
  /** Horizontal delta. */
  dx: number;
  /** Vertical delta. */
  dy: number;
}

/** A key event. */
export interface KeyEvent {
  /** The event type. */
  type: "key_down" | "key_up";
  /** DOM `KeyboardEvent.key`. */
  key: string;
  /** DOM `KeyboardEvent.code`. */
  code?: string;
  /** Modifier keys held down. */
  modifiers: Modifier[];
  /** Event time in seconds. */
  timestamp: number;
}

/** A resize event, from the viewer's `set_viewport`. */
export interface ResizeEvent {
  /** Always `"resize"`. */
  type: "resize";
  /** Width in CSS pixels. */
  width: number;
  /** Height in CSS pixels. */
  height: number;
  /** Width in device pixels. */
  pwidth: number;
  /** Height in device pixels. */
  pheight: number;
  /** Device pixel ratio. */
  ratio: number;
  /** Event time in seconds (server clock when absent from the client). */
  timestamp?: number;
}

/**
 * Any input event in the renderview vocabulary, or one of our optional
 * additions (`text_input`, `gamepad`).
 */
export type InputEvent =
  | PointerEvent
  | WheelEvent
  | KeyEvent
  | ResizeEvent
  | TextInputEvent
  | GamepadEvent;

/** The most fingers a touch pointer event may list (`ntouches`, `touches`). */
export const MAX_TOUCHES = 20;

const MAX_COORD = 1e7;
const MAX_KEY_LENGTH = 64;
const MODIFIERS = new Set<string>(["Shift", "Control", "Alt", "Meta"]);
const POINTER_TYPES = new Set<string>([
  "pointer_down",
  "pointer_up",
  "pointer_move",
  "double_click",
]);

function modifiersField(o: Record<string, unknown>): Modifier[] | string {
  const v = o.modifiers ?? [];
  if (!Array.isArray(v) || v.length > 4 || !v.every((m) => MODIFIERS.has(m))) {
    return "'modifiers' must be a list of Shift, Control, Alt, Meta";
  }
  return [...v] as Modifier[];
}

function buttonsField(o: Record<string, unknown>): number[] | string {
  const v = o.buttons ?? [];
  if (
    !Array.isArray(v) || v.length > 16 ||
    !v.every((b) => Number.isInteger(b) && b >= 0 && b <= 9)
  ) {
    return "'buttons' must be a list of integers 0-9";
  }
  return [...v] as number[];
}

/**
 * The touches, rebuilt from their known fields only: undefined when absent or
 * not a list (the renderview vocabulary's placeholder is `{}`), else the
 * points or an error string. Only the top level and each point's own fields
 * are read, so no nesting reaches the app whatever its depth.
 */
function touchesField(
  o: Record<string, unknown>,
): TouchPoint[] | undefined | string {
  const v = o.touches;
  if (!Array.isArray(v)) return undefined;
  const TOUCHES_ERROR =
    `'touches' must be a list of at most ${MAX_TOUCHES} objects with finite numbers x and y (and optional integer id, pressure 0-1)`;
  if (v.length > MAX_TOUCHES) return TOUCHES_ERROR;
  const out: TouchPoint[] = [];
  for (const t of v) {
    if (!isRecord(t)) return TOUCHES_ERROR;
    const { x, y, id, pressure } = t;
    if (
      !isFiniteNumber(x) || Math.abs(x) > MAX_COORD ||
      !isFiniteNumber(y) || Math.abs(y) > MAX_COORD
    ) {
      return TOUCHES_ERROR;
    }
    const point: TouchPoint = { x, y };
    if (id !== undefined) {
      if (!Number.isSafeInteger(id)) return TOUCHES_ERROR;
      point.id = id as number;
    }
    if (pressure !== undefined) {
      if (!isFiniteNumber(pressure) || pressure < 0 || pressure > 1) {
        return TOUCHES_ERROR;
      }
      point.pressure = pressure;
    }
    out.push(point);
  }
  return out;
}

function timestampField(o: Record<string, unknown>, now: number): number {
  const t = o.timestamp;
  return isFiniteNumber(t) ? t : now;
}

/**
 * Validate one input event from a client and return it normalised (only the
 * known fields, with defaults filled in), or an error string.
 *
 * @example
 * ```ts
 * import { validateEvent } from "@rfb/core/protocol";
 * const ev = validateEvent({ type: "pointer_down", x: 3, y: 4, button: 1 }, 0);
 * if (typeof ev !== "string" && ev.type === "pointer_down") {
 *   console.log(ev.type, ev.buttons); // pointer_down []
 * }
 * ```
 */
export function validateEvent(raw: unknown, now: number): InputEvent | string {
  if (!isRecord(raw) || typeof raw.type !== "string") {
    return "event must be an object with a string 'type'";
  }
  const type = raw.type;
  if (type === "text_input" || type === "gamepad") {
    return validateExtraEvent(raw, now);
  }
  const modifiers = modifiersField(raw);
  if (typeof modifiers === "string" && type !== "resize") return modifiers;
  if (POINTER_TYPES.has(type) || type === "wheel") {
    const x = numberField(raw, "x", -MAX_COORD, MAX_COORD);
    if (typeof x === "string") return x;
    const y = numberField(raw, "y", -MAX_COORD, MAX_COORD);
    if (typeof y === "string") return y;
    const buttons = buttonsField(raw);
    if (typeof buttons === "string") return buttons;
    const base: PointerFields = {
      x,
      y,
      buttons,
      modifiers: modifiers as Modifier[],
      timestamp: timestampField(raw, now),
    };
    if (typeof raw.inside === "boolean") base.inside = raw.inside;
    if (raw.pixel_ratio !== undefined) {
      const pr = numberField(raw, "pixel_ratio", 0.01, 100);
      if (typeof pr === "string") return pr;
      base.pixel_ratio = pr;
    }
    if (type === "wheel") {
      const dx = numberField(raw, "dx", -MAX_COORD, MAX_COORD);
      if (typeof dx === "string") return dx;
      const dy = numberField(raw, "dy", -MAX_COORD, MAX_COORD);
      if (typeof dy === "string") return dy;
      return { type: "wheel", ...base, dx, dy };
    }
    const button = raw.button ?? 0;
    if (
      !Number.isInteger(button) || (button as number) < 0 ||
      (button as number) > 9
    ) {
      return "'button' must be an integer 0-9";
    }
    const ev: PointerEvent = {
      type: type as PointerEvent["type"],
      ...base,
      button: button as number,
    };
    if (raw.ntouches !== undefined) {
      const n = raw.ntouches;
      if (
        !Number.isInteger(n) || (n as number) < 0 || (n as number) > MAX_TOUCHES
      ) {
        return `'ntouches' must be an integer 0-${MAX_TOUCHES}`;
      }
      ev.ntouches = n as number;
    }
    const touches = touchesField(raw);
    if (typeof touches === "string") return touches;
    if (touches) ev.touches = touches;
    return ev;
  }
  if (type === "key_down" || type === "key_up") {
    if (
      typeof raw.key !== "string" || raw.key.length === 0 ||
      raw.key.length > MAX_KEY_LENGTH
    ) {
      return `'key' must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`;
    }
    const ev: KeyEvent = {
      type,
      key: raw.key,
      modifiers: modifiers as Modifier[],
      timestamp: timestampField(raw, now),
    };
    if (typeof raw.code === "string" && raw.code.length <= MAX_KEY_LENGTH) {
      ev.code = raw.code;
    }
    return ev;
  }
  if (type === "resize") {
    const size = viewportFields(raw);
    if (typeof size === "string") return size;
    return { type: "resize", ...size, timestamp: timestampField(raw, now) };
  }
  return `unknown event type '${logSafe(type, 32)}'`;
}
