/**
 * The browser client of `@rfb/core`: `RemoteFramebufferView` (a canvas whose
 * Web Worker owns the socket, the decoding and the drawing), `RfbCanvas` (the
 * bare canvas), `RfbViewer` (with status, latency, stats HUD and toolbar),
 * and the `<rfb-view>` custom element.
 *
 * @example
 * ```ts ignore
 * import { RfbViewer } from "/rfb-client.js";
 * new RfbViewer(document.getElementById("app")!, { url: "ws://127.0.0.1:8765/" });
 * ```
 *
 * @module
 */

export { RemoteFramebufferView, RfbCanvas } from "./view.ts";
export type {
  ClipboardDetail,
  InputSupport,
  StatusDetail,
  ViewOptions,
  ViewRecording,
} from "./view.ts";
export { RfbViewer } from "./viewer.ts";
export type { ViewerOptions } from "./viewer.ts";
export { defineRfbView, RfbViewElement } from "./element.ts";
export type {
  FileProgress,
  FrameInfo,
  ReducedStream,
  ViewStats,
  ViewStatus,
} from "./messages.ts";
export type {
  ControlMessage,
  PresenceMessage,
  PresenceViewer,
} from "../src/protocol.ts";
export { contentRect, toFramePoint } from "./mapping.ts";
export type { FitMode, FramePoint, Layout, Rect } from "./mapping.ts";

import { defineRfbView } from "./element.ts";
defineRfbView();
