/**
 * `handler()`: a plain `(Request) => Response` that serves a display or a
 * server's streams, so it mounts in `Deno.serve`, Hono, Fresh, Oak or any
 * framework that hands over a standard `Request`. WebSocket upgrades become
 * viewer sessions (after the Origin check); plain GETs serve `/health`,
 * `/streams`, `/metrics` and a viewer page per stream.
 *
 * @module
 */

import { Display, internals } from "../display.ts";
import { parseCookies } from "./auth.ts";
import { consoleLogger, type Logger } from "../log.ts";
import {
  type AllowedOrigins,
  type Authenticate,
  checkAllowedOrigins,
  type ServerOptions,
} from "../options.ts";
import { hostnameOf, isLoopbackHost, originAllowed } from "./origin.ts";
import { CLOSE_UNKNOWN_STREAM } from "../protocol.ts";
import { GUARD_HEADERS, viewerPageResponse } from "./viewer_page.ts";
import { CLIENT_BUNDLE } from "../_client_bundle.ts";

/** FNV-1a over the bundle's text: a cheap, stable ETag. */
function etagOf(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return `"${(h >>> 0).toString(16)}-${text.length}"`;
}

const CLIENT_ETAG = etagOf(CLIENT_BUNDLE);

function clientBundle(request: Request): Response {
  const headers = {
    "content-type": "text/javascript; charset=utf-8",
    "cache-control": "no-cache",
    // Public code: pages on other origins may load it as a module script.
    "access-control-allow-origin": "*",
    etag: CLIENT_ETAG,
  };
  if (request.headers.get("if-none-match") === CLIENT_ETAG) {
    return new Response(null, { status: 304, headers });
  }
  return new Response(CLIENT_BUNDLE, { headers });
}

/**
 * Named streams to serve: an `RfbServer` is one. (An interface here, so the
 * handler does not depend on the listener that uses it.)
 */
export interface StreamDirectory {
  /** The defaults and access settings of the streams. */
  readonly options: Readonly<ServerOptions>;
  /** The stream of that name, if any. */
  stream(name: string): Display | undefined;
  /** Every stream. */
  streams(): Display[];
}

/** Options for `handler()`. */
export interface HandlerOptions {
  /** The path the handler is mounted under, e.g. `"/rfb"`; stripped before routing. */
  prefix?: string;
  /**
   * Admits or refuses viewers, and guards `/streams` and `/metrics`. A hook
   * given to the stream itself wins; this one wins over the server's.
   */
  authenticate?: Authenticate;
  /**
   * Host names (the `Host` header, port ignored) to answer; others get 421.
   * `"loopback"` stands for `localhost`, `127.x.x.x` and `[::1]`. Default:
   * any, except on a server's own listener bound to loopback, which answers
   * only loopback names (a guard against DNS rebinding).
   */
  allowedHosts?: readonly string[];
  /** Page origins allowed besides same-host pages, or `"*"`. */
  allowedOrigins?: AllowedOrigins;
  /** Where log lines go. */
  logger?: Logger;
}

/** Connection facts a server passes along (as `Deno.serve` does). */
export interface RequestInfo {
  /** The peer's address. */
  remoteAddr?: { hostname?: string; port?: number } | unknown;
}

/** A standard request handler. */
export type RfbHandler = (
  request: Request,
  info?: RequestInfo,
) => Response | Promise<Response>;

/** Names that are HTTP routes, so no stream may take them. */
export const RESERVED_NAMES: ReadonlySet<string> = new Set([
  "health",
  "streams",
  "metrics",
  "rfb-client.js",
  "favicon.ico",
]);

function json(body: unknown, status = 200): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      ...GUARD_HEADERS,
      "content-type": "application/json; charset=utf-8",
    },
  });
}

function text(body: string, status: number): Response {
  return new Response(body, {
    status,
    headers: { "content-type": "text/plain; charset=utf-8" },
  });
}

function peer(info: RequestInfo | undefined): string | undefined {
  const addr = info?.remoteAddr as
    | { hostname?: string; port?: number }
    | undefined;
  return addr?.hostname ? `${addr.hostname}:${addr.port ?? ""}` : undefined;
}

/**
 * Make a request handler for a display or a server.
 *
 * For a single `Display`, every WebSocket path reaches it. For an
 * `RfbServer`, the path after `prefix` names the stream (`/` is `default`);
 * an unknown name is closed with 4404.
 *
 * @example
 * ```ts ignore
 * import { Hono } from "hono";
 * import { Display, handler } from "@rfb/core";
 * const display = new Display(640, 480);
 * const rfb = handler(display, { authenticate: ({ cookies }) => cookies.session === "ok" });
 * const app = new Hono();
 * app.get("/rfb", (c) => rfb(c.req.raw));
 * Deno.serve(app.fetch);
 * ```
 */
export function handler(
  target: Display | StreamDirectory,
  options: HandlerOptions = {},
): RfbHandler {
  checkAllowedOrigins("handler()", options.allowedOrigins);
  const single = target instanceof Display ? target : null;
  const server = single ? null : target as StreamDirectory;
  const prefix = (options.prefix ?? "").replace(/\/+$/, "");
  const authenticate = options.authenticate ?? server?.options.authenticate;
  const allowed = options.allowedOrigins ?? server?.options.allowedOrigins;
  const log = options.logger ?? server?.options.logger ?? consoleLogger;
  const hosts = options.allowedHosts?.map((h) => hostnameOf(h));

  /** Run the auth hook for an HTTP listing (token from `?token=` or a Bearer header). */
  const mayList = async (request: Request, url: URL): Promise<boolean> => {
    if (!authenticate) return true;
    const bearer = request.headers.get("authorization")?.match(
      /^Bearer\s+(.+)$/i,
    )?.[1];
    try {
      return Boolean(
        await authenticate({
          token: url.searchParams.get("token") ?? bearer,
          stream: "*",
          headers: request.headers,
          cookies: parseCookies(request.headers.get("cookie")),
          request,
        }),
      );
    } catch {
      return false;
    }
  };

  const lookup = (name: string): Display | undefined =>
    single ? single : server!.stream(name);
  const all = (): Display[] => single ? [single] : server!.streams();

  return (request, info) => {
    const url = new URL(request.url);
    if (hosts) {
      const host = request.headers.get("host") ?? url.host;
      if (
        !hosts.includes(hostnameOf(host)) &&
        !(hosts.includes("loopback") && isLoopbackHost(host))
      ) {
        log(
          "warn",
          `refused a request for host ${
            JSON.stringify(host.slice(0, 64))
          } (not allowed)`,
        );
        return text("misdirected request", 421);
      }
    }
    let path = url.pathname;
    if (prefix) {
      if (path !== prefix && !path.startsWith(prefix + "/")) {
        return text("not found", 404);
      }
      path = path.slice(prefix.length);
    }
    let name: string;
    try {
      name = decodeURIComponent(path.replace(/^\/+|\/+$/g, "")) || "default";
    } catch {
      return text("bad path", 400);
    }
    const upgrade =
      request.headers.get("upgrade")?.toLowerCase() === "websocket";
    if (upgrade) {
      if (!originAllowed(request, allowed)) {
        const origin = JSON.stringify(
          request.headers.get("origin")?.slice(0, 100),
        );
        log("warn", `refused a WebSocket from origin ${origin} (not allowed)`);
        return text("origin not allowed", 403);
      }
      const display = single ?? server!.stream(name);
      // Read what auth may need before the upgrade consumes the request.
      const remoteAddr = peer(info);
      const snapshot = new Request(request.url, {
        method: request.method,
        headers: new Headers(request.headers),
      });
      let socket: WebSocket;
      let response: Response;
      try {
        ({ socket, response } = Deno.upgradeWebSocket(request));
      } catch (err) {
        return text(`bad upgrade: ${(err as Error).message}`, 400);
      }
      socket.binaryType = "arraybuffer";
      if (!display || display.closed) {
        socket.onopen = () => {
          try {
            socket.close(CLOSE_UNKNOWN_STREAM, "unknown stream");
          } catch { /* already closed */ }
        };
        return response;
      }
      const session = internals(display).accept(socket, {
        request: snapshot,
        remoteAddr,
        authenticate,
      });
      socket.onopen = () => session.opened();
      socket.onmessage = (e) => session.receive(e.data);
      socket.onclose = () => session.closed();
      socket.onerror = () => {};
      return response;
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text("method not allowed", 405);
    }
    switch (name) {
      case "health":
        return text("ok", 200);
      case "streams":
      case "metrics":
        return mayList(request, url).then((ok) => {
          if (!ok) return text("authentication required", 401);
          return name === "metrics"
            ? json({ streams: all().map((d) => d.stats()) })
            : json(
              all().map((d) => ({
                name: d.name,
                width: d.width,
                height: d.height,
                viewers: d.viewers,
                path: `${prefix}/${
                  d.name === "default" ? "" : encodeURIComponent(d.name)
                }`,
              })),
            );
        });
      case "rfb-client.js":
        return clientBundle(request);
      case "favicon.ico":
        return new Response(null, { status: 204 });
    }
    const display = lookup(name);
    if (!display) return text("unknown stream", 404);
    return viewerPageResponse(display.name, `${prefix}/rfb-client.js`);
  };
}
