/**
 * Tracks fed with pictures encoded elsewhere: an edge server relaying a
 * render host's stream, or an app with an encoder of its own. They stand
 * where the local encoders stand, so sessions serve them the same way; what
 * they cannot do themselves (make an IDR for a viewer that needs one) they
 * ask of whoever encodes, through a callback.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import {
  IMAGE_MIME,
  type ImageFormat,
  type NegotiationOffer,
} from "../protocol.ts";
import type {
  EncodedPicture,
  PictureTrack,
  TrackSource,
  VideoChunk,
  VideoTrack,
} from "./tracks.ts";

/** An H.264 access unit encoded elsewhere, as given to `Hub.feedVideo`. */
export interface EncodedVideo {
  /** Annex B bytes of one access unit. */
  data: Uint8Array;
  /** Whether it is an IDR (with SPS and PPS in front). */
  keyframe: boolean;
  /** The codec string of the stream (e.g. `"avc1.42C01F"`). */
  codec: string;
  /** Picture width. */
  width: number;
  /** Picture height. */
  height: number;
  /** When the source frame was published, microseconds since the epoch. */
  timestampUs: number;
  /** Render pixel ratio (default 1). */
  pixelRatio?: number;
  /** Frame duration, microseconds (default: 1/fps of the stream's settings). */
  durationUs?: number;
}

/** An image file encoded elsewhere, as given to `Hub.feedPicture`. */
export interface EncodedImage {
  /** The complete file. */
  bytes: Uint8Array;
  /** Its MIME type: `"image/jpeg"`, `"image/png"` or `"image/webp"`. */
  mime: string;
  /** Picture width. */
  width: number;
  /** Picture height. */
  height: number;
  /** When the source frame was published, microseconds since the epoch. */
  timestampUs: number;
  /** Render pixel ratio (default 1). */
  pixelRatio?: number;
}

/**
 * The latest image received: viewers pull it as they would a local
 * encode; `request()` has nothing to do (the next one comes when it comes).
 *
 * @example
 * ```ts
 * import { FedPictures } from "./feed.ts";
 * const track = new FedPictures();
 * track.put({ bytes: new Uint8Array(3), mime: "image/jpeg", width: 1, height: 1, timestampUs: 0 }, 1);
 * console.log(track.current?.version); // 1
 * ```
 */
export class FedPictures implements PictureTrack {
  /** The last picture received. */
  current: EncodedPicture | null = null;

  /** Take a new picture as stream version `version`. */
  put(image: EncodedImage, version: number): void {
    this.current = {
      version,
      bytes: image.bytes,
      mime: image.mime,
      width: image.width,
      height: image.height,
      timestampUs: image.timestampUs,
      pixelRatio: image.pixelRatio ?? 1,
      encodeMs: 0,
    };
  }

  /** Nothing to do: pictures come from elsewhere. */
  request(): void {}
}

/** How to make a `FedVideo`. */
export interface FedVideoOptions {
  /** Ask whoever encodes for an IDR. */
  requestKeyframe: () => void;
  /** Seconds between two such asks while none has come (default 0.25). */
  minKeyframeInterval: number;
  /** Frame duration to assume when a unit does not say, microseconds. */
  durationUs: number;
  /** Time source. */
  clock: Clock;
  /** Called when an ask is due again (to look for work). */
  wake: () => void;
}

/**
 * A shared H.264 stream received from elsewhere. A viewer that joins late
 * or falls behind waits at its keyframe gate as usual; its ask for an IDR
 * goes upstream, at most once per `minKeyframeInterval` until one arrives.
 *
 * @example
 * ```ts
 * import { FedVideo } from "./feed.ts";
 * import { systemClock } from "../clock.ts";
 * const video = new FedVideo({
 *   requestKeyframe: () => console.log("IDR, please"),
 *   minKeyframeInterval: 0.25, durationUs: 33_333, clock: systemClock, wake: () => {},
 * });
 * video.requestKeyframe(); // "IDR, please"
 * video.close();
 * ```
 */
export class FedVideo implements VideoTrack {
  /** The last unit received. */
  last: VideoChunk | null = null;
  /** IDRs asked for upstream. */
  keyframeRequests = 0;
  #o: FedVideoOptions;
  #index = 0;
  #wantKey = false;
  #askedAt = -Infinity;
  #retry: TimerHandle | null = null;

  /** Make an empty track. */
  constructor(options: FedVideoOptions) {
    this.#o = options;
  }

  /** Never behind on its own account: it cannot encode. */
  behind(): boolean {
    return false;
  }

  /** Nothing to do: units come from elsewhere. */
  request(): void {}

  /** Ask upstream for an IDR (at most once per `minKeyframeInterval` while none came). */
  requestKeyframe(): void {
    this.#wantKey = true;
    const now = this.#o.clock.now();
    const next = this.#askedAt + this.#o.minKeyframeInterval * 1000;
    if (now >= next) {
      this.#askedAt = now;
      this.keyframeRequests++;
      this.#o.requestKeyframe();
    } else if (this.#retry === null) {
      // Ask again if it still has not come by then; the viewers waiting
      // would otherwise wait for the stream's periodic IDR.
      this.#retry = this.#o.clock.setTimeout(() => {
        this.#retry = null;
        if (this.#wantKey) this.#o.wake();
      }, next - now);
    }
  }

  /** Units were lost upstream: the next one is out of order (viewers wait for an IDR). */
  skip(): void {
    this.#index++;
  }

  /** Take the next unit as stream version `version`; returns it as a chunk. */
  put(unit: EncodedVideo, version: number): VideoChunk {
    if (unit.keyframe) this.#wantKey = false;
    this.last = {
      index: this.#index++,
      version,
      data: unit.data,
      keyframe: unit.keyframe,
      codec: unit.codec,
      width: unit.width,
      height: unit.height,
      timestampUs: unit.timestampUs,
      pixelRatio: unit.pixelRatio ?? 1,
      encodeMs: 0,
      durationUs: unit.durationUs ?? this.#o.durationUs,
    };
    return this.last;
  }

  /** Stop the retry timer. */
  close(): void {
    if (this.#retry !== null) this.#o.clock.clearTimeout(this.#retry);
    this.#retry = null;
  }
}

/** How to make a `Feed`. */
export interface FeedSettings {
  /** Ask whoever encodes for an IDR. */
  requestKeyframe: () => void;
  /** The H.264 codec string, when known before the first unit. */
  codec?: string;
  /** Seconds between IDR asks while none has come. */
  minKeyframeInterval: number;
  /** Frame duration to assume, microseconds. */
  durationUs: number;
  /** The longest wait for the first unit before negotiating, seconds. */
  firstTimeout: number;
  /** Time source. */
  clock: Clock;
  /** Look for work (an ask is due again). */
  wake: () => void;
}

/**
 * The tracks of a hub given encoded units by the app (`Hub.feedVideo`,
 * `Hub.feedPicture`): one video track and one picture track for every
 * viewer, whatever its quality step.
 *
 * @example
 * ```ts
 * import { Feed } from "./feed.ts";
 * import { systemClock } from "../clock.ts";
 * const feed = new Feed({
 *   requestKeyframe: () => {}, minKeyframeInterval: 0.25, durationUs: 33_333,
 *   firstTimeout: 1, clock: systemClock, wake: () => {},
 * });
 * feed.putPicture({ bytes: new Uint8Array(3), mime: "image/jpeg", width: 1, height: 1, timestampUs: 0 });
 * console.log(feed.newest()); // 1
 * feed.close();
 * ```
 */
export class Feed implements TrackSource {
  /** The video track. */
  readonly videoTrack: FedVideo;
  /** The picture track. */
  readonly pictureTrack: FedPictures = new FedPictures();
  #o: FeedSettings;
  #version = 0;
  #arrived = () => {};
  #first: Promise<void>;
  #closed = false;

  /** Make an empty feed. */
  constructor(o: FeedSettings) {
    this.#o = o;
    this.#first = new Promise<void>((resolve) => this.#arrived = resolve);
    this.videoTrack = new FedVideo(o);
  }

  /** Check an access unit; throws a `TypeError` when it is malformed. */
  static checkVideo(unit: EncodedVideo): void {
    if (!(unit?.data instanceof Uint8Array) || unit.data.length === 0) {
      throw new TypeError("feedVideo(): data must be a non-empty Uint8Array");
    }
    if (typeof unit.codec !== "string" || !/^avc1\./.test(unit.codec)) {
      throw new TypeError(
        `feedVideo(): codec must be an avc1 codec string, got ${
          JSON.stringify(unit.codec)
        }`,
      );
    }
  }

  /** Check a picture; throws a `TypeError` when it is malformed. */
  static checkPicture(image: EncodedImage): void {
    if (!(image?.bytes instanceof Uint8Array) || image.bytes.length === 0) {
      throw new TypeError(
        "feedPicture(): bytes must be a non-empty Uint8Array",
      );
    }
    if (!Object.values(IMAGE_MIME).includes(image.mime)) {
      throw new TypeError(
        `feedPicture(): mime must be one of ${
          Object.values(IMAGE_MIME).join(", ")
        }, got ${JSON.stringify(image.mime)}`,
      );
    }
  }

  /** Take a unit (checked) as the next version; returns it as a chunk. */
  putVideo(unit: EncodedVideo): VideoChunk {
    const chunk = this.videoTrack.put(unit, ++this.#version);
    this.#arrived();
    return chunk;
  }

  /** Take a picture (checked) as the next version. */
  putPicture(image: EncodedImage): void {
    this.pictureTrack.put(image, ++this.#version);
    this.#arrived();
  }

  /** The last version received. */
  newest(): number {
    return this.#version;
  }

  /** The hub's timer says. */
  settled(): null {
    return null;
  }

  /** The hub counts. */
  publishFps(): null {
    return null;
  }

  /**
   * The format and codec of what came. Until something has, there is
   * nothing to offer: it waits for the first unit, at most `firstTimeout`.
   */
  async offer(defaults: NegotiationOffer): Promise<NegotiationOffer> {
    if (!this.videoTrack.last && !this.pictureTrack.current && !this.#closed) {
      let timer: TimerHandle | null = null;
      await Promise.race([
        this.#first,
        new Promise<void>((resolve) => {
          timer = this.#o.clock.setTimeout(
            resolve,
            this.#o.firstTimeout * 1000,
          );
        }),
      ]);
      if (timer !== null) this.#o.clock.clearTimeout(timer);
    }
    const mime = this.pictureTrack.current?.mime;
    const fedFormat = (Object.keys(IMAGE_MIME) as ImageFormat[]).find((f) =>
      IMAGE_MIME[f] === mime
    );
    return {
      transport: defaults.transport,
      imageFormat: fedFormat ?? defaults.imageFormat,
      h264Codec: this.videoTrack.last?.codec ?? this.#o.codec ?? null,
    };
  }

  /** The one picture track (no stills: nothing to make them from). */
  pictures(
    _format: ImageFormat | "h264",
    _quality: number,
    still: boolean,
  ): PictureTrack | null {
    return still ? null : this.pictureTrack;
  }

  /** The one video track, at every step. */
  video(): VideoTrack {
    return this.videoTrack;
  }

  /** IDRs asked for upstream. */
  keyframeRequests(): number {
    return this.videoTrack.keyframeRequests;
  }

  /** Whether a unit came. */
  live(): boolean {
    return this.videoTrack.last !== null;
  }

  /** The codec string of the last unit, or the one given up front. */
  codec(): string | null {
    return this.videoTrack.last?.codec ?? this.#o.codec ?? null;
  }

  /** Stop the retry timer; a negotiation waiting for the first unit goes on. */
  close(): void {
    this.#closed = true;
    this.#arrived();
    this.videoTrack.close();
  }
}
