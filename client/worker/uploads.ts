/// <reference lib="dom" />
/**
 * Files on their way to the server, one at a time: `file_start`, then
 * base64 `file_chunk`s, each acknowledged by the server (`file_ack`). Only
 * a little is kept in flight: about 100 ms of the upload rate the acks
 * show (at least one chunk, at most `FILE_WINDOW_BYTES`), in chunks of
 * about 40 ms (4 KiB to `FILE_CHUNK_BYTES`), and nothing while the socket
 * still holds a chunk's worth unsent. The frames' acks share the socket,
 * so they never wait behind more than that: a file never starves the
 * picture. Progress goes to the page at most every 100 ms.
 *
 * @module
 */

import {
  type ClientMessage,
  FILE_CHUNK_BYTES,
  FILE_WINDOW_BYTES,
  type FileChunkWire,
} from "../../src/protocol.ts";
import type { FileReport } from "../messages.ts";

/** What the uploads need from the worker. */
export interface UploadHooks {
  /** Send a message on the socket (dropped when it is not open). */
  send(message: ClientMessage | FileChunkWire): void;
  /** Bytes the socket holds unsent (Infinity when it is not open). */
  buffered(): number;
  /** Tell the page how a file is doing. */
  report(report: FileReport): void;
}

interface Upload {
  id: number;
  file: File;
  x?: number;
  y?: number;
}

interface Active extends Upload {
  /** Next byte to read and send. */
  offset: number;
  /** Bytes the server acknowledged. */
  acked: number;
  reading: boolean;
  lastReport: number;
}

const MIN_CHUNK = 4 * 1024;
/** A file whose acks stop this long is given up (the server drops one idle this long too). */
const QUIET_MS = 30_000;
const REPORT_EVERY_MS = 100;
const RETRY_MS = 10;

/**
 * Bytes as base64 (the browser's own encoder where it has one).
 *
 * @example
 * ```ts
 * import { toBase64 } from "./uploads.ts";
 * toBase64(new Uint8Array([1, 2, 3])); // "AQID"
 * ```
 */
export function toBase64(bytes: Uint8Array): string {
  const native = (bytes as { toBase64?: () => string }).toBase64;
  if (typeof native === "function") return native.call(bytes);
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

/**
 * The worker's queue of files to send.
 *
 * @example
 * ```ts ignore
 * const uploads = new Uploads(hooks);
 * uploads.add(1, file);
 * // on the server's file_ack / file_refused:
 * uploads.ack(1, 46080, false);
 * ```
 */
export class Uploads {
  #hooks: UploadHooks;
  #queue: Upload[] = [];
  #active: Active | null = null;
  /** Upload rate the acks show, bytes a second (a guess until then). */
  #rate = 1e6;
  #lastAck = 0;
  #retry: ReturnType<typeof setTimeout> | null = null;
  #quiet: ReturnType<typeof setTimeout> | null = null;

  /** A queue that sends through `hooks`. */
  constructor(hooks: UploadHooks) {
    this.#hooks = hooks;
  }

  /** Queue a file (sent after those before it). */
  add(id: number, file: File, x?: number, y?: number): void {
    this.#queue.push({ id, file, x, y });
    this.#next();
  }

  /** Give a file up, sent or queued. */
  cancel(id: number): void {
    const a = this.#active;
    if (a?.id === id) {
      this.#hooks.send({ type: "file_cancel", id });
      this.#finish("cancelled");
      return;
    }
    const i = this.#queue.findIndex((u) => u.id === id);
    if (i < 0) return;
    const [u] = this.#queue.splice(i, 1);
    this.#report(u, "cancelled", 0);
  }

  /** The server's `file_ack`. */
  ack(id: number, received: number, done: boolean): void {
    const a = this.#active;
    if (!a || a.id !== id || received < a.acked || received > a.file.size) {
      return;
    }
    const now = performance.now();
    const newly = received - a.acked;
    if (newly > 0 && now > this.#lastAck) {
      const sample = newly / ((now - this.#lastAck) / 1000);
      this.#rate = 0.7 * this.#rate + 0.3 * Math.min(sample, 1e9);
    }
    this.#lastAck = now;
    this.#watch();
    a.acked = received;
    if (done) return this.#finish("done");
    if (now - a.lastReport >= REPORT_EVERY_MS) {
      a.lastReport = now;
      this.#report(a, "sending", a.acked);
    }
    this.#pump();
  }

  /** The server's `file_refused`. */
  refused(id: number, reason: string): void {
    if (this.#active?.id === id) this.#finish("refused", reason);
  }

  /** The connection dropped: every file fails (the next session knows none of them). */
  lost(): void {
    if (this.#active) this.#finish("refused", "the connection dropped", false);
    for (const u of this.#queue.splice(0)) {
      this.#report(u, "refused", 0, "the connection dropped");
    }
  }

  #report(
    u: Upload,
    state: FileReport["state"],
    sent: number,
    reason?: string,
  ): void {
    this.#hooks.report({ type: "file", id: u.id, state, sent, reason });
  }

  #finish(state: FileReport["state"], reason?: string, next = true): void {
    const a = this.#active!;
    this.#active = null;
    if (this.#retry !== null) clearTimeout(this.#retry);
    if (this.#quiet !== null) clearTimeout(this.#quiet);
    this.#retry = this.#quiet = null;
    this.#report(a, state, state === "done" ? a.file.size : a.acked, reason);
    if (next) this.#next();
  }

  #next(): void {
    if (this.#active) return;
    const u = this.#queue.shift();
    if (!u) return;
    const a: Active = {
      ...u,
      offset: 0,
      acked: 0,
      reading: false,
      lastReport: 0,
    };
    this.#active = a;
    const { id, file, x, y } = a;
    this.#hooks.send({
      type: "file_start",
      id,
      name: file.name,
      mime: file.type,
      size: file.size,
      ...(x !== undefined && y !== undefined ? { x, y } : {}),
    });
    this.#lastAck = performance.now();
    this.#watch();
    this.#report(a, "sending", 0);
    this.#pump();
  }

  /** (Re)start the wait for the server's next word on the file being sent. */
  #watch(): void {
    if (this.#quiet !== null) clearTimeout(this.#quiet);
    const a = this.#active;
    this.#quiet = setTimeout(() => {
      this.#quiet = null;
      if (this.#active !== a || !a) return;
      this.#hooks.send({ type: "file_cancel", id: a.id });
      this.#finish("refused", "the server stopped answering");
    }, QUIET_MS);
  }

  /** Send chunks while the window and the socket have room. */
  #pump(): void {
    const a = this.#active;
    if (!a || a.reading || a.offset >= a.file.size) return;
    const chunk = Math.max(
      MIN_CHUNK,
      Math.min(FILE_CHUNK_BYTES, Math.floor(this.#rate * 0.04 / 3) * 3),
    );
    const window = Math.max(
      chunk,
      Math.min(FILE_WINDOW_BYTES, this.#rate * 0.1),
    );
    if (a.offset - a.acked + chunk > window) return; // wait for an ack
    if (this.#hooks.buffered() >= chunk) {
      // The socket has not sent what it holds: look again shortly.
      this.#retry ??= setTimeout(() => {
        this.#retry = null;
        this.#pump();
      }, RETRY_MS);
      return;
    }
    const start = a.offset, end = Math.min(a.file.size, start + chunk);
    a.reading = true;
    a.file.slice(start, end).arrayBuffer().then((buf) => {
      if (this.#active !== a) return; // cancelled or refused meanwhile
      a.reading = false;
      a.offset = end;
      this.#hooks.send({
        type: "file_chunk",
        id: a.id,
        offset: start,
        data: toBase64(new Uint8Array(buf)),
      });
      this.#pump();
    }, () => {
      if (this.#active !== a) return;
      this.#hooks.send({ type: "file_cancel", id: a.id });
      this.#finish("refused", "the file could not be read");
    });
  }
}
