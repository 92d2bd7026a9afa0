/**
 * What a client may send (`hello`, `set_viewport`, `ack`,
 * `request_keyframe`, `decoder_reset`, `event`, and our optional
 * `request_control`, `release_control`, `clipboard`, `file_start`,
 * `file_chunk` and `file_cancel`), and the parser that validates one text
 * message.
 *
 * @example
 * ```ts
 * import { parseClientMessage } from "@rfb/core/protocol";
 * const r = parseClientMessage('{"type":"decoder_reset"}', 0);
 * console.log(r.ok); // true
 * ```
 *
 * @module
 */

import { isFiniteNumber, isRecord, viewportFields } from "./_fields.ts";
import {
  CLOSE_INVALID_DATA,
  CLOSE_POLICY,
  MAX_CLIENT_MESSAGE_BYTES,
  type Transport,
} from "./constants.ts";
import { type InputEvent, validateEvent } from "./input_events.ts";
import { logSafe } from "../log.ts";
import { parseTransferMessage, type TransferMessage } from "./transfers.ts";

const textEncoder = new TextEncoder();

/** The client's first message. */
export interface HelloMessage {
  /** Always `"hello"`. */
  type: "hello";
  /** What the client can decode. */
  supported: string[];
  /** The view's device pixel ratio. */
  device_pixel_ratio: number;
  /** An authentication token. */
  token?: string;
  /** A preferred transport (our optional addition). */
  transport?: Transport;
  /** Ask for periodic `stats`, every this many seconds (our optional addition). */
  stats_interval?: number;
  /** The viewer's own in-flight window, 1-64 (our optional addition). */
  max_inflight?: number;
}

/** A viewport report. */
export interface SetViewportMessage {
  /** Always `"set_viewport"`. */
  type: "set_viewport";
  /** Width in CSS pixels. */
  width: number;
  /** Height in CSS pixels. */
  height: number;
  /** Width in device pixels. */
  pwidth: number;
  /** Height in device pixels. */
  pheight: number;
  /** Device pixel ratio. */
  ratio: number;
}

/** An acknowledgement of one frame. */
export interface AckMessage {
  /** Always `"ack"`. */
  type: "ack";
  /** The frame's sequence number. */
  seq: number;
  /** Frames waiting in the client's decoder. */
  decode_queue_size: number;
  /** Whether the frame was displayed. */
  displayed?: boolean;
  /**
   * Milliseconds the client held the frame between its arrival and this
   * ack (decode and draw), so the server can tell the network's time from
   * the client's. Optional (this project's client sends it).
   */
  held_ms?: number;
}

/** A request for a self-contained frame. */
export interface RequestKeyframeMessage {
  /** Always `"request_keyframe"`. */
  type: "request_keyframe";
  /** Why. */
  reason: string;
}

/** The client rebuilt its decoder. */
export interface DecoderResetMessage {
  /** Always `"decoder_reset"`. */
  type: "decoder_reset";
}

/** One input event. */
export interface EventMessage {
  /** Always `"event"`. */
  type: "event";
  /** The event. */
  event: InputEvent;
}

/**
 * The viewer asks to drive a stream whose `control` is `"exclusive"` (our
 * optional addition; a server that does not know it ignores it).
 */
export interface RequestControlMessage {
  /** Always `"request_control"`. */
  type: "request_control";
}

/**
 * The viewer that drives gives control up: to the viewer `to`, else to the
 * first one waiting, else to nobody. From a viewer that asked and waits, it
 * withdraws the request (our optional addition).
 */
export interface ReleaseControlMessage {
  /** Always `"release_control"`. */
  type: "release_control";
  /** The viewer id to hand control to (from `presence`). */
  to?: number;
}

/** Any message a client may send. */
export type ClientMessage =
  | HelloMessage
  | SetViewportMessage
  | AckMessage
  | RequestKeyframeMessage
  | DecoderResetMessage
  | EventMessage
  | RequestControlMessage
  | ReleaseControlMessage
  | TransferMessage;

/** What {@linkcode parseClientMessage} returns. */
export type ParseResult =
  | { ok: true; message: ClientMessage }
  /** `fatal` results close the connection with `code`; others drop the message. */
  | { ok: false; fatal: boolean; code: number; error: string }
  /**
   * A well-formed message of a type this version does not know: ignore it.
   * `type` is the peer's, cut and escaped for a log line (see `logSafe`).
   */
  | { ok: "ignored"; type: string };

function drop(error: string): ParseResult {
  return { ok: false, fatal: false, code: 0, error };
}

function fatal(code: number, error: string): ParseResult {
  return { ok: false, fatal: true, code, error };
}

/**
 * Parse and validate one text message from a client. Its UTF-8 size is
 * checked against {@linkcode MAX_CLIENT_MESSAGE_BYTES}; `now` (seconds)
 * fills in missing event timestamps.
 *
 * Unparsable JSON is fatal (1007); an oversized message is fatal (1008); a
 * bad `hello` is fatal (1008); a known message with bad fields is dropped; an
 * unknown type is ignored, as the protocol asks of every peer.
 *
 * @example
 * ```ts
 * import { parseClientMessage } from "@rfb/core/protocol";
 * const r = parseClientMessage('{"type":"ack","seq":1,"decode_queue_size":0}', 0);
 * if (r.ok === true) console.log(r.message.type); // "ack"
 * ```
 */
export function parseClientMessage(text: string, now: number): ParseResult {
  if (
    text.length > MAX_CLIENT_MESSAGE_BYTES ||
    (text.length > MAX_CLIENT_MESSAGE_BYTES / 3 &&
      textEncoder.encode(text).length > MAX_CLIENT_MESSAGE_BYTES)
  ) {
    return fatal(
      CLOSE_POLICY,
      `message too large: over ${MAX_CLIENT_MESSAGE_BYTES} bytes`,
    );
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return fatal(CLOSE_INVALID_DATA, "message is not valid JSON");
  }
  if (!isRecord(raw) || typeof raw.type !== "string") {
    return fatal(
      CLOSE_INVALID_DATA,
      "message must be a JSON object with a string 'type'",
    );
  }
  switch (raw.type) {
    case "hello": {
      const supported = raw.supported;
      if (
        !Array.isArray(supported) || supported.length > 64 ||
        !supported.every((s) => typeof s === "string" && s.length <= 128)
      ) {
        return fatal(
          CLOSE_POLICY,
          "hello: 'supported' must be a list of strings",
        );
      }
      const dpr = raw.device_pixel_ratio ?? 1;
      if (!isFiniteNumber(dpr) || dpr <= 0 || dpr > 100) {
        return fatal(
          CLOSE_POLICY,
          "hello: 'device_pixel_ratio' must be a number in (0, 100]",
        );
      }
      const msg: HelloMessage = {
        type: "hello",
        supported: supported as string[],
        device_pixel_ratio: dpr,
      };
      if (raw.token !== undefined) {
        if (typeof raw.token !== "string" || raw.token.length > 4096) {
          return fatal(
            CLOSE_POLICY,
            "hello: 'token' must be a string of at most 4096 characters",
          );
        }
        msg.token = raw.token;
      }
      if (raw.transport === "image" || raw.transport === "webcodecs") {
        msg.transport = raw.transport;
      }
      if (
        isFiniteNumber(raw.stats_interval) && raw.stats_interval > 0
      ) {
        msg.stats_interval = Math.max(0.1, Math.min(60, raw.stats_interval));
      }
      if (
        Number.isInteger(raw.max_inflight) &&
        (raw.max_inflight as number) >= 1 &&
        (raw.max_inflight as number) <= 64
      ) {
        msg.max_inflight = raw.max_inflight as number;
      }
      return { ok: true, message: msg };
    }
    case "set_viewport": {
      const size = viewportFields(raw);
      if (typeof size === "string") return drop(`set_viewport: ${size}`);
      return { ok: true, message: { type: "set_viewport", ...size } };
    }
    case "ack": {
      const seq = raw.seq;
      if (!Number.isSafeInteger(seq) || (seq as number) < 0) {
        return drop("ack: 'seq' must be a non-negative integer");
      }
      const q = raw.decode_queue_size ?? 0;
      if (!Number.isSafeInteger(q) || (q as number) < 0) {
        return drop("ack: 'decode_queue_size' must be a non-negative integer");
      }
      const msg: AckMessage = {
        type: "ack",
        seq: seq as number,
        decode_queue_size: q as number,
      };
      if (typeof raw.displayed === "boolean") msg.displayed = raw.displayed;
      const held = raw.held_ms;
      if (held !== undefined) {
        if (
          typeof held !== "number" || !Number.isFinite(held) || held < 0 ||
          held > 3_600_000
        ) {
          return drop("ack: 'held_ms' must be a number of milliseconds >= 0");
        }
        msg.held_ms = held;
      }
      return { ok: true, message: msg };
    }
    case "request_keyframe":
      return {
        ok: true,
        message: {
          type: "request_keyframe",
          reason: typeof raw.reason === "string"
            ? raw.reason.slice(0, 200)
            : "",
        },
      };
    case "decoder_reset":
      return { ok: true, message: { type: "decoder_reset" } };
    case "event": {
      const ev = validateEvent(raw.event, now);
      if (typeof ev === "string") return drop(`event: ${ev}`);
      return { ok: true, message: { type: "event", event: ev } };
    }
    case "request_control":
      return { ok: true, message: { type: "request_control" } };
    case "release_control": {
      if (raw.to === undefined) {
        return { ok: true, message: { type: "release_control" } };
      }
      if (!Number.isSafeInteger(raw.to) || (raw.to as number) < 1) {
        return drop(
          "release_control: 'to' must be a viewer id (an integer >= 1)",
        );
      }
      return {
        ok: true,
        message: { type: "release_control", to: raw.to as number },
      };
    }
    case "clipboard":
    case "file_start":
    case "file_chunk":
    case "file_cancel": {
      const msg = parseTransferMessage(raw);
      if (typeof msg === "string") return drop(`${raw.type}: ${msg}`);
      return { ok: true, message: msg };
    }
    default:
      return { ok: "ignored", type: logSafe(raw.type, 64) };
  }
}
