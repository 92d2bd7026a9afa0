/**
 * Viewers who watch a stream through other servers (edge servers relaying
 * it through NATS, `src/nats/`): the one place where the render host keeps
 * them. Each gets a viewer id from the host's own counter, so ids are
 * unique across the site; it keeps who the edge's `authenticate` hook said
 * it is (name, role, and what the hook returned), its figures, and its own
 * input rate limit. An edge reports its viewers again every few seconds:
 * one it stops reporting (a dead edge) is forgotten once its report
 * expires.
 *
 * Each is a member of the stream's desk (`Presence`) like a viewer of the
 * host's own, so roles and control hold across the site: the desk decides
 * whether its input reaches the app (input from a viewer that does not
 * drive is dropped here and counted), its requests for control go to the
 * desk, and the desk's `presence` and `control` messages for it go back to
 * its edge (`send`).
 *
 * @module
 */

import type { Clock } from "../clock.ts";
import type { Role } from "../session/identity.ts";
import type { ViewerStats } from "../session/metrics.ts";
import type { PresenceMember } from "../session/types.ts";
import type { StreamDesk } from "./presence.ts";
import { newViewerId } from "./viewer_ids.ts";

/** Who an edge says its viewer is (from the edge's `authenticate` hook). */
export interface RemoteIdentity {
  /** The name the hook gave, or null. */
  name: string | null;
  /** Its role, as the edge decided it (hook, or the edge's `defaultRole`). */
  role: Role;
  /** What the hook returned, as JSON, or undefined. */
  user: unknown;
  /** Its transport at the edge. */
  transport: "image" | "webcodecs" | null;
}

/** A viewer at another server. */
export interface RemoteViewer extends PresenceMember {
  /** Its id on this host (as in events' `viewer`). */
  readonly id: number;
  /** The server it watches through. */
  readonly edge: string;
  /** Its id at that server. */
  readonly local: number;
  /** Who it is. */
  identity: RemoteIdentity;
  /** Its figures, as last reported. */
  stats: ViewerStats | null;
  /** Until when the last report holds (clock ms). */
  expires: number;
  /** Input tokens left (`maxEventRate` a second, bursts of twice that). */
  tokens: number;
  /** When the tokens were last refilled (clock ms). */
  refill: number;
  /** Input events dropped because it did not drive. */
  inputDropped: number;
}

/** How to make `RemoteViewers`. */
export interface RemoteViewersOptions {
  /** Time source. */
  clock: Clock;
  /** Input events a second one viewer may send. */
  maxEventRate: () => number;
  /** The stream's desk: who watches, who drives. */
  desk: StreamDesk;
}

/** What became of an input event from a viewer at an edge. */
export type RemoteInput = "pass" | "rate" | "dropped";

/**
 * The viewers of a stream at other servers.
 *
 * @example
 * ```ts ignore
 * const remote = new RemoteViewers({ clock, maxEventRate: () => 240, desk: hub.presence });
 * remote.attach((edge, local, text) => publishDown(edge, local, text));
 * const v = remote.report("edge1", 3, { name: "Ada", role: "view", user: undefined, transport: "image" }, 5000);
 * console.log(remote.input(v, false)); // "dropped": a view-role viewer does not drive
 * ```
 */
export class RemoteViewers {
  #o: RemoteViewersOptions;
  #byKey = new Map<string, RemoteViewer>();
  #send: (edge: string, local: number, text: string) => void = () => {};
  #inputDropped = 0;

  /** @param o the clock, the input rate, and the stream's desk */
  constructor(o: RemoteViewersOptions) {
    this.#o = o;
  }

  /** Viewers watching through other servers now. */
  get count(): number {
    this.expire();
    return this.#byKey.size;
  }

  /** Input events from viewers at edges dropped because they did not drive (all of them, ever). */
  get inputDropped(): number {
    return this.#inputDropped;
  }

  /** Where the desk's messages for a viewer at an edge go (its edge). */
  attach(send: (edge: string, local: number, text: string) => void): void {
    this.#send = send;
  }

  /**
   * A server reports a viewer (it joined, or it is still there), valid for
   * `ttlMs`; a viewer new here joins the desk with `identity` (a viewer
   * reported without one is not admitted). `stats` replaces what was known.
   */
  report(
    edge: string,
    local: number,
    identity: RemoteIdentity | undefined,
    ttlMs: number,
    stats?: ViewerStats,
  ): RemoteViewer | undefined {
    const key = `${edge}:${local}`;
    const now = this.#o.clock.now();
    let v = this.#byKey.get(key);
    if (!v) {
      if (!identity) return undefined;
      const member: RemoteViewer = {
        id: newViewerId(),
        edge,
        local,
        identity: { ...identity },
        get transport() {
          return member.identity.transport;
        },
        notify: (text) => this.#send(edge, local, text),
        stats: null,
        expires: 0,
        tokens: this.#o.maxEventRate() * 2,
        refill: now,
        inputDropped: 0,
      };
      v = member;
      this.#byKey.set(key, v);
      const { name, role, user } = identity;
      this.#o.desk.join(v, { name, role, user });
    }
    if (stats) {
      v.stats = stats;
      const t = stats.transport;
      if (t === "image" || t === "webcodecs") v.identity.transport = t;
    }
    v.expires = Math.max(v.expires, now + ttlMs);
    return v;
  }

  /** The viewer `local` of `edge`, if known and not expired. */
  find(edge: string, local: number): RemoteViewer | undefined {
    const v = this.#byKey.get(`${edge}:${local}`);
    if (!v || v.expires < this.#o.clock.now()) return undefined;
    return v;
  }

  /** The viewer left. */
  remove(edge: string, local: number): void {
    const key = `${edge}:${local}`;
    const v = this.#byKey.get(key);
    if (!v) return;
    this.#byKey.delete(key);
    this.#o.desk.leave(v);
  }

  /**
   * An input event of `v` arrived (`resize`: a report of its view's size):
   * `"pass"` when it may reach the app, `"rate"` when over its rate limit,
   * `"dropped"` when it does not drive (counted; a resize is not).
   */
  input(v: RemoteViewer, resize: boolean): RemoteInput {
    const rate = this.#o.maxEventRate();
    const now = this.#o.clock.now();
    v.tokens = Math.min(rate * 2, v.tokens + (now - v.refill) * rate / 1000);
    v.refill = now;
    if (v.tokens < 1) return "rate";
    v.tokens -= 1;
    // A driver's view size reaches the app, not counted as input, nor as
    // activity (as for the host's own viewers).
    if (resize) return this.#o.desk.drives(v) ? "pass" : "dropped";
    if (this.#o.desk.input(v)) return "pass";
    v.inputDropped++;
    this.#inputDropped++;
    return "dropped";
  }

  /** It asks for control (the desk decides). */
  request(v: RemoteViewer): void {
    this.#o.desk.request(v);
  }

  /** It gives control up (to viewer `to`), or withdraws its request. */
  release(v: RemoteViewer, to?: number): void {
    this.#o.desk.release(v, to);
  }

  /** Every viewer at other servers, oldest first. */
  list(): RemoteViewer[] {
    this.expire();
    return [...this.#byKey.values()];
  }

  /** Their figures, as last reported, with their role and standing here. */
  stats(): ViewerStats[] {
    return this.list().map((v) => ({
      ...(v.stats ?? blankStats(v)),
      id: v.id,
      edge: v.edge,
      role: v.identity.role,
      control: this.#o.desk.drives(v),
      inputDropped: v.inputDropped,
    }));
  }

  /** Forget viewers whose last report expired (a dead edge). */
  expire(): void {
    const now = this.#o.clock.now();
    for (const [k, v] of this.#byKey) {
      if (v.expires >= now) continue;
      this.#byKey.delete(k);
      this.#o.desk.leave(v);
    }
  }

  /** Forget everyone (the link to the edges closed). */
  clear(): void {
    const all = [...this.#byKey.values()];
    this.#byKey.clear();
    for (const v of all) this.#o.desk.leave(v);
    this.#send = () => {};
  }
}

function blankStats(v: RemoteViewer): ViewerStats {
  return {
    id: v.id,
    edge: v.edge,
    transport: v.identity.transport,
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
    role: v.identity.role,
    control: false,
    inputDropped: 0,
  };
}
