/**
 * A stream's image encodings, one `PictureGroup` per format, quality, kind
 * (live or still) and size: viewers asking for the same encoding share it
 * (encode once), and a viewer on a slow link gets a scaled one of its own
 * step. Frames published as YUV only are turned into RGBA for sharp here.
 *
 * @module
 */

import { encodeImage } from "../encoders/image.ts";
import type { Frame, FramePool, PooledFrame } from "../frame.ts";
import type { ResolvedDisplayOptions } from "../options.ts";
import { IMAGE_MIME, type ImageFormat } from "../protocol.ts";
import { yuvToRgba } from "../yuv.ts";
import { PictureGroup } from "./picture_group.ts";

/** What `PictureGroups` needs from its hub. */
export interface PictureGroupsOptions {
  /** The stream's settings (read live). */
  options: () => ResolvedDisplayOptions;
  /** The stream's size now. */
  size: () => { width: number; height: number };
  /** The newest frame. */
  latest: () => PooledFrame | null;
  /** The stream's frame pool. */
  pool: FramePool;
  /** An encode finished: look for more work. */
  wake: () => void;
}

/**
 * The image encodings of one stream, made on first use.
 *
 * @example
 * ```ts ignore
 * const groups = new PictureGroups({ options, size, latest, pool, wake });
 * groups.get("jpeg", 80, false, 0.5).request(); // a half-size JPEG of the newest frame
 * ```
 */
export class PictureGroups {
  #o: PictureGroupsOptions;
  #groups = new Map<string, PictureGroup>();

  /** @param o the hub's side */
  constructor(o: PictureGroupsOptions) {
    this.#o = o;
  }

  /** The encoding of `format` at `quality`, a still or live, at `scale` of the frame's size. */
  get(
    format: ImageFormat,
    quality: number,
    still: boolean,
    scale = 1,
  ): PictureGroup {
    const { width, height } = this.#o.size();
    const w = Math.max(1, Math.round(width * scale));
    const h = Math.max(1, Math.round(height * scale));
    const scaled = w !== width || h !== height;
    const key = `${format}:${quality}:${still ? "still" : "live"}${
      scaled ? `:${w}x${h}` : ""
    }`;
    let g = this.#groups.get(key);
    if (!g) {
      const options = this.#o.options();
      const encode = options.imageEncoder ?? encodeImage;
      const settings = scaled
        ? { format, quality, still, width: w, height: h }
        : { format, quality, still };
      g = new PictureGroup({
        key,
        mime: IMAGE_MIME[format],
        encode: (frame) => encode(withRgb(frame), settings),
        latest: this.#o.latest,
        pool: this.#o.pool,
        onDone: this.#o.wake,
        log: options.logger,
      });
      this.#groups.set(key, g);
    }
    return g;
  }

  /** Every encoding made so far. */
  values(): IterableIterator<PictureGroup> {
    return this.#groups.values();
  }

  /** Forget every encoding (a new size); returns them for their counts. */
  clear(): PictureGroup[] {
    const all = [...this.#groups.values()];
    this.#groups.clear();
    return all;
  }
}

/** The frame with RGBA pixels for sharp (converted from its YUV planes if it has only those). */
function withRgb(frame: Frame): Frame {
  if (frame.data.length > 0 || !frame.yuv) return frame;
  return {
    ...frame,
    data: yuvToRgba(
      frame.yuv.data,
      frame.width,
      frame.height,
      frame.yuv.layout,
    ),
    channels: 4,
  };
}
