/**
 * Named streams: `RfbServer` holds them, and listens only when asked.
 * `new RfbServer()` is a registry to mount with `handler()` in your own web
 * app (nothing else can reach its streams); `serveServer()` makes one and
 * starts the library's own listener on a port; `serve()` is the one-stream
 * shortcut that listens and returns the `Display` itself.
 *
 * @module
 */

import { systemClock } from "../clock.ts";
import { type Display, internals, namedDisplay } from "../display.ts";
import { displayBehind } from "../sourced_display.ts";
import { handler } from "./handler.ts";
import { Front } from "./front.ts";
import { createRouter } from "./router.ts";
import {
  type DisplayStandIn,
  RESERVED_NAMES,
  type RfbHandler,
  type StreamDirectory,
} from "./types.ts";
import { consoleLogger } from "../log.ts";
import { isLoopbackHost } from "./origin.ts";
import {
  checkAllowedOrigins,
  checkKnownOptions,
  type DisplayOptions,
  resolveDisplayOptions,
  safeLogger,
  type ServerOptions,
} from "../options.ts";

const STREAM_NAME = /^[A-Za-z0-9._~-]{1,64}$/;
// Listener and access settings stay with the server: the handler applies
// them, and a stream's own `authenticate` (given to addStream) still wins.
const SERVER_ONLY = [
  "port",
  "hostname",
  "allowedOrigins",
  "allowedHosts",
  "authenticate",
  "limits",
] as const;

function streamDefaults(opts: ServerOptions): DisplayOptions {
  const out: Record<string, unknown> = { ...opts };
  for (const k of SERVER_ONLY) delete out[k];
  return out as DisplayOptions;
}

function urlHost(hostname: string): string {
  if (hostname === "0.0.0.0" || hostname === "::") return "localhost";
  return hostname.includes(":") ? `[${hostname}]` : hostname;
}

/**
 * Named streams on one path space (`/<name>`, `"default"` at `/`).
 *
 * `new RfbServer(options)` does not listen: mount it in your own app with
 * `handler(server, …)`, and its streams are reachable only there, behind
 * whatever that app and the handler's options require. `serveServer()`
 * makes one that also listens on its own port (or call `listen()`); that
 * listener applies the server's own options (`authenticate`,
 * `allowedOrigins`, …), not those of any handler you mount as well.
 *
 * @example
 * ```ts
 * import { handler, RfbServer } from "@rfb/core";
 * await using streams = new RfbServer({ authenticate: ({ cookies }) => cookies.session === "ok" });
 * streams.addStream("camera", 640, 480);
 * const rfb = handler(streams, { prefix: "/rfb" }); // mount at /rfb and /rfb/*
 * console.log(streams.port, streams.url); // 0 "": no listener of its own
 * ```
 *
 * @example
 * ```ts
 * import { serveServer } from "@rfb/core";
 * await using server = await serveServer({ port: 0 });
 * const cam = server.addStream("camera", 640, 480);
 * console.log(cam.url); // http://127.0.0.1:<port>/camera
 * ```
 */
export class RfbServer implements AsyncDisposable, StreamDirectory {
  /** The options the server was made with (stream defaults, auth, origins). */
  readonly options: Readonly<ServerOptions>;
  #streams = new Map<string, Display>();
  #listener: Front | null = null;
  #listening: Promise<void> | null = null;
  #hostname = "127.0.0.1";
  #handler: RfbHandler;
  #closing: Promise<void> | null = null;
  #where: string;

  /**
   * A registry of named streams that does not listen: mount it with
   * `handler()`, or call `listen()` (as `serveServer()` does) to serve it on
   * a port of its own. Options are the streams' defaults, plus `authenticate`
   * and `allowedOrigins` for every handler made from it without its own, and
   * the listener's settings for `listen()`.
   */
  constructor(options: ServerOptions = {}) {
    const where = caller;
    this.#where = where;
    if (typeof options !== "object" || options === null) {
      throw new TypeError(`${where}: options must be an object`);
    }
    checkKnownOptions(where, options, true);
    checkAllowedOrigins(where, options.allowedOrigins);
    // Check the stream defaults once, here, so a bad option fails at once.
    resolveDisplayOptions(streamDefaults(options), where, {
      logger: consoleLogger,
      clock: systemClock,
    });
    this.options = { ...options };
    this.#handler = handler(this, { allowedHosts: options.allowedHosts });
  }

  /** The listener's port (0 before `listen` has finished). */
  get port(): number {
    return this.#listener?.port ?? 0;
  }

  /** The listener's base URL, e.g. `http://127.0.0.1:8765/` (empty before `listen` has finished). */
  get url(): string {
    const port = this.#listener?.port;
    return port ? `http://${urlHost(this.#hostname)}:${port}/` : "";
  }

  /** The request handler serving this server's streams (to mount elsewhere too). */
  get handler(): RfbHandler {
    return this.#handler;
  }

  /**
   * Add a stream named `name` (the URL path; `"default"` is served at `/`).
   * Options default to the server's.
   *
   * @example
   * ```ts
   * import { serveServer } from "@rfb/core";
   * await using server = await serveServer({ port: 0 });
   * const overview = server.addStream("overview", 320, 240, { quality: 60 });
   * overview.publish(new Uint8Array(320 * 240 * 4));
   * ```
   */
  addStream(
    name: string,
    width: number,
    height: number,
    options: DisplayOptions = {},
  ): Display {
    if (this.#closing) throw new Error("addStream(): the server is closed");
    if (
      typeof name !== "string" || !STREAM_NAME.test(name) ||
      RESERVED_NAMES.has(name)
    ) {
      throw new TypeError(
        `addStream(): stream name must be 1-64 of A-Z a-z 0-9 . _ ~ - and not one of ${
          [...RESERVED_NAMES].join(", ")
        }; got ${JSON.stringify(name)}`,
      );
    }
    if (this.#streams.has(name)) {
      throw new Error(`addStream(): a stream named '${name}' already exists`);
    }
    const display = namedDisplay(name, width, height, {
      ...streamDefaults(this.options),
      ...options,
    });
    this.#streams.set(name, display);
    this.#attach(name, display);
    return display;
  }

  /**
   * Serve a stream made elsewhere under its own name: a `RemoteDisplay`
   * from `@rfb/core/nats` (a render host's stream relayed through NATS).
   * `stream(name)` then returns the display behind it, which serves
   * viewers but takes no frames (its `publish` throws).
   *
   * @example
   * ```ts ignore
   * import { displayFromNats } from "@rfb/core/nats";
   * const remote = await displayFromNats({ servers: "nats://127.0.0.1:4222", stream: "scene" });
   * server.add(remote); // served at /scene
   * ```
   */
  add(stream: DisplayStandIn): void {
    if (this.#closing) throw new Error("add(): the server is closed");
    const display = displayBehind(stream);
    if (!display || display.closed) {
      throw new TypeError(
        "add(): takes a RemoteDisplay from @rfb/core/nats that is open (a Display is added with addStream)",
      );
    }
    const name = display.name;
    if (!STREAM_NAME.test(name) || RESERVED_NAMES.has(name)) {
      throw new TypeError(
        `add(): stream name must be 1-64 of A-Z a-z 0-9 . _ ~ - and not one of ${
          [...RESERVED_NAMES].join(", ")
        }; got ${JSON.stringify(name)} (give the remote display a 'name')`,
      );
    }
    if (this.#streams.has(name)) {
      throw new Error(`add(): a stream named '${name}' already exists`);
    }
    this.#streams.set(name, display);
    this.#attach(name, display);
  }

  /**
   * The stream named `name`, if any.
   *
   * @example
   * ```ts
   * import { serveServer } from "@rfb/core";
   * await using server = await serveServer({ port: 0 });
   * server.addStream("a", 8, 8);
   * console.log(server.stream("a")?.width); // 8
   * ```
   */
  stream(name: string): Display | undefined {
    return this.#streams.get(name);
  }

  /**
   * Every stream.
   *
   * @example
   * ```ts
   * import { serveServer } from "@rfb/core";
   * await using server = await serveServer({ port: 0 });
   * console.log(server.streams().length); // 0
   * ```
   */
  streams(): Display[] {
    return [...this.#streams.values()];
  }

  /**
   * Close a stream's viewers and remove it.
   *
   * @example
   * ```ts
   * import { serveServer } from "@rfb/core";
   * await using server = await serveServer({ port: 0 });
   * server.addStream("tmp", 8, 8);
   * await server.removeStream("tmp");
   * ```
   */
  async removeStream(name: string): Promise<void> {
    await this.#streams.get(name)?.close();
  }

  /**
   * Start listening (`serveServer()` calls this); resolves once the port is
   * bound, rejects when it cannot be (in use, no permission).
   *
   * @example
   * ```ts
   * import { RfbServer } from "@rfb/core";
   * await using server = new RfbServer({ port: 0 });
   * await server.listen();
   * console.log(server.port > 0); // true
   * ```
   */
  listen(): Promise<void> {
    if (this.#listening) {
      return Promise.reject(new Error("listen(): already listening"));
    }
    const port = this.options.port ?? 8765;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      return Promise.reject(
        new RangeError(
          `${this.#where}: option 'port' must be an integer in [0, 65535], got ${
            typeof port === "string" ? JSON.stringify(port) : String(port)
          }`,
        ),
      );
    }
    const hostname = this.options.hostname ?? "127.0.0.1";
    this.#hostname = hostname;
    const loopback = isLoopbackHost(
      hostname.includes(":") ? `[${hostname}]` : hostname,
    );
    // Host names answered: as given; else loopback names on a loopback
    // listener (against DNS rebinding), any on a public one.
    const allowedHosts = this.options.allowedHosts ??
      (loopback ? ["loopback"] : ["*"]);
    const log = safeLogger(this.options.logger ?? consoleLogger, systemClock);
    const router = createRouter(this, { allowedHosts, logger: log });
    this.#handler = handler(this, { allowedHosts, logger: log });
    this.#listening = Front.listen({
      hostname,
      port,
      router,
      log,
      limits: this.options.limits,
    }).then((front) => {
      this.#listener = front;
      for (const [name, d] of this.#streams) this.#attach(name, d);
    }, (err: Error & { code?: string }) => {
      this.#listening = null;
      if (err?.code === "EADDRINUSE") {
        throw new Deno.errors.AddrInUse(
          `${this.#where}: port ${port} on ${hostname} is already in use (another program, or another server in this one); pass another port, or port: 0 to let the system pick a free one`,
        );
      }
      if (err?.code === "EACCES") {
        throw new Deno.errors.PermissionDenied(
          `${this.#where}: may not listen on port ${port} of ${hostname} (ports below 1024 need privileges); pass a port of 1024 or more, or port: 0`,
        );
      }
      throw err;
    });
    return this.#listening;
  }

  /**
   * Close every stream (viewers get 1001) and stop the listener, freeing the port.
   *
   * @example
   * ```ts
   * import { serveServer } from "@rfb/core";
   * const server = await serveServer({ port: 0 });
   * await server.close();
   * ```
   */
  close(): Promise<void> {
    if (this.#closing) return this.#closing;
    this.#closing = (async () => {
      const open = [...this.#streams.values()].filter((d) => !d.closed);
      await Promise.all(open.map((d) => d.close()));
      this.#streams.clear();
      await this.#listening?.catch(() => {});
      if (this.#listener) await this.#listener.close();
    })();
    return this.#closing;
  }

  /** Closes the server at the end of an `await using` scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #attach(name: string, display: Display): void {
    internals(display).attach(this.#address(name), () => {
      if (this.#streams.get(name) === display) this.#streams.delete(name);
      return Promise.resolve();
    });
  }

  #address(name: string): { port: number; url: string } | null {
    if (!this.#listener) return null;
    const path = name === "default" ? "" : encodeURIComponent(name);
    return { port: this.port, url: `${this.url}${path}` };
  }
}

/**
 * Start a server hosting named streams on a port of its own: an
 * `RfbServer` that listens (on `127.0.0.1:8765` unless `hostname` and
 * `port` say otherwise) once this resolves. Every stream is reachable on
 * that port, under the server's own options; to serve streams only through
 * your own app, mount a `new RfbServer()` with `handler()` instead.
 *
 * @example
 * ```ts
 * import { serveServer } from "@rfb/core";
 * await using server = await serveServer({ port: 0 });
 * const left = server.addStream("left", 640, 480);
 * const right = server.addStream("right", 640, 480);
 * console.log(left.url, right.url);
 * ```
 */
export async function serveServer(
  options: ServerOptions = {},
): Promise<RfbServer> {
  const server = new RfbServer(options);
  await server.listen();
  return server;
}

/** Who is speaking in option errors: `serve()` borrows the server's checks. */
let caller = "serveServer()";

/**
 * Serve one display on its own listener; open `display.url` in a browser.
 * Closing the display stops the listener.
 *
 * @example
 * ```ts
 * import { serve } from "@rfb/core";
 * await using display = await serve(640, 480, { port: 0 });
 * display.publish(new Uint8Array(640 * 480 * 4));
 * console.log(`open ${display.url}`);
 * ```
 */
export async function serve(
  width: number,
  height: number,
  options: ServerOptions = {},
): Promise<Display> {
  caller = "serve()";
  let server: RfbServer;
  try {
    server = new RfbServer(options);
  } finally {
    caller = "serveServer()";
  }
  await server.listen();
  let display: Display;
  try {
    display = server.addStream("default", width, height);
  } catch (err) {
    await server.close();
    throw err;
  }
  internals(display).attach(
    { port: server.port, url: server.url },
    () => server.close(),
  );
  return display;
}
