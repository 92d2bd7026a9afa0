/**
 * The app's clipboard, on the page: the text the server last offered
 * (`display.setClipboard`), kept until it is written to the page's
 * clipboard. Browsers let a page write the clipboard only during a user
 * gesture, so the view writes it on the next press or key in the view, or
 * when asked (the viewer's Copy button).
 *
 * @module
 */

/**
 * The offer waiting for a gesture.
 *
 * @example
 * ```ts ignore
 * const offer = new ClipboardOffer((text, written) => show(text, written));
 * offer.offer("42");
 * button.onclick = () => offer.write(); // inside a gesture
 * ```
 */
export class ClipboardOffer {
  #text: string | null = null;
  #changed: (text: string, written: boolean) => void;

  /** @param changed called with each new offer, and once it is written */
  constructor(changed: (text: string, written: boolean) => void) {
    this.#changed = changed;
  }

  /** The text waiting to be written, or null. */
  get pending(): string | null {
    return this.#text;
  }

  /** The app offered new text. */
  offer(text: string): void {
    this.#text = text;
    this.#changed(text, false);
  }

  /**
   * Write the waiting text to the page's clipboard (call it from a user
   * gesture); false when there is none or the browser refused.
   */
  async write(): Promise<boolean> {
    const text = this.#text;
    if (text === null || !navigator.clipboard?.writeText) return false;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      return false; // no gesture, or no permission: it stays offered
    }
    if (this.#text === text) this.#text = null;
    this.#changed(text, true);
    return true;
  }
}
