/**
 * A protocol-speaking WebSocket viewer for tests: it opens a real socket,
 * sends `hello`, queues text messages and unpacked binary frames, and can
 * acknowledge frames automatically.
 *
 * @module
 */

import sharp from "sharp";
import { type EnvelopeHeader, unpackEnvelope } from "../src/protocol.ts";

/** One received binary frame. */
export interface ReceivedFrame {
  header: EnvelopeHeader & {
    seq: number;
    width: number;
    height: number;
    mime: string;
  };
  payload: Uint8Array;
}

/** How a viewer connects. */
export interface ViewerOptions {
  /** Extra upgrade headers (origin, cookie). */
  headers?: Record<string, string>;
  /** Fields merged into `hello`; `false` sends no hello. */
  hello?: Record<string, unknown> | false;
  /** Acknowledge every frame as it arrives. Default true. */
  autoAck?: boolean;
}

type Item = { kind: "text"; msg: Record<string, unknown> } | {
  kind: "frame";
  frame: ReceivedFrame;
};

/** A test viewer over a real WebSocket. */
export class TestViewer {
  readonly ws: WebSocket;
  readonly texts: Record<string, unknown>[] = [];
  readonly frames: ReceivedFrame[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  #items: Item[] = [];
  #wake: (() => void) | null = null;
  #autoAck: boolean;

  private constructor(ws: WebSocket, autoAck: boolean) {
    this.ws = ws;
    this.#autoAck = autoAck;
    this.closed = new Promise((resolve) => {
      ws.onclose = (e) => {
        resolve({ code: e.code, reason: e.reason });
        this.#notify();
      };
    });
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        const msg = JSON.parse(e.data);
        this.texts.push(msg);
        this.#items.push({ kind: "text", msg });
      } else {
        const { header, payload } = unpackEnvelope(e.data as ArrayBuffer);
        const frame = { header, payload } as ReceivedFrame;
        this.frames.push(frame);
        this.#items.push({ kind: "frame", frame });
        if (this.#autoAck) this.ack(frame.header.seq);
      }
      this.#notify();
    };
  }

  /** Connect and (unless `hello: false`) say hello with JPEG/PNG/WebP support. */
  static async open(
    url: string,
    options: ViewerOptions = {},
  ): Promise<TestViewer> {
    // Deno's WebSocket takes extra headers (origin, cookie) as a second argument.
    const ws = new WebSocket(
      url,
      { headers: options.headers ?? {} } as unknown as string[],
    );
    ws.binaryType = "arraybuffer";
    const viewer = new TestViewer(ws, options.autoAck ?? true);
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`could not connect to ${url}`));
    });
    ws.onerror = () => {};
    if (options.hello !== false) {
      viewer.send({
        type: "hello",
        supported: ["image/jpeg", "image/png", "image/webp"],
        device_pixel_ratio: 1,
        ...options.hello,
      });
    }
    return viewer;
  }

  #notify(): void {
    const wake = this.#wake;
    this.#wake = null;
    wake?.();
  }

  async #next(
    kind: Item["kind"],
    timeoutMs: number,
    type?: string,
  ): Promise<Item> {
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const i = this.#items.findIndex((it) =>
        it.kind === kind &&
        (type === undefined || (it.kind === "text" && it.msg.type === type))
      );
      if (i >= 0) return this.#items.splice(i, 1)[0];
      const left = deadline - performance.now();
      if (left <= 0 || this.ws.readyState === WebSocket.CLOSED) {
        throw new Error(`no ${type ?? kind} within ${timeoutMs} ms`);
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /** The next text message (of `type`, if given). */
  async nextText(
    type?: string,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>> {
    const item = await this.#next("text", timeoutMs, type);
    return (item as { msg: Record<string, unknown> }).msg;
  }

  /** The next binary frame. */
  async nextFrame(timeoutMs = 5000): Promise<ReceivedFrame> {
    const item = await this.#next("frame", timeoutMs);
    return (item as { frame: ReceivedFrame }).frame;
  }

  /** Send a JSON message. */
  send(msg: Record<string, unknown>): void {
    this.ws.send(JSON.stringify(msg));
  }

  /** Acknowledge a frame. */
  ack(seq: number): void {
    if (this.ws.readyState === WebSocket.OPEN) {
      this.send({ type: "ack", seq, decode_queue_size: 0, displayed: true });
    }
  }

  /** Close and wait for the close to finish. */
  async close(): Promise<void> {
    if (this.ws.readyState < WebSocket.CLOSING) this.ws.close();
    await this.closed;
  }
}

/** Decode an image payload back to RGBA with sharp. */
export async function decodeImage(
  payload: Uint8Array,
): Promise<{ data: Uint8Array; width: number; height: number }> {
  const { data, info } = await sharp(payload).ensureAlpha().raw().toBuffer({
    resolveWithObject: true,
  });
  return { data: new Uint8Array(data), width: info.width, height: info.height };
}

/** A frame of four quadrants: red, green / blue, white. */
export function quadrants(width: number, height: number): Uint8Array {
  const px = new Uint8Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const left = x < width / 2, top = y < height / 2;
      const c = top
        ? (left ? [255, 0, 0] : [0, 255, 0])
        : (left ? [0, 0, 255] : [255, 255, 255]);
      px.set([...c, 255], (y * width + x) * 4);
    }
  }
  return px;
}

/** A frame of one colour. */
export function solid(
  width: number,
  height: number,
  rgb: number[],
): Uint8Array {
  const px = new Uint8Array(width * height * 4);
  for (let i = 0; i < px.length; i += 4) {
    px.set([rgb[0], rgb[1], rgb[2], 255], i);
  }
  return px;
}

/** The RGB at (x, y) of an RGBA buffer. */
export function pixelAt(
  img: { data: Uint8Array; width: number },
  x: number,
  y: number,
): number[] {
  const i = (y * img.width + x) * 4;
  return [img.data[i], img.data[i + 1], img.data[i + 2]];
}

/** Whether two colours are within `tol` per channel. */
export function near(a: number[], b: number[], tol = 12): boolean {
  return a.every((v, i) => Math.abs(v - b[i]) <= tol);
}

/** Wait until `cond()` is true, polling; throws after `timeoutMs`. */
export async function until(
  cond: () => boolean,
  timeoutMs = 5000,
  what = "condition",
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** Sleep. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A raw upgrade request over fetch, to see the HTTP status of a refused upgrade. */
export async function upgradeStatus(
  url: string,
  headers: Record<string, string>,
): Promise<number> {
  const res = await fetch(url, {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      ...headers,
    },
  });
  await res.body?.cancel();
  return res.status;
}

/** An HTTP/1.1 request written by hand, so the Host header can be anything; returns the status. */
export async function rawStatus(
  port: number,
  path: string,
  headers: Record<string, string>,
): Promise<number> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  try {
    const lines = [
      `GET ${path} HTTP/1.1`,
      ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
    ];
    await conn.write(
      new TextEncoder().encode(
        `${lines.join("\r\n")}\r\nconnection: close\r\n\r\n`,
      ),
    );
    const buf = new Uint8Array(256);
    const n = await conn.read(buf);
    const head = new TextDecoder().decode(buf.subarray(0, n ?? 0));
    return Number(head.match(/^HTTP\/1\.1 (\d{3})/)?.[1] ?? 0);
  } finally {
    conn.close();
  }
}
