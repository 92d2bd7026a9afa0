/// <reference lib="dom" />
/**
 * The view's Web Worker: it owns the WebSocket, decodes frames and draws
 * them on the transferred `OffscreenCanvas`, acknowledges frames, reconnects
 * with backoff, and reports status and stats to the page. No DOM here.
 *
 * Frames are decoded in parallel but drawn in order: a frame that finishes
 * decoding after a newer one was drawn is dropped (and still acknowledged).
 * Each decoded picture goes onto a frame-sized canvas and its `ImageBitmap`
 * is closed at once; the visible canvas is a fitted copy of that, so a
 * resize redraws without a new frame and a screenshot is full resolution.
 *
 * @module
 */

import {
  CAP_H264,
  CAP_JPEG,
  CAP_PNG,
  CAP_WEBP,
  type ConfigMessage,
  type StatsMessage,
  type Transport,
  unpackEnvelope,
} from "../src/protocol.ts";
import { KeyframeGate, StallWatchdog } from "./gate.ts";
import { backingSize, contentRect } from "./mapping.ts";
import type {
  FromWorker,
  InitMessage,
  LayoutInfo,
  ToWorker,
  ViewStats,
} from "./messages.ts";

interface WorkerScope {
  postMessage(message: FromWorker, transfer?: Transferable[]): void;
  onmessage: ((e: MessageEvent<ToWorker>) => void) | null;
  close(): void;
}

const scope = self as unknown as WorkerScope;

/** Close codes after which reconnecting would only fail again. */
const FINAL_CODES = new Set([4401, 4404, 1003, 1007, 1008]);
const BACKOFF_MIN_MS = 250;
const BACKOFF_MAX_MS = 5000;
const STATS_EVERY_MS = 500;
const STALL_MS = 3000;
const MAX_SIDE = 16383;

let init: InitMessage | null = null;
let canvas: OffscreenCanvas;
let ctx: OffscreenCanvasRenderingContext2D;
const picture = new OffscreenCanvas(1, 1);
const frameCtx = picture.getContext("2d")!;
let hasFrame = false;
let layout: LayoutInfo;
let ws: WebSocket | null = null;
let disposed = false;
let backoff = BACKOFF_MIN_MS;
let retryTimer: ReturnType<typeof setTimeout> | null = null;
let transportPref: "auto" | Transport = "auto";
let config: ConfigMessage | null = null;
let canVideo = false; // whether this browser decodes H.264 with WebCodecs

// Video decoding.
let decoder: VideoDecoder | null = null;
let decoderCodec = "";
/** seq → publish time (µs) of chunks handed to the decoder, in order. */
/** Frames in the decoder: seq → publish stamp (µs) and arrival time (ms). */
const inDecoder = new Map<
  number,
  { stamp: number | null; receivedAt: number }
>();

// Decode bookkeeping.
let decodeOrder = 0;
let drawnOrder = 0;
let pending = 0;
const gate = new KeyframeGate((reason) =>
  send({ type: "request_keyframe", reason })
);
const watchdog = new StallWatchdog(STALL_MS);

// Figures.
let dropped = 0;
let frames = 0;
let latencyMs = 0;
let lastStamp = 0;
let firstAfterConfig = true;
let serverStats: StatsMessage | null = null;
const shown: number[] = [];
const received: Array<[number, number]> = [];

function post(message: FromWorker, transfer?: Transferable[]): void {
  scope.postMessage(message, transfer);
}

function send(msg: Record<string, unknown>): void {
  if (ws && ws.readyState === WebSocket.OPEN) ws.send(JSON.stringify(msg));
}

function nowMs(): number {
  return performance.now();
}

function status(
  s: "connecting" | "open" | "negotiated" | "closed" | "error",
  code?: number,
  reason?: string,
): void {
  post({ type: "status", status: s, code, reason });
}

function hello(): void {
  const msg: Record<string, unknown> = {
    type: "hello",
    supported: canVideo
      ? [CAP_H264, CAP_JPEG, CAP_PNG, CAP_WEBP]
      : [CAP_JPEG, CAP_PNG, CAP_WEBP],
    device_pixel_ratio: layout.dpr,
  };
  if (init!.token) msg.token = init!.token;
  if (init!.maxInflight) msg.max_inflight = init!.maxInflight;
  if (init!.statsInterval) msg.stats_interval = init!.statsInterval;
  if (transportPref !== "auto") msg.transport = transportPref;
  send(msg);
}

function viewport(): void {
  const { width, height } = backingSize(
    layout.cssWidth,
    layout.cssHeight,
    layout.dpr,
  );
  send({
    type: "set_viewport",
    width: layout.cssWidth,
    height: layout.cssHeight,
    pwidth: width,
    pheight: height,
    ratio: layout.dpr,
  });
}

function connect(): void {
  if (disposed || !init) return;
  retryTimer = null;
  status("connecting");
  let socket: WebSocket;
  try {
    socket = new WebSocket(init.url);
  } catch (err) {
    status("error", undefined, (err as Error).message);
    return;
  }
  ws = socket;
  socket.binaryType = "arraybuffer";
  socket.onopen = () => {
    if (ws !== socket) return;
    status("open");
    hello();
    viewport();
  };
  socket.onmessage = (e) => {
    if (ws !== socket) return;
    if (typeof e.data === "string") onText(e.data);
    else onBinary(e.data as ArrayBuffer);
  };
  socket.onerror = () => {
    if (ws === socket) status("error", undefined, "connection error");
  };
  socket.onclose = (e) => {
    if (ws !== socket) return;
    ws = null;
    config = null;
    status("closed", e.code, e.reason);
    if (disposed || !init!.reconnect || FINAL_CODES.has(e.code)) return;
    const jitter = 1 + Math.random() * 0.2;
    retryTimer = setTimeout(connect, backoff * jitter);
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
  };
}

function onText(text: string): void {
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
    config = {
      type: "config",
      transport: msg.transport === "webcodecs" ? "webcodecs" : "image",
      width: w,
      height: h as number,
      coords: "frame-pixels",
      codec: str(msg.codec),
      mime: str(msg.mime),
    };
    firstAfterConfig = true;
    backoff = BACKOFF_MIN_MS;
    gate.reset();
    if (config.transport !== "webcodecs") closeDecoder();
    post({ type: "config", config });
    status("negotiated");
  } else if (msg.type === "stats") {
    serverStats = msg as StatsMessage;
  }
}

function validSize(w: unknown, h: unknown): w is number {
  return Number.isInteger(w) && Number.isInteger(h) && (w as number) > 0 &&
    (h as number) > 0 && (w as number) <= MAX_SIDE && (h as number) <= MAX_SIDE;
}

function onBinary(data: ArrayBuffer): void {
  let header, payload;
  try {
    ({ header, payload } = unpackEnvelope(data));
  } catch {
    dropped++;
    return;
  }
  const seq = header.seq;
  if (!Number.isSafeInteger(seq)) return;
  const arrived = nowMs();
  received.push([arrived, data.byteLength]);
  if (header.type === "video_chunk" && validSize(header.width, header.height)) {
    onVideo(header, payload, seq as number, arrived);
    return;
  }
  if (
    header.type !== "image_frame" || !validSize(header.width, header.height)
  ) {
    ack(seq as number, false);
    dropped++;
    return;
  }
  if (!gate.admit(true, nowMs())) return; // every image is a keyframe
  const order = ++decodeOrder;
  pending++;
  const mime = typeof header.mime === "string" ? header.mime : "image/jpeg";
  const stamp = typeof header.timestamp_us === "number"
    ? header.timestamp_us
    : null;
  createImageBitmap(
    new Blob([payload as Uint8Array<ArrayBuffer>], { type: mime }),
  ).then(
    (bitmap) => {
      const decodedAt = nowMs();
      pending--;
      if (order < drawnOrder) { // a newer frame is already on screen
        bitmap.close();
        dropped++;
        ack(seq as number, false);
        return;
      }
      drawnOrder = order;
      if (picture.width !== bitmap.width || picture.height !== bitmap.height) {
        picture.width = bitmap.width;
        picture.height = bitmap.height;
      }
      frameCtx.drawImage(bitmap, 0, 0);
      bitmap.close();
      hasFrame = true;
      blit();
      displayed(seq as number, stamp, arrived, decodedAt);
      ack(seq as number, true);
    },
    () => {
      pending--;
      dropped++;
      ack(seq as number, false);
      gate.reset();
      send({ type: "request_keyframe", reason: "decode error" });
    },
  );
}

function ack(seq: number, shownNow: boolean): void {
  send({ type: "ack", seq, decode_queue_size: queued(), displayed: shownNow });
}

/** Frames waiting to be decoded, on either path. */
function queued(): number {
  return pending + inDecoder.size;
}

function onVideo(
  header: Record<string, unknown>,
  payload: Uint8Array,
  seq: number,
  arrived: number,
): void {
  const keyframe = header.keyframe === true;
  const codec = typeof header.codec === "string" && header.codec.trim()
    ? header.codec.trim()
    : (config?.codec ?? "");
  if (!canVideo || !codec) {
    ack(seq, false);
    dropped++;
    return;
  }
  if (!gate.admit(keyframe, nowMs())) {
    ack(seq, false); // waiting for an IDR: this delta cannot be decoded
    return;
  }
  if (!decoder || decoder.state === "closed" || codec !== decoderCodec) {
    if (!keyframe) { // a new decoder must start on an IDR
      gate.reset();
      gate.admit(false, nowMs());
      ack(seq, false);
      return;
    }
    openDecoder(codec);
  }
  inDecoder.set(seq, {
    stamp: typeof header.timestamp_us === "number" ? header.timestamp_us : null,
    receivedAt: arrived,
  });
  try {
    decoder!.decode(
      new EncodedVideoChunk({
        type: keyframe ? "key" : "delta",
        timestamp: seq, // carried to the output, so frames map back to their seq
        duration: typeof header.duration_us === "number"
          ? header.duration_us
          : undefined,
        data: payload as Uint8Array<ArrayBuffer>,
      }),
    );
  } catch {
    decoderFailed("decode threw");
  }
}

function openDecoder(codec: string): void {
  closeDecoder();
  decoderCodec = codec;
  decoder = new VideoDecoder({
    output: (frame) => {
      const decodedAt = nowMs();
      const seq = frame.timestamp;
      const timing = inDecoder.get(seq);
      // Anything older than this output will not come out any more.
      for (const s of inDecoder.keys()) {
        if (s > seq) break;
        inDecoder.delete(s);
        if (s < seq) {
          dropped++;
          ack(s, false);
        }
      }
      const w = frame.displayWidth, h = frame.displayHeight;
      if (picture.width !== w || picture.height !== h) {
        picture.width = w;
        picture.height = h;
      }
      frameCtx.drawImage(frame, 0, 0, w, h);
      frame.close(); // at once, or the decoder stalls
      hasFrame = true;
      blit();
      displayed(
        seq,
        timing?.stamp ?? null,
        timing?.receivedAt ?? decodedAt,
        decodedAt,
      );
      ack(seq, true);
    },
    error: () => decoderFailed("decoder error"),
  });
  try {
    decoder.configure({
      codec,
      optimizeForLatency: true,
      hardwareAcceleration: "no-preference",
    });
  } catch {
    decoderFailed("the decoder refused the codec");
  }
}

/** Drop the decoder and what it holds (acknowledged as not shown). */
function closeDecoder(): void {
  if (decoder && decoder.state !== "closed") decoder.close();
  decoder = null;
  decoderCodec = "";
  for (const s of inDecoder.keys()) ack(s, false);
  dropped += inDecoder.size;
  inDecoder.clear();
}

function decoderFailed(why: string): void {
  closeDecoder();
  gate.reset();
  send({ type: "request_keyframe", reason: why });
}

function displayed(
  seq: number,
  stampUs: number | null,
  receivedMs: number,
  decodedMs: number,
): void {
  const now = nowMs();
  frames++;
  shown.push(now);
  watchdog.displayed(now);
  const at = performance.timeOrigin + now;
  let lat: number | null = null;
  // Latency is publish → display of new pictures: not of a resting frame
  // sent again (a still, a keyframe for someone else) nor of the picture a
  // viewer is first shown on joining, whose publish time may be long ago.
  const fresh = stampUs !== null && stampUs > lastStamp && !firstAfterConfig;
  firstAfterConfig = false;
  if (stampUs !== null) lastStamp = Math.max(lastStamp, stampUs);
  if (fresh && stampUs !== null) {
    lat = at - stampUs / 1000;
    if (lat > -1000 && lat < 60_000) {
      latencyMs = latencyMs === 0 ? lat : latencyMs * 0.8 + lat * 0.2;
    }
  }
  post({
    type: "frame",
    frame: {
      seq,
      timestampUs: stampUs,
      receivedAt: performance.timeOrigin + receivedMs,
      decodedAt: performance.timeOrigin + decodedMs,
      displayedAt: at,
      latencyMs: lat,
    },
  });
}

/** Copy the frame onto the visible canvas, fitted. */
function blit(): void {
  const { width, height } = backingSize(
    layout.cssWidth,
    layout.cssHeight,
    layout.dpr,
  );
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  ctx.fillStyle = layout.background;
  ctx.fillRect(0, 0, width, height);
  if (!hasFrame) return;
  const r = contentRect({
    ...layout,
    frameWidth: picture.width,
    frameHeight: picture.height,
  });
  const d = layout.dpr;
  ctx.imageSmoothingEnabled = true;
  ctx.drawImage(picture, r.x * d, r.y * d, r.width * d, r.height * d);
}

function tick(): void {
  if (disposed) return;
  const now = nowMs();
  while (shown.length && shown[0] < now - 1000) shown.shift();
  while (received.length && received[0][0] < now - 1000) received.shift();
  if (watchdog.stalled(now, queued())) {
    pending = 0;
    drawnOrder = decodeOrder; // late decodes are dropped
    closeDecoder();
    gate.reset();
    send({ type: "decoder_reset" });
  }
  const stats: ViewStats = {
    fps: shown.length,
    dropped: dropped + gate.dropped,
    serverDropped: serverStats?.dropped ?? 0,
    decodeQueue: queued(),
    latencyMs,
    bitrateBps: received.reduce((a, [, b]) => a + b, 0) * 8,
    transport: config?.transport ?? null,
    format: config ? (config.codec ?? config.mime ?? null) : null,
    width: config?.width ?? 0,
    height: config?.height ?? 0,
    frames,
    server: serverStats,
  };
  post({ type: "stats", stats });
}

async function screenshot(id: number): Promise<void> {
  if (!hasFrame) {
    post({ type: "screenshot", id, blob: null, error: "no frame yet" });
    return;
  }
  try {
    post({
      type: "screenshot",
      id,
      blob: await picture.convertToBlob({ type: "image/png" }),
    });
  } catch (err) {
    post({ type: "screenshot", id, blob: null, error: (err as Error).message });
  }
}

let statsTimer: ReturnType<typeof setInterval> | null = null;

/** Whether WebCodecs decodes constrained-baseline H.264 here. */
async function probeVideo(): Promise<boolean> {
  if (typeof VideoDecoder === "undefined") return false;
  try {
    const r = await VideoDecoder.isConfigSupported({
      codec: "avc1.42C01F",
      optimizeForLatency: true,
    });
    return r.supported === true;
  } catch {
    return false;
  }
}

scope.onmessage = (e) => {
  const msg = e.data;
  switch (msg.type) {
    case "init":
      init = msg;
      canvas = msg.canvas;
      ctx = canvas.getContext("2d", { alpha: false })!;
      layout = msg.layout;
      transportPref = msg.transport ?? "auto";
      blit();
      statsTimer = setInterval(tick, STATS_EVERY_MS);
      probeVideo().then((ok) => {
        canVideo = ok;
        connect();
      });
      break;
    case "layout":
      layout = msg.layout;
      if (ctx) blit();
      viewport();
      break;
    case "input":
      send({ type: "event", event: msg.event });
      break;
    case "transport":
      transportPref = msg.transport;
      hello(); // the server renegotiates and sends a new config
      break;
    case "screenshot":
      screenshot(msg.id);
      break;
    case "reconnect":
      if (retryTimer) clearTimeout(retryTimer);
      backoff = BACKOFF_MIN_MS;
      if (ws) {
        const old = ws;
        ws = null;
        old.close(1000, "reconnect");
      }
      connect();
      break;
    case "dispose":
      disposed = true;
      closeDecoder();
      if (retryTimer) clearTimeout(retryTimer);
      if (statsTimer) clearInterval(statsTimer);
      if (ws) {
        const old = ws;
        ws = null;
        old.close(1000, "view disposed");
      }
      post({ type: "disposed" });
      break;
  }
};
