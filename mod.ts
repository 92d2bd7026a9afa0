/**
 * `@rfb/core`: a remote framebuffer for Deno. Render frames in a Deno
 * program, watch and drive them live in any browser.
 *
 * A `Display` takes frames with `publish()` (RGBA, RGB or gray bytes; the
 * newest wins and the call never blocks) and fans them out over WebSockets
 * to every viewer, encoding each frame once per encoding the viewers need.
 * Pointer, wheel, key and resize events come back through `pollEvents()` or
 * `events()`. The wire protocol is compatible with pdum.rfb's.
 *
 * @example
 * ```ts
 * import { serve } from "@rfb/core";
 *
 * const width = 320, height = 240;
 * await using display = await serve(width, height, { port: 0 });
 * console.log(`open ${display.url}`);
 * const rgba = new Uint8Array(width * height * 4);
 * for (let t = 0; t < 3; t++) {
 *   rgba.fill(t * 80);
 *   display.publish(rgba);
 *   for (const ev of display.pollEvents()) console.log(ev.type);
 *   await new Promise((r) => setTimeout(r, 16));
 * }
 * ```
 *
 * @module
 */

export { Display } from "./src/display.ts";
export type { PublishOptions, ViewerPresence } from "./src/display.ts";
export type { DisplayStats } from "./src/display_stats.ts";
export type { Recording } from "./src/record/recording.ts";
export type {
  RecordingResult,
  RecordingStats,
  RecordOptions,
  SnapshotOptions,
} from "./src/record/types.ts";
export { RfbServer, serve, serveServer } from "./src/http/server.ts";
export { handler } from "./src/http/handler.ts";
export type {
  DisplayStandIn,
  HandlerOptions,
  RequestInfo,
  RfbHandler,
  StreamDirectory,
} from "./src/http/handler.ts";
export { timingSafeEqual, tokenAuth } from "./src/http/auth.ts";
export { notebookBundle, widget } from "./src/notebook.ts";
export { GpuTarget } from "./src/gpu/target.ts";
export type { GpuTargetOptions, GpuTargetStats } from "./src/gpu/target.ts";
export { requestGpu } from "./src/gpu/device.ts";
export type { GpuContext } from "./src/gpu/device.ts";
export { GpuFrameReader } from "./src/gpu/convert.ts";
export type { ReadResult } from "./src/gpu/convert.ts";
export { rgbaToYuv, yuvToRgba } from "./src/yuv.ts";
export type { YuvLayout } from "./src/yuv.ts";
export type {
  JupyterDisplayable,
  NotebookStream,
  WidgetOptions,
} from "./src/notebook.ts";
export { originAllowed } from "./src/http/origin.ts";
export { ENCODER_CHOICES, TUNABLE } from "./src/options.ts";
export type {
  AllowedOrigins,
  AuthContext,
  Authenticate,
  DisplayOptions,
  EncoderChoice,
  ImageEncoder,
  ListenerLimits,
  ServerOptions,
  TunableOptions,
} from "./src/options.ts";
export type {
  ClipboardEvent,
  ControlRequestEvent,
  DisplayEvent,
  FileEvent,
} from "./src/events.ts";
export type { InputOptions } from "./src/options_input.ts";
export type { ControlMode, Role } from "./src/session/identity.ts";
export type {
  Channels,
  Frame,
  FrameInput,
  FrameLike,
  PixelData,
  YuvPlanes,
} from "./src/frame.ts";
export type { ViewerStats } from "./src/session/metrics.ts";
export type { Clock, TimerHandle } from "./src/clock.ts";
export type { Logger, LogLevel } from "./src/log.ts";
export { consoleLogger, silentLogger } from "./src/log.ts";
// From the wire protocol, only what an app meets: the close codes a viewer
// may see, the capability strings in `stats()`, the size limit, and the
// types of the input events and options. The rest (envelopes, message
// builders and parsers, negotiation) is `@rfb/core/protocol`.
export {
  CAP_H264,
  CAP_IMAGE_SCALE,
  CAP_JPEG,
  CAP_PNG,
  CAP_WEBP,
  CLOSE_AUTH_FAILED,
  CLOSE_GOING_AWAY,
  CLOSE_INTERNAL,
  CLOSE_INVALID_DATA,
  CLOSE_NORMAL,
  CLOSE_POLICY,
  CLOSE_TOO_BIG,
  CLOSE_TRY_LATER,
  CLOSE_UNKNOWN_STREAM,
  CLOSE_UNSUPPORTED,
  MAX_SIDE,
} from "./src/protocol.ts";
export type {
  GamepadEvent,
  ImageFormat,
  InputEvent,
  KeyEvent,
  Modifier,
  PointerEvent,
  PointerFields,
  ResizeEvent,
  TextInputEvent,
  TouchPoint,
  Transport,
  WheelEvent,
} from "./src/protocol.ts";
