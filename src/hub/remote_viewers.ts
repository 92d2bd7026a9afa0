/**
 * Viewers who watch a stream through other servers (edge servers relaying
 * it through NATS, `src/nats/`): the one place where the render host keeps
 * them. Each gets a viewer id from the host's own counter, so ids are
 * unique across the site; it keeps what the edge's `authenticate` hook
 * returned for it, its figures, and its own input rate limit. An edge
 * reports its viewers again every few seconds: one it stops reporting
 * (a dead edge) is forgotten once its report expires.
 *
 * Roles and control (who may drive) are decided where a viewer's input
 * arrives on the host: `input()` here, for viewers at edges.
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { ViewerStats } from "../session/metrics.ts";
import { newViewerId } from "./viewer_ids.ts";

/** A viewer at another server. */
export interface RemoteViewer {
  /** Its id on this host (as in events' `viewer`). */
  readonly id: number;
  /** The server it watches through. */
  readonly edge: string;
  /** Its id at that server. */
  readonly local: number;
  /** What that server's `authenticate` hook returned for it (as JSON), or undefined. */
  user: unknown;
  /** Its figures, as last reported. */
  stats: ViewerStats | null;
  /** Until when the last report holds (clock ms). */
  expires: number;
  /** Input tokens left (`maxEventRate` a second, bursts of twice that). */
  tokens: number;
  /** When the tokens were last refilled (clock ms). */
  refill: number;
}

/**
 * The viewers of a stream at other servers.
 *
 * @example
 * ```ts
 * import { RemoteViewers } from "./remote_viewers.ts";
 * import { systemClock } from "../clock.ts";
 * const remote = new RemoteViewers(systemClock, () => 240);
 * const v = remote.report("edge1", 3, { name: "Ada" }, 5000);
 * console.log(remote.count, v.id > 0); // 1 true
 * ```
 */
export class RemoteViewers {
  #clock: Clock;
  #rate: () => number;
  #byKey = new Map<string, RemoteViewer>();

  /**
   * @param clock time source
   * @param maxEventRate input events a second one viewer may send
   */
  constructor(clock: Clock, maxEventRate: () => number) {
    this.#clock = clock;
    this.#rate = maxEventRate;
  }

  /** Viewers watching through other servers now. */
  get count(): number {
    this.#expire();
    return this.#byKey.size;
  }

  /**
   * A server reports a viewer (it joined, or it is still there), valid for
   * `ttlMs`; `user` and `stats` replace what was known when given.
   */
  report(
    edge: string,
    local: number,
    user: unknown,
    ttlMs: number,
    stats?: ViewerStats,
  ): RemoteViewer {
    const key = `${edge}:${local}`;
    const now = this.#clock.now();
    let v = this.#byKey.get(key);
    if (!v) {
      v = {
        id: newViewerId(),
        edge,
        local,
        user,
        stats: null,
        expires: 0,
        tokens: this.#rate() * 2,
        refill: now,
      };
      this.#byKey.set(key, v);
    }
    if (user !== undefined) v.user = user;
    if (stats) v.stats = { ...stats, id: v.id, edge };
    v.expires = Math.max(v.expires, now + ttlMs);
    return v;
  }

  /** The viewer `local` of `edge`, if known and not expired. */
  find(edge: string, local: number): RemoteViewer | undefined {
    const v = this.#byKey.get(`${edge}:${local}`);
    if (!v || v.expires < this.#clock.now()) return undefined;
    return v;
  }

  /** The viewer left. */
  remove(edge: string, local: number): void {
    this.#byKey.delete(`${edge}:${local}`);
  }

  /**
   * An input event of `v` arrived: whether it may pass (its rate limit, and
   * the place where who-may-drive is decided for viewers at edges).
   */
  input(v: RemoteViewer): boolean {
    const rate = this.#rate();
    const now = this.#clock.now();
    v.tokens = Math.min(rate * 2, v.tokens + (now - v.refill) * rate / 1000);
    v.refill = now;
    if (v.tokens < 1) return false;
    v.tokens -= 1;
    return true;
  }

  /** Every viewer at other servers, oldest first. */
  list(): RemoteViewer[] {
    this.#expire();
    return [...this.#byKey.values()];
  }

  /** Their figures, as last reported (a viewer not yet reported shows zeros). */
  stats(): ViewerStats[] {
    return this.list().map((v) => v.stats ?? blankStats(v));
  }

  /** Forget everyone (the link to the edges closed). */
  clear(): void {
    this.#byKey.clear();
  }

  #expire(): void {
    const now = this.#clock.now();
    for (const [k, v] of this.#byKey) {
      if (v.expires < now) this.#byKey.delete(k);
    }
  }
}

function blankStats(v: RemoteViewer): ViewerStats {
  return {
    id: v.id,
    edge: v.edge,
    transport: null,
    format: null,
    framesSent: 0,
    framesAcked: 0,
    dropped: 0,
    bytesSent: 0,
    inflight: 0,
    rttMs: 0,
    fpsSent: 0,
    fpsAcked: 0,
    bitrateBps: 0,
    decodeQueueSize: 0,
    bufferedAmount: 0,
    qualityStep: null,
    targetBitrate: null,
    targetFps: null,
    targetQuality: null,
    imageScale: null,
    linkBps: null,
    inflightBytes: 0,
    role: null,
    control: false,
    inputDropped: 0,
  };
}
