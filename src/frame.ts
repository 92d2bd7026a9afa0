/**
 * Frames as the display holds them: the pixels copied out of the caller's
 * buffer into a small pool, with the size, channel count, version and
 * publish time, and a reference count so a buffer returns to the pool only
 * when no encoder still reads it.
 *
 * @module
 */

/** Pixel data a caller may publish: RGBA, RGB or gray, 8 bits a channel. */
export type PixelData = Uint8Array | Uint8ClampedArray;

/** An `ImageData`-like object: pixels with their size. */
export interface FrameLike {
  /** The pixels, row-major, top row first. */
  data: PixelData;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
}

/** Anything `Display.publish` accepts. */
export type FrameInput = PixelData | FrameLike;

/** Number of 8-bit channels in a frame: gray, RGB or RGBA. */
export type Channels = 1 | 3 | 4;

/** YUV 4:2:0 planes (BT.709 limited range), no row padding: `w*h*3/2` bytes. */
export interface YuvPlanes {
  /** `"nv12"` (Y, then interleaved UV) or `"i420"` (Y, U, V). */
  readonly layout: "nv12" | "i420";
  /** The planes. */
  readonly data: Uint8Array;
}

/** A published frame, owned by the display. */
export interface Frame {
  /** The pixels (a pooled copy); empty when the frame came only as YUV. */
  readonly data: Uint8Array;
  /** Width in pixels. */
  readonly width: number;
  /** Height in pixels. */
  readonly height: number;
  /** 1 (gray), 3 (RGB) or 4 (RGBA). */
  readonly channels: Channels;
  /** Grows by one per publish on its display. */
  readonly version: number;
  /** Publish time, microseconds since the epoch. */
  readonly timestampUs: number;
  /** Render pixel ratio. */
  readonly pixelRatio: number;
  /** The frame as YUV, when it was published that way (e.g. converted on the GPU). */
  readonly yuv: YuvPlanes | null;
}

const EMPTY = new Uint8Array(0);

/** What `FramePool.take` copies into a pooled frame. */
export interface FrameSpec {
  /** RGBA, RGB or gray pixels, or null for a YUV-only frame. */
  rgb: Uint8Array | null;
  /** Width in pixels. */
  width: number;
  /** Height in pixels. */
  height: number;
  /** Channels of `rgb` (default 4). */
  channels?: Channels;
  /** The frame's version. */
  version: number;
  /** Publish time, microseconds since the epoch. */
  timestampUs: number;
  /** Render pixel ratio. */
  pixelRatio: number;
  /** The frame as YUV planes, if it came that way. */
  yuv?: YuvPlanes | null;
}

/** A frame with a reference count, internal to the display. */
export interface PooledFrame extends Frame {
  /** Holders of this frame: the display's "latest" slot and running encodes. */
  refs: number;
}

/**
 * Check a publish input against the display's size and return the pixel
 * bytes and channel count. Throws a `TypeError` that names the expected size.
 *
 * @example
 * ```ts
 * import { checkFrame } from "./frame.ts";
 * const { channels } = checkFrame(new Uint8Array(2 * 2 * 4), 2, 2);
 * console.log(channels); // 4
 * ```
 */
export function checkFrame(
  input: FrameInput,
  width: number,
  height: number,
): { bytes: Uint8Array; channels: Channels } {
  let data: unknown = input;
  if (
    !(input instanceof Uint8Array) && !(input instanceof Uint8ClampedArray) &&
    typeof input === "object" && input !== null && "data" in input
  ) {
    const like = input as FrameLike;
    if (like.width !== width || like.height !== height) {
      throw new TypeError(
        `publish(): frame is ${like.width}x${like.height} but the display is ${width}x${height}; call display.resize(${like.width}, ${like.height}) first`,
      );
    }
    data = like.data;
  }
  const pixels = width * height;
  if (!(data instanceof Uint8Array) && !(data instanceof Uint8ClampedArray)) {
    const got = data === null
      ? "null"
      : typeof data === "object"
      ? (data as object).constructor?.name ?? "object"
      : typeof data;
    throw new TypeError(
      `publish(): expected a Uint8Array or Uint8ClampedArray of ${width}x${height}x4 = ${
        pixels * 4
      } bytes (RGBA), got ${got}`,
    );
  }
  const channels = data.length === pixels * 4
    ? 4
    : data.length === pixels * 3
    ? 3
    : data.length === pixels
    ? 1
    : 0;
  if (channels === 0) {
    throw new TypeError(
      `publish(): expected ${width}x${height}x4 = ${
        pixels * 4
      } bytes (RGBA), or ${
        pixels * 3
      } (RGB) or ${pixels} (gray), got ${data.length} bytes`,
    );
  }
  const bytes = data instanceof Uint8Array
    ? data
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return { bytes, channels };
}

/**
 * Check a YUV 4:2:0 publish input (NV12 or I420: `w*h*3/2` bytes, even
 * sizes) and return its bytes. Throws a `TypeError` naming the expected size.
 *
 * @example
 * ```ts
 * import { checkYuv } from "./frame.ts";
 * console.log(checkYuv(new Uint8Array(4 * 2 * 3 / 2), 4, 2).length); // 12
 * ```
 */
export function checkYuv(
  input: FrameInput,
  width: number,
  height: number,
): Uint8Array {
  const data = input instanceof Uint8Array || input instanceof Uint8ClampedArray
    ? input
    : (input as FrameLike)?.data;
  if (width % 2 !== 0 || height % 2 !== 0) {
    throw new TypeError(
      `publish(): YUV 4:2:0 needs an even width and height; the display is ${width}x${height}`,
    );
  }
  const want = width * height * 3 / 2;
  if (!(data instanceof Uint8Array) && !(data instanceof Uint8ClampedArray)) {
    throw new TypeError(
      `publish(): expected a Uint8Array of ${width}x${height}x1.5 = ${want} bytes (YUV 4:2:0)`,
    );
  }
  if (data.length !== want) {
    throw new TypeError(
      `publish(): expected ${width}x${height}x1.5 = ${want} bytes (YUV 4:2:0), got ${data.length} bytes`,
    );
  }
  return data instanceof Uint8Array
    ? data
    : new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

/**
 * A few reusable pixel buffers, so publishing at 60 fps does not allocate a
 * new frame-sized buffer each time.
 *
 * @example
 * ```ts
 * import { FramePool } from "./frame.ts";
 * const pool = new FramePool();
 * const frame = pool.take({
 *   rgb: new Uint8Array(16),
 *   width: 2,
 *   height: 2,
 *   version: 1,
 *   timestampUs: 0,
 *   pixelRatio: 1,
 * });
 * pool.release(frame);
 * ```
 */
export class FramePool {
  #free: Uint8Array[] = [];
  readonly #max: number;

  /** Keep at most `max` spare buffers. */
  constructor(max = 6) {
    this.#max = max;
  }

  /**
   * Copy the pixels (and the YUV planes, if given) into pooled buffers and
   * wrap them as a frame with one reference. `rgb` may be null for a
   * YUV-only frame.
   */
  take(frame: FrameSpec): PooledFrame {
    const { rgb, yuv = null } = frame;
    return {
      data: rgb ? this.#copy(rgb) : EMPTY,
      width: frame.width,
      height: frame.height,
      channels: frame.channels ?? 4,
      version: frame.version,
      timestampUs: frame.timestampUs,
      pixelRatio: frame.pixelRatio,
      yuv: yuv ? { layout: yuv.layout, data: this.#copy(yuv.data) } : null,
      refs: 1,
    };
  }

  #copy(bytes: Uint8Array): Uint8Array {
    let buf = this.#free.pop();
    while (buf && buf.length !== bytes.length) buf = this.#free.pop();
    buf ??= new Uint8Array(bytes.length);
    buf.set(bytes);
    return buf;
  }

  /** Drop one reference; the buffers are reused when none remain. */
  release(frame: PooledFrame): void {
    frame.refs -= 1;
    if (frame.refs !== 0) return;
    for (const buf of [frame.data, frame.yuv?.data]) {
      if (buf && buf.length > 0 && this.#free.length < this.#max) {
        this.#free.push(buf);
      }
    }
  }

  /** Forget all spare buffers (after a resize). */
  clear(): void {
    this.#free.length = 0;
  }
}
