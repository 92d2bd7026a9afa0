/**
 * Files the view sends, on the page: each gets an id and is checked
 * against what the server said it takes (a `config` with `"file"` in
 * `input` and its `max_file_bytes`) and whether this viewer drives, then
 * handed to the worker, which sends it; the worker's reports become the
 * view's `file` events. A file the app cannot take is refused here, and
 * none of its bytes leave the page.
 *
 * @module
 */

import { formatBytes } from "../src/protocol.ts";
import type { FileProgress, FileReport, ToWorker } from "./messages.ts";

/** Transfers remembered for `FileSender.transfers` (the newest). */
const KEPT = 32;

/** What may be sent now. */
export interface FileGate {
  /** Whether the view is connected (has the server's `config`). */
  connected: boolean;
  /** The app's limit per file, or null when it takes no files. */
  maxBytes: number | null;
  /** Whether this viewer's input reaches the app. */
  driving: boolean;
}

/**
 * The page's side of sending files.
 *
 * @example
 * ```ts ignore
 * const sender = new FileSender((m) => worker.postMessage(m), (p) => emit(p));
 * sender.send([file], { x: 10, y: 20 }, { maxBytes: 1 << 20, driving: true });
 * ```
 */
export class FileSender {
  #post: (msg: ToWorker) => void;
  #emit: (p: FileProgress) => void;
  #all = new Map<number, FileProgress>();
  #next = 1;

  /**
   * @param post where messages for the worker go
   * @param emit where progress goes (the view's `file` event)
   */
  constructor(post: (msg: ToWorker) => void, emit: (p: FileProgress) => void) {
    this.#post = post;
    this.#emit = emit;
  }

  /** The latest transfers, oldest first. */
  get transfers(): FileProgress[] {
    return [...this.#all.values()].map((p) => ({ ...p }));
  }

  /** Send files (dropped at `at`, or picked); each is queued or refused at once. */
  send(
    files: Iterable<File>,
    at: { x: number; y: number } | null,
    gate: FileGate,
  ): FileProgress[] {
    const out: FileProgress[] = [];
    for (const file of files) {
      const p: FileProgress = {
        id: this.#next++,
        name: file.name,
        size: file.size,
        sent: 0,
        state: "queued",
      };
      if (!gate.connected) {
        p.state = "refused";
        p.reason = "not connected";
      } else if (gate.maxBytes === null) {
        p.state = "refused";
        p.reason = "this app does not accept files";
      } else if (!gate.driving) {
        p.state = "refused";
        p.reason = "view only: only a viewer in control can send files";
      } else if (file.size > gate.maxBytes) {
        p.state = "refused";
        p.reason = `larger than this app's limit of ${
          formatBytes(gate.maxBytes)
        }`;
      }
      this.#keep(p);
      if (p.state === "queued") {
        this.#post({
          type: "file",
          id: p.id,
          file,
          ...(at ? { x: at.x, y: at.y } : {}),
        });
      }
      this.#emit({ ...p });
      out.push({ ...p });
    }
    return out;
  }

  /** Give a file up. */
  cancel(id: number): void {
    const p = this.#all.get(id);
    if (p && (p.state === "queued" || p.state === "sending")) {
      this.#post({ type: "file_cancel", id });
    }
  }

  /** The worker's report on a file. */
  report(r: FileReport): void {
    const p = this.#all.get(r.id);
    if (
      !p || p.state === "done" || p.state === "refused" ||
      p.state === "cancelled"
    ) return;
    p.state = r.state;
    p.sent = r.sent;
    if (r.reason) p.reason = r.reason;
    this.#emit({ ...p });
  }

  #keep(p: FileProgress): void {
    this.#all.set(p.id, p);
    for (const [id, old] of this.#all) {
      if (this.#all.size <= KEPT) break;
      if (old.state !== "queued" && old.state !== "sending") {
        this.#all.delete(id);
      }
    }
  }
}
