/**
 * `handler()`: a plain `(Request) => Response` that serves a display or a
 * server's streams, so it mounts in `Deno.serve`, Hono, Fresh, Oak or any
 * framework that hands over a standard `Request`. WebSocket upgrades become
 * viewer sessions (after the Host and Origin checks) through Deno's
 * `upgradeWebSocket`; plain GETs serve `/health`, `/streams`, `/metrics` and
 * a viewer page per stream (the routes are in `router.ts`).
 *
 * Mounted in someone else's server, the handler cannot bound what that
 * server reads before it is called (header and message sizes) or drop a
 * TCP connection whose peer never answers a close: SECURITY.md says what
 * the host app's server must add. The library's own listener (`serve()`,
 * `serveServer()`) does all of that itself (`front.ts`).
 *
 * @module
 */

import type { Display } from "../display.ts";
import { createRouter } from "./router.ts";
import type {
  DisplayStandIn,
  HandlerOptions,
  RfbHandler,
  StreamDirectory,
} from "./types.ts";

export type {
  DisplayStandIn,
  HandlerOptions,
  RequestInfo,
  RfbHandler,
  StreamDirectory,
} from "./types.ts";
export { RESERVED_NAMES } from "./types.ts";

/** Seconds between pings on a mounted viewer's socket; no pong in that time closes it. */
const PING_SECONDS = 30;

/**
 * Make a request handler for a display or a server.
 *
 * For a single `Display` (or a `RemoteDisplay` from `@rfb/core/nats`, a
 * stream relayed from a render host), every path reaches it: its viewer page (the
 * client inlined, so the page works under any mount) and its WebSocket.
 * For an `RfbServer`, the path after `prefix` names the stream (`/` is
 * `default`, or the list of streams when there is none); an unknown name is
 * closed with 4404 (or, where a hook guards the streams, 4401 unless the
 * peer passes it). It answers only loopback `Host` names unless
 * `allowedHosts` says otherwise.
 *
 * The options apply to the requests this handler answers, nothing else: a
 * server that also listens (`serveServer()`, `listen()`) serves the same
 * streams on its own port under its own options. To reach streams only
 * through your app, mount a `new RfbServer()`, which never listens.
 *
 * @example
 * ```ts
 * import { Hono } from "hono";
 * import { Display, handler } from "@rfb/core";
 * const display = new Display(640, 480);
 * const rfb = handler(display, { authenticate: ({ cookies }) => cookies.session === "ok" });
 * const app = new Hono();
 * app.get("/rfb", (c) => rfb(c.req.raw)); // the page and its socket, both at /rfb
 * await using http = Deno.serve({ port: 0, onListen() {} }, app.fetch);
 * await display.close();
 * ```
 */
export function handler(
  target: Display | StreamDirectory | DisplayStandIn,
  options: HandlerOptions = {},
): RfbHandler {
  const router = createRouter(target, options);
  return (request, info) => {
    const answer = router.route(request, info);
    if (!("upgrade" in answer)) return answer;
    let socket: WebSocket;
    let response: Response;
    try {
      ({ socket, response } = Deno.upgradeWebSocket(request, {
        idleTimeout: PING_SECONDS,
      }));
    } catch (err) {
      return new Response(`bad upgrade: ${(err as Error).message}`, {
        status: 400,
      });
    }
    socket.binaryType = "arraybuffer";
    const session = router.bind(answer.upgrade, socket);
    socket.onopen = () => session.opened();
    socket.onmessage = (e) => session.receive(e.data);
    socket.onclose = () => session.closed();
    socket.onerror = () => {};
    return response;
  };
}
