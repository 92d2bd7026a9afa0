/**
 * The soak benchmark's viewers, run as a subprocess so their CPU time is
 * not the server's: `deno run -A bench/soak_viewers.ts <ws-url> <h264> <image>`
 * opens `h264` viewers that announce `webcodecs/h264-annexb` and `image`
 * viewers that announce only images. Each acks every frame or chunk at once
 * (no decoding) and records the latency of each frame: its header's
 * `timestamp_us` (the server's publish time) to its arrival, on the same
 * host's clock.
 *
 * Prints `ready` once every viewer has its `config`. Each `mark` line on
 * stdin is answered with one JSON line: per viewer, its transport, totals
 * (frames, bytes, keyframes) and the latency quantiles of the frames since
 * the previous mark; whether it is still open, and its close code if not.
 * `quit` (or the end of stdin) closes the viewers and exits.
 *
 * @module
 */

import { answerMarks } from "./lines.ts";
import { quantile } from "./util.ts";
import { envelopeHeader } from "./viewers.ts";

type Mode = "h264" | "image";

interface SoakViewer {
  mode: Mode;
  transport: string | null;
  frames: number;
  bytes: number;
  keyframes: number;
  latencies: number[];
  closeCode: number | null;
  ws: WebSocket;
}

const IMAGES = ["image/jpeg", "image/png", "image/webp"];

function open(url: string, mode: Mode): Promise<SoakViewer> {
  const ws = new WebSocket(url);
  ws.binaryType = "arraybuffer";
  const v: SoakViewer = {
    mode,
    transport: null,
    frames: 0,
    bytes: 0,
    keyframes: 0,
    latencies: [],
    closeCode: null,
    ws,
  };
  return new Promise((resolve, reject) => {
    ws.onerror = () => reject(new Error(`${mode} viewer could not connect`));
    ws.onclose = (e) => v.closeCode = e.code;
    ws.onopen = () => {
      ws.send(JSON.stringify({
        type: "hello",
        supported: mode === "h264"
          ? ["webcodecs/h264-annexb", ...IMAGES]
          : IMAGES,
        device_pixel_ratio: 1,
      }));
    };
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        const msg = JSON.parse(e.data);
        if (msg.type === "config") {
          v.transport = msg.transport;
          resolve(v);
        }
        return;
      }
      const data = e.data as ArrayBuffer;
      const h = envelopeHeader(data);
      const now = performance.timeOrigin + performance.now();
      v.frames++;
      v.bytes += data.byteLength;
      if (h.type !== "video_chunk" || h.keyframe === true) v.keyframes++;
      if (typeof h.timestamp_us === "number") {
        v.latencies.push(now - h.timestamp_us / 1000);
      }
      ws.send(
        JSON.stringify({ type: "ack", seq: h.seq, decode_queue_size: 0 }),
      );
    };
  });
}

if (import.meta.main) {
  const [url, h264, image] = Deno.args;
  if (!url || !(Number(h264) >= 0) || !(Number(image) >= 0)) {
    console.error(
      "usage: soak_viewers.ts <ws-url> <h264 viewers> <image viewers>",
    );
    Deno.exit(2);
  }
  const viewers = await Promise.all([
    ...Array.from({ length: Number(h264) }, () => open(url, "h264")),
    ...Array.from({ length: Number(image) }, () => open(url, "image")),
  ]);
  await answerMarks(() =>
    viewers.map((v) => {
      const lat = v.latencies;
      v.latencies = [];
      // With no frames, p50 and p95 are NaN, which JSON writes as null.
      return {
        mode: v.mode,
        transport: v.transport,
        frames: v.frames,
        bytes: v.bytes,
        keyframes: v.keyframes,
        p50: quantile(lat, 0.5),
        p95: quantile(lat, 0.95),
        max: lat.length ? Math.max(...lat) : null,
        open: v.ws.readyState === WebSocket.OPEN,
        closeCode: v.closeCode,
      };
    })
  );
  await Promise.all(viewers.map((v) =>
    new Promise<void>((resolve) => {
      if (v.ws.readyState === WebSocket.CLOSED) return resolve();
      v.ws.addEventListener("close", () => resolve());
      v.ws.close();
    })
  ));
}
