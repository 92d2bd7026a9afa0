/**
 * Data a viewer and the app hand each other beyond input events, as
 * optional messages: clipboard text both ways (`clipboard`, in pieces from
 * the viewer) and files from the viewer (`file_start`, `file_chunk`,
 * `file_cancel`; the server answers `file_ack` and `file_refused`). Every
 * client message stays under `MAX_CLIENT_MESSAGE_BYTES` (64 KiB): a long
 * paste goes in pieces, a file in base64 chunks the server acknowledges,
 * so the client keeps only a little in flight and a file never holds up
 * the frames' acks.
 *
 * @example
 * ```ts
 * import { clipboardPieces, fileAckMessage } from "@rfb/core/protocol";
 * console.log(clipboardPieces("hello").length); // 1
 * fileAckMessage({ id: 1, received: 46080 }); // '{"type":"file_ack","id":1,"received":46080}'
 * ```
 *
 * @module
 */

import { isFiniteNumber } from "./_fields.ts";
import { compactJson } from "./envelope.ts";

/** The extra input a server may list in `config.input`. */
export type InputFeature = "clipboard" | "text_input" | "gamepad" | "file";

/** Default for the largest clipboard text, either way, in UTF-8 bytes (64 KiB). */
export const DEFAULT_CLIPBOARD_BYTES = 64 * 1024;
/**
 * The most file bytes one `file_chunk` may carry (45 KiB, 61,440 base64
 * characters: a chunk message stays under 64 KiB).
 */
export const FILE_CHUNK_BYTES = 45 * 1024;
/**
 * The most chunk bytes a client keeps sent but not yet acknowledged (four
 * chunks). Less on a slow uplink: this project's client keeps about 100 ms
 * of its measured upload rate in flight.
 */
export const FILE_WINDOW_BYTES = 4 * FILE_CHUNK_BYTES;
/** Files one viewer may have in transfer at once. */
export const MAX_OPEN_FILES = 4;
/** The longest file name, in UTF-16 code units. */
export const MAX_FILE_NAME = 255;
/** The longest clipboard piece, in UTF-16 code units (the client sends at most 8192). */
export const MAX_CLIPBOARD_PIECE = 16384;

const MAX_MIME = 127;
const MAX_COORD = 1e7;
const MIME = /^[a-z0-9][a-z0-9!#$&^_.+-]*\/[a-z0-9][a-z0-9!#$&^_.+-]*$/;
/** Characters a file name may not keep: path separators and control characters. */
// deno-lint-ignore no-control-regex
const UNSAFE_NAME = /[/\\\u0000-\u001f\u007f]/g;

/** A piece of pasted text (client → server), or the app's copy (server → client). */
export interface ClipboardMessage {
  /** Always `"clipboard"`. */
  type: "clipboard";
  /** The text, or from a client one piece of it. */
  text: string;
  /** From a client: more pieces of the same paste follow. */
  more?: boolean;
}

/** A viewer starts sending a file. */
export interface FileStartMessage {
  /** Always `"file_start"`. */
  type: "file_start";
  /** The client's id for this transfer (an integer >= 0). */
  id: number;
  /** The file's base name, with path separators and control characters made `_`. */
  name: string;
  /** Its MIME type, lower case (`application/octet-stream` when unknown). */
  mime: string;
  /** Its size in bytes. */
  size: number;
  /** Where it was dropped, in framebuffer pixels (absent when picked from a button). */
  x?: number;
  /** Where it was dropped, in framebuffer pixels. */
  y?: number;
}

/** The next bytes of a file (base64 on the wire, decoded by the parser). */
export interface FileChunkMessage {
  /** Always `"file_chunk"`. */
  type: "file_chunk";
  /** The transfer's id. */
  id: number;
  /** Where these bytes go in the file (chunks come in order). */
  offset: number;
  /** The bytes (1 to {@linkcode FILE_CHUNK_BYTES}). */
  bytes: Uint8Array;
}

/** A `file_chunk` as a client sends it: its bytes in base64. */
export interface FileChunkWire {
  /** Always `"file_chunk"`. */
  type: "file_chunk";
  /** The transfer's id. */
  id: number;
  /** Where these bytes go in the file. */
  offset: number;
  /** The bytes, base64 (standard alphabet, padded). */
  data: string;
}

/** The viewer gives a transfer up. */
export interface FileCancelMessage {
  /** Always `"file_cancel"`. */
  type: "file_cancel";
  /** The transfer's id. */
  id: number;
}

/** A transfer message from a client. */
export type TransferMessage =
  | ClipboardMessage
  | FileStartMessage
  | FileChunkMessage
  | FileCancelMessage;

/** The server's acknowledgement of a file's chunks. */
export interface FileAckMessage {
  /** The transfer's id. */
  id: number;
  /** Bytes of the file received so far. */
  received: number;
  /** True once the whole file reached the app. */
  done?: boolean;
}

/** The server refuses (or stops) a transfer. */
export interface FileRefusedMessage {
  /** The transfer's id. */
  id: number;
  /** Why, for the viewer to show. */
  reason: string;
}

function transferId(v: unknown): number | null {
  return Number.isSafeInteger(v) && (v as number) >= 0 ? v as number : null;
}

/**
 * A file name safe to show and to use as a base name: path separators and
 * control characters become `_`, `.` and `..` become `_`, cut to
 * {@linkcode MAX_FILE_NAME} characters; empty names become `"file"`.
 *
 * @example
 * ```ts
 * import { safeFileName } from "@rfb/core/protocol";
 * safeFileName("../etc/passwd"); // ".._etc_passwd"
 * ```
 */
export function safeFileName(name: string): string {
  const cut = name.slice(0, MAX_FILE_NAME).replace(UNSAFE_NAME, "_");
  if (cut === "") return "file";
  return cut === "." || cut === ".." ? "_" : cut;
}

/**
 * Parse a `clipboard`, `file_start`, `file_chunk` or `file_cancel` message
 * (an object whose `type` is one of those): the message, with only its
 * known fields and a chunk's base64 decoded, or an error string.
 *
 * @example
 * ```ts
 * import { parseTransferMessage } from "@rfb/core/protocol";
 * const m = parseTransferMessage({ type: "file_chunk", id: 1, offset: 0, data: "AAEC" });
 * console.log(typeof m === "string" ? m : m.type); // "file_chunk"
 * ```
 */
export function parseTransferMessage(
  raw: Record<string, unknown>,
): TransferMessage | string {
  switch (raw.type) {
    case "clipboard": {
      const { text } = raw;
      if (typeof text !== "string" || text.length > MAX_CLIPBOARD_PIECE) {
        return `'text' must be a string of at most ${MAX_CLIPBOARD_PIECE} characters`;
      }
      return raw.more === true
        ? { type: "clipboard", text, more: true }
        : { type: "clipboard", text };
    }
    case "file_start": {
      const id = transferId(raw.id);
      if (id === null) return "'id' must be an integer >= 0";
      if (typeof raw.name !== "string") return "'name' must be a string";
      const size = raw.size;
      if (!Number.isSafeInteger(size) || (size as number) < 0) {
        return "'size' must be an integer >= 0";
      }
      const mime = typeof raw.mime === "string" ? raw.mime.toLowerCase() : "";
      const msg: FileStartMessage = {
        type: "file_start",
        id,
        name: safeFileName(raw.name),
        mime: mime.length <= MAX_MIME && MIME.test(mime)
          ? mime
          : "application/octet-stream",
        size: size as number,
      };
      const { x, y } = raw;
      if (
        isFiniteNumber(x) && isFiniteNumber(y) && Math.abs(x) <= MAX_COORD &&
        Math.abs(y) <= MAX_COORD
      ) {
        msg.x = x;
        msg.y = y;
      }
      return msg;
    }
    case "file_chunk": {
      const id = transferId(raw.id);
      if (id === null) return "'id' must be an integer >= 0";
      const offset = raw.offset;
      if (!Number.isSafeInteger(offset) || (offset as number) < 0) {
        return "'offset' must be an integer >= 0";
      }
      const data = raw.data;
      if (
        typeof data !== "string" || data.length === 0 ||
        data.length > Math.ceil(FILE_CHUNK_BYTES / 3) * 4
      ) {
        return `'data' must be base64 of 1 to ${FILE_CHUNK_BYTES} bytes`;
      }
      let bytes: Uint8Array;
      try {
        bytes = Uint8Array.fromBase64(data);
      } catch {
        return "'data' is not base64";
      }
      if (bytes.length === 0 || bytes.length > FILE_CHUNK_BYTES) {
        return `'data' must be base64 of 1 to ${FILE_CHUNK_BYTES} bytes`;
      }
      return { type: "file_chunk", id, offset: offset as number, bytes };
    }
    case "file_cancel": {
      const id = transferId(raw.id);
      if (id === null) return "'id' must be an integer >= 0";
      return { type: "file_cancel", id };
    }
    default:
      return "not a transfer message";
  }
}

/**
 * Split pasted text into `clipboard` messages of at most `maxChars`
 * UTF-16 code units each (never inside a surrogate pair), every one but
 * the last with `more: true`. An empty text is one empty piece.
 *
 * @example
 * ```ts
 * import { clipboardPieces } from "@rfb/core/protocol";
 * clipboardPieces("abcde", 2).map((m) => m.text); // ["ab", "cd", "e"]
 * ```
 */
export function clipboardPieces(
  text: string,
  maxChars = 8192,
): ClipboardMessage[] {
  const out: ClipboardMessage[] = [];
  let i = 0;
  do {
    let end = Math.min(text.length, i + Math.max(2, maxChars));
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last <= 0xdbff) end--;
    out.push({ type: "clipboard", text: text.slice(i, end), more: true });
    i = end;
  } while (i < text.length);
  delete out[out.length - 1].more;
  return out;
}

/**
 * The server's `clipboard` message: text the app offers the viewer's
 * clipboard.
 *
 * @example
 * ```ts
 * import { clipboardMessage } from "@rfb/core/protocol";
 * clipboardMessage("42"); // '{"type":"clipboard","text":"42"}'
 * ```
 */
export function clipboardMessage(text: string): string {
  return compactJson({ type: "clipboard", text });
}

/**
 * The server's `file_ack` message.
 *
 * @example
 * ```ts
 * import { fileAckMessage } from "@rfb/core/protocol";
 * fileAckMessage({ id: 3, received: 10, done: true }); // '{"type":"file_ack","id":3,"received":10,"done":true}'
 * ```
 */
export function fileAckMessage(ack: FileAckMessage): string {
  return compactJson(
    ack.done
      ? { type: "file_ack", id: ack.id, received: ack.received, done: true }
      : { type: "file_ack", id: ack.id, received: ack.received },
  );
}

/**
 * The server's `file_refused` message.
 *
 * @example
 * ```ts
 * import { fileRefusedMessage } from "@rfb/core/protocol";
 * fileRefusedMessage({ id: 3, reason: "this app does not accept files" });
 * // '{"type":"file_refused","id":3,"reason":"this app does not accept files"}'
 * ```
 */
export function fileRefusedMessage(r: FileRefusedMessage): string {
  return compactJson({ type: "file_refused", id: r.id, reason: r.reason });
}

/**
 * Bytes as a person reads them: `900 bytes`, `64 KiB`, `5 MiB`, `1.5 GiB`.
 *
 * @example
 * ```ts
 * import { formatBytes } from "@rfb/core/protocol";
 * formatBytes(5 * 1024 * 1024); // "5 MiB"
 * ```
 */
export function formatBytes(n: number): string {
  const units = ["KiB", "MiB", "GiB"];
  if (n < 1024) return `${n} byte${n === 1 ? "" : "s"}`;
  let v = n / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number(v.toFixed(v < 10 ? 1 : 0))} ${units[u]}`;
}
