/**
 * The view's figures: frames shown and dropped, the publish → display
 * latency, the bytes received, and the server's last `stats`, summed up as
 * the page's {@linkcode ViewStats}.
 *
 * @module
 */

import type {
  ConfigMessage,
  SetQualityMessage,
  StatsMessage,
} from "../../src/protocol.ts";
import type { FrameInfo, ReducedStream, ViewStats } from "../messages.ts";

/** What the figures need from the rest of the worker for a summary. */
export interface StatsContext {
  /** Frames waiting to be decoded, on either path. */
  queued: number;
  /** Frames the keyframe gate dropped. */
  gateDropped: number;
  /** The server's `config`, while negotiated. */
  config: ConfigMessage | null;
}

/** The window fps, bitrate and latency are measured over, ms. */
const WINDOW_MS = 1000;
/** A stamp further than this from the page's clock is not on it, ms. */
const MAX_SKEW_MS = 60_000;

/**
 * The publish → display latency of a frame stamped `stampUs` (microseconds
 * since the epoch on the server's clock) and shown at `displayedAt` (ms since
 * the epoch on this machine's), or null when the stamp cannot be on this
 * clock: negative, not finite, or more than a minute off (a server that
 * stamps frames with seconds since its start, as pdum.rfb does, would
 * otherwise read as 56 years of latency). A small negative latency is kept:
 * it is two machines' clocks disagreeing a little.
 *
 * @example
 * ```ts
 * import { latencyOf } from "./figures.ts";
 * latencyOf(1_700_000_000_000_000, 1_700_000_000_012); // 12
 * latencyOf(12.5, 1_700_000_000_012); // null: seconds since a start
 * ```
 */
export function latencyOf(stampUs: number, displayedAt: number): number | null {
  if (!Number.isFinite(stampUs) || stampUs < 0) return null;
  const ms = displayedAt - stampUs / 1000;
  return Math.abs(ms) <= MAX_SKEW_MS ? ms : null;
}

/**
 * Counters and one-second windows for the view's stats. Times are
 * `performance.now()` milliseconds. The latency is smoothed over the frames
 * measured, and null in a second with none (a resting stream, or stamps
 * that are not on this clock).
 *
 * @example
 * ```ts
 * import { Figures } from "./figures.ts";
 * const figures = new Figures();
 * figures.received(0, 1000);
 * figures.displayed(5, 1, null, 0, 2);
 * const stats = figures.stats(10, { queued: 0, gateDropped: 0, config: null });
 * stats.fps; // 1
 * stats.latencyMs; // null: the frame had no stamp
 * ```
 */
export class Figures {
  #dropped = 0;
  #frames = 0;
  /** Smoothed latency, ms, or null before the first measure. */
  #latencyMs: number | null = null;
  /** When the latency was last measured (`performance.now()` ms). */
  #latencyAt = -Infinity;
  #lastStamp = 0;
  #firstAfterConfig = true;
  #server: StatsMessage | null = null;
  #reduced: ReducedStream | null = null;
  #shown: number[] = [];
  #received: Array<[number, number]> = [];

  /** A message of `bytes` arrived at `now`. */
  received(now: number, bytes: number): void {
    this.#received.push([now, bytes]);
  }

  /** Count `count` frames received that will not be shown. */
  dropped(count: number): void {
    this.#dropped += count;
  }

  /** A new `config`: the next picture shown is a first one (no latency from it). */
  configured(): void {
    this.#firstAfterConfig = true;
  }

  /** The server's `stats` message arrived. */
  server(stats: StatsMessage): void {
    this.#server = stats;
  }

  /** The server's `set_quality` arrived: note whether the stream is reduced, and how. */
  quality(q: SetQualityMessage): void {
    const num = (v: unknown) =>
      typeof v === "number" && Number.isFinite(v) ? v : null;
    const step = num(q.step);
    this.#reduced = q.reduced === true && step !== null && step > 0
      ? {
        step,
        fps: num(q.fps),
        bitrate: num(q.bitrate),
        quality: num(q.quality),
        scale: num(q.scale),
      }
      : null;
  }

  /** A frame was drawn at `now`: count it and describe it for the page. */
  displayed(
    now: number,
    seq: number,
    stampUs: number | null,
    receivedMs: number,
    decodedMs: number,
  ): FrameInfo {
    this.#frames++;
    this.#shown.push(now);
    const at = performance.timeOrigin + now;
    const lat = stampUs === null ? null : latencyOf(stampUs, at);
    // The smoothed latency is publish → display of new pictures: not of a
    // resting frame sent again (a still, a keyframe for someone else) nor of
    // the picture a viewer is first shown on joining, whose publish time may
    // be long ago.
    const fresh = stampUs !== null && stampUs > this.#lastStamp &&
      !this.#firstAfterConfig;
    this.#firstAfterConfig = false;
    if (stampUs !== null) this.#lastStamp = Math.max(this.#lastStamp, stampUs);
    if (fresh && lat !== null) {
      // After a quiet second the average starts again from this frame.
      this.#latencyMs = this.#latencyMs === null ||
          now - this.#latencyAt > WINDOW_MS
        ? lat
        : this.#latencyMs * 0.8 + lat * 0.2;
      this.#latencyAt = now;
    }
    return {
      seq,
      timestampUs: stampUs,
      receivedAt: performance.timeOrigin + receivedMs,
      decodedAt: performance.timeOrigin + decodedMs,
      displayedAt: at,
      latencyMs: lat,
    };
  }

  /** The figures at `now`, over the last second. */
  stats(now: number, ctx: StatsContext): ViewStats {
    const shown = this.#shown, received = this.#received;
    while (shown.length && shown[0] < now - WINDOW_MS) shown.shift();
    while (received.length && received[0][0] < now - WINDOW_MS) {
      received.shift();
    }
    const config = ctx.config;
    return {
      fps: shown.length,
      dropped: this.#dropped + ctx.gateDropped,
      serverDropped: this.#server?.dropped ?? 0,
      decodeQueue: ctx.queued,
      latencyMs: now - this.#latencyAt <= WINDOW_MS ? this.#latencyMs : null,
      bitrateBps: received.reduce((a, [, b]) => a + b, 0) * 8,
      transport: config?.transport ?? null,
      format: config ? (config.codec ?? config.mime ?? null) : null,
      width: config?.width ?? 0,
      height: config?.height ?? 0,
      frames: this.#frames,
      server: this.#server,
      reduced: this.#reduced,
    };
  }
}
