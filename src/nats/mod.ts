/**
 * `@rfb/core/nats`: past one machine. A render host encodes each frame
 * once and publishes the encoded pictures to NATS (`publishToNats`); edge
 * servers (`displayFromNats`) serve them to their own viewers with the same
 * sessions, flow control and keyframe gates, and send input, IDR asks and
 * who is watching back to the host.
 *
 * ```ts ignore
 * import { Display, handler } from "@rfb/core";
 * import { displayFromNats, publishToNats } from "@rfb/core/nats";
 * // render host
 * const display = new Display(1280, 720);
 * await using link = await publishToNats(display, { servers: "nats://127.0.0.1:4222", stream: "scene" });
 * // edge server (another process or machine)
 * await using remote = await displayFromNats({ servers: "nats://127.0.0.1:4222", stream: "scene" });
 * Deno.serve({ port: 8001 }, handler(remote));
 * ```
 *
 * @module
 */

export { HostLink, MAX_ENCODINGS, publishToNats } from "./host.ts";
export type { HostLinkStats, PublishToNatsOptions } from "./host.ts";
export { displayFromNats, NEED_TTL_MS, RemoteDisplay } from "./edge.ts";
export type { EdgeLinkStats, RemoteDisplayOptions } from "./edge.ts";
export type { NatsLinkOptions } from "./connect.ts";
