/**
 * One viewer's session: the handshake (`hello`, authentication within
 * `authTimeout`, negotiation, `config`), the dispatch of the viewer's
 * messages, the input rate limit and the check that the viewer drives (its
 * identity and role come from the hook; the stream's `ControlDesk` says who
 * drives), and the session's life from socket open to close. What goes out to the viewer, and when, is its `Delivery`; its
 * figures are its `SessionMetrics`. The session talks to its socket and to
 * its stream's hub through narrow interfaces and reads time from a `Clock`,
 * so its policy can be tested with a fake socket and a fake clock.
 *
 * @module
 */

import { parseCookies } from "../http/auth.ts";
import type { Clock, TimerHandle } from "../clock.ts";
import type { VideoChunk, VideoTrack } from "../hub/tracks.ts";
import { type Logger, logSafe } from "../log.ts";
import type { AuthContext } from "../options.ts";
import {
  type ClientMessage,
  CLOSE_AUTH_FAILED,
  CLOSE_INTERNAL,
  CLOSE_POLICY,
  CLOSE_TRY_LATER,
  CLOSE_UNKNOWN_STREAM,
  CLOSE_UNSUPPORTED,
  closeReason,
  configMessage,
  type HelloMessage,
  parseClientMessage,
  selectTransport,
  setQualityMessage,
  statsMessage,
} from "../protocol.ts";
import { ClipboardIntake } from "./clipboard.ts";
import { Delivery } from "./delivery.ts";
import { FileIntake } from "./files.ts";
import { identityOf, type ViewerIdentity } from "./identity.ts";
import { SessionMetrics, type ViewerStats } from "./metrics.ts";
import { hostOf, PENDING } from "./pending.ts";
import type { SessionHub, SessionRequest, ViewerSocket } from "./types.ts";

type State = "hello" | "auth" | "open" | "closed";

const MAX_QUEUED_DURING_AUTH = 32;
const MAX_BAD_MESSAGE_LOGS = 5;

/**
 * A viewer session. Create one per accepted socket, feed it the socket's
 * messages and close, and it does the rest.
 *
 * @example
 * ```ts ignore
 * const session = new Session(1, hub, socket, { request });
 * socket.onopen = () => session.opened();
 * socket.onmessage = (e) => session.receive(e.data);
 * socket.onclose = () => session.closed();
 * ```
 */
export class Session {
  /** Viewer id, unique within the process. */
  readonly id: number;
  #hub: SessionHub;
  #socket: ViewerSocket;
  #req: SessionRequest;
  #clock: Clock;
  #log: Logger;
  #state: State = "hello";
  #queued: ClientMessage[] = [];
  #hello: HelloMessage | null = null;
  #negotiations = 0;
  #badMessages = 0;
  #helloTimer: TimerHandle | null = null;
  #authTimer: TimerHandle | null = null;
  #refusal: [number, string] | null = null;
  #eventTokens: number;
  #eventRefill = 0;
  #eventsDropped = 0;
  #identity: ViewerIdentity | null = null;
  /** `{ user }` for events when a hook ran, else nothing. */
  #user: { user?: unknown } = {};
  #inputDropped = 0;
  #metrics: SessionMetrics;
  #delivery: Delivery;
  #files: FileIntake;
  #paste: ClipboardIntake;
  /** This session in the process-wide set of sockets waiting for `hello`. */
  #waiting = {
    evict: () => {
      this.#warn(
        "closed: too many connections from its address wait for hello",
      );
      this.close(CLOSE_TRY_LATER, "too many connections waiting");
    },
  };

  /** Make a session for a freshly accepted socket. */
  constructor(
    id: number,
    hub: SessionHub,
    socket: ViewerSocket,
    req: SessionRequest,
  ) {
    this.id = id;
    this.#hub = hub;
    this.#socket = socket;
    this.#req = req;
    this.#clock = hub.options.clock;
    this.#log = hub.options.logger;
    this.#eventTokens = hub.options.maxEventRate * 2;
    this.#metrics = new SessionMetrics(this.#clock);
    this.#delivery = new Delivery({
      id,
      hub,
      socket,
      metrics: this.#metrics,
      warn: (what) => this.#warn(what),
      close: (code, reason) => this.close(code, reason),
      sendQuality: (q) => this.#sendText(setQualityMessage(q)),
      isOpen: () => this.#state === "open",
    });
    const o = hub.options;
    this.#files = new FileIntake({
      limits: () => o,
      clock: this.#clock,
      deliver: (ev) => hub.input({ ...ev, viewer: id, ...this.#user }),
      send: (text) => this.#sendText(text),
      queued: () => hub.fileBytesQueued(id),
    });
    this.#paste = new ClipboardIntake({
      limit: () => o.maxClipboardBytes,
      now: () => this.#clock.now() / 1000,
      deliver: (ev) => hub.input({ ...ev, viewer: id, ...this.#user }),
      warn: (what) => this.#warn(what),
    });
  }

  /** The negotiated transport, or null before `config`. */
  get transport(): "image" | "webcodecs" | null {
    return this.#state === "open"
      ? this.#delivery.selection?.transport ?? null
      : null;
  }

  /** Input events dropped because this viewer did not drive. */
  get inputDropped(): number {
    return this.#inputDropped;
  }

  /** Send a `presence` or `control` message, once the viewer has its `config`. */
  notify(text: string): void {
    if (this.#state === "open") this.#sendText(text);
  }

  /** The socket opened: start the `hello` timer. */
  opened(): void {
    if (this.#refusal) {
      try {
        this.#socket.close(this.#refusal[0], closeReason(this.#refusal[1]));
      } catch { /* already closing */ }
      return;
    }
    if (this.#state !== "hello") return;
    PENDING.add(hostOf(this.#req.remoteAddr), this.#waiting);
    this.#helloTimer = this.#clock.setTimeout(() => {
      this.#helloTimer = null;
      if (this.#state === "hello" || this.#state === "auth") {
        this.close(CLOSE_POLICY, "no hello in time");
      }
    }, this.#hub.options.helloTimeout * 1000);
  }

  /** Handle one message from the socket. */
  receive(data: unknown): void {
    if (this.#state === "closed") return;
    if (typeof data !== "string") {
      this.#warn("sent a binary message; only JSON text is accepted");
      this.close(CLOSE_UNSUPPORTED, "binary messages are not accepted");
      return;
    }
    const parsed = parseClientMessage(data, this.#clock.now() / 1000);
    if (parsed.ok === "ignored") {
      this.#log(
        "debug",
        `viewer ${this.id}: ignored message type '${parsed.type}'`,
      );
      return;
    }
    if (parsed.ok === false) {
      if (parsed.fatal) {
        this.#warn(`closed: ${parsed.error}`);
        this.close(parsed.code, parsed.error);
      } else {
        this.#badMessages++;
        if (this.#badMessages <= MAX_BAD_MESSAGE_LOGS) {
          this.#warn(`dropped a message: ${parsed.error}`);
        }
      }
      return;
    }
    const msg = parsed.message;
    if (this.#state === "hello") {
      if (msg.type !== "hello") {
        this.#warn(`sent '${msg.type}' before hello`);
        this.close(CLOSE_POLICY, "the first message must be hello");
        return;
      }
      this.#state = "auth";
      PENDING.remove(this.#waiting);
      if (this.#helloTimer !== null) { // hello came; authTimeout covers the rest
        this.#clock.clearTimeout(this.#helloTimer);
        this.#helloTimer = null;
      }
      this.#admit(msg).catch((err) => {
        this.#log(
          "error",
          `viewer ${this.id}: admission failed: ${
            (err as Error)?.message ?? err
          }`,
        );
        this.close(CLOSE_INTERNAL, "internal error");
      });
      return;
    }
    if (this.#state === "auth") {
      if (this.#queued.length < MAX_QUEUED_DURING_AUTH) this.#queued.push(msg);
      return;
    }
    this.#handle(msg);
  }

  /** The socket closed (either side): release everything. */
  closed(): void {
    if (this.#state === "closed") return;
    this.#state = "closed";
    PENDING.remove(this.#waiting);
    for (const t of [this.#helloTimer, this.#authTimer]) {
      if (t !== null) this.#clock.clearTimeout(t);
    }
    this.#helloTimer = this.#authTimer = null;
    this.#metrics.stop();
    this.#delivery.stop();
    this.#files.clear();
    this.#hub.leave(this);
  }

  /** Close the socket with a code and reason, and end the session. */
  close(code: number, reason: string): void {
    if (this.#state === "closed") return;
    try {
      this.#socket.close(code, closeReason(reason));
    } catch { /* already closing */ }
    this.closed();
  }

  /** Close a socket the stream will not take (e.g. too many viewers). */
  refuse(code: number, reason: string): void {
    this.#state = "closed";
    this.#delivery.stop();
    this.#refusal = [code, reason]; // closed once the socket is open
    if (this.#socket.readyState === 1) this.opened();
  }

  /** Send what this viewer is due (see `Delivery.pump`). */
  pump(): void {
    this.#delivery.pump();
  }

  /** A new chunk of a shared H.264 stream (see `Delivery.offerChunk`). */
  offerChunk(chunk: VideoChunk, track: VideoTrack): void {
    this.#delivery.offerChunk(chunk, track);
  }

  /** The stream's size changed: tell the viewer and start over with a keyframe. */
  resized(): void {
    if (this.#state !== "open" || !this.#hello) return;
    this.#delivery.startOver(true);
    this.#renegotiate(this.#hello);
  }

  /** The display was retuned: renegotiate and restart from a full picture. */
  reconfigure(): void {
    if (this.#state !== "open" || !this.#hello) return;
    this.#delivery.retuned();
    this.#delivery.startOver(true);
    this.#renegotiate(this.#hello);
  }

  /** H.264 stopped working on this stream: move to images if on video. */
  transportLost(): void {
    if (this.transport !== "webcodecs") return;
    this.#delivery.startOver(true);
    this.#renegotiate(this.#hello!);
  }

  /** This viewer's figures now. */
  stats(): ViewerStats {
    const sel = this.#delivery.selection;
    return {
      id: this.id,
      transport: sel?.transport ?? null,
      format: sel ? (sel.transport === "image" ? sel.mime : sel.codec) : null,
      ...this.#metrics.counters(),
      inflight: this.#delivery.inflight,
      bufferedAmount: this.#socket.bufferedAmount,
      ...this.#delivery.targets(),
      role: this.#identity?.role ?? null,
      control: this.#hub.presence.drives(this),
      inputDropped: this.#inputDropped,
    };
  }

  /** Token bucket for input events: `maxEventRate` a second, bursts of twice that. */
  #takeEventToken(): boolean {
    const rate = this.#hub.options.maxEventRate;
    const now = this.#clock.now();
    this.#eventTokens = Math.min(
      rate * 2,
      this.#eventTokens + (now - this.#eventRefill) * rate / 1000,
    );
    this.#eventRefill = now;
    if (this.#eventTokens >= 1) {
      this.#eventTokens -= 1;
      return true;
    }
    if (this.#eventsDropped++ === 0) {
      this.#warn(
        `sends more than ${rate} events a second; dropping the excess`,
      );
    }
    return false;
  }

  /** Negotiate again (new size, transport switch, lost encoder); nothing is sent meanwhile. */
  #renegotiate(hello: HelloMessage): void {
    const attempt = ++this.#negotiations;
    this.#negotiate(hello).then((ok) => {
      if (ok && attempt === this.#negotiations) this.#hub.wake();
    }).catch((err) => {
      this.#log(
        "error",
        `viewer ${this.id}: renegotiation failed: ${
          (err as Error)?.message ?? err
        }`,
      );
      this.close(CLOSE_INTERNAL, "internal error");
    });
  }

  #warn(what: string): void {
    this.#log("warn", `viewer ${this.id} on '${this.#hub.name}': ${what}`);
  }

  async #admit(hello: HelloMessage): Promise<void> {
    const hook = this.#req.authenticate;
    if (hook) {
      const request = this.#req.request;
      const ctx: AuthContext = {
        token: hello.token,
        stream: this.#hub.name,
        headers: request.headers,
        cookies: parseCookies(request.headers.get("cookie")),
        request,
        remoteAddr: this.#req.remoteAddr,
      };
      let ok = false;
      let result: unknown = false;
      try {
        result = await Promise.race([
          Promise.resolve().then(() => hook(ctx)),
          new Promise<false>((resolve) => {
            this.#authTimer = this.#clock.setTimeout(
              () => resolve(false),
              this.#hub.options.authTimeout * 1000,
            );
          }),
        ]);
        ok = Boolean(result);
      } catch (err) {
        this.#warn(
          `authenticate threw: ${logSafe((err as Error)?.message ?? err, 200)}`,
        );
        ok = false;
      } finally {
        if (this.#authTimer !== null) this.#clock.clearTimeout(this.#authTimer);
        this.#authTimer = null;
      }
      if (this.#state !== "auth") return; // closed meanwhile
      if (!ok) {
        this.#warn("refused by authenticate");
        this.close(CLOSE_AUTH_FAILED, "authentication failed");
        return;
      }
      this.#identify(result, true);
    } else this.#identify(undefined, false);
    if (!this.#hub.join(this)) {
      this.#warn("refused: the stream has maxViewers viewers");
      this.close(CLOSE_TRY_LATER, "too many viewers");
      return;
    }
    if (!(await this.#negotiate(hello))) return;
    this.#state = "open";
    this.#hub.presence.join(this, this.#identity!);
    const stats = Math.max(
      this.#hub.options.statsInterval,
      hello.stats_interval ?? 0,
    );
    if (stats > 0) {
      this.#metrics.startReports(
        stats,
        () => this.stats(),
        (s) => this.#sendText(statsMessage(s)),
      );
    }
    const queued = this.#queued;
    this.#queued = [];
    for (const msg of queued) this.#handle(msg);
    this.#hub.wake();
  }

  /** Who the viewer is, from what the hook returned (see `identityOf`). */
  #identify(result: unknown, hooked: boolean): void {
    const { identity, problem } = identityOf(
      result,
      hooked,
      this.#hub.options.defaultRole,
    );
    if (problem) this.#warn(problem);
    this.#identity = identity;
    if (hooked) this.#user = { user: identity.user };
  }

  /** True when this viewer drives; otherwise its input is dropped and counted. */
  #drives(): boolean {
    if (this.#hub.presence.input(this)) return true;
    this.#inputDropped++;
    return false;
  }

  async #negotiate(hello: HelloMessage): Promise<boolean> {
    this.#delivery.pause(); // nothing goes out until the new config has
    const offer = await this.#hub.offer();
    if (this.#state === "closed") return false;
    if (!offer) {
      this.close(CLOSE_UNKNOWN_STREAM, "unknown stream");
      return false;
    }
    const selection = selectTransport(hello.supported, offer, hello.transport);
    if (!selection) {
      const caps = logSafe(hello.supported.join(", ")) || "nothing";
      this.#warn(`no common transport (viewer supports: ${caps})`);
      this.close(CLOSE_UNSUPPORTED, "no transport both sides support");
      return false;
    }
    this.#hello = hello;
    // A viewer may narrow the server's window, never widen it.
    this.#delivery.start(selection, hello.supported, hello.max_inflight);
    const { width, height } = this.#hub.size();
    const o = this.#hub.options;
    this.#sendText(configMessage({
      type: "config",
      transport: selection.transport,
      width,
      height,
      coords: "frame-pixels",
      codec: selection.transport === "webcodecs" ? selection.codec : undefined,
      mime: selection.transport === "image" ? selection.mime : undefined,
      pixel_ratio: this.#hub.options.pixelRatio,
      max_inflight: this.#delivery.window,
      input: [
        ...(o.maxClipboardBytes > 0 ? ["clipboard" as const] : []),
        "text_input",
        "gamepad",
        ...(o.maxFileBytes !== false ? ["file" as const] : []),
      ],
      max_clipboard_bytes: o.maxClipboardBytes,
      max_file_bytes: o.maxFileBytes === false ? undefined : o.maxFileBytes,
    }));
    // The config may have found the viewer too slow and closed it.
    return (this.#state as State) !== "closed";
  }

  #handle(msg: ClientMessage): void {
    switch (msg.type) {
      case "hello":
        // A second hello renegotiates (e.g. a live transport switch); it
        // costs an event token, so a flood of them is cut like any other.
        if (!this.#takeEventToken()) return;
        this.#delivery.startOver(true);
        this.#renegotiate(msg);
        return;
      case "ack":
        this.#delivery.ack(msg.seq, msg.decode_queue_size, msg.held_ms ?? 0);
        return;
      case "request_keyframe":
        this.#delivery.startOver(false); // images: send the current picture again
        this.#hub.wake();
        return;
      case "decoder_reset":
        this.#delivery.startOver(true);
        this.#hub.wake();
        return;
      case "set_viewport":
        // Only a driver's view size reaches the app (not counted as input
        // dropped, nor as activity: a viewer reports it by itself).
        if (
          !this.#takeEventToken() || !this.#hub.presence.drives(this)
        ) return;
        this.#hub.input({
          type: "resize",
          width: msg.width,
          height: msg.height,
          pwidth: msg.pwidth,
          pheight: msg.pheight,
          ratio: msg.ratio,
          timestamp: this.#clock.now() / 1000,
          viewer: this.id,
          ...this.#user,
        });
        return;
      case "event":
        if (!this.#takeEventToken() || !this.#drives()) return;
        this.#hub.input({
          ...msg.event,
          viewer: this.id,
          ...this.#user,
        });
        return;
      case "request_control":
        // Each costs an event token, so a flood is cut like input.
        if (this.#takeEventToken()) this.#hub.presence.request(this);
        return;
      case "release_control":
        if (this.#takeEventToken()) this.#hub.presence.release(this, msg.to);
        return;
      case "clipboard": // a piece of a paste, put together by #paste
        this.#paste.piece(
          msg.text,
          msg.more === true,
          this.#takeEventToken() && this.#drives(),
        );
        return;
      case "file_start": // refused, not dropped: the client waits for an answer
        if (this.#takeEventToken()) this.#files.start(msg, this.#drives());
        else this.#files.refuse(msg.id, "sent too fast; try again");
        return;
      case "file_chunk": // paced by the acks, so no input token
        this.#files.chunk(msg, this.#hub.presence.drives(this));
        return;
      case "file_cancel":
        this.#files.cancel(msg.id);
        return;
    }
  }

  /**
   * Send a control message, unless the viewer stopped reading: a socket
   * already holding `maxBufferedBytes` gets no more (the viewer is closed
   * as too slow), so replies to a flood of requests cannot grow memory.
   */
  #sendText(text: string): void {
    const { maxBufferedBytes } = this.#hub.options;
    if (this.#socket.bufferedAmount > maxBufferedBytes) {
      this.#warn(
        `closed: its socket holds over ${maxBufferedBytes} bytes unread`,
      );
      this.close(CLOSE_POLICY, "viewer too slow");
      return;
    }
    try {
      this.#socket.send(text);
    } catch { /* socket closing; the close handler cleans up */ }
  }
}
