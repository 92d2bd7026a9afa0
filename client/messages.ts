/**
 * Messages between the view (main thread) and its worker.
 *
 * @module
 */

import type {
  ConfigMessage,
  ControlMessage,
  InputEvent,
  PresenceMessage,
  StatsMessage,
  Transport,
} from "../src/protocol.ts";
import type { FitMode } from "./mapping.ts";

/** The connection's state, as the view reports it. */
export type ViewStatus =
  | "connecting"
  | "open"
  | "negotiated"
  | "closed"
  | "error";

/** Live figures from the viewer side. */
export interface ViewStats {
  /** Frames displayed in the last second (0 on a resting stream). */
  fps: number;
  /** Frames received but not displayed (superseded, undecodable or gated), in total. */
  dropped: number;
  /** Frames the server skipped for this viewer (from its `stats`, when asked). */
  serverDropped: number;
  /** Frames waiting to be decoded. */
  decodeQueue: number;
  /**
   * Publish → displayed, milliseconds, smoothed over the new pictures shown
   * (needs the server on the same clock); null when none was measured in the
   * last second (a resting stream) or the server's stamps are not on this
   * clock (negative, or more than a minute off).
   */
  latencyMs: number | null;
  /** Bits received in the last second (0 on a resting stream). */
  bitrateBps: number;
  /** The negotiated transport, or null. */
  transport: Transport | null;
  /** The image MIME type or codec in use. */
  format: string | null;
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** Frames displayed in total. */
  frames: number;
  /** The server's last `stats` message, if any. */
  server: StatsMessage | null;
  /**
   * What the server sends while it has reduced the stream for this
   * viewer's connection (its adaptive step is above 0), from its last
   * `set_quality`; null at full quality.
   */
  reduced: ReducedStream | null;
}

/** A stream reduced for a slow connection (see `ViewStats.reduced`). */
export interface ReducedStream {
  /** The server's adaptive step (1 and up; higher is lower quality). */
  step: number;
  /** Frames a second it aims at, if said. */
  fps: number | null;
  /** H.264 bitrate, bit/s, if said. */
  bitrate: number | null;
  /** Image quality 1-100, if said. */
  quality: number | null;
  /** Fraction of the frame's size the images are encoded at, if said. */
  scale: number | null;
}

/** One displayed frame (the detail of the view's `frame` event). */
export interface FrameInfo {
  /** The frame's per-viewer sequence number. */
  seq: number;
  /** When the server published it, microseconds since the epoch (server clock). */
  timestampUs: number | null;
  /** When its message reached the worker, ms since the epoch (this machine's clock). */
  receivedAt: number;
  /** When its picture was decoded (VideoFrame out of the decoder, or the image's bitmap ready), ms since the epoch. */
  decodedAt: number;
  /** When it was drawn, milliseconds since the epoch (this machine's clock). */
  displayedAt: number;
  /**
   * displayedAt - publish time, ms (meaningful when both clocks agree, e.g.
   * same host); null without a stamp or when the stamp cannot be on this
   * clock (negative, or more than a minute off).
   */
  latencyMs: number | null;
}

/** The view's size, as the worker draws it. */
export interface LayoutInfo {
  /** View width, CSS pixels. */
  cssWidth: number;
  /** View height, CSS pixels. */
  cssHeight: number;
  /** Device pixel ratio. */
  dpr: number;
  /** Fit mode. */
  fit: FitMode;
  /** Letterbox colour (any CSS colour). */
  background: string;
}

/** What starts a worker. */
export interface InitMessage {
  /** Always `"init"`. */
  type: "init";
  /** The canvas, transferred. */
  canvas: OffscreenCanvas;
  /** WebSocket URL. */
  url: string;
  /** Token for `hello`. */
  token?: string;
  /** In-flight window to ask for. */
  maxInflight?: number;
  /** Preferred transport. */
  transport?: "auto" | Transport;
  /** Ask the server for `stats` every this many seconds. */
  statsInterval?: number;
  /** Reconnect after drops. */
  reconnect: boolean;
  /** The first layout. */
  layout: LayoutInfo;
}

/** How a file the view sends is doing (the detail of the view's `file` event). */
export interface FileProgress {
  /** The view's id for it. */
  id: number;
  /** The file's name. */
  name: string;
  /** Its size, bytes. */
  size: number;
  /** Bytes the server has acknowledged. */
  sent: number;
  /**
   * `"queued"` (behind another), `"sending"`, `"done"` (the app has it),
   * `"refused"` (by this view or the server: see `reason`), `"cancelled"`.
   */
  state: "queued" | "sending" | "done" | "refused" | "cancelled";
  /** Why it was refused. */
  reason?: string;
}

/** The worker's word on a file (see `FileProgress`). */
export interface FileReport {
  /** Always `"file"`. */
  type: "file";
  /** The file's id. */
  id: number;
  /** Its state. */
  state: FileProgress["state"];
  /** Bytes acknowledged. */
  sent: number;
  /** Why it was refused. */
  reason?: string;
}

/** Main thread → worker. */
export type ToWorker =
  | InitMessage
  | { type: "layout"; layout: LayoutInfo }
  | { type: "input"; event: InputEvent }
  | { type: "clipboard"; text: string }
  | { type: "file"; id: number; file: File; x?: number; y?: number }
  | { type: "file_cancel"; id: number }
  | { type: "transport"; transport: "auto" | Transport }
  | { type: "screenshot"; id: number }
  | { type: "control"; send: "request" | "release"; to?: number }
  | { type: "record"; id: number }
  | { type: "record_stop"; id: number }
  | { type: "reconnect" }
  | { type: "dispose" };

/** Worker → main thread. */
export type FromWorker =
  | {
    type: "status";
    status: ViewStatus;
    code?: number;
    reason?: string;
    /** For `closed`: the worker reconnects in this many ms. */
    retryMs?: number;
  }
  | { type: "config"; config: ConfigMessage }
  | { type: "presence"; presence: PresenceMessage }
  | { type: "control"; control: ControlMessage }
  | { type: "stats"; stats: ViewStats }
  | { type: "frame"; frame: FrameInfo }
  | { type: "screenshot"; id: number; blob: Blob | null; error?: string }
  | {
    /** A recording started (`blob` null), failed to (`error`), or ended (`blob`). */
    type: "record";
    id: number;
    blob: Blob | null;
    frames?: number;
    duration?: number;
    error?: string;
  }
  | { type: "clipboard"; text: string }
  | FileReport
  | { type: "disposed" };
