/**
 * The view's figures: frames shown and dropped, the publish → display
 * latency, the bytes received, and the server's last `stats`, summed up as
 * the page's {@linkcode ViewStats}.
 *
 * @module
 */

import type { ConfigMessage, StatsMessage } from "../../src/protocol.ts";
import type { FrameInfo, ViewStats } from "../messages.ts";

/** What the figures need from the rest of the worker for a summary. */
export interface StatsContext {
  /** Frames waiting to be decoded, on either path. */
  queued: number;
  /** Frames the keyframe gate dropped. */
  gateDropped: number;
  /** The server's `config`, while negotiated. */
  config: ConfigMessage | null;
}

/**
 * Counters and one-second windows for the view's stats. Times are
 * `performance.now()` milliseconds.
 *
 * @example
 * ```ts
 * import { Figures } from "./figures.ts";
 * const figures = new Figures();
 * figures.received(0, 1000);
 * figures.displayed(5, 1, null, 0, 2);
 * figures.stats(10, { queued: 0, gateDropped: 0, config: null }).fps; // 1
 * ```
 */
export class Figures {
  #dropped = 0;
  #frames = 0;
  #latencyMs = 0;
  #lastStamp = 0;
  #firstAfterConfig = true;
  #server: StatsMessage | null = null;
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
    let lat: number | null = null;
    // Latency is publish → display of new pictures: not of a resting frame
    // sent again (a still, a keyframe for someone else) nor of the picture a
    // viewer is first shown on joining, whose publish time may be long ago.
    const fresh = stampUs !== null && stampUs > this.#lastStamp &&
      !this.#firstAfterConfig;
    this.#firstAfterConfig = false;
    if (stampUs !== null) this.#lastStamp = Math.max(this.#lastStamp, stampUs);
    if (fresh && stampUs !== null) {
      lat = at - stampUs / 1000;
      if (lat > -1000 && lat < 60_000) {
        this.#latencyMs = this.#latencyMs === 0
          ? lat
          : this.#latencyMs * 0.8 + lat * 0.2;
      }
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
    while (shown.length && shown[0] < now - 1000) shown.shift();
    while (received.length && received[0][0] < now - 1000) received.shift();
    const config = ctx.config;
    return {
      fps: shown.length,
      dropped: this.#dropped + ctx.gateDropped,
      serverDropped: this.#server?.dropped ?? 0,
      decodeQueue: ctx.queued,
      latencyMs: this.#latencyMs,
      bitrateBps: received.reduce((a, [, b]) => a + b, 0) * 8,
      transport: config?.transport ?? null,
      format: config ? (config.codec ?? config.mime ?? null) : null,
      width: config?.width ?? 0,
      height: config?.height ?? 0,
      frames: this.#frames,
      server: this.#server,
    };
  }
}
