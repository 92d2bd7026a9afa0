/**
 * Who watches one stream and who may drive it: the stream's `ControlDesk`.
 * It keeps the admitted viewers (with their names and roles), applies the
 * `control` mode (`"shared"`, `"exclusive"`, `"none"`), runs the hand-over
 * of exclusive control (requests, the app's grants, the idle hand-off after
 * `controlIdle` seconds, release, a driver that leaves), and tells viewers
 * what changed: one `presence` message to all and a `control` message to
 * each viewer whose own standing changed, at most every 250 ms however
 * often things change. Viewers at edge servers (`src/nats/`) are members
 * like the host's own: the one desk decides for the whole site.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import type { DisplayEvent } from "../events.ts";
import type { ResolvedDisplayOptions } from "../options.ts";
import {
  controlMessage,
  presenceMessage,
  type PresenceViewer,
} from "../protocol.ts";
import type { ControlMode, Role, ViewerIdentity } from "../session/identity.ts";
import type { ControlDesk, PresenceMember } from "../session/types.ts";

/** The least time between two rounds of `presence`/`control` messages, ms. */
export const PRESENCE_EVERY_MS = 250;
/** The least time between two `control_request` events from one viewer, ms. */
const REQUEST_EVENT_EVERY_MS = 1000;
/** Viewers listed by name in one `presence` message (drivers, and requests). */
const LISTED = 8;
/** The longest name sent to viewers. */
const SENT_NAME = 64;

/** One viewer of a display, as `Display.presence()` lists it. */
export interface ViewerPresence {
  /** The viewer's id (as in events' `viewer`, and for `grantControl`). */
  id: number;
  /** Its name, when the `authenticate` hook gave one. */
  name: string | null;
  /** Its role: `"control"` may drive, `"view"` only watches. */
  role: Role;
  /** Its transport. */
  transport: "image" | "webcodecs" | null;
  /** When it joined, milliseconds since the epoch. */
  since: number;
  /** Whether its input reaches the app now. */
  control: boolean;
  /** Whether it asked for control and waits. */
  requested: boolean;
  /** What the `authenticate` hook returned for it, as given. */
  user: unknown;
  /** The edge server it watches through (`@rfb/core/nats`); absent for this process's own viewers. */
  edge?: string;
}

/**
 * The desk a hub keeps: what sessions ask (`ControlDesk`), what the app
 * asks through `Display`, and the hub's own calls. `Presence` decides; an
 * edge server's desk (`src/nats/edge_desk.ts`) passes it all to its host.
 */
export interface StreamDesk extends ControlDesk {
  /** A viewer left. */
  leave(member: PresenceMember): void;
  /** The app gives exclusive control to viewer `id` (false: no such viewer). */
  grant(id: number): boolean;
  /** The app takes exclusive control back. */
  takeBack(): void;
  /** The `control` or `controlIdle` setting changed. */
  retune(): void;
  /** The viewers, in the order they joined. */
  list(): ViewerPresence[];
  /** Send `text` to every viewer, or to viewer `id` only; returns how many it went to. */
  send(text: string, id?: number): number;
  /** Stop the timers; the viewers are going. */
  close(): void;
}

/** How to make a `Presence`. */
export interface PresenceOptions {
  /** The stream's settings, read live (`control`, `controlIdle`, `presence`). */
  options: ResolvedDisplayOptions;
  /** Where `control_request` events go (the app's queue). */
  input: (ev: DisplayEvent) => void;
}

interface Entry {
  member: PresenceMember;
  identity: ViewerIdentity;
  /** Joined, epoch ms. */
  since: number;
  /** Its last input, or when it got control (clock ms). */
  lastInput: number;
  /** When it asked for control, or null. */
  requested: number | null;
  /** When its last `control_request` event went to the app (clock ms). */
  lastRequestEvent: number;
  /** The last `control` message sent to it. */
  sent: string | null;
}

/**
 * A stream's viewers and who drives.
 *
 * @example
 * ```ts ignore
 * const presence = new Presence({ options, input: (ev) => queue.push(ev) });
 * presence.join(session, { name: "Ada", role: "control", user });
 * if (presence.input(session)) app.push(event);
 * ```
 */
export class Presence implements StreamDesk {
  #options: ResolvedDisplayOptions;
  #clock: Clock;
  #input: (ev: DisplayEvent) => void;
  #entries = new Map<PresenceMember, Entry>(); // join order
  /** Who holds exclusive control: a viewer, the app (taken back), or nobody. */
  #holder: Entry | "app" | null = null;
  /** Viewers waiting for control, oldest first. */
  #requests: Entry[] = [];
  #mode: ControlMode;
  #idleTimer: TimerHandle | null = null;
  #flushTimer: TimerHandle | null = null;
  #flushQueued = false;
  #lastFlush = -Infinity;
  #closed = false;

  /** A desk for one stream. */
  constructor(o: PresenceOptions) {
    this.#options = o.options;
    this.#clock = o.options.clock;
    this.#input = o.input;
    this.#mode = o.options.control;
  }

  /** Viewers that drive now. */
  get driving(): number {
    let n = 0;
    for (const e of this.#entries.values()) if (this.#drives(e)) n++;
    return n;
  }

  // --- what sessions do (ControlDesk) ---

  /** An admitted viewer joins; in exclusive mode the first control-role one takes control. */
  join(member: PresenceMember, identity: ViewerIdentity): void {
    if (this.#closed || this.#entries.has(member)) return;
    const e: Entry = {
      member,
      identity,
      since: Math.round(this.#clock.epochMicros() / 1000),
      lastInput: this.#clock.now(),
      requested: null,
      lastRequestEvent: -Infinity,
      sent: null,
    };
    this.#entries.set(member, e);
    if (
      this.#mode === "exclusive" && this.#holder === null &&
      identity.role === "control"
    ) {
      this.#give(e);
    }
    this.#changed();
  }

  /** A viewer left: a driver that leaves hands control to the first waiting, else frees it. */
  leave(member: PresenceMember): void {
    const e = this.#entries.get(member);
    if (!e) return;
    this.#entries.delete(member);
    this.#unqueue(e);
    if (this.#holder === e) this.#give(this.#requests[0] ?? null);
    this.#changed();
  }

  /** Its input arrived: true when it may drive (the input then counts as activity). */
  input(member: PresenceMember): boolean {
    const e = this.#entries.get(member);
    if (!e || !this.#drives(e)) return false;
    e.lastInput = this.#clock.now();
    return true;
  }

  /** Whether it drives now. */
  drives(member: PresenceMember): boolean {
    const e = this.#entries.get(member);
    return e !== undefined && this.#drives(e);
  }

  /**
   * It asks for control (exclusive mode, control role): granted at once
   * when nobody holds control or the driver has been idle for
   * `controlIdle` seconds; otherwise it waits, and the app gets a
   * `control_request` event (at most one a second from each viewer).
   */
  request(member: PresenceMember): void {
    const e = this.#entries.get(member);
    if (
      !e || this.#mode !== "exclusive" || e.identity.role !== "control" ||
      this.#holder === e
    ) {
      return;
    }
    const now = this.#clock.now();
    if (
      this.#holder === null ||
      (this.#holder !== "app" && this.#idleFor(this.#holder, now) <= 0)
    ) {
      this.#give(e);
      this.#changed();
      return;
    }
    if (e.requested !== null) return; // already waiting
    e.requested = now;
    this.#requests.push(e);
    this.#changed();
    if (now - e.lastRequestEvent >= REQUEST_EVENT_EVERY_MS) {
      e.lastRequestEvent = now;
      this.#input({
        type: "control_request",
        timestamp: now / 1000,
        viewer: member.id,
        ...(e.identity.user === undefined ? {} : { user: e.identity.user }),
      });
    }
    this.#armIdle();
  }

  /**
   * The driver gives control up: to viewer `to` (a control-role viewer),
   * else to the first waiting, else to nobody. A viewer that waits
   * withdraws its request instead.
   */
  release(member: PresenceMember, to?: number): void {
    const e = this.#entries.get(member);
    if (!e || this.#mode !== "exclusive") return;
    if (this.#holder === e) {
      const target = to === undefined ? undefined : this.#byId(to);
      this.#give(
        target && target !== e && target.identity.role === "control"
          ? target
          : this.#requests[0] ?? null,
      );
      this.#changed();
    } else if (e.requested !== null) {
      this.#unqueue(e);
      this.#changed();
    }
  }

  // --- what the app does (through Display) ---

  /**
   * Give exclusive control to viewer `id`. False when there is no such
   * viewer (it left); throws when the mode is not `"exclusive"` or the
   * viewer's role is `"view"`.
   */
  grant(id: number): boolean {
    this.#exclusiveOrThrow("grantControl()");
    const e = this.#byId(id);
    if (!e) return false;
    if (e.identity.role !== "control") {
      throw new RangeError(
        `grantControl(): viewer ${id} has the role "view" and cannot drive`,
      );
    }
    if (this.#holder !== e) {
      this.#give(e);
      this.#changed();
    }
    return true;
  }

  /** Take exclusive control back: nobody drives until `grant` (requests wait for the app). */
  takeBack(): void {
    this.#exclusiveOrThrow("releaseControl()");
    if (this.#holder === "app") return;
    this.#give("app");
    this.#changed();
  }

  /** The `control` or `controlIdle` setting changed. */
  retune(): void {
    const mode = this.#options.control;
    if (mode !== this.#mode) {
      this.#mode = mode;
      for (const e of this.#requests) e.requested = null;
      this.#requests = [];
      this.#holder = null;
      if (mode === "exclusive") {
        const first = [...this.#entries.values()].find((e) =>
          e.identity.role === "control"
        );
        if (first) this.#give(first);
      }
    }
    this.#armIdle();
    this.#changed();
  }

  /** The viewers, in the order they joined. */
  list(): ViewerPresence[] {
    return [...this.#entries.values()].map((e) => ({
      id: e.member.id,
      name: e.identity.name,
      role: e.identity.role,
      transport: e.member.transport,
      since: e.since,
      control: this.#drives(e),
      requested: e.requested !== null,
      user: e.identity.user,
      ...(e.member.edge === undefined ? {} : { edge: e.member.edge }),
    }));
  }

  /**
   * Send `text` to every viewer, or to viewer `id` only; how many it went
   * to (e.g. the app's `setClipboard`).
   */
  send(text: string, id?: number): number {
    let n = 0;
    for (const e of [...this.#entries.values()]) {
      if (id !== undefined && e.member.id !== id) continue;
      if (!this.#entries.has(e.member)) continue; // closed by a send
      e.member.notify(text);
      n++;
    }
    return n;
  }

  /** Stop the timers; the viewers are going. */
  close(): void {
    this.#closed = true;
    for (const t of [this.#idleTimer, this.#flushTimer]) {
      if (t !== null) this.#clock.clearTimeout(t);
    }
    this.#idleTimer = this.#flushTimer = null;
  }

  // --- inside ---

  #drives(e: Entry): boolean {
    if (e.identity.role !== "control") return false;
    switch (this.#mode) {
      case "shared":
        return true;
      case "exclusive":
        return this.#holder === e;
      default:
        return false;
    }
  }

  #byId(id: number): Entry | undefined {
    for (const e of this.#entries.values()) if (e.member.id === id) return e;
    return undefined;
  }

  /** Milliseconds until the driver counts as idle (<= 0: it is). */
  #idleFor(holder: Entry, now: number): number {
    return holder.lastInput + this.#options.controlIdle * 1000 - now;
  }

  #give(to: Entry | "app" | null): void {
    this.#holder = to;
    if (to !== null && to !== "app") {
      this.#unqueue(to);
      to.lastInput = this.#clock.now(); // a fresh driver gets its grace
    }
    this.#armIdle();
  }

  #unqueue(e: Entry): void {
    if (e.requested === null) return;
    e.requested = null;
    this.#requests = this.#requests.filter((r) => r !== e);
  }

  #exclusiveOrThrow(where: string): void {
    if (this.#mode !== "exclusive") {
      throw new Error(
        `${where}: this display's control is "${this.#mode}"; only "exclusive" control is handed over`,
      );
    }
  }

  /** While someone waits behind a driver, hand over once the driver is idle. */
  #armIdle(): void {
    if (this.#idleTimer !== null) this.#clock.clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    const holder = this.#holder;
    if (
      this.#closed || this.#mode !== "exclusive" || holder === null ||
      holder === "app" || this.#requests.length === 0
    ) {
      return;
    }
    const wait = this.#idleFor(holder, this.#clock.now());
    if (wait <= 0) {
      this.#give(this.#requests[0]);
      this.#changed();
      return;
    }
    this.#idleTimer = this.#clock.setTimeout(() => {
      this.#idleTimer = null;
      this.#armIdle(); // input may have come meanwhile: look again
    }, wait);
  }

  /** Something viewers see changed: tell them, at most every `PRESENCE_EVERY_MS`. */
  #changed(): void {
    if (
      this.#closed || this.#flushTimer !== null || this.#flushQueued ||
      this.#entries.size === 0 // nobody to tell
    ) {
      return;
    }
    const wait = this.#lastFlush + PRESENCE_EVERY_MS - this.#clock.now();
    if (wait > 0) {
      this.#flushTimer = this.#clock.setTimeout(() => {
        this.#flushTimer = null;
        this.#flush();
      }, wait);
      return;
    }
    // Not at once: a change often comes in the middle of a session's
    // message, and a send may close a slow viewer (which changes presence).
    this.#flushQueued = true;
    queueMicrotask(() => {
      this.#flushQueued = false;
      this.#flush();
    });
  }

  #flush(): void {
    if (this.#closed) return;
    this.#lastFlush = this.#clock.now();
    if (!this.#options.presence) return;
    const entries = [...this.#entries.values()];
    const drivers = entries.filter((e) => this.#drives(e));
    const named = (e: Entry): PresenceViewer => {
      const name = e.identity.name;
      return name === null
        ? { id: e.member.id }
        : { id: e.member.id, name: name.slice(0, SENT_NAME) };
    };
    const presence = presenceMessage({
      type: "presence",
      viewers: entries.length,
      driving: drivers.length,
      drivers: drivers.slice(0, LISTED).map(named),
      requests: this.#requests.slice(0, LISTED).map(named),
    });
    for (const e of entries) {
      if (!this.#entries.has(e.member)) continue; // closed by a send
      e.member.notify(presence);
      const control = controlMessage({
        type: "control",
        you: e.member.id,
        role: e.identity.role,
        mode: this.#mode,
        driving: this.#drives(e),
        requested: e.requested !== null,
      });
      if (control !== e.sent && this.#entries.has(e.member)) {
        e.sent = control;
        e.member.notify(control);
      }
    }
  }
}
