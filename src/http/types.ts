/**
 * The types of the HTTP side: what `handler()` takes and returns, and the
 * routes no stream may be named after.
 *
 * @module
 */

import type { Display } from "../display.ts";
import type { Logger } from "../log.ts";
import type {
  AllowedOrigins,
  Authenticate,
  ServerOptions,
} from "../options.ts";

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

/**
 * An object served in a display's place: a `RemoteDisplay` from
 * `@rfb/core/nats` (a stream relayed from a render host, which has no
 * `publish`). Only such objects made by this library are accepted.
 */
export interface DisplayStandIn {
  /** The stream's name. */
  readonly name: string;
  /** Viewers connected here. */
  readonly viewers: number;
  /** True after `close()`. */
  readonly closed: boolean;
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
   * `"loopback"` stands for `localhost`, `127.x.x.x` and `[::1]`, `"*"` for
   * any name. Default: loopback names only (a guard against DNS rebinding:
   * a page on another name that resolves to this machine gets 421); list
   * the names your app is reached by when it serves other machines.
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
