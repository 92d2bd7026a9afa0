/**
 * What one viewer's connection can carry, measured from its acks: the bytes
 * in flight (sent, not yet acknowledged) and the delivery rate while the
 * link had something to carry. Each ack settles the frames up to its `seq`;
 * the time those bytes took is counted from when the link started on them
 * (they were sent, or the previous frame arrived, whichever is later) to
 * when they arrived (the ack's time, minus the `held_ms` the viewer says it
 * held the frame before acking: decode and draw are not the network's).
 * Idle stretches never count, so a viewer whose stream is far below its
 * link's rate is not taken for a slow one.
 *
 * @module
 */

/** How long samples count toward the estimate, ms. */
const WINDOW_MS = 1000;
/** At least this many samples are kept, however old. */
const MIN_SAMPLES = 3;
/** A sample's time is at least this, ms (timer granularity). */
const MIN_SPAN_MS = 1;

/** One settled stretch: bytes delivered and the link time they took. */
interface Sample {
  at: number;
  bytes: number;
  ms: number;
}

/**
 * Bytes in flight and the delivery rate of one viewer's link.
 *
 * @example
 * ```ts
 * import { LinkMeter } from "./link.ts";
 * const link = new LinkMeter();
 * link.sent(1, 125_000, 0);   // 1 Mbit
 * link.sent(2, 125_000, 0);
 * link.acked(1, 500, 0);      // arrived after 500 ms: 2 Mbit/s
 * link.acked(2, 1000, 0);
 * console.log(Math.round(link.rateBps()!)); // 2000000
 * console.log(link.inflightBytes); // 0
 * ```
 */
export class LinkMeter {
  #inflight = new Map<number, { bytes: number; at: number }>(); // seq → sent
  #inflightBytes = 0;
  #lastArrival = -Infinity;
  #samples: Sample[] = [];
  #sumBytes = 0;
  #sumMs = 0;
  #last: Sample | null = null;

  /** Bytes sent and not yet acknowledged. */
  get inflightBytes(): number {
    return this.#inflightBytes;
  }

  /** A frame of `bytes` went out as `seq` at `now` (ms). */
  sent(seq: number, bytes: number, now: number): void {
    this.#inflight.set(seq, { bytes, at: now });
    this.#inflightBytes += bytes;
  }

  /**
   * The viewer acknowledged `seq` (and everything before it) at `now`,
   * having held it `heldMs` after it arrived (0 when it does not say).
   * Returns the bytes that settled.
   */
  acked(seq: number, now: number, heldMs: number): number {
    let bytes = 0;
    let firstSent = Infinity;
    for (const [s, f] of this.#inflight) {
      if (s > seq) break;
      bytes += f.bytes;
      firstSent = Math.min(firstSent, f.at);
      this.#inflight.delete(s);
    }
    if (bytes === 0) return 0;
    this.#inflightBytes -= bytes;
    const held = Number.isFinite(heldMs) ? Math.max(0, heldMs) : 0;
    // The frame cannot have arrived before it was sent.
    const arrival = Math.max(now - held, firstSent);
    const start = Math.max(firstSent, this.#lastArrival);
    this.#lastArrival = arrival;
    this.#add({ at: now, bytes, ms: Math.max(MIN_SPAN_MS, arrival - start) });
    return bytes;
  }

  /** Forget what is in flight (the window was cleared); the rate stays. */
  clear(): void {
    this.#inflight.clear();
    this.#inflightBytes = 0;
  }

  /** The delivery rate over the last second, bits per second; null before any ack. */
  rateBps(now?: number): number | null {
    if (now !== undefined) this.#prune(now);
    if (this.#sumMs <= 0) return null;
    return this.#sumBytes * 8 * 1000 / this.#sumMs;
  }

  /** How long the bytes in flight take to drain at the measured rate, ms (0 when unknown). */
  drainMs(extraBytes = 0): number {
    const rate = this.rateBps();
    if (!rate) return 0;
    return (this.#inflightBytes + extraBytes) * 8 * 1000 / rate;
  }

  /** The delivery rate of what the last ack settled alone, bit/s; null before any. */
  lastRateBps(): number | null {
    return this.#last ? this.#last.bytes * 8 * 1000 / this.#last.ms : null;
  }

  /**
   * Whether `bytes` more may go out now: always when nothing is in flight,
   * else only if all of it would drain within `maxMs` at the measured rate
   * (unknown rate: yes).
   */
  roomFor(bytes: number, maxMs: number): boolean {
    return this.#inflightBytes === 0 || this.drainMs(bytes) <= maxMs;
  }

  #add(s: Sample): void {
    this.#last = s;
    this.#samples.push(s);
    this.#sumBytes += s.bytes;
    this.#sumMs += s.ms;
    this.#prune(s.at);
  }

  #prune(now: number): void {
    const since = now - WINDOW_MS;
    while (
      this.#samples.length > MIN_SAMPLES && this.#samples[0].at < since
    ) {
      const old = this.#samples.shift()!;
      this.#sumBytes -= old.bytes;
      this.#sumMs -= old.ms;
    }
  }
}

/**
 * Watches a viewer's socket buffer: over `maxBytes` unsent, frames to it
 * are skipped (memory stays bounded); over it for `timeoutS` without a
 * break, the viewer stopped reading.
 *
 * @example
 * ```ts
 * import { BufferWatch } from "./link.ts";
 * const watch = new BufferWatch();
 * console.log(watch.check(0, 100, 50, 10)); // "over"
 * console.log(watch.check(10_000, 100, 50, 10)); // "stuck"
 * ```
 */
export class BufferWatch {
  #since: number | null = null;

  /** `buffered` bytes unsent at `now` (ms): under the limit, over it, or over it for too long. */
  check(
    now: number,
    buffered: number,
    maxBytes: number,
    timeoutS: number,
  ): "ok" | "over" | "stuck" {
    if (buffered <= maxBytes) {
      this.#since = null;
      return "ok";
    }
    this.#since ??= now;
    return now - this.#since >= timeoutS * 1000 ? "stuck" : "over";
  }
}
