/**
 * One viewer's figures: frames sent and acknowledged, drops, bytes, the
 * smoothed round trip, the rates over the last second, and the periodic
 * `stats` report sent to the viewer.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import type { StatsMessage } from "../protocol.ts";

/** Per-viewer figures, as `Display.stats()` reports them. */
export interface ViewerStats {
  /** Viewer id. */
  id: number;
  /** Negotiated transport, or null before `config`. */
  transport: string | null;
  /** The MIME type or codec in use. */
  format: string | null;
  /** Frames sent. */
  framesSent: number;
  /** Frames acknowledged. */
  framesAcked: number;
  /** Frames skipped for this viewer (newest wins). */
  dropped: number;
  /** Bytes sent. */
  bytesSent: number;
  /** Unacknowledged frames now. */
  inflight: number;
  /** Smoothed send-to-ack time, ms. */
  rttMs: number;
  /** Frames sent in the last second. */
  fpsSent: number;
  /** Frames acknowledged in the last second. */
  fpsAcked: number;
  /** Bits sent in the last second. */
  bitrateBps: number;
  /** Decode queue the viewer last reported. */
  decodeQueueSize: number;
  /** Bytes its socket holds unsent. */
  bufferedAmount: number;
  /** Adaptive quality step (0 = full), or null when adaptation is off. */
  qualityStep: number | null;
  /** Target bitrate at that step (H.264), or null. */
  targetBitrate: number | null;
  /** Target frame rate at that step, or null. */
  targetFps: number | null;
  /** Image quality at that step (images), or null. */
  targetQuality: number | null;
  /** Fraction of the frame's size images are encoded at for this viewer (1 = full), or null for video. */
  imageScale: number | null;
  /** The measured delivery rate of the viewer's link, bit/s, or null before enough acks. */
  linkBps: number | null;
  /** Bytes sent to this viewer and not yet acknowledged. */
  inflightBytes: number;
  /** The edge server it watches through (`@rfb/core/nats`); absent for this process's own viewers. */
  edge?: string;
  /** Its role (`"control"` or `"view"`), or null before it is admitted. */
  role: "control" | "view" | null;
  /** Whether its input reaches the app now. */
  control: boolean;
  /** Input events dropped because it did not drive. */
  inputDropped: number;
}

/** The counters `SessionMetrics` keeps (a part of `ViewerStats`). */
export type Counters = Pick<
  ViewerStats,
  | "framesSent"
  | "framesAcked"
  | "dropped"
  | "bytesSent"
  | "rttMs"
  | "fpsSent"
  | "fpsAcked"
  | "bitrateBps"
  | "decodeQueueSize"
>;

/**
 * Counters of one viewer, and its periodic report.
 *
 * @example
 * ```ts
 * import { SessionMetrics } from "./metrics.ts";
 * import { systemClock } from "../clock.ts";
 * const m = new SessionMetrics(systemClock);
 * m.sent(1000, 5);
 * m.acked(12, 0);
 * console.log(m.counters().framesAcked); // 1
 * ```
 */
export class SessionMetrics {
  #clock: Clock;
  #framesSent = 0;
  #framesAcked = 0;
  #dropped = 0;
  #bytesSent = 0;
  #rttMs = 0;
  #decodeQueue = 0;
  #encodeMsSum = 0;
  #recentSends: Array<[number, number]> = []; // [time, bytes]
  #recentAcks: number[] = [];
  #timer: TimerHandle | null = null;

  /** Count against this clock. */
  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** A frame of `bytes` went out; its encode took `encodeMs`. */
  sent(bytes: number, encodeMs: number): void {
    const now = this.#clock.now();
    this.#framesSent++;
    this.#bytesSent += bytes;
    this.#encodeMsSum += encodeMs;
    this.#recentSends.push([now, bytes]);
    this.#prune(now);
  }

  /** A frame was acknowledged after `rttMs`; the viewer's decode queue. */
  acked(rttMs: number, decodeQueue: number): void {
    const now = this.#clock.now();
    this.#rttMs = this.#framesAcked === 0
      ? rttMs
      : this.#rttMs * 0.8 + rttMs * 0.2;
    this.#framesAcked++;
    this.#decodeQueue = decodeQueue;
    this.#recentAcks.push(now);
    this.#prune(now);
  }

  /** `n` frames were skipped for this viewer. */
  dropped(n = 1): void {
    this.#dropped += n;
  }

  /** The counters now. */
  counters(): Counters {
    this.#prune(this.#clock.now());
    return {
      framesSent: this.#framesSent,
      framesAcked: this.#framesAcked,
      dropped: this.#dropped,
      bytesSent: this.#bytesSent,
      rttMs: this.#rttMs,
      fpsSent: this.#recentSends.length,
      fpsAcked: this.#recentAcks.length,
      bitrateBps: this.#recentSends.reduce((a, [, b]) => a + b, 0) * 8,
      decodeQueueSize: this.#decodeQueue,
    };
  }

  /**
   * Send `report(stats)` every `seconds` until `stop()`; `stats` gives the
   * viewer's full figures at each tick.
   */
  startReports(
    seconds: number,
    stats: () => ViewerStats,
    report: (msg: StatsMessage) => void,
  ): void {
    this.stop();
    const every = seconds * 1000;
    const tick = () => {
      const s = stats();
      report({
        rtt_ms: round1(s.rttMs),
        fps_sent: round1(s.fpsSent),
        fps_acked: round1(s.fpsAcked),
        bitrate_bps: Math.round(s.bitrateBps),
        encode_ms: s.framesSent ? round1(this.#encodeMsSum / s.framesSent) : 0,
        decode_queue_size: s.decodeQueueSize,
        dropped: s.dropped,
        target_bitrate: s.targetBitrate ?? undefined,
        target_fps: s.targetFps ?? undefined,
        link_bps: s.linkBps === null ? undefined : Math.round(s.linkBps),
        quality_step: s.qualityStep ?? undefined,
      });
      this.#timer = this.#clock.setTimeout(tick, every);
    };
    this.#timer = this.#clock.setTimeout(tick, every);
  }

  /** Stop the periodic report. */
  stop(): void {
    if (this.#timer !== null) this.#clock.clearTimeout(this.#timer);
    this.#timer = null;
  }

  /** Forget send and ack times older than one second (they feed the rates). */
  #prune(now: number): void {
    const since = now - 1000;
    while (this.#recentSends.length && this.#recentSends[0][0] < since) {
      this.#recentSends.shift();
    }
    while (this.#recentAcks.length && this.#recentAcks[0] < since) {
      this.#recentAcks.shift();
    }
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
