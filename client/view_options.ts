/**
 * The view's options and the small facts around it: what the server takes
 * beyond pointer and keys (from its `config`), why a paste would not be
 * sent, and the stream URL as a WebSocket URL. No DOM here.
 *
 * @module
 */

import {
  type ConfigMessage,
  formatBytes,
  type Transport,
} from "../src/protocol.ts";
import type { FitMode } from "./mapping.ts";
import type { ViewStatus } from "./messages.ts";

/** Options for a view. */
export interface ViewOptions {
  /** The stream's WebSocket URL, e.g. `ws://127.0.0.1:8765/`, or a path on this page's host. */
  url: string;
  /** How the frame fills the view. Default `"contain"`. */
  fit?: FitMode;
  /** In-flight window to ask the server for (it may only narrow its own). */
  maxInflight?: number;
  /** Token for the server's `authenticate` hook. */
  token?: string;
  /** Preferred transport. Default `"auto"`. */
  transport?: "auto" | Transport;
  /** Ask the server for `stats` every this many seconds. */
  statsInterval?: number;
  /** Reconnect with backoff after the socket drops. Default true. */
  reconnect?: boolean;
  /** Letterbox colour. Default: the element's `--rfb-bg`, else black. */
  background?: string;
  /** Where the worker script is, to override the built-in one (e.g. under a strict CSP). */
  workerUrl?: string | URL;
  /**
   * Write the app's clipboard text to the page's clipboard on the next
   * press or key in the view. Default true; false leaves it to
   * `copyClipboard()` (the viewer's Copy button).
   */
  copyOnGesture?: boolean;
  /** Send gamepads (polled while the view has the focus). Default true. */
  gamepads?: boolean;
}

/** What the server takes beyond pointer and keys (from its `config`). */
export interface InputSupport {
  /** The largest paste, UTF-8 bytes, or null when it takes none. */
  clipboard: number | null;
  /** Whether it takes `text_input` events. */
  textInput: boolean;
  /** Whether it takes `gamepad` events. */
  gamepad: boolean;
  /** The largest file, bytes, or null when the app takes no files. */
  files: number | null;
}

/** The detail of a view's `clipboard` event. */
export interface ClipboardDetail {
  /** The app's text. */
  text: string;
  /** False when it was offered, true once it is on the page's clipboard. */
  written: boolean;
}

/** The detail of a `status` event. */
export interface StatusDetail {
  /** The new status. */
  status: ViewStatus;
  /** The close code, for `closed`. */
  code?: number;
  /** The close reason or error text. */
  reason?: string;
  /**
   * For `closed`: the view reconnects by itself in this many milliseconds
   * (absent when it will not: a final close code, `reconnect: false`).
   */
  retryMs?: number;
}

/**
 * What a server takes beyond pointer and keys, from its `config` (nothing
 * before one, or from a server that lists no `input`, as pdum.rfb's).
 *
 * @example
 * ```ts
 * import { inputSupport } from "./view_options.ts";
 * inputSupport({ type: "config", transport: "image", width: 1, height: 1, coords: "frame-pixels", input: ["text_input"] }).textInput;
 * // true
 * ```
 */
export function inputSupport(c: ConfigMessage | null): InputSupport {
  const input = c?.input ?? [];
  return {
    clipboard: input.includes("clipboard")
      ? c?.max_clipboard_bytes ?? 65536
      : null,
    textInput: input.includes("text_input"),
    gamepad: input.includes("gamepad"),
    files: input.includes("file") ? c?.max_file_bytes ?? null : null,
  };
}

/**
 * Why a paste would not be sent, or null when it would.
 *
 * @example
 * ```ts
 * import { pasteRefusal } from "./view_options.ts";
 * pasteRefusal("hi", { clipboard: null, textInput: true, gamepad: true, files: null }, true);
 * // "this app does not take pastes"
 * ```
 */
export function pasteRefusal(
  text: string,
  accepts: InputSupport,
  driving: boolean,
): string | null {
  const max = accepts.clipboard;
  if (max === null) return "this app does not take pastes";
  if (!driving) return "view only: pastes are not sent";
  const bytes = new TextEncoder().encode(text).length;
  return bytes > max
    ? `${formatBytes(bytes)} is over this app's limit of ${formatBytes(max)}`
    : null;
}

/**
 * Resolve a stream URL against the page: `/cam` or `http://…` become
 * `ws(s)://…`.
 *
 * @example
 * ```ts ignore
 * toWebSocketUrl("/cam"); // "ws://this-host/cam" on an http:// page
 * ```
 */
export function toWebSocketUrl(url: string): string {
  const u = new URL(url, location.href);
  if (u.protocol === "http:") u.protocol = "ws:";
  else if (u.protocol === "https:") u.protocol = "wss:";
  return u.href;
}
