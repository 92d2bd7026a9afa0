/**
 * Input coalescing: pointer moves and wheel deltas pile up between animation
 * frames and go out once per frame (the newest move; the wheel deltas
 * summed), while discrete events (down, up, keys) go out at once, after
 * whatever was pending, so the order of input is kept.
 *
 * @module
 */

import type { InputEvent, WheelEvent } from "../src/protocol.ts";

/**
 * Coalesces moves and wheel events for a sender.
 *
 * @example
 * ```ts
 * import { InputCoalescer } from "./coalesce.ts";
 * const sent: string[] = [];
 * const c = new InputCoalescer((ev) => sent.push(ev.type));
 * c.move({ type: "pointer_move", x: 1, y: 1, button: 0, buttons: [], modifiers: [], timestamp: 0 });
 * c.move({ type: "pointer_move", x: 2, y: 2, button: 0, buttons: [], modifiers: [], timestamp: 0 });
 * c.flush();
 * console.log(sent); // ["pointer_move"]
 * ```
 */
export class InputCoalescer {
  #send: (ev: InputEvent) => void;
  #pending: InputEvent[] = []; // at most one move and one wheel, in arrival order

  /** @param send where coalesced events go */
  constructor(send: (ev: InputEvent) => void) {
    this.#send = send;
  }

  /** Whether anything waits for the next flush. */
  get pending(): boolean {
    return this.#pending.length > 0;
  }

  /** A pointer move: replaces any move still pending. */
  move(ev: InputEvent): void {
    const i = this.#pending.findIndex((p) => p.type === "pointer_move");
    if (i >= 0) this.#pending[i] = ev;
    else this.#pending.push(ev);
  }

  /** A wheel event: its deltas are added to any wheel still pending. */
  wheel(ev: WheelEvent): void {
    const i = this.#pending.findIndex((p) => p.type === "wheel");
    if (i < 0) {
      this.#pending.push({ ...ev });
      return;
    }
    const prev = this.#pending[i] as WheelEvent;
    this.#pending[i] = { ...ev, dx: prev.dx + ev.dx, dy: prev.dy + ev.dy };
  }

  /** A discrete event: flush what is pending, then send it. */
  now(ev: InputEvent): void {
    this.flush();
    this.#send(ev);
  }

  /** Send what is pending (call once per animation frame). */
  flush(): void {
    const out = this.#pending;
    this.#pending = [];
    for (const ev of out) this.#send(ev);
  }

  /** Drop what is pending. */
  clear(): void {
    this.#pending = [];
  }
}
