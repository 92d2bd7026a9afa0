/**
 * The viewer's chrome for input beyond pointer and keys: toolbar buttons
 * (Copy while the app offers clipboard text, Send file where the app takes
 * files, Keyboard on a touch screen), a hint while files are dragged over
 * the view (or that the app takes none), and a list of short notes at the
 * bottom right: each file's progress, refusal or arrival, the app's
 * clipboard (offered, copied), and the view's notices (e.g. a paste over
 * the app's limit). Notes that are done fade after a few seconds.
 *
 * @module
 */

import type { FileProgress } from "./messages.ts";
import type { ClipboardDetail, RemoteFramebufferView } from "./view.ts";

/** The chrome's styles (inside `.rfb-viewer`). */
export const INPUT_CSS = `
.rfb-viewer .rfb-notes{position:absolute;right:8px;bottom:8px;display:flex;flex-direction:column;align-items:flex-end;
gap:4px;max-width:calc(100% - 16px);pointer-events:none}
.rfb-viewer .rfb-note{background:var(--_panel);backdrop-filter:blur(6px);border-radius:var(--_radius);padding:4px 9px;
display:flex;gap:8px;align-items:center;pointer-events:auto;max-width:100%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.rfb-viewer .rfb-note[data-level=bad]{box-shadow:inset 3px 0 0 var(--_bad)}
.rfb-viewer .rfb-note[data-level=ok]{box-shadow:inset 3px 0 0 var(--_ok)}
.rfb-viewer .rfb-note button{all:unset;cursor:pointer;padding:0 6px;border-radius:999px;font-weight:600}
.rfb-viewer .rfb-note button:hover{background:rgba(255,255,255,.14)}
.rfb-viewer .rfb-note button:focus-visible{outline:2px solid var(--_accent)}
.rfb-viewer[data-drop]::after{content:attr(data-drop);position:absolute;inset:6px;display:flex;align-items:center;
justify-content:center;border:2px dashed var(--_accent);border-radius:var(--_radius);background:rgba(0,0,0,.35);
font-size:15px;pointer-events:none}
.rfb-viewer[data-drop-ok=false]::after{border-color:var(--_bad)}
.rfb-viewer .rfb-canvas[data-focus=keyboard]{box-shadow:inset 0 0 0 2px var(--_accent)}
`;

/** How long a finished note stays, ms. */
const SHOW_DONE_MS = 4000;
const SHOW_BAD_MS = 9000;

type Button = (
  label: string,
  title: string,
  onClick: () => void,
) => HTMLButtonElement;

/** A file's note text. */
function fileText(p: FileProgress): string {
  switch (p.state) {
    case "queued":
      return `Waiting to send ${p.name}`;
    case "sending":
      return `Sending ${p.name} · ${
        p.size > 0 ? Math.floor(p.sent / p.size * 100) : 0
      }%`;
    case "done":
      return `Sent ${p.name}`;
    case "cancelled":
      return `${p.name}: cancelled`;
    case "refused":
      return `${p.name} not sent: ${p.reason ?? "refused"}`;
  }
}

/**
 * The input chrome of one `RfbViewer`.
 *
 * @example
 * ```ts ignore
 * const chrome = new InputChrome(view, root);
 * chrome.toolbar(button); // inside the viewer's toolbar
 * ```
 */
export class InputChrome {
  #view: RemoteFramebufferView;
  #root: HTMLElement;
  #notes: HTMLDivElement;
  #items = new Map<string, HTMLDivElement>();
  #timers = new Map<string, ReturnType<typeof setTimeout>>();
  #copy: HTMLButtonElement | null = null;
  #send: HTMLButtonElement | null = null;
  #picker: HTMLInputElement;
  #notices = 0;
  #cleanups: Array<() => void> = [];

  /** Follow `view`'s events; notes go in `root`. */
  constructor(view: RemoteFramebufferView, root: HTMLElement) {
    this.#view = view;
    this.#root = root;
    this.#notes = document.createElement("div");
    this.#notes.className = "rfb-notes";
    this.#notes.setAttribute("role", "status");
    this.#notes.setAttribute("aria-live", "polite");
    root.appendChild(this.#notes);
    this.#picker = document.createElement("input");
    this.#picker.type = "file";
    this.#picker.multiple = true;
    this.#picker.hidden = true;
    this.#picker.addEventListener("change", () => {
      view.sendFiles([...this.#picker.files ?? []]);
      this.#picker.value = "";
    });
    root.appendChild(this.#picker);
    const on = (target: EventTarget, type: string, fn: (e: Event) => void) => {
      target.addEventListener(type, fn);
      this.#cleanups.push(() => target.removeEventListener(type, fn));
    };
    on(
      view,
      "file",
      (e) => this.#file((e as CustomEvent<FileProgress>).detail),
    );
    on(
      view,
      "clipboard",
      (e) => this.#clipboard((e as CustomEvent<ClipboardDetail>).detail),
    );
    on(view, "notice", (e) =>
      this.#note(
        `notice:${++this.#notices}`,
        (e as CustomEvent<{ message: string }>).detail.message,
        "bad",
        SHOW_BAD_MS,
      ));
    on(view, "config", () => this.#update());
    on(view, "control", () => this.#update());
    // While files are dragged over the view, say what a drop would do.
    const stage = view.canvas;
    on(stage, "dragover", (e) => {
      const d = (e as DragEvent).dataTransfer;
      if (!d?.types.includes("Files")) return;
      const ok = view.accepts.files !== null;
      this.#root.dataset.dropOk = String(ok);
      this.#root.dataset.drop = ok
        ? "Drop to send to the app"
        : "This app does not accept files";
    });
    for (const type of ["dragleave", "drop"]) {
      on(stage, type, () => {
        delete this.#root.dataset.drop;
        delete this.#root.dataset.dropOk;
      });
    }
  }

  /** Add the Copy, Send file and Keyboard buttons to the toolbar. */
  toolbar(button: Button): void {
    this.#copy = button("Copy", "Copy the app's text to your clipboard", () => {
      this.#view.copyClipboard().catch(() => false);
    });
    this.#send = button("Send file", "Send files to the app", () => {
      this.#picker.click();
    });
    const keys = button(
      "Keyboard",
      "Show the on-screen keyboard",
      () => this.#view.showKeyboard(),
    );
    keys.hidden = !(globalThis.matchMedia?.("(pointer: coarse)").matches ||
      navigator.maxTouchPoints > 0);
    this.#update();
  }

  /** Stop following the view. */
  dispose(): void {
    for (const t of this.#timers.values()) clearTimeout(t);
    for (const undo of this.#cleanups) undo();
    this.#cleanups = [];
    this.#notes.remove();
    this.#picker.remove();
  }

  #update(): void {
    if (this.#copy) this.#copy.hidden = this.#view.clipboard === null;
    if (this.#send) {
      this.#send.hidden = this.#view.accepts.files === null ||
        this.#view.control?.driving === false;
    }
  }

  #clipboard(d: ClipboardDetail): void {
    this.#update();
    if (d.written) {
      this.#note(
        "clipboard",
        "Copied the app's text to your clipboard",
        "ok",
        SHOW_DONE_MS,
      );
    } else {
      this.#note(
        "clipboard",
        "The app has text for your clipboard: press in the view or Copy",
      );
    }
  }

  #file(p: FileProgress): void {
    const key = `file:${p.id}`;
    const live = p.state === "queued" || p.state === "sending";
    const el = this.#note(
      key,
      fileText(p),
      p.state === "refused" ? "bad" : p.state === "done" ? "ok" : undefined,
      live ? 0 : p.state === "refused" ? SHOW_BAD_MS : SHOW_DONE_MS,
    );
    el.dataset.state = p.state;
    if (live && !el.querySelector("button")) {
      const cancel = document.createElement("button");
      cancel.type = "button";
      cancel.textContent = "×";
      cancel.title = `Stop sending ${p.name}`;
      cancel.setAttribute("aria-label", `Stop sending ${p.name}`);
      cancel.addEventListener("click", () => this.#view.cancelFile(p.id));
      el.appendChild(cancel);
    }
  }

  /** Show (or update) a note; `ms` > 0 removes it that much later. */
  #note(
    key: string,
    text: string,
    level?: "ok" | "bad",
    ms = 0,
  ): HTMLDivElement {
    let el = this.#items.get(key);
    if (!el) {
      el = document.createElement("div");
      el.className = "rfb-note";
      el.appendChild(document.createElement("span"));
      this.#notes.appendChild(el);
      this.#items.set(key, el);
    }
    el.firstElementChild!.textContent = text;
    if (level) el.dataset.level = level;
    else delete el.dataset.level;
    clearTimeout(this.#timers.get(key));
    this.#timers.delete(key);
    if (ms > 0) {
      el.querySelector("button")?.remove();
      const shown = el;
      this.#timers.set(
        key,
        setTimeout(() => {
          this.#timers.delete(key);
          this.#items.delete(key);
          shown.remove();
        }, ms),
      );
    }
    return el;
  }
}
