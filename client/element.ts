/**
 * `<rfb-view>`: a framework-free custom element, so any page or framework
 * can show a stream without wrappers.
 *
 * ```html
 * <script type="module" src="/rfb-client.js"></script>
 * <rfb-view src="ws://127.0.0.1:8765/" fit="contain" hud style="height: 480px"></rfb-view>
 * ```
 *
 * Attributes: `src` (ws:// URL, or a path on this host), `fit`, `token`,
 * `transport`, `max-inflight`, `hud` (show the stats HUD), `bare` (no chrome),
 * `no-toolbar`. The element fires the view's `status`, `config`, `stats`,
 * `presence` and `control` events.
 *
 * The element holds exactly one view while it is in a document, however it
 * was made (parsed from HTML and upgraded, `createElement`, `innerHTML`) and
 * however often it is moved; the view and its socket go when the element
 * leaves the document, and attribute changes while it is out of a document
 * only take effect when it comes back.
 *
 * @module
 */

import type { FitMode } from "./mapping.ts";
import { RemoteFramebufferView } from "./view.ts";
import { RfbViewer } from "./viewer.ts";

// Outside a browser (server-side rendering, tests) there is no HTMLElement;
// the module must still load there.
const Base = (globalThis.HTMLElement ?? class {}) as typeof HTMLElement;

/** The custom element behind `<rfb-view>`. */
export class RfbViewElement extends Base {
  /** Attributes that rebuild or retune the view. */
  static get observedAttributes(): string[] {
    return [
      "src",
      "fit",
      "token",
      "transport",
      "max-inflight",
      "hud",
      "bare",
      "no-toolbar",
    ];
  }

  #viewer: RfbViewer | null = null;
  #view: RemoteFramebufferView | null = null;
  /** Between `connectedCallback` and `disconnectedCallback`. */
  #connected = false;
  #forward = (e: Event) => {
    this.dispatchEvent(
      new CustomEvent(e.type, { detail: (e as CustomEvent).detail }),
    );
  };

  /** The live view, or null while disconnected or without `src`. */
  get view(): RemoteFramebufferView | null {
    return this.#view;
  }

  /** Start when added to a page. */
  connectedCallback(): void {
    if (!this.style.display) this.style.display = "block";
    if (!this.style.position) this.style.position = "relative";
    this.#connected = true;
    this.#teardown(); // never two views, whatever called this before
    this.#build();
  }

  /** Stop when removed: the view, its worker and its socket go. */
  disconnectedCallback(): void {
    this.#connected = false;
    this.#teardown();
  }

  /** Retune or rebuild when an attribute changes. */
  attributeChangedCallback(
    name: string,
    old: string | null,
    value: string | null,
  ): void {
    // An upgrade (an element parsed before the bundle defined it) calls this
    // for each attribute before connectedCallback, and it is also called
    // while the element is out of the document: connectedCallback builds.
    if (!this.#connected || old === value) return;
    if (name === "fit" && this.#view && value) {
      this.#view.fit = value as FitMode;
      return;
    }
    if (name === "hud" && this.#viewer) {
      this.#viewer.showHud(value !== null);
      return;
    }
    this.#teardown();
    this.#build();
  }

  #build(): void {
    const src = this.getAttribute("src");
    if (!src) return;
    const max = Number(this.getAttribute("max-inflight"));
    const options = {
      url: src,
      fit: (this.getAttribute("fit") ?? "contain") as FitMode,
      token: this.getAttribute("token") ?? undefined,
      transport: (this.getAttribute("transport") ?? undefined) as
        | "auto"
        | undefined,
      maxInflight: Number.isInteger(max) && max > 0 ? max : undefined,
    };
    if (this.hasAttribute("bare")) {
      this.#view = new RemoteFramebufferView(this, options);
    } else {
      this.#viewer = new RfbViewer(this, {
        ...options,
        hud: this.hasAttribute("hud"),
        toolbar: !this.hasAttribute("no-toolbar"),
      });
      this.#view = this.#viewer.view;
    }
    for (const type of ["status", "config", "stats", "presence", "control"]) {
      this.#view.addEventListener(type, this.#forward);
    }
  }

  #teardown(): void {
    if (this.#viewer) this.#viewer.dispose();
    else this.#view?.dispose();
    this.#viewer = null;
    this.#view = null;
  }
}

/**
 * Register `<rfb-view>` (or another tag name); does nothing if it is taken.
 * The bundle calls this when it loads.
 *
 * @example
 * ```ts ignore
 * import { defineRfbView } from "@rfb/core/client";
 * defineRfbView("my-stream-view");
 * ```
 */
export function defineRfbView(name = "rfb-view"): void {
  if (globalThis.customElements && !customElements.get(name)) {
    customElements.define(name, class extends RfbViewElement {});
  }
}
