/**
 * Adaptive quality, per viewer (opt-in with `adaptive: true`). From each
 * ack's round trip and the viewer's decode queue, a controller walks down a
 * ladder (lower bitrate first, then frame rate) when the viewer falls
 * behind, and back up one step at a time after a long healthy stretch.
 * Viewers on the same step share an encoder, so encode-once still holds
 * within a step.
 *
 * @module
 */

/** One step of the ladder, as fractions of the display's bitrate and frame rate. */
export interface QualityStep {
  /** Fraction of the configured bitrate (H.264) or quality (images). */
  bitrate: number;
  /** Fraction of the configured frame rate. */
  fps: number;
}

/** Bitrate first, then frame rate. Step 0 is full quality. */
export const LADDER: readonly QualityStep[] = [
  { bitrate: 1, fps: 1 },
  { bitrate: 0.6, fps: 1 },
  { bitrate: 0.35, fps: 1 },
  { bitrate: 0.35, fps: 0.5 },
  { bitrate: 0.2, fps: 1 / 3 },
];

/** Tuning for `AdaptiveController`. */
export interface AdaptiveTuning {
  /** Congestion must last this long before a step down, ms. Default 400. */
  downAfterMs?: number;
  /** Health must last this long before a step up, ms. Default 5000. */
  upAfterMs?: number;
  /** A decode queue this long counts as congestion. Default 3. */
  maxDecodeQueue?: number;
}

/**
 * Decides a viewer's quality step from its acks.
 *
 * @example
 * ```ts
 * import { AdaptiveController } from "./adaptive.ts";
 * const c = new AdaptiveController();
 * c.observe(0, 5, 0);     // a fast ack sets the baseline
 * c.observe(100, 300, 4); // congestion starts
 * console.log(c.observe(600, 300, 4)); // 1: one step down
 * ```
 */
export class AdaptiveController {
  /** The current step (0 = full quality). */
  step = 0;
  #minRtt = Infinity;
  #badSince: number | null = null;
  #goodSince: number | null = null;
  #lastChange = -Infinity;
  #down: number;
  #up: number;
  #maxQueue: number;

  /** @param tuning thresholds and delays */
  constructor(tuning: AdaptiveTuning = {}) {
    this.#down = tuning.downAfterMs ?? 400;
    this.#up = tuning.upAfterMs ?? 5000;
    this.#maxQueue = tuning.maxDecodeQueue ?? 3;
  }

  /**
   * Feed one ack (`now` and `rttMs` in ms); returns the new step when it
   * changes, else null.
   */
  observe(now: number, rttMs: number, decodeQueue: number): number | null {
    this.#minRtt = Math.min(this.#minRtt, rttMs);
    const base = this.#minRtt;
    const congested = rttMs > base * 2 + 40 || decodeQueue >= this.#maxQueue;
    const healthy = rttMs <= base * 1.5 + 20 && decodeQueue <= 1;
    if (congested) {
      this.#goodSince = null;
      this.#badSince ??= now;
      if (
        now - this.#badSince >= this.#down &&
        now - this.#lastChange >= this.#down &&
        this.step < LADDER.length - 1
      ) {
        return this.#set(this.step + 1, now);
      }
    } else {
      this.#badSince = null;
      if (!healthy) {
        this.#goodSince = null;
        return null;
      }
      this.#goodSince ??= now;
      if (
        now - this.#goodSince >= this.#up &&
        now - this.#lastChange >= this.#up && this.step > 0
      ) {
        this.#goodSince = now; // one step per healthy stretch: recover slowly
        return this.#set(this.step - 1, now);
      }
    }
    return null;
  }

  /** A viewer that stopped acking entirely (inflight timeout): step down now. */
  stalled(now: number): number | null {
    if (this.step >= LADDER.length - 1) return null;
    this.#goodSince = null;
    return this.#set(this.step + 1, now);
  }

  #set(step: number, now: number): number {
    this.step = step;
    this.#lastChange = now;
    return step;
  }
}
