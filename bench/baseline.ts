/**
 * The comparison servers for the baselines, bench-only.
 *
 * `serveBaseline`: a per-viewer JPEG + base64 stream, the way jupyter_rfb
 * ships frames. Every viewer has its own
 * encoder loop: it encodes the next frame for that viewer alone (sharp, the
 * same JPEG settings as `src/encoders/image.ts`), base64-encodes it into a
 * JSON text message, and sends the next one as soon as the viewer's window
 * (two unacknowledged frames, like ours) has room.
 *
 * `servePerViewerEncoders`: pdum.rfb's approach to H.264, one encoder per
 * viewer.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import sharp from "sharp";
import { H264Encoder, type H264Settings } from "../src/encoders/h264.ts";
import {
  configMessage,
  packEnvelope,
  videoChunkHeader,
} from "../src/protocol.ts";

/** A loopback listener that upgrades every request and hands the socket to `accept`. */
function listenWebSockets(
  accept: (ws: WebSocket) => void,
): { url: string; shutdown(): Promise<void> } {
  const listener = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (req) => {
      const { socket, response } = Deno.upgradeWebSocket(req);
      accept(socket);
      return response;
    },
  );
  return {
    url: `ws://127.0.0.1:${listener.addr.port}/`,
    shutdown: () => listener.shutdown(),
  };
}

/** Close every socket (1001) and wait until each has closed. */
function closeSockets(sockets: WebSocket[]): Promise<void[]> {
  return Promise.all(sockets.map((ws) =>
    new Promise<void>((resolve) => {
      if (ws.readyState === WebSocket.CLOSED) return resolve();
      ws.addEventListener("close", () => resolve());
      ws.close(1001, "bench over");
    })
  ));
}

/** A running baseline server. */
export interface BaselineServer {
  /** WebSocket URL to connect viewers to. */
  readonly url: string;
  /** Frames encoded (over all viewers). */
  readonly encodes: number;
  /** Close every socket and stop listening. */
  close(): Promise<void>;
}

const MAX_INFLIGHT = 2;

/**
 * Serve `frames` (RGBA, cycled) to every viewer that says `hello`, one JPEG
 * encode per viewer per frame.
 *
 * @example
 * ```ts ignore
 * const server = serveBaseline(1280, 720, frames, 80);
 * const viewers = await spawnViewers(server.url, 8, "base64");
 * await viewers.quit();
 * await server.close();
 * ```
 */
export function serveBaseline(
  width: number,
  height: number,
  frames: readonly Uint8Array[],
  quality: number,
): BaselineServer {
  const sockets = new Set<WebSocket>();
  let encodes = 0;

  const encode = async (rgba: Uint8Array): Promise<string> => {
    const jpeg = await sharp(rgba, { raw: { width, height, channels: 4 } })
      .jpeg({ quality, chromaSubsampling: "4:2:0", mozjpeg: false })
      .toBuffer();
    encodes++;
    return Buffer.from(jpeg.buffer, jpeg.byteOffset, jpeg.byteLength)
      .toString("base64");
  };

  const accept = (ws: WebSocket) => {
    let started = false, busy = false, inflight = 0, seq = 0;
    const pump = async () => {
      if (!started || busy || inflight >= MAX_INFLIGHT) return;
      busy = true;
      const n = seq++;
      const data = await encode(frames[n % frames.length]);
      busy = false;
      if (ws.readyState !== WebSocket.OPEN) return;
      ws.send(JSON.stringify({
        type: "image",
        seq: n,
        timestamp_us: Math.round(performance.timeOrigin + performance.now()) *
          1000,
        width,
        height,
        mime: "image/jpeg",
        data,
      }));
      inflight++;
      pump();
    };
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.type === "hello") started = true;
      else if (msg.type === "ack") inflight = Math.max(0, inflight - 1);
      pump();
    };
    ws.onclose = () => sockets.delete(ws);
    sockets.add(ws);
  };

  const listener = listenWebSockets(accept);
  return {
    url: listener.url,
    get encodes() {
      return encodes;
    },
    async close() {
      await closeSockets([...sockets]);
      await listener.shutdown();
    },
  };
}

/** A running per-viewer-encoder server (pdum.rfb's approach). */
export interface PerViewerServer {
  /** WebSocket URL to connect viewers to. */
  readonly url: string;
  /** Encodes made (over all viewers). */
  readonly encodes: number;
  /** Hand every viewer's encoder the newest frame (RGBA). */
  publish(rgba: Uint8Array): void;
  /** Close every socket and encoder and stop listening. */
  close(): Promise<void>;
}

/**
 * pdum.rfb's approach to H.264 fan-out: every viewer has its own encoder
 * (`H264Encoder`, libx264 with the same settings a display uses), fed every
 * published frame it has room for (newest wins while its encode or window
 * is busy). Speaks our protocol's `hello` / `config` / `video_chunk` / `ack`
 * so the same bench viewers read it.
 *
 * @example
 * ```ts ignore
 * const server = servePerViewerEncoders(settings);
 * const viewers = await spawnViewers(server.url, 8, "h264");
 * server.publish(rgba);
 * await viewers.quit();
 * await server.close();
 * ```
 */
export function servePerViewerEncoders(
  settings: H264Settings,
): PerViewerServer {
  const { width, height } = settings;
  const viewers = new Set<{
    ws: WebSocket;
    offer(frame: Uint8Array, stampUs: number): void;
    close(): Promise<void>;
  }>();
  let encodes = 0;

  const accept = (ws: WebSocket) => {
    ws.binaryType = "arraybuffer";
    let encoder: H264Encoder | null = null;
    let opening: Promise<void> | null = null;
    let busy = false, inflight = 0, seq = 0, first = true;
    let pending: { frame: Uint8Array; stampUs: number } | null = null;
    const pump = async () => {
      if (!encoder || busy || !pending || inflight >= MAX_INFLIGHT) return;
      const { frame, stampUs } = pending;
      pending = null;
      busy = true;
      let chunk;
      try {
        chunk = await encoder.encode(
          { data: frame, width, height, layout: "rgba" },
          first,
        );
      } catch {
        return; // closed under it
      } finally {
        busy = false;
      }
      encodes++;
      if (!chunk || ws.readyState !== WebSocket.OPEN) return;
      first = false;
      ws.send(packEnvelope(
        videoChunkHeader({
          seq: seq++,
          timestampUs: stampUs,
          width,
          height,
          codec: encoder.codec,
          keyframe: chunk.keyframe,
        }),
        chunk.data,
      ));
      inflight++;
      pump();
    };
    const viewer = {
      ws,
      offer(frame: Uint8Array, stampUs: number) {
        pending = { frame, stampUs };
        pump();
      },
      async close() {
        await opening;
        await encoder?.close();
      },
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") return;
      const msg = JSON.parse(e.data);
      if (msg.type === "hello" && !opening) {
        opening = H264Encoder.open(settings).then((enc) => {
          encoder = enc;
          ws.send(configMessage({
            type: "config",
            transport: "webcodecs",
            width,
            height,
            coords: "frame-pixels",
            codec: enc.codec,
          }));
          pump();
        });
      } else if (msg.type === "ack") {
        inflight = Math.max(0, inflight - 1);
        pump();
      }
    };
    ws.onclose = () => {
      viewers.delete(viewer);
      viewer.close();
    };
    viewers.add(viewer);
  };

  const listener = listenWebSockets(accept);
  return {
    url: listener.url,
    get encodes() {
      return encodes;
    },
    publish(rgba: Uint8Array) {
      const stampUs = Math.round(
        (performance.timeOrigin + performance.now()) * 1000,
      );
      for (const v of viewers) v.offer(rgba, stampUs);
    },
    async close() {
      const all = [...viewers];
      await closeSockets(all.map((v) => v.ws));
      await Promise.all(all.map((v) => v.close()));
      await listener.shutdown();
    },
  };
}
