/**
 * Options for displays, servers and handlers, with their defaults and the
 * checks that turn a bad value into a clear error at the call that took it.
 *
 * @module
 */

import type { Clock } from "./clock.ts";
export { safeLogger } from "./log.ts";
import { refuseUnknownKeys } from "./names.ts";
import { type Logger, safeLogger } from "./log.ts";
import { type ImageFormat, MAX_SIDE, type Transport } from "./protocol.ts";
import type { Frame } from "./frame.ts";
import { originKey } from "./http/origin.ts";
import {
  INPUT_KEYS,
  type InputOptions,
  resolveInputOptions,
} from "./options_input.ts";
import {
  CONTROL_MODES,
  type ControlMode,
  type Role,
  ROLES,
} from "./session/identity.ts";

/** A replacement image encoder (see `DisplayOptions.imageEncoder`). */
export type ImageEncoder = (
  frame: Frame,
  settings: {
    format: ImageFormat;
    quality: number;
    still?: boolean;
    width?: number;
    height?: number;
  },
) => Promise<Uint8Array>;

/** What an `authenticate` hook is told about a viewer. */
export interface AuthContext {
  /** The token from the viewer's `hello`, if any. */
  token?: string;
  /** The stream the viewer asked for. */
  stream: string;
  /** The upgrade request's headers. */
  headers: Headers;
  /** The upgrade request's cookies, parsed. */
  cookies: Record<string, string>;
  /** The upgrade request itself. */
  request: Request;
  /** The peer's address, when the server knows it. */
  remoteAddr?: string;
}

/**
 * Decides whether a viewer may watch. A truthy result admits it; a falsy
 * result, a throw or a rejection closes it with 4401 before any frame. An
 * object result also says who it is: `{ id?, name?, role?: "control" |
 * "view", ...anything }` (`role` defaults to the display's `defaultRole`;
 * the whole object reaches the app as each event's `user`).
 */
export type Authenticate = (ctx: AuthContext) => unknown;

/** Which page origins may open a WebSocket: a list, or `"*"` for any. */
export type AllowedOrigins = readonly string[] | "*";

/**
 * The values of the `encoder` option.
 *
 * @example
 * ```ts
 * import { ENCODER_CHOICES } from "@rfb/core";
 * console.log(ENCODER_CHOICES.join(" | ")); // auto | nvenc | x264
 * ```
 */
export const ENCODER_CHOICES = ["auto", "nvenc", "x264"] as const;

/** The `encoder` option: `"auto"` (NVENC when it opens, else libx264), `"nvenc"` or `"x264"`. */
export type EncoderChoice = typeof ENCODER_CHOICES[number];

/** Settings shared by every viewer of a display (the clipboard and file limits are `InputOptions`). */
export interface DisplayOptions extends InputOptions {
  /** `"auto"` (H.264 where both sides can, else images), `"image"` or `"webcodecs"`. Default `"auto"`. */
  transport?: "auto" | Transport;
  /** Image format for live frames. Default `"jpeg"`. */
  imageFormat?: ImageFormat;
  /** JPEG/WebP quality, 1-100. Default 80. */
  quality?: number;
  /** H.264 target bitrate, bits per second. Default: about 0.07 bits per pixel per frame (4 Mbit/s at 720p60). */
  bitrate?: number;
  /** H.264 frame rate the encoder plans for (rate control, durations). Default 60. */
  fps?: number;
  /** H.264 frames between periodic IDRs. Default 4 seconds' worth. */
  gop?: number;
  /** x264 preset. Default `"ultrafast"`. */
  preset?: string;
  /**
   * The H.264 encoder: `"auto"` tries NVENC (NVIDIA's hardware encoder,
   * through `libnvidia-encode.so.1`, or the path in `RFB_NVENC_LIBRARY`;
   * `libcuda.so.1` or `RFB_CUDA_LIBRARY`) and uses libx264 when the driver
   * is not there, or, with one log line saying why, when NVENC fails to
   * open; `"nvenc"` uses NVENC only; `"x264"` libx264 only. Default `"auto"`.
   */
  encoder?: EncoderChoice;
  /** Seconds between IDRs made for viewers that join, drop or ask (shared by the group). Default 0.25. */
  minKeyframeInterval?: number;
  /**
   * Adapt each viewer's stream to its connection, from the delivery rate its
   * acks show and its decode queue: H.264 lowers its bitrate, then its frame
   * rate; images lower their quality, then frame rate, then resolution
   * (viewers of this project's client draw them full size). It climbs back
   * when the link allows; the viewer gets `set_quality`. Default true;
   * `false` keeps every viewer at the configured quality.
   */
  adaptive?: boolean;
  /** Most unacknowledged frames per viewer, 1-64. Default 2. */
  maxInflight?: number;
  /** Seconds without an ack before a viewer's window is cleared. Default 2. */
  inflightTimeout?: number;
  /** Seconds of rest before a lossless still is sent; `false` turns it off. Default 0.5. */
  stillAfter?: number | false;
  /** Seconds between `stats` messages to every viewer; 0 sends them only to viewers that ask. Default 0. */
  statsInterval?: number;
  /** The frames' render pixel ratio, sent to viewers. Default 1. */
  pixelRatio?: number;
  /** Admits or refuses viewers of this display (overrides the server's hook). */
  authenticate?: Authenticate;
  /**
   * Who drives: `"shared"` (every viewer with the `"control"` role),
   * `"exclusive"` (one at a time: the first holds control, others ask, the
   * app may `grantControl`) or `"none"` (nobody). Input from viewers that do
   * not drive is dropped and counted. Default `"shared"`.
   */
  control?: ControlMode;
  /** Seconds without input after which the driver loses control to a viewer that asks (`"exclusive"`). Default 5. */
  controlIdle?: number;
  /** The role of a viewer the `authenticate` hook does not give one (or with no hook). Default `"control"`. */
  defaultRole?: Role;
  /** Tell viewers who watches and who drives (`presence` and `control` messages). Default true. */
  presence?: boolean;
  /** Seconds a viewer has to send `hello`. Default 10. */
  helloTimeout?: number;
  /** Seconds `authenticate` may take before the viewer is refused. Default 10. */
  authTimeout?: number;
  /** Bytes a viewer's socket may hold unsent before frames to it are skipped. Default 16 MiB. */
  maxBufferedBytes?: number;
  /** Input events kept for the app before the oldest are dropped. Default 4096. */
  maxQueuedEvents?: number;
  /** Viewers this display admits at once; more are closed with 1013. Default 64. */
  maxViewers?: number;
  /** Input events per second one viewer may send (a burst of twice that is allowed); more are dropped. Default 240. */
  maxEventRate?: number;
  /** Seconds a viewer's socket may stay over `maxBufferedBytes` before it is closed (1008). Default 10. */
  slowViewerTimeout?: number;
  /**
   * Encodes live and still images instead of the built-in sharp encoder
   * (e.g. another JPEG library). It gets the frame and the format, quality
   * and whether it is a still, and returns a complete image file.
   */
  imageEncoder?: ImageEncoder;
  /** Where log lines go. Default: warnings and errors to the console. */
  logger?: Logger;
  /** Time source, for tests. Default: the system clock. */
  clock?: Clock;
}

/**
 * The settings `Display.configure` can change while the display runs.
 *
 * @example
 * ```ts
 * import { TUNABLE } from "@rfb/core";
 * console.log(TUNABLE.includes("quality")); // true
 * ```
 */
export const TUNABLE = [
  "transport",
  "imageFormat",
  "quality",
  "bitrate",
  "fps",
  "gop",
  "stillAfter",
  "adaptive",
  "control",
  "controlIdle",
] as const;

/** The settings `Display.configure` can change while the display runs (see `TUNABLE`). */
export type TunableOptions = Pick<DisplayOptions, typeof TUNABLE[number]>;

/** Connection limits of the library's own listener (`serve()`, `serveServer()`). */
export interface ListenerLimits {
  /** Open connections in all; more are refused with 503. Default 4096, and always 64 under the process's open-file limit. */
  maxConnections: number;
  /** Open connections from one peer address; more are refused with 503. Default 256. */
  maxConnectionsPerAddress: number;
  /** Seconds a connection has to send its request head, and may idle between requests. Default 10. */
  headerTimeout: number;
  /** Seconds a closing WebSocket waits for the peer's close frame before the connection is dropped. Default 2. */
  closeTimeout: number;
  /** Seconds between pings to a viewer; one that misses a pong is dropped. Default 30. */
  pingInterval: number;
}

/** Settings of a server (a listener with named streams). */
export interface ServerOptions extends DisplayOptions {
  /** TCP port; 0 lets the OS pick. Default 8765. */
  port?: number;
  /** Interface to listen on. Default `"127.0.0.1"` (this machine only). */
  hostname?: string;
  /** Page origins allowed to connect, besides same-host pages. Default: same host only. */
  allowedOrigins?: AllowedOrigins;
  /**
   * Host names the listener answers to (see `HandlerOptions.allowedHosts`).
   * Default: loopback names when listening on loopback, else any.
   */
  allowedHosts?: readonly string[];
  /** Connection limits of the listener (see `ListenerLimits` for the defaults). */
  limits?: Partial<ListenerLimits>;
}

/** Every option of a display, for the check that refuses unknown ones. */
const DISPLAY_KEYS = [
  ...TUNABLE,
  "preset",
  "encoder",
  "minKeyframeInterval",
  "maxInflight",
  "inflightTimeout",
  "statsInterval",
  "pixelRatio",
  "authenticate",
  "defaultRole",
  "presence",
  "helloTimeout",
  "authTimeout",
  "maxBufferedBytes",
  "maxQueuedEvents",
  "maxViewers",
  "maxEventRate",
  "slowViewerTimeout",
  "imageEncoder",
  "logger",
  "clock",
  ...INPUT_KEYS,
] as const satisfies readonly (keyof DisplayOptions)[];

/** The options a listener adds to a display's. */
const SERVER_KEYS = [
  "port",
  "hostname",
  "allowedOrigins",
  "allowedHosts",
  "limits",
] as const satisfies readonly (keyof ServerOptions)[];

// Both lists must name every option: a new option left out fails here.
const _everyDisplayKey: Exclude<
  keyof DisplayOptions,
  typeof DISPLAY_KEYS[number]
> extends never ? true : never = true;
const _everyServerKey: Exclude<
  keyof ServerOptions,
  typeof DISPLAY_KEYS[number] | typeof SERVER_KEYS[number]
> extends never ? true : never = true;

/**
 * Refuse options nobody reads (a typo would otherwise be silently
 * ignored), naming the closest valid one.
 *
 * @example
 * ```ts
 * import { checkKnownOptions } from "./options.ts";
 * try {
 *   checkKnownOptions("serve()", { qualty: 50 }, true);
 * } catch (err) {
 *   console.log((err as Error).message); // serve(): unknown option 'qualty' (did you mean 'quality'?)
 * }
 * ```
 */
export function checkKnownOptions(
  where: string,
  opts: object,
  listener: boolean,
): void {
  refuseUnknownKeys(
    where,
    opts,
    listener ? [...DISPLAY_KEYS, ...SERVER_KEYS] : DISPLAY_KEYS,
  );
}

/** Display options with every default filled in. */
export type ResolvedDisplayOptions =
  & Required<
    Omit<
      DisplayOptions,
      "authenticate" | "stillAfter" | "bitrate" | "gop" | "imageEncoder"
    >
  >
  & {
    authenticate?: Authenticate;
    imageEncoder?: ImageEncoder;
    stillAfter: number | false;
    /** Null: derived from the frame size and rate. */
    bitrate: number | null;
    gop: number;
  };

/** x264's presets, fastest first. */
export const X264_PRESETS: readonly string[] = [
  "ultrafast",
  "superfast",
  "veryfast",
  "faster",
  "fast",
  "medium",
  "slow",
  "slower",
  "veryslow",
];

/** `"a", "b" or "c"`. */
function oneOf(values: readonly string[]): string {
  const q = values.map((v) => JSON.stringify(v));
  return `${q.slice(0, -1).join(", ")} or ${q[q.length - 1]}`;
}

function fail(where: string, name: string, want: string, got: unknown): never {
  const shown = typeof got === "string" ? JSON.stringify(got) : String(got);
  throw new RangeError(
    `${where}: option '${name}' must be ${want}, got ${shown}`,
  );
}

function num(
  where: string,
  name: string,
  v: unknown,
  min: number,
  max: number,
  integer: boolean,
): void {
  if (v === undefined) return;
  if (
    typeof v !== "number" || !Number.isFinite(v) || v < min || v > max ||
    (integer && !Number.isInteger(v))
  ) {
    fail(
      where,
      name,
      `${integer ? "an integer" : "a number"} in [${min}, ${max}]`,
      v,
    );
  }
}

/**
 * Check display options and fill in defaults. Throws a `RangeError` naming
 * the option and the accepted range.
 *
 * @example
 * ```ts
 * import { resolveDisplayOptions } from "./options.ts";
 * import { systemClock } from "./clock.ts";
 * import { consoleLogger } from "./log.ts";
 * const opts = resolveDisplayOptions({ quality: 90 }, "serve()", {
 *   logger: consoleLogger,
 *   clock: systemClock,
 * });
 * console.log(opts.maxInflight); // 2
 * ```
 */
export function resolveDisplayOptions(
  opts: DisplayOptions,
  where: string,
  defaults: { logger: Logger; clock: Clock },
): ResolvedDisplayOptions {
  if (typeof opts !== "object" || opts === null) {
    throw new TypeError(`${where}: options must be an object`);
  }
  checkKnownOptions(where, opts, false);
  if (
    opts.transport !== undefined &&
    !["auto", "image", "webcodecs"].includes(opts.transport)
  ) {
    fail(where, "transport", `"auto", "image" or "webcodecs"`, opts.transport);
  }
  if (
    opts.encoder !== undefined &&
    !(ENCODER_CHOICES as readonly string[]).includes(opts.encoder)
  ) {
    fail(where, "encoder", oneOf(ENCODER_CHOICES), opts.encoder);
  }
  if (opts.preset !== undefined && !X264_PRESETS.includes(opts.preset)) {
    fail(where, "preset", `one of ${X264_PRESETS.join(", ")}`, opts.preset);
  }
  if (
    opts.imageFormat !== undefined &&
    !["jpeg", "png", "webp"].includes(opts.imageFormat)
  ) {
    fail(where, "imageFormat", `"jpeg", "png" or "webp"`, opts.imageFormat);
  }
  num(where, "quality", opts.quality, 1, 100, true);
  num(where, "bitrate", opts.bitrate, 50_000, 200_000_000, false);
  num(where, "fps", opts.fps, 1, 240, false);
  num(where, "gop", opts.gop, 1, 100_000, true);
  num(where, "minKeyframeInterval", opts.minKeyframeInterval, 0, 60, false);
  num(where, "maxInflight", opts.maxInflight, 1, 64, true);
  num(where, "inflightTimeout", opts.inflightTimeout, 0.05, 3600, false);
  if (opts.stillAfter !== false) {
    num(where, "stillAfter", opts.stillAfter, 0.01, 3600, false);
  }
  num(where, "statsInterval", opts.statsInterval, 0, 3600, false);
  if (opts.statsInterval !== undefined && opts.statsInterval > 0) {
    num(where, "statsInterval", opts.statsInterval, 0.1, 3600, false);
  }
  num(where, "pixelRatio", opts.pixelRatio, 0.01, 100, false);
  num(where, "helloTimeout", opts.helloTimeout, 0.01, 3600, false);
  num(where, "authTimeout", opts.authTimeout, 0.01, 3600, false);
  num(where, "maxBufferedBytes", opts.maxBufferedBytes, 1024, 2 ** 32, true);
  num(where, "maxQueuedEvents", opts.maxQueuedEvents, 1, 1e6, true);
  num(where, "maxViewers", opts.maxViewers, 1, 100_000, true);
  num(where, "maxEventRate", opts.maxEventRate, 1, 100_000, false);
  num(where, "slowViewerTimeout", opts.slowViewerTimeout, 0.1, 3600, false);
  if (
    opts.control !== undefined &&
    !(CONTROL_MODES as readonly string[]).includes(opts.control)
  ) {
    fail(where, "control", oneOf(CONTROL_MODES), opts.control);
  }
  num(where, "controlIdle", opts.controlIdle, 0, 86_400, false);
  if (
    opts.defaultRole !== undefined &&
    !(ROLES as readonly string[]).includes(opts.defaultRole)
  ) {
    fail(where, "defaultRole", oneOf(ROLES), opts.defaultRole);
  }
  if (opts.presence !== undefined && typeof opts.presence !== "boolean") {
    fail(where, "presence", "true or false", opts.presence);
  }
  if (
    opts.imageEncoder !== undefined && typeof opts.imageEncoder !== "function"
  ) {
    fail(where, "imageEncoder", "a function", typeof opts.imageEncoder);
  }
  if (
    opts.authenticate !== undefined && typeof opts.authenticate !== "function"
  ) {
    fail(where, "authenticate", "a function", typeof opts.authenticate);
  }
  return {
    transport: opts.transport ?? "auto",
    imageFormat: opts.imageFormat ?? "jpeg",
    quality: opts.quality ?? 80,
    bitrate: opts.bitrate ?? null,
    fps: opts.fps ?? 60,
    gop: opts.gop ?? Math.round((opts.fps ?? 60) * 4),
    preset: opts.preset ?? "ultrafast",
    encoder: opts.encoder ?? "auto",
    minKeyframeInterval: opts.minKeyframeInterval ?? 0.25,
    adaptive: opts.adaptive ?? true,
    maxInflight: opts.maxInflight ?? 2,
    inflightTimeout: opts.inflightTimeout ?? 2,
    stillAfter: opts.stillAfter ?? 0.5,
    statsInterval: opts.statsInterval ?? 0,
    pixelRatio: opts.pixelRatio ?? 1,
    authenticate: opts.authenticate,
    control: opts.control ?? "shared",
    controlIdle: opts.controlIdle ?? 5,
    defaultRole: opts.defaultRole ?? "control",
    presence: opts.presence ?? true,
    imageEncoder: opts.imageEncoder,
    helloTimeout: opts.helloTimeout ?? 10,
    authTimeout: opts.authTimeout ?? 10,
    maxBufferedBytes: opts.maxBufferedBytes ?? 16 * 1024 * 1024,
    maxQueuedEvents: opts.maxQueuedEvents ?? 4096,
    maxViewers: opts.maxViewers ?? 64,
    maxEventRate: opts.maxEventRate ?? 240,
    slowViewerTimeout: opts.slowViewerTimeout ?? 10,
    logger: safeLogger(
      opts.logger ?? defaults.logger,
      opts.clock ?? defaults.clock,
    ),
    clock: opts.clock ?? defaults.clock,
    ...resolveInputOptions(opts, where),
  };
}

/**
 * Check a frame size. Throws a `RangeError` for anything but integers in
 * 1-16383.
 *
 * @example
 * ```ts
 * import { checkSize } from "./options.ts";
 * checkSize("serve()", 1280, 720);
 * ```
 */
export function checkSize(
  where: string,
  width: unknown,
  height: unknown,
): void {
  for (const [name, v] of [["width", width], ["height", height]] as const) {
    if (!Number.isInteger(v) || (v as number) < 1 || (v as number) > MAX_SIDE) {
      throw new RangeError(
        `${where}: ${name} must be an integer in [1, ${MAX_SIDE}], got ${
          String(v)
        }`,
      );
    }
  }
}

/**
 * Check an `allowedOrigins` value: `"*"`, or a list of origins
 * (`scheme://host[:port]`, any scheme, e.g. `https://app.example.com` or
 * `chrome-extension://<id>`). `"null"` and `file://` are refused: every
 * sandboxed frame and local file sends the origin `"null"`, so listing it
 * would admit them all (use `"*"` if that is really meant).
 *
 * @example
 * ```ts
 * import { checkAllowedOrigins } from "./options.ts";
 * checkAllowedOrigins("handler()", ["https://example.com"]);
 * ```
 */
export function checkAllowedOrigins(where: string, v: unknown): void {
  if (v === undefined || v === "*") return;
  if (!Array.isArray(v) || !v.every((o) => typeof o === "string")) {
    fail(where, "allowedOrigins", `a list of origins or "*"`, v);
  }
  for (const o of v as string[]) {
    if (originKey(o) === null) {
      fail(
        where,
        "allowedOrigins",
        `a list of origins (scheme://host[:port]; "null" and file:// cannot be listed)`,
        o,
      );
    }
  }
}

/**
 * The H.264 bitrate for a frame size and rate when none is set: about 0.07
 * bits per pixel per frame, between 0.3 and 20 Mbit/s.
 *
 * @example
 * ```ts
 * import { defaultBitrate } from "./options.ts";
 * console.log(defaultBitrate(1280, 720, 60)); // 3870720
 * ```
 */
export function defaultBitrate(
  width: number,
  height: number,
  fps: number,
): number {
  return Math.round(
    Math.min(20e6, Math.max(300e3, width * height * fps * 0.07)),
  );
}
