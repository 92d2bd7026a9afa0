/**
 * The fan-out hub of one stream: frames come in (raw, to encode here, or
 * already encoded elsewhere), and every viewer session gets the same
 * encoded bytes. The hub owns the encodings (an image `PictureGroup` per
 * format, quality and size, the shared H.264 `VideoGroup`s and the still,
 * or the tracks of a `TrackSource` when it is fed from elsewhere), the
 * newest frame and whether the scene rests, and the sessions themselves,
 * which see it only as a `SessionHub`; its `Presence` says who watches and
 * who drives. Taps (a recorder, a relay to edge servers) see what the
 * sessions see; viewers at edge servers are its `remote` viewers.
 *
 * @module
 */

import type { Clock, TimerHandle } from "../clock.ts";
import { H264Encoders } from "../encoders/h264_encoders.ts";
import type { DisplayEvent } from "../events.ts";
import {
  type Channels,
  type Frame,
  FramePool,
  type PooledFrame,
  type YuvPlanes,
} from "../frame.ts";
import { checkSize, type ResolvedDisplayOptions } from "../options.ts";
import {
  CLOSE_GOING_AWAY,
  type ImageFormat,
  type NegotiationOffer,
} from "../protocol.ts";
import type { DisplayStats } from "../display_stats.ts";
import { Session } from "../session/session.ts";
import type {
  SessionHub,
  SessionRequest,
  ViewerSocket,
} from "../session/types.ts";
import { type EncodedImage, type EncodedVideo, Feed } from "./feed.ts";
import { PictureGroups } from "./picture_groups.ts";
import { Presence, type StreamDesk } from "./presence.ts";
import { RemoteViewers } from "./remote_viewers.ts";
import { EncodeTotals } from "./totals.ts";
import type {
  PictureTrack,
  StreamTap,
  TrackSource,
  VideoChunk,
  VideoTrack,
} from "./tracks.ts";
import { newViewerId } from "./viewer_ids.ts";
import { type H264Source, VideoTracks } from "./video_tracks.ts";

/** A stream fed with pictures encoded elsewhere (see `Hub.feedVideo`). */
export interface FeedOptions {
  /** A viewer needs an IDR: ask whoever encodes for one. */
  requestKeyframe: () => void;
  /** The H.264 codec string, when known before the first unit arrives. */
  codec?: string;
}

/** How to make a `Hub`. */
export interface HubOptions {
  /** Stream name. */
  name: string;
  /** The stream's settings (read live: a retune changes them in place). */
  options: ResolvedDisplayOptions;
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** Where viewers' input events go. */
  input: (ev: DisplayEvent) => void;
  /** Bytes of a viewer's files waiting there (default: none). */
  fileBytes?: (viewer: number) => number;
  /** H.264 encoders (default: NVENC or libx264, per `options.encoder`). */
  h264?: H264Source;
  /** Take encoded pictures from the app (`feedVideo`, `feedPicture`) instead of encoding here. */
  feed?: FeedOptions;
  /** Take every track from this source instead of encoding here (an edge server). */
  source?: TrackSource;
  /** Who decides who drives (default: a `Presence` of its own; an edge's desk asks its host). */
  desk?: StreamDesk;
}

/** The hub's part of `Display.stats()`. */
export type HubStats = Omit<
  DisplayStats,
  "name" | "width" | "height" | "eventsQueued" | "eventsDropped"
>;

/**
 * One stream's encodings and viewers.
 *
 * @example
 * ```ts ignore
 * const hub = new Hub({ name: "default", options, width: 640, height: 480, input: (ev) => queue.push(ev) });
 * hub.accept(socket, { request });
 * hub.publish({ bytes: rgba, channels: 4 }, null, 1);
 * ```
 */
export class Hub implements SessionHub {
  /** Stream name. */
  readonly name: string;
  /** The stream's settings. */
  readonly options: ResolvedDisplayOptions;
  /** Who watches and who drives. */
  readonly presence: StreamDesk;
  /** Viewers at edge servers (`src/nats/`). */
  readonly remote: RemoteViewers;
  #width: number;
  #height: number;
  #clock: Clock;
  #input: (ev: DisplayEvent) => void;
  #fileBytes: (viewer: number) => number;
  #pool = new FramePool();
  #latest: PooledFrame | null = null;
  #version = 0;
  #lastPublish = 0;
  #publishTimes: number[] = []; // the last few publish() times, ms
  #settled = false;
  #stillTimer: TimerHandle | null = null;
  #pictures: PictureGroups;
  #totals = new EncodeTotals();
  #video: VideoTracks;
  #feed: Feed | null = null;
  #source: TrackSource | null;
  #taps = new Set<StreamTap>();
  #sessions = new Set<Session>();
  #admitted = new Set<Session>(); // past authentication: what maxViewers counts
  #inputDroppedGone = 0; // by viewers that left
  #wakeScheduled = false;
  #closed = false;

  /** Make the hub of a stream; encoders open when viewers need them. */
  constructor(o: HubOptions) {
    this.name = o.name;
    this.options = o.options;
    this.#width = o.width;
    this.#height = o.height;
    this.#clock = o.options.clock;
    this.#input = o.input;
    this.#fileBytes = o.fileBytes ?? (() => 0);
    this.presence = o.desk ??
      new Presence({ options: o.options, input: o.input });
    const where = `display '${o.name}'`;
    const latest = () => this.#latest;
    this.#pictures = new PictureGroups({
      options: () => this.options,
      size: () => this.size(),
      latest,
      pool: this.#pool,
      wake: () => this.wake(),
    });
    this.#video = new VideoTracks({
      where,
      options: o.options,
      encoders: o.h264 ??
        new H264Encoders({
          choice: o.options.encoder,
          log: o.options.logger,
          where,
        }),
      size: () => this.size(),
      latest,
      pool: this.#pool,
      clock: this.#clock,
      log: o.options.logger,
      onChunk: (chunk, group) => this.#offer(chunk, group),
      wake: () => this.wake(),
      onLost: () => {
        for (const s of this.#sessions) s.transportLost();
        for (const t of this.#taps) t.changed?.();
      },
    });
    this.remote = new RemoteViewers({
      clock: this.#clock,
      maxEventRate: () => o.options.maxEventRate,
      desk: this.presence,
    });
    if (o.feed) {
      this.#feed = new Feed({
        requestKeyframe: o.feed.requestKeyframe,
        codec: o.feed.codec,
        minKeyframeInterval: o.options.minKeyframeInterval,
        durationUs: Math.round(1e6 / o.options.fps),
        firstTimeout: o.options.authTimeout,
        clock: this.#clock,
        wake: () => this.wake(),
      });
    }
    this.#source = o.source ?? this.#feed;
  }

  /** The number of viewers connected. */
  get viewers(): number {
    return this.#sessions.size;
  }

  /** Start a session on a newly upgraded socket (refused when the stream is closed). */
  accept(socket: ViewerSocket, req: SessionRequest): Session {
    const session = new Session(newViewerId(), this, socket, {
      ...req,
      authenticate: this.options.authenticate ?? req.authenticate,
    });
    if (this.#closed) {
      session.close(CLOSE_GOING_AWAY, "display closed");
      return session;
    }
    this.#sessions.add(session);
    return session;
  }

  /**
   * Admit an authenticated session as a viewer, if `maxViewers` allows:
   * sockets still in their handshake never count, so they cannot keep a
   * viewer with the right token out.
   */
  join(session: object): boolean {
    if (this.#admitted.has(session as Session)) return true;
    if (this.#admitted.size >= this.options.maxViewers) {
      this.options.logger(
        "warn",
        `display '${this.name}': refused a viewer, ${this.options.maxViewers} already watch (maxViewers)`,
      );
      return false;
    }
    this.#admitted.add(session as Session);
    return true;
  }

  // --- what sessions see (SessionHub) ---

  /** The stream's current size. */
  size(): { width: number; height: number } {
    return { width: this.#width, height: this.#height };
  }

  /** The version of the newest frame or picture, 0 before the first. */
  newest(): number {
    if (this.#source) return this.#source.newest();
    return this.#latest?.version ?? 0;
  }

  /**
   * Frames published per second lately (the last 16, within two seconds),
   * at most the display's `fps`; the display's `fps` when too few came.
   */
  publishFps(): number {
    const { fps } = this.options;
    const fed = this.#source?.publishFps();
    if (fed != null) return Math.min(fps, fed);
    const now = this.#clock.now();
    const times = this.#publishTimes.filter((t) => now - t <= 2000);
    if (times.length < 3) return fps;
    const span = times[times.length - 1] - times[0];
    if (span <= 0) return fps;
    return Math.min(fps, (times.length - 1) * 1000 / span);
  }

  /** True once no frame was published for `stillAfter` seconds. */
  settled(): boolean {
    return this.#source?.settled() ?? this.#settled;
  }

  /** What viewers may choose from: the transport, the image format, and the H.264 codec if any. */
  async offer(): Promise<NegotiationOffer> {
    const { transport, imageFormat } = this.options;
    const offer: NegotiationOffer = { transport, imageFormat, h264Codec: null };
    if (this.#source) return this.#source.offer(offer);
    if (transport === "image") return offer;
    offer.h264Codec = await this.#video.offerCodec();
    return offer;
  }

  /**
   * The pictures of one encoding (pull delivery); `"h264"` is the still IDR.
   * `scale` below 1 encodes a smaller picture (images only; a slow link).
   */
  pictures(
    format: ImageFormat | "h264",
    quality: number,
    still: boolean,
    scale = 1,
  ): PictureTrack | null {
    if (this.#source) {
      return this.#source.pictures(format, quality, still, scale);
    }
    if (format === "h264") return still ? this.#video.still() : null;
    return this.#pictures.get(format, quality, still, scale);
  }

  /** The shared H.264 stream at a quality step (push delivery). */
  video(step: number): VideoTrack {
    return this.#source ? this.#source.video(step) : this.#video.track(step);
  }

  /** Hand a viewer's input event to the app. */
  input(ev: DisplayEvent): void {
    this.#input(ev);
  }

  /** Bytes of viewer `id`'s files waiting in the app's queue. */
  fileBytesQueued(id: number): number {
    return this.#fileBytes(id);
  }

  /** Run a delivery pass over every session soon (once, however often asked). */
  wake(): void {
    if (this.#wakeScheduled) return;
    this.#wakeScheduled = true;
    queueMicrotask(() => {
      this.#wakeScheduled = false;
      if (this.#closed) return;
      for (const t of this.#taps) t.pump();
      for (const s of this.#sessions) s.pump();
    });
  }

  /** A session ended. */
  leave(session: object): void {
    if (this.#sessions.delete(session as Session)) {
      this.#inputDroppedGone += (session as Session).inputDropped;
    }
    this.#admitted.delete(session as Session);
    this.presence.leave(session as Session);
  }

  // --- what the display (or a feed) does ---

  /** Take a frame as RGB-ish pixels, YUV planes, or both (the GPU path). */
  publish(
    rgb: { bytes: Uint8Array; channels: Channels } | null,
    yuv: YuvPlanes | null,
    pixelRatio: number,
  ): void {
    if (this.#closed) return;
    if (this.#source) {
      throw new Error(
        `display '${this.name}' is fed with encoded pictures; it takes no frames`,
      );
    }
    // YUV frames carry BT.709; the scaler makes BT.601 from RGB.
    this.#video.setMatrix(yuv ? "bt709" : "bt601");
    const next = this.#pool.take({
      rgb: rgb?.bytes ?? null,
      channels: rgb?.channels,
      width: this.#width,
      height: this.#height,
      version: ++this.#version,
      timestampUs: this.#clock.epochMicros(),
      pixelRatio,
      yuv,
    });
    if (this.#latest) this.#pool.release(this.#latest);
    this.#latest = next;
    this.#lastPublish = this.#clock.now();
    this.#publishTimes.push(this.#lastPublish);
    if (this.#publishTimes.length > 16) this.#publishTimes.shift();
    this.#settled = false;
    this.#armStill();
    this.wake();
  }

  /**
   * Take one H.264 access unit encoded elsewhere and push it to the video
   * viewers. A new size renegotiates every viewer first. Throws a
   * `TypeError` for a malformed unit, or when this hub is not fed.
   */
  feedVideo(unit: EncodedVideo): void {
    const feed = this.#feedOrThrow("feedVideo");
    Feed.checkVideo(unit);
    if (this.#closed) return;
    this.#fitTo(unit.width, unit.height, "feedVideo()");
    this.pushChunk(feed.putVideo(unit), feed.videoTrack);
  }

  /** Offer a unit of a fed H.264 track to every viewer (and tap), then look for work. */
  pushChunk(chunk: VideoChunk, track: VideoTrack): void {
    if (this.#closed) return;
    this.#offer(chunk, track);
    this.wake();
  }

  /**
   * Take one image file encoded elsewhere; image viewers pull it as the
   * newest picture. Throws a `TypeError` for a malformed picture, or when
   * this hub is not fed.
   */
  feedPicture(image: EncodedImage): void {
    const feed = this.#feedOrThrow("feedPicture");
    Feed.checkPicture(image);
    if (this.#closed) return;
    this.#fitTo(image.width, image.height, "feedPicture()");
    feed.putPicture(image);
    this.wake();
  }

  /** Change the frame size: encoders restart, viewers get a new `config`. */
  resize(width: number, height: number): void {
    if (width === this.#width && height === this.#height) return;
    this.#width = width;
    this.#height = height;
    if (this.#latest) this.#pool.release(this.#latest);
    this.#latest = null;
    this.#pool.clear();
    this.#retirePictures();
    this.#video.close();
    for (const t of this.#taps) t.resized();
    for (const s of this.#sessions) s.resized();
  }

  /** The settings changed: encoders restart, every viewer renegotiates. */
  retune(): void {
    this.#retirePictures();
    this.#video.close();
    for (const s of this.#sessions) s.reconfigure();
    for (const t of this.#taps) t.changed?.();
    this.presence.retune();
    this.#armStill();
    this.wake();
  }

  /** Which frame forms the negotiated viewers need now. */
  needs(): { rgba: boolean; yuv: boolean } {
    let rgba = false, yuv = false;
    for (const s of this.#sessions) {
      const t = s.transport;
      if (t === "image") rgba = true;
      else if (t === "webcodecs") yuv = true;
    }
    for (const tap of this.#taps) {
      const n = tap.needs?.();
      rgba ||= n?.rgba ?? false;
      yuv ||= n?.yuv ?? false;
    }
    return { rgba, yuv };
  }

  /** The hub's figures now. */
  stats(): HubStats {
    const p = this.#totals.with(this.#pictures.values());
    const v = this.#video.totals();
    const encodes = p.encodes + v.encodes;
    const off = this.#video.unavailable();
    const remote = this.remote.stats();
    const recordings = [...this.#taps].flatMap((t) => t.stats?.() ?? []);
    return {
      viewers: this.#sessions.size + remote.length,
      framesPublished: this.#source ? this.#source.newest() : this.#version,
      encodes,
      encodeMsMean: encodes ? (p.encodeMsTotal + v.encodeMsTotal) / encodes : 0,
      encodeFailures: p.failures + v.failures,
      keyframesForced: v.forcedKeyframes +
        (this.#source?.keyframeRequests() ?? 0),
      h264: off
        ? `unavailable: ${off}`
        : this.#video.live || this.#source?.live()
        ? "live"
        : "idle",
      viewerStats: [...this.#sessions].map((s) => s.stats()).concat(remote),
      inputDropped: [...this.#sessions].reduce(
        (n, s) => n + s.inputDropped,
        this.#inputDroppedGone + this.remote.inputDropped,
      ),
      ...(recordings.length ? { recordings } : {}),
    };
  }

  /** Follow the stream with `tap` (a recorder, a relay) until the returned function is called. */
  addTap(tap: StreamTap): () => void {
    this.#taps.add(tap);
    return () => this.#taps.delete(tap);
  }

  /** The newest frame, held until `release()` (null before the first, or when fed). */
  hold(): { frame: Frame; release: () => void } | null {
    const frame = this.#latest;
    if (!frame) return null;
    frame.refs++;
    return { frame, release: () => this.#pool.release(frame) };
  }

  /**
   * The shared H.264 stream's codec string (a fed one's may be unknown
   * before the first unit: `"avc1"`), or null when H.264 is off here.
   */
  h264Codec(): Promise<string | null> {
    return this.#source
      ? Promise.resolve(this.#source.codec() ?? "avc1")
      : this.#video.offerCodec();
  }

  /** Why H.264 is off now (for good, or at this size), or null. */
  h264Off(): string | null {
    return this.#source ? null : this.#video.unavailable();
  }

  /** Close every viewer (1001) and encoder; resolves once the encoders are freed. */
  close(): Promise<void> {
    const taps = [...this.#taps].map((t) => t.close().catch(() => {}));
    if (!this.#closed) {
      this.#closed = true;
      this.presence.close();
      if (this.#stillTimer !== null) this.#clock.clearTimeout(this.#stillTimer);
      this.#stillTimer = null;
      for (const s of [...this.#sessions]) {
        s.close(CLOSE_GOING_AWAY, "display closed");
      }
      this.#video.close();
      this.#source?.close();
      if (this.#latest) this.#pool.release(this.#latest);
      this.#latest = null;
    }
    return Promise.all([...taps, this.#video.settled()]).then(() => {});
  }

  /** Offer a unit to every tap and session. */
  #offer(chunk: VideoChunk, track: VideoTrack): void {
    for (const t of this.#taps) t.chunk(chunk, track);
    for (const s of this.#sessions) s.offerChunk(chunk, track);
  }

  #feedOrThrow(where: string): Feed {
    if (!this.#feed) {
      throw new TypeError(
        `${where}(): display '${this.name}' encodes its own frames; make a fed hub to give it encoded pictures`,
      );
    }
    return this.#feed;
  }

  /** Take the size of a fed picture (a change renegotiates every viewer). */
  #fitTo(width: number, height: number, where: string): void {
    checkSize(where, width, height);
    this.resize(width, height);
  }

  #retirePictures(): void {
    for (const g of this.#pictures.clear()) this.#totals.retire(g);
  }

  #armStill(): void {
    const after = this.options.stillAfter;
    if (after === false || this.#stillTimer !== null) return;
    const check = () => {
      this.#stillTimer = null;
      if (this.#closed) return;
      const rest = this.#lastPublish + after * 1000 - this.#clock.now();
      if (rest > 0) {
        this.#stillTimer = this.#clock.setTimeout(check, rest);
        return;
      }
      this.#settled = true;
      this.wake();
    };
    this.#stillTimer = this.#clock.setTimeout(check, after * 1000);
  }
}
