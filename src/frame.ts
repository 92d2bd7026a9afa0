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

/** A published frame, owned by the display. */
export interface Frame {
  /** The pixels (a pooled copy). */
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
 * A few reusable pixel buffers, so publishing at 60 fps does not allocate a
 * new frame-sized buffer each time.
 *
 * @example
 * ```ts
 * import { FramePool } from "./frame.ts";
 * const pool = new FramePool();
 * const frame = pool.take(new Uint8Array(16), 2, 2, 4, 1, 0, 1);
 * pool.release(frame);
 * ```
 */
export class FramePool {
  #free: Uint8Array[] = [];
  readonly #max: number;

  /** Keep at most `max` spare buffers. */
  constructor(max = 3) {
    this.#max = max;
  }

  /** Copy `bytes` into a pooled buffer and wrap it as a frame with one reference. */
  take(
    bytes: Uint8Array,
    width: number,
    height: number,
    channels: Channels,
    version: number,
    timestampUs: number,
    pixelRatio: number,
  ): PooledFrame {
    let data = this.#free.pop();
    while (data && data.length !== bytes.length) data = this.#free.pop();
    data ??= new Uint8Array(bytes.length);
    data.set(bytes);
    return {
      data,
      width,
      height,
      channels,
      version,
      timestampUs,
      pixelRatio,
      refs: 1,
    };
  }

  /** Drop one reference; the buffer is reused when none remain. */
  release(frame: PooledFrame): void {
    frame.refs -= 1;
    if (frame.refs === 0 && this.#free.length < this.#max) {
      this.#free.push(frame.data);
    }
  }

  /** Forget all spare buffers (after a resize). */
  clear(): void {
    this.#free.length = 0;
  }
}
