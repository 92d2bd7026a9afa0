/**
 * The wire protocol's named facts: capability strings, close codes, size
 * limits, and the image formats and transports a `config` can name.
 *
 * @example
 * ```ts
 * import { CLOSE_AUTH_FAILED, IMAGE_MIME } from "@rfb/core/protocol";
 * console.log(IMAGE_MIME.png, CLOSE_AUTH_FAILED); // "image/png" 4401
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
/**
 * Capability string (optional, in `hello.supported`): the client draws an
 * `image_frame` at the header's `width` x `height` even when the image
 * inside is smaller, so the server may send a scaled-down picture to a slow
 * link. Clients that do not list it only ever get full-size images.
 */
export const CAP_IMAGE_SCALE = "rfb/image-scale";

/** Close code: a normal close (the viewer went away or reconnects). */
export const CLOSE_NORMAL = 1000;
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
/**
 * Close code: a message over the size limit, refused from its frame header
 * before its payload is read (the library's own listener; behind a mounted
 * `handler()` the same message gets 1008 once it has been read).
 */
export const CLOSE_TOO_BIG = 1009;
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
 * import { closeReason } from "@rfb/core/protocol";
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

/** The largest frame side, in pixels: WebP's limit, and within sharp's pixel limit. */
export const MAX_SIDE = 16383;

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
