/// <reference lib="dom" />
/**
 * The view's Web Worker (the entry `deno task build` bundles as
 * `rfb-worker.js`): it owns the WebSocket, decodes frames and draws them on
 * the transferred `OffscreenCanvas`, acknowledges frames, reconnects with
 * backoff, and reports status and stats to the page. No DOM here.
 *
 * The parts, one file each: `socket.ts` (connection, backoff, the typed
 * client messages), `image_decode.ts` and `video_decode.ts` (the two
 * transports' decoders), `draw.ts` (the frame canvas and its fitted copy),
 * `figures.ts` (the stats); the keyframe gate and the stall watchdog are
 * `../gate.ts`. This file routes messages between them.
 *
 * @module
 */

import {
  clipboardPieces,
  type ConfigMessage,
  type EnvelopeHeader,
  type InputFeature,
  MAX_SIDE,
  type SetQualityMessage,
  type StatsMessage,
  type Transport,
  unpackEnvelope,
} from "../../src/protocol.ts";
import { KeyframeGate, StallWatchdog } from "../gate.ts";
import type {
  FromWorker,
  InitMessage,
  ToWorker,
  ViewStatus,
} from "../messages.ts";
import { FrameCanvas } from "./draw.ts";
import { Figures } from "./figures.ts";
import type { DecodeHooks } from "./hooks.ts";
import { ImageDecode } from "./image_decode.ts";
import {
  helloMessage,
  ServerSocket,
  type SocketHooks,
  viewportMessage,
} from "./socket.ts";
import { probeH264, VideoDecode } from "./video_decode.ts";
import { readControl, readPresence } from "../sharing.ts";
import { canEncode, WorkerRecorder } from "./record.ts";
import { Uploads } from "./uploads.ts";

/** The parts of the worker global this module uses. */
interface WorkerScope {
  postMessage(message: FromWorker): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
}

const STATS_EVERY_MS = 500;
const FEATURES: ReadonlySet<string> = new Set<InputFeature>([
  "clipboard",
  "text_input",
  "gamepad",
  "file",
]);
/** The longest clipboard text taken from a server, characters. */
const MAX_CLIPBOARD_IN = 16 * 1024 * 1024;
const STALL_MS = 3000;
/** Arrival times kept for acks' `held_ms`, at most. */
const MAX_ARRIVALS = 256;

function validSize(w: unknown, h: unknown): w is number {
  return Number.isInteger(w) && Number.isInteger(h) && (w as number) > 0 &&
    (h as number) > 0 && (w as number) <= MAX_SIDE && (h as number) <= MAX_SIDE;
}

/** The optional input fields of a `config`, checked one by one. */
function inputFields(msg: Record<string, unknown>): Partial<ConfigMessage> {
  const out: Partial<ConfigMessage> = {};
  if (Array.isArray(msg.input)) {
    out.input = msg.input.filter((f): f is InputFeature =>
      typeof f === "string" && FEATURES.has(f)
    );
  }
  const size = (v: unknown) =>
    Number.isSafeInteger(v) && (v as number) >= 0 ? v as number : undefined;
  out.max_clipboard_bytes = size(msg.max_clipboard_bytes);
  out.max_file_bytes = size(msg.max_file_bytes);
  return out;
}

/** One view's worker, from its `init` to its `dispose`. */
class ViewWorker {
  #post: (message: FromWorker) => void;
  #init: InitMessage;
  #transport: "auto" | Transport;
  #config: ConfigMessage | null = null;
  #disposed = false;
  #frame: FrameCanvas;
  #figures = new Figures();
  #arrivals = new Map<number, number>(); // seq → when it arrived (performance.now())
  #watchdog = new StallWatchdog(STALL_MS);
  #gate: KeyframeGate;
  #images: ImageDecode;
  #video: VideoDecode;
  #socket: ServerSocket;
  #uploads: Uploads;
  #statsTimer: ReturnType<typeof setInterval>;
  #recorder: WorkerRecorder | null = null;

  constructor(post: (message: FromWorker) => void, init: InitMessage) {
    this.#post = post;
    this.#init = init;
    this.#transport = init.transport ?? "auto";
    this.#frame = new FrameCanvas(init.canvas, init.layout);
    this.#gate = new KeyframeGate((reason) =>
      this.#socket.send({ type: "request_keyframe", reason })
    );
    const decode: DecodeHooks = {
      draw: (picture, width, height) =>
        this.#frame.draw(picture, width, height),
      displayed: (seq, stampUs, receivedMs, decodedMs) => {
        const now = performance.now();
        this.#watchdog.displayed(now);
        const frame = this.#figures.displayed(
          now,
          seq,
          stampUs,
          receivedMs,
          decodedMs,
        );
        this.#post({ type: "frame", frame });
        this.#recorder?.frame(this.#frame.picture, stampUs);
      },
      ack: (seq, shown) => this.#ack(seq, shown),
      dropped: (count) => this.#figures.dropped(count),
      failed: (reason) => {
        this.#gate.reset();
        this.#socket.send({ type: "request_keyframe", reason });
      },
    };
    this.#images = new ImageDecode(decode);
    this.#video = new VideoDecode(decode, this.#gate);
    const socket: SocketHooks = {
      status: (status, code, reason, retryMs) => {
        if (status === "closed") {
          this.#config = null;
          this.#uploads.lost();
        }
        this.#post({ type: "status", status, code, reason, retryMs });
      },
      open: () => {
        // A new session starts at full quality, and counts from seq 1 again.
        this.#figures.quality({});
        this.#arrivals.clear();
        this.#hello();
        this.#socket.send(viewportMessage(this.#frame.layout));
      },
      text: (data) => this.#text(data),
      binary: (data) => this.#binary(data),
    };
    this.#socket = new ServerSocket(init.url, init.reconnect, socket);
    this.#uploads = new Uploads({
      send: (m) => this.#socket.send(m),
      buffered: () => this.#socket.buffered,
      report: (r) => this.#post(r),
    });
    this.#statsTimer = setInterval(() => this.#tick(), STATS_EVERY_MS);
    probeH264().then((ok) => {
      this.#video.enabled = ok;
      this.#socket.connect();
    });
  }

  /** Act on a message from the page. */
  handle(msg: Exclude<ToWorker, InitMessage>): void {
    switch (msg.type) {
      case "layout":
        this.#frame.layout = msg.layout;
        this.#socket.send(viewportMessage(msg.layout));
        break;
      case "input":
        this.#socket.send({ type: "event", event: msg.event });
        break;
      case "clipboard": // in pieces, each under the message size limit
        for (const piece of clipboardPieces(msg.text)) this.#socket.send(piece);
        break;
      case "file":
        this.#uploads.add(msg.id, msg.file, msg.x, msg.y);
        break;
      case "file_cancel":
        this.#uploads.cancel(msg.id);
        break;
      case "transport":
        this.#transport = msg.transport;
        this.#hello(); // the server renegotiates and sends a new config
        break;
      case "screenshot":
        this.#screenshot(msg.id);
        break;
      case "control":
        this.#socket.send(
          msg.send === "request"
            ? { type: "request_control" }
            : msg.to === undefined
            ? { type: "release_control" }
            : { type: "release_control", to: msg.to },
        );
        break;
      case "record":
        this.#record(msg.id);
        break;
      case "record_stop":
        this.#stopRecording(msg.id);
        break;
      case "reconnect":
        this.#socket.reconnect();
        break;
      case "dispose":
        this.#disposed = true;
        this.#video.close();
        this.#socket.dispose();
        clearInterval(this.#statsTimer);
        this.#post({ type: "disposed" });
        break;
    }
  }

  #status(status: ViewStatus, code?: number, reason?: string): void {
    this.#post({ type: "status", status, code, reason });
  }

  #hello(): void {
    this.#socket.send(helloMessage({
      canVideo: this.#video.enabled,
      dpr: this.#frame.layout.dpr,
      token: this.#init.token,
      maxInflight: this.#init.maxInflight,
      statsInterval: this.#init.statsInterval,
      transport: this.#transport,
    }));
  }

  /** Frames waiting to be decoded, on either path. */
  #queued(): number {
    return this.#images.pending + this.#video.queued;
  }

  #ack(seq: number, shown: boolean): void {
    const arrived = this.#arrivals.get(seq);
    this.#arrivals.delete(seq);
    this.#socket.send({
      type: "ack",
      seq,
      decode_queue_size: this.#queued(),
      displayed: shown,
      // How long the frame stayed here (decode, draw): the server tells its
      // link's rate from the rest of the round trip.
      held_ms: arrived === undefined
        ? undefined
        : Math.max(0, Math.round(performance.now() - arrived)),
    });
  }

  #text(text: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(text);
    } catch {
      return; // a malformed control message never kills the view
    }
    if (typeof msg !== "object" || msg === null) return;
    if (msg.type === "config") {
      const w = msg.width, h = msg.height;
      if (!validSize(w, h)) return;
      // Keep only well-typed fields: the page must never trip over bad input.
      const str = (v: unknown) =>
        typeof v === "string" && v.trim() ? v : undefined;
      const config: ConfigMessage = {
        type: "config",
        transport: msg.transport === "webcodecs" ? "webcodecs" : "image",
        width: w,
        height: h as number,
        coords: "frame-pixels",
        codec: str(msg.codec),
        mime: str(msg.mime),
        ...inputFields(msg),
      };
      this.#config = config;
      this.#figures.configured();
      this.#socket.negotiated();
      this.#gate.reset();
      if (config.transport !== "webcodecs") this.#video.close();
      if (this.#recorder?.transport !== config.transport) this.#recorder?.end();
      this.#post({ type: "config", config });
      this.#status("negotiated");
    } else if (msg.type === "stats") {
      this.#figures.server(msg as StatsMessage);
    } else if (msg.type === "set_quality") {
      this.#figures.quality(msg as SetQualityMessage);
    } else if (msg.type === "presence") {
      const presence = readPresence(msg);
      if (presence) this.#post({ type: "presence", presence });
    } else if (msg.type === "control") {
      const control = readControl(msg);
      if (control) this.#post({ type: "control", control });
    } else if (msg.type === "clipboard") {
      const text = msg.text;
      if (typeof text === "string" && text.length <= MAX_CLIPBOARD_IN) {
        this.#post({ type: "clipboard", text });
      }
    } else if (msg.type === "file_ack" || msg.type === "file_refused") {
      const { id, received, reason } = msg;
      if (!Number.isSafeInteger(id)) return;
      if (msg.type === "file_refused") {
        this.#uploads.refused(
          id as number,
          typeof reason === "string" && reason.trim()
            ? reason.slice(0, 200)
            : "refused by the server",
        );
      } else if (Number.isSafeInteger(received)) {
        this.#uploads.ack(id as number, received as number, msg.done === true);
      }
    }
  }

  #binary(data: ArrayBuffer): void {
    let header: EnvelopeHeader, payload: Uint8Array;
    try {
      ({ header, payload } = unpackEnvelope(data));
    } catch {
      this.#figures.dropped(1);
      return;
    }
    const seq = header.seq;
    if (!Number.isSafeInteger(seq)) return;
    const s = seq as number;
    const arrived = performance.now();
    this.#figures.received(arrived, data.byteLength);
    this.#arrivals.set(s, arrived);
    // Bounded: a frame never acknowledged (a bug, a reset) is forgotten.
    if (this.#arrivals.size > MAX_ARRIVALS) {
      this.#arrivals.delete(this.#arrivals.keys().next().value!);
    }
    if (
      header.type === "video_chunk" && validSize(header.width, header.height)
    ) {
      this.#recorder?.chunk(header, payload);
      this.#video.decode(header, payload, s, arrived, this.#config?.codec);
      return;
    }
    if (
      header.type !== "image_frame" || !validSize(header.width, header.height)
    ) {
      this.#ack(s, false);
      this.#figures.dropped(1);
      return;
    }
    if (!this.#gate.admit(true, performance.now())) return; // every image is a keyframe
    this.#images.decode({
      seq: s,
      mime: typeof header.mime === "string" ? header.mime : "image/jpeg",
      stampUs: typeof header.timestamp_us === "number"
        ? header.timestamp_us
        : null,
      receivedMs: arrived,
      payload,
      width: header.width as number,
      height: header.height as number,
    });
  }

  #tick(): void {
    if (this.#disposed) return;
    const now = performance.now();
    if (this.#watchdog.stalled(now, this.#queued())) {
      this.#images.abandon(); // late decodes are dropped
      this.#video.close();
      this.#gate.reset();
      this.#socket.send({ type: "decoder_reset" });
    }
    const stats = this.#figures.stats(now, {
      queued: this.#queued(),
      gateDropped: this.#gate.dropped,
      config: this.#config,
    });
    this.#post({ type: "stats", stats });
  }

  /** Start recording what this view receives (H.264) or draws (images). */
  async #record(id: number): Promise<void> {
    const fail = (error: string) =>
      this.#post({ type: "record", id, blob: null, error });
    const c = this.#config;
    if (!c) return fail("not connected yet");
    if (this.#recorder) this.#recorder.end();
    if (c.transport === "image" && !(await canEncode(c.width, c.height))) {
      return fail("this browser cannot encode H.264 (WebCodecs VideoEncoder)");
    }
    this.#recorder = new WorkerRecorder(
      c.transport,
      () => this.#socket.send({ type: "request_keyframe", reason: "record" }),
    );
    this.#post({ type: "record", id, blob: null });
  }

  async #stopRecording(id: number): Promise<void> {
    const rec = this.#recorder;
    this.#recorder = null;
    try {
      if (!rec) throw new Error("not recording");
      const { blob, frames, duration } = await rec.stop();
      this.#post({ type: "record", id, blob, frames, duration });
    } catch (err) {
      const error = (err as Error).message;
      this.#post({ type: "record", id, blob: null, error });
    }
  }

  async #screenshot(id: number): Promise<void> {
    const shot = this.#frame.screenshot();
    if (!shot) {
      this.#post({ type: "screenshot", id, blob: null, error: "no frame yet" });
      return;
    }
    try {
      this.#post({ type: "screenshot", id, blob: await shot });
    } catch (err) {
      const error = (err as Error).message;
      this.#post({ type: "screenshot", id, blob: null, error });
    }
  }
}

/** Answer the page's messages: the first `init` starts the view. */
function serve(scope: WorkerScope): void {
  let view: ViewWorker | null = null;
  scope.onmessage = (e) => {
    const msg = e.data;
    if (msg.type === "init") {
      view ??= new ViewWorker((m) => scope.postMessage(m), msg);
    } else if (view) {
      view.handle(msg);
    } else if (msg.type === "dispose") {
      scope.postMessage({ type: "disposed" });
    }
  };
}

serve(self as unknown as WorkerScope);
