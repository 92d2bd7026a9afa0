/**
 * The routes of `handler()` and of the library's own listener, apart from
 * how a WebSocket is upgraded: the Host check, the prefix, `/health`,
 * `/streams`, `/metrics`, `/rfb-client.js`, the viewer page, the list of
 * streams at `/` of a server without a `"default"` one, and for an upgrade
 * the Origin check and which stream it is for. Each front (Deno's
 * `upgradeWebSocket` in `handler.ts`, `node:http` with `ws` in `front.ts`)
 * upgrades in its own way and binds the socket with `bind()`.
 *
 * Where an `authenticate` hook guards a stream, nothing tells a guarded name
 * from an unknown one before the hook has passed: pages are served for any
 * name, listings show only what the caller may see, and a socket for an
 * unknown name is closed 4401 or, past the hook, 4404.
 *
 * @module
 */

import { type Display, internals } from "../display.ts";
import { displayBehind } from "../sourced_display.ts";
import { consoleLogger, logSafe } from "../log.ts";
import {
  type Authenticate,
  checkAllowedOrigins,
  resolveDisplayOptions,
  safeLogger,
} from "../options.ts";
import type { SessionRequest, ViewerSocket } from "../session/types.ts";
import { systemClock } from "../clock.ts";
import { parseCookies } from "./auth.ts";
import { hostnameOf, isLoopbackHost, originAllowed } from "./origin.ts";
import type {
  DisplayStandIn,
  HandlerOptions,
  RequestInfo,
  StreamDirectory,
} from "./types.ts";
import { UnknownStream } from "./unknown_stream.ts";
import { GUARD_HEADERS, viewerPageResponse } from "./viewer_page.ts";
import { indexPageResponse } from "./index_page.ts";
import { CLIENT_BUNDLE } from "../_client_bundle.ts";
import { CLOSE_UNKNOWN_STREAM } from "../protocol.ts";

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

/** A WebSocket upgrade the router accepted: the stream and the facts auth needs. */
export interface Admission {
  /** The stream, or null for a name that does not exist. */
  display: Display | null;
  /** The stream name asked for. */
  stream: string;
  /** A copy of the upgrade request (headers and URL), for the auth hook. */
  request: Request;
  /** The peer's address. */
  remoteAddr?: string;
  /** The hook that applies if the stream has none of its own. */
  authenticate?: Authenticate;
}

/** What a front does with the socket's events. */
export interface BoundSession {
  /** The socket opened. */
  opened(): void;
  /** A message came (a string, or anything else for a binary one). */
  receive(data: unknown): void;
  /** The socket closed. */
  closed(): void;
}

/** The routes, for a front to call. */
export interface Router {
  /**
   * Answer a request: a `Response`, or for an accepted WebSocket upgrade
   * `{ upgrade }`, which the front upgrades and then `bind`s.
   */
  route(
    request: Request,
    info?: RequestInfo,
  ): Response | Promise<Response> | { upgrade: Admission };
  /** Start the session of an upgraded socket. */
  bind(admission: Admission, socket: ViewerSocket): BoundSession;
}

/** Whether a request asks for a WebSocket. */
export function isUpgrade(request: Request): boolean {
  return request.headers.get("upgrade")?.toLowerCase() === "websocket";
}

/**
 * The routes for a display or a server's streams.
 *
 * @example
 * ```ts ignore
 * const router = createRouter(display, { allowedHosts: ["loopback"] });
 * const answer = router.route(request);
 * ```
 */
export function createRouter(
  target: Display | StreamDirectory | DisplayStandIn,
  options: HandlerOptions = {},
): Router {
  checkAllowedOrigins("handler()", options.allowedOrigins);
  const single = displayBehind(target);
  if (!single && typeof (target as StreamDirectory)?.streams !== "function") {
    throw new TypeError(
      "handler(): serves a Display, a RemoteDisplay (@rfb/core/nats) or a server's streams (RfbServer)",
    );
  }
  const server = single ? null : target as StreamDirectory;
  const prefix = (options.prefix ?? "").replace(/\/+$/, "");
  const authenticate = options.authenticate ?? server?.options.authenticate;
  const allowed = options.allowedOrigins ?? server?.options.allowedOrigins;
  // Escaped and rate-limited: refusals are counted by the flood.
  const log = safeLogger(
    options.logger ?? server?.options.logger ?? consoleLogger,
    systemClock,
  );
  const anyHost = options.allowedHosts?.includes("*") ?? false;
  const hosts = (options.allowedHosts ?? ["loopback"]).map((h) =>
    h === "loopback" || h === "*" ? h : hostnameOf(h)
  );
  const handshake = resolveDisplayOptions({ logger: log }, "handler()", {
    logger: log,
    clock: systemClock,
  });

  const all = (): Display[] => single ? [single] : server!.streams();
  /** The hook of a stream: its own, else the handler's (or the server's). */
  const hookOf = (d: Display): Authenticate | undefined =>
    internals(d).options.authenticate ?? authenticate;
  /** Whether any hook guards anything here (then names must not leak). */
  const guarded = (): boolean =>
    authenticate !== undefined || all().some((d) => hookOf(d) !== undefined);

  /** Run a hook for an HTTP request (token from `?token=` or a Bearer header). */
  const passes = async (
    hook: Authenticate | undefined,
    stream: string,
    request: Request,
    url: URL,
  ): Promise<boolean> => {
    if (!hook) return true;
    const bearer = request.headers.get("authorization")?.match(
      /^Bearer\s+(.+)$/i,
    )?.[1];
    try {
      return Boolean(
        await hook({
          token: url.searchParams.get("token") ?? bearer,
          stream,
          headers: request.headers,
          cookies: parseCookies(request.headers.get("cookie")),
          request,
        }),
      );
    } catch {
      return false;
    }
  };

  /** The streams this caller may see listed (401 when the listing itself is guarded). */
  const visible = async (
    request: Request,
    url: URL,
  ): Promise<Display[] | null> => {
    if (!(await passes(authenticate, "*", request, url))) return null;
    const out: Display[] = [];
    for (const d of all()) {
      const own = internals(d).options.authenticate;
      if (!own || await passes(own, d.name, request, url)) out.push(d);
    }
    return out;
  };

  const route: Router["route"] = (request, info) => {
    const url = new URL(request.url);
    if (!anyHost) {
      const host = request.headers.get("host") ?? url.host;
      if (
        !hosts.includes(hostnameOf(host)) &&
        !(hosts.includes("loopback") && isLoopbackHost(host))
      ) {
        log(
          "warn",
          `refused a request for host ${logSafe(host)} (not allowed)`,
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
    if (isUpgrade(request)) {
      if (!originAllowed(request, allowed)) {
        const origin = request.headers.get("origin") ?? "";
        log(
          "warn",
          `refused a WebSocket from origin ${logSafe(origin)} (not allowed)`,
        );
        return text("origin not allowed", 403);
      }
      const display = single ?? server!.stream(name) ?? null;
      // Keep what auth may need: the upgrade consumes the request.
      const snapshot = new Request(request.url, {
        method: request.method,
        headers: new Headers(request.headers),
      });
      return {
        upgrade: {
          display: display && !display.closed ? display : null,
          stream: name,
          request: snapshot,
          remoteAddr: peer(info),
          authenticate,
        },
      };
    }
    if (request.method !== "GET" && request.method !== "HEAD") {
      return text("method not allowed", 405);
    }
    switch (name) {
      case "health":
        return text("ok", 200);
      case "streams":
      case "metrics":
        return visible(request, url).then((shown) => {
          if (!shown) return text("authentication required", 401);
          return name === "metrics"
            ? json({ streams: shown.map((d) => d.stats()) })
            : json(
              shown.map((d) => ({
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
    if (server && path.replace(/^\/+|\/+$/g, "") === "") {
      return home(request, url);
    }
    const display = single ?? server!.stream(name);
    // A guarded site serves the page for any name: whether the stream
    // exists is told only to a viewer that passes the hook.
    if (!display && !guarded()) return text("unknown stream", 404);
    return viewerPageResponse(display?.name ?? name);
  };

  /**
   * `/` of a server: the "default" stream's viewer, else the list of the
   * streams this caller may see. Where a hook guards the streams, a caller
   * the hook refuses gets the viewer page whatever exists (its socket is
   * then refused), so the answer tells nothing about which names exist.
   */
  const home = (
    request: Request,
    url: URL,
  ): Response | Promise<Response> => {
    const list = (shown: Display[]): Response =>
      indexPageResponse(
        shown.map((d) => ({
          name: d.name,
          width: d.width,
          height: d.height,
          viewers: d.viewers,
        })),
        prefix,
        url.searchParams.get("token"),
      );
    if (!guarded()) {
      return server!.stream("default")
        ? viewerPageResponse("default")
        : list(server!.streams());
    }
    return visible(request, url).then((shown) =>
      !shown || shown.some((d) => d.name === "default")
        ? viewerPageResponse("default")
        : list(shown)
    );
  };

  const bind = (a: Admission, socket: ViewerSocket): BoundSession => {
    const req: SessionRequest = {
      request: a.request,
      remoteAddr: a.remoteAddr,
      authenticate: a.authenticate,
    };
    if (a.display) return internals(a.display).accept(socket, req);
    if (!guarded()) {
      return {
        opened: () => {
          try {
            socket.close(CLOSE_UNKNOWN_STREAM, "unknown stream");
          } catch { /* already closed */ }
        },
        receive: () => {},
        closed: () => {},
      };
    }
    // No hook of its own to run: one that refuses everybody, as a guarded
    // stream refuses a peer without credentials.
    return new UnknownStream(a.stream, handshake).accept(socket, {
      ...req,
      authenticate: a.authenticate ?? (() => false),
    });
  };

  return { route, bind };
}
