/**
 * One viewer's incoming files: each `file_start` is checked against the
 * display's limits (`maxFileBytes` per file, `maxViewerFileBytes` for what
 * the viewer has in transfer plus what waits in the app's queue, at most
 * `MAX_OPEN_FILES` at once) and refused with a reason the viewer shows, or
 * given a buffer of its announced size; `file_chunk`s fill it in order,
 * each acknowledged (`file_ack`) so the client sends the next; the whole
 * file goes to the app as one `file` event. A transfer stopped for 30 s is
 * dropped at the viewer's next `file_start`, and everything is dropped when
 * the viewer leaves, so what a viewer can pin is bounded by the limits.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { FileEvent } from "../events.ts";
import {
  fileAckMessage,
  type FileChunkMessage,
  fileRefusedMessage,
  type FileStartMessage,
  formatBytes,
  MAX_OPEN_FILES,
} from "../protocol.ts";

/** A transfer with no chunk for this long is dropped (ms). */
export const FILE_IDLE_MS = 30_000;

/** What a `FileIntake` needs from its session. */
export interface FileHooks {
  /** The display's limits, read live. */
  limits(): { maxFileBytes: number | false; maxViewerFileBytes: number };
  /** The session's clock. */
  clock: Clock;
  /** Hand a whole file to the app (the session adds who sent it). */
  deliver(ev: FileEvent): void;
  /** Send a `file_ack` or `file_refused` to the viewer. */
  send(text: string): void;
  /** Bytes of this viewer's files still waiting in the app's queue. */
  queued(): number;
}

interface Transfer {
  start: FileStartMessage;
  bytes: Uint8Array;
  received: number;
  /** Clock ms of its last chunk (or its start). */
  last: number;
}

/**
 * The files one viewer is sending.
 *
 * @example
 * ```ts ignore
 * const files = new FileIntake(hooks);
 * files.start(msg, drives);   // file_start
 * files.chunk(chunk, drives); // file_chunk: acked, delivered when whole
 * ```
 */
export class FileIntake {
  #hooks: FileHooks;
  #open = new Map<number, Transfer>();
  /** Bytes reserved by the transfers under way. */
  #reserved = 0;

  /** Files for one session. */
  constructor(hooks: FileHooks) {
    this.#hooks = hooks;
  }

  /** Transfers under way. */
  get open(): number {
    return this.#open.size;
  }

  /** Bytes held for transfers under way. */
  get reserved(): number {
    return this.#reserved;
  }

  /** A viewer starts a file: refused with a reason, or taken. */
  start(msg: FileStartMessage, drives: boolean): void {
    const { maxFileBytes, maxViewerFileBytes } = this.#hooks.limits();
    const now = this.#hooks.clock.now();
    for (const [id, t] of this.#open) {
      if (now - t.last > FILE_IDLE_MS) this.#drop(id);
    }
    if (this.#open.has(msg.id)) {
      this.#drop(msg.id);
      return this.refuse(msg.id, "a file with this id was still open");
    }
    if (maxFileBytes === false) {
      return this.refuse(msg.id, "this app does not accept files");
    }
    if (!drives) {
      return this.refuse(msg.id, "only a viewer in control can send files");
    }
    if (msg.size > maxFileBytes) {
      return this.refuse(
        msg.id,
        `larger than this app's limit of ${formatBytes(maxFileBytes)}`,
      );
    }
    if (this.#open.size >= MAX_OPEN_FILES) {
      return this.refuse(msg.id, `more than ${MAX_OPEN_FILES} files at once`);
    }
    if (
      this.#reserved + this.#hooks.queued() + msg.size > maxViewerFileBytes
    ) {
      return this.refuse(
        msg.id,
        `over this app's limit of ${
          formatBytes(maxViewerFileBytes)
        } of files at once; try again shortly`,
      );
    }
    const t: Transfer = {
      start: msg,
      bytes: new Uint8Array(msg.size),
      received: 0,
      last: now,
    };
    if (msg.size === 0) return this.#complete(t);
    this.#open.set(msg.id, t);
    this.#reserved += msg.size;
  }

  /** The next bytes of a file: acknowledged, and the file delivered once whole. */
  chunk(msg: FileChunkMessage, drives: boolean): void {
    const t = this.#open.get(msg.id);
    if (!t) return; // refused or cancelled meanwhile: the client stops
    if (!drives) {
      this.#drop(msg.id);
      return this.refuse(msg.id, "you are no longer in control");
    }
    if (msg.offset !== t.received) {
      this.#drop(msg.id);
      return this.refuse(msg.id, "chunks out of order");
    }
    if (t.received + msg.bytes.length > t.start.size) {
      this.#drop(msg.id);
      return this.refuse(msg.id, "more bytes than announced");
    }
    t.bytes.set(msg.bytes, t.received);
    t.received += msg.bytes.length;
    t.last = this.#hooks.clock.now();
    if (t.received < t.start.size) {
      this.#hooks.send(fileAckMessage({ id: msg.id, received: t.received }));
      return;
    }
    this.#drop(msg.id);
    this.#complete(t);
  }

  /** The viewer gave a transfer up. */
  cancel(id: number): void {
    this.#drop(id);
  }

  /** The viewer left: forget every transfer. */
  clear(): void {
    this.#open.clear();
    this.#reserved = 0;
  }

  #complete(t: Transfer): void {
    const { id, name, mime, size, x, y } = t.start;
    const ev: FileEvent = {
      type: "file",
      name,
      mime,
      size,
      bytes: t.bytes,
      timestamp: this.#hooks.clock.now() / 1000,
    };
    if (x !== undefined && y !== undefined) {
      ev.x = x;
      ev.y = y;
    }
    this.#hooks.deliver(ev);
    this.#hooks.send(fileAckMessage({ id, received: size, done: true }));
  }

  #drop(id: number): void {
    const t = this.#open.get(id);
    if (!t) return;
    this.#open.delete(id);
    this.#reserved -= t.start.size;
  }

  /** Tell the viewer its file `id` is refused, and why. */
  refuse(id: number, reason: string): void {
    this.#hooks.send(fileRefusedMessage({ id, reason }));
  }
}
