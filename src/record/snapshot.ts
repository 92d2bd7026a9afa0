/**
 * `Display.snapshot()`: the newest published frame as an image file. PNG
 * holds the published pixels exactly (RGBA, RGB or gray as published; a
 * frame published as YUV is converted to RGBA once, however many snapshots
 * of it are taken); JPEG and WebP at a quality. The last snapshot is kept,
 * so showing the same frame again (a notebook's still) costs nothing.
 *
 * @module
 */

import { encodeImage } from "../encoders/image.ts";
import type { Frame } from "../frame.ts";
import type { Hub } from "../hub/hub.ts";
import { refuseUnknownKeys } from "../names.ts";
import { yuvToRgba } from "../yuv.ts";
import type { SnapshotOptions } from "./types.ts";

const FORMATS = ["png", "jpeg", "webp"] as const;
const SNAPSHOT_KEYS = ["format", "quality"] as const;

/** Per stream: the last YUV frame converted, and the last file made. */
const kept = new WeakMap<Hub, {
  rgb: { version: number; frame: Frame } | null;
  file: { version: number; key: string; bytes: Uint8Array } | null;
}>();

/**
 * The newest frame of `hub` as a PNG, JPEG or WebP file. Rejects with a
 * clear error before any frame was published, or for a bad option.
 *
 * @example
 * ```ts ignore
 * const png = await takeSnapshot(hub, { format: "png" });
 * ```
 */
export async function takeSnapshot(
  hub: Hub,
  options: SnapshotOptions = {},
): Promise<Uint8Array> {
  const where = "snapshot()";
  if (options === null || typeof options !== "object") {
    throw new TypeError(`${where}: options must be an object`);
  }
  refuseUnknownKeys(where, options, SNAPSHOT_KEYS);
  const format = options.format ?? "png";
  if (!(FORMATS as readonly string[]).includes(format)) {
    throw new TypeError(
      `${where}: format must be one of ${FORMATS.join(", ")}, got ${
        JSON.stringify(format)
      }`,
    );
  }
  const quality = options.quality ?? hub.options.quality;
  if (!Number.isInteger(quality) || quality < 1 || quality > 100) {
    throw new RangeError(
      `${where}: quality must be an integer 1-100, got ${quality}`,
    );
  }
  const held = hub.hold();
  if (!held) {
    throw new Error(
      `${where}: display '${hub.name}' has no frame yet; publish() one first`,
    );
  }
  try {
    const { frame } = held;
    let mine = kept.get(hub);
    if (!mine) kept.set(hub, mine = { rgb: null, file: null });
    const key = format === "png" ? "png" : `${format}:${quality}`;
    if (mine.file?.version === frame.version && mine.file.key === key) {
      return mine.file.bytes.slice();
    }
    const bytes = await encodeImage(withRgb(frame, mine), {
      format,
      quality,
      still: format === "png", // lossless at a higher effort: not a live frame
    });
    mine.file = { version: frame.version, key, bytes };
    return bytes.slice();
  } finally {
    held.release();
  }
}

/** The frame with RGB pixels: a YUV-only frame converted, once per version. */
function withRgb(
  frame: Frame,
  mine: { rgb: { version: number; frame: Frame } | null },
): Frame {
  if (frame.data.length > 0 || !frame.yuv) return frame;
  if (mine.rgb?.version !== frame.version) {
    const data = yuvToRgba(
      frame.yuv.data,
      frame.width,
      frame.height,
      frame.yuv.layout,
    );
    mine.rgb = {
      version: frame.version,
      frame: { ...frame, data, channels: 4 },
    };
  }
  return mine.rgb.frame;
}

/**
 * The newest frame as a base64 PNG for a notebook's output bundle, or null
 * before the first frame (or when it cannot be encoded).
 *
 * @example
 * ```ts ignore
 * const still = await stillBase64(hub); // "iVBORw0KGgo…" or null
 * ```
 */
export async function stillBase64(hub: Hub): Promise<string | null> {
  if (!hub.newest()) return null;
  try {
    return base64(await takeSnapshot(hub));
  } catch {
    return null;
  }
}

/**
 * Bytes as base64.
 *
 * @example
 * ```ts
 * import { base64 } from "./snapshot.ts";
 * console.log(base64(new Uint8Array([104, 105]))); // "aGk="
 * ```
 */
export function base64(bytes: Uint8Array): string {
  let text = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    text += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(text);
}
