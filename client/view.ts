/**
 * `RemoteFramebufferView`: the main-thread half of the client. It makes a
 * canvas inside your element, hands it to a Web Worker (which owns the
 * socket, the decoders and the drawing), sends input in framebuffer pixels
 * (pointer and touch, wheel and dropped files: `input.ts`; keys, typed and
 * composed text and pastes: `keyboard.ts`; gamepads: `gamepads.ts`; files:
 * `files.ts`), takes the app's clipboard (`clipboard.ts`), and reports
 * status and stats as DOM events.
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
import { ClipboardOffer } from "./clipboard.ts";
import { FileSender } from "./files.ts";
import { GamepadPoller } from "./gamepads.ts";
import { InputCapture } from "./input.ts";
import { KeyboardSink } from "./keyboard.ts";
import { FIT_MODES, type FitMode, type Layout } from "./mapping.ts";
import type {
  FileProgress,
  FromWorker,
  LayoutInfo,
  ToWorker,
  ViewStats,
  ViewStatus,
} from "./messages.ts";
import { createWorker } from "./_worker_factory.ts";
import {
  type ClipboardDetail,
  type InputSupport,
  inputSupport,
  pasteRefusal,
  type StatusDetail,
  toWebSocketUrl,
  type ViewOptions,
} from "./view_options.ts";

export type { ClipboardDetail, InputSupport, StatusDetail, ViewOptions };

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
 * this viewer does not drive, its input is not sent. Beyond pointer and
 * keys: `clipboard` (`CustomEvent<ClipboardDetail>`: the app offered text,
 * or it was written), `file` (`CustomEvent<FileProgress>`, each step of a
 * file sent) and `notice` (`CustomEvent<{ message: string }>`: something
 * the user should hear, e.g. a paste the app cannot take).
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
  #capture: InputCapture;
  #keyboard: KeyboardSink;
  #gamepads: GamepadPoller;
  #offer: ClipboardOffer;
  #files: FileSender;
  #copyOnGesture: boolean;
  #resize: ResizeObserver;
  #cleanups: Array<() => void> = [];
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
    canvas.style.cssText =
      "display:block;width:100%;height:100%;outline:none;touch-action:none;user-select:none";
    canvas.setAttribute("aria-label", "remote framebuffer");
    element.appendChild(canvas);
    this.canvas = canvas;
    this.#copyOnGesture = options.copyOnGesture ?? true;
    const gesture = () => {
      if (this.#copyOnGesture) this.#offer.write().catch(() => {});
    };
    this.#capture = new InputCapture({
      canvas,
      layout: () => this.layout(),
      send: (event) => this.#send(event),
      focus: (e) => {
        this.#keyboard.focus(e);
        gesture();
      },
      drop: (files, at) => this.sendFiles(files, at),
    });
    this.#keyboard = new KeyboardSink({
      element,
      canvas,
      now: (event) => this.#capture.now(event),
      paste: (text) => this.sendClipboard(text),
      pasteFiles: (files) => this.sendFiles(files),
      gesture,
      focused: (on) => {
        if (on && options.gamepads !== false) this.#gamepads.start();
        else this.#gamepads.stop();
      },
    });
    this.#gamepads = new GamepadPoller((event) => this.#capture.now(event));
    this.#offer = new ClipboardOffer((text, written) =>
      this.dispatchEvent(
        new CustomEvent<ClipboardDetail>("clipboard", {
          detail: { text, written },
        }),
      )
    );
    this.#files = new FileSender(
      (msg) => this.#post(msg),
      (p) => this.dispatchEvent(new CustomEvent("file", { detail: p })),
    );

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

  /** What the server takes beyond pointer and keys; all off before its `config`. */
  get accepts(): InputSupport {
    return inputSupport(this.#config);
  }

  /**
   * Paste text into the app (as a paste in the focused view does). False,
   * with a `notice`, when it is not sent: the server takes no pastes, the
   * text is over its limit, or this viewer does not drive.
   */
  sendClipboard(text: string): boolean {
    const why = pasteRefusal(
      text,
      this.accepts,
      this.#control?.driving !== false,
    );
    if (why) {
      this.#notice(`Paste not sent: ${why}`);
      return false;
    }
    this.#post({ type: "clipboard", text });
    return true;
  }

  /**
   * Send files to the app (as dropping them on the view does; `at` is the
   * framebuffer point they were dropped on). Each is queued, or refused at
   * once when the app takes no files, it is over the app's limit, or this
   * viewer does not drive; progress comes as `file` events.
   */
  sendFiles(
    files: Iterable<File>,
    at: { x: number; y: number } | null = null,
  ): FileProgress[] {
    return this.#files.send(files, at, {
      connected: this.#config !== null,
      maxBytes: this.accepts.files,
      driving: this.#control?.driving !== false,
    });
  }

  /** Stop sending a file (by the id in its `FileProgress`). */
  cancelFile(id: number): void {
    this.#files.cancel(id);
  }

  /** The latest files sent, oldest first. */
  get files(): FileProgress[] {
    return this.#files.transfers;
  }

  /** The app's clipboard text not yet written to the page's clipboard, or null. */
  get clipboard(): string | null {
    return this.#offer.pending;
  }

  /**
   * Write the app's clipboard text to the page's clipboard; call it from a
   * user gesture (a click). False when there is none or the browser
   * refused.
   */
  copyClipboard(): Promise<boolean> {
    return this.#offer.write();
  }

  /** Bring up the on-screen keyboard (on a touch device; call from a tap). */
  showKeyboard(): void {
    this.#keyboard.showKeyboard();
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
    this.#keyboard.focus();
  }

  /** Whether the view has the focus (its keys go to the app). */
  get focused(): boolean {
    return this.#keyboard.focused;
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
    this.#capture.dispose();
    this.#keyboard.dispose();
    this.#gamepads.stop();
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

  /** Input out: not from a viewer that does not drive (the server would drop it), nor what the server does not take. */
  #send(event: InputEvent): void {
    if (this.#control?.driving === false) return;
    const { textInput, gamepad } = this.accepts;
    if (event.type === "text_input" && !textInput) return;
    if (event.type === "gamepad" && !gamepad) return;
    this.#post({ type: "input", event });
  }

  #notice(message: string): void {
    this.dispatchEvent(new CustomEvent("notice", { detail: { message } }));
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
        this.#capture.clear(); // nothing queued under the old standing
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
      case "clipboard":
        this.#offer.offer(msg.text);
        break;
      case "file":
        this.#files.report(msg);
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
