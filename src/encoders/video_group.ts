/**
 * Encode once for every H.264 viewer. A `VideoGroup` owns one H.264
 * encoder (libx264, or NVENC where the display's encoder route says so) for
 * one size and rate, and numbers its chunks. Viewers that keep
 * up receive every chunk, the same bytes each. A viewer that falls behind,
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
  H264Encoder,
  type H264Settings,
  pictureOf,
  type RawPicture,
} from "./h264.ts";

/** What a group needs of an H.264 encoder (`H264Encoder` and `NvencEncoder` both fit). */
export interface VideoEncoder {
  /** The codec string from the stream's SPS. */
  readonly codec: string;
  /** Encode one picture (`keyframe` forces an IDR); null when nothing came out. */
  encode(picture: RawPicture, keyframe: boolean): Promise<H264Chunk | null>;
  /** Free the encoder once the encode in flight is done. */
  close(): Promise<void>;
}

/** Where a group's encoders come from: opened for settings, and the codec string they will use. */
export interface VideoEncoders {
  /** Open an encoder for these settings. */
  open(settings: H264Settings): Promise<VideoEncoder>;
  /** The codec string an encoder opened for these settings will use. */
  codec(settings: H264Settings): Promise<string>;
  /**
   * `encoder` failed `FAILURES_BEFORE_SWITCH` encodes in a row: true when
   * another kind of encoder should take over (the group then opens a new one
   * through `open`); false, or absent, and the group gives up (its viewers
   * move to images).
   */
  failing?(encoder: VideoEncoder, error: unknown): boolean;
}

/** Consecutive failed encodes after which a group asks for another encoder, or gives up. */
export const FAILURES_BEFORE_SWITCH = 3;

/**
 * libx264 for every group: `H264Encoder.open`, and `probeCodec` for the
 * codec string.
 *
 * @example
 * ```ts ignore
 * const enc = await X264_ENCODERS.open({ width: 64, height: 64, fps: 30, bitrate: 1e6, gop: 60, preset: "ultrafast" });
 * await enc.close();
 * ```
 */
export const X264_ENCODERS: VideoEncoders = {
  open: (settings) => H264Encoder.open(settings),
  codec: (settings) => probeCodec(settings),
};

/** One encoded access unit, shared by the group's viewers. */
export interface VideoChunk {
  /** Position in the group's stream (0, 1, 2, …). */
  readonly index: number;
  /** The display version it was encoded from. */
  readonly version: number;
  /** Annex B bytes. */
  readonly data: Uint8Array;
  /** Whether it is an IDR. */
  readonly keyframe: boolean;
  /** Codec string from the stream's SPS. */
  readonly codec: string;
  /** Frame width. */
  readonly width: number;
  /** Frame height. */
  readonly height: number;
  /** Publish time, microseconds since the epoch. */
  readonly timestampUs: number;
  /** The frame's render pixel ratio. */
  readonly pixelRatio: number;
  /** Encode time, milliseconds (conversion included). */
  readonly encodeMs: number;
  /** Frame duration at the group's rate, microseconds. */
  readonly durationUs: number;
}

const codecCache = new Map<string, Promise<string>>();

/**
 * The codec string libx264 will use for these settings, read from the SPS
 * of a throwaway encode (cached per size and rate).
 *
 * @example
 * ```ts ignore
 * const codec = await probeCodec({ width: 1280, height: 720, fps: 60, bitrate: 4e6, gop: 240, preset: "ultrafast" });
 * // "avc1.42C020"
 * ```
 */
export function probeCodec(s: H264Settings): Promise<string> {
  const key = `${s.width}x${s.height}@${s.fps}:${s.bitrate}:${s.preset}`;
  let p = codecCache.get(key);
  if (!p) {
    p = readCodec((settings) => H264Encoder.open(settings), s);
    p.catch(() => codecCache.delete(key));
    codecCache.set(key, p);
  }
  return p;
}

/**
 * The codec string of an encoder from `open`, read from the SPS of a
 * throwaway encode of a black frame (the encoder is closed after).
 *
 * @example
 * ```ts ignore
 * const codec = await readCodec(H264Encoder.open, { width: 64, height: 64, fps: 30, bitrate: 1e6, gop: 60, preset: "ultrafast" });
 * ```
 */
export async function readCodec(
  open: (settings: H264Settings) => Promise<VideoEncoder>,
  s: H264Settings,
): Promise<string> {
  const enc = await open(s);
  try {
    const black = new Uint8Array(s.width * s.height * 3 / 2 | 0);
    black.fill(16, 0, s.width * s.height);
    black.fill(128, s.width * s.height);
    await enc.encode({
      data: black,
      width: s.width,
      height: s.height,
      layout: "i420",
    }, true);
    return enc.codec;
  } finally {
    await enc.close();
  }
}

/** A shared H.264 stream for the viewers of one display at one size and rate. */
export class VideoGroup {
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
  #encoders: VideoEncoders;
  #running = false;
  #index = 0;
  #wantKey = true; // the first chunk is an IDR
  #lastKeyAt = -Infinity;
  #retry: TimerHandle | null = null;
  #minFrameMs: number;
  #lastEncodeAt = -Infinity;
  #closed = false;
  #minKeyMs: number;
  #pool: FramePool;
  #clock: Clock;
  #log: Logger;
  #onChunk: (chunk: VideoChunk) => void;
  #onIdle: () => void;
  #onBroken: (reason: string) => void;

  /**
   * @param key the group's key
   * @param settings encoder settings
   * @param minKeyframeInterval seconds between IDRs made on request
   * @param pool where frames go back when an encode is done with them
   * @param clock time source
   * @param log where faults are reported
   * @param onChunk called with each new chunk, to deliver it
   * @param onIdle called after every encode, to look for more work
   * @param onBroken called once if the encoder cannot open
   * @param limitFps encode at most `settings.fps` frames a second (for reduced-rate steps)
   * @param encoders where the encoder comes from (default: libx264)
   */
  constructor(
    key: string,
    settings: H264Settings,
    minKeyframeInterval: number,
    pool: FramePool,
    clock: Clock,
    log: Logger,
    onChunk: (chunk: VideoChunk) => void,
    onIdle: () => void,
    onBroken: (reason: string) => void,
    limitFps = false,
    encoders: VideoEncoders = X264_ENCODERS,
  ) {
    this.key = key;
    this.settings = settings;
    this.#minKeyMs = minKeyframeInterval * 1000;
    this.#pool = pool;
    this.#clock = clock;
    this.#log = log;
    this.#onChunk = onChunk;
    this.#onIdle = onIdle;
    this.#onBroken = onBroken;
    this.#minFrameMs = limitFps ? 900 / settings.fps : 0;
    this.#encoders = encoders;
  }

  /** The codec string viewers should configure (opens nothing shared). */
  codec(): Promise<string> {
    return this.#encoders.codec(this.settings);
  }

  /** Whether the group can no longer encode (closed, or its encoder failed to open). */
  get closed(): boolean {
    return this.#closed;
  }

  /** Whether an encode is running. */
  get busy(): boolean {
    return this.#running;
  }

  /** The index the next chunk will have. */
  get nextIndex(): number {
    return this.#index;
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
      this.#clock.now() - this.#lastKeyAt >= this.#minKeyMs;
  }

  /**
   * Encode `frame` if it is newer than the last chunk, or again as an IDR if
   * one is due. Does nothing while an encode runs.
   */
  request(frame: PooledFrame): void {
    if (this.#running || this.#closed) return;
    const newer = !this.last || frame.version > this.last.version;
    const due = this.keyframeDue();
    if (!newer && !due) {
      if (this.#wantKey) this.#retryAt(this.#lastKeyAt + this.#minKeyMs);
      return;
    }
    if (this.#minFrameMs > 0) { // a reduced-rate step: hold the frame rate down
      const next = this.#lastEncodeAt + this.#minFrameMs;
      if (this.#clock.now() < next) {
        this.#retryAt(next);
        return;
      }
    }
    this.#lastEncodeAt = this.#clock.now();
    const keyframe = due;
    this.#running = true;
    frame.refs++;
    const start = performance.now();
    const opening = this.#encoder ??= this.#encoders.open(this.settings);
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
        this.#onBroken(
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
        if (this.#encoders.failing?.(used, err)) {
          // Another kind of encoder takes over from the next frame (an IDR).
          this.#encoder = null;
          used.close().catch(() => {});
          return;
        }
        this.#closed = true;
        this.#onBroken(
          `H.264 encoder ${this.key} failed ${FAILURES_BEFORE_SWITCH} encodes in a row: ${
            (err as Error)?.message ?? err
          }`,
        );
        return;
      }
      this.#log(
        "error",
        `H.264 encoder ${this.key} failed on frame ${frame.version}: ${
          (err as Error)?.message ?? err
        }`,
      );
    }).finally(() => {
      this.#running = false;
      this.#pool.release(frame);
      this.#onIdle();
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
      this.#lastKeyAt = this.#clock.now();
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
    this.#onChunk(this.last);
  }

  /** Look for work again at `at` (ms, clock time). */
  #retryAt(at: number): void {
    if (this.#retry !== null) return;
    const wait = Math.max(0, at - this.#clock.now());
    this.#retry = this.#clock.setTimeout(() => {
      this.#retry = null;
      this.#onIdle();
    }, wait);
  }

  /** Free the encoder (once its open or encode in flight is done) and timers. */
  close(): Promise<void> {
    this.#closed = true;
    if (this.#retry !== null) this.#clock.clearTimeout(this.#retry);
    this.#retry = null;
    const encoder = this.#encoder;
    this.#encoder = null;
    // Wait for an open or an encode in flight: freeing under them crashes.
    return encoder
      ? encoder.then((e) => e.close(), () => {})
      : Promise.resolve();
  }
}
