/**
 * Test viewers and helpers for tests against a real listener.
 *
 * `TestViewer` opens a real WebSocket, says `hello`, and either keeps every
 * text message and unpacked binary frame for `nextText()` / `nextFrame()`,
 * or (`keep: false`) only counts frames, for viewers that run for minutes.
 * It acknowledges frames as they arrive unless told not to, and closes on
 * `await using`. `DisplayFixture` ties a display to the viewers opened on it
 * and the timers a test starts, and tears them all down on `await using`.
 * The rest are small helpers: test pictures, pixel checks, waiting, lines
 * of a stream, raw HTTP.
 *
 * @module
 */

import type { Display } from "../mod.ts";
import { type EnvelopeHeader, unpackEnvelope } from "../src/protocol.ts";

const HELLO_FIELDS = {
  type: "hello",
  supported: ["image/jpeg", "image/png", "image/webp"],
  device_pixel_ratio: 1,
};

/** The hello of a JPEG/PNG/WebP viewer, as sent (the one `TestViewer` sends by default). */
export const HELLO: string = JSON.stringify(HELLO_FIELDS);

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
  /**
   * Keep every message for `texts`, `frames`, `nextText()` and
   * `nextFrame()`. Default true; `false` only counts frames (`received`,
   * `largest`), so a viewer can run for minutes.
   */
  keep?: boolean;
}

/** How a socket closed. */
export interface CloseInfo {
  code: number;
  reason: string;
}

type Item = { kind: "text"; msg: Record<string, unknown> } | {
  kind: "frame";
  frame: ReceivedFrame;
};

/** A test viewer over a real WebSocket; `await using` closes it. */
export class TestViewer implements AsyncDisposable {
  readonly ws: WebSocket;
  /** Every text message, parsed (empty under `keep: false`). */
  readonly texts: Record<string, unknown>[] = [];
  /** Every binary frame, unpacked (empty under `keep: false`). */
  readonly frames: ReceivedFrame[] = [];
  /** Binary frames received. */
  received = 0;
  /** The largest binary message received, bytes. */
  largest = 0;
  /** How the socket closed, once it has. */
  readonly closed: Promise<CloseInfo>;
  #closedWith: CloseInfo | null = null;
  #items: Item[] = [];
  #wake: (() => void) | null = null;
  #autoAck: boolean;
  #keep: boolean;

  private constructor(ws: WebSocket, autoAck: boolean, keep: boolean) {
    this.ws = ws;
    this.#autoAck = autoAck;
    this.#keep = keep;
    this.closed = new Promise((resolve) => {
      ws.onclose = (e) => {
        this.#closedWith = { code: e.code, reason: e.reason };
        resolve(this.#closedWith);
        this.#notify();
      };
    });
    ws.onmessage = (e) => {
      if (typeof e.data === "string") {
        if (!this.#keep) return;
        const msg = JSON.parse(e.data);
        this.texts.push(msg);
        this.#items.push({ kind: "text", msg });
      } else {
        const data = e.data as ArrayBuffer;
        this.received++;
        this.largest = Math.max(this.largest, data.byteLength);
        const { header, payload } = unpackEnvelope(data);
        const frame = { header, payload } as ReceivedFrame;
        if (this.#keep) {
          this.frames.push(frame);
          this.#items.push({ kind: "frame", frame });
        }
        if (this.#autoAck) this.ack(frame.header.seq);
      }
      this.#notify();
    };
  }

  /**
   * Connect and (unless `hello: false`) say hello with JPEG/PNG/WebP
   * support; resolves once the socket is open.
   */
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
    const viewer = new TestViewer(
      ws,
      options.autoAck ?? true,
      options.keep ?? true,
    );
    await new Promise<void>((resolve, reject) => {
      ws.onopen = () => resolve();
      ws.onerror = () => reject(new Error(`could not connect to ${url}`));
    });
    ws.onerror = () => {};
    if (options.hello !== false) {
      viewer.send({ ...HELLO_FIELDS, ...options.hello });
    }
    return viewer;
  }

  /** Whether the socket is open. */
  get isOpen(): boolean {
    return this.ws.readyState === WebSocket.OPEN;
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
    if (!this.#keep) {
      throw new Error("this viewer keeps no messages (keep: false)");
    }
    const what = type ?? kind;
    const deadline = performance.now() + timeoutMs;
    while (true) {
      const i = this.#items.findIndex((it) =>
        it.kind === kind &&
        (type === undefined || (it.kind === "text" && it.msg.type === type))
      );
      if (i >= 0) return this.#items.splice(i, 1)[0];
      if (this.#closedWith) {
        throw new Error(`closed with ${this.#closedWith.code} before ${what}`);
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`no ${what} within ${timeoutMs} ms`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
        if (Number.isFinite(left)) timer = setTimeout(resolve, left);
      });
      clearTimeout(timer);
    }
  }

  /**
   * The next text message (of `type`, if given); rejects after `timeoutMs`
   * (`Infinity`: never) or once the socket has closed without one.
   */
  async nextText(
    type?: string,
    timeoutMs = 5000,
  ): Promise<Record<string, unknown>> {
    const item = await this.#next("text", timeoutMs, type);
    return (item as { msg: Record<string, unknown> }).msg;
  }

  /**
   * The next binary frame; rejects after `timeoutMs` (`Infinity`: never) or
   * once the socket has closed without one.
   */
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

  /** Close, for `await using`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/** How a `DisplayFixture` opens viewers and ends. */
export interface FixtureOptions {
  /** Options every `viewer()` starts from. */
  viewer?: ViewerOptions;
  /**
   * Wait this long after the display closed (ms): `Display.close()` does
   * not wait for an H.264 encoder that is still opening or encoding, and a
   * test module that ends with one in flight can crash the test process
   * (node-av's calls run on a context freed at teardown).
   */
  settleMs?: number;
}

/**
 * A display served on a port, the viewers opened on it, and the timers a
 * test starts on it, torn down together by `await using`: first what was
 * handed to `defer()` (last first), then every viewer, then the display.
 */
export class DisplayFixture implements AsyncDisposable {
  readonly display: Display;
  /** Every viewer `viewer()` opened, in order. */
  readonly viewers: TestViewer[] = [];
  #options: FixtureOptions;
  #deferred: Array<() => unknown> = [];

  /** Take `display` (listening on a port) to tear down at the end. */
  constructor(display: Display, options: FixtureOptions = {}) {
    this.display = display;
    this.#options = options;
  }

  /** The display's WebSocket URL. */
  get url(): string {
    return `ws://127.0.0.1:${this.display.port}/`;
  }

  /** Open a viewer on the display, closed at teardown. */
  async viewer(options: ViewerOptions = {}): Promise<TestViewer> {
    const v = await TestViewer.open(this.url, {
      ...this.#options.viewer,
      ...options,
    });
    this.viewers.push(v);
    return v;
  }

  /** Run `stop` at teardown, before the viewers close (a timer, a publisher). */
  defer(stop: () => unknown): void {
    this.#deferred.push(stop);
  }

  /** Tear everything down. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      for (const stop of this.#deferred.splice(0).reverse()) await stop();
      await Promise.all(this.viewers.map((v) => v.close()));
    } finally {
      await this.display.close();
      if (this.#options.settleMs) await sleep(this.#options.settleMs);
    }
  }
}

/** Decode an image payload back to RGBA with sharp. */
export async function decodeImage(
  payload: Uint8Array,
): Promise<{ data: Uint8Array; width: number; height: number }> {
  // Loaded here, not at the top: the memory test's server process
  // (_stall_server.ts) imports this module for readLines() and should not
  // carry sharp.
  const { default: sharp } = await import("sharp");
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

/** `p`, or `fallback` after `ms` milliseconds (the timer is always cleared). */
export async function withTimeout<T>(
  p: Promise<T>,
  ms: number,
  fallback: T,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const t = new Promise<T>((r) => timer = setTimeout(() => r(fallback), ms));
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Lines of a byte stream (a last line without `\n` too). bench/lines.ts has
 * one too, but without the cast below it does not type-check beside the
 * client's DOM types (`deno check tests/ client/ demo/`).
 */
export async function* readLines(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<string> {
  let rest = "";
  for await (
    const chunk of stream.pipeThrough(
      new TextDecoderStream() as unknown as TransformStream<Uint8Array, string>,
    )
  ) {
    rest += chunk;
    let nl;
    while ((nl = rest.indexOf("\n")) >= 0) {
      yield rest.slice(0, nl);
      rest = rest.slice(nl + 1);
    }
  }
  if (rest) yield rest;
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
