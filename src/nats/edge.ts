/**
 * `displayFromNats()`: an edge server's side. It serves a render host's
 * stream to viewers of its own (through `handler()` or a server's `add()`)
 * with the same sessions, flow control and keyframe gates as the host,
 * fed from NATS: it subscribes to the encodings its viewers ask for and
 * announces them to the host every second (an encoding not asked for
 * within `NEED_TTL_MS` is dropped, and the host stops making it once no
 * edge announces it), asks the host for an IDR when a viewer waits for
 * one, and sends up who its viewers are (the identity and role its
 * `authenticate` hook gave them, and what the hook returned, as JSON),
 * their input and their requests for control; who drives is decided on the
 * host, whose `presence` and `control` messages it hands to its viewers
 * (`edge_desk.ts`). It follows the host's state: a new size or new settings
 * renegotiate its viewers; a new host process (a restart) is taken up
 * without closing any viewer.
 *
 * @module
 */

import type { Subscription } from "@nats-io/nats-core";
import { systemClock } from "../clock.ts";
import {
  type Display,
  type DisplayStats,
  internals,
  type ViewerPresence,
} from "../display.ts";
import { sourcedDisplay, standIn } from "../sourced_display.ts";
import type { DisplayEvent } from "../events.ts";
import type { DisplayStandIn } from "../http/types.ts";
import { consoleLogger, type Logger } from "../log.ts";
import {
  type DisplayOptions,
  resolveDisplayOptions,
  safeLogger,
  TUNABLE,
} from "../options.ts";
import {
  checkLinkOptions,
  type Link,
  type NatsLinkOptions,
  openLink,
  processId,
} from "./connect.ts";
import { parseDown } from "./down.ts";
import { EdgeDesk } from "./edge_desk.ts";
import { EdgeTracks } from "./edge_tracks.ts";
import {
  type HostState,
  parseState,
  Reassembly,
  type Subjects,
  subjectsFor,
  unpackUnit,
  type UpMessage,
} from "./wire.ts";

/** The settings an edge takes from its host (set them on the host's display). */
const FROM_HOST = [
  ...TUNABLE,
  "pixelRatio",
  "minKeyframeInterval",
  "encoder",
  "preset",
  "imageEncoder",
  "presence",
] as const;

/** Options for `displayFromNats()`: how to reach NATS, and the edge's own viewer settings. */
export interface RemoteDisplayOptions
  extends
    NatsLinkOptions,
    Omit<DisplayOptions, typeof FROM_HOST[number] | "logger"> {
  /** The name it is served under (default: `stream`). */
  name?: string;
}

/** Figures of an edge's link to its host. */
export interface EdgeLinkStats {
  /** Whether NATS is connected now. */
  connected: boolean;
  /** The host process's id, or null before its state came. */
  host: string | null;
  /** The encodings subscribed to now. */
  encodings: string[];
  /** Pictures and units received. */
  messagesIn: number;
  /** Bytes received. */
  bytesIn: number;
  /** New host processes taken up (host restarts). */
  restarts: number;
}

/** How long an encoding asked for is announced without being asked again. */
export const NEED_TTL_MS = 5000;
const ANNOUNCE_MS = 1000;
const VIEWERS_MS = 2000;

/** Send `m` up to the host (nothing while NATS is away). */
function sendUp(link: Link, subjects: Subjects, m: UpMessage): void {
  if (!link.connected()) return;
  try {
    link.nc.publish(subjects.up, JSON.stringify(m));
  } catch { /* closing */ }
}

/**
 * A render host's stream, served from this process: give it to
 * `handler()` or a server's `add()` as a display. It has no `publish`.
 *
 * @example
 * ```ts ignore
 * import { handler } from "@rfb/core";
 * import { displayFromNats } from "@rfb/core/nats";
 * await using remote = await displayFromNats({ servers: "nats://127.0.0.1:4222", stream: "scene" });
 * Deno.serve({ port: 8001 }, handler(remote));
 * ```
 */
export class RemoteDisplay implements AsyncDisposable, DisplayStandIn {
  #display: Display;
  #tracks: EdgeTracks;
  #desk: EdgeDesk;
  #link: Link;
  #subjects: Subjects;
  #log: Logger;
  #id: string;
  #subs = new Map<string, Subscription>();
  #stateSub: Subscription | null = null;
  #downSub: Subscription | null = null;
  #timers: ReturnType<typeof setInterval>[] = [];
  #announceSoon = false;
  #closing: Promise<void> | null = null;
  #stats = { messagesIn: 0, bytesIn: 0, restarts: 0 };

  /** Use `displayFromNats()`. */
  constructor(
    id: string,
    display: Display,
    tracks: EdgeTracks,
    desk: EdgeDesk,
    link: Link,
    subjects: Subjects,
    log: Logger,
  ) {
    this.#id = id;
    this.#display = display;
    this.#tracks = tracks;
    this.#desk = desk;
    this.#link = link;
    this.#subjects = subjects;
    this.#log = log;
    standIn(this, display);
  }

  /** The stream's name here. */
  get name(): string {
    return this.#display.name;
  }

  /** Frame width (the host's). */
  get width(): number {
    return this.#display.width;
  }

  /** Frame height (the host's). */
  get height(): number {
    return this.#display.height;
  }

  /** Viewers connected to this edge. */
  get viewers(): number {
    return this.#display.viewers;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#display.closed;
  }

  /** This edge's id on NATS (as in the host's `viewerStats[].edge`). */
  get edgeId(): string {
    return this.#id;
  }

  /** Figures for this edge's viewers (as `Display.stats()`). */
  stats(): DisplayStats {
    return this.#display.stats();
  }

  /**
   * This edge's viewers (ids here), with their standing as the render host
   * last said it; the host's `presence()` lists the whole site.
   */
  presence(): ViewerPresence[] {
    return this.#display.presence();
  }

  /** The link's figures now. */
  linkStats(): EdgeLinkStats {
    return {
      connected: this.#link.connected(),
      host: this.#tracks.state?.host ?? null,
      encodings: [...this.#subs.keys()],
      ...this.#stats,
    };
  }

  /** Close every viewer (1001) and leave NATS; the host stops encoding for this edge. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const t of this.#timers) clearInterval(t);
      await this.#display.close(); // viewers leave: the host hears of each
      this.#up({ t: "need", e: this.#id, k: [], ttl: 1 });
      for (const s of this.#subs.values()) s.unsubscribe();
      this.#stateSub?.unsubscribe();
      this.#downSub?.unsubscribe();
      await this.#link.close();
    })();
    return this.#closing;
  }

  /** Closes it at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** Subscribe to the host's state and start announcing. */
  async start(): Promise<void> {
    this.#stateSub = this.#link.nc.subscribe(this.#subjects.state, {
      callback: (err, msg) => {
        if (err) return;
        const s = parseState(new TextDecoder().decode(msg.data));
        if (s) this.#takeState(s);
        else this.#log("warn", "displayFromNats(): a malformed host state");
      },
    });
    this.#downSub = this.#link.nc.subscribe(this.#subjects.down(this.#id), {
      callback: (err, msg) => {
        if (err || this.#closing) return;
        const d = parseDown(new TextDecoder().decode(msg.data));
        if (!d) this.#log("warn", "displayFromNats(): a malformed message");
        else if ((this.#tracks.state?.host ?? d.host) === d.host) {
          this.#desk.deliver(d.items);
        }
      },
    });
    this.#link.onReconnect = () => {
      this.#announce();
      this.#reportViewers();
    };
    this.#timers.push(
      setInterval(() => this.#announce(), ANNOUNCE_MS),
      setInterval(() => this.#reportViewers(), VIEWERS_MS),
    );
    this.#announce(); // a host that hears a new edge sends its state
    await this.#link.nc.flush();
  }

  /** Wait for the host's state, at most `ms`. */
  async firstState(ms: number): Promise<HostState | null> {
    const end = Date.now() + ms;
    while (!this.#tracks.state && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 20));
    }
    return this.#tracks.state;
  }

  // --- from the hub ---

  /** A viewer asked for an encoding not asked for lately: subscribe, announce soon. */
  wanted(key: string): void {
    if (this.#closing) return;
    this.#subscribe(key);
    if (this.#announceSoon) return;
    this.#announceSoon = true;
    queueMicrotask(() => {
      this.#announceSoon = false;
      this.#announce();
    });
  }

  /** A viewer waits for an IDR of `key`. */
  keyframe(key: string): void {
    this.#up({ t: "key", e: this.#id, k: key });
  }

  /** A viewer's input (or its report of its view's size): up to the host, which decides. */
  input(ev: DisplayEvent): void {
    const { viewer, user: _user, ...event } = ev;
    this.#up({ t: "in", e: this.#id, v: viewer, ev: event });
  }

  // --- NATS ---

  #up(m: UpMessage): void {
    sendUp(this.#link, this.#subjects, m);
  }

  #announce(): void {
    if (this.#closing) return;
    const keys = this.#tracks.wantedKeys(NEED_TTL_MS);
    for (const [key, sub] of this.#subs) {
      if (!keys.includes(key)) {
        sub.unsubscribe();
        this.#subs.delete(key);
      }
    }
    for (const key of keys) this.#subscribe(key);
    this.#up({ t: "need", e: this.#id, k: keys, ttl: NEED_TTL_MS });
  }

  #reportViewers(): void {
    // Joined viewers only: those still in their handshake are nobody yet.
    const list = this.#display.stats().viewerStats.flatMap((s) => {
      const who = this.#desk.who(s.id);
      return who
        ? [{ ...who, s: s as unknown as Record<string, unknown> }]
        : [];
    });
    for (let i = 0; i < list.length; i += 200) {
      this.#up({
        t: "viewers",
        e: this.#id,
        ttl: VIEWERS_MS * 3,
        l: list.slice(i, i + 200),
      });
    }
  }

  #subscribe(key: string): void {
    if (this.#subs.has(key) || this.#closing) return;
    const video = key.startsWith("h264-q");
    const subject = video
      ? this.#subjects.video(key)
      : this.#subjects.picture(key);
    const parts = new Reassembly();
    const hub = internals(this.#display).hub;
    this.#subs.set(
      key,
      this.#link.nc.subscribe(subject, {
        callback: (err, msg) => {
          if (err || this.#closing) return;
          this.#stats.messagesIn++;
          this.#stats.bytesIn += msg.data.length;
          const unit = unpackUnit(msg.data);
          const whole = unit && parts.take(unit);
          if (!whole) return;
          if (video) {
            const got = this.#tracks.takeVideo(
              key,
              whole.header,
              whole.payload,
            );
            if (got) hub.pushChunk(got.chunk, got.track);
          } else if (
            this.#tracks.takePicture(key, whole.header, whole.payload)
          ) hub.wake();
        },
      }),
    );
  }

  #takeState(s: HostState): void {
    const hub = internals(this.#display).hub;
    const changed = this.#tracks.setState(s);
    if (changed.host && this.#stats.messagesIn > 0) this.#stats.restarts++;
    // A new host process knows none of the viewers here yet.
    if (changed.host) this.#reportViewers();
    if (changed.settings) {
      this.#applySettings(s);
      // Subscriptions stay; the new tracks are asked for again.
      if (changed.size) hub.resize(s.width, s.height);
      hub.retune(); // a new config to every viewer
      return;
    }
    if (changed.size) hub.resize(s.width, s.height);
    hub.wake();
  }

  #applySettings(s: HostState): void {
    const opts = internals(this.#display).options as unknown as Record<
      string,
      unknown
    >;
    let next;
    try {
      next = resolveDisplayOptions(
        { ...s.settings, bitrate: s.settings.bitrate ?? undefined },
        "displayFromNats()",
        { logger: this.#log, clock: systemClock },
      ) as unknown as Record<string, unknown>;
    } catch (err) {
      this.#log(
        "warn",
        `displayFromNats(): the host's settings were refused: ${
          (err as Error).message
        }`,
      );
      return;
    }
    for (const k of [...TUNABLE, "pixelRatio", "minKeyframeInterval"]) {
      opts[k] = next[k];
    }
  }
}

/**
 * Serve a render host's stream (published with `publishToNats()`) from
 * this process: viewers here see the same picture, config and protocol as
 * viewers of the host, their input reaches the host's `pollEvents()`, and
 * this process authenticates them itself (`authenticate` here, or the
 * handler's). Waits up to `authTimeout` seconds for the host's state
 * (a host that is not up yet is waited for without blocking viewers).
 * Rejects when NATS cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { handler } from "@rfb/core";
 * import { displayFromNats } from "@rfb/core/nats";
 * const remote = await displayFromNats({ servers: "nats://127.0.0.1:4222", stream: "scene" });
 * Deno.serve({ port: 8001 }, handler(remote));
 * ```
 */
export async function displayFromNats(
  options: RemoteDisplayOptions,
): Promise<RemoteDisplay> {
  const where = "displayFromNats()";
  checkLinkOptions(where, options);
  const {
    servers: _s,
    stream,
    prefix,
    nats: _n,
    connection: _c,
    name,
    logger,
    ...own
  } = options;
  for (const k of FROM_HOST) {
    if (k in own) {
      throw new TypeError(
        `${where}: '${k}' comes from the render host; set it on the host's display`,
      );
    }
  }
  for (const k of ["maxClipboardBytes", "maxFileBytes"] as const) {
    if (own[k] !== undefined) {
      throw new TypeError(
        `${where}: '${k}': pastes and dropped files are not relayed through edges (viewers at an edge are told they are off)`,
      );
    }
  }
  const log = safeLogger(logger ?? consoleLogger, own.clock ?? systemClock);
  // Checked before connecting, so a bad option fails at once. Pastes and
  // files stay off here: the host takes only input events from edges.
  const resolved = resolveDisplayOptions(
    {
      ...own,
      maxClipboardBytes: 0,
      maxFileBytes: false,
      logger: log,
    },
    where,
    {
      logger: log,
      clock: systemClock,
    },
  );
  const subjects = subjectsFor(prefix ?? "rfb", stream);
  const link = await openLink(where, options, log);
  const id = processId();
  const desk = new EdgeDesk({
    edge: id,
    up: (m) => sendUp(link, subjects, m),
    log,
  });
  let remote: RemoteDisplay | null = null;
  const tracks = new EdgeTracks({
    clock: resolved.clock,
    size: () => ({ width: display.width, height: display.height }),
    wanted: (key) => remote?.wanted(key),
    keyframe: (key) => remote?.keyframe(key),
    wake: () => internals(display).hub.wake(),
    firstTimeout: () => resolved.authTimeout,
  });
  const display = sourcedDisplay(name ?? stream, 16, 16, {
    ...own,
    logger: log,
  }, {
    source: tracks,
    input: (ev) => remote?.input(ev),
    desk,
  });
  remote = new RemoteDisplay(
    id,
    display,
    tracks,
    desk,
    link,
    subjects,
    log,
  );
  try {
    await remote.start();
    await remote.firstState(Math.min(2000, resolved.authTimeout * 1000));
  } catch (err) {
    await remote.close();
    throw err;
  }
  return remote;
}
