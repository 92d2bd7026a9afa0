/// <reference lib="dom" />
/**
 * Image decoding: each `image_frame` payload becomes an `ImageBitmap`.
 * Images decode in parallel but are drawn in order: one that finishes after
 * a newer one was drawn is dropped (and still acknowledged).
 *
 * @module
 */

import type { DecodeHooks } from "./hooks.ts";

/** One received image to decode. */
export interface ImageJob {
  /** The frame's sequence number. */
  seq: number;
  /** The payload's MIME type. */
  mime: string;
  /** Publish time (µs, server clock), when the header has one. */
  stampUs: number | null;
  /** When the message arrived, `performance.now()` ms. */
  receivedMs: number;
  /** The encoded image. */
  payload: Uint8Array;
  /**
   * The frame's size from the header: the picture is drawn at this size
   * even when the image is smaller (a server scaling down for a slow link).
   */
  width?: number;
  /** The frame's height from the header. */
  height?: number;
}

/**
 * Decodes images, drawing each unless a newer one is already on screen.
 *
 * @example
 * ```ts ignore
 * const images = new ImageDecode(hooks);
 * images.decode({ seq: 1, mime: "image/png", stampUs: null, receivedMs: performance.now(), payload });
 * ```
 */
export class ImageDecode {
  #hooks: DecodeHooks;
  #decodeOrder = 0;
  #drawnOrder = 0;
  #pending = 0;
  #epoch = 0; // bumped by abandon(): decodes from before it are dropped

  /** @param hooks where pictures, acknowledgements and failures go */
  constructor(hooks: DecodeHooks) {
    this.#hooks = hooks;
  }

  /** Images being decoded. */
  get pending(): number {
    return this.#pending;
  }

  /** Start decoding one image; it is drawn and acknowledged when ready. */
  decode(job: ImageJob): void {
    const hooks = this.#hooks;
    const order = ++this.#decodeOrder;
    const epoch = this.#epoch;
    this.#pending++;
    createImageBitmap(
      new Blob([job.payload as Uint8Array<ArrayBuffer>], { type: job.mime }),
    ).then(
      (bitmap) => {
        const decodedMs = performance.now();
        if (epoch !== this.#epoch) { // abandoned: already out of the count
          bitmap.close();
          hooks.dropped(1);
          hooks.ack(job.seq, false);
          return;
        }
        this.#pending--;
        if (order < this.#drawnOrder) { // a newer frame is already on screen
          bitmap.close();
          hooks.dropped(1);
          hooks.ack(job.seq, false);
          return;
        }
        this.#drawnOrder = order;
        hooks.draw(
          bitmap,
          job.width ?? bitmap.width,
          job.height ?? bitmap.height,
        );
        bitmap.close();
        hooks.displayed(job.seq, job.stampUs, job.receivedMs, decodedMs);
        hooks.ack(job.seq, true);
      },
      () => {
        if (epoch === this.#epoch) this.#pending--;
        hooks.dropped(1);
        hooks.ack(job.seq, false);
        hooks.failed("decode error");
      },
    );
  }

  /** Forget the images in flight (the decode stalled): ones that finish late are dropped. */
  abandon(): void {
    this.#pending = 0;
    this.#epoch++;
    this.#drawnOrder = this.#decodeOrder;
  }
}
