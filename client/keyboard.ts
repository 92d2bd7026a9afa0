/**
 * The view's keyboard: a transparent `<textarea>` that holds the focus
 * while the view has it, so the browser gives it everything a text field
 * gets. Keys go out as `key_down`/`key_up` (Escape gives the focus back to
 * the page, Tab moves on, Ctrl/Meta shortcuts stay the browser's); the text
 * they commit, and what an input method composes (Chinese, Japanese,
 * Korean, dead keys) or an on-screen keyboard types, goes out as
 * `text_input` once committed; a paste goes out as clipboard text (or as
 * files). On a touch screen it keeps `inputmode="none"`, so tapping the
 * view does not bring up the on-screen keyboard; `showKeyboard()` does.
 *
 * @module
 */

import {
  type InputEvent as RfbEvent,
  MAX_TEXT_INPUT,
} from "../src/protocol.ts";
import { modifiers } from "./input.ts";

/** What the keyboard needs from its view. */
export interface KeyboardHost {
  /** The element the view lives in (the text area goes inside). */
  readonly element: HTMLElement;
  /** The view's canvas (marked while the view has the focus). */
  readonly canvas: HTMLCanvasElement;
  /** Where key and text events go, in order with the pointer's. */
  now(ev: RfbEvent): void;
  /** Text pasted into the view. */
  paste(text: string): void;
  /** Files pasted into the view. */
  pasteFiles(files: File[]): void;
  /** The user pressed a key in the view (a gesture, e.g. to copy the app's clipboard). */
  gesture(): void;
  /** The view took or lost the focus. */
  focused(on: boolean): void;
}

/** What the text area holds between inputs, so a Backspace on an empty one still comes. */
const SENTINEL = "\u00a0";

const STYLE = "position:fixed;left:0;top:0;width:1px;height:1px;" +
  "margin:0;padding:0;border:0;outline:none;resize:none;overflow:hidden;" +
  "opacity:0;color:transparent;background:transparent;caret-color:transparent;" +
  "font-size:16px;pointer-events:none;white-space:pre;z-index:0";

/**
 * Split text into pieces of at most `max` UTF-16 code units, never inside
 * a surrogate pair.
 *
 * @example
 * ```ts
 * import { textPieces } from "./keyboard.ts";
 * textPieces("abcde", 2); // ["ab", "cd", "e"]
 * ```
 */
export function textPieces(text: string, max = MAX_TEXT_INPUT): string[] {
  const out: string[] = [];
  for (let i = 0; i < text.length;) {
    let end = Math.min(text.length, i + Math.max(2, max));
    const c = text.charCodeAt(end - 1);
    if (end < text.length && c >= 0xd800 && c <= 0xdbff) end--;
    out.push(text.slice(i, end));
    i = end;
  }
  return out;
}

/**
 * The focus, keys and text of one view.
 *
 * @example
 * ```ts ignore
 * const keyboard = new KeyboardSink(host);
 * keyboard.focus(pointerEvent); // on a press in the view
 * keyboard.showKeyboard();      // from a button, on a phone
 * ```
 */
export class KeyboardSink {
  /** The text area that holds the focus. */
  readonly area: HTMLTextAreaElement;
  #host: KeyboardHost;
  #cleanups: Array<() => void> = [];
  #composing = false;
  /** The next focus came from a pointer (no focus ring). */
  #byPointer = false;

  /** Add the text area to `host.element`. */
  constructor(host: KeyboardHost) {
    this.#host = host;
    const area = document.createElement("textarea");
    area.className = "rfb-input";
    area.setAttribute("aria-label", "remote framebuffer input");
    area.setAttribute("autocapitalize", "off");
    area.setAttribute("autocomplete", "off");
    area.setAttribute("autocorrect", "off");
    area.spellcheck = false;
    area.inputMode = "none";
    area.style.cssText = STYLE;
    area.value = SENTINEL;
    host.element.appendChild(area);
    this.area = area;
    this.#listen();
  }

  /** Whether the view has the focus. */
  get focused(): boolean {
    const root = this.area.getRootNode() as Document | ShadowRoot;
    return root.activeElement === this.area;
  }

  /**
   * Take the focus; at a pointer's position when given (where an input
   * method's window then opens), else at the view's top-left corner.
   */
  focus(at?: { clientX: number; clientY: number }): void {
    const box = this.#host.canvas.getBoundingClientRect();
    const x = at?.clientX ?? box.left, y = at?.clientY ?? box.top;
    this.area.style.left = `${Math.round(x)}px`;
    this.area.style.top = `${Math.round(y)}px`;
    this.#byPointer = at !== undefined;
    if (!this.focused) this.area.focus({ preventScroll: true });
  }

  /** Bring up the on-screen keyboard (call from a user gesture, e.g. a button). */
  showKeyboard(): void {
    this.area.blur(); // a focused field only shows it on a fresh focus
    this.area.inputMode = "text";
    this.focus();
  }

  /** Give the focus back to the page. */
  blur(): void {
    this.area.blur();
  }

  /** Remove the text area and its listeners. */
  dispose(): void {
    for (const undo of this.#cleanups) undo();
    this.#cleanups = [];
    this.area.remove();
  }

  #on<K extends keyof HTMLElementEventMap>(
    target: HTMLElement,
    type: K,
    fn: (e: HTMLElementEventMap[K]) => void,
  ): void {
    target.addEventListener(type, fn);
    this.#cleanups.push(() => target.removeEventListener(type, fn));
  }

  #text(text: string, timeStamp: number): void {
    for (const piece of textPieces(text)) {
      this.#host.now({
        type: "text_input",
        text: piece,
        timestamp: timeStamp / 1000,
      });
    }
  }

  #reset(): void {
    this.area.value = SENTINEL;
    this.area.setSelectionRange(SENTINEL.length, SENTINEL.length);
  }

  #key(type: "key_down" | "key_up", key: string, e: KeyboardEvent): void {
    this.#host.now({
      type,
      key,
      code: e.code,
      modifiers: modifiers(e),
      timestamp: e.timeStamp / 1000,
    });
  }

  #listen(): void {
    const area = this.area, canvas = this.#host.canvas;
    // Code that focuses the canvas (as views did before) lands here.
    canvas.tabIndex = -1;
    this.#on(canvas, "focus", () => this.focus());
    this.#on(area, "focus", () => {
      canvas.dataset.focus = this.#byPointer ? "pointer" : "keyboard";
      this.#byPointer = false;
      this.#reset();
      this.#host.focused(true);
    });
    this.#on(area, "blur", () => {
      delete canvas.dataset.focus;
      area.inputMode = "none";
      this.#composing = false;
      this.#host.focused(false);
    });
    const key = (type: "key_down" | "key_up") => (e: KeyboardEvent) => {
      // An input method owns the keys while it composes; its text comes
      // whole at compositionend.
      if (e.isComposing || e.keyCode === 229 || this.#composing) return;
      if (e.key === "Escape") {
        if (type === "key_down") this.blur();
        return;
      }
      if (e.key === "Tab") return; // Tab leaves the view
      if (type === "key_down") this.#host.gesture();
      // Keys that type something go on to the text area (whose `input`
      // becomes text_input), as do dead keys; browser shortcuts (Ctrl/Meta
      // + key) stay the browser's; the rest are the view's alone.
      const types = [...e.key].length === 1 || e.key === "Dead";
      if (!types && !e.ctrlKey && !e.metaKey) e.preventDefault();
      this.#key(type, e.key, e);
    };
    this.#on(area, "keydown", key("key_down"));
    this.#on(area, "keyup", key("key_up"));
    this.#on(area, "compositionstart", () => this.#composing = true);
    this.#on(area, "compositionend", (e) => {
      this.#composing = false;
      if (e.data) this.#text(e.data, e.timeStamp);
      this.#reset();
    });
    this.#on(area, "input", (e) => {
      const ev = e as InputEvent;
      if (ev.isComposing || this.#composing) return;
      if (ev.inputType === "insertText" && ev.data) {
        this.#text(ev.data, ev.timeStamp);
      } else if (ev.inputType === "deleteContentBackward") {
        // An on-screen keyboard's Backspace (a real one is the view's own key).
        for (const type of ["key_down", "key_up"] as const) {
          this.#host.now({
            type,
            key: "Backspace",
            code: "Backspace",
            modifiers: [],
            timestamp: ev.timeStamp / 1000,
          });
        }
      }
      this.#reset();
    });
    this.#on(area, "paste", (e) => {
      e.preventDefault();
      const data = e.clipboardData;
      if (!data) return;
      const files = [...data.files];
      if (files.length > 0) this.#host.pasteFiles(files);
      else this.#host.paste(data.getData("text/plain"));
    });
  }
}
