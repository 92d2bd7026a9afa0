/**
 * The view's pointer input: mouse, pen and touch pointers, double clicks,
 * the wheel, and files dragged onto the view, mapped to framebuffer pixels.
 * Moves and wheel deltas are coalesced to one per animation frame; a touch
 * sends every finger in `touches` (`ntouches`) with each pointer event, and
 * a finger that lands, moves or lifts other than the first sends a
 * `pointer_move` carrying them all, so an app can pinch and rotate.
 *
 * @module
 */

import type { InputEvent, Modifier, TouchPoint } from "../src/protocol.ts";
import { InputCoalescer } from "./coalesce.ts";
import { type Layout, toFramePoint } from "./mapping.ts";

/** What the capture needs from its view. */
export interface CaptureHost {
  /** The canvas the pointer acts on. */
  readonly canvas: HTMLCanvasElement;
  /** The layout to map points with. */
  layout(): Layout;
  /** Where input goes (coalesced, in order). */
  send(ev: InputEvent): void;
  /** A pointer pressed on the view: take the keyboard focus. */
  focus(e: PointerEvent): void;
  /** Files were dropped on the view, at a framebuffer point. */
  drop(files: File[], at: { x: number; y: number }): void;
}

const MODS: ReadonlyArray<[keyof KeyboardEvent & keyof MouseEvent, Modifier]> =
  [
    ["shiftKey", "Shift"],
    ["ctrlKey", "Control"],
    ["altKey", "Alt"],
    ["metaKey", "Meta"],
  ];
/** DOM `button` → protocol button (left 1, middle 3, right 2, back 4, forward 5). */
const BUTTON = [1, 3, 2, 4, 5];
/** DOM `buttons` bits → protocol buttons. */
const BUTTON_BITS = [1, 2, 3, 4, 5];

/**
 * The modifier keys held during a DOM event.
 *
 * @example
 * ```ts ignore
 * modifiers(keyboardEvent); // ["Shift"]
 * ```
 */
export function modifiers(e: MouseEvent | KeyboardEvent): Modifier[] {
  return MODS.filter(([k]) => e[k]).map(([, m]) => m);
}

function buttons(e: MouseEvent): number[] {
  return BUTTON_BITS.filter((_, i) => e.buttons & (1 << i));
}

type PointerType =
  | "pointer_down"
  | "pointer_up"
  | "pointer_move"
  | "double_click";

/**
 * Pointer, wheel and drop listeners on a view's canvas.
 *
 * @example
 * ```ts ignore
 * const capture = new InputCapture(host);
 * capture.now(keyEvent); // after any pending move
 * capture.dispose();
 * ```
 */
export class InputCapture {
  #host: CaptureHost;
  #coalescer: InputCoalescer;
  #raf = 0;
  #cleanups: Array<() => void> = [];
  /** Fingers down: pointer id → framebuffer point, in the order they landed. */
  #touches = new Map<number, { x: number; y: number }>();
  #disposed = false;

  /** Listen on `host.canvas`. */
  constructor(host: CaptureHost) {
    this.#host = host;
    this.#coalescer = new InputCoalescer((ev) => host.send(ev));
    this.#listen();
  }

  /** A discrete event: sent after whatever moves are pending. */
  now(ev: InputEvent): void {
    this.#coalescer.now(ev);
  }

  /** Drop what is pending (e.g. the viewer's standing changed). */
  clear(): void {
    this.#coalescer.clear();
  }

  /** Remove every listener. */
  dispose(): void {
    this.#disposed = true;
    for (const undo of this.#cleanups) undo();
    this.#cleanups = [];
    cancelAnimationFrame(this.#raf);
    this.#coalescer.clear();
  }

  /** The framebuffer point under a DOM event. */
  point(e: { clientX: number; clientY: number }): {
    x: number;
    y: number;
    inside: boolean;
    pixel_ratio: number;
  } {
    const box = this.#host.canvas.getBoundingClientRect();
    const p = toFramePoint(
      this.#host.layout(),
      e.clientX - box.left,
      e.clientY - box.top,
    );
    return {
      x: p.x,
      y: p.y,
      inside: p.inside,
      pixel_ratio: globalThis.devicePixelRatio || 1,
    };
  }

  #on<K extends keyof HTMLElementEventMap>(
    type: K,
    fn: (e: HTMLElementEventMap[K]) => void,
    options?: AddEventListenerOptions,
  ): void {
    const canvas = this.#host.canvas;
    canvas.addEventListener(type, fn, options);
    this.#cleanups.push(() => canvas.removeEventListener(type, fn, options));
  }

  #schedule(): void {
    if (this.#raf || this.#disposed) return;
    this.#raf = requestAnimationFrame(() => {
      this.#raf = 0;
      this.#coalescer.flush();
    });
  }

  #touchFields(): { ntouches: number; touches: TouchPoint[] } {
    const touches = [...this.#touches].map(([id, t]) => ({
      id,
      x: t.x,
      y: t.y,
    }));
    return { ntouches: touches.length, touches };
  }

  #pointer(type: PointerType, e: PointerEvent | MouseEvent): InputEvent {
    const touch = e instanceof PointerEvent && e.pointerType === "touch"
      ? this.#touchFields()
      : {};
    return {
      type,
      ...this.point(e),
      button: type === "pointer_move" ? 0 : (BUTTON[e.button] ?? 0),
      buttons: buttons(e),
      modifiers: modifiers(e),
      timestamp: e.timeStamp / 1000,
      ...touch,
    } as InputEvent;
  }

  /**
   * A finger other than the primary landed, moved or lifted: a move at the
   * first finger still down (its own point when none is), with them all.
   */
  #fingers(e: PointerEvent): void {
    const first = this.#touches.values().next().value;
    const ev = this.#pointer("pointer_move", e) as InputEvent & {
      x: number;
      y: number;
    };
    if (first) {
      ev.x = first.x;
      ev.y = first.y;
    }
    this.#coalescer.move(ev);
    this.#schedule();
  }

  #listen(): void {
    const canvas = this.#host.canvas;
    const touchAt = (e: PointerEvent) => {
      const p = this.point(e);
      this.#touches.set(e.pointerId, { x: p.x, y: p.y });
    };
    this.#on("pointerdown", (e) => {
      this.#host.focus(e);
      if (e.pointerType !== "touch" || e.isPrimary) {
        try {
          canvas.setPointerCapture(e.pointerId);
        } catch { /* pointer already gone */ }
      }
      if (e.pointerType === "touch") touchAt(e);
      e.preventDefault();
      if (!e.isPrimary) return this.#fingers(e);
      this.#coalescer.now(this.#pointer("pointer_down", e));
    });
    this.#on("pointermove", (e) => {
      const finger = e.pointerType === "touch";
      if (finger && this.#touches.has(e.pointerId)) touchAt(e);
      if (!e.isPrimary) {
        if (finger && this.#touches.has(e.pointerId)) this.#fingers(e);
        return;
      }
      this.#coalescer.move(this.#pointer("pointer_move", e));
      this.#schedule();
    });
    const up = (e: PointerEvent) => {
      // The event still lists the finger that lifts (a one-finger tap is
      // ntouches 1 on both down and up); it is forgotten afterwards.
      const ev = e.isPrimary ? this.#pointer("pointer_up", e) : null;
      const had = this.#touches.delete(e.pointerId);
      if (ev) this.#coalescer.now(ev);
      else if (had) this.#fingers(e); // the others, without it
    };
    this.#on("pointerup", up);
    this.#on("pointercancel", up);
    this.#on(
      "dblclick",
      (e) => this.#coalescer.now(this.#pointer("double_click", e)),
    );
    this.#on("contextmenu", (e) => e.preventDefault());
    this.#on("wheel", (e) => {
      e.preventDefault(); // the view scrolls the scene, not the page
      const unit = e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 100 : 1;
      this.#coalescer.wheel({
        type: "wheel",
        ...this.point(e),
        dx: e.deltaX * unit,
        dy: e.deltaY * unit,
        buttons: buttons(e),
        modifiers: modifiers(e),
        timestamp: e.timeStamp / 1000,
      });
      this.#schedule();
    }, { passive: false });
    // Files dragged in: the view takes them (the page would open them).
    const files = (e: DragEvent) => e.dataTransfer?.types.includes("Files");
    this.#on("dragover", (e) => {
      if (!files(e)) return;
      e.preventDefault();
      e.dataTransfer!.dropEffect = "copy";
    });
    this.#on("drop", (e) => {
      if (!files(e)) return;
      e.preventDefault();
      const { x, y } = this.point(e);
      this.#host.drop([...e.dataTransfer!.files], { x, y });
    });
  }
}
