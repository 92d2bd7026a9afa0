/// <reference lib="dom" />
/**
 * The worker's WebSocket: connecting, reconnecting with backoff (not after
 * a close that would only fail again), and sending the client's messages,
 * each typed as the protocol's, with one typed `send`. Also builds the
 * `hello` and `set_viewport` messages.
 *
 * @module
 */

import {
  CAP_H264,
  CAP_IMAGE_SCALE,
  CAP_JPEG,
  CAP_PNG,
  CAP_WEBP,
  type ClientMessage,
  CLOSE_AUTH_FAILED,
  CLOSE_INVALID_DATA,
  CLOSE_NORMAL,
  CLOSE_POLICY,
  CLOSE_TOO_BIG,
  CLOSE_UNKNOWN_STREAM,
  CLOSE_UNSUPPORTED,
  type FileChunkWire,
  type HelloMessage,
  type SetViewportMessage,
  type Transport,
} from "../../src/protocol.ts";
import { backingSize } from "../mapping.ts";
import type { LayoutInfo, ViewStatus } from "../messages.ts";

/** Close codes after which reconnecting would only fail again. */
const FINAL_CODES: ReadonlySet<number> = new Set([
  CLOSE_AUTH_FAILED,
  CLOSE_UNKNOWN_STREAM,
  CLOSE_UNSUPPORTED,
  CLOSE_INVALID_DATA,
  CLOSE_POLICY,
  CLOSE_TOO_BIG,
]);
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;

/** What the socket reports to the worker. */
export interface SocketHooks {
  /**
   * The connection's state changed (`code` and `reason` come with `closed`,
   * and `retryMs` when it will reconnect by itself that much later).
   */
  status(
    status: ViewStatus,
    code?: number,
    reason?: string,
    retryMs?: number,
  ): void;
  /** The socket opened: time to say hello. */
  open(): void;
  /** A text message arrived. */
  text(data: string): void;
  /** A binary message arrived. */
  binary(data: ArrayBuffer): void;
}

/** What goes into a `hello`. */
export interface HelloOptions {
  /** Whether this browser decodes H.264 with WebCodecs. */
  canVideo: boolean;
  /** The view's device pixel ratio. */
  dpr: number;
  /** Token for the server's `authenticate` hook. */
  token?: string;
  /** In-flight window to ask for. */
  maxInflight?: number;
  /** Ask for `stats` every this many seconds. */
  statsInterval?: number;
  /** Preferred transport. */
  transport: "auto" | Transport;
}

/**
 * Build the `hello` message: what this browser decodes and what it asks for.
 *
 * @example
 * ```ts
 * import { helloMessage } from "./socket.ts";
 * helloMessage({ canVideo: false, dpr: 2, transport: "auto" });
 * // { type: "hello", supported: ["image/jpeg", "image/png", "image/webp", "rfb/image-scale"], device_pixel_ratio: 2 }
 * ```
 */
export function helloMessage(o: HelloOptions): HelloMessage {
  const msg: HelloMessage = {
    type: "hello",
    // CAP_IMAGE_SCALE: a smaller picture is drawn at the frame's size, so a
    // slow link may be sent scaled-down images.
    supported: o.canVideo
      ? [CAP_H264, CAP_JPEG, CAP_PNG, CAP_WEBP, CAP_IMAGE_SCALE]
      : [CAP_JPEG, CAP_PNG, CAP_WEBP, CAP_IMAGE_SCALE],
    device_pixel_ratio: o.dpr,
  };
  if (o.token) msg.token = o.token;
  if (o.maxInflight) msg.max_inflight = o.maxInflight;
  if (o.statsInterval) msg.stats_interval = o.statsInterval;
  if (o.transport !== "auto") msg.transport = o.transport;
  return msg;
}

/**
 * Build the `set_viewport` message for a layout.
 *
 * @example
 * ```ts
 * import { viewportMessage } from "./socket.ts";
 * viewportMessage({ cssWidth: 100, cssHeight: 50, dpr: 2, fit: "contain", background: "#000" });
 * // { type: "set_viewport", width: 100, height: 50, pwidth: 200, pheight: 100, ratio: 2 }
 * ```
 */
export function viewportMessage(layout: LayoutInfo): SetViewportMessage {
  const { width, height } = backingSize(
    layout.cssWidth,
    layout.cssHeight,
    layout.dpr,
  );
  return {
    type: "set_viewport",
    width: layout.cssWidth,
    height: layout.cssHeight,
    pwidth: width,
    pheight: height,
    ratio: layout.dpr,
  };
}

/**
 * One server connection at a time, reopened with backoff after a drop.
 *
 * @example
 * ```ts ignore
 * const socket = new ServerSocket("ws://127.0.0.1:8765/", true, hooks);
 * socket.connect();
 * socket.send({ type: "request_keyframe", reason: "decode error" });
 * ```
 */
export class ServerSocket {
  #url: string;
  #reconnect: boolean;
  #hooks: SocketHooks;
  #ws: WebSocket | null = null;
  #disposed = false;
  #backoff = BACKOFF_MIN_MS;
  #retryTimer: ReturnType<typeof setTimeout> | null = null;

  /**
   * @param url the stream's WebSocket URL
   * @param reconnect whether to reconnect with backoff after a drop
   * @param hooks where status and messages go
   */
  constructor(url: string, reconnect: boolean, hooks: SocketHooks) {
    this.#url = url;
    this.#reconnect = reconnect;
    this.#hooks = hooks;
  }

  /** Bytes the socket holds unsent; Infinity when it is not open. */
  get buffered(): number {
    const ws = this.#ws;
    return ws && ws.readyState === WebSocket.OPEN
      ? ws.bufferedAmount
      : Infinity;
  }

  /** Send one message, if the socket is open (otherwise it is dropped). */
  send(message: ClientMessage | FileChunkWire): void {
    const ws = this.#ws;
    if (ws && ws.readyState === WebSocket.OPEN) {
      ws.send(JSON.stringify(message));
    }
  }

  /** Open a connection (no-op once disposed). */
  connect(): void {
    if (this.#disposed) return;
    this.#retryTimer = null;
    const hooks = this.#hooks;
    hooks.status("connecting");
    let socket: WebSocket;
    try {
      socket = new WebSocket(this.#url);
    } catch (err) {
      hooks.status("error", undefined, (err as Error).message);
      return;
    }
    this.#ws = socket;
    socket.binaryType = "arraybuffer";
    socket.onopen = () => {
      if (this.#ws !== socket) return;
      hooks.status("open");
      hooks.open();
    };
    socket.onmessage = (e) => {
      if (this.#ws !== socket) return;
      if (typeof e.data === "string") hooks.text(e.data);
      else hooks.binary(e.data as ArrayBuffer);
    };
    socket.onerror = () => {
      if (this.#ws === socket) {
        hooks.status("error", undefined, "connection error");
      }
    };
    socket.onclose = (e) => {
      if (this.#ws !== socket) return;
      this.#ws = null;
      if (this.#disposed || !this.#reconnect || FINAL_CODES.has(e.code)) {
        hooks.status("closed", e.code, e.reason);
        return;
      }
      const delay = Math.round(this.#backoff * (1 + Math.random() * 0.2));
      this.#retryTimer = setTimeout(() => this.connect(), delay);
      this.#backoff = Math.min(this.#backoff * 2, BACKOFF_MAX_MS);
      hooks.status("closed", e.code, e.reason, delay);
    };
  }

  /** The server sent its `config`: the next drop retries quickly again. */
  negotiated(): void {
    this.#backoff = BACKOFF_MIN_MS;
  }

  /** Drop the connection (if any) and connect again at once. */
  reconnect(): void {
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#backoff = BACKOFF_MIN_MS;
    this.#close("reconnect");
    this.connect();
  }

  /** Close for good: no reconnecting after this. */
  dispose(): void {
    this.#disposed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#close("view disposed");
  }

  #close(reason: string): void {
    const old = this.#ws;
    if (!old) return;
    this.#ws = null;
    old.close(CLOSE_NORMAL, reason);
  }
}
