/**
 * The wire protocol, version 1 (pdum.rfb compatible), with no I/O.
 *
 * This module packs and unpacks the binary envelope
 * (`uint32 LE header length | compact JSON header | payload`), builds the
 * server's control messages, parses and validates what a client sends, and
 * chooses a transport from a viewer's `hello`. Everything here is a pure
 * function of its inputs so it can be tested against golden bytes.
 *
 * @example
 * ```ts
 * import { packEnvelope, unpackEnvelope } from "./protocol.ts";
 * const bytes = packEnvelope({ type: "image_frame", seq: 1 }, new Uint8Array([1, 2]));
 * const { header, payload } = unpackEnvelope(bytes);
 * console.log(header.type, payload.length); // "image_frame" 2
 * ```
 *
 * @module
 */

/** Capability string for JPEG images. */
export const CAP_JPEG = "image/jpeg";
/** Capability string for PNG images. */
export const CAP_PNG = "image/png";
/** Capability string for WebP images. */
export const CAP_WEBP = "image/webp";
/** Capability string for H.264 Annex B decoded with WebCodecs. */
export const CAP_H264 = "webcodecs/h264-annexb";

/** Close code: authentication failed (sent before any frame). */
export const CLOSE_AUTH_FAILED = 4401;
/** Close code: the requested stream does not exist. */
export const CLOSE_UNKNOWN_STREAM = 4404;
/** Close code: unsupported data (no common transport, or a binary message from a client). */
export const CLOSE_UNSUPPORTED = 1003;
/** Close code: the message could not be parsed. */
export const CLOSE_INVALID_DATA = 1007;
/** Close code: a policy breach (oversized message, protocol misuse, a timeout). */
export const CLOSE_POLICY = 1008;
/** Close code: the server is going away (display closed). */
export const CLOSE_GOING_AWAY = 1001;
/** Close code: the display has as many viewers as it admits; try again later. */
export const CLOSE_TRY_LATER = 1013;
/** Close code: the server failed (e.g. a send was refused). */
export const CLOSE_INTERNAL = 1011;

/**
 * Cut a close reason to the 123 UTF-8 bytes a WebSocket close frame allows,
 * on a character boundary.
 *
 * @example
 * ```ts
 * import { closeReason } from "./protocol.ts";
 * console.log(new TextEncoder().encode(closeReason("中".repeat(100))).length <= 123); // true
 * ```
 */
export function closeReason(reason: string): string {
  let out = "";
  let bytes = 0;
  for (const ch of reason) {
    const cp = ch.codePointAt(0)!;
    const n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
    if (bytes + n > 123) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** Largest text message a client may send, in bytes. */
export const MAX_CLIENT_MESSAGE_BYTES = 64 * 1024;

/** An image format the image transport can produce. */
export type ImageFormat = "jpeg" | "png" | "webp";

/** The MIME type of each image format. */
export const IMAGE_MIME: Readonly<Record<ImageFormat, string>> = {
  jpeg: CAP_JPEG,
  png: CAP_PNG,
  webp: CAP_WEBP,
};

/** A transport as named in the `config` message. */
export type Transport = "image" | "webcodecs";

/** A JSON value that may appear in a header or a control message. */
export type JsonValue =
  | string
  | number
  | boolean
  | null
  | JsonValue[]
  | { [key: string]: JsonValue | undefined };

/** A binary envelope's header: a JSON object with a `type`. */
export interface EnvelopeHeader {
  /** The message type, such as `"image_frame"` or `"video_chunk"`. */
  type: string;
  /** Any other fields. */
  [key: string]: JsonValue | undefined;
}

/** The header of an `image_frame` envelope. */
export interface ImageFrameHeader extends EnvelopeHeader {
  /** Always `"image_frame"`. */
  type: "image_frame";
  /** Per-viewer sequence number, one more per frame sent. */
  seq: number;
  /** Server clock (microseconds since the epoch) when the frame was published. */
  timestamp_us: number;
  /** Frame width in pixels. */
  width: number;
  /** Frame height in pixels. */
  height: number;
  /** The payload's MIME type. */
  mime: string;
  /** The frame's render pixel ratio, present only when not 1. */
  pixel_ratio?: number;
}

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true });

/**
 * Serialize a JSON object compactly (no spaces), dropping `undefined` fields.
 *
 * @example
 * ```ts
 * import { compactJson } from "./protocol.ts";
 * compactJson({ type: "ack", seq: 3 }); // '{"type":"ack","seq":3}'
 * ```
 */
export function compactJson(value: Record<string, unknown>): string {
  return JSON.stringify(value);
}

/**
 * Pack a header and a payload into one binary envelope:
 * `uint32 LE header length | UTF-8 JSON header | payload`.
 *
 * @example
 * ```ts
 * import { packEnvelope } from "./protocol.ts";
 * const msg = packEnvelope({ type: "image_frame", seq: 1 }, new Uint8Array(10));
 * console.log(msg.length); // 4 + header bytes + 10
 * ```
 */
export function packEnvelope(
  header: EnvelopeHeader,
  payload: Uint8Array,
): Uint8Array<ArrayBuffer> {
  const head = textEncoder.encode(compactJson(header));
  const out = new Uint8Array(4 + head.length + payload.length);
  new DataView(out.buffer).setUint32(0, head.length, true);
  out.set(head, 4);
  out.set(payload, 4 + head.length);
  return out;
}

/** The result of {@linkcode unpackEnvelope}. */
export interface Envelope {
  /** The parsed JSON header. */
  header: EnvelopeHeader;
  /** The payload bytes (a view into the input, not a copy). */
  payload: Uint8Array;
}

/**
 * Unpack a binary envelope. Throws a `RangeError` when the buffer is too
 * short and a `TypeError` when the header is not a JSON object with a string
 * `type`.
 *
 * @example
 * ```ts
 * import { packEnvelope, unpackEnvelope } from "./protocol.ts";
 * const { header } = unpackEnvelope(packEnvelope({ type: "x" }, new Uint8Array()));
 * console.log(header.type); // "x"
 * ```
 */
export function unpackEnvelope(data: ArrayBuffer | Uint8Array): Envelope {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  if (bytes.length < 4) {
    throw new RangeError(
      `envelope too short: ${bytes.length} bytes, need at least 4`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true);
  if (bytes.length < 4 + headerLength) {
    throw new RangeError(
      `envelope truncated: header says ${headerLength} bytes, only ${
        bytes.length - 4
      } follow`,
    );
  }
  let header: unknown;
  try {
    header = JSON.parse(
      textDecoder.decode(bytes.subarray(4, 4 + headerLength)),
    );
  } catch (err) {
    throw new TypeError(
      `envelope header is not valid UTF-8 JSON: ${(err as Error).message}`,
    );
  }
  if (!isRecord(header) || typeof header.type !== "string") {
    throw new TypeError("envelope header must be a JSON object with a 'type'");
  }
  return {
    header: header as EnvelopeHeader,
    payload: bytes.subarray(4 + headerLength),
  };
}

/** Fields for {@linkcode imageFrameHeader}. */
export interface ImageFrameFields {
  /** Per-viewer sequence number. */
  seq: number;
  /** Publish time in microseconds (server clock). */
  timestampUs: number;
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** MIME type of the payload. */
  mime: string;
  /** Render pixel ratio (omitted from the header when 1). */
  pixelRatio?: number;
}

/**
 * Build an `image_frame` header in the protocol's field order.
 *
 * @example
 * ```ts
 * import { imageFrameHeader } from "./protocol.ts";
 * imageFrameHeader({ seq: 1, timestampUs: 5, width: 2, height: 2, mime: "image/png" });
 * ```
 */
export function imageFrameHeader(f: ImageFrameFields): ImageFrameHeader {
  const header: ImageFrameHeader = {
    type: "image_frame",
    seq: f.seq,
    timestamp_us: f.timestampUs,
    width: f.width,
    height: f.height,
    mime: f.mime,
  };
  if (f.pixelRatio !== undefined && f.pixelRatio !== 1) {
    header.pixel_ratio = f.pixelRatio;
  }
  return header;
}

/** The header of a `video_chunk` envelope. */
export interface VideoChunkHeader extends EnvelopeHeader {
  /** Always `"video_chunk"`. */
  type: "video_chunk";
  /** Per-viewer sequence number. */
  seq: number;
  /** Publish time, microseconds since the epoch (server clock). */
  timestamp_us: number;
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** Codec string, e.g. `"avc1.42C01F"`. */
  codec: string;
  /** Always `"annexb"`. */
  bitstream: "annexb";
  /** Whether the chunk is an IDR. */
  keyframe: boolean;
  /** Frame duration, microseconds. */
  duration_us?: number;
  /** The frame's render pixel ratio, present only when not 1. */
  pixel_ratio?: number;
}

/** Fields for {@linkcode videoChunkHeader}. */
export interface VideoChunkFields {
  /** Per-viewer sequence number. */
  seq: number;
  /** Publish time in microseconds (server clock). */
  timestampUs: number;
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** Codec string. */
  codec: string;
  /** Whether the chunk is an IDR. */
  keyframe: boolean;
  /** Frame duration in microseconds. */
  durationUs?: number;
  /** Render pixel ratio (omitted from the header when 1). */
  pixelRatio?: number;
}

/**
 * Build a `video_chunk` header in the protocol's field order.
 *
 * @example
 * ```ts
 * import { videoChunkHeader } from "./protocol.ts";
 * videoChunkHeader({ seq: 1, timestampUs: 5, width: 64, height: 64, codec: "avc1.42C01F", keyframe: true });
 * ```
 */
export function videoChunkHeader(f: VideoChunkFields): VideoChunkHeader {
  const header: VideoChunkHeader = {
    type: "video_chunk",
    seq: f.seq,
    timestamp_us: f.timestampUs,
    width: f.width,
    height: f.height,
    codec: f.codec,
    bitstream: "annexb",
    keyframe: f.keyframe,
  };
  if (f.durationUs !== undefined) header.duration_us = f.durationUs;
  if (f.pixelRatio !== undefined && f.pixelRatio !== 1) {
    header.pixel_ratio = f.pixelRatio;
  }
  return header;
}

/** The server's `set_quality` message: this viewer's stream was retuned. */
export interface SetQualityMessage {
  /** Target bitrate, bits per second. */
  bitrate?: number;
  /** Target frame rate. */
  fps?: number;
}

/**
 * Build a `set_quality` message as JSON text.
 *
 * @example
 * ```ts
 * import { setQualityMessage } from "./protocol.ts";
 * setQualityMessage({ bitrate: 1000000, fps: 30 }); // '{"type":"set_quality","bitrate":1000000,"fps":30}'
 * ```
 */
export function setQualityMessage(q: SetQualityMessage): string {
  return compactJson({ type: "set_quality", ...q });
}

/** The server's `config` message. */
export interface ConfigMessage {
  /** Always `"config"`. */
  type: "config";
  /** The transport chosen for this viewer. */
  transport: Transport;
  /** Frame width in pixels. */
  width: number;
  /** Frame height in pixels. */
  height: number;
  /** Coordinate space events use: always `"frame-pixels"`. */
  coords: "frame-pixels";
  /** The codec string, on the video transport. */
  codec?: string;
  /** The frame's render pixel ratio, present only when not 1. */
  pixel_ratio?: number;
  /** The image MIME type the server will send (our optional addition). */
  mime?: string;
  /** The server's in-flight window (our optional addition). */
  max_inflight?: number;
}

/**
 * Build the `config` message as JSON text.
 *
 * @example
 * ```ts
 * import { configMessage } from "./protocol.ts";
 * configMessage({ type: "config", transport: "image", width: 64, height: 48, coords: "frame-pixels" });
 * ```
 */
export function configMessage(config: ConfigMessage): string {
  const msg: Record<string, unknown> = {
    type: "config",
    transport: config.transport,
    width: config.width,
    height: config.height,
    coords: "frame-pixels",
  };
  if (config.codec !== undefined) msg.codec = config.codec;
  if (config.pixel_ratio !== undefined && config.pixel_ratio !== 1) {
    msg.pixel_ratio = config.pixel_ratio;
  }
  if (config.mime !== undefined) msg.mime = config.mime;
  if (config.max_inflight !== undefined) msg.max_inflight = config.max_inflight;
  return compactJson(msg);
}

/** The server's periodic `stats` message; every field is optional. */
export interface StatsMessage {
  /** Smoothed round trip from send to ack, in milliseconds. */
  rtt_ms?: number;
  /** Frames sent to this viewer per second. */
  fps_sent?: number;
  /** Frames acknowledged by this viewer per second. */
  fps_acked?: number;
  /** Bits per second sent to this viewer. */
  bitrate_bps?: number;
  /** Mean encode time of the frames sent, in milliseconds. */
  encode_ms?: number;
  /** The decode queue size the viewer last reported. */
  decode_queue_size?: number;
  /** Frames this viewer skipped (newest wins). */
  dropped?: number;
  /** Target bitrate (adaptive video). */
  target_bitrate?: number;
  /** Target frame rate (adaptive video). */
  target_fps?: number;
}

/**
 * Build a `stats` message as JSON text.
 *
 * @example
 * ```ts
 * import { statsMessage } from "./protocol.ts";
 * statsMessage({ fps_sent: 60, dropped: 0 }); // '{"type":"stats","fps_sent":60,"dropped":0}'
 * ```
 */
export function statsMessage(stats: StatsMessage): string {
  return compactJson({ type: "stats", ...stats });
}

// ---------------------------------------------------------------------------
// Client → server messages

/** A modifier key name. */
export type Modifier = "Shift" | "Control" | "Alt" | "Meta";

/** Fields shared by pointer, double-click and wheel events. */
export interface PointerFields {
  /** X in framebuffer pixels. */
  x: number;
  /** Y in framebuffer pixels. */
  y: number;
  /** False when the pointer is over letterbox padding. */
  inside?: boolean;
  /** The view's device pixel ratio. */
  pixel_ratio?: number;
  /** Buttons held down. */
  buttons: number[];
  /** Modifier keys held down. */
  modifiers: Modifier[];
  /** Event time in seconds. */
  timestamp: number;
}

/** A pointer or double-click event. */
export interface PointerEvent extends PointerFields {
  /** The event type. */
  type: "pointer_down" | "pointer_up" | "pointer_move" | "double_click";
  /** The button that changed: 0 none, 1 left, 2 right, 3 middle, 4-9 others. */
  button: number;
  /** Number of touches, for touch input. */
  ntouches?: number;
  /** The touches, for touch input. */
  touches?: JsonValue;
}

/** A wheel event (dy > 0 scrolls down, about 100 per notch). */
export interface WheelEvent extends PointerFields {
  /** Always `"wheel"`. */
  type: "wheel";
  /** Horizontal delta. */
  dx: number;
  /** Vertical delta. */
  dy: number;
}

/** A key event. */
export interface KeyEvent {
  /** The event type. */
  type: "key_down" | "key_up";
  /** DOM `KeyboardEvent.key`. */
  key: string;
  /** DOM `KeyboardEvent.code`. */
  code?: string;
  /** Modifier keys held down. */
  modifiers: Modifier[];
  /** Event time in seconds. */
  timestamp: number;
}

/** A resize event, from the viewer's `set_viewport`. */
export interface ResizeEvent {
  /** Always `"resize"`. */
  type: "resize";
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
  /** Event time in seconds (server clock when absent from the client). */
  timestamp?: number;
}

/** Any input event in the renderview vocabulary. */
export type InputEvent = PointerEvent | WheelEvent | KeyEvent | ResizeEvent;

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

/** Any message a client may send. */
export type ClientMessage =
  | HelloMessage
  | SetViewportMessage
  | AckMessage
  | RequestKeyframeMessage
  | DecoderResetMessage
  | EventMessage;

/** What {@linkcode parseClientMessage} returns. */
export type ParseResult =
  | { ok: true; message: ClientMessage }
  /** `fatal` results close the connection with `code`; others drop the message. */
  | { ok: false; fatal: boolean; code: number; error: string }
  /** A well-formed message of a type this version does not know: ignore it. */
  | { ok: "ignored"; type: string };

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isFiniteNumber(v: unknown): v is number {
  return typeof v === "number" && Number.isFinite(v);
}

const MAX_COORD = 1e7;
const MAX_KEY_LENGTH = 64;
const MODIFIERS = new Set<string>(["Shift", "Control", "Alt", "Meta"]);
const POINTER_TYPES = new Set<string>([
  "pointer_down",
  "pointer_up",
  "pointer_move",
  "double_click",
]);

function drop(error: string): ParseResult {
  return { ok: false, fatal: false, code: 0, error };
}

function fatal(code: number, error: string): ParseResult {
  return { ok: false, fatal: true, code, error };
}

function numberField(
  o: Record<string, unknown>,
  name: string,
  min: number,
  max: number,
): number | string {
  const v = o[name];
  if (!isFiniteNumber(v)) return `'${name}' must be a finite number`;
  if (v < min || v > max) return `'${name}' must be in [${min}, ${max}]`;
  return v;
}

function modifiersField(o: Record<string, unknown>): Modifier[] | string {
  const v = o.modifiers ?? [];
  if (!Array.isArray(v) || v.length > 4 || !v.every((m) => MODIFIERS.has(m))) {
    return "'modifiers' must be a list of Shift, Control, Alt, Meta";
  }
  return v as Modifier[];
}

function buttonsField(o: Record<string, unknown>): number[] | string {
  const v = o.buttons ?? [];
  if (
    !Array.isArray(v) || v.length > 16 ||
    !v.every((b) => Number.isInteger(b) && b >= 0 && b <= 9)
  ) {
    return "'buttons' must be a list of integers 0-9";
  }
  return v as number[];
}

function timestampField(o: Record<string, unknown>, now: number): number {
  const t = o.timestamp;
  return isFiniteNumber(t) ? t : now;
}

/**
 * Validate one input event from a client and return it normalised (only the
 * known fields, with defaults filled in), or an error string.
 *
 * @example
 * ```ts
 * import { validateEvent } from "./protocol.ts";
 * const ev = validateEvent({ type: "pointer_down", x: 3, y: 4, button: 1 }, 0);
 * if (typeof ev !== "string") console.log(ev.type, ev.buttons); // pointer_down []
 * ```
 */
export function validateEvent(raw: unknown, now: number): InputEvent | string {
  if (!isRecord(raw) || typeof raw.type !== "string") {
    return "event must be an object with a string 'type'";
  }
  const type = raw.type;
  const modifiers = modifiersField(raw);
  if (typeof modifiers === "string" && type !== "resize") return modifiers;
  if (POINTER_TYPES.has(type) || type === "wheel") {
    const x = numberField(raw, "x", -MAX_COORD, MAX_COORD);
    if (typeof x === "string") return x;
    const y = numberField(raw, "y", -MAX_COORD, MAX_COORD);
    if (typeof y === "string") return y;
    const buttons = buttonsField(raw);
    if (typeof buttons === "string") return buttons;
    const base: PointerFields = {
      x,
      y,
      buttons,
      modifiers: modifiers as Modifier[],
      timestamp: timestampField(raw, now),
    };
    if (typeof raw.inside === "boolean") base.inside = raw.inside;
    if (raw.pixel_ratio !== undefined) {
      const pr = numberField(raw, "pixel_ratio", 0.01, 100);
      if (typeof pr === "string") return pr;
      base.pixel_ratio = pr;
    }
    if (type === "wheel") {
      const dx = numberField(raw, "dx", -MAX_COORD, MAX_COORD);
      if (typeof dx === "string") return dx;
      const dy = numberField(raw, "dy", -MAX_COORD, MAX_COORD);
      if (typeof dy === "string") return dy;
      return { type: "wheel", ...base, dx, dy };
    }
    const button = raw.button ?? 0;
    if (
      !Number.isInteger(button) || (button as number) < 0 ||
      (button as number) > 9
    ) {
      return "'button' must be an integer 0-9";
    }
    const ev: PointerEvent = {
      type: type as PointerEvent["type"],
      ...base,
      button: button as number,
    };
    if (raw.ntouches !== undefined) {
      const n = numberField(raw, "ntouches", 0, 64);
      if (typeof n === "string") return n;
      ev.ntouches = n;
      if (Array.isArray(raw.touches) && raw.touches.length <= 64) {
        ev.touches = raw.touches as JsonValue;
      }
    }
    return ev;
  }
  if (type === "key_down" || type === "key_up") {
    if (
      typeof raw.key !== "string" || raw.key.length === 0 ||
      raw.key.length > MAX_KEY_LENGTH
    ) {
      return `'key' must be a non-empty string of at most ${MAX_KEY_LENGTH} characters`;
    }
    const ev: KeyEvent = {
      type,
      key: raw.key,
      modifiers: modifiers as Modifier[],
      timestamp: timestampField(raw, now),
    };
    if (typeof raw.code === "string" && raw.code.length <= MAX_KEY_LENGTH) {
      ev.code = raw.code;
    }
    return ev;
  }
  if (type === "resize") {
    const size = viewportFields(raw);
    if (typeof size === "string") return size;
    return { type: "resize", ...size, timestamp: timestampField(raw, now) };
  }
  return `unknown event type '${type.slice(0, 32)}'`;
}

function viewportFields(
  raw: Record<string, unknown>,
): Omit<SetViewportMessage, "type"> | string {
  const out: Record<string, number> = {};
  for (const name of ["width", "height", "pwidth", "pheight"]) {
    const v = numberField(raw, name, 0, 65536);
    if (typeof v === "string") return v;
    out[name] = v;
  }
  const ratio = raw.ratio ?? 1;
  if (!isFiniteNumber(ratio) || ratio <= 0 || ratio > 100) {
    return "'ratio' must be a number in (0, 100]";
  }
  return {
    width: out.width,
    height: out.height,
    pwidth: out.pwidth,
    pheight: out.pheight,
    ratio,
  };
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
 * import { parseClientMessage } from "./protocol.ts";
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
    default:
      return { ok: "ignored", type: raw.type.slice(0, 64) };
  }
}

// ---------------------------------------------------------------------------
// Negotiation

/** What the server offers when negotiating. */
export interface NegotiationOffer {
  /** `"auto"` picks video when both sides can; otherwise forces one transport. */
  transport: "auto" | Transport;
  /** The preferred image format. */
  imageFormat: ImageFormat;
  /** The H.264 codec string when an encoder is available, else `null`. */
  h264Codec: string | null;
}

/** The transport chosen for one viewer. */
export type Selection =
  | { transport: "image"; format: ImageFormat; mime: string }
  | { transport: "webcodecs"; codec: string };

const IMAGE_FALLBACK: ImageFormat[] = ["jpeg", "png", "webp"];

/**
 * Choose a transport for a viewer, or `null` when there is none both sides
 * support (close with 1003).
 *
 * Order: the viewer's preference from `hello.transport`, then the server's
 * `transport` setting; `"auto"` takes H.264 when the viewer decodes
 * `webcodecs/h264-annexb` and an encoder exists. On the image path the
 * server's format wins when the viewer supports it, then JPEG, PNG, WebP.
 *
 * @example
 * ```ts
 * import { selectTransport } from "./protocol.ts";
 * selectTransport(["image/png"], { transport: "auto", imageFormat: "jpeg", h264Codec: null });
 * // { transport: "image", format: "png", mime: "image/png" }
 * ```
 */
export function selectTransport(
  supported: readonly string[],
  offer: NegotiationOffer,
  preferred?: Transport,
): Selection | null {
  const caps = new Set(supported);
  const canVideo = offer.h264Codec !== null && caps.has(CAP_H264);
  const image = pickImage(caps, offer.imageFormat);
  const want = offer.transport === "auto"
    ? (preferred ?? "auto")
    : offer.transport;
  if (want === "webcodecs" || want === "auto") {
    if (canVideo) return { transport: "webcodecs", codec: offer.h264Codec! };
    if (want === "webcodecs" && offer.transport === "webcodecs") return null;
  }
  if (want === "image" && !image && offer.transport === "auto" && canVideo) {
    return { transport: "webcodecs", codec: offer.h264Codec! };
  }
  return image;
}

function pickImage(
  caps: Set<string>,
  preferred: ImageFormat,
): Selection | null {
  for (const format of [preferred, ...IMAGE_FALLBACK]) {
    if (caps.has(IMAGE_MIME[format])) {
      return { transport: "image", format, mime: IMAGE_MIME[format] };
    }
  }
  return null;
}
