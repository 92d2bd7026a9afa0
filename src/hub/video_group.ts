/**
 * Encode once for every H.264 viewer (push delivery). A `VideoGroup` owns
 * one H.264 encoder (libx264, or NVENC where the stream's `H264Encoders`
 * chose it) for one size and rate, and numbers its chunks, which the hub
 * offers to every viewer on the group. Viewers that keep up receive every
 * chunk, the same bytes each. A viewer that falls behind,
 * joins late or asks for a keyframe is not served its own encode: it waits
 * at a keyframe gate (it gets nothing until an IDR), and asks the group for
 * an IDR, which the group makes at most once per `minKeyframeInterval`, on
 * the next frame (or on the resting frame again if nothing new comes), and
 * sends to everyone in the group. So an added viewer costs one more send,
 * and a struggling one costs the others at most a few IDRs a second.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import type { FramePool, PooledFrame } from "../frame.ts";
import type { Logger } from "../log.ts";
import {
  type H264Chunk,
  type H264Settings,
  pictureOf,
} from "../encoders/h264.ts";
import {
  FAILURES_BEFORE_SWITCH,
  type VideoEncoder,
  type VideoEncoders,
} from "../encoders/video_encoder.ts";
import type { VideoChunk, VideoTrack } from "./tracks.ts";

/** How to make a `VideoGroup`. */
export interface VideoGroupOptions {
  /** The group's key (for logs), e.g. `"h264:1280x720:q0"`. */
  key: string;
  /** Encoder settings. */
  settings: H264Settings;
  /** Where the encoders come from (libx264, NVENC, or a scripted one in tests). */
  encoders: VideoEncoders;
  /** Seconds between IDRs made on request. */
  minKeyframeInterval: number;
  /** Encode at most `settings.fps` frames a second (for reduced-rate quality steps). */
  paceToFps?: boolean;
  /** The newest frame, the one `request()` encodes. */
  latest: () => PooledFrame | null;
  /** Where frames go back when an encode is done with them. */
  pool: FramePool;
  /** Time source. */
  clock: Clock;
  /** Where faults are reported. */
  log: Logger;
  /** Called with each new chunk, to push it to the viewers. */
  onChunk: (chunk: VideoChunk) => void;
  /** Called after every encode and timed retry, to look for more work. */
  onIdle: () => void;
  /** Called once when the group cannot encode any more (its viewers move to images). */
  onBroken: (reason: string) => void;
}

/** A shared H.264 stream for the viewers of one stream at one size and rate. */
export class VideoGroup implements VideoTrack {
  /** The group's key. */
  readonly key: string;
  /** Encoder settings. */
  readonly settings: H264Settings;
  /** The last chunk made. */
  last: VideoChunk | null = null;
  /** Chunks made. */
  encodes = 0;
  /** Total encode time, ms. */
  encodeMsTotal = 0;
  /** Encodes that failed. */
  failures = 0;
  /** IDRs made on request (joins, drops, errors). */
  forcedKeyframes = 0;
  #encoder: Promise<VideoEncoder> | null = null;
  #failedInRow = 0;
  #running = false;
  #index = 0;
  #wantKey = true; // the first chunk is an IDR
  #lastKeyAt = -Infinity;
  #retry: TimerHandle | null = null;
  #minFrameMs: number;
  #lastEncodeAt = -Infinity;
  #closed = false;
  #minKeyMs: number;
  readonly #o: VideoGroupOptions;

  /** Make a group; its encoder opens with the first `request()`. */
  constructor(options: VideoGroupOptions) {
    this.#o = options;
    this.key = options.key;
    this.settings = options.settings;
    this.#minKeyMs = options.minKeyframeInterval * 1000;
    this.#minFrameMs = options.paceToFps ? 900 / options.settings.fps : 0;
  }

  /** The codec string viewers should configure (opens nothing shared). */
  codec(): Promise<string> {
    return this.#o.encoders.codec(this.settings);
  }

  /** Whether the group can no longer encode (closed, or its encoder failed to open). */
  get closed(): boolean {
    return this.#closed;
  }

  /** A viewer needs an IDR before it can decode again. */
  requestKeyframe(): void {
    this.#wantKey = true;
    // Not due yet (an IDR went out less than minKeyframeInterval ago): look
    // again when it is, or a resting scene would never make it.
    if (!this.#closed && !this.keyframeDue()) {
      this.#retryAt(this.#lastKeyAt + this.#minKeyMs);
    }
  }

  /** Whether an IDR was asked for and may be made now. */
  keyframeDue(): boolean {
    return this.#wantKey &&
      this.#o.clock.now() - this.#lastKeyAt >= this.#minKeyMs;
  }

  /** Whether the newest frame is newer than the last chunk, or an IDR is due. */
  behind(): boolean {
    const frame = this.#o.latest();
    if (!frame) return false;
    return frame.version > (this.last?.version ?? 0) || this.keyframeDue();
  }

  /**
   * Encode the newest frame if it is newer than the last chunk, or again as
   * an IDR if one is due. Does nothing while an encode runs.
   */
  request(): void {
    const frame = this.#o.latest();
    if (!frame || this.#running || this.#closed) return;
    const newer = !this.last || frame.version > this.last.version;
    const due = this.keyframeDue();
    if (!newer && !due) {
      if (this.#wantKey) this.#retryAt(this.#lastKeyAt + this.#minKeyMs);
      return;
    }
    if (this.#minFrameMs > 0) { // a reduced-rate step: hold the frame rate down
      const next = this.#lastEncodeAt + this.#minFrameMs;
      if (this.#o.clock.now() < next) {
        this.#retryAt(next);
        return;
      }
    }
    this.#lastEncodeAt = this.#o.clock.now();
    const keyframe = due;
    this.#running = true;
    frame.refs++;
    const start = performance.now();
    const opening = this.#encoder ??= this.#o.encoders.open(this.settings);
    let used: VideoEncoder | null = null;
    opening.then(
      async (enc) => {
        used = enc;
        const chunk = await enc.encode(pictureOf(frame), keyframe);
        this.#failedInRow = 0;
        if (chunk && !this.#closed) {
          this.#deliver(chunk, enc.codec, frame, keyframe, start);
        }
      },
      (err) => {
        // The encoder cannot open: this group is done; its viewers move to images.
        this.#closed = true;
        this.#o.onBroken(
          `H.264 encoder ${this.key} could not open: ${
            (err as Error)?.message ?? err
          }`,
        );
      },
    ).catch((err) => {
      if (this.#closed) return; // closed or resized meanwhile: not a fault
      this.failures++;
      this.#wantKey = true; // a lost chunk breaks the stream for everyone: restart with an IDR
      // A failed frame is tried again at once: an encoder that keeps failing
      // is replaced (NVENC → libx264), or else the group gives up.
      if (
        used && ++this.#failedInRow >= FAILURES_BEFORE_SWITCH &&
        this.#encoder === opening
      ) {
        this.#failedInRow = 0;
        if (this.#o.encoders.failing?.(used, err)) {
          // Another kind of encoder takes over from the next frame (an IDR).
          this.#encoder = null;
          used.close().catch(() => {});
          return;
        }
        this.#closed = true;
        this.#o.onBroken(
          `H.264 encoder ${this.key} failed ${FAILURES_BEFORE_SWITCH} encodes in a row: ${
            (err as Error)?.message ?? err
          }`,
        );
        return;
      }
      this.#o.log(
        "error",
        `H.264 encoder ${this.key} failed on frame ${frame.version}: ${
          (err as Error)?.message ?? err
        }`,
      );
    }).finally(() => {
      this.#running = false;
      this.#o.pool.release(frame);
      this.#o.onIdle();
    });
  }

  #deliver(
    chunk: H264Chunk,
    codec: string,
    frame: PooledFrame,
    forced: boolean,
    start: number,
  ): void {
    const encodeMs = performance.now() - start;
    this.encodes++;
    this.encodeMsTotal += encodeMs;
    if (chunk.keyframe) {
      this.#wantKey = false;
      this.#lastKeyAt = this.#o.clock.now();
      if (forced && this.#index > 0) this.forcedKeyframes++;
    }
    this.last = {
      index: this.#index++,
      version: frame.version,
      data: chunk.data,
      keyframe: chunk.keyframe,
      codec,
      width: frame.width,
      height: frame.height,
      timestampUs: frame.timestampUs,
      pixelRatio: frame.pixelRatio,
      encodeMs,
      durationUs: Math.round(1e6 / this.settings.fps),
    };
    this.#o.onChunk(this.last);
  }

  /** Look for work again at `at` (ms, clock time). */
  #retryAt(at: number): void {
    if (this.#retry !== null) return;
    const wait = Math.max(0, at - this.#o.clock.now());
    this.#retry = this.#o.clock.setTimeout(() => {
      this.#retry = null;
      this.#o.onIdle();
    }, wait);
  }

  /** Free the encoder (once its open or encode in flight is done) and timers. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== null) this.#o.clock.clearTimeout(this.#retry);
    this.#retry = null;
    const encoder = this.#encoder;
    this.#encoder = null;
    // Wait for an open or an encode in flight: freeing under them crashes.
    return encoder
      ? encoder.then((e) => e.close(), () => {})
      : Promise.resolve();
  }
}
