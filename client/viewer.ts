/**
 * `RfbViewer`: the "batteries" viewer. A view plus a status pill, a latency
 * badge, a toggleable stats HUD and a toolbar (screenshot, record,
 * fullscreen, transport, HUD; Copy, Send file and Keyboard when they apply), notes on
 * files sent and the app's clipboard (`viewer_input.ts`), and on a shared
 * stream a sharing pill ("View only · Alice is driving · 12 watching") and
 * a control button (request, cancel, hand over, release), themed through
 * CSS custom properties:
 *
 * `--rfb-bg`, `--rfb-fg`, `--rfb-accent`, `--rfb-panel`, `--rfb-ok`,
 * `--rfb-warn`, `--rfb-bad`, `--rfb-font`, `--rfb-radius`.
 *
 * On a small viewer (under 400×260 CSS px, a phone's width) the HUD starts
 * collapsed, whatever `hud` says, until the Stats button or `showHud()`
 * decides; open, it never covers the status bar and toolbar.
 *
 * @module
 */

import type { ConfigMessage, Transport } from "../src/protocol.ts";
import type { ReducedStream, ViewStats } from "./messages.ts";
import { controlAction, presenceLine } from "./sharing.ts";
import { INPUT_CSS, InputChrome } from "./viewer_input.ts";
import {
  RemoteFramebufferView,
  type StatusDetail,
  type ViewOptions,
  type ViewRecording,
} from "./view.ts";

/** Options for `RfbViewer`: the view's, plus the chrome's. */
export interface ViewerOptions extends ViewOptions {
  /** Show the stats HUD at start. Default false. */
  hud?: boolean;
  /** Show the toolbar. Default true. */
  toolbar?: boolean;
  /** A name for screenshots' and recordings' file names. Default: the stream path. */
  title?: string;
}

const STYLE_ID = "rfb-viewer-style";
const CSS = `
.rfb-viewer{--_bg:var(--rfb-bg,#0b0d10);--_fg:var(--rfb-fg,#e8eaed);--_accent:var(--rfb-accent,#4f9cf9);
--_panel:var(--rfb-panel,rgba(14,16,20,.8));--_ok:var(--rfb-ok,#3ecf8e);--_warn:var(--rfb-warn,#f5a524);
--_bad:var(--rfb-bad,#f25f5c);--_radius:var(--rfb-radius,8px);
position:relative;width:100%;height:100%;min-height:120px;background:var(--_bg);color:var(--_fg);
font:12px/1.35 var(--rfb-font,system-ui,-apple-system,"Segoe UI",sans-serif);overflow:hidden;
border-radius:var(--_radius);box-sizing:border-box}
.rfb-viewer *{box-sizing:border-box}
.rfb-viewer .rfb-stage{position:absolute;inset:0}
.rfb-viewer .rfb-top{position:absolute;top:8px;left:8px;right:8px;display:flex;flex-wrap:wrap;gap:6px;
justify-content:space-between;align-items:flex-start;pointer-events:none}
.rfb-viewer .rfb-group{display:flex;gap:6px}
.rfb-viewer .rfb-pill,.rfb-viewer .rfb-share,.rfb-viewer .rfb-badge,.rfb-viewer .rfb-toolbar,.rfb-viewer .rfb-hud{
background:var(--_panel);backdrop-filter:blur(6px);border-radius:999px}
.rfb-viewer .rfb-pill,.rfb-viewer .rfb-share{padding:3px 10px 3px 8px;display:flex;align-items:center;gap:6px;white-space:nowrap}
.rfb-viewer .rfb-dot{width:8px;height:8px;border-radius:50%;background:var(--_warn);flex:none}
.rfb-viewer [data-status=negotiated] .rfb-dot{background:var(--_ok);box-shadow:0 0 6px var(--_ok)}
.rfb-viewer [data-status=closed] .rfb-dot,.rfb-viewer [data-status=error] .rfb-dot{background:var(--_bad)}
.rfb-viewer .rfb-badge{padding:3px 10px;font-variant-numeric:tabular-nums;white-space:nowrap}
.rfb-viewer .rfb-badge[data-level=ok]{color:var(--_ok)}
.rfb-viewer .rfb-badge[data-level=warn]{color:var(--_warn)}
.rfb-viewer .rfb-badge[data-level=bad]{color:var(--_bad)}
.rfb-viewer .rfb-toolbar{padding:2px;display:flex;gap:1px;pointer-events:auto;opacity:.7;transition:opacity .15s}
.rfb-viewer:hover .rfb-toolbar,.rfb-viewer .rfb-toolbar:focus-within{opacity:1}
.rfb-viewer .rfb-toolbar button{all:unset;cursor:pointer;padding:3px 9px;border-radius:999px;color:var(--_fg);
font:inherit;font-weight:500;white-space:nowrap}
.rfb-viewer .rfb-toolbar button:hover{background:rgba(255,255,255,.14)}
.rfb-viewer .rfb-toolbar button:focus-visible{outline:2px solid var(--_accent)}
.rfb-viewer .rfb-toolbar button[aria-pressed=true]{background:rgba(255,255,255,.1);box-shadow:inset 0 -2px 0 var(--_accent)}
.rfb-viewer .rfb-hud{position:absolute;bottom:8px;left:8px;border-radius:var(--_radius);padding:6px 9px;margin:0;
font:11px/1.45 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;white-space:pre;pointer-events:none;
max-width:calc(100% - 16px);max-height:calc(100% - 16px);overflow:hidden}
.rfb-viewer .rfb-hud[hidden]{display:none}
.rfb-viewer .rfb-share[hidden],.rfb-viewer .rfb-toolbar button[hidden]{display:none}
.rfb-viewer .rfb-share[data-driving=true] .rfb-dot{background:var(--_accent);box-shadow:0 0 6px var(--_accent)}
.rfb-viewer .rfb-share[data-driving=false] .rfb-dot{background:var(--_fg);opacity:.5}
.rfb-viewer .rfb-canvas[data-driving=false]{cursor:default}
${INPUT_CSS}`;

function injectStyle(): void {
  if (document.getElementById(STYLE_ID)) return;
  const style = document.createElement("style");
  style.id = STYLE_ID;
  style.textContent = CSS;
  document.head.appendChild(style);
}

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className: string,
  parent: HTMLElement,
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  node.className = className;
  parent.appendChild(node);
  return node;
}

const STATUS_TEXT: Record<StatusDetail["status"], string> = {
  connecting: "connecting…",
  open: "connected",
  negotiated: "live",
  closed: "disconnected",
  error: "error",
};

/** Below either size the HUD starts collapsed (CSS px). */
const SMALL_WIDTH = 400;
const SMALL_HEIGHT = 260;

/** The HUD's line height and vertical padding, CSS px (11px/1.45, 6px). */
const HUD_LINE = 16;
const HUD_PAD = 12;
/** Room between the HUD and the viewer's edges and top bar, CSS px. */
const HUD_MARGIN = 22;

/** What nothing measured in the window reads as. */
const NONE = "—";

function rate(bps: number): string {
  if (bps <= 0) return NONE;
  if (bps >= 1e6) return `${(bps / 1e6).toFixed(1)} Mbit/s`;
  return `${(bps / 1e3).toFixed(0)} kbit/s`;
}

/** The transport's name, as the toolbar and the demo show it. */
function transportName(t: "auto" | Transport): string {
  return t === "webcodecs" ? "H.264" : t === "image" ? "Image" : "Auto";
}

/** The format within the transport: `JPEG`, `PNG`, `WEBP`, or the codec string. */
function formatName(c: ConfigMessage): string | null {
  if (c.transport === "webcodecs") return c.codec ?? null;
  return c.mime ? c.mime.replace(/^image\//, "").toUpperCase() : null;
}

/**
 * The batteries-included viewer.
 *
 * @example
 * ```ts ignore
 * import { RfbViewer } from "@rfb/core/client";
 * const viewer = new RfbViewer(document.getElementById("app")!, {
 *   url: "ws://127.0.0.1:8765/",
 *   hud: true,
 * });
 * // viewer.view is the underlying RemoteFramebufferView
 * ```
 */
export class RfbViewer {
  /** The view inside. */
  readonly view: RemoteFramebufferView;
  /** The viewer's root element. */
  readonly root: HTMLDivElement;
  #pill: HTMLDivElement;
  #pillText: HTMLSpanElement;
  #badge: HTMLDivElement;
  #hud: HTMLPreElement;
  #hudButton: HTMLButtonElement | null = null;
  #transportButton: HTMLButtonElement | null = null;
  #share: HTMLDivElement;
  #shareText: HTMLSpanElement;
  #controlButton: HTMLButtonElement | null = null;
  #recordButton: HTMLButtonElement | null = null;
  #recording: ViewRecording | Promise<unknown> | null = null;
  #input: InputChrome;
  #title: string;
  /** Whether the caller asked for the HUD (`hud`). */
  #hudWanted: boolean;
  /** Until someone toggles the HUD, its size decides (collapsed when small). */
  #hudAuto = true;
  #lastStats: ViewStats | null = null;
  /** Whole HUD lines that fit under the top bar. */
  #hudLines = Infinity;
  /** A dropped connection is being retried. */
  #retrying = false;
  #resize: ResizeObserver;

  /** Build the viewer in `element` and connect. */
  constructor(element: HTMLElement, options: ViewerOptions) {
    injectStyle();
    this.root = el("div", "rfb-viewer", element);
    const stage = el("div", "rfb-stage", this.root);
    this.view = new RemoteFramebufferView(stage, {
      background:
        getComputedStyle(this.root).getPropertyValue("--rfb-bg").trim() ||
        "#0b0d10",
      ...options,
    });
    this.#title = options.title ??
      (new URL(options.url, location.href).pathname.replace(/\W+/g, "-")
        .replace(/^-|-$/g, "") || "rfb");
    this.#hudWanted = options.hud === true;

    const top = el("div", "rfb-top", this.root);
    const group = el("div", "rfb-group", top);
    this.#pill = el("div", "rfb-pill", group);
    this.#pill.setAttribute("role", "status");
    el("span", "rfb-dot", this.#pill);
    this.#pillText = el("span", "rfb-pill-text", this.#pill);
    this.#badge = el("div", "rfb-badge", group);
    this.#badge.hidden = true;
    this.#badge.title = "publish → displayed latency";
    this.#share = el("div", "rfb-share", group);
    this.#share.setAttribute("role", "status");
    el("span", "rfb-dot", this.#share);
    this.#shareText = el("span", "rfb-share-text", this.#share);
    this.#share.hidden = true;
    this.#hud = el("pre", "rfb-hud", this.root);
    this.#hud.hidden = !this.#hudWanted;
    this.#hud.textContent = "waiting for stats…";
    this.#input = new InputChrome(this.view, this.root);
    if (options.toolbar !== false) this.#toolbar(top);
    this.#fitChrome(top);
    this.#resize = new ResizeObserver(() => this.#fitChrome(top));
    this.#resize.observe(this.root);
    this.#resize.observe(top);

    this.#setStatus({ status: this.view.status });
    this.view.addEventListener(
      "status",
      (e) => this.#setStatus((e as CustomEvent<StatusDetail>).detail),
    );
    this.view.addEventListener(
      "stats",
      (e) => this.#setStats((e as CustomEvent<ViewStats>).detail),
    );
    this.view.addEventListener("config", () => this.#updateTransportButton());
    for (const type of ["presence", "control"]) {
      this.view.addEventListener(type, () => this.#updateSharing());
    }
  }

  /** The sharing pill and the control button follow `presence` and `control`. */
  #updateSharing(): void {
    const { presence, control } = this.view;
    const line = presenceLine(presence, control);
    this.#share.hidden = line === null;
    this.#shareText.textContent = line ?? "";
    if (control) this.#share.dataset.driving = String(control.driving);
    const b = this.#controlButton;
    if (!b) return;
    const action = controlAction(presence, control);
    b.hidden = action === null;
    if (!action) return;
    b.textContent = action.label;
    b.title = action.title;
    b.setAttribute("aria-pressed", String(action.pressed));
  }

  /**
   * The HUD keeps clear of the top bar (however it wraps): it shows the
   * lines that fit under it. It starts collapsed on a small viewer.
   */
  #fitChrome(top: HTMLElement): void {
    const { width, height } = this.root.getBoundingClientRect();
    const room = height - HUD_MARGIN - top.offsetHeight - HUD_PAD;
    const lines = height > 0 ? Math.max(1, Math.floor(room / HUD_LINE)) : 99;
    const small = width > 0 && (width < SMALL_WIDTH || height < SMALL_HEIGHT);
    this.root.dataset.small = String(small);
    const changed = lines !== this.#hudLines;
    this.#hudLines = lines;
    if (this.#hudAuto) this.#showHud(this.#hudWanted && !small);
    else if (changed && !this.#hud.hidden && this.#lastStats) {
      this.#setStats(this.#lastStats);
    }
  }

  /** Show or hide the stats HUD (from then on, whatever the viewer's size). */
  showHud(show: boolean): void {
    this.#hudAuto = false;
    this.#showHud(show);
  }

  #showHud(show: boolean): void {
    this.#hud.hidden = !show;
    this.#hudButton?.setAttribute("aria-pressed", String(show));
    if (show && this.#lastStats) this.#setStats(this.#lastStats);
  }

  /** Save the current frame as a PNG download. */
  async downloadScreenshot(): Promise<void> {
    this.#download(await this.view.screenshot(), "png");
  }

  /** Whether the Record button is recording. */
  get recording(): boolean {
    return this.#recording !== null;
  }

  /**
   * Start recording, or stop and save the MP4 as a download named after the
   * stream and the time (as screenshots are). Rejects when recording cannot
   * start or nothing was recorded.
   */
  async toggleRecording(): Promise<void> {
    const rec = this.#recording;
    if (rec instanceof Promise) return; // starting or stopping
    const set = (on: boolean) => {
      this.#recordButton?.setAttribute("aria-pressed", String(on));
      if (this.#recordButton) {
        this.#recordButton.textContent = on ? "Stop" : "Record";
      }
    };
    if (rec) {
      this.#recording = rec.stop().finally(() => {
        this.#recording = null;
        set(false);
      });
      this.#download(await (this.#recording as Promise<Blob>), "mp4");
      return;
    }
    const starting = this.view.record();
    this.#recording = starting;
    try {
      this.#recording = await starting;
      set(true);
    } catch (err) {
      this.#recording = null;
      throw err;
    }
  }

  #download(blob: Blob, ext: string): void {
    const a = document.createElement("a");
    a.href = URL.createObjectURL(blob);
    a.download = `${this.#title}-${
      new Date().toISOString().replace(/[:.]/g, "-")
    }.${ext}`;
    a.click();
    setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
  }

  /** Enter or leave fullscreen. */
  async toggleFullscreen(): Promise<void> {
    if (document.fullscreenElement === this.root) {
      await document.exitFullscreen();
    } else await this.root.requestFullscreen();
  }

  /** Remove the viewer and close its view. */
  dispose(): void {
    this.#resize.disconnect();
    this.#input.dispose();
    this.view.dispose();
    this.root.remove();
  }

  #toolbar(parent: HTMLElement): void {
    const bar = el("div", "rfb-toolbar", parent);
    bar.setAttribute("role", "toolbar");
    // The visible label is the accessible name; the title describes.
    const button = (label: string, title: string, onClick: () => void) => {
      const b = el("button", "rfb-button", bar);
      b.type = "button";
      b.textContent = label;
      b.title = title;
      b.addEventListener("click", onClick);
      return b;
    };
    this.#hudButton = button(
      "Stats",
      "Show or hide the stats",
      () => this.showHud(this.#hud.hidden === true),
    );
    this.#hudButton.setAttribute("aria-pressed", String(!this.#hud.hidden));
    this.#transportButton = button("", "", () => {
      const now = this.view.config?.transport ??
        (this.view.requestedTransport === "webcodecs" ? "webcodecs" : "image");
      this.view.setTransport(now === "image" ? "webcodecs" : "image");
      this.#updateTransportButton();
    });
    button("Screenshot", "Save the current frame as PNG", () => {
      this.downloadScreenshot().catch(() => {});
    });
    this.#recordButton = button(
      "Record",
      "Record the stream as MP4; click again to stop and save",
      () => {
        this.toggleRecording().catch((err) => {
          if (this.#recordButton) {
            this.#recordButton.title = `Could not record: ${err.message}`;
          }
        });
      },
    );
    this.#recordButton.setAttribute("aria-pressed", "false");
    button("Fullscreen", "Enter or leave fullscreen", () => {
      this.toggleFullscreen().catch(() => {});
    });
    this.#input.toolbar(button);
    // Shown only on a stream whose control is handed over (see sharing.ts).
    this.#controlButton = button("", "", () => {
      const action = controlAction(this.view.presence, this.view.control);
      if (action?.send === "request") this.view.requestControl();
      else if (action) this.view.releaseControl(action.to);
    });
    this.#controlButton.hidden = true;
    this.#updateTransportButton();
  }

  /**
   * The transport button names the transport in use, "Image" or "H.264"
   * (the format is in its title); before the server has said, the one
   * asked for ("Auto" when the server chooses).
   */
  #updateTransportButton(): void {
    const b = this.#transportButton;
    if (!b) return;
    const c = this.view.config;
    const name = transportName(c?.transport ?? this.view.requestedTransport);
    const format = c ? formatName(c) : null;
    const other = (c?.transport ?? this.view.requestedTransport) === "webcodecs"
      ? "images"
      : "H.264";
    b.textContent = name;
    b.title = `Transport: ${
      c ? `${name}${format ? ` (${format})` : ""}` : `${name}, when connected`
    }. Click for ${other}`;
  }

  #setStatus(d: StatusDetail): void {
    // A drop the view retries reads "reconnecting…" until it is live again
    // or gives up; its code goes in the title.
    if (d.status === "closed") this.#retrying = d.retryMs !== undefined;
    else if (d.status === "negotiated") this.#retrying = false;
    const why = d.code
      ? `${d.code}${d.reason ? `: ${d.reason}` : ""}`
      : (d.reason ?? "");
    if (this.#retrying) {
      this.#pill.dataset.status = "reconnecting";
      this.#pillText.textContent = "reconnecting…";
      if (d.status === "closed") {
        this.#pill.title = `The connection dropped${
          why ? ` (${why})` : ""
        }; reconnecting`;
      }
    } else {
      this.#pill.dataset.status = d.status;
      this.#pillText.textContent = STATUS_TEXT[d.status] +
        (d.status === "closed" && d.code ? ` (${why})` : "");
      this.#pill.title = why;
    }
    if (d.status !== "negotiated") this.#badge.hidden = true;
  }

  #setStats(s: ViewStats): void {
    this.#lastStats = s;
    const ms = s.latencyMs === null ? null : Math.round(s.latencyMs);
    if (ms !== null && ms > 0 && this.view.status === "negotiated") {
      this.#badge.hidden = false;
      this.#badge.textContent = s.reduced ? `${ms} ms · reduced` : `${ms} ms`;
      this.#badge.dataset.level = ms <= 33 ? "ok" : ms <= 100 ? "warn" : "bad";
      this.#badge.title = s.reduced
        ? `publish → displayed latency; ${reducedText(s.reduced)}`
        : "publish → displayed latency";
    } else {
      this.#badge.hidden = true; // nothing measured this second
    }
    if (this.#hud.hidden) return;
    // Most telling first: on a short viewer only the lines that fit under
    // the top bar are shown.
    const lines = [
      ...(s.reduced ? [`reduced    ${reducedHow(s.reduced) || "yes"}`] : []),
      `fps        ${s.fps > 0 ? s.fps : NONE}`,
      `latency    ${
        s.latencyMs === null ? NONE : `${s.latencyMs.toFixed(1)} ms`
      }`,
      `bitrate    ${rate(s.bitrateBps)}`,
      `transport  ${s.transport ?? "—"}${
        s.format
          ? ` · ${(s.format.startsWith("image/")
            ? s.format.slice(6).toUpperCase()
            : s.format)}`
          : ""
      }`,
      `dropped    ${s.dropped}${
        s.server ? ` (server ${s.serverDropped})` : ""
      }`,
      `decode q   ${s.decodeQueue}`,
      `size       ${s.width}×${s.height}`,
      `frames     ${s.frames}`,
    ];
    if (s.server?.rtt_ms !== undefined) {
      lines.push(`server rtt ${s.server.rtt_ms} ms`);
    }
    if (s.server?.link_bps !== undefined) {
      lines.push(`link       ${rate(s.server.link_bps)}`);
    }
    this.#hud.textContent = lines.slice(0, this.#hudLines).join("\n");
  }
}

/** What the server does for a slow link: "50% size, quality 48, 15 fps". */
function reducedHow(r: ReducedStream): string {
  const how: string[] = [];
  if (r.scale !== null && r.scale < 1) {
    how.push(`${Math.round(r.scale * 100)}% size`);
  }
  if (r.quality !== null) how.push(`quality ${r.quality}`);
  if (r.bitrate !== null) how.push(rate(r.bitrate));
  if (r.fps !== null) how.push(`${Math.round(r.fps)} fps`);
  return how.join(", ");
}

/** "reduced for your connection (50% size, 15 fps)", for the badge's title. */
function reducedText(r: ReducedStream): string {
  const how = reducedHow(r);
  return `reduced for your connection${how ? ` (${how})` : ""}`;
}
