/**
 * The render host's side of one encoding that edges need: it drives the
 * hub's encoding as a viewer would (asks for the newest frame when there
 * is a newer one, or an IDR when an edge asks), and publishes each picture
 * or access unit once, for every edge. A `VideoRelay` is a shared H.264
 * stream at one adaptive step; a `PictureRelay` an image encoding (format,
 * quality, size) or a still. Neither waits for anyone: while the link to
 * NATS is backed up or down, no encode is asked for, so nothing queues.
 *
 * @module
 */

import type { Hub } from "../hub/hub.ts";
import type { EncodedPicture, VideoChunk, VideoTrack } from "../hub/tracks.ts";
import type { ImageFormat } from "../protocol.ts";
import type { Encoding, UnitHeader } from "./wire.ts";

/** What a relay needs from the host link. */
export interface RelayContext {
  /** The stream's hub. */
  hub: Hub;
  /** The host process's id. */
  host: string;
  /** Whether NATS takes more now (connected, not backed up). */
  canSend(): boolean;
  /** Publish one message (split when large); false when it was not sent. */
  send(subject: string, header: UnitHeader, payload: Uint8Array): boolean;
}

/** One encoding relayed to the edges. */
export interface Relay {
  /** Its name (`h264-q0`, `jpeg-80-live`). */
  readonly key: string;
  /** Which frame forms it needs. */
  readonly needs: { rgba: boolean; yuv: boolean };
  /** A delivery pass on the host: encode or publish what is due. */
  pump(): void;
  /** An H.264 unit was made (video relays publish their own stream's). */
  offerChunk(chunk: VideoChunk, track: VideoTrack): void;
  /** An edge has a viewer waiting for an IDR. */
  keyframe(): void;
  /** Another edge started taking it: send what it needs to start from. */
  joined(): void;
}

/**
 * A shared H.264 stream at one adaptive step.
 *
 * @example
 * ```ts ignore
 * const relay = new VideoRelay(ctx, "rfb.scene.v.h264-q0", "h264-q0", 0);
 * relay.pump();
 * ```
 */
export class VideoRelay implements Relay {
  /** Its name. */
  readonly key: string;
  /** YUV frames (H.264 converts RGB otherwise). */
  readonly needs = { rgba: false, yuv: true };
  #ctx: RelayContext;
  #subject: string;
  #step: number;
  #n = 0;

  /** Relay step `step` on `subject`. */
  constructor(ctx: RelayContext, subject: string, key: string, step: number) {
    this.#ctx = ctx;
    this.#subject = subject;
    this.key = key;
    this.#step = step;
  }

  /** Encode the newest frame (or the IDR asked for) when the link has room. */
  pump(): void {
    const hub = this.#ctx.hub;
    if (!hub.newest() || !this.#ctx.canSend()) return;
    const track = hub.video(this.#step);
    if (track.behind()) track.request();
  }

  /** Publish a unit of this step's stream. */
  offerChunk(chunk: VideoChunk, track: VideoTrack): void {
    if (track !== this.#ctx.hub.video(this.#step)) return;
    this.#ctx.send(this.#subject, {
      host: this.#ctx.host,
      n: ++this.#n,
      v: chunk.version,
      w: chunk.width,
      h: chunk.height,
      ts: chunk.timestampUs,
      pr: chunk.pixelRatio,
      i: chunk.index,
      k: chunk.keyframe,
      c: chunk.codec,
      d: chunk.durationUs,
    }, chunk.data);
  }

  /** Ask the stream for an IDR (at most one per `minKeyframeInterval`, for everyone). */
  keyframe(): void {
    this.#ctx.hub.video(this.#step).requestKeyframe();
    this.#ctx.hub.wake();
  }

  /** A new edge's viewers ask for their IDR themselves (`keyframe`). */
  joined(): void {}
}

/**
 * An image encoding, or a still (a lossless image, or the H.264 still IDR).
 *
 * @example
 * ```ts ignore
 * const relay = new PictureRelay(ctx, "rfb.scene.p.jpeg-80-live", "jpeg-80-live", encoding);
 * relay.pump();
 * ```
 */
export class PictureRelay implements Relay {
  /** Its name. */
  readonly key: string;
  /** RGB frames for images, YUV for the H.264 still. */
  readonly needs: { rgba: boolean; yuv: boolean };
  #ctx: RelayContext;
  #subject: string;
  #enc: Extract<Encoding, { kind: "picture" }>;
  #sent = 0; // version of the last picture published
  #n = 0;

  /** Relay the encoding `enc` on `subject`. */
  constructor(
    ctx: RelayContext,
    subject: string,
    key: string,
    enc: Extract<Encoding, { kind: "picture" }>,
  ) {
    this.#ctx = ctx;
    this.#subject = subject;
    this.key = key;
    this.#enc = enc;
    const h264 = enc.format === "h264";
    this.needs = { rgba: !h264, yuv: h264 };
  }

  /** Publish the encoding's newest picture; ask it to encode a newer frame. */
  pump(): void {
    const hub = this.#ctx.hub;
    const newest = hub.newest();
    if (!newest) return;
    const { format, quality, still, size } = this.#enc;
    const scale = size ? size.width / hub.size().width : 1;
    if (scale <= 0 || scale > 1) return; // a size from before a resize
    const track = hub.pictures(format as ImageFormat, quality, still, scale);
    if (!track) return;
    const cur = track.current;
    // A still is of the resting frame only; a live picture may lag a frame.
    if (cur && cur.version > this.#sent && (!still || cur.version === newest)) {
      if (this.#publish(cur)) this.#sent = cur.version;
    }
    if (still && !hub.settled()) return;
    if ((cur?.version ?? 0) < newest && this.#ctx.canSend()) track.request();
  }

  /** Units are a video relay's business. */
  offerChunk(): void {}

  /** Every picture stands alone; an edge keeps the last one. */
  keyframe(): void {}

  /**
   * Publish the current picture again on the next pass: an edge that just
   * subscribed missed it, and a resting scene may publish nothing new.
   */
  joined(): void {
    this.#sent = 0;
  }

  #publish(p: EncodedPicture): boolean {
    return this.#ctx.send(this.#subject, {
      host: this.#ctx.host,
      n: ++this.#n,
      v: p.version,
      w: p.width,
      h: p.height,
      ts: p.timestampUs,
      pr: p.pixelRatio,
      m: p.mime,
    }, p.bytes);
  }
}
