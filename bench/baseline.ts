/**
 * The comparison server for the baseline benchmark: a per-viewer JPEG +
 * base64 stream, the way jupyter_rfb ships frames. Every viewer has its own
 * encoder loop: it encodes the next frame for that viewer alone (sharp, the
 * same JPEG settings as `src/encoders/image.ts`), base64-encodes it into a
 * JSON text message, and sends the next one as soon as the viewer's window
 * (two unacknowledged frames, like ours) has room.
 *
 * @module
 */

import { Buffer } from "node:buffer";
import sharp from "sharp";

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
    get encodes() {
      return encodes;
    },
    async close() {
      await Promise.all(
        [...sockets].map((ws) =>
          new Promise<void>((resolve) => {
            ws.addEventListener("close", () => resolve());
            ws.close(1001, "bench over");
          })
        ),
      );
      await listener.shutdown();
    },
  };
}
