/**
 * One viewer's pastes: a paste comes as `clipboard` pieces (`more: true` on
 * all but the last, so each message stays under the size limit), put back
 * together here and handed to the app as one `clipboard` event. A paste
 * over `maxClipboardBytes`, or with a piece the session dropped (no input
 * token, or the viewer does not drive), is dropped whole: the app never
 * gets a paste with a hole in it. What is kept never passes the limit.
 *
 * @module
 */

import type { ClipboardEvent } from "../events.ts";

/**
 * UTF-8 length of a string, without encoding it (a lone surrogate counts
 * as the 3 bytes of its replacement character).
 *
 * @example
 * ```ts
 * import { utf8Length } from "./clipboard.ts";
 * utf8Length("aé中😀"); // 10
 * ```
 */
export function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (
      c >= 0xd800 && c <= 0xdbff && i + 1 < s.length &&
      (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00
    ) {
      n += 4;
      i++;
    } else n += 3;
  }
  return n;
}

/** What a `ClipboardIntake` needs from its session. */
export interface ClipboardHooks {
  /** The largest paste, UTF-8 bytes (read live; 0: pastes are off). */
  limit(): number;
  /** The session's clock, seconds. */
  now(): number;
  /** Hand a whole paste to the app (the session adds who sent it). */
  deliver(ev: ClipboardEvent): void;
  /** Say why a paste was dropped (once per paste). */
  warn(what: string): void;
}

/**
 * Pieces of one paste at a time.
 *
 * @example
 * ```ts
 * import { ClipboardIntake } from "./clipboard.ts";
 * const got: string[] = [];
 * const paste = new ClipboardIntake({
 *   limit: () => 65536,
 *   now: () => 0,
 *   deliver: (ev) => got.push(ev.text),
 *   warn: () => {},
 * });
 * paste.piece("hello, ", true, true);
 * paste.piece("world", false, true);
 * console.log(got); // ["hello, world"]
 * ```
 */
export class ClipboardIntake {
  #hooks: ClipboardHooks;
  #parts: string[] = [];
  #bytes = 0;
  #broken: string | null = null;

  /** Pastes for one session. */
  constructor(hooks: ClipboardHooks) {
    this.#hooks = hooks;
  }

  /**
   * One piece: `more` when others follow; `ok` false when the session
   * dropped it (the whole paste is then dropped).
   */
  piece(text: string, more: boolean, ok: boolean): void {
    const limit = this.#hooks.limit();
    if (!ok) this.#broken ??= "a piece of it was dropped";
    else if (this.#broken === null) {
      const n = utf8Length(text);
      if (this.#bytes + n > limit) {
        this.#broken = limit === 0
          ? "the clipboard is off (maxClipboardBytes 0)"
          : `over maxClipboardBytes (${limit})`;
        this.#parts = [];
      } else {
        this.#parts.push(text);
        this.#bytes += n;
      }
    }
    if (more) return;
    const whole = this.#parts.join("");
    const broken = this.#broken;
    this.#parts = [];
    this.#bytes = 0;
    this.#broken = null;
    if (broken !== null) {
      this.#hooks.warn(`dropped a paste: ${broken}`);
      return;
    }
    if (whole !== "") {
      this.#hooks.deliver({
        type: "clipboard",
        text: whole,
        timestamp: this.#hooks.now(),
      });
    }
  }
}
