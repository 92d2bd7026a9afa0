/**
 * Encode once, send to many. An `EncodeGroup` stands for one encoding of a
 * display's frames (one format, quality and size). It runs at most one
 * encode at a time, always of the newest frame a viewer is ready for, and
 * keeps the last result so every viewer in the group gets the same bytes.
 * Frames published while an encode runs are never encoded unless they are
 * still the newest when it finishes: newest wins, before the encoder.
 *
 * @module
 */

import type { FramePool, PooledFrame } from "../frame.ts";
import type { Logger } from "../log.ts";

/** One encoded frame, shared by every viewer in a group. */
export interface EncodedFrame {
  /** The display version it was encoded from. */
  readonly version: number;
  /** The encoded bytes (a complete image file). */
  readonly bytes: Uint8Array;
  /** MIME type of `bytes`. */
  readonly mime: string;
  /** Frame width. */
  readonly width: number;
  /** Frame height. */
  readonly height: number;
  /** When the source frame was published (microseconds since the epoch). */
  readonly timestampUs: number;
  /** The source frame's render pixel ratio. */
  readonly pixelRatio: number;
  /** Encode time in milliseconds. */
  readonly encodeMs: number;
}

/** Encodes one frame to bytes. */
export type EncodeFn = (frame: PooledFrame) => Promise<Uint8Array>;

/**
 * A serial, cached encoder for one (format, quality, size) group.
 *
 * @example
 * ```ts
 * import { EncodeGroup } from "./group.ts";
 * import { FramePool } from "../frame.ts";
 * const pool = new FramePool();
 * const group = new EncodeGroup("raw", "application/octet-stream",
 *   async (f) => f.data.slice(), pool, () => console.log("done"), () => {});
 * group.request(pool.take(new Uint8Array(4), 1, 1, 4, 1, 0, 1));
 * ```
 */
export class EncodeGroup {
  /** The group's key, e.g. `"jpeg:80"`. */
  readonly key: string;
  /** The last finished encode. */
  current: EncodedFrame | null = null;
  /** Finished encodes. */
  encodes = 0;
  /** Total encode time, milliseconds. */
  encodeMsTotal = 0;
  /** Encodes that threw. */
  failures = 0;
  #running: number | null = null;
  #failedVersion = 0;
  readonly #mime: string;
  readonly #encode: EncodeFn;
  readonly #pool: FramePool;
  readonly #onDone: () => void;
  readonly #log: Logger;

  /**
   * @param key the group's key
   * @param mime MIME type of what `encode` produces
   * @param encode the encoder
   * @param pool the pool frames return to when the encode is done with them
   * @param onDone called after every encode, finished or failed
   * @param log where encoder faults are reported
   */
  constructor(
    key: string,
    mime: string,
    encode: EncodeFn,
    pool: FramePool,
    onDone: () => void,
    log: Logger,
  ) {
    this.key = key;
    this.#mime = mime;
    this.#encode = encode;
    this.#pool = pool;
    this.#onDone = onDone;
    this.#log = log;
  }

  /** Whether an encode is running. */
  get busy(): boolean {
    return this.#running !== null;
  }

  /**
   * Start encoding `frame` unless an encode is running or `frame` is not
   * newer than the last result (or already failed once).
   */
  request(frame: PooledFrame): void {
    if (this.#running !== null) return;
    if (this.current && this.current.version >= frame.version) return;
    if (this.#failedVersion === frame.version) return;
    this.#running = frame.version;
    frame.refs++;
    const start = performance.now();
    this.#encode(frame).then(
      (bytes) => {
        const encodeMs = performance.now() - start;
        this.encodes++;
        this.encodeMsTotal += encodeMs;
        this.current = {
          version: frame.version,
          bytes,
          mime: this.#mime,
          width: frame.width,
          height: frame.height,
          timestampUs: frame.timestampUs,
          pixelRatio: frame.pixelRatio,
          encodeMs,
        };
      },
      (err) => {
        this.failures++;
        this.#failedVersion = frame.version;
        this.#log(
          "error",
          `encoder ${this.key} failed on frame ${frame.version}: ${
            (err as Error)?.message ?? err
          }`,
        );
      },
    ).finally(() => {
      this.#running = null;
      this.#pool.release(frame);
      this.#onDone();
    });
  }
}
