/**
 * `RemoteFramebufferView`: the main-thread half of the client. It makes a
 * canvas inside your element, hands it to a Web Worker (which owns the
 * socket, the decoders and the drawing), maps pointer, wheel and key input
 * to framebuffer pixels, and reports status and stats as DOM events.
 *
 * @module
 */

import type {
  ConfigMessage,
  ControlMessage,
  InputEvent,
  PresenceMessage,
  Transport,
} from "../src/protocol.ts";
import { InputCoalescer } from "./coalesce.ts";
import {
  FIT_MODES,
  type FitMode,
  type Layout,
  toFramePoint,
} from "./mapping.ts";
import type {
  FromWorker,
  LayoutInfo,
  ToWorker,
  ViewStats,
  ViewStatus,
} from "./messages.ts";
import { createWorker } from "./_worker_factory.ts";
import { BUTTON, buttons, modifiers, toWebSocketUrl } from "./dom_input.ts";

/** Options for a view. */
export interface ViewOptions {
  /** The stream's WebSocket URL, e.g. `ws://127.0.0.1:8765/`, or a path on this page's host. */
  url: string;
  /** How the frame fills the view. Default `"contain"`. */
  fit?: FitMode;
  /** In-flight window to ask the server for (it may only narrow its own). */
  maxInflight?: number;
  /** Token for the server's `authenticate` hook. */
  token?: string;
  /** Preferred transport. Default `"auto"`. */
  transport?: "auto" | Transport;
  /** Ask the server for `stats` every this many seconds. */
  statsInterval?: number;
  /** Reconnect with backoff after the socket drops. Default true. */
  reconnect?: boolean;
  /** Letterbox colour. Default: the element's `--rfb-bg`, else black. */
  background?: string;
  /** Where the worker script is, to override the built-in one (e.g. under a strict CSP). */
  workerUrl?: string | URL;
}

/** The detail of a `status` event. */
export interface StatusDetail {
  /** The new status. */
  status: ViewStatus;
  /** The close code, for `closed`. */
  code?: number;
  /** The close reason or error text. */
  reason?: string;
  /**
   * For `closed`: the view reconnects by itself in this many milliseconds
   * (absent when it will not: a final close code, `reconnect: false`).
   */
  retryMs?: number;
}

let nextScreenshot = 1;

/** A recording in a view (`view.record()`): `stop()` hands over the MP4. */
export interface ViewRecording {
  /** End the recording; resolves with the MP4 file (rejects if nothing was recorded). */
  stop(): Promise<Blob>;
}

type RecordReply = Extract<FromWorker, { type: "record" }>;

/**
 * A live view of a remote framebuffer inside `element`.
 *
 * Events: `status` (`CustomEvent<StatusDetail>`), `config`
 * (`CustomEvent<ConfigMessage>`), `stats` (`CustomEvent<ViewStats>`, twice a
 * second), `frame` (`CustomEvent<FrameInfo>`, each frame drawn, with its
 * publish-to-display latency), and on a server that shares control,
 * `presence` (`CustomEvent<PresenceMessage | null>`: who watches, who
 * drives) and `control` (`CustomEvent<ControlMessage | null>`: this
 * viewer's standing; null once the connection drops). While `control` says
 * this viewer does not drive, its input is not sent.
 *
 * @example
 * ```ts ignore
 * import { RemoteFramebufferView } from "@rfb/core/client";
 * const view = new RemoteFramebufferView(document.getElementById("app")!, {
 *   url: "ws://127.0.0.1:8765/",
 *   fit: "contain",
 * });
 * view.addEventListener("status", (e) => console.log((e as CustomEvent).detail.status));
 * // later: view.dispose();
 * ```
 */
export class RemoteFramebufferView extends EventTarget {
  /** The canvas the frames are drawn on. */
  readonly canvas: HTMLCanvasElement;
  /** The element the view lives in. */
  readonly element: HTMLElement;
  #worker: Worker;
  #fit: FitMode;
  #background: string;
  #status: ViewStatus = "connecting";
  #transport: "auto" | Transport;
  #config: ConfigMessage | null = null;
  #stats: ViewStats | null = null;
  #presence: PresenceMessage | null = null;
  #control: ControlMessage | null = null;
  #coalescer: InputCoalescer;
  #raf = 0;
  #resize: ResizeObserver;
  #cleanups: Array<() => void> = [];
  #touches = new Map<number, { x: number; y: number }>();
  #shots = new Map<
    number,
    { resolve: (b: Blob) => void; reject: (e: Error) => void }
  >();
  #records = new Map<number, (reply: RecordReply) => void>();
  #disposed = false;

  /** Make a view in `element` and connect. */
  constructor(element: HTMLElement, options: ViewOptions) {
    super();
    if (!options || typeof options.url !== "string") {
      throw new TypeError(
        "RemoteFramebufferView: options.url (a ws:// URL) is required",
      );
    }
    const fit = options.fit ?? "contain";
    if (!FIT_MODES.includes(fit)) {
      throw new TypeError(
        `RemoteFramebufferView: fit must be one of ${FIT_MODES.join(", ")}`,
      );
    }
    this.element = element;
    this.#fit = fit;
    this.#transport = options.transport ?? "auto";
    this.#background = options.background ??
      (getComputedStyle(element).getPropertyValue("--rfb-bg").trim() || "#000");
    const canvas = document.createElement("canvas");
    canvas.className = "rfb-canvas";
    canvas.tabIndex = 0;
    canvas.style.cssText =
      "display:block;width:100%;height:100%;outline:none;touch-action:none;user-select:none";
    canvas.setAttribute("aria-label", "remote framebuffer");
    element.appendChild(canvas);
    this.canvas = canvas;
    this.#coalescer = new InputCoalescer((event) => {
      // A viewer that does not drive sends nothing (the server would drop it).
      if (this.#control?.driving !== false) {
        this.#post({ type: "input", event });
      }
    });

    this.#worker = options.workerUrl
      ? new Worker(options.workerUrl, { type: "module" })
      : createWorker();
    this.#worker.onmessage = (e: MessageEvent<FromWorker>) =>
      this.#fromWorker(e.data);
    this.#worker.onerror = (e) => {
      this.#setStatus({
        status: "error",
        reason: e.message || "worker failed",
      });
    };
    const offscreen = canvas.transferControlToOffscreen();
    this.#worker.postMessage(
      {
        type: "init",
        canvas: offscreen,
        url: toWebSocketUrl(options.url),
        token: options.token,
        maxInflight: options.maxInflight,
        transport: options.transport,
        statsInterval: options.statsInterval,
        reconnect: options.reconnect ?? true,
        layout: this.#layoutInfo(),
      } satisfies ToWorker,
      [offscreen],
    );

    this.#resize = new ResizeObserver(() => this.#relayout());
    this.#resize.observe(canvas);
    this.#watchDpr();
    this.#listen();
  }

  /** The connection status. */
  get status(): ViewStatus {
    return this.#status;
  }

  /** The last `config` from the server, or null. */
  get config(): ConfigMessage | null {
    return this.#config;
  }

  /** The last stats, or null before the first. */
  get stats(): ViewStats | null {
    return this.#stats;
  }

  /** Who watches and who drives, from the server's last `presence`; null without one. */
  get presence(): PresenceMessage | null {
    return this.#presence;
  }

  /**
   * This viewer's standing (role, mode, whether it drives), from the
   * server's last `control`; null when the server sends none (as before
   * sharing existed: every viewer drives).
   */
  get control(): ControlMessage | null {
    return this.#control;
  }

  /** Ask to drive (a stream whose control is exclusive). */
  requestControl(): void {
    this.#post({ type: "control", send: "request" });
  }

  /**
   * Stop driving and hand control to viewer `to` (else to the first that
   * asked); while a request waits, withdraw it.
   */
  releaseControl(to?: number): void {
    this.#post({ type: "control", send: "release", to });
  }

  /** The fit mode. */
  get fit(): FitMode {
    return this.#fit;
  }

  /** Change the fit mode. */
  set fit(fit: FitMode) {
    if (!FIT_MODES.includes(fit)) {
      throw new TypeError(`fit must be one of ${FIT_MODES.join(", ")}`);
    }
    this.#fit = fit;
    this.#relayout();
  }

  /**
   * The transport this view asks for (`options.transport`, then the last
   * `setTransport()`); the one in use is `config.transport`.
   */
  get requestedTransport(): "auto" | Transport {
    return this.#transport;
  }

  /**
   * Ask the server for another transport (it renegotiates without a reload
   * and sends a new `config`).
   */
  setTransport(transport: "auto" | Transport): void {
    this.#transport = transport;
    this.#post({ type: "transport", transport });
  }

  /** Drop the connection and connect again now. */
  reconnect(): void {
    this.#post({ type: "reconnect" });
  }

  /** The current frame at full resolution, as a PNG. */
  screenshot(): Promise<Blob> {
    const id = nextScreenshot++;
    return new Promise((resolve, reject) => {
      this.#shots.set(id, { resolve, reject });
      this.#post({ type: "screenshot", id });
    });
  }

  /**
   * Record what this view shows into an MP4: on H.264 the chunks it
   * receives go into the file as they are (no encode); on images what it
   * draws is encoded with WebCodecs' `VideoEncoder`. Rejects before the
   * view is connected, or when images cannot be encoded here.
   */
  async record(): Promise<ViewRecording> {
    const ask = (type: "record" | "record_stop") =>
      new Promise<RecordReply>((resolve, reject) => {
        if (this.#disposed) return reject(new Error("view disposed"));
        const id = nextScreenshot++;
        this.#records.set(id, resolve);
        this.#post({ type, id });
      });
    const started = await ask("record");
    if (started.error) throw new Error(started.error);
    return {
      stop: async () => {
        const r = await ask("record_stop");
        if (!r.blob) throw new Error(r.error ?? "recording failed");
        return r.blob;
      },
    };
  }

  /** Focus the view so it receives keys (Escape gives focus back to the page). */
  focus(): void {
    this.canvas.focus();
  }

  /** The layout for mapping points, from the canvas's current box. */
  layout(): Layout {
    const info = this.#layoutInfo();
    return {
      ...info,
      frameWidth: this.#config?.width ?? 0,
      frameHeight: this.#config?.height ?? 0,
    };
  }

  /** Close the socket, stop the worker, remove the canvas and every listener. */
  dispose(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const undo of this.#cleanups) undo();
    this.#cleanups = [];
    this.#resize.disconnect();
    cancelAnimationFrame(this.#raf);
    this.#coalescer.clear();
    const worker = this.#worker;
    worker.onmessage = (e: MessageEvent<FromWorker>) => {
      if (e.data.type === "disposed") worker.terminate();
    };
    worker.postMessage({ type: "dispose" } satisfies ToWorker);
    setTimeout(() => worker.terminate(), 1000); // in case it never answers
    for (const { reject } of this.#shots.values()) {
      reject(new Error("view disposed"));
    }
    this.#shots.clear();
    for (const answer of this.#records.values()) {
      answer({ type: "record", id: 0, blob: null, error: "view disposed" });
    }
    this.#records.clear();
    this.canvas.remove();
  }

  #post(msg: ToWorker): void {
    if (!this.#disposed) this.#worker.postMessage(msg);
  }

  #fromWorker(msg: FromWorker): void {
    switch (msg.type) {
      case "status":
        this.#setStatus({
          status: msg.status,
          code: msg.code,
          reason: msg.reason,
          retryMs: msg.retryMs,
        });
        break;
      case "config":
        this.#config = msg.config;
        this.dispatchEvent(new CustomEvent("config", { detail: msg.config }));
        break;
      case "presence":
        this.#presence = msg.presence;
        this.dispatchEvent(
          new CustomEvent("presence", { detail: msg.presence }),
        );
        break;
      case "control":
        this.#control = msg.control;
        this.#coalescer.clear(); // nothing queued under the old standing
        this.canvas.dataset.driving = String(msg.control.driving);
        this.dispatchEvent(new CustomEvent("control", { detail: msg.control }));
        break;
      case "stats":
        this.#stats = msg.stats;
        this.dispatchEvent(new CustomEvent("stats", { detail: msg.stats }));
        break;
      case "frame":
        this.dispatchEvent(new CustomEvent("frame", { detail: msg.frame }));
        break;
      case "record":
        this.#records.get(msg.id)?.(msg);
        this.#records.delete(msg.id);
        break;
      case "screenshot": {
        const p = this.#shots.get(msg.id);
        this.#shots.delete(msg.id);
        if (!p) break;
        if (msg.blob) p.resolve(msg.blob);
        else p.reject(new Error(msg.error ?? "screenshot failed"));
        break;
      }
    }
  }

  #setStatus(detail: StatusDetail): void {
    if (detail.status === "closed" && this.#control) {
      // The next server may not share control: until it says, input goes.
      this.#presence = this.#control = null;
      delete this.canvas.dataset.driving;
      this.dispatchEvent(new CustomEvent("presence", { detail: null }));
      this.dispatchEvent(new CustomEvent("control", { detail: null }));
    }
    this.#status = detail.status;
    this.dispatchEvent(new CustomEvent("status", { detail }));
  }

  #layoutInfo(): LayoutInfo {
    const box = this.canvas.getBoundingClientRect();
    return {
      cssWidth: box.width,
      cssHeight: box.height,
      dpr: globalThis.devicePixelRatio || 1,
      fit: this.#fit,
      background: this.#background,
    };
  }

  #relayout(): void {
    if (this.#disposed) return;
    this.#post({ type: "layout", layout: this.#layoutInfo() });
  }

  #watchDpr(): void {
    const query = matchMedia(
      `(resolution: ${globalThis.devicePixelRatio || 1}dppx)`,
    );
    const onChange = () => {
      query.removeEventListener("change", onChange);
      this.#relayout();
      if (!this.#disposed) this.#watchDpr();
    };
    query.addEventListener("change", onChange);
    this.#cleanups.push(() => query.removeEventListener("change", onChange));
  }

  #on<K extends keyof HTMLElementEventMap>(
    type: K,
    fn: (e: HTMLElementEventMap[K]) => void,
    options?: AddEventListenerOptions,
  ): void {
    this.canvas.addEventListener(type, fn, options);
    this.#cleanups.push(() =>
      this.canvas.removeEventListener(type, fn, options)
    );
  }

  #schedule(): void {
    if (this.#raf || this.#disposed) return;
    this.#raf = requestAnimationFrame(() => {
      this.#raf = 0;
      this.#coalescer.flush();
    });
  }

  #point(e: PointerEvent | MouseEvent | WheelEvent) {
    const box = this.canvas.getBoundingClientRect();
    const p = toFramePoint(
      this.layout(),
      e.clientX - box.left,
      e.clientY - box.top,
    );
    return {
      x: p.x,
      y: p.y,
      inside: p.inside,
      pixel_ratio: globalThis.devicePixelRatio || 1,
    };
  }

  #touchFields(
    e: PointerEvent,
  ): {
    ntouches?: number;
    touches?: Array<{ x: number; y: number; id: number }>;
  } {
    if (e.pointerType !== "touch") return {};
    const touches = [...this.#touches].map(([id, t]) => ({
      id,
      x: t.x,
      y: t.y,
    }));
    return { ntouches: touches.length, touches };
  }

  #pointer(
    type: "pointer_down" | "pointer_up" | "pointer_move" | "double_click",
    e: PointerEvent | MouseEvent,
  ): InputEvent {
    const touch = e instanceof PointerEvent ? this.#touchFields(e) : {};
    return {
      type,
      ...this.#point(e),
      button: type === "pointer_move" ? 0 : (BUTTON[e.button] ?? 0),
      buttons: buttons(e),
      modifiers: modifiers(e),
      timestamp: e.timeStamp / 1000,
      ...touch,
    } as InputEvent;
  }

  #listen(): void {
    const trackTouch = (e: PointerEvent, down: boolean) => {
      if (e.pointerType !== "touch") return;
      if (down) {
        const p = this.#point(e);
        this.#touches.set(e.pointerId, { x: p.x, y: p.y });
      } else {
        this.#touches.delete(e.pointerId);
      }
    };
    this.#on("pointerdown", (e) => {
      this.canvas.focus({ preventScroll: true });
      if (e.pointerType !== "touch" || e.isPrimary) {
        try {
          this.canvas.setPointerCapture(e.pointerId);
        } catch { /* pointer already gone */ }
      }
      trackTouch(e, true);
      if (!e.isPrimary) return; // extra fingers travel in `touches`
      e.preventDefault();
      this.#coalescer.now(this.#pointer("pointer_down", e));
    });
    this.#on("pointermove", (e) => {
      trackTouch(e, this.#touches.has(e.pointerId));
      if (!e.isPrimary) return;
      this.#coalescer.move(this.#pointer("pointer_move", e));
      this.#schedule();
    });
    const up = (e: PointerEvent) => {
      // The event still lists the finger that lifts (a one-finger tap is
      // ntouches 1 on both down and up); it is forgotten afterwards.
      const ev = e.isPrimary ? this.#pointer("pointer_up", e) : null;
      trackTouch(e, false);
      if (ev) this.#coalescer.now(ev);
    };
    this.#on("pointerup", up);
    this.#on("pointercancel", up);
    this.#on(
      "dblclick",
      (e) => this.#coalescer.now(this.#pointer("double_click", e)),
    );
    this.#on("contextmenu", (e) => e.preventDefault());
    this.#on("wheel", (e) => {
      e.preventDefault(); // the view scrolls the scene, not the page
      const unit = e.deltaMode === 1 ? 33 : e.deltaMode === 2 ? 100 : 1;
      this.#coalescer.wheel({
        type: "wheel",
        ...this.#point(e),
        dx: e.deltaX * unit,
        dy: e.deltaY * unit,
        buttons: buttons(e),
        modifiers: modifiers(e),
        timestamp: e.timeStamp / 1000,
      });
      this.#schedule();
    }, { passive: false });
    const key = (type: "key_down" | "key_up") => (e: KeyboardEvent) => {
      if (e.key === "Escape") {
        if (type === "key_down") this.canvas.blur();
        return;
      }
      // Tab leaves the view; browser shortcuts (Ctrl/Meta + key) keep working.
      if (e.key === "Tab") return;
      if (!e.ctrlKey && !e.metaKey) e.preventDefault();
      this.#coalescer.now({
        type,
        key: e.key,
        code: e.code,
        modifiers: modifiers(e),
        timestamp: e.timeStamp / 1000,
      });
    };
    this.#on("keydown", key("key_down"));
    this.#on("keyup", key("key_up"));
  }
}

/**
 * The bare canvas: another name for {@linkcode RemoteFramebufferView}, the
 * same class (a view with no chrome around it), kept for code that uses
 * this name.
 *
 * @example
 * ```ts ignore
 * import { RfbCanvas } from "@rfb/core/client";
 * const view = new RfbCanvas(document.body, { url: "ws://127.0.0.1:8765/", fit: "cover" });
 * ```
 */
export const RfbCanvas: typeof RemoteFramebufferView = RemoteFramebufferView;
/** The bare canvas: the type of {@linkcode RemoteFramebufferView}, by another name. */
export type RfbCanvas = RemoteFramebufferView;
