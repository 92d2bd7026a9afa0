/**
 * The image encoder: JPEG, PNG and WebP through `npm:sharp` (libvips).
 * sharp runs on libuv's worker threads, so an encode never blocks the event
 * loop or the caller of `publish`.
 *
 * @module
 */

import sharp from "sharp";
import type { Frame } from "../frame.ts";
import type { ImageFormat } from "../protocol.ts";

/** How to encode one image. */
export interface ImageEncodeSettings {
  /** Output format. */
  format: ImageFormat;
  /** Quality 1-100 for JPEG and WebP (ignored by PNG). */
  quality: number;
  /** A lossless, higher-effort encode for a resting frame. */
  still?: boolean;
  /**
   * Encode the picture scaled to this width (with `height`), for a slow
   * link; the viewer draws it at the frame's size. Default: the frame's.
   */
  width?: number;
  /** Height to scale to, with `width`. */
  height?: number;
}

/**
 * Encode a frame to a complete JPEG, PNG or WebP file.
 *
 * Live frames favour speed: JPEG 4:2:0 without mozjpeg, PNG at zlib level 1,
 * WebP at effort 0. Stills are lossless (PNG at level 3 or lossless WebP).
 *
 * @example
 * ```ts
 * import { encodeImage } from "./image.ts";
 * const frame = { data: new Uint8Array(16 * 16 * 4), width: 16, height: 16, channels: 4 as const,
 *   version: 1, timestampUs: 0, pixelRatio: 1, yuv: null };
 * const jpeg = await encodeImage(frame, { format: "jpeg", quality: 80 });
 * console.log(jpeg[0] === 0xff && jpeg[1] === 0xd8); // true
 * ```
 */
export async function encodeImage(
  frame: Frame,
  settings: ImageEncodeSettings,
): Promise<Uint8Array> {
  let image = sharp(frame.data, {
    raw: { width: frame.width, height: frame.height, channels: frame.channels },
    limitInputPixels: false, // the display already bounds the size
  });
  const w = settings.width ?? frame.width, h = settings.height ?? frame.height;
  if (w !== frame.width || h !== frame.height) {
    if (!(Number.isInteger(w) && Number.isInteger(h) && w >= 1 && h >= 1)) {
      throw new RangeError(`cannot scale to ${w}x${h}`);
    }
    image = image.resize(w, h, { fit: "fill", kernel: "linear" });
  }
  let out;
  switch (settings.format) {
    case "jpeg":
      out = image.jpeg({
        quality: settings.quality,
        chromaSubsampling: "4:2:0",
        mozjpeg: false,
      });
      break;
    case "png":
      out = image.png({
        compressionLevel: settings.still ? 3 : 1,
        adaptiveFiltering: false,
      });
      break;
    case "webp":
      out = settings.still
        ? image.webp({ lossless: true, effort: 1 })
        : image.webp({ quality: settings.quality, effort: 0 });
      break;
    default:
      throw new TypeError(`unknown image format '${settings.format}'`);
  }
  const buf = await out.toBuffer();
  return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}
