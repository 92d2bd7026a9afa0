/**
 * A viewer's `ws` socket as a session sees it (`ViewerSocket`), with a close
 * that cannot hang: a peer that does not answer the close frame within the
 * close timeout is dropped, and one that misses a ping is dropped too.
 *
 * @module
 */

import type { WebSocket as WsSocket } from "ws";
import type { ViewerSocket } from "../session/types.ts";

/** A `ws` socket as a session sees it, with a close that cannot hang. */
/**
 * A `ws` socket as a session sees it.
 *
 * @example
 * ```ts ignore
 * const viewer = new WsViewer(ws, 2000);
 * viewer.close(1008, "bye"); // dropped after 2 s if the peer does not answer
 * ```
 */
export class WsViewer implements ViewerSocket {
  readonly #ws: WsSocket;
  readonly #closeMs: number;
  #drop: ReturnType<typeof setTimeout> | null = null;
  /** Whether it answered the last ping. */
  alive = true;

  constructor(ws: WsSocket, closeMs: number) {
    this.#ws = ws;
    this.#closeMs = closeMs;
  }

  get readyState(): number {
    return this.#ws.readyState;
  }

  get bufferedAmount(): number {
    return this.#ws.bufferedAmount;
  }

  send(data: string | Uint8Array<ArrayBuffer>): void {
    this.#ws.send(data);
  }

  close(code?: number, reason?: string): void {
    this.#ws.close(code, reason);
    this.dropSoon();
  }

  /** Drop the connection if the close handshake has not ended by then. */
  dropSoon(): void {
    if (this.#drop !== null) return;
    this.#drop = setTimeout(() => this.terminate(), this.#closeMs);
  }

  ping(): void {
    if (!this.alive) {
      this.terminate();
      return;
    }
    this.alive = false;
    try {
      this.#ws.ping();
    } catch { /* closing */ }
  }

  terminate(): void {
    this.#ws.terminate();
  }

  /** The socket closed: no drop pending any more. */
  ended(): void {
    if (this.#drop !== null) clearTimeout(this.#drop);
    this.#drop = null;
  }
}
