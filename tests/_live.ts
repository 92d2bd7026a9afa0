/**
 * Light live-socket helpers for the fuzz and reliability tests: a plain
 * WebSocket with its close code as a promise, and a steady viewer that acks
 * and counts frames without keeping them (so it can run for minutes).
 *
 * @module
 */

/** The hello a JPEG/PNG/WebP viewer sends. */
export const HELLO: string = JSON.stringify({
  type: "hello",
  supported: ["image/jpeg", "image/png", "image/webp"],
  device_pixel_ratio: 1,
});

/** A plain WebSocket with its close code and the first config as promises. */
export interface Conn {
  ws: WebSocket;
  /** The close code, once closed. */
  closed: Promise<number>;
  /** Resolves at the first `config`. */
  config: Promise<void>;
  /** Resolves at the first binary frame. */
  frame: Promise<void>;
  /** Close (if still open) and wait until closed. */
  close(): Promise<void>;
}

/** Open a WebSocket; resolves once open. */
export function connect(
  url: string,
  headers?: Record<string, string>,
): Promise<Conn> {
  const ws = headers
    ? new WebSocket(url, { headers } as unknown as string[])
    : new WebSocket(url);
  ws.binaryType = "arraybuffer";
  let gotConfig: () => void;
  let gotFrame: () => void;
  const config = new Promise<void>((r) => gotConfig = r);
  const frame = new Promise<void>((r) => gotFrame = r);
  const closed = new Promise<number>((resolve) => {
    ws.onclose = (e) => resolve(e.code);
  });
  ws.onmessage = (e) => {
    if (typeof e.data !== "string") gotFrame();
    else if (e.data.startsWith('{"type":"config"')) gotConfig();
  };
  const conn: Conn = {
    ws,
    closed,
    config,
    frame,
    close: async () => {
      if (ws.readyState < WebSocket.CLOSING) ws.close();
      await closed;
    },
  };
  return new Promise((resolve, reject) => {
    ws.onopen = () => resolve(conn);
    ws.onerror = () => reject(new Error(`could not connect to ${url}`));
  });
}

/** Resolves with `p`, or rejects once the connection closes first. */
export function beforeClose<T>(
  c: Conn,
  p: Promise<T>,
  what: string,
): Promise<T> {
  return Promise.race([
    p,
    c.closed.then((code) => {
      throw new Error(`closed with ${code} before ${what}`);
    }),
  ]);
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

/** A viewer that acks every frame and counts them, keeping none. */
export class SteadyViewer {
  frames = 0;
  bytes = 0;
  /** The largest binary message received, bytes. */
  largest = 0;
  /** Publish → received, ms, of every frame (same host, same clock). */
  readonly latencies: number[] = [];
  readonly closed: Promise<number>;
  #ws: WebSocket;

  private constructor(ws: WebSocket, closed: Promise<number>) {
    this.#ws = ws;
    this.closed = closed;
    ws.onmessage = (e) => {
      if (typeof e.data === "string") return;
      const bytes = new Uint8Array(e.data as ArrayBuffer);
      const len = new DataView(bytes.buffer).getUint32(0, true);
      const header = JSON.parse(
        new TextDecoder().decode(bytes.subarray(4, 4 + len)),
      );
      this.frames++;
      this.bytes += bytes.length;
      this.largest = Math.max(this.largest, bytes.length);
      if (typeof header.timestamp_us === "number") {
        this.latencies.push(
          performance.timeOrigin + performance.now() -
            header.timestamp_us / 1000,
        );
      }
      ws.send(
        JSON.stringify({ type: "ack", seq: header.seq, decode_queue_size: 0 }),
      );
    };
  }

  /** Connect and say hello. */
  static async open(url: string): Promise<SteadyViewer> {
    const c = await connect(url);
    const v = new SteadyViewer(c.ws, c.closed);
    c.ws.send(HELLO);
    return v;
  }

  /** Whether the socket is still open. */
  get open(): boolean {
    return this.#ws.readyState === WebSocket.OPEN;
  }

  /** Close and wait. */
  async close(): Promise<void> {
    if (this.#ws.readyState < WebSocket.CLOSING) this.#ws.close();
    await this.closed;
  }
}

/** Lines of a byte stream. */
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
