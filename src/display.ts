/**
 * `Display`: one stream of frames and the viewers watching it. The app
 * publishes frames (latest wins, never blocking) and reads input events; the
 * display encodes each frame once per encoding its viewers need and fans the
 * same bytes out to all of them, each under its own flow control.
 *
 * @module
 */

import { type Clock, systemClock, type TimerHandle } from "./clock.ts";
import { encodeImage } from "./encoders/image.ts";
import { EncodeGroup } from "./encoders/group.ts";
import { pictureOf } from "./encoders/h264.ts";
import { EncoderRoute } from "./encoders/h264_route.ts";
import { yuvToRgba } from "./yuv.ts";
import {
  type VideoChunk,
  type VideoEncoder,
  VideoGroup,
} from "./encoders/video_group.ts";
import { LADDER } from "./adaptive.ts";
import { type DisplayEvent, EventQueue } from "./events.ts";
import {
  type Channels,
  checkFrame,
  checkYuv,
  type Frame,
  type FrameInput,
  FramePool,
  type PooledFrame,
  type YuvPlanes,
} from "./frame.ts";
import { consoleLogger } from "./log.ts";
import { notebookBundle } from "./notebook.ts";
import {
  checkSize,
  defaultBitrate,
  type DisplayOptions,
  type ResolvedDisplayOptions,
  resolveDisplayOptions,
} from "./options.ts";
import {
  CLOSE_GOING_AWAY,
  CLOSE_TRY_LATER,
  IMAGE_MIME,
  type ImageFormat,
  type NegotiationOffer,
} from "./protocol.ts";
import {
  Session,
  type SessionHost,
  type SessionRequest,
  type ViewerSocket,
  type ViewerStats,
} from "./session.ts";

/** The settings `Display.configure` can change while the display runs. */
export type TunableOptions = Pick<
  DisplayOptions,
  | "transport"
  | "imageFormat"
  | "quality"
  | "bitrate"
  | "fps"
  | "gop"
  | "stillAfter"
  | "adaptive"
>;

const TUNABLE = [
  "transport",
  "imageFormat",
  "quality",
  "bitrate",
  "fps",
  "gop",
  "stillAfter",
  "adaptive",
] as const;

/** Options for one `publish` call. */
export interface PublishOptions {
  /** The frame's render pixel ratio (default: the display's `pixelRatio`). */
  pixelRatio?: number;
  /**
   * The bytes' layout: `"auto"` (RGBA, RGB or gray, told apart by length;
   * the default), or YUV 4:2:0 in BT.709 limited range, `"nv12"` or
   * `"i420"` (`w*h*3/2` bytes, even sizes), which H.264 encodes without a
   * colour conversion.
   */
  layout?: "auto" | "nv12" | "i420";
}

/** Figures for one display, from `Display.stats()`. */
export interface DisplayStats {
  /** Stream name. */
  name: string;
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** Viewers connected (negotiated or not). */
  viewers: number;
  /** Frames published since the display was made. */
  framesPublished: number;
  /** Encodes run (over all groups). */
  encodes: number;
  /** Mean encode time, milliseconds. */
  encodeMsMean: number;
  /** Encodes that failed. */
  encodeFailures: number;
  /** H.264 IDRs made for joining, dropping or asking viewers (beyond the first and the periodic ones). */
  keyframesForced: number;
  /** The H.264 path: `"live"` (an encoder runs), `"idle"`, or `"unavailable: <why>"`. */
  h264: string;
  /** Input events waiting for the app. */
  eventsQueued: number;
  /** Input events dropped because the app did not drain them. */
  eventsDropped: number;
  /** Per-viewer figures. */
  viewerStats: ViewerStats[];
}

/** Where a display is reachable, when a listener hosts it. */
export interface DisplayAddress {
  /** Listener port. */
  port: number;
  /** Page URL for this stream. */
  url: string;
}

/** What the server side of the library needs from a display, kept off its public API. */
export interface DisplayInternals {
  /** Start a session on a newly upgraded socket. */
  accept(socket: ViewerSocket, req: SessionRequest): Session;
  /** Record where the display is served and what to do when it closes. */
  attach(
    address: DisplayAddress | null,
    onClose: (() => Promise<void>) | null,
  ): void;
  /** The resolved options. */
  options: ResolvedDisplayOptions;
  /** Publish RGBA, YUV or both (the GPU path reads back only what viewers need). */
  publishPlanes(rgba: Uint8Array | null, yuv: YuvPlanes | null): void;
  /** Which frame forms the negotiated viewers need now. */
  needs(): { rgba: boolean; yuv: boolean };
}

const internalsOf = new WeakMap<Display, DisplayInternals>();

/**
 * The internals of a display (for the handler and server modules).
 *
 * @example
 * ```ts ignore
 * internals(display).accept(socket, { request });
 * ```
 */
export function internals(display: Display): DisplayInternals {
  const i = internalsOf.get(display);
  if (!i) throw new TypeError("not a Display");
  return i;
}

let nextViewerId = 1;

/**
 * A stream of frames with its viewers.
 *
 * Make one with `serve()` (its own listener), `RfbServer.addStream()` (one of
 * many on a port), or `new Display()` to mount with `handler()` in your own
 * web app.
 *
 * @example
 * ```ts
 * import { Display } from "@rfb/core";
 * const display = new Display(320, 240, { quality: 85 });
 * display.publish(new Uint8Array(320 * 240 * 4)); // RGBA
 * for (const ev of display.pollEvents()) console.log(ev.type);
 * await display.close();
 * ```
 */
export class Display implements AsyncDisposable {
  /** The stream's name (`"default"` unless added to a server under another). */
  readonly name: string;
  #width: number;
  #height: number;
  #opts: ResolvedDisplayOptions;
  #clock: Clock;
  #pool = new FramePool();
  #latest: PooledFrame | null = null;
  #version = 0;
  #lastPublish = 0;
  #settled = false;
  #stillTimer: TimerHandle | null = null;
  #groups = new Map<string, EncodeGroup>();
  #videos = new Map<number, VideoGroup>(); // by quality step
  #videoStill: { group: EncodeGroup; encoder: Promise<VideoEncoder> } | null =
    null;
  #route: EncoderRoute;
  #h264: Promise<{ ok: boolean; reason: string }> | null = null;
  #videoBroken: string | null = null;
  #videoBrokenAt: { size: string; reason: string } | null = null;
  #matrix: "bt601" | "bt709" = "bt601";
  #encodersClosing = new Set<Promise<void>>();
  #probes = new Set<Promise<unknown>>();
  #retired = { encodes: 0, ms: 0, failures: 0, keyframes: 0 };
  #sessions = new Set<Session>();
  #events: EventQueue;
  #pumpScheduled = false;
  #closed = false;
  #closing: Promise<void> | null = null;
  #address: DisplayAddress | null = null;
  #onClose: (() => Promise<void>) | null = null;

  /**
   * Make a display of `width` x `height` pixels.
   *
   * @param width frame width, 1-16383
   * @param height frame height, 1-16383
   * @param options encoding, flow-control and auth settings
   * @param name stream name (set by `RfbServer.addStream`)
   */
  constructor(
    width: number,
    height: number,
    options: DisplayOptions = {},
    name = "default",
  ) {
    checkSize("Display", width, height);
    this.#opts = resolveDisplayOptions(options, "Display", {
      logger: consoleLogger,
      clock: systemClock,
    });
    this.#clock = this.#opts.clock;
    this.#width = width;
    this.#height = height;
    this.name = name;
    this.#route = new EncoderRoute(
      this.#opts.encoder,
      this.#opts.logger,
      `display '${name}'`,
    );
    this.#events = new EventQueue(this.#opts.maxQueuedEvents);
    internalsOf.set(this, {
      accept: (socket, req) => this.#accept(socket, req),
      attach: (address, onClose) => {
        this.#address = address;
        this.#onClose = onClose;
      },
      options: this.#opts,
      publishPlanes: (rgba, yuv) =>
        this.#publishPlanes(rgba ? { bytes: rgba, channels: 4 } : null, yuv),
      needs: () => {
        let rgba = false, yuv = false;
        for (const s of this.#sessions) {
          const t = s.transport;
          if (t === "image") rgba = true;
          else if (t === "webcodecs") yuv = true;
        }
        return { rgba, yuv };
      },
    });
  }

  /** Frame width in pixels. */
  get width(): number {
    return this.#width;
  }

  /** Frame height in pixels. */
  get height(): number {
    return this.#height;
  }

  /** The listener's port, or `null` when the display is only mounted with `handler()`. */
  get port(): number | null {
    return this.#address?.port ?? null;
  }

  /** The page to open in a browser, or `null` when not served by this library's listener. */
  get url(): string | null {
    return this.#address?.url ?? null;
  }

  /** The number of viewers connected. */
  get viewers(): number {
    return this.#sessions.size;
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }

  /**
   * Publish a frame: RGBA (`width*height*4` bytes), RGB (`*3`) or gray
   * (`*1`), as a `Uint8Array`, a `Uint8ClampedArray` or an `ImageData`-like
   * `{ data, width, height }`. The pixels are copied, so the caller may reuse
   * its buffer at once. Returns at once; the newest frame wins, and frames no
   * viewer had room for are never encoded. Throws a `TypeError` naming the
   * expected size when the buffer does not fit.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(2, 1);
   * display.publish(new Uint8Array([255, 0, 0, 255, 0, 0, 255, 255]));
   * await display.close();
   * ```
   */
  publish(frame: FrameInput, options: PublishOptions = {}): void {
    if (this.#closed) {
      throw new Error(`publish(): display '${this.name}' is closed`);
    }
    const pixelRatio = options.pixelRatio ?? this.#opts.pixelRatio;
    if (!Number.isFinite(pixelRatio) || pixelRatio <= 0) {
      throw new RangeError(
        `publish(): pixelRatio must be a positive number, got ${pixelRatio}`,
      );
    }
    const layout = options.layout ?? "auto";
    if (layout === "nv12" || layout === "i420") {
      this.#publishPlanes(null, {
        layout,
        data: checkYuv(frame, this.#width, this.#height),
      }, pixelRatio);
      return;
    }
    if (layout !== "auto") {
      throw new TypeError(
        `publish(): layout must be "auto", "nv12" or "i420", got ${
          JSON.stringify(layout)
        }`,
      );
    }
    const { bytes, channels } = checkFrame(frame, this.#width, this.#height);
    this.#publishPlanes({ bytes, channels }, null, pixelRatio);
  }

  /** Take a frame as RGB-ish pixels, YUV planes, or both (the GPU path). */
  #publishPlanes(
    rgb: { bytes: Uint8Array; channels: Channels } | null,
    yuv: YuvPlanes | null,
    pixelRatio = this.#opts.pixelRatio,
  ): void {
    if (this.#closed) return;
    // YUV frames carry BT.709; the scaler makes BT.601 from RGB. The H.264
    // stream signals its matrix, so a change of source restarts it.
    const matrix = yuv ? "bt709" : "bt601";
    if (matrix !== this.#matrix) {
      this.#matrix = matrix;
      this.#closeVideo();
    }
    const next = this.#pool.take(
      rgb?.bytes ?? null,
      this.#width,
      this.#height,
      rgb?.channels ?? 4,
      ++this.#version,
      this.#clock.epochMicros(),
      pixelRatio,
      yuv,
    );
    if (this.#latest) this.#pool.release(this.#latest);
    this.#latest = next;
    this.#lastPublish = this.#clock.now();
    this.#settled = false;
    this.#armStill();
    this.#schedulePump();
  }

  /**
   * Take every input event received since the last call, from all viewers.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64);
   * for (const ev of display.pollEvents()) {
   *   if (ev.type === "pointer_down") console.log("click at", ev.x, ev.y);
   * }
   * await display.close();
   * ```
   */
  pollEvents(): DisplayEvent[] {
    return this.#events.drain();
  }

  /**
   * Input events as they arrive; the iteration ends when the display closes.
   * It drains the same queue as `pollEvents()`.
   *
   * @example
   * ```ts ignore
   * for await (const ev of display.events()) {
   *   if (ev.type === "key_down") console.log(ev.key);
   * }
   * ```
   */
  events(): AsyncGenerator<DisplayEvent, void, undefined> {
    return this.#events.iterate();
  }

  /**
   * Retune the stream while it runs: image format and quality, H.264
   * bitrate, frame rate and GOP, still-after, transport, adaptation. Every
   * viewer renegotiates (a new `config`) and restarts from a full picture.
   * Throws a `RangeError` for a bad value, changing nothing.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64);
   * display.configure({ quality: 60, stillAfter: false });
   * console.log(display.settings().quality); // 60
   * await display.close();
   * ```
   */
  configure(changes: TunableOptions): void {
    const keys = Object.keys(changes ?? {});
    const bad = keys.filter((k) => !(TUNABLE as readonly string[]).includes(k));
    if (bad.length) {
      throw new TypeError(
        `configure(): cannot change ${
          bad.join(", ")
        } on a running display; tunable: ${TUNABLE.join(", ")}`,
      );
    }
    const current: DisplayOptions = {};
    for (const k of TUNABLE) {
      const v = this.#opts[k];
      if (v !== null) (current as Record<string, unknown>)[k] = v; // null: derived
    }
    const next = resolveDisplayOptions(
      { ...current, ...changes },
      "configure()",
      {
        logger: this.#opts.logger,
        clock: this.#clock,
      },
    );
    const opts = this.#opts as Record<string, unknown>;
    for (const k of TUNABLE) opts[k] = (next as Record<string, unknown>)[k];
    this.#retireGroups();
    this.#closeVideo();
    for (const s of this.#sessions) s.reconfigure();
    this.#armStill();
    this.#schedulePump();
  }

  /**
   * The display's current tunable settings (see `configure`).
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64, { fps: 30 });
   * console.log(display.settings().fps); // 30
   * await display.close();
   * ```
   */
  settings(): Required<Omit<TunableOptions, "bitrate">> & { bitrate: number } {
    const o = this.#opts;
    return {
      transport: o.transport,
      imageFormat: o.imageFormat,
      quality: o.quality,
      bitrate: this.#target(0).bitrate,
      fps: o.fps,
      gop: o.gop,
      stillAfter: o.stillAfter,
      adaptive: o.adaptive,
    };
  }

  /**
   * Change the frame size. Viewers get a new `config`; the next frame must
   * have the new size.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64);
   * display.resize(128, 96);
   * display.publish(new Uint8Array(128 * 96 * 4));
   * await display.close();
   * ```
   */
  resize(width: number, height: number): void {
    checkSize("resize()", width, height);
    if (width === this.#width && height === this.#height) return;
    this.#width = width;
    this.#height = height;
    if (this.#latest) this.#pool.release(this.#latest);
    this.#latest = null;
    this.#pool.clear();
    this.#retireGroups();
    this.#closeVideo();
    for (const s of this.#sessions) s.resized();
  }

  /**
   * Figures for this display and each viewer.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64);
   * console.log(display.stats().viewers); // 0
   * await display.close();
   * ```
   */
  stats(): DisplayStats {
    let encodes = this.#retired.encodes;
    let ms = this.#retired.ms;
    let failures = this.#retired.failures;
    let keyframes = this.#retired.keyframes;
    for (const g of [...this.#groups.values(), ...this.#videos.values()]) {
      encodes += g.encodes;
      ms += g.encodeMsTotal;
      failures += g.failures;
      if (g instanceof VideoGroup) keyframes += g.forcedKeyframes;
    }
    return {
      name: this.name,
      width: this.#width,
      height: this.#height,
      viewers: this.#sessions.size,
      framesPublished: this.#version,
      encodes,
      encodeMsMean: encodes ? ms / encodes : 0,
      encodeFailures: failures,
      keyframesForced: keyframes,
      h264: this.#h264Off()
        ? `unavailable: ${this.#h264Off()}`
        : this.#videos.size
        ? "live"
        : "idle",
      eventsQueued: this.#events.size,
      eventsDropped: this.#events.dropped,
      viewerStats: [...this.#sessions].map((s) => s.stats()),
    };
  }

  /**
   * Close every viewer (code 1001), end `events()`, and stop the listener if
   * this display has its own (`serve()`).
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64);
   * await display.close();
   * ```
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closed = true;
    if (this.#stillTimer !== null) this.#clock.clearTimeout(this.#stillTimer);
    this.#stillTimer = null;
    for (const s of [...this.#sessions]) {
      s.close(CLOSE_GOING_AWAY, "display closed");
    }
    this.#events.close();
    this.#closeVideo();
    if (this.#latest) this.#pool.release(this.#latest);
    this.#latest = null;
    const onClose = this.#onClose;
    this.#onClose = null;
    this.#closing = (async () => {
      // Native encoders still opening or encoding must finish before the
      // caller (or the process) moves on: freeing under them crashes.
      await Promise.all(
        [...this.#encodersClosing, ...this.#probes].map((p) =>
          p.catch(() => {})
        ),
      );
      if (onClose) await onClose();
    })();
    return this.#closing;
  }

  /** In Deno's Jupyter kernel, a display shown as a cell's value is a live viewer. */
  [Symbol.for("Jupyter.display")](): Record<string, string> {
    return notebookBundle(this);
  }

  /** `await using display = await serve(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #accept(socket: ViewerSocket, req: SessionRequest): Session {
    // deno-lint-ignore no-this-alias
    const self = this;
    const host: SessionHost = {
      name: this.name,
      options: this.#opts,
      get width() {
        return self.#width;
      },
      get height() {
        return self.#height;
      },
      latest: () => this.#latest,
      settled: () => this.#settled,
      group: (format, quality, still) => this.#group(format, quality, still),
      video: (step) => this.#videoGroup(step),
      target: (step) => this.#target(step),
      videoStill: () => this.#videoStillGroup(),
      offer: () => this.#offer(),
      pushEvent: (ev) => this.#events.push(ev),
      schedulePump: () => this.#schedulePump(),
      detach: (s) => this.#sessions.delete(s),
    };
    const session = new Session(nextViewerId++, host, socket, {
      ...req,
      authenticate: this.#opts.authenticate ?? req.authenticate,
    });
    if (this.#closed) {
      session.close(CLOSE_GOING_AWAY, "display closed");
      return session;
    }
    if (this.#sessions.size >= this.#opts.maxViewers) {
      this.#opts.logger(
        "warn",
        `display '${this.name}': refused a viewer, ${this.#opts.maxViewers} already watch (maxViewers)`,
      );
      session.refuse(CLOSE_TRY_LATER, "too many viewers");
      return session;
    }
    this.#sessions.add(session);
    return session;
  }

  async #offer(): Promise<NegotiationOffer> {
    const offer: NegotiationOffer = {
      transport: this.#opts.transport,
      imageFormat: this.#opts.imageFormat,
      h264Codec: null,
    };
    if (this.#opts.transport === "image" || this.#h264Off()) return offer;
    this.#h264 ??= this.#route.available();
    const probe = await this.#h264;
    if (!probe.ok) {
      this.#noteVideoBroken(probe.reason);
      return offer;
    }
    try {
      const probe = this.#videoGroup().codec();
      this.#probes.add(probe);
      probe.finally(() => this.#probes.delete(probe)).catch(() => {});
      offer.h264Codec = await probe;
    } catch (err) {
      this.#noteVideoBroken(
        `H.264 encoder could not open: ${(err as Error)?.message ?? err}`,
        true,
      );
    }
    return offer;
  }

  /**
   * Say why H.264 is off and move its viewers to images. When only this
   * size failed (libx264 refuses odd sizes), H.264 comes back after a resize;
   * when node-av itself is missing, it stays off.
   */
  #noteVideoBroken(reason: string, thisSizeOnly = false): void {
    if (this.#h264Off()) return;
    if (thisSizeOnly) {
      this.#videoBrokenAt = { size: `${this.width}x${this.height}`, reason };
    } else this.#videoBroken = reason;
    this.#opts.logger(
      "warn",
      `display '${this.name}': H.264 is unavailable${
        thisSizeOnly ? ` at ${this.width}x${this.height}` : ""
      }, using images: ${reason}`,
    );
    for (const s of this.#sessions) s.transportLost();
  }

  /** Why H.264 is off now (for good, or at this size), or null. */
  #h264Off(): string | null {
    if (this.#videoBroken) return this.#videoBroken;
    const at = this.#videoBrokenAt;
    return at && at.size === `${this.width}x${this.height}` ? at.reason : null;
  }

  /** Bitrate and frame rate at a quality step (step 0: as configured). */
  #target(step: number): { bitrate: number; fps: number } {
    const { fps } = this.#opts;
    const bitrate = this.#opts.bitrate ??
      defaultBitrate(this.width, this.height, fps);
    const s = LADDER[Math.min(step, LADDER.length - 1)];
    return {
      bitrate: Math.round(bitrate * s.bitrate),
      fps: Math.max(1, fps * s.fps),
    };
  }

  #videoSettings(step = 0) {
    const { bitrate, fps } = this.#target(step);
    return {
      width: this.width,
      height: this.height,
      fps,
      bitrate,
      gop: this.#opts.gop,
      preset: this.#opts.preset,
      matrix: this.#matrix,
    };
  }

  #videoGroup(step = 0): VideoGroup {
    const existing = this.#videos.get(step);
    if (existing && !existing.closed) return existing;
    const settings = this.#videoSettings(step);
    const group: VideoGroup = new VideoGroup(
      `h264:${settings.width}x${settings.height}:q${step}`,
      settings,
      this.#opts.minKeyframeInterval,
      this.#pool,
      this.#clock,
      this.#opts.logger,
      (chunk) => this.#deliverChunk(chunk, group),
      () => this.#schedulePump(),
      (reason) => this.#noteVideoBroken(reason, true),
      LADDER[Math.min(step, LADDER.length - 1)].fps < 1,
      this.#route,
    );
    this.#videos.set(step, group);
    return group;
  }

  #deliverChunk(chunk: VideoChunk, group: VideoGroup): void {
    for (const s of this.#sessions) s.offerChunk(chunk, group);
  }

  /** Resting frames as clean, high-quality IDRs, once per version for every viewer. */
  #videoStillGroup(): EncodeGroup {
    if (this.#videoStill) return this.#videoStill.group;
    const open = () => {
      const encoder = this.#route.open({
        ...this.#videoSettings(),
        still: true,
      });
      encoder.catch(() => {});
      return encoder;
    };
    let generation = this.#route.generation;
    // Its own record, so an encode still running after close() finds it.
    const still = { encoder: open() } as {
      group: EncodeGroup;
      encoder: Promise<VideoEncoder>;
    };
    const group = new EncodeGroup(
      "h264:still",
      "video/h264",
      async (frame) => {
        if (generation !== this.#route.generation) {
          // The route fell back to libx264 since this encoder opened.
          generation = this.#route.generation;
          const old = still.encoder;
          still.encoder = open();
          old.then((e) => e.close(), () => {});
        }
        const chunk = await (await still.encoder).encode(
          pictureOf(frame),
          true,
        );
        if (!chunk) throw new Error("the still encoder produced nothing");
        return chunk.data;
      },
      this.#pool,
      () => this.#schedulePump(),
      this.#opts.logger,
    );
    still.group = group;
    this.#videoStill = still;
    return group;
  }

  /** Close every H.264 encoder; resolves once they are freed. */
  #closeVideo(): Promise<void> {
    const closing: Promise<void>[] = [];
    for (const v of this.#videos.values()) {
      this.#retired.encodes += v.encodes;
      this.#retired.ms += v.encodeMsTotal;
      this.#retired.failures += v.failures;
      this.#retired.keyframes += v.forcedKeyframes;
      closing.push(v.close());
    }
    this.#videos.clear();
    if (this.#videoStill) {
      closing.push(this.#videoStill.encoder.then((e) => e.close(), () => {}));
    }
    this.#videoStill = null;
    const done = Promise.all(closing).then(() => {});
    this.#encodersClosing.add(done);
    done.finally(() => this.#encodersClosing.delete(done));
    return done;
  }

  #group(format: ImageFormat, quality: number, still: boolean): EncodeGroup {
    const key = `${format}:${quality}:${still ? "still" : "live"}`;
    let g = this.#groups.get(key);
    if (!g) {
      g = new EncodeGroup(
        key,
        IMAGE_MIME[format],
        (frame) =>
          (this.#opts.imageEncoder ?? encodeImage)(withRgb(frame), {
            format,
            quality,
            still,
          }),
        this.#pool,
        () => this.#schedulePump(),
        this.#opts.logger,
      );
      this.#groups.set(key, g);
    }
    return g;
  }

  #retireGroups(): void {
    for (const g of this.#groups.values()) {
      this.#retired.encodes += g.encodes;
      this.#retired.ms += g.encodeMsTotal;
      this.#retired.failures += g.failures;
    }
    this.#groups.clear();
  }

  #armStill(): void {
    const after = this.#opts.stillAfter;
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
      this.#schedulePump();
    };
    this.#stillTimer = this.#clock.setTimeout(check, after * 1000);
  }

  #schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      if (this.#closed) return;
      for (const s of this.#sessions) s.pump();
    });
  }
}

/** A frame with RGB pixels: YUV-only frames are converted (for image viewers). */
function withRgb(frame: Frame): Frame {
  if (frame.data.length > 0 || !frame.yuv) return frame;
  return {
    ...frame,
    data: yuvToRgba(
      frame.yuv.data,
      frame.width,
      frame.height,
      frame.yuv.layout,
    ),
    channels: 4,
  };
}
