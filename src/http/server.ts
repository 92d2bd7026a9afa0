/**
 * The listener: `serveServer()` starts a `Deno.serve` listener hosting named
 * streams on one port, and `serve()` is the one-stream shortcut that returns
 * the `Display` itself.
 *
 * @module
 */

import { systemClock } from "../clock.ts";
import { Display, internals } from "../display.ts";
import {
  handler,
  RESERVED_NAMES,
  type RfbHandler,
  type StreamDirectory,
} from "./handler.ts";
import { consoleLogger } from "../log.ts";
import { isLoopbackHost } from "./origin.ts";
import {
  checkAllowedOrigins,
  type DisplayOptions,
  resolveDisplayOptions,
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
 * A listener hosting named streams on one port. Make one with
 * `serveServer()`.
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
  #listener: Deno.HttpServer<Deno.NetAddr> | null = null;
  #handler: RfbHandler;
  #closing: Promise<void> | null = null;

  /** Use `serveServer()`; this constructor does not listen. */
  constructor(options: ServerOptions = {}) {
    checkAllowedOrigins("serveServer()", options.allowedOrigins);
    // Check the stream defaults once, here, so a bad option fails at once.
    resolveDisplayOptions(streamDefaults(options), "serveServer()", {
      logger: consoleLogger,
      clock: systemClock,
    });
    this.options = { ...options };
    this.#handler = handler(this, { allowedHosts: options.allowedHosts });
  }

  /** The listener's port (0 before `listen`). */
  get port(): number {
    return this.#listener?.addr.port ?? 0;
  }

  /** The listener's base URL, e.g. `http://127.0.0.1:8765/`. */
  get url(): string {
    const addr = this.#listener?.addr;
    return addr ? `http://${urlHost(addr.hostname)}:${addr.port}/` : "";
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
    const display = new Display(width, height, {
      ...streamDefaults(this.options),
      ...options,
    }, name);
    this.#streams.set(name, display);
    this.#attach(name, display);
    return display;
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
   * Start listening (`serveServer()` calls this).
   *
   * @example
   * ```ts
   * import { RfbServer } from "@rfb/core";
   * await using server = new RfbServer({ port: 0 });
   * server.listen();
   * ```
   */
  listen(): void {
    if (this.#listener) throw new Error("listen(): already listening");
    const port = this.options.port ?? 8765;
    if (!Number.isInteger(port) || port < 0 || port > 65535) {
      throw new RangeError(
        `serveServer(): option 'port' must be an integer in [0, 65535], got ${port}`,
      );
    }
    const hostname = this.options.hostname ?? "127.0.0.1";
    if (
      !this.options.allowedHosts &&
      isLoopbackHost(hostname.includes(":") ? `[${hostname}]` : hostname)
    ) {
      this.#handler = handler(this, { allowedHosts: ["loopback"] });
    }
    this.#listener = Deno.serve({
      port,
      hostname,
      onListen: () => {},
    }, (req, info) => this.#handler(req, info));
    for (const [name, d] of this.#streams) this.#attach(name, d);
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
      if (this.#listener) await this.#listener.shutdown();
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
 * Start a server hosting named streams on one port.
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
export function serveServer(options: ServerOptions = {}): Promise<RfbServer> {
  try {
    const server = new RfbServer(options);
    server.listen();
    return Promise.resolve(server);
  } catch (err) {
    return Promise.reject(err);
  }
}

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
  const server = await serveServer(options);
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
