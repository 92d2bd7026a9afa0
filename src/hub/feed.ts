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
import type {
  EncodedPicture,
  PictureTrack,
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
