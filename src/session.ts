/**
 * One viewer's session: the handshake (`hello`, authentication,
 * negotiation, `config`), flow control (the `max_inflight` window, acks,
 * `inflight_timeout`, keyframe rules, the still after settle), input events
 * and periodic stats. The session talks to its socket through a small
 * interface and reads time from a `Clock`, so its policy can be tested with a
 * fake socket and a fake clock.
 *
 * @module
 */

import type { Clock, TimerHandle } from "./clock.ts";
import type { EncodedFrame, EncodeGroup } from "./encoders/group.ts";
import { codecFromAnnexB } from "./encoders/h264.ts";
import type { VideoChunk, VideoGroup } from "./encoders/video_group.ts";
import { AdaptiveController, LADDER } from "./adaptive.ts";
import type { DisplayEvent } from "./events.ts";
import type { PooledFrame } from "./frame.ts";
import type { Logger } from "./log.ts";
import type {
  AuthContext,
  Authenticate,
  ResolvedDisplayOptions,
} from "./options.ts";
import {
  type ClientMessage,
  CLOSE_AUTH_FAILED,
  CLOSE_INTERNAL,
  CLOSE_POLICY,
  CLOSE_UNSUPPORTED,
  closeReason,
  configMessage,
  type EnvelopeHeader,
  type HelloMessage,
  IMAGE_MIME,
  type ImageFormat,
  imageFrameHeader,
  type NegotiationOffer,
  packEnvelope,
  parseClientMessage,
  type Selection,
  selectTransport,
  setQualityMessage,
  statsMessage,
  videoChunkHeader,
} from "./protocol.ts";

/** The part of a WebSocket a session uses. */
export interface ViewerSocket {
  /** 1 while open, as `WebSocket.OPEN`. */
  readonly readyState: number;
  /** Bytes queued but not yet sent. */
  readonly bufferedAmount: number;
  /** Send a text or binary message. */
  send(data: string | Uint8Array<ArrayBuffer>): void;
  /** Close with a code and reason. */
  close(code?: number, reason?: string): void;
}

/** What a session needs from its display. */
export interface SessionHost {
  /** Stream name. */
  readonly name: string;
  /** The display's settings. */
  readonly options: ResolvedDisplayOptions;
  /** Current frame width. */
  readonly width: number;
  /** Current frame height. */
  readonly height: number;
  /** The newest published frame. */
  latest(): PooledFrame | null;
  /** True once no frame was published for `stillAfter` seconds. */
  settled(): boolean;
  /** The encode group for this format and quality at the current size. */
  group(format: ImageFormat, quality: number, still: boolean): EncodeGroup;
  /** The shared H.264 stream at the current size. */
  video(step: number): VideoGroup;
  /** Bitrate and frame rate at a quality step. */
  target(step: number): { bitrate: number; fps: number };
  /** Resting frames as high-quality IDRs. */
  videoStill(): EncodeGroup;
  /** What the server can offer in negotiation. */
  offer(): Promise<NegotiationOffer>;
  /** Hand an input event to the app. */
  pushEvent(ev: DisplayEvent): void;
  /** Ask for a delivery pass soon. */
  schedulePump(): void;
  /** The session ended. */
  detach(session: Session): void;
}

/** Per-viewer figures, as `Display.stats()` reports them. */
export interface ViewerStats {
  /** Viewer id. */
  id: number;
  /** Negotiated transport, or null before `config`. */
  transport: string | null;
  /** The MIME type or codec in use. */
  format: string | null;
  /** Frames sent. */
  framesSent: number;
  /** Frames acknowledged. */
  framesAcked: number;
  /** Frames skipped for this viewer (newest wins). */
  dropped: number;
  /** Bytes sent. */
  bytesSent: number;
  /** Unacknowledged frames now. */
  inflight: number;
  /** Smoothed send-to-ack time, ms. */
  rttMs: number;
  /** Frames sent in the last second. */
  fpsSent: number;
  /** Frames acknowledged in the last second. */
  fpsAcked: number;
  /** Bits sent in the last second. */
  bitrateBps: number;
  /** Decode queue the viewer last reported. */
  decodeQueueSize: number;
  /** Bytes its socket holds unsent. */
  bufferedAmount: number;
  /** Adaptive quality step (0 = full), or null when adaptation is off. */
  qualityStep: number | null;
  /** Target bitrate at that step (H.264), or null. */
  targetBitrate: number | null;
  /** Target frame rate at that step, or null. */
  targetFps: number | null;
}

type State = "hello" | "auth" | "open" | "closed";

/** Upgrade-time facts a session keeps for authentication. */
export interface SessionRequest {
  /** The upgrade request. */
  request: Request;
  /** Peer address. */
  remoteAddr?: string;
  /** The hook to run on `hello` (stream's, else handler's or server's). */
  authenticate?: Authenticate;
}

const MAX_QUEUED_DURING_AUTH = 32;
const MAX_BAD_MESSAGE_LOGS = 5;
const DRAIN_RECHECK_MS = 50;

/**
 * Parse a `Cookie` header into a record.
 *
 * @example
 * ```ts
 * import { parseCookies } from "./session.ts";
 * parseCookies("a=1; b=two"); // { a: "1", b: "two" }
 * ```
 */
export function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    if (name === "") continue;
    let value = part.slice(i + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch { /* keep raw */ }
    out[name] = value;
  }
  return out;
}

/**
 * A viewer session. Create one per accepted socket, feed it the socket's
 * messages and close, and it does the rest.
 *
 * @example
 * ```ts ignore
 * const session = new Session(1, host, socket, { request });
 * socket.onopen = () => session.opened();
 * socket.onmessage = (e) => session.receive(e.data);
 * socket.onclose = () => session.closed();
 * ```
 */
export class Session {
  /** Viewer id, unique within the process. */
  readonly id: number;
  #host: SessionHost;
  #socket: ViewerSocket;
  #req: SessionRequest;
  #clock: Clock;
  #log: Logger;
  #state: State = "hello";
  #selection: Selection | null = null;
  #queued: ClientMessage[] = [];
  #seq = 0;
  #inflight = new Map<number, number>(); // seq → sent time (ms)
  #lastSentVersion = 0;
  #highestSent = 0;
  #hello: HelloMessage | null = null;
  #negotiations = 0;
  #vIndex = -1; // index of the last video chunk sent
  #vSynced = false; // the viewer's decoder can take the group's next delta
  #caps = new Set<string>();
  #stillSentVersion = 0;
  #needKeyframe = true;
  #badMessages = 0;
  #helloTimer: TimerHandle | null = null;
  #authTimer: TimerHandle | null = null;
  #drainTimer: TimerHandle | null = null;
  #inflightTimer: TimerHandle | null = null;
  #statsTimer: TimerHandle | null = null;
  #statsEvery = 0;
  #window: number;
  #adaptive: AdaptiveController | null;
  #step = 0;
  #lastLiveAt = -Infinity; // when the last live (non-still) frame went out
  #paceTimer: TimerHandle | null = null;
  #refusal: [number, string] | null = null;
  #fullSince: number | null = null; // when the socket's buffer went over the limit
  #eventTokens: number;
  #eventRefill = 0;
  #eventsDropped = 0;
  // figures
  #framesSent = 0;
  #framesAcked = 0;
  #dropped = 0;
  #bytesSent = 0;
  #rttMs = 0;
  #decodeQueue = 0;
  #encodeMsSum = 0;
  #recentSends: Array<[number, number]> = []; // [time, bytes]
  #recentAcks: number[] = [];

  /** Make a session for a freshly accepted socket. */
  constructor(
    id: number,
    host: SessionHost,
    socket: ViewerSocket,
    req: SessionRequest,
  ) {
    this.id = id;
    this.#host = host;
    this.#socket = socket;
    this.#req = req;
    this.#clock = host.options.clock;
    this.#log = host.options.logger;
    this.#window = host.options.maxInflight;
    this.#adaptive = host.options.adaptive ? new AdaptiveController() : null;
    this.#eventTokens = host.options.maxEventRate * 2;
  }

  /** The negotiated transport, or null before `config`. */
  get transport(): "image" | "webcodecs" | null {
    return this.#state === "open" ? this.#selection?.transport ?? null : null;
  }

  /** True once `config` was sent and frames may flow. */
  get isOpen(): boolean {
    return this.#state === "open";
  }

  /** True after the session ended. */
  get isClosed(): boolean {
    return this.#state === "closed";
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
    this.#helloTimer = this.#clock.setTimeout(() => {
      this.#helloTimer = null;
      if (this.#state === "hello" || this.#state === "auth") {
        this.close(CLOSE_POLICY, "no hello in time");
      }
    }, this.#host.options.helloTimeout * 1000);
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
    this.#clearTimers();
    this.#inflight.clear();
    this.#host.detach(this);
  }

  /** Close the socket with a code and reason, and end the session. */
  close(code: number, reason: string): void {
    if (this.#state === "closed") return;
    try {
      this.#socket.close(code, closeReason(reason));
    } catch { /* already closing */ }
    this.closed();
  }

  /** Close a socket the display will not take (e.g. too many viewers). */
  refuse(code: number, reason: string): void {
    this.#state = "closed";
    this.#refusal = [code, reason]; // closed once the socket is open
    if (this.#socket.readyState === 1) this.opened();
  }

  /** Token bucket for input events: `maxEventRate` a second, bursts of twice that. */
  #takeEventToken(): boolean {
    const rate = this.#host.options.maxEventRate;
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

  /** The display's size changed: tell the viewer and start over with a keyframe. */
  resized(): void {
    if (this.#state !== "open" || !this.#hello) return;
    this.#startOver(true);
    this.#renegotiate(this.#hello);
  }

  /** The display was retuned: renegotiate and restart from a full picture. */
  reconfigure(): void {
    if (this.#state !== "open" || !this.#hello) return;
    this.#adaptive = this.#host.options.adaptive
      ? (this.#adaptive ?? new AdaptiveController())
      : null;
    if (!this.#adaptive) this.#step = 0;
    this.#startOver(true);
    this.#renegotiate(this.#hello);
  }

  /** H.264 stopped working on this display: move to images if on video. */
  transportLost(): void {
    if (this.#state !== "open" || this.#selection?.transport !== "webcodecs") {
      return;
    }
    this.#startOver(true);
    this.#renegotiate(this.#hello!);
  }

  /** Negotiate again (new size, transport switch, lost encoder); nothing is sent meanwhile. */
  #renegotiate(hello: HelloMessage): void {
    const attempt = ++this.#negotiations;
    this.#negotiate(hello).then((ok) => {
      if (ok && attempt === this.#negotiations) this.#host.schedulePump();
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

  /**
   * Forget what the viewer has shown: the next frame is a full picture of
   * the newest frame, and the still is due again once the scene rests.
   */
  #startOver(clearWindow: boolean): void {
    if (clearWindow) {
      this.#inflight.clear();
      this.#armInflightTimer();
    }
    this.#needKeyframe = true;
    this.#lastSentVersion = 0;
    this.#stillSentVersion = 0;
    this.#vSynced = false;
  }

  #warn(what: string): void {
    this.#log("warn", `viewer ${this.id} on '${this.#host.name}': ${what}`);
  }

  async #admit(hello: HelloMessage): Promise<void> {
    const hook = this.#req.authenticate;
    if (hook) {
      const request = this.#req.request;
      const ctx: AuthContext = {
        token: hello.token,
        stream: this.#host.name,
        headers: request.headers,
        cookies: parseCookies(request.headers.get("cookie")),
        request,
        remoteAddr: this.#req.remoteAddr,
      };
      let ok = false;

      try {
        ok = Boolean(
          await Promise.race([
            Promise.resolve().then(() => hook(ctx)),
            new Promise<false>((resolve) => {
              this.#authTimer = this.#clock.setTimeout(
                () => resolve(false),
                this.#host.options.authTimeout * 1000,
              );
            }),
          ]),
        );
      } catch (err) {
        this.#warn(`authenticate threw: ${(err as Error)?.message ?? err}`);
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
    }
    if (!(await this.#negotiate(hello))) return;
    this.#state = "open";
    const stats = Math.max(
      this.#host.options.statsInterval,
      hello.stats_interval ?? 0,
    );
    if (stats > 0) this.#startStats(stats);
    const queued = this.#queued;
    this.#queued = [];
    for (const msg of queued) this.#handle(msg);
    this.#host.schedulePump();
  }

  async #negotiate(hello: HelloMessage): Promise<boolean> {
    this.#selection = null; // nothing goes out until the new config has
    const offer = await this.#host.offer();
    if (this.#state === "closed") return false;
    const selection = selectTransport(hello.supported, offer, hello.transport);
    if (!selection) {
      const caps = hello.supported.join(", ").slice(0, 80) || "nothing";
      this.#warn(`no common transport (viewer supports: ${caps})`);
      this.close(CLOSE_UNSUPPORTED, "no transport both sides support");
      return false;
    }
    this.#selection = selection;
    this.#hello = hello;
    this.#caps = new Set(hello.supported);
    // A viewer may narrow the server's window, never widen it.
    this.#window = Math.min(
      hello.max_inflight ?? Infinity,
      this.#host.options.maxInflight,
    );
    this.#sendConfig();
    return true;
  }

  #sendConfig(): void {
    const s = this.#selection!;
    this.#sendText(configMessage({
      type: "config",
      transport: s.transport,
      width: this.#host.width,
      height: this.#host.height,
      coords: "frame-pixels",
      codec: s.transport === "webcodecs" ? s.codec : undefined,
      mime: s.transport === "image" ? s.mime : undefined,
      pixel_ratio: this.#host.options.pixelRatio,
      max_inflight: this.#window,
    }));
  }

  #handle(msg: ClientMessage): void {
    switch (msg.type) {
      case "hello":
        // A second hello renegotiates (e.g. a live transport switch).
        this.#startOver(true);
        this.#renegotiate(msg);
        return;
      case "ack":
        this.#ack(msg.seq, msg.decode_queue_size);
        return;
      case "request_keyframe":
        this.#startOver(false); // images: send the current picture again
        this.#host.schedulePump();
        return;
      case "decoder_reset":
        this.#startOver(true);
        this.#host.schedulePump();
        return;
      case "set_viewport":
        if (!this.#takeEventToken()) return;
        this.#host.pushEvent({
          type: "resize",
          width: msg.width,
          height: msg.height,
          pwidth: msg.pwidth,
          pheight: msg.pheight,
          ratio: msg.ratio,
          timestamp: this.#clock.now() / 1000,
          viewer: this.id,
        });
        return;
      case "event":
        if (!this.#takeEventToken()) return;
        this.#host.pushEvent({ ...msg.event, viewer: this.id });
        return;
    }
  }

  #ack(seq: number, decodeQueue: number): void {
    const sentAt = this.#inflight.get(seq);
    if (sentAt === undefined) return; // unknown, late or repeated: ignore
    const now = this.#clock.now();
    // Acks are cumulative: anything older than `seq` is settled too.
    for (const s of this.#inflight.keys()) {
      if (s > seq) break;
      this.#inflight.delete(s);
    }
    const rtt = now - sentAt;
    this.#rttMs = this.#framesAcked === 0 ? rtt : this.#rttMs * 0.8 + rtt * 0.2;
    this.#framesAcked++;
    this.#decodeQueue = decodeQueue;
    const step = this.#adaptive?.observe(now, rtt, decodeQueue) ?? null;
    if (step !== null) this.#setStep(step);
    this.#recentAcks.push(now);
    this.#prune(now);
    this.#armInflightTimer();
    this.#host.schedulePump();
  }

  #armInflightTimer(): void {
    if (this.#inflightTimer !== null) {
      this.#clock.clearTimeout(this.#inflightTimer);
      this.#inflightTimer = null;
    }
    const oldest = this.#inflight.values().next();
    if (oldest.done) return;
    const due = oldest.value + this.#host.options.inflightTimeout * 1000 -
      this.#clock.now();
    this.#inflightTimer = this.#clock.setTimeout(() => {
      this.#inflightTimer = null;
      if (this.#state !== "open" || this.#inflight.size === 0) return;
      this.#log(
        "info",
        `viewer ${this.id}: no ack for ${this.#host.options.inflightTimeout}s, clearing its window`,
      );
      const step = this.#adaptive?.stalled(this.#clock.now()) ?? null;
      if (step !== null) this.#setStep(step);
      this.#startOver(true);
      this.#host.schedulePump();
    }, Math.max(0, due));
  }

  /**
   * Whether the window and the socket's buffer have room for a frame. When
   * only the buffer is full, look again shortly: nothing else would wake
   * this viewer once the socket drains.
   */
  #canSend(): boolean {
    if (
      this.#state !== "open" || this.#socket.readyState !== 1 ||
      this.#inflight.size >= this.#window
    ) {
      return false;
    }
    if (this.#socket.bufferedAmount <= this.#host.options.maxBufferedBytes) {
      this.#fullSince = null;
      return true;
    }
    // The viewer stopped reading: frames are skipped (memory stays bounded),
    // and past a limit the viewer is closed.
    const now = this.#clock.now();
    this.#fullSince ??= now;
    if (now - this.#fullSince >= this.#host.options.slowViewerTimeout * 1000) {
      this.#warn(
        `closed: its socket held over ${this.#host.options.maxBufferedBytes} bytes for ${this.#host.options.slowViewerTimeout}s`,
      );
      this.close(CLOSE_POLICY, "viewer too slow");
      return false;
    }
    if (this.#drainTimer === null) {
      this.#drainTimer = this.#clock.setTimeout(() => {
        this.#drainTimer = null;
        this.#host.schedulePump();
      }, DRAIN_RECHECK_MS);
    }
    return false;
  }

  /**
   * Send what this viewer is due, as far as its window allows: the newest
   * encoded frame it has not seen (asking its group to encode the newest
   * published frame when none is ready), else the still once the scene rests.
   */
  pump(): void {
    const sel = this.#selection;
    if (!sel) return;
    if (sel.transport === "webcodecs") {
      this.#pumpVideo(sel.codec);
      return;
    }
    const { stillAfter } = this.#host.options;
    const quality = this.#imageQuality();
    while (this.#canSend()) {
      const frame = this.#host.latest();
      if (!frame) return;
      if (frame.version > this.#lastSentVersion) {
        if (!this.#paced()) return;
        const group = this.#host.group(sel.format, quality, false);
        const ready = group.current;
        // Send the group's last encode when it is the newest frame, or when
        // it is older but still newer than anything this viewer has seen
        // (the newest is then encoded next). After a reset, a picture the
        // viewer already had is not sent again ahead of the newest one.
        if (
          ready && ready.version > this.#lastSentVersion &&
          (ready.version === frame.version || ready.version > this.#highestSent)
        ) {
          if (!this.#sendFrame(ready)) return;
          this.#lastLiveAt = this.#clock.now();
          continue;
        }
        group.request(frame);
        return;
      }
      if (
        stillAfter === false || this.#stillSentVersion >= frame.version ||
        !this.#host.settled()
      ) {
        return;
      }
      const stillFormat = this.#stillFormat(sel.format);
      if (stillFormat === null) { // already lossless, or no lossless format
        this.#stillSentVersion = frame.version;
        return;
      }
      const still = this.#host.group(stillFormat, 100, true);
      if (still.current?.version === frame.version) {
        this.#stillSentVersion = frame.version;
        if (!this.#sendFrame(still.current)) return;
        continue;
      }
      still.request(frame);
      return;
    }
  }

  /**
   * Video: ask the shared encoder for the newest frame (an IDR if this
   * viewer needs one), or, once the scene rests, send the clean still IDR.
   * Chunks arrive through `offerChunk`.
   */
  #pumpVideo(codec: string): void {
    const frame = this.#host.latest();
    if (!frame || !this.#canSend()) return;
    const group = this.#host.video(this.#step);
    if (!this.#vSynced && frame.version > this.#lastSentVersion) {
      group.requestKeyframe();
    }
    if (frame.version > (group.last?.version ?? 0) || group.keyframeDue()) {
      group.request(frame);
      return;
    }
    const { stillAfter } = this.#host.options;
    if (
      stillAfter === false || !this.#host.settled() || !this.#vSynced ||
      this.#stillSentVersion >= frame.version ||
      this.#lastSentVersion !== frame.version
    ) {
      return;
    }
    const still = this.#host.videoStill();
    if (still.current?.version !== frame.version) {
      still.request(frame);
      return;
    }
    this.#stillSentVersion = frame.version;
    const f = still.current;
    const sent = this.#transmit(
      videoChunkHeader({
        seq: this.#seq + 1,
        timestampUs: f.timestampUs,
        width: f.width,
        height: f.height,
        codec: codecFromAnnexB(f.bytes) ?? codec,
        keyframe: true,
        pixelRatio: f.pixelRatio,
      }),
      f.bytes,
      f.version,
      f.encodeMs,
    );
    // The decoder now holds the still, not the group's last picture: the
    // next delta needs an IDR first (asked for when a new frame comes).
    if (sent) this.#vSynced = false;
  }

  /**
   * A new chunk of the shared H.264 stream. Sent if this viewer can take it:
   * in order after what it has, or an IDR; and only if its window has room.
   * A viewer that misses a chunk waits for the next IDR.
   */
  offerChunk(chunk: VideoChunk, group: VideoGroup): void {
    const sel = this.#selection;
    if (this.#state !== "open" || sel?.transport !== "webcodecs") return;
    if (group !== this.#host.video(this.#step)) return; // another quality step's stream
    if (
      chunk.width !== this.#host.width || chunk.height !== this.#host.height
    ) return;
    // An IDR made again of a resting frame this viewer already shows as a
    // clean still would only make its picture worse.
    if (
      !this.#vSynced && chunk.version === this.#stillSentVersion &&
      chunk.version === this.#lastSentVersion
    ) return;
    const inOrder = this.#vSynced && chunk.index === this.#vIndex + 1;
    if (!chunk.keyframe && !inOrder) {
      this.#vSynced = false;
      return;
    }
    if (!this.#canSend()) {
      if (this.#vSynced) this.#dropped++;
      this.#vSynced = false;
      return;
    }
    const sent = this.#transmit(
      videoChunkHeader({
        seq: this.#seq + 1,
        timestampUs: chunk.timestampUs,
        width: chunk.width,
        height: chunk.height,
        codec: chunk.codec,
        keyframe: chunk.keyframe,
        durationUs: chunk.durationUs,
        pixelRatio: chunk.pixelRatio,
      }),
      chunk.data,
      chunk.version,
      chunk.encodeMs,
    );
    if (!sent) return;
    this.#vIndex = chunk.index;
    this.#vSynced = true;
  }

  /** The lossless format for this viewer's still: PNG, else lossless WebP, else none. */
  #stillFormat(live: ImageFormat): ImageFormat | null {
    if (live === "png") return null;
    if (this.#caps.has(IMAGE_MIME.png)) return "png";
    if (this.#caps.has(IMAGE_MIME.webp)) return "webp";
    return null;
  }

  /** Send one encoded frame; false (and the viewer closed) when the socket refused it. */
  #sendFrame(f: EncodedFrame): boolean {
    if (this.#highestSent > 0 && f.version > this.#highestSent + 1) {
      this.#dropped += f.version - this.#highestSent - 1;
    }
    return this.#transmit(
      imageFrameHeader({
        seq: this.#seq + 1,
        timestampUs: f.timestampUs,
        width: f.width,
        height: f.height,
        mime: f.mime,
        pixelRatio: f.pixelRatio,
      }),
      f.bytes,
      f.version,
      f.encodeMs,
    );
  }

  /** Send one envelope (its `seq` must be the next); false (viewer closed) if the socket refused. */
  #transmit(
    header: EnvelopeHeader,
    bytes: Uint8Array,
    version: number,
    encodeMs: number,
  ): boolean {
    const seq = ++this.#seq;
    const msg = packEnvelope(header, bytes);
    try {
      this.#socket.send(msg);
    } catch (err) {
      this.#warn(`send failed: ${(err as Error)?.message ?? err}`);
      this.close(CLOSE_INTERNAL, "send failed");
      return false;
    }
    const now = this.#clock.now();
    if (this.#inflight.size === 0) {
      this.#inflight.set(seq, now);
      this.#armInflightTimer();
    } else {
      this.#inflight.set(seq, now);
    }
    this.#lastSentVersion = Math.max(this.#lastSentVersion, version);
    this.#highestSent = Math.max(this.#highestSent, version);
    this.#needKeyframe = false;
    this.#framesSent++;
    this.#bytesSent += msg.length;
    this.#encodeMsSum += encodeMs;
    this.#recentSends.push([now, msg.length]);
    this.#prune(now);
    return true;
  }

  /** Forget send and ack times older than one second (they feed the rates). */
  #prune(now: number): void {
    const since = now - 1000;
    while (this.#recentSends.length && this.#recentSends[0][0] < since) {
      this.#recentSends.shift();
    }
    while (this.#recentAcks.length && this.#recentAcks[0] < since) {
      this.#recentAcks.shift();
    }
  }

  #sendText(text: string): void {
    try {
      this.#socket.send(text);
    } catch { /* socket closing; the close handler cleans up */ }
  }

  #startStats(seconds: number): void {
    this.#statsEvery = seconds * 1000;
    const tick = () => {
      this.#statsTimer = null;
      if (this.#state !== "open") return;
      const s = this.stats();
      this.#sendText(statsMessage({
        rtt_ms: round1(s.rttMs),
        fps_sent: round1(s.fpsSent),
        fps_acked: round1(s.fpsAcked),
        bitrate_bps: Math.round(s.bitrateBps),
        encode_ms: s.framesSent ? round1(this.#encodeMsSum / s.framesSent) : 0,
        decode_queue_size: s.decodeQueueSize,
        dropped: s.dropped,
        target_bitrate: s.targetBitrate ?? undefined,
        target_fps: s.targetFps ?? undefined,
      }));
      this.#statsTimer = this.#clock.setTimeout(tick, this.#statsEvery);
    };
    this.#statsTimer = this.#clock.setTimeout(tick, this.#statsEvery);
  }

  #clearTimers(): void {
    for (
      const t of [
        this.#helloTimer,
        this.#authTimer,
        this.#drainTimer,
        this.#paceTimer,
        this.#inflightTimer,
        this.#statsTimer,
      ]
    ) {
      if (t !== null) this.#clock.clearTimeout(t);
    }
    this.#helloTimer =
      this.#authTimer =
      this.#drainTimer =
      this.#paceTimer =
        null;
    this.#inflightTimer = this.#statsTimer = null;
  }

  /** This viewer's figures now. */
  stats(): ViewerStats {
    this.#prune(this.#clock.now());
    const sel = this.#selection;
    return {
      id: this.id,
      transport: sel?.transport ?? null,
      format: sel ? (sel.transport === "image" ? sel.mime : sel.codec) : null,
      framesSent: this.#framesSent,
      framesAcked: this.#framesAcked,
      dropped: this.#dropped,
      bytesSent: this.#bytesSent,
      inflight: this.#inflight.size,
      rttMs: this.#rttMs,
      fpsSent: this.#recentSends.length,
      fpsAcked: this.#recentAcks.length,
      bitrateBps: this.#recentSends.reduce((a, [, b]) => a + b, 0) * 8,
      decodeQueueSize: this.#decodeQueue,
      bufferedAmount: this.#socket.bufferedAmount,
      ...this.#targets(),
    };
  }

  #targets(): Pick<ViewerStats, "qualityStep" | "targetBitrate" | "targetFps"> {
    if (!this.#adaptive) {
      return { qualityStep: null, targetBitrate: null, targetFps: null };
    }
    const t = this.#host.target(this.#step);
    return {
      qualityStep: this.#step,
      targetBitrate: this.#selection?.transport === "webcodecs"
        ? t.bitrate
        : null,
      targetFps: t.fps,
    };
  }

  /** Move to another quality step: a new stream (video) or quality (images), told to the viewer. */
  #setStep(step: number): void {
    if (step === this.#step) return;
    this.#step = step;
    this.#vSynced = false; // another step is another H.264 stream: start at its IDR
    const t = this.#targets();
    this.#sendText(setQualityMessage({
      bitrate: t.targetBitrate ?? undefined,
      fps: t.targetFps ?? undefined,
    }));
    this.#log(
      "info",
      `viewer ${this.id}: quality step ${step} (${
        t.targetBitrate ?? "-"
      } bit/s, ${t.targetFps} fps)`,
    );
    this.#host.schedulePump();
  }

  /** JPEG/WebP quality at this viewer's step. */
  #imageQuality(): number {
    const q = this.#host.options.quality;
    if (!this.#adaptive || this.#step === 0) return q;
    const scale = LADDER[this.#step].bitrate;
    return Math.max(20, Math.round(q * (0.4 + 0.6 * scale)));
  }

  /** Whether a live image may go out now at this step's frame rate; if not, look again later. */
  #paced(): boolean {
    if (!this.#adaptive || LADDER[this.#step].fps >= 1) return true;
    const next = this.#lastLiveAt + 900 / this.#host.target(this.#step).fps;
    const now = this.#clock.now();
    if (now >= next) return true;
    if (this.#paceTimer === null) {
      this.#paceTimer = this.#clock.setTimeout(() => {
        this.#paceTimer = null;
        this.#host.schedulePump();
      }, next - now);
    }
    return false;
  }

  /** Whether the next frame to this viewer must be a keyframe. */
  get needsKeyframe(): boolean {
    return this.#needKeyframe;
  }
}

function round1(v: number): number {
  return Math.round(v * 10) / 10;
}
