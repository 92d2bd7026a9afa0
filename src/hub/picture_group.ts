/**
 * Encode once, send to many, by pull. A `PictureGroup` stands for one
 * encoding of a stream's frames into complete pictures: an image format and
 * quality at the current size, or the H.264 still (a clean IDR of a resting
 * frame). It runs at most one encode at a time, always of the newest frame,
 * and keeps the last result so every viewer pulling from it gets the same
 * bytes. Frames published while an encode runs are never encoded unless they
 * are still the newest when it finishes: newest wins, before the encoder.
 *
 * @module
 */

import type { FramePool, PooledFrame } from "../frame.ts";
import type { Logger } from "../log.ts";
import type { EncodedPicture, PictureTrack } from "./tracks.ts";

/** Encodes one frame to a complete picture. */
export type EncodeFn = (frame: PooledFrame) => Promise<Uint8Array>;

/** How to make a `PictureGroup`. */
export interface PictureGroupOptions {
  /** The group's key, e.g. `"jpeg:80:live"` (for logs). */
  key: string;
  /** MIME type of what `encode` produces. */
  mime: string;
  /** The encoder. */
  encode: EncodeFn;
  /** The newest frame, the one `request()` encodes. */
  latest: () => PooledFrame | null;
  /** Where frames go back once the encode is done with them. */
  pool: FramePool;
  /** Called after every encode, finished or failed (to look for more work). */
  onDone: () => void;
  /** Where encoder faults are reported. */
  log: Logger;
}

/** Encode counters of one group. */
export interface EncodeCounts {
  /** Finished encodes. */
  encodes: number;
  /** Total encode time, milliseconds. */
  encodeMsTotal: number;
  /** Encodes that threw. */
  failures: number;
}

/**
 * A serial, cached encoder of the newest frame into complete pictures.
 *
 * @example
 * ```ts
 * import { PictureGroup } from "./picture_group.ts";
 * import { FramePool } from "../frame.ts";
 * const pool = new FramePool();
 * const frame = pool.take({
 *   rgb: new Uint8Array(4), width: 1, height: 1,
 *   version: 1, timestampUs: 0, pixelRatio: 1,
 * });
 * const group = new PictureGroup({
 *   key: "raw", mime: "application/octet-stream",
 *   encode: (f) => Promise.resolve(f.data.slice()),
 *   latest: () => frame, pool, onDone: () => {}, log: () => {},
 * });
 * group.request();
 * ```
 */
export class PictureGroup implements PictureTrack, EncodeCounts {
  /** The group's key. */
  readonly key: string;
  /** The last finished encode. */
  current: EncodedPicture | null = null;
  /** Finished encodes. */
  encodes = 0;
  /** Total encode time, milliseconds. */
  encodeMsTotal = 0;
  /** Encodes that threw. */
  failures = 0;
  #running = false;
  #failedVersion = 0;
  readonly #o: PictureGroupOptions;

  /** Make a group; nothing is encoded until `request()`. */
  constructor(options: PictureGroupOptions) {
    this.key = options.key;
    this.#o = options;
  }

  /**
   * Start encoding the newest frame unless an encode is running, or it is
   * not newer than the last result, or it already failed once.
   */
  request(): void {
    const frame = this.#o.latest();
    if (!frame || this.#running) return;
    if (this.current && this.current.version >= frame.version) return;
    if (this.#failedVersion === frame.version) return;
    this.#running = true;
    frame.refs++;
    const start = performance.now();
    this.#o.encode(frame).then(
      (bytes) => {
        const encodeMs = performance.now() - start;
        this.encodes++;
        this.encodeMsTotal += encodeMs;
        this.current = {
          version: frame.version,
          bytes,
          mime: this.#o.mime,
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
        this.#o.log(
          "error",
          `encoder ${this.key} failed on frame ${frame.version}: ${
            (err as Error)?.message ?? err
          }`,
        );
      },
    ).finally(() => {
      this.#running = false;
      this.#o.pool.release(frame);
      this.#o.onDone();
    });
  }
}
