/**
 * An edge server's desk: who drives is decided on the render host, for the
 * whole site, so the edge decides nothing. It tells the host who its
 * viewers are when they join (the identity and role its own
 * `authenticate` hook and `defaultRole` gave them) and when they leave,
 * passes their requests for control and their input up, and hands each
 * viewer the `presence` and `control` messages the host sends for it
 * (`deliver`). Input is always passed up: the host drops (and counts) what
 * comes from a viewer that does not drive.
 *
 * @module
 */

import type { StreamDesk, ViewerPresence } from "../hub/presence.ts";
import type { Logger } from "../log.ts";
import type { ControlMessage } from "../protocol.ts";
import type { ViewerIdentity } from "../session/identity.ts";
import type { PresenceMember } from "../session/types.ts";
import type { DownItem } from "./down.ts";
import type { UpMessage, ViewerWho } from "./wire.ts";

/** The longest JSON of what a hook returned that goes to the host. */
const MAX_USER_JSON = 4096;

/** How to make an `EdgeDesk`. */
export interface EdgeDeskOptions {
  /** This edge's id on NATS. */
  edge: string;
  /** Send a message up to the host. */
  up: (m: UpMessage) => void;
  /** Where a warning goes. */
  log: Logger;
}

interface Entry {
  member: PresenceMember;
  identity: ViewerIdentity;
  /** What the hook returned, as JSON the host can read. */
  user: unknown;
  /** Joined, epoch ms. */
  since: number;
  /** The host's last `control` message for it. */
  control: ControlMessage | null;
}

/**
 * The desk of an edge's hub.
 *
 * @example
 * ```ts ignore
 * const desk = new EdgeDesk({ edge: "e1", up: (m) => publishUp(m), log });
 * const display = sourcedDisplay("scene", 16, 16, {}, { source, input, desk });
 * desk.deliver(parseDown(text)!.items); // the host's presence and control messages
 * ```
 */
export class EdgeDesk implements StreamDesk {
  #o: EdgeDeskOptions;
  #entries = new Map<number, Entry>(); // by viewer id, join order
  #warnedUser = false;

  /** A desk that asks the host. */
  constructor(o: EdgeDeskOptions) {
    this.#o = o;
  }

  // --- what sessions do (ControlDesk) ---

  /** A viewer joins: the host hears who it is. */
  join(member: PresenceMember, identity: ViewerIdentity): void {
    if (this.#entries.has(member.id)) return;
    const e: Entry = {
      member,
      identity,
      user: this.#userJson(identity.user),
      since: Date.now(),
      control: null,
    };
    this.#entries.set(member.id, e);
    this.#o.up({ t: "join", e: this.#o.edge, ...this.#who(e) });
  }

  /** A viewer left: the host hears of it. */
  leave(member: PresenceMember): void {
    const e = this.#entries.get(member.id);
    if (e?.member !== member) return;
    this.#entries.delete(member.id);
    this.#o.up({ t: "leave", e: this.#o.edge, v: member.id });
  }

  /** Input always goes up: the host decides whether it reaches the app. */
  input(_member: PresenceMember): boolean {
    return true;
  }

  /**
   * Whether it drives, as the host last said (before the host said
   * anything: whether its role may drive; the host decides again anyway).
   */
  drives(member: PresenceMember): boolean {
    const e = this.#entries.get(member.id);
    if (e?.member !== member) return false;
    return e.control?.driving ?? e.identity.role === "control";
  }

  /** It asks for control: up to the host. */
  request(member: PresenceMember): void {
    if (this.#entries.get(member.id)?.member !== member) return;
    this.#o.up({ t: "req", e: this.#o.edge, v: member.id });
  }

  /** It gives control up (to viewer `to`, an id as the host's messages name it): up to the host. */
  release(member: PresenceMember, to?: number): void {
    if (this.#entries.get(member.id)?.member !== member) return;
    this.#o.up({
      t: "rel",
      e: this.#o.edge,
      v: member.id,
      ...(to === undefined ? {} : { to }),
    });
  }

  // --- what the app asks ---

  /** Control is handed over on the render host: throws. */
  grant(_id: number): boolean {
    throw new Error(
      "grantControl(): an edge server does not decide who drives; call it on the render host's display",
    );
  }

  /** Control is taken back on the render host: throws. */
  takeBack(): void {
    throw new Error(
      "releaseControl(): an edge server does not decide who drives; call it on the render host's display",
    );
  }

  /** The host's settings decide: nothing to do here. */
  retune(): void {}

  /** This edge's viewers (their ids here), with their standing as the host last said. */
  list(): ViewerPresence[] {
    return [...this.#entries.values()].map((e) => ({
      id: e.member.id,
      name: e.identity.name,
      role: e.identity.role,
      transport: e.member.transport,
      since: e.since,
      control: this.drives(e.member),
      requested: e.control?.requested ?? false,
      user: e.identity.user,
    }));
  }

  /** Send `text` to the viewers here (all, or viewer `id`); returns how many. */
  send(text: string, id?: number): number {
    let n = 0;
    for (const e of [...this.#entries.values()]) {
      if (id !== undefined && e.member.id !== id) continue;
      e.member.notify(text);
      n++;
    }
    return n;
  }

  /** Nothing runs here. */
  close(): void {}

  // --- from the host ---

  /** The host's messages for viewers here: each to its viewer, as it is. */
  deliver(items: DownItem[]): void {
    for (const item of items) {
      const e = this.#entries.get(item.viewer);
      if (!e) continue; // gone meanwhile
      if (item.control) e.control = item.control;
      e.member.notify(item.text);
    }
  }

  /** Who each viewer here is, for the host (reported again every few seconds). */
  who(id: number): ViewerWho | null {
    const e = this.#entries.get(id);
    return e ? this.#who(e) : null;
  }

  #who(e: Entry): ViewerWho {
    return {
      v: e.member.id,
      ...(e.user === undefined ? {} : { u: e.user }),
      n: e.identity.name,
      r: e.identity.role,
      tr: e.member.transport,
    };
  }

  /** What the hook returned, as JSON the host can read (undefined if it cannot be). */
  #userJson(user: unknown): unknown {
    if (user === undefined) return undefined;
    try {
      const text = JSON.stringify(user);
      if (text !== undefined && text.length <= MAX_USER_JSON) {
        return JSON.parse(text);
      }
    } catch { /* a cycle, a BigInt */ }
    if (!this.#warnedUser) {
      this.#warnedUser = true;
      this.#o.log(
        "warn",
        `displayFromNats(): what authenticate returned cannot go to the host (not JSON, or over ${MAX_USER_JSON} bytes as JSON); its events carry no user`,
      );
    }
    return undefined;
  }
}
