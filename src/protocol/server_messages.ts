/**
 * The server's control messages, as JSON text: `config` (the transport
 * chosen for a viewer), `stats` and `set_quality`, and our optional
 * `presence` (who watches, who drives) and `control` (this viewer's
 * standing), which a client that does not know them ignores.
 *
 * @example
 * ```ts
 * import { statsMessage } from "@rfb/core/protocol";
 * statsMessage({ fps_sent: 60 }); // '{"type":"stats","fps_sent":60}'
 * ```
 *
 * @module
 */

import type { Transport } from "./constants.ts";
import { compactJson } from "./envelope.ts";
import type { InputFeature } from "./transfers.ts";

/** The server's `set_quality` message: this viewer's stream was retuned. */
export interface SetQualityMessage {
  /** Target bitrate, bits per second. */
  bitrate?: number;
  /** Target frame rate. */
  fps?: number;
  /** The adaptive step, 0 = full quality (optional addition). */
  step?: number;
  /** True when the stream is reduced for this viewer's connection (optional addition). */
  reduced?: boolean;
  /** Image quality at this step, JPEG/WebP 1-100 (optional addition, images only). */
  quality?: number;
  /** Fraction of the frame's size the images are encoded at (optional addition, images only). */
  scale?: number;
}

/**
 * Build a `set_quality` message as JSON text.
 *
 * @example
 * ```ts
 * import { setQualityMessage } from "@rfb/core/protocol";
 * setQualityMessage({ bitrate: 1000000, fps: 30 }); // '{"type":"set_quality","bitrate":1000000,"fps":30}'
 * ```
 */
export function setQualityMessage(q: SetQualityMessage): string {
  return compactJson({ type: "set_quality", ...q });
}

/** The server's `config` message. */
export interface ConfigMessage {
  /** Always `"config"`. */
  type: "config";
  /** The transport chosen for this viewer. */
  transport: Transport;
  /** Frame width in pixels. */
  width: number;
  /** Frame height in pixels. */
  height: number;
  /** Coordinate space events use: always `"frame-pixels"`. */
  coords: "frame-pixels";
  /** The codec string, on the video transport. */
  codec?: string;
  /** The frame's render pixel ratio, present only when not 1. */
  pixel_ratio?: number;
  /** The image MIME type the server will send (our optional addition). */
  mime?: string;
  /** The server's in-flight window (our optional addition). */
  max_inflight?: number;
  /**
   * The input this server takes beyond pointer, wheel, keys and resize
   * (our optional addition): `"clipboard"`, `"text_input"`, `"gamepad"`, and
   * `"file"` when the app accepts files. A client sends those only when
   * listed.
   */
  input?: InputFeature[];
  /** The largest clipboard text, UTF-8 bytes, either way (our optional addition). */
  max_clipboard_bytes?: number;
  /** The largest file the app accepts, bytes; present only with `"file"` in `input`. */
  max_file_bytes?: number;
}

/**
 * Build the `config` message as JSON text.
 *
 * @example
 * ```ts
 * import { configMessage } from "@rfb/core/protocol";
 * configMessage({ type: "config", transport: "image", width: 64, height: 48, coords: "frame-pixels" });
 * ```
 */
export function configMessage(config: ConfigMessage): string {
  const msg: Record<string, unknown> = {
    type: "config",
    transport: config.transport,
    width: config.width,
    height: config.height,
    coords: "frame-pixels",
  };
  if (config.codec !== undefined) msg.codec = config.codec;
  if (config.pixel_ratio !== undefined && config.pixel_ratio !== 1) {
    msg.pixel_ratio = config.pixel_ratio;
  }
  if (config.mime !== undefined) msg.mime = config.mime;
  if (config.max_inflight !== undefined) msg.max_inflight = config.max_inflight;
  if (config.input !== undefined) msg.input = config.input;
  if (config.max_clipboard_bytes !== undefined) {
    msg.max_clipboard_bytes = config.max_clipboard_bytes;
  }
  if (config.max_file_bytes !== undefined) {
    msg.max_file_bytes = config.max_file_bytes;
  }
  return compactJson(msg);
}

/** The server's periodic `stats` message; every field is optional. */
export interface StatsMessage {
  /** Smoothed round trip from send to ack, in milliseconds. */
  rtt_ms?: number;
  /** Frames sent to this viewer per second. */
  fps_sent?: number;
  /** Frames acknowledged by this viewer per second. */
  fps_acked?: number;
  /** Bits per second sent to this viewer. */
  bitrate_bps?: number;
  /** Mean encode time of the frames sent, in milliseconds. */
  encode_ms?: number;
  /** The decode queue size the viewer last reported. */
  decode_queue_size?: number;
  /** Frames this viewer skipped (newest wins). */
  dropped?: number;
  /** Target bitrate (adaptive video). */
  target_bitrate?: number;
  /** Target frame rate (adaptive video). */
  target_fps?: number;
  /** The measured delivery rate of this viewer's link, bits per second (optional addition). */
  link_bps?: number;
  /** The adaptive step, 0 = full quality (optional addition). */
  quality_step?: number;
}

/**
 * Build a `stats` message as JSON text.
 *
 * @example
 * ```ts
 * import { statsMessage } from "@rfb/core/protocol";
 * statsMessage({ fps_sent: 60, dropped: 0 }); // '{"type":"stats","fps_sent":60,"dropped":0}'
 * ```
 */
export function statsMessage(stats: StatsMessage): string {
  return compactJson({ type: "stats", ...stats });
}

/** A viewer as `presence` names it. */
export interface PresenceViewer {
  /** The viewer's id (as in `control.you`, and in the app's events). */
  id: number;
  /** Its name, when the server's `authenticate` hook gave one. */
  name?: string;
}

/** The server's `presence` message: who watches the stream and who drives it. */
export interface PresenceMessage {
  /** Always `"presence"`. */
  type: "presence";
  /** Viewers watching, this one included. */
  viewers: number;
  /** How many of them drive now (their input reaches the app). */
  driving: number;
  /** Those who drive, the first 8. */
  drivers: PresenceViewer[];
  /** Viewers waiting for control (`"exclusive"` mode), oldest first, the first 8. */
  requests: PresenceViewer[];
}

/** The server's `control` message: this viewer's standing. */
export interface ControlMessage {
  /** Always `"control"`. */
  type: "control";
  /** This viewer's id. */
  you: number;
  /** Its role: `"control"` may drive, `"view"` only watches. */
  role: "control" | "view";
  /** The stream's control mode: `"shared"`, `"exclusive"` or `"none"`. */
  mode: "shared" | "exclusive" | "none";
  /** Whether its input reaches the app now. */
  driving: boolean;
  /** Whether it asked for control and waits. */
  requested: boolean;
}

/**
 * Build a `presence` message as JSON text.
 *
 * @example
 * ```ts
 * import { presenceMessage } from "@rfb/core/protocol";
 * presenceMessage({ type: "presence", viewers: 3, driving: 1, drivers: [{ id: 1, name: "Ada" }], requests: [] });
 * // '{"type":"presence","viewers":3,"driving":1,"drivers":[{"id":1,"name":"Ada"}],"requests":[]}'
 * ```
 */
export function presenceMessage(p: PresenceMessage): string {
  return compactJson({
    type: "presence",
    viewers: p.viewers,
    driving: p.driving,
    drivers: p.drivers,
    requests: p.requests,
  });
}

/**
 * Build a `control` message as JSON text.
 *
 * @example
 * ```ts
 * import { controlMessage } from "@rfb/core/protocol";
 * controlMessage({ type: "control", you: 2, role: "control", mode: "exclusive", driving: false, requested: true });
 * // '{"type":"control","you":2,"role":"control","mode":"exclusive","driving":false,"requested":true}'
 * ```
 */
export function controlMessage(c: ControlMessage): string {
  return compactJson({
    type: "control",
    you: c.you,
    role: c.role,
    mode: c.mode,
    driving: c.driving,
    requested: c.requested,
  });
}
