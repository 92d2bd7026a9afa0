/**
 * `publishToNats()`: the render host's side. It publishes the host's state
 * (size, settings, offer, newest version, whether the scene rests) on every
 * change and once a second; encodes only what edges announce they need,
 * once for all of them (`relay.ts`), expiring an edge's needs when it stops
 * announcing them; and takes back what edges send: IDR asks, their viewers
 * (who each edge's auth hook said they are, with their role), their input
 * and their requests for control. Viewers at edges join the display's desk
 * like its own (`RemoteViewers`): one desk decides who drives for the whole
 * site, input reaches the display's `pollEvents()` with site-wide viewer
 * ids only from viewers that drive (checked and rate limited as a viewer's
 * own input is), and the desk's `presence` and `control` messages go back
 * down to each edge (`down.ts`).
 *
 * @module
 */

import type { Subscription } from "@nats-io/nats-core";
import { type Display, internals } from "../display.ts";
import type { Hub } from "../hub/hub.ts";
import type { VideoChunk, VideoTrack } from "../hub/tracks.ts";
import { consoleLogger, type Logger } from "../log.ts";
import { safeLogger } from "../options.ts";
import { type NegotiationOffer, validateEvent } from "../protocol.ts";
import type { RemoteIdentity } from "../hub/remote_viewers.ts";
import type { ViewerStats } from "../session/metrics.ts";
import {
  checkLinkOptions,
  type Link,
  type NatsLinkOptions,
  openLink,
  processId,
} from "./connect.ts";
import { DownQueue } from "./down.ts";
import { PictureRelay, type Relay, VideoRelay } from "./relay.ts";
import {
  type HostState,
  packParts,
  parseEncodingKey,
  parseUp,
  type Subjects,
  subjectsFor,
  type UnitHeader,
  type UpMessage,
  type ViewerWho,
} from "./wire.ts";

/** Options for `publishToNats()`. */
export type PublishToNatsOptions = NatsLinkOptions;

/** Figures of a host's link to its edges. */
export interface HostLinkStats {
  /** Whether NATS is connected now. */
  connected: boolean;
  /** Edges heard from within their announcement's expiry. */
  edges: number;
  /** The encodings relayed now (`h264-q0`, `jpeg-80-live`, …). */
  encodings: string[];
  /** Pictures and units published. */
  messagesOut: number;
  /** Bytes published. */
  bytesOut: number;
  /** Input events from edges handed to the app. */
  inputIn: number;
  /** Messages from edges dropped (malformed, unknown viewer, over the rate). */
  dropped: number;
}

/** Encodings relayed at once at most (a bound on what edges can make the host do). */
export const MAX_ENCODINGS = 24;
const HEARTBEAT_MS = 1000;
/** A flush (PING to PONG) outstanding longer than this: the link is backed up. */
const BACKED_UP_MS = 300;

/**
 * A render host's link to its edge servers; `close()` (or `await using`)
 * stops it, leaving the display as it was.
 *
 * @example
 * ```ts ignore
 * import { Display } from "@rfb/core";
 * import { publishToNats } from "@rfb/core/nats";
 * const display = new Display(1280, 720);
 * await using link = await publishToNats(display, { servers: "nats://127.0.0.1:4222", stream: "scene" });
 * console.log(link.stats().edges);
 * ```
 */
export class HostLink implements AsyncDisposable {
  #hub: Hub;
  #link: Link;
  #log: Logger;
  #subjects: Subjects;
  #id = processId();
  #relays = new Map<string, Relay>();
  #needs = new Map<string, Map<string, number>>(); // key → edge → until (ms)
  #edges = new Map<string, number>(); // edge → until (ms)
  #offer: NegotiationOffer | null = null;
  #sub: Subscription | null = null;
  #heartbeat: ReturnType<typeof setInterval> | null = null;
  #untap: () => void = () => {};
  #lastState = "";
  #flushSince: number | null = null;
  #lastFlush = 0;
  #warned = new Set<string>();
  #closing: Promise<void> | null = null;
  #stats = { messagesOut: 0, bytesOut: 0, inputIn: 0, dropped: 0 };
  #down = new DownQueue(this.#id, (edge, m) => {
    if (!this.#link.connected()) return;
    try {
      this.#link.nc.publish(this.#subjects.down(edge), JSON.stringify(m));
    } catch { /* closing */ }
  });

  /** Use `publishToNats()`. */
  constructor(hub: Hub, link: Link, subjects: Subjects, log: Logger) {
    this.#hub = hub;
    this.#link = link;
    this.#subjects = subjects;
    this.#log = log;
  }

  /** Start: listen to edges, tap the hub, send the state. */
  async start(): Promise<void> {
    // Back from a NATS outage: the state at once, and an IDR for every
    // stream (edges lost units meanwhile).
    this.#link.onReconnect = () => {
      this.#sendState(true);
      for (const r of this.#relays.values()) r.keyframe();
    };
    await this.#refreshOffer();
    this.#sub = this.#link.nc.subscribe(this.#subjects.up, {
      callback: (err, msg) => {
        if (!err) this.#receive(msg.data);
      },
    });
    const changed = () =>
      this.#refreshOffer().then(() => this.#sendState(true));
    this.#hub.remote.attach((edge, local, text) =>
      this.#down.push(edge, local, text)
    );
    this.#untap = this.#hub.addTap({
      pump: () => this.#pump(),
      chunk: (chunk, track) => this.#offerChunk(chunk, track),
      resized: changed,
      changed,
      needs: () => this.#framesNeeded(),
      // The display closes: edges keep their viewers until a host returns.
      close: () => Promise.resolve(),
    });
    this.#heartbeat = setInterval(() => this.#tick(), HEARTBEAT_MS);
    this.#sendState(true);
    await this.#link.nc.flush();
  }

  /** The link's figures now. */
  stats(): HostLinkStats {
    const now = Date.now();
    return {
      connected: this.#link.connected(),
      edges: [...this.#edges.values()].filter((t) => t >= now).length,
      encodings: [...this.#relays.keys()],
      ...this.#stats,
    };
  }

  /** Stop relaying (edges keep their viewers, waiting for a host); resolves once sent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
      this.#heartbeat = null;
      this.#untap();
      this.#sub?.unsubscribe();
      this.#relays.clear();
      this.#hub.remote.clear();
      this.#down.clear();
      await this.#link.close();
    })();
    return this.#closing;
  }

  /** Closes the link at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #framesNeeded(): { rgba: boolean; yuv: boolean } {
    let rgba = false, yuv = false;
    for (const r of this.#relays.values()) {
      rgba ||= r.needs.rgba;
      yuv ||= r.needs.yuv;
    }
    return { rgba, yuv };
  }

  #refreshOffer(): Promise<void> {
    return this.#hub.offer().then((offer) => {
      this.#offer = offer;
    }, (err) => {
      this.#log("error", `publishToNats(): no offer: ${err?.message ?? err}`);
    });
  }

  /** Send the state if it changed (or `force`). */
  #sendState(force: boolean): void {
    if (!this.#offer || this.#closing || !this.#link.connected()) return;
    const o = this.#hub.options;
    const { width, height } = this.#hub.size();
    const state: HostState = {
      t: "state",
      host: this.#id,
      version: this.#hub.newest(),
      settled: this.#hub.settled(),
      fps: Math.round(this.#hub.publishFps() * 100) / 100,
      width,
      height,
      settings: {
        transport: o.transport,
        imageFormat: o.imageFormat,
        quality: o.quality,
        bitrate: o.bitrate,
        fps: o.fps,
        gop: o.gop,
        stillAfter: o.stillAfter,
        adaptive: o.adaptive,
        pixelRatio: o.pixelRatio,
        minKeyframeInterval: o.minKeyframeInterval,
      },
      offer: { ...this.#offer },
    };
    // Versions move every frame: only a change of anything else (or the
    // heartbeat) sends it.
    const key = JSON.stringify({ ...state, version: 0, fps: 0 });
    if (!force && key === this.#lastState) return;
    this.#lastState = key;
    try {
      this.#link.nc.publish(this.#subjects.state, JSON.stringify(state));
    } catch { /* closing */ }
  }

  #tick(): void {
    this.#hub.remote.expire(); // viewers of an edge that stopped reporting
    const now = Date.now();
    for (const [edge, until] of this.#edges) {
      if (until < now) this.#edges.delete(edge);
    }
    for (const [key, edges] of this.#needs) {
      for (const [edge, until] of edges) if (until < now) edges.delete(edge);
      if (edges.size === 0) {
        this.#needs.delete(key);
        this.#relays.delete(key);
      }
    }
    this.#sendState(true);
  }

  #pump(): void {
    if (this.#closing) return;
    this.#sendState(false);
    for (const r of this.#relays.values()) r.pump();
  }

  #offerChunk(chunk: VideoChunk, track: VideoTrack): void {
    for (const r of this.#relays.values()) r.offerChunk(chunk, track);
  }

  /** Whether NATS takes more now: connected, and the last flush came back in time. */
  #canSend(): boolean {
    if (!this.#link.connected()) return false;
    return this.#flushSince === null ||
      performance.now() - this.#flushSince < BACKED_UP_MS;
  }

  #send(subject: string, header: UnitHeader, payload: Uint8Array): boolean {
    if (!this.#canSend()) return false;
    try {
      for (const part of packParts(header, payload, this.#link.maxPayload())) {
        this.#link.nc.publish(subject, part);
        this.#stats.messagesOut++;
        this.#stats.bytesOut += part.length;
      }
    } catch {
      return false; // closed or closing
    }
    this.#watchFlush();
    return true;
  }

  /** At most ten PINGs a second: a PONG late by `BACKED_UP_MS` means NATS is backed up. */
  #watchFlush(): void {
    const now = performance.now();
    if (this.#flushSince !== null || now - this.#lastFlush < 100) return;
    this.#flushSince = this.#lastFlush = now;
    this.#link.nc.flush().catch(() => {}).finally(() => {
      this.#flushSince = null;
      this.#hub.wake();
    });
  }

  #receive(data: Uint8Array): void {
    const m = data.length <= 256 * 1024
      ? parseUp(new TextDecoder().decode(data))
      : null;
    if (!m) {
      this.#drop("a malformed message from an edge");
      return;
    }
    const now = Date.now();
    const known = (this.#edges.get(m.e) ?? 0) >= now;
    this.#edges.set(m.e, now + 10_000);
    if (!known) this.#sendState(true); // a new edge (or a restarted host)
    switch (m.t) {
      case "need":
        this.#need(m, now);
        return;
      case "key":
        this.#relays.get(m.k)?.keyframe();
        return;
      case "join":
        this.#hub.remote.report(m.e, m.v, identity(m), 10_000);
        return;
      case "leave":
        this.#hub.remote.remove(m.e, m.v);
        return;
      case "viewers":
        for (const r of m.l) {
          this.#hub.remote.report(
            m.e,
            r.v,
            identity(r),
            m.ttl,
            r.s as unknown as ViewerStats | undefined,
          );
        }
        return;
      case "in":
        this.#input(m);
        return;
      case "req":
      case "rel": {
        const viewer = this.#hub.remote.find(m.e, m.v);
        if (!viewer) this.#stats.dropped++;
        else if (m.t === "req") this.#hub.remote.request(viewer);
        else this.#hub.remote.release(viewer, m.to);
        return;
      }
    }
  }

  /** An edge's needs now: exactly these (what it no longer lists, it no longer needs). */
  #need(m: Extract<UpMessage, { t: "need" }>, now: number): void {
    let added = false;
    for (const [key, edges] of this.#needs) {
      if (m.k.includes(key) || !edges.delete(m.e) || edges.size > 0) continue;
      this.#needs.delete(key);
      this.#relays.delete(key);
    }
    for (const key of m.k) {
      const enc = parseEncodingKey(key);
      if (!enc) {
        this.#drop(`an unknown encoding '${key.slice(0, 64)}'`);
        continue;
      }
      const video = enc.kind === "video" ||
        (enc.kind === "picture" && enc.format === "h264");
      if (video && !this.#offer?.h264Codec) continue; // no H.264 here now
      let relay = this.#relays.get(key);
      if (!relay) {
        if (this.#relays.size >= MAX_ENCODINGS) {
          this.#drop(`encoding '${key}' (${MAX_ENCODINGS} relayed already)`);
          continue;
        }
        relay = enc.kind === "video"
          ? new VideoRelay(
            this.#context,
            this.#subjects.video(key),
            key,
            enc.step,
          )
          : new PictureRelay(
            this.#context,
            this.#subjects.picture(key),
            key,
            enc,
          );
        this.#relays.set(key, relay);
        added = true;
      }
      let edges = this.#needs.get(key);
      if (!edges) this.#needs.set(key, edges = new Map());
      if (!edges.has(m.e) && edges.size > 0) {
        relay.joined(); // a new edge subscribed after the last picture went out
        added = true;
      }
      edges.set(m.e, now + m.ttl);
    }
    if (added) this.#hub.wake();
  }

  #input(m: Extract<UpMessage, { t: "in" }>): void {
    const viewer = this.#hub.remote.find(m.e, m.v);
    if (!viewer) {
      this.#stats.dropped++;
      return;
    }
    const ev = validateEvent(m.ev, this.#hub.options.clock.now() / 1000);
    if (typeof ev === "string") {
      this.#drop(`an input event from edge ${m.e}: ${ev}`);
      return;
    }
    // The desk decides, as for the host's own viewers: a viewer that does
    // not drive has its input dropped (and counted).
    const pass = this.#hub.remote.input(viewer, ev.type === "resize");
    if (pass === "rate") this.#stats.dropped++;
    if (pass !== "pass") return;
    this.#stats.inputIn++;
    const { user } = viewer.identity;
    this.#hub.input(
      user === undefined
        ? { ...ev, viewer: viewer.id }
        : { ...ev, viewer: viewer.id, user },
    );
  }

  /** Count a dropped message; log each kind once. */
  #drop(what: string): void {
    this.#stats.dropped++;
    const kind = what.split(":")[0];
    if (this.#warned.has(kind) || this.#warned.size > 32) return;
    this.#warned.add(kind);
    this.#log("warn", `publishToNats(): dropped ${what}`);
  }

  get #context() {
    return {
      hub: this.#hub,
      host: this.#id,
      canSend: () => this.#canSend(),
      send: (s: string, h: UnitHeader, p: Uint8Array) => this.#send(s, h, p),
    };
  }
}

/**
 * Publish a display's pictures to NATS for edge servers
 * (`displayFromNats()`) to serve. The display goes on as before (its own
 * viewers, `publish`, `pollEvents`); besides, it encodes what the edges'
 * viewers need, once for all edges, and their viewers' input reaches its
 * `pollEvents()` with site-wide viewer ids and `user` set to what the
 * edge's `authenticate` hook returned. Rejects when NATS cannot be reached.
 *
 * @example
 * ```ts ignore
 * import { Display } from "@rfb/core";
 * import { publishToNats } from "@rfb/core/nats";
 * const display = new Display(1280, 720);
 * await using link = await publishToNats(display, { servers: "nats://127.0.0.1:4222", stream: "scene" });
 * display.publish(new Uint8Array(1280 * 720 * 4));
 * ```
 */
export async function publishToNats(
  display: Display,
  options: PublishToNatsOptions,
): Promise<HostLink> {
  const where = "publishToNats()";
  checkLinkOptions(where, options);
  const i = internals(display);
  if (display.closed) throw new Error(`${where}: the display is closed`);
  const log = safeLogger(
    options.logger ?? i.options.logger ?? consoleLogger,
    i.options.clock,
  );
  const subjects = subjectsFor(options.prefix ?? "rfb", options.stream);
  const link = await openLink(where, options, log);
  const host = new HostLink(i.hub, link, subjects, log);
  try {
    await host.start();
  } catch (err) {
    await host.close();
    throw err;
  }
  return host;
}

/** Who an edge says its viewer is. */
function identity(w: ViewerWho): RemoteIdentity {
  return { name: w.n ?? null, role: w.r, user: w.u, transport: w.tr ?? null };
}
