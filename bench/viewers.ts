/**
 * Headless benchmark viewers: WebSockets that speak just enough of the
 * protocol to watch a stream (send `hello`, ack every frame or chunk) and
 * count what they receive. `openViewer()` runs one in this process; `spawnViewers()`
 * runs N of them in a separate Deno process (this file as its main module),
 * so their CPU time is not charged to the server being measured.
 *
 * Three dialects: `"rfb"` (our binary envelope: `uint32 LE header length |
 * JSON header | payload`, images), `"h264"` (the same envelope; the viewer
 * also announces `webcodecs/h264-annexb`, so it gets `video_chunk`s, whose
 * headers it reads and acks without decoding) and `"base64"` (the
 * baseline's JSON text messages carrying a base64 JPEG).
 *
 * Subprocess use: `deno run -A bench/viewers.ts <ws-url> <count> <mode>`. It
 * prints `ready` once every viewer is set up, answers each `mark` line on
 * stdin with a JSON line of per-viewer frame, byte and keyframe counts, and closes its
 * sockets and exits on `quit` (or when stdin ends).
 *
 * @module
 */

import { answerMarks, spawnHelper } from "./lines.ts";

/** The wire dialect a viewer speaks. */
export type ViewerMode = "rfb" | "h264" | "base64";

const MODES: readonly ViewerMode[] = ["rfb", "h264", "base64"];

/** One received frame. */
export interface ReceivedFrame {
  /** The frame's sequence number. */
  seq: number;
  /** Size of the whole message, bytes. */
  bytes: number;
  /** The payload's MIME type (`video/h264` for video chunks). */
  mime: string;
  /** Whether it is a keyframe (every image is). */
  keyframe: boolean;
  /** Publish time from the header, microseconds since the epoch (0 if none). */
  timestampUs: number;
}

/** A connected viewer, counting what it receives. */
export interface Viewer {
  /** Frames received. */
  readonly frames: number;
  /** Message bytes received (frames only). */
  readonly bytes: number;
  /** Keyframes received (every image counts). */
  readonly keyframes: number;
  /** Resolves with the next frame received after this call. */
  nextFrame(): Promise<ReceivedFrame>;
  /** Close the socket and wait until it is closed. */
  close(): Promise<void>;
}

const decoder = new TextDecoder();

/** Image formats every benchmark viewer announces. */
const SUPPORTED = ["image/jpeg", "image/png", "image/webp"];
/** What an `"h264"` viewer announces in addition. */
const H264 = "webcodecs/h264-annexb";

/** The fields of an envelope header the viewers read. */
export interface EnvelopeFields {
  /** `image_frame` or `video_chunk`. */
  type?: string;
  /** Sequence number. */
  seq: number;
  /** Image MIME type (images only). */
  mime?: string;
  /** Whether a video chunk is an IDR. */
  keyframe?: boolean;
  /** Publish time, µs since the epoch. */
  timestamp_us?: number;
}

/**
 * Read the JSON header of a binary envelope without copying the payload.
 *
 * @example
 * ```ts
 * import { envelopeHeader } from "./viewers.ts";
 * const head = new TextEncoder().encode('{"type":"image_frame","seq":7}');
 * const msg = new Uint8Array(4 + head.length);
 * new DataView(msg.buffer).setUint32(0, head.length, true);
 * msg.set(head, 4);
 * console.log(envelopeHeader(msg.buffer).seq); // 7
 * ```
 */
export function envelopeHeader(data: ArrayBuffer): EnvelopeFields {
  const len = new DataView(data).getUint32(0, true);
  return JSON.parse(decoder.decode(new Uint8Array(data, 4, len)));
}

/**
 * Open one viewer on `url`. Resolves once it can receive frames: after the
 * server's `config` (rfb) or once the socket is open (base64).
 *
 * @example
 * ```ts ignore
 * const viewer = await openViewer(`ws://127.0.0.1:${display.port}/`, "rfb");
 * display.publish(rgba);
 * console.log((await viewer.nextFrame()).bytes);
 * await viewer.close();
 * ```
 */
export function openViewer(url: string, mode: ViewerMode): Promise<Viewer> {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  let frames = 0, bytes = 0, keyframes = 0;
  let waiter: ((f: ReceivedFrame) => void) | null = null;
  const closed = new Promise<void>((resolve) => ws.onclose = () => resolve());
  const viewer: Viewer = {
    get frames() {
      return frames;
    },
    get bytes() {
      return bytes;
    },
    get keyframes() {
      return keyframes;
    },
    nextFrame: () => new Promise((resolve) => waiter = resolve),
    close: () => {
      if (ws.readyState < WebSocket.CLOSING) ws.close();
      return closed;
    },
  };
  const received = (
    seq: number,
    size: number,
    mime: string,
    keyframe: boolean,
    timestampUs: number,
  ) => {
    frames++;
    bytes += size;
    if (keyframe) keyframes++;
    ws.send(JSON.stringify({ type: "ack", seq, decode_queue_size: 0 }));
    const w = waiter;
    waiter = null;
    w?.({ seq, bytes: size, mime, keyframe, timestampUs });
  };
  return new Promise((resolve, reject) => {
    ws.onerror = (e) => reject(new Error(`viewer on ${url}: ${e.type}`));
    ws.onopen = () => {
      ws.send(JSON.stringify({
        type: "hello",
        supported: mode === "h264" ? [H264, ...SUPPORTED] : SUPPORTED,
        device_pixel_ratio: 1,
      }));
      if (mode === "base64") resolve(viewer);
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") {
        const h = envelopeHeader(e.data);
        const video = h.type === "video_chunk";
        received(
          h.seq,
          e.data.byteLength,
          video ? "video/h264" : h.mime ?? "",
          video ? h.keyframe === true : true,
          h.timestamp_us ?? 0,
        );
        return;
      }
      const msg = JSON.parse(e.data);
      if (msg.type === "config") resolve(viewer);
      else if (msg.type === "image") {
        received(msg.seq, e.data.length, msg.mime, true, msg.timestamp_us ?? 0);
      }
    };
  });
}

/** Per-viewer counts at one moment, from `ViewerProcess.mark()`. */
export interface Mark {
  /** `performance.now()` in the benchmark process when the answer arrived. */
  at: number;
  /** Frames each viewer has received. */
  frames: number[];
  /** Bytes each viewer has received. */
  bytes: number[];
  /** Keyframes each viewer has received. */
  keyframes: number[];
}

/** A subprocess running N viewers, from `spawnViewers()`. */
export interface ViewerProcess {
  /** Ask every viewer for its counts. */
  mark(): Promise<Mark>;
  /** Close the viewers and wait for the process to exit. */
  quit(): Promise<void>;
}

/**
 * Start `count` viewers of `url` in a separate Deno process and wait until
 * all are ready.
 *
 * @example
 * ```ts ignore
 * const viewers = await spawnViewers(`ws://127.0.0.1:${display.port}/`, 8, "rfb");
 * const before = await viewers.mark();
 * await viewers.quit();
 * ```
 */
export async function spawnViewers(
  url: string,
  count: number,
  mode: ViewerMode,
): Promise<ViewerProcess> {
  const helper = await spawnHelper(
    new URL(import.meta.url),
    [url, `${count}`, mode],
    "viewer process",
  );
  return {
    async mark() {
      const counts = JSON.parse(await helper.ask("mark"));
      return { at: performance.now(), ...counts };
    },
    async quit() {
      const code = await helper.quit();
      if (code !== 0) throw new Error(`viewer process exited with ${code}`);
    },
  };
}

async function main(url: string, count: number, mode: ViewerMode) {
  const viewers = await Promise.all(
    Array.from({ length: count }, () => openViewer(url, mode)),
  );
  await answerMarks(() => ({
    frames: viewers.map((v) => v.frames),
    bytes: viewers.map((v) => v.bytes),
    keyframes: viewers.map((v) => v.keyframes),
  }));
  await Promise.all(viewers.map((v) => v.close()));
}

if (import.meta.main) {
  const [url, count, mode] = Deno.args;
  if (
    !url || !(Number(count) > 0) || !MODES.includes(mode as ViewerMode)
  ) {
    console.error("usage: viewers.ts <ws-url> <count> <rfb|h264|base64>");
    Deno.exit(2);
  }
  await main(url, Number(count), mode as ViewerMode);
}
