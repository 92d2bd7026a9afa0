/**
 * The display's input queue: events from every viewer, bounded so a flood
 * cannot grow memory, drained by `pollEvents()` or awaited with `events()`.
 *
 * @module
 */

import type { InputEvent } from "./protocol.ts";

/**
 * A viewer asks for control of a display whose `control` is `"exclusive"`
 * while another viewer drives: the app may `display.grantControl(ev.viewer)`
 * (or leave it: the request is granted anyway once the driver has been idle
 * for `controlIdle` seconds).
 */
export interface ControlRequestEvent {
  /** Always `"control_request"`. */
  type: "control_request";
  /** When the request came, seconds (the server's clock). */
  timestamp: number;
}

/**
 * A viewer pasted text while its view had focus (only a viewer that
 * drives; at most `maxClipboardBytes` of UTF-8).
 */
export interface ClipboardEvent {
  /** Always `"clipboard"`. */
  type: "clipboard";
  /** The pasted text. */
  text: string;
  /** When the paste was complete, seconds (the server's clock). */
  timestamp: number;
}

/**
 * A file a viewer dropped on its view or picked from its toolbar, whole
 * (only when the display's `maxFileBytes` allows it, from a viewer that
 * drives).
 */
export interface FileEvent {
  /** Always `"file"`. */
  type: "file";
  /** The file's base name as the viewer gave it (path separators and control characters made `_`). */
  name: string;
  /** Its MIME type as the browser guessed it (`application/octet-stream` when unknown). */
  mime: string;
  /** Its size in bytes (`bytes.length`). */
  size: number;
  /** Its contents. */
  bytes: Uint8Array;
  /** Where it was dropped, in framebuffer pixels (absent when picked from a button). */
  x?: number;
  /** Where it was dropped, in framebuffer pixels. */
  y?: number;
  /** When the last byte arrived, seconds (the server's clock). */
  timestamp: number;
}

/**
 * An event as the app receives it: a viewer's input (or its request for
 * control, a paste, a file), with who sent it.
 */
export type DisplayEvent =
  & (InputEvent | ControlRequestEvent | ClipboardEvent | FileEvent)
  & {
    /**
     * The id of the viewer that sent it (as in `Display.presence()`); unique
     * across a site, viewers at edge servers included.
     */
    viewer: number;
    /**
     * What the `authenticate` hook returned for that viewer, as given (e.g.
     * `{ id, name, role }`); for a viewer at an edge server, what the edge's
     * hook returned, as JSON. Absent when no hook runs.
     */
    user?: unknown;
  };

/**
 * A bounded FIFO of input events. When full, the oldest event is dropped and
 * counted, so a slow app sees recent input rather than stale input.
 *
 * @example
 * ```ts
 * import { EventQueue } from "./events.ts";
 * const q = new EventQueue(2);
 * q.push({ type: "key_down", key: "a", modifiers: [], timestamp: 0, viewer: 1 });
 * console.log(q.drain().length); // 1
 * ```
 */
export class EventQueue {
  #items: DisplayEvent[] = [];
  /** Bytes of `file` events waiting, by viewer. */
  #fileBytes = new Map<number, number>();
  #waiters: Array<() => void> = [];
  #closed = false;
  readonly #max: number;
  /** Events dropped because the queue was full. */
  dropped = 0;

  /** Hold at most `max` events. */
  constructor(max = 4096) {
    this.#max = max;
  }

  /** Number of events waiting. */
  get size(): number {
    return this.#items.length;
  }

  /** Bytes of `viewer`'s files waiting for the app. */
  fileBytes(viewer: number): number {
    return this.#fileBytes.get(viewer) ?? 0;
  }

  /** Add an event, dropping the oldest when full. */
  push(ev: DisplayEvent): void {
    if (this.#closed) return;
    if (this.#items.length >= this.#max) {
      this.#taken(this.#items.shift()!);
      this.dropped++;
    }
    if (ev.type === "file") {
      this.#fileBytes.set(ev.viewer, this.fileBytes(ev.viewer) + ev.size);
    }
    this.#items.push(ev);
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Take every waiting event. */
  drain(): DisplayEvent[] {
    const out = this.#items;
    this.#items = [];
    this.#fileBytes.clear();
    return out;
  }

  /** A file event left the queue. */
  #taken(ev: DisplayEvent): DisplayEvent {
    if (ev.type !== "file") return ev;
    const left = this.fileBytes(ev.viewer) - ev.size;
    if (left > 0) this.#fileBytes.set(ev.viewer, left);
    else this.#fileBytes.delete(ev.viewer);
    return ev;
  }

  /** Wake every waiting iterator and make them finish. */
  close(): void {
    this.#closed = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake();
  }

  /** Yield events as they arrive until the queue is closed. */
  async *iterate(): AsyncGenerator<DisplayEvent, void, undefined> {
    while (true) {
      while (this.#items.length > 0) yield this.#taken(this.#items.shift()!);
      if (this.#closed) return;
      await new Promise<void>((resolve) => this.#waiters.push(resolve));
    }
  }
}
