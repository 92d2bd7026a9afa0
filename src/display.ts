/**
 * `Display`: the app's side of one stream. The app publishes frames (latest
 * wins, never blocking), reads input events, retunes, resizes and reads
 * figures; the display checks what it is given and hands frames to its hub
 * (src/hub/), which encodes each frame once per encoding its viewers need
 * and fans the same bytes out to all of them.
 *
 * @module
 */

import { systemClock } from "./clock.ts";
import { type DisplayEvent, EventQueue } from "./events.ts";
import {
  checkFrame,
  checkYuv,
  type FrameInput,
  type YuvPlanes,
} from "./frame.ts";
import { takeSlot, withSlot } from "./display_slot.ts";
import { Hub } from "./hub/hub.ts";
import { consoleLogger } from "./log.ts";
import { notebookBundle } from "./notebook.ts";
import {
  checkSize,
  type DisplayOptions,
  type ResolvedDisplayOptions,
  resolveDisplayOptions,
  TUNABLE,
  type TunableOptions,
} from "./options.ts";
import type { Session } from "./session/session.ts";
import type { SessionRequest, ViewerSocket } from "./session/types.ts";
import { targetAt } from "./hub/video_tracks.ts";
import type { ViewerPresence } from "./hub/presence.ts";
import type { DisplayStats } from "./display_stats.ts";
import { type Recording, startRecording } from "./record/recording.ts";
import { stillBase64, takeSnapshot } from "./record/snapshot.ts";
import type { RecordOptions, SnapshotOptions } from "./record/types.ts";
import { clipboardMessage } from "./protocol.ts";
import { utf8Length } from "./session/clipboard.ts";

export type { DisplayStats, ViewerPresence };

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
  /** The stream's hub. */
  hub: Hub;
}

const internalsOf = new WeakMap<Display, DisplayInternals>();

/**
 * A display with a stream name other than `"default"`, for
 * `RfbServer.addStream`; the public constructor has no name parameter.
 *
 * @example
 * ```ts ignore
 * const cam = namedDisplay("cam", 640, 480, {});
 * console.log(cam.name); // "cam"
 * ```
 */
export function namedDisplay(
  name: string,
  width: number,
  height: number,
  options: DisplayOptions,
): Display {
  return withSlot(
    { name, sourced: null },
    () => new Display(width, height, options),
  );
}

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
  #opts: ResolvedDisplayOptions;
  #hub: Hub;
  #events: EventQueue;
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
   */
  constructor(width: number, height: number, options: DisplayOptions = {}) {
    const { name, sourced } = takeSlot();
    checkSize("Display", width, height);
    this.#opts = resolveDisplayOptions(options, "Display", {
      logger: consoleLogger,
      clock: systemClock,
    });
    this.name = name;
    this.#events = new EventQueue(this.#opts.maxQueuedEvents);
    this.#hub = new Hub({
      name,
      options: this.#opts,
      width,
      height,
      input: sourced?.input ?? ((ev) => this.#events.push(ev)),
      source: sourced?.source,
      desk: sourced?.desk,
      fileBytes: (viewer) => this.#events.fileBytes(viewer),
    });
    internalsOf.set(this, {
      accept: (socket, req) => this.#hub.accept(socket, req),
      attach: (address, onClose) => {
        this.#address = address;
        this.#onClose = onClose;
      },
      options: this.#opts,
      publishPlanes: (rgba, yuv) =>
        this.#hub.publish(
          rgba ? { bytes: rgba, channels: 4 } : null,
          yuv,
          this.#opts.pixelRatio,
        ),
      needs: () => this.#hub.needs(),
      hub: this.#hub,
    });
  }

  /** Frame width in pixels. */
  get width(): number {
    return this.#hub.size().width;
  }

  /** Frame height in pixels. */
  get height(): number {
    return this.#hub.size().height;
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
    return this.#hub.viewers;
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
    this.#open("publish()");
    const pixelRatio = options.pixelRatio ?? this.#opts.pixelRatio;
    if (!Number.isFinite(pixelRatio) || pixelRatio <= 0) {
      throw new RangeError(
        `publish(): pixelRatio must be a positive number, got ${pixelRatio}`,
      );
    }
    const { width, height } = this.#hub.size();
    const layout = options.layout ?? "auto";
    if (layout === "nv12" || layout === "i420") {
      this.#hub.publish(null, {
        layout,
        data: checkYuv(frame, width, height),
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
    this.#hub.publish(checkFrame(frame, width, height), null, pixelRatio);
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
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64);
   * setTimeout(() => display.close(), 10);
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
   * Who drives (`control`, `controlIdle`) changes without a restart.
   * Throws a `RangeError` for a bad value, changing nothing, and an `Error`
   * once the display is closed.
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
    this.#open("configure()");
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
      { logger: this.#opts.logger, clock: this.#opts.clock },
    );
    const opts = this.#opts as Record<string, unknown>;
    for (const k of TUNABLE) opts[k] = (next as Record<string, unknown>)[k];
    // Who drives changes nothing the encoders or viewers' streams depend on.
    if (keys.every((k) => k === "control" || k === "controlIdle")) {
      this.#hub.presence.retune();
    } else this.#hub.retune();
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
      bitrate: targetAt(o, this.width, this.height, 0).bitrate,
      fps: o.fps,
      gop: o.gop,
      stillAfter: o.stillAfter,
      adaptive: o.adaptive,
      control: o.control,
      controlIdle: o.controlIdle,
    };
  }

  /**
   * Change the frame size. Viewers get a new `config`; the next frame must
   * have the new size. Throws once the display is closed.
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
    this.#open("resize()");
    checkSize("resize()", width, height);
    this.#hub.resize(width, height);
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
    return {
      name: this.name,
      width: this.width,
      height: this.height,
      ...this.#hub.stats(),
      eventsQueued: this.#events.size,
      eventsDropped: this.#events.dropped,
    };
  }

  /**
   * The viewers watching now, in the order they joined: id (as in events'
   * `viewer`), name, role, transport, when they joined, whether they drive,
   * whether they asked for control, and what the `authenticate` hook
   * returned for them.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64, { control: "exclusive" });
   * for (const v of display.presence()) {
   *   console.log(v.id, v.name ?? "anonymous", v.control ? "drives" : "watches");
   * }
   * await display.close();
   * ```
   */
  presence(): ViewerPresence[] {
    return this.#hub.presence.list();
  }

  /**
   * Hand exclusive control to viewer `id` (e.g. on its `control_request`
   * event). Returns false when that viewer has left. Throws when `control`
   * is not `"exclusive"`, or the viewer's role is `"view"`.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64, { control: "exclusive" });
   * for (const ev of display.pollEvents()) {
   *   if (ev.type === "control_request") display.grantControl(ev.viewer);
   * }
   * await display.close();
   * ```
   */
  grantControl(id: number): boolean {
    this.#open("grantControl()");
    return this.#hub.presence.grant(id);
  }

  /**
   * Take exclusive control back from whoever drives: nobody drives until
   * `grantControl()`, and requests wait for the app. Throws when `control`
   * is not `"exclusive"`.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64, { control: "exclusive" });
   * display.releaseControl();
   * await display.close();
   * ```
   */
  releaseControl(): void {
    this.#open("releaseControl()");
    this.#hub.presence.takeBack();
  }

  /**
   * The newest published frame as an image file: PNG (the default; the
   * published pixels exactly), JPEG or WebP. Rejects before the first
   * `publish()`. In a notebook, a PNG or JPEG shows as the cell's value.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(2, 1);
   * display.publish(new Uint8Array([255, 0, 0, 255, 0, 0, 255, 255]));
   * const png = await display.snapshot(); // or { format: "jpeg", quality: 90 }
   * console.log(png[1] === 0x50); // "PNG"
   * await display.close();
   * ```
   */
  snapshot(options: SnapshotOptions = {}): Promise<Uint8Array> {
    this.#open("snapshot()");
    return takeSnapshot(this.#hub, options);
  }

  /**
   * Record the stream to an MP4 file (a path) or a
   * `WritableStream<Uint8Array>`, until `stop()`. It takes the shared H.264
   * stream's units (no second encode when H.264 viewers watch; with none,
   * it drives that encoder itself), times frames by their `publish()`
   * times, and writes fragments, so a killed process leaves a file that
   * plays. A `width`, `height` or `bitrate` of its own means one more
   * encode. Rejects when H.264 is unavailable or the target cannot open.
   *
   * @example
   * ```ts ignore
   * import { Display } from "@rfb/core";
   * const display = new Display(640, 360);
   * const rec = await display.record("run.mp4");
   * // ... publish frames ...
   * const { frames, duration, bytes } = await rec.stop();
   * await display.close();
   * ```
   */
  record(
    target: string | WritableStream<Uint8Array>,
    options: RecordOptions = {},
  ): Promise<Recording> {
    this.#open("record()");
    return startRecording(this.#hub, target, options);
  }

  /**
   * Offer text to the viewers' clipboards: to every viewer, or to viewer
   * `viewer` only (an id from `presence()` or an event's `viewer`). The
   * browser client writes it to the page's clipboard on the user's next
   * gesture in the view, or from the viewer's Copy button (browsers let a
   * page write the clipboard only then). Returns how many viewers it went
   * to. Throws a `RangeError` when the text is over `maxClipboardBytes` of
   * UTF-8.
   *
   * @example
   * ```ts
   * import { Display } from "@rfb/core";
   * const display = new Display(64, 64);
   * display.setClipboard("result: 42"); // 0: nobody watches yet
   * await display.close();
   * ```
   */
  setClipboard(text: string, viewer?: number): number {
    this.#open("setClipboard()");
    if (typeof text !== "string") {
      throw new TypeError("setClipboard(): text must be a string");
    }
    const bytes = utf8Length(text), max = this.#opts.maxClipboardBytes;
    if (bytes > max) {
      throw new RangeError(
        `setClipboard(): ${bytes} bytes of text is over maxClipboardBytes (${max})`,
      );
    }
    return this.#hub.presence.send(clipboardMessage(text), viewer);
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
    const hub = this.#hub.close();
    this.#events.close();
    const onClose = this.#onClose;
    this.#onClose = null;
    this.#closing = (async () => {
      // Native encoders still opening or encoding must finish before the
      // caller (or the process) moves on: freeing under them crashes.
      await hub;
      if (onClose) await onClose();
    })();
    return this.#closing;
  }

  /** Throw when the display is closed: a call after close() is a bug worth seeing. */
  #open(where: string): void {
    if (this.#closed) {
      throw new Error(`${where}: display '${this.name}' is closed`);
    }
  }

  /**
   * In Deno's Jupyter kernel, a display shown as a cell's value is a live
   * viewer, with a still (PNG) of the newest frame for where it cannot run.
   */
  async [Symbol.for("Jupyter.display")](): Promise<Record<string, string>> {
    return notebookBundle(this, {}, await stillBase64(this.#hub));
  }

  /** `await using display = await serve(...)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}
