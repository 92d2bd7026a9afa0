/**
 * Gamepads, through the browser's Gamepad API: polled once per animation
 * frame while the view has the focus, and sent as `gamepad` events only
 * when a pad's buttons or axes changed (values rounded to hundredths, so a
 * resting stick's jitter sends nothing), or when it went away. When the
 * view loses the focus, a pad that held anything is sent released.
 *
 * @module
 */

import {
  type GamepadEvent,
  MAX_GAMEPAD_AXES,
  MAX_GAMEPAD_BUTTONS,
  MAX_GAMEPADS,
} from "../src/protocol.ts";

/** The part of a DOM `Gamepad` read here. */
export interface GamepadLike {
  /** Its slot. */
  readonly index: number;
  /** Its name. */
  readonly id: string;
  /** Whether it is still there. */
  readonly connected: boolean;
  /** Its buttons (`value` 0-1). */
  readonly buttons: ReadonlyArray<{ readonly value: number }>;
  /** Its axes (-1 to 1). */
  readonly axes: ReadonlyArray<number>;
}

/** What was last sent for one pad. */
interface PadState {
  id: string;
  buttons: number[];
  axes: number[];
}

const round = (v: number, lo: number) =>
  Number.isFinite(v) ? Math.max(lo, Math.min(1, Math.round(v * 100) / 100)) : 0;

function same(a: number[], b: number[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/**
 * The `gamepad` events for what changed since `last` (which is updated):
 * pads whose rounded buttons or axes differ, and pads that went away.
 *
 * @example
 * ```ts
 * import { gamepadChanges } from "./gamepads.ts";
 * const last = new Map();
 * const pad = { index: 0, id: "pad", connected: true, buttons: [{ value: 1 }], axes: [0] };
 * gamepadChanges(last, [pad], 0).length; // 1
 * gamepadChanges(last, [pad], 0).length; // 0: nothing changed
 * ```
 */
export function gamepadChanges(
  last: Map<number, PadState>,
  pads: ArrayLike<GamepadLike | null>,
  timestamp: number,
): GamepadEvent[] {
  const out: GamepadEvent[] = [];
  const seen = new Set<number>();
  for (const pad of Array.from(pads)) {
    if (!pad || !pad.connected) continue;
    const index = pad.index;
    if (!Number.isInteger(index) || index < 0 || index >= MAX_GAMEPADS) {
      continue;
    }
    seen.add(index);
    const buttons = Array.from(pad.buttons).slice(0, MAX_GAMEPAD_BUTTONS)
      .map((b) => round(b.value, 0));
    const axes = Array.from(pad.axes).slice(0, MAX_GAMEPAD_AXES).map((a) =>
      round(a, -1)
    );
    const id = String(pad.id).slice(0, 128);
    const before = last.get(index);
    if (
      before && before.id === id && same(before.buttons, buttons) &&
      same(before.axes, axes)
    ) continue;
    last.set(index, { id, buttons, axes });
    out.push({
      type: "gamepad",
      index,
      id,
      connected: true,
      buttons,
      axes,
      timestamp,
    });
  }
  for (const [index, state] of last) {
    if (seen.has(index)) continue;
    last.delete(index);
    out.push({
      type: "gamepad",
      index,
      id: state.id,
      connected: false,
      buttons: [],
      axes: [],
      timestamp,
    });
  }
  return out;
}

/**
 * Polls the gamepads while started.
 *
 * @example
 * ```ts ignore
 * const pads = new GamepadPoller((ev) => send(ev));
 * pads.start(); // on focus
 * pads.stop();  // on blur: held pads are sent released
 * ```
 */
export class GamepadPoller {
  #send: (ev: GamepadEvent) => void;
  #last = new Map<number, PadState>();
  #raf = 0;

  /** @param send where the events go */
  constructor(send: (ev: GamepadEvent) => void) {
    this.#send = send;
  }

  /** Poll once per animation frame (where the browser has the Gamepad API). */
  start(): void {
    if (this.#raf || typeof navigator.getGamepads !== "function") return;
    const poll = () => {
      this.#raf = requestAnimationFrame(poll);
      let pads: ArrayLike<GamepadLike | null>;
      try {
        pads = navigator.getGamepads();
      } catch {
        return; // e.g. a permissions policy forbids it
      }
      for (
        const ev of gamepadChanges(this.#last, pads, performance.now() / 1000)
      ) this.#send(ev);
    };
    this.#raf = requestAnimationFrame(poll);
  }

  /** Stop polling; pads that held anything are sent released. */
  stop(): void {
    if (!this.#raf) return;
    cancelAnimationFrame(this.#raf);
    this.#raf = 0;
    for (const [index, state] of this.#last) {
      if (
        state.buttons.every((v) => v === 0) && state.axes.every((v) => v === 0)
      ) {
        continue;
      }
      state.buttons = state.buttons.map(() => 0);
      state.axes = state.axes.map(() => 0);
      this.#send({
        type: "gamepad",
        index,
        id: state.id,
        connected: true,
        buttons: state.buttons,
        axes: state.axes,
        timestamp: performance.now() / 1000,
      });
    }
  }
}
