/**
 * The NATS connection of a render host or an edge server: opened with the
 * NATS project's Node.js transport (`@nats-io/transport-node`, which runs on
 * Deno's `node:net`; `@nats-io/transport-deno` is published only on JSR),
 * reconnecting forever a quarter second apart (its sockets always keep an
 * `error` listener: the transport removes its own while closing, and a
 * reset that Deno reports after that would otherwise be an uncaught error
 * that ends the process), with the caller's
 * credentials and TLS settings passed through as given; or a connection the
 * app opened itself. It watches the connection's status, so the host skips
 * frames while disconnected instead of queueing them, and the edge
 * announces itself again as soon as it is back.
 *
 * @module
 */

import type { Socket } from "node:net";
import type { ConnectionOptions, NatsConnection } from "@nats-io/nats-core";
import {
  NatsConnectionImpl,
  setTransportFactory,
} from "@nats-io/nats-core/internal";
import {
  nodeResolveHost,
  NodeTransport,
} from "@nats-io/transport-node/lib/node_transport.js";
import type { Logger } from "../log.ts";
import { checkPrefix } from "./wire.ts";

/** How to reach NATS, for `publishToNats()` and `displayFromNats()`. */
export interface NatsLinkOptions {
  /** The NATS server(s), e.g. `"nats://127.0.0.1:4222"` (ignored when `connection` is given). */
  servers?: string | string[];
  /** The stream's name on NATS (the same on the host and its edges). */
  stream: string;
  /** Subjects go under this prefix. Default `"rfb"`. */
  prefix?: string;
  /**
   * More connection options, passed to the NATS client as given:
   * credentials (`user`/`pass`, `token`, `authenticator`), `tls`, `name`,
   * timeouts. Reconnecting is on by default (forever, 250 ms apart).
   */
  nats?: Partial<ConnectionOptions>;
  /** A connection the app opened; it is not closed with the link. */
  connection?: NatsConnection;
  /** Where log lines go. Default: warnings and errors to the console. */
  logger?: Logger;
}

/** An open connection and what became of it. */
export interface Link {
  /** The connection. */
  nc: NatsConnection;
  /** Whether the link opened it (and so closes it). */
  owned: boolean;
  /** Whether it is connected now. */
  connected(): boolean;
  /** The largest message the server takes, bytes. */
  maxPayload(): number;
  /** Close it if owned (after sending what is queued). */
  close(): Promise<void>;
  /** Runs each time the connection comes back. */
  onReconnect: () => void;
}

const ignore = () => {};

/** Keep an `error` listener on `socket` whatever the transport removes. */
function guard<T extends Socket>(socket: T): T {
  socket.on("error", ignore);
  const removeAll = socket.removeAllListeners.bind(socket);
  socket.removeAllListeners = ((...args: Parameters<typeof removeAll>) => {
    removeAll(...args);
    socket.on("error", ignore);
    return socket;
  }) as typeof socket.removeAllListeners;
  return socket;
}

/** The Node.js transport, with guarded sockets. */
class GuardedTransport extends NodeTransport {
  override async dial(hp: { hostname: string; port: number }) {
    return guard(await super.dial(hp));
  }
  override async tlsFirst(hp: { hostname: string; port: number }) {
    return guard(await super.tlsFirst(hp));
  }
  override async startTLS() {
    return guard(await super.startTLS());
  }
}

/** `connect()` of `@nats-io/transport-node`, with `GuardedTransport`. */
function connect(opts: Partial<ConnectionOptions>): Promise<NatsConnection> {
  setTransportFactory({
    factory: () => new GuardedTransport(),
    dnsResolveFn: nodeResolveHost,
  });
  return NatsConnectionImpl.connect(opts);
}

/**
 * Check the options common to both ends; throws a `TypeError` naming the
 * problem.
 *
 * @example
 * ```ts ignore
 * checkLinkOptions("publishToNats()", { servers: "nats://127.0.0.1:4222", stream: "scene" });
 * ```
 */
export function checkLinkOptions(where: string, o: NatsLinkOptions): void {
  if (typeof o !== "object" || o === null) {
    throw new TypeError(`${where}: options must be an object`);
  }
  if (typeof o.stream !== "string" || o.stream.length === 0) {
    throw new TypeError(
      `${where}: option 'stream' must be a non-empty string, got ${
        JSON.stringify(o.stream)
      }`,
    );
  }
  try {
    checkPrefix(o.prefix ?? "rfb");
  } catch (err) {
    throw new TypeError(`${where}: ${(err as Error).message}`);
  }
  if (!o.connection && o.servers === undefined && !o.nats?.servers) {
    throw new TypeError(
      `${where}: give 'servers' (e.g. "nats://127.0.0.1:4222") or an open 'connection'`,
    );
  }
}

/**
 * Open (or adopt) the connection and watch its status; its `onReconnect`
 * runs each time it comes back.
 *
 * @example
 * ```ts ignore
 * const link = await openLink("displayFromNats()", options, log);
 * link.onReconnect = () => announce();
 * ```
 */
export async function openLink(
  where: string,
  o: NatsLinkOptions,
  log: Logger,
): Promise<Link> {
  let nc: NatsConnection;
  const owned = !o.connection;
  if (o.connection) {
    nc = o.connection;
  } else {
    try {
      nc = await connect({
        maxReconnectAttempts: -1,
        reconnectTimeWait: 250,
        reconnectJitter: 100,
        pingInterval: 5000,
        ...o.nats,
        servers: o.servers ?? o.nats?.servers,
      });
    } catch (err) {
      const servers = [o.servers ?? o.nats?.servers].flat().join(", ");
      throw new Error(
        `${where}: could not connect to NATS at ${servers}: ${
          (err as Error)?.message ?? err
        }`,
        { cause: err },
      );
    }
  }
  let connected = !nc.isClosed();
  const link: Link = {
    nc,
    owned,
    connected: () => connected && !nc.isClosed(),
    maxPayload: () => nc.info?.max_payload ?? 1024 * 1024,
    close: async () => {
      if (!owned || nc.isClosed()) return;
      try {
        await nc.drain();
      } catch {
        await nc.close().catch(() => {});
      }
    },
    onReconnect: () => {},
  };
  (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "reconnecting") {
        if (connected) log("warn", `${where}: NATS disconnected; reconnecting`);
        connected = false;
      } else if (s.type === "reconnect") {
        connected = true;
        log("info", `${where}: NATS reconnected`);
        link.onReconnect();
      } else if (s.type === "close") {
        connected = false;
      }
    }
  })().catch(() => {});
  return link;
}

/**
 * A random id for a host or edge process: 12 letters and digits, a valid
 * subject token.
 *
 * @example
 * ```ts
 * import { processId } from "./connect.ts";
 * console.log(processId().length); // 12
 * ```
 */
export function processId(): string {
  const abc = "abcdefghijklmnopqrstuvwxyz0123456789";
  return [...crypto.getRandomValues(new Uint8Array(12))].map((b) =>
    abc[b % abc.length]
  ).join("");
}
