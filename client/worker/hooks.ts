/**
 * What the image and video decoders report back to the worker: pictures to
 * draw, frames shown or dropped, acknowledgements, and failures.
 *
 * @module
 */

/**
 * The worker's side of a decoder: the decoders hold no socket, canvas or
 * counters of their own and report through these calls.
 *
 * @example
 * ```ts
 * import type { DecodeHooks } from "./hooks.ts";
 * const acks: number[] = [];
 * const hooks: DecodeHooks = {
 *   draw: () => {},
 *   displayed: () => {},
 *   ack: (seq) => acks.push(seq),
 *   dropped: () => {},
 *   failed: () => {},
 * };
 * hooks.ack(1, false);
 * ```
 */
export interface DecodeHooks {
  /** Draw a decoded picture as the current frame (the decoder closes it afterwards). */
  draw(picture: ImageBitmap | VideoFrame, width: number, height: number): void;
  /** A frame was drawn: count it and tell the page (times in `performance.now()` ms). */
  displayed(
    seq: number,
    stampUs: number | null,
    receivedMs: number,
    decodedMs: number,
  ): void;
  /** Acknowledge a frame to the server, shown or not. */
  ack(seq: number, shown: boolean): void;
  /** Count `count` frames received that will not be shown. */
  dropped(count: number): void;
  /** Decoding failed: wait for a keyframe again and ask the server for one. */
  failed(reason: string): void;
}
