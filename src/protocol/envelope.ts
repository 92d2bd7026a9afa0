/**
 * The binary envelope (`uint32 LE header length | compact JSON header |
 * payload`) that carries every frame, and the headers of its two kinds:
 * `image_frame` and `video_chunk`.
 *
 * @example
 * ```ts
 * import { packEnvelope, unpackEnvelope } from "@rfb/core/protocol";
 * const bytes = packEnvelope({ type: "image_frame", seq: 1 }, new Uint8Array([1, 2]));
 * const { header, payload } = unpackEnvelope(bytes);
 * console.log(header.type, payload.length); // "image_frame" 2
 * ```
 *
 * @module
 */

import { isRecord } from "./_fields.ts";

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
 * import { compactJson } from "@rfb/core/protocol";
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
 * import { packEnvelope } from "@rfb/core/protocol";
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
 * import { packEnvelope, unpackEnvelope } from "@rfb/core/protocol";
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
 * import { imageFrameHeader } from "@rfb/core/protocol";
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
 * import { videoChunkHeader } from "@rfb/core/protocol";
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
