/**
 * The library's own listener (`serve()`, `serveServer()`): `node:http` with
 * `npm:ws`, chosen over `Deno.serve` because it lets the library own each
 * connection's life, which `Deno.serve` does not:
 *
 * - a message's size is checked from its frame header, before its payload
 *   is read (`ws`'s `maxPayload`: a 60 MiB message is refused with 1009,
 *   never buffered);
 * - a close handshake the peer never answers ends with the TCP connection
 *   dropped (`terminate()` after `closeTimeout`), and a viewer that stops
 *   answering pings is dropped too;
 * - a connection must finish its request head within `headerTimeout` and
 *   may idle between requests at most as long;
 * - connections are capped in all and per peer address, refused (503)
 *   before anything is read, and the cap stays below the process's
 *   open-file limit; and since a burst can still exhaust descriptors
 *   before any connection reaches this code (Deno's node:http then stops
 *   listening, silently), a watchdog probes the listener every second and
 *   listens again when it is dead.
 *
 * Requests go through the same routes as `handler()` (`router.ts`).
 *
 * @module
 */

import http from "node:http";
import type { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import { type WebSocket as WsSocket, WebSocketServer } from "ws";
import type { Logger } from "../log.ts";
import type { ListenerLimits } from "../options.ts";
import { MAX_CLIENT_MESSAGE_BYTES } from "../protocol.ts";
import type { Router } from "./router.ts";
import { WsViewer } from "./ws_viewer.ts";

/** Defaults for `ListenerLimits`. */
export const FRONT_LIMITS: Readonly<ListenerLimits> = Object.freeze({
  maxConnections: 4096,
  maxConnectionsPerAddress: 256,
  headerTimeout: 10,
  closeTimeout: 2,
  pingInterval: 30,
});

/** How often the front checks that its listener still accepts. */
const WATCH_MS = 1000;

/** Refused sockets that may be open at once to get their 503; more are dropped at once. */
const REFUSING_WITH_503 = 32;

/** Descriptors kept free for the rest of the process (files, encoders, the app). */
const FD_RESERVE = 64;

/**
 * The soft open-file limit of this process (from /proc on Linux), or null
 * when it cannot be read.
 *
 * @example
 * ```ts
 * import { openFileLimit } from "./front.ts";
 * console.log(openFileLimit()); // e.g. 1048576
 * ```
 */
export function openFileLimit(): number | null {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
    if (!m) return null;
    return m[1] === "unlimited" ? null : Number(m[1]);
  } catch {
    return null;
  }
}

/** How to start a `Front`. */
export interface FrontOptions {
  /** Interface to listen on. */
  hostname: string;
  /** TCP port (0: any free one). */
  port: number;
  /** The routes. */
  router: Router;
  /** Where refusals and faults are logged. */
  log: Logger;
  /** Connection limits (defaults: `FRONT_LIMITS`). */
  limits?: Partial<ListenerLimits>;
}

/** UTF-8 as sent: a leading BOM is kept (it makes the JSON invalid, as it should). */
const TEXT = new TextDecoder("utf-8", { ignoreBOM: true });

const REASON: Record<number, string> = {
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  421: "Misdirected Request",
  503: "Service Unavailable",
};

/**
 * A running listener.
 *
 * @example
 * ```ts ignore
 * const front = await Front.listen({ hostname: "127.0.0.1", port: 0, router, log });
 * console.log(front.port);
 * await front.close();
 * ```
 */
export class Front {
  #server: http.Server;
  #closed = false;
  #watchdog: Promise<void> | null = null;
  #stopWatch = new AbortController();
  #refusing = 0; // refused sockets still open (writing their 503)
  #probePorts = new Map<string, () => void>(); // a probe's own address → seen
  #seen = new Set<string>(); // the last peers accepted, oldest first
  readonly #wss: WebSocketServer;
  readonly #limits: ListenerLimits;
  readonly #log: Logger;
  readonly #router: Router;
  #open = 0;
  #byAddress = new Map<string, number>();
  #viewers = new Set<WsViewer>();
  #pinger: ReturnType<typeof setInterval> | null = null;
  #refusedLogged = 0;
  #address: { hostname: string; port: number } = { hostname: "", port: 0 };

  private constructor(o: FrontOptions) {
    this.#log = o.log;
    this.#router = o.router;
    const limits = { ...FRONT_LIMITS, ...o.limits };
    const fds = openFileLimit();
    if (fds !== null) {
      limits.maxConnections = Math.max(
        1,
        Math.min(limits.maxConnections, fds - FD_RESERVE),
      );
    }
    this.#limits = limits;
    this.#server = this.#makeServer();
    this.#wss = new WebSocketServer({
      noServer: true,
      maxPayload: MAX_CLIENT_MESSAGE_BYTES,
      perMessageDeflate: false,
      clientTracking: false,
    });
  }

  /** An HTTP server wired to this front (made again after a restart). */
  #makeServer(): http.Server {
    const limits = this.#limits;
    const server = http.createServer((req, res) => this.#request(req, res));
    // The request head and the time between keep-alive requests are ours
    // to bound (see #connection); these are node's own guards besides.
    server.headersTimeout = limits.headerTimeout * 1000;
    server.requestTimeout = limits.headerTimeout * 1000;
    server.keepAliveTimeout = limits.headerTimeout * 1000;
    server.maxHeadersCount = 100;
    server.on("connection", (s: Socket) => this.#connection(s));
    server.on(
      "upgrade",
      (req: http.IncomingMessage, socket: Socket, head: Buffer) =>
        this.#upgrade(req, socket, head),
    );
    server.on("clientError", (_err: Error, socket: Socket) => {
      socket.destroy();
    });
    return server;
  }

  /** Bind `server` to the address; rejects with the reason when it cannot. */
  #bind(server: http.Server, port: number, hostname: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const failed = (err: Error) => reject(err);
      server.once("error", failed);
      server.listen(port, hostname, () => {
        server.off("error", failed);
        server.on("error", (err: Error) => {
          this.#log("error", `listener: ${err.message}`);
        });
        const addr = server.address();
        if (addr && typeof addr === "object") {
          this.#address = { hostname, port: addr.port };
        }
        resolve();
      });
    });
  }

  /** Listen on `hostname:port`; rejects with the reason when it cannot. */
  static async listen(o: FrontOptions): Promise<Front> {
    const front = new Front(o);
    await front.#bind(front.#server, o.port, o.hostname);
    front.#startPings();
    front.#watch();
    return front;
  }

  /** The port listened on. */
  get port(): number {
    return this.#address.port;
  }

  /** The limits in force (`maxConnections` after the open-file cap). */
  get limits(): Readonly<ListenerLimits> {
    return this.#limits;
  }

  /** Open connections now. */
  get connections(): number {
    return this.#open;
  }

  /** Stop listening and drop every connection. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#stopWatch.abort();
    await this.#watchdog;
    if (this.#pinger !== null) clearInterval(this.#pinger);
    this.#pinger = null;
    for (const v of this.#viewers) v.terminate();
    await new Promise<void>((resolve) => {
      this.#server.close(() => resolve());
      this.#server.closeAllConnections();
    });
  }

  #connection(socket: Socket): void {
    const key = peerKey(socket.remoteAddress, socket.remotePort);
    // Remember the last few peers: a probe may be accepted before it knows
    // its own port.
    this.#seen.add(key);
    if (this.#seen.size > 256) {
      this.#seen.delete(this.#seen.values().next().value!);
    }
    const probe = this.#probePorts.get(key);
    if (probe) {
      probe();
      socket.destroy();
      return;
    }
    const address = socket.remoteAddress ?? "?";
    const mine = this.#byAddress.get(address) ?? 0;
    if (
      this.#open >= this.#limits.maxConnections ||
      mine >= this.#limits.maxConnectionsPerAddress
    ) {
      this.#refused(address);
      // A refused socket holds a descriptor until it is gone: a few get a
      // 503, a flood is dropped at once.
      if (this.#refusing >= REFUSING_WITH_503) {
        socket.destroy();
        return;
      }
      this.#refusing++;
      socket.once("close", () => this.#refusing--);
      socket.end(
        "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
      );
      setTimeout(() => socket.destroy(), 1000);
      return;
    }
    this.#open++;
    this.#byAddress.set(address, mine + 1);
    socket.once("close", () => {
      this.#open--;
      const left = (this.#byAddress.get(address) ?? 1) - 1;
      if (left > 0) this.#byAddress.set(address, left);
      else this.#byAddress.delete(address);
    });
    // A connection that sends no complete request head in time (even a
    // byte at a time), or idles between requests, is dropped; upgraded
    // sockets are the viewers' own.
    const s = socket as Socket & { upgraded?: boolean; served?: boolean };
    const headDeadline = setTimeout(() => {
      if (!s.served) socket.destroy();
    }, this.#limits.headerTimeout * 1000);
    socket.once("close", () => clearTimeout(headDeadline));
    socket.setTimeout(this.#limits.headerTimeout * 1000, () => {
      if (!s.upgraded) socket.destroy();
    });
  }

  /** Log refusals, but not a line each when a flood of them comes. */
  #refused(address: string): void {
    this.#refusedLogged++;
    if (this.#refusedLogged <= 3 || this.#refusedLogged % 1000 === 0) {
      this.#log(
        "warn",
        `listener: refused a connection from ${address} (${this.#open} open, at most ${this.#limits.maxConnections}, ${this.#limits.maxConnectionsPerAddress} per address); ${this.#refusedLogged} refused so far`,
      );
    }
  }

  async #request(
    req: http.IncomingMessage,
    res: http.ServerResponse,
  ): Promise<void> {
    (req.socket as Socket & { served?: boolean }).served = true;
    const request = this.#toRequest(req);
    if (!request) {
      res.writeHead(400, { "content-type": "text/plain" }).end("bad request");
      return;
    }
    // Bodies are never read (the routes take GET and HEAD): drop them.
    req.resume();
    let response: Response;
    try {
      const answer = await this.#router.route(request, this.#info(req));
      response = "upgrade" in answer
        ? new Response("a WebSocket upgrade needs Connection: Upgrade", {
          status: 400,
        })
        : answer;
    } catch (err) {
      this.#log("error", `request failed: ${(err as Error)?.message ?? err}`);
      response = new Response("internal error", { status: 500 });
    }
    const headers: Record<string, string> = {};
    response.headers.forEach((v, k) => headers[k] = v);
    const body = req.method === "HEAD" || response.body === null
      ? null
      : new Uint8Array(await response.arrayBuffer());
    if (body) headers["content-length"] = String(body.length);
    res.writeHead(response.status, headers);
    res.end(body ?? undefined);
  }

  #upgrade(req: http.IncomingMessage, socket: Socket, head: Buffer): void {
    const s = socket as Socket & { upgraded?: boolean; served?: boolean };
    s.upgraded = s.served = true;
    socket.setTimeout(0);
    const request = this.#toRequest(req);
    if (!request) {
      refuse(socket, 400, "bad request");
      return;
    }
    let answer;
    try {
      answer = this.#router.route(request, this.#info(req));
    } catch (err) {
      this.#log("error", `upgrade failed: ${(err as Error)?.message ?? err}`);
      refuse(socket, 400, "bad request");
      return;
    }
    if (!("upgrade" in answer)) {
      Promise.resolve(answer).then(async (r) => {
        refuse(socket, r.status, await r.text());
      });
      return;
    }
    const admission = answer.upgrade;
    this.#wss.handleUpgrade(req, socket, head, (ws: WsSocket) => {
      const viewer = new WsViewer(ws, this.#limits.closeTimeout * 1000);
      this.#viewers.add(viewer);
      const session = this.#router.bind(admission, viewer);
      ws.on("message", (data: Uint8Array, isBinary: boolean) => {
        session.receive(isBinary ? data : TEXT.decode(data));
      });
      ws.on("close", () => {
        this.#viewers.delete(viewer);
        viewer.ended();
        session.closed();
      });
      // Oversized or malformed frames: ws sends the close (1009, 1002…)
      // and then reads on, discarding what the peer sends until the close
      // ends: stop reading (after ws's own resume), and drop the
      // connection after closeTimeout. The session ends now: a peer whose
      // close never comes must not hold a viewer's slot meanwhile.
      ws.on("error", () => {
        setTimeout(() => socket.pause(), 0);
        viewer.dropSoon();
        session.closed();
      });
      ws.on("pong", () => viewer.alive = true);
      session.opened();
    });
  }

  /**
   * Under a flood the process may still run out of descriptors (the
   * runtime accepts a burst of connections before any reaches this code,
   * so no cap can stop it), and Deno's node:http then closes its listening
   * socket, silently. So every `WATCH_MS` the front connects to itself: a
   * probe that is refused, gets no answer (a full backlog nobody drains), or
   * connects and is never accepted, twice in a row, means the listener is
   * dead, and it is made again on the same port.
   */
  #watch(): void {
    const stop = this.#stopWatch.signal;
    this.#watchdog = (async () => {
      let dead = 0;
      while (!stop.aborted) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, WATCH_MS);
          stop.addEventListener("abort", () => {
            clearTimeout(timer);
            resolve();
          }, { once: true });
        });
        if (stop.aborted) break;
        // Twice in a row, so a slow moment of a busy process is not taken
        // for a dead listener.
        dead = await this.#probe(stop) === "dead" ? dead + 1 : 0;
        if (dead >= 2 && !stop.aborted) {
          dead = 0;
          await this.#restart();
        }
      }
    })().catch((err) => {
      this.#log(
        "error",
        `listener watchdog: ${(err as Error)?.message ?? err}`,
      );
    });
  }

  /** Connect to this listener: accepted ("ok"), not accepted ("dead"), or no descriptor to try with ("busy"). */
  async #probe(stop: AbortSignal): Promise<"ok" | "dead" | "busy"> {
    const host = this.#address.hostname;
    const target = host === "0.0.0.0" || host === ""
      ? "127.0.0.1"
      : host === "::"
      ? "::1"
      : host;
    // A full backlog leaves the SYN unanswered: give up after a second
    // (racing the connect, whose abort signal is not honoured everywhere).
    const connecting = Deno.connect({ hostname: target, port: this.port });
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      connecting.then((c) => c, (err) => err as Error),
      new Promise<"late">((resolve) => {
        timer = setTimeout(() => resolve("late"), 1000);
        stop.addEventListener("abort", () => resolve("late"), { once: true });
      }),
    ]);
    clearTimeout(timer);
    if (outcome === "late") {
      // No answer to a connect on this machine: the backlog is full and
      // nothing drains it, so the listener is not accepting.
      connecting.then((c) => c.close(), () => {});
      return stop.aborted ? "busy" : "dead";
    }
    if (outcome instanceof Error) {
      // Refused: nothing listens any more (node:http closes its listening
      // socket when an accept fails). Else out of descriptors here too:
      // try later.
      return outcome instanceof Deno.errors.ConnectionRefused ? "dead" : "busy";
    }
    const conn = outcome;
    const local = conn.localAddr as Deno.NetAddr;
    const key = peerKey(local.hostname, local.port);
    try {
      if (this.#seen.has(key)) return "ok";
      const seen = await new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 1000);
        const done = (seen: boolean) => {
          clearTimeout(timer);
          resolve(seen);
        };
        this.#probePorts.set(key, () => done(true));
        stop.addEventListener("abort", () => done(true), { once: true });
      });
      return seen ? "ok" : "dead";
    } finally {
      this.#probePorts.delete(key);
      try {
        conn.close();
      } catch { /* closed by the server */ }
    }
  }

  /** Make the listener again on the same address (the old one stopped accepting). */
  async #restart(): Promise<void> {
    const old = this.#server;
    const { hostname, port } = this.#address;
    this.#log(
      "warn",
      `listener on ${hostname}:${port} stopped accepting (out of file descriptors?); listening again`,
    );
    // Stop the old listener (its connections live on) and bind again; the
    // port may take a moment to be free.
    old.close();
    const server = this.#makeServer();
    for (let attempt = 1;; attempt++) {
      try {
        await this.#bind(server, port, hostname);
        break;
      } catch (err) {
        if (attempt >= 20) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.#server = server;
  }

  /** Ping every viewer; one that did not answer the last ping is dropped. */
  #startPings(): void {
    const pinger = setInterval(() => {
      for (const v of this.#viewers) v.ping();
    }, this.#limits.pingInterval * 1000);
    Deno.unrefTimer(pinger as unknown as number);
    this.#pinger = pinger;
  }

  #info(
    req: http.IncomingMessage,
  ): { remoteAddr: { hostname?: string; port?: number } } {
    return {
      remoteAddr: {
        hostname: req.socket.remoteAddress,
        port: req.socket.remotePort,
      },
    };
  }

  /** The node request as a web `Request` (headers and URL only), or null if malformed. */
  #toRequest(req: http.IncomingMessage): Request | null {
    try {
      const headers = new Headers();
      const raw = req.rawHeaders;
      for (let i = 0; i + 1 < raw.length; i += 2) {
        headers.append(raw[i], raw[i + 1]);
      }
      const base = `http://${
        this.#address.hostname.includes(":")
          ? `[${this.#address.hostname}]`
          : this.#address.hostname || "127.0.0.1"
      }:${this.#address.port}`;
      const url = new URL(req.url ?? "/", base);
      if (url.origin !== new URL(base).origin) return null; // an absolute-form URL elsewhere
      return new Request(url, { method: req.method, headers });
    } catch {
      return null;
    }
  }
}

/** `address:port`, IPv4-mapped IPv6 addresses written as IPv4. */
function peerKey(
  address: string | undefined,
  port: number | undefined,
): string {
  return `${(address ?? "").replace(/^::ffff:/, "")}:${port ?? ""}`;
}

/** Answer an upgrade request with a plain HTTP status and drop the socket. */
function refuse(socket: Socket, status: number, body: string): void {
  const text = new TextEncoder().encode(body);
  try {
    socket.end(
      `HTTP/1.1 ${status} ${REASON[status] ?? "Error"}\r\n` +
        `Content-Type: text/plain; charset=utf-8\r\nContent-Length: ${text.length}\r\n` +
        `Connection: close\r\n\r\n${body}`,
    );
  } catch { /* gone */ }
  setTimeout(() => socket.destroy(), 1000);
}
