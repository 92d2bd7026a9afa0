/**
 * Decoder safety: a keyframe gate (after a join, a reset or a decode error,
 * drop delta frames until a keyframe and ask for one) and a stall watchdog
 * (frames queued but nothing displayed for too long). Pure logic on a
 * clock the caller passes in.
 *
 * @module
 */

/**
 * Lets a decoder start only on a keyframe.
 *
 * @example
 * ```ts
 * import { KeyframeGate } from "./gate.ts";
 * const asks: string[] = [];
 * const gate = new KeyframeGate((why) => asks.push(why));
 * gate.admit(false, 0); // false: waiting for a keyframe, one is requested
 * gate.admit(true, 10); // true
 * gate.admit(false, 20); // true: deltas follow the keyframe
 * ```
 */
export class KeyframeGate {
  #waiting = true;
  #lastAsk = -Infinity;
  #request: (reason: string) => void;
  #minAskMs: number;
  /** Frames dropped while waiting. */
  dropped = 0;

  /**
   * @param request called to ask the server for a keyframe
   * @param minAskMs at most one request per this many milliseconds
   */
  constructor(request: (reason: string) => void, minAskMs = 500) {
    this.#request = request;
    this.#minAskMs = minAskMs;
  }

  /** Whether the gate waits for a keyframe. */
  get waiting(): boolean {
    return this.#waiting;
  }

  /** Decide whether a frame may be decoded; `now` in milliseconds. */
  admit(keyframe: boolean, now: number): boolean {
    if (keyframe) {
      this.#waiting = false;
      return true;
    }
    if (!this.#waiting) return true;
    this.dropped++;
    if (now - this.#lastAsk >= this.#minAskMs) {
      this.#lastAsk = now;
      this.#request("waiting for a keyframe");
    }
    return false;
  }

  /** The decoder was reset or failed: wait for a keyframe again. */
  reset(): void {
    this.#waiting = true;
    this.#lastAsk = -Infinity;
  }
}

/**
 * Notices a decoder that holds frames but shows none.
 *
 * @example
 * ```ts
 * import { StallWatchdog } from "./gate.ts";
 * const dog = new StallWatchdog(1000);
 * dog.displayed(0);
 * console.log(dog.stalled(500, 3), dog.stalled(1500, 3), dog.stalled(1500, 0)); // false true false
 * ```
 */
export class StallWatchdog {
  #timeoutMs: number;
  #lastProgress = 0;

  /** @param timeoutMs how long queued frames may go without a display */
  constructor(timeoutMs = 3000) {
    this.#timeoutMs = timeoutMs;
  }

  /** A frame was displayed (or the queue was emptied) at `now`. */
  displayed(now: number): void {
    this.#lastProgress = now;
  }

  /** Whether `queued` frames have waited too long; re-arms when it says so. */
  stalled(now: number, queued: number): boolean {
    if (queued === 0) {
      this.#lastProgress = now;
      return false;
    }
    if (now - this.#lastProgress < this.#timeoutMs) return false;
    this.#lastProgress = now;
    return true;
  }
}
