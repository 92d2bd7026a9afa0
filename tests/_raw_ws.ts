/**
 * A WebSocket client written by hand over a raw TCP socket, for tests that
 * need what a browser or Deno's `WebSocket` will not do: stop reading at the
 * TCP level (a stalled viewer), tear a connection mid-handshake or
 * mid-frame, or write arbitrary frames.
 *
 * @module
 */

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Opcodes of RFC 6455. */
export const OP = {
  continuation: 0x0,
  text: 0x1,
  binary: 0x2,
  close: 0x8,
  ping: 0x9,
  pong: 0xa,
} as const;

/** One frame read from the server. */
export interface RawFrame {
  /** The frame's opcode. */
  opcode: number;
  /** Whether FIN is set. */
  fin: boolean;
  /** The (unmasked) payload. */
  payload: Uint8Array;
}

/** The bytes of an HTTP/1.1 upgrade request. */
export function upgradeRequest(
  port: number,
  path = "/",
  headers: Record<string, string> = {},
  key = randomKey(),
): Uint8Array {
  const lines = [
    `GET ${path} HTTP/1.1`,
    `host: 127.0.0.1:${port}`,
    "upgrade: websocket",
    "connection: Upgrade",
    "sec-websocket-version: 13",
    `sec-websocket-key: ${key}`,
    ...Object.entries(headers).map(([k, v]) => `${k}: ${v}`),
  ];
  return enc.encode(lines.join("\r\n") + "\r\n\r\n");
}

/** A fresh `Sec-WebSocket-Key`. */
export function randomKey(): string {
  const b = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...b));
}

/**
 * One client frame, masked as RFC 6455 requires of clients (or not, when
 * `mask` is false, to break the rules on purpose).
 */
export function clientFrame(
  opcode: number,
  payload: Uint8Array,
  { fin = true, mask = true } = {},
): Uint8Array {
  const n = payload.length;
  const lenBytes = n < 126 ? 0 : n < 65536 ? 2 : 8;
  const out = new Uint8Array(2 + lenBytes + (mask ? 4 : 0) + n);
  out[0] = (fin ? 0x80 : 0) | opcode;
  let p = 2;
  if (lenBytes === 0) out[1] = n;
  else if (lenBytes === 2) {
    out[1] = 126;
    out[2] = n >> 8;
    out[3] = n & 255;
    p = 4;
  } else {
    out[1] = 127;
    new DataView(out.buffer).setBigUint64(2, BigInt(n));
    p = 10;
  }
  if (mask) {
    out[1] |= 0x80;
    const key = crypto.getRandomValues(new Uint8Array(4));
    out.set(key, p);
    p += 4;
    for (let i = 0; i < n; i++) out[p + i] = payload[i] ^ key[i & 3];
  } else {
    out.set(payload, p);
  }
  return out;
}

/** A WebSocket over a raw TCP connection, driven by hand. */
export class RawSocket {
  readonly conn: Deno.TcpConn;
  #buf = new Uint8Array(0);
  #closed = false;

  private constructor(conn: Deno.TcpConn) {
    this.conn = conn;
  }

  /** Open a TCP connection (no handshake yet). */
  static async connect(port: number): Promise<RawSocket> {
    const conn = await Deno.connect({ hostname: "127.0.0.1", port });
    return new RawSocket(conn);
  }

  /**
   * Connect and upgrade; resolves with the socket once the server answered
   * 101, or rejects with the status line it sent instead.
   */
  static async open(
    port: number,
    path = "/",
    headers: Record<string, string> = {},
  ): Promise<RawSocket> {
    const s = await RawSocket.connect(port);
    try {
      await s.write(upgradeRequest(port, path, headers));
      const head = await s.readHead();
      if (!/^HTTP\/1\.1 101/.test(head)) {
        throw new Error(`upgrade refused: ${head.split("\r\n")[0]}`);
      }
      return s;
    } catch (err) {
      s.abort();
      throw err;
    }
  }

  /** Write bytes; false once the connection is gone. */
  async write(bytes: Uint8Array): Promise<boolean> {
    try {
      let off = 0;
      while (off < bytes.length) {
        off += await this.conn.write(bytes.subarray(off));
      }
      return true;
    } catch {
      return false;
    }
  }

  /** Send a masked text frame. */
  sendText(text: string): Promise<boolean> {
    return this.write(clientFrame(OP.text, enc.encode(text)));
  }

  /** Send a JSON message as a masked text frame. */
  sendJson(msg: unknown): Promise<boolean> {
    return this.sendText(JSON.stringify(msg));
  }

  async #fill(): Promise<boolean> {
    const chunk = new Uint8Array(64 * 1024);
    let n: number | null;
    try {
      n = await this.conn.read(chunk);
    } catch {
      n = null;
    }
    if (n === null) return false;
    const next = new Uint8Array(this.#buf.length + n);
    next.set(this.#buf);
    next.set(chunk.subarray(0, n), this.#buf.length);
    this.#buf = next;
    return true;
  }

  /** Read the HTTP response head (up to the blank line); the rest stays buffered. */
  async readHead(): Promise<string> {
    while (true) {
      const text = dec.decode(this.#buf);
      const end = text.indexOf("\r\n\r\n");
      if (end >= 0) {
        const headBytes = enc.encode(text.slice(0, end + 4)).length;
        this.#buf = this.#buf.slice(headBytes);
        return text.slice(0, end);
      }
      if (!(await this.#fill())) return dec.decode(this.#buf);
    }
  }

  /** Read some raw bytes (at most `max`); null at the end of the stream. */
  async readSome(max = 65536): Promise<Uint8Array | null> {
    if (this.#buf.length === 0 && !(await this.#fill())) return null;
    const out = this.#buf.slice(0, max);
    this.#buf = this.#buf.slice(out.length);
    return out;
  }

  /** Read one server frame; null when the connection ends first. */
  async readFrame(): Promise<RawFrame | null> {
    while (true) {
      const b = this.#buf;
      if (b.length >= 2) {
        let len = b[1] & 0x7f;
        let p = 2;
        if (len === 126 && b.length >= 4) {
          len = (b[2] << 8) | b[3];
          p = 4;
        } else if (len === 127 && b.length >= 10) {
          len = Number(new DataView(b.buffer, b.byteOffset).getBigUint64(2));
          p = 10;
        } else if (len >= 126) len = -1;
        if (len >= 0 && b.length >= p + len) {
          const frame = {
            opcode: b[0] & 0x0f,
            fin: (b[0] & 0x80) !== 0,
            payload: b.slice(p, p + len),
          };
          this.#buf = b.slice(p + len);
          return frame;
        }
      }
      if (!(await this.#fill())) return null;
    }
  }

  /**
   * Read frames until a close frame; its code, or null if the connection
   * ended without one. `onFrame` sees every other frame.
   */
  async readUntilClose(
    onFrame?: (f: RawFrame) => void,
  ): Promise<{ code: number | null; reason: string }> {
    while (true) {
      const f = await this.readFrame();
      if (!f) return { code: null, reason: "" };
      if (f.opcode === OP.close) {
        const code = f.payload.length >= 2
          ? (f.payload[0] << 8) | f.payload[1]
          : null;
        return { code, reason: dec.decode(f.payload.subarray(2)) };
      }
      onFrame?.(f);
    }
  }

  /** Drop the TCP connection at once (no close handshake). */
  abort(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      this.conn.close();
    } catch { /* already closed */ }
  }
}
