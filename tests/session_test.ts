// Session policy with a fake socket and a fake clock: handshake, auth, flow control, stills, events, stats, cleanup.
import assert from "node:assert/strict";
import type { Clock, TimerHandle } from "../src/clock.ts";
import type { VideoGroup } from "../src/encoders/video_group.ts";
import { EncodeGroup } from "../src/encoders/group.ts";
import type { DisplayEvent } from "../src/events.ts";
import { FramePool, type PooledFrame } from "../src/frame.ts";
import type { Logger, LogLevel } from "../src/log.ts";
import {
  type Authenticate,
  type DisplayOptions,
  type ResolvedDisplayOptions,
  resolveDisplayOptions,
} from "../src/options.ts";
import {
  type EnvelopeHeader,
  IMAGE_MIME,
  type ImageFormat,
  type NegotiationOffer,
  unpackEnvelope,
} from "../src/protocol.ts";
import {
  Session,
  type SessionHost,
  type ViewerSocket,
} from "../src/session.ts";

// ---------------------------------------------------------------------------
// Fakes

const EPOCH_US = 1_700_000_000_000_000;

/** A clock whose time moves only on `advance(ms)`, running due timers in order. */
class FakeClock implements Clock {
  #t = 0;
  #nextId = 1;
  #timers = new Map<number, { due: number; fn: () => void }>();

  now(): number {
    return this.#t;
  }

  epochMicros(): number {
    return EPOCH_US + Math.round(this.#t * 1000);
  }

  setTimeout(fn: () => void, ms: number): TimerHandle {
    const id = this.#nextId++;
    this.#timers.set(id, { due: this.#t + Math.max(0, ms), fn });
    return id;
  }

  clearTimeout(handle: TimerHandle): void {
    this.#timers.delete(handle as number);
  }

  /** Move time forward, firing every timer that falls due (earliest first). */
  advance(ms: number): void {
    const end = this.#t + ms;
    while (true) {
      let nextId = -1;
      let nextDue = Infinity;
      for (const [id, t] of this.#timers) {
        if (t.due <= end && t.due < nextDue) {
          nextDue = t.due;
          nextId = id;
        }
      }
      if (nextId < 0) break;
      const timer = this.#timers.get(nextId)!;
      this.#timers.delete(nextId);
      this.#t = timer.due;
      timer.fn();
    }
    this.#t = end;
  }

  /** Number of timers set and not yet fired or cleared. */
  get pending(): number {
    return this.#timers.size;
  }
}

/** Records what a session sends; `bufferedAmount` is settable. */
class FakeSocket implements ViewerSocket {
  readyState = 1;
  bufferedAmount = 0;
  sent: Array<string | Uint8Array> = [];
  closeCode: number | null = null;
  closeReason: string | null = null;

  send(data: string | Uint8Array<ArrayBuffer>): void {
    if (this.readyState !== 1) throw new Error("socket not open");
    this.sent.push(data);
  }

  close(code?: number, reason?: string): void {
    this.closeCode = code ?? null;
    this.closeReason = reason ?? null;
    this.readyState = 3;
  }

  /** Text messages, parsed. */
  texts(): Array<Record<string, unknown>> {
    return this.sent.filter((m): m is string => typeof m === "string").map((
      m,
    ) => JSON.parse(m));
  }

  /** Raw text messages. */
  rawTexts(): string[] {
    return this.sent.filter((m): m is string => typeof m === "string");
  }

  /** Binary frames, unpacked. */
  frames(): Array<{ header: EnvelopeHeader; payload: number[] }> {
    return this.sent.filter((m): m is Uint8Array => typeof m !== "string").map(
      (m) => {
        const { header, payload } = unpackEnvelope(m);
        return { header, payload: Array.from(payload) };
      },
    );
  }
}

/** A display stand-in: publishes frames into a real pool, real encode groups. */
class FakeHost implements SessionHost {
  readonly name = "test";
  readonly options: ResolvedDisplayOptions;
  width = 4;
  height = 2;
  readonly pool = new FramePool();
  readonly groups = new Map<string, EncodeGroup>();
  readonly events: DisplayEvent[] = [];
  readonly detached: Session[] = [];
  /** Every encode started: group key and frame version. */
  readonly encodes: Array<[string, number]> = [];
  h264Codec: string | null = null;
  isSettled = false;
  session: Session | null = null;
  version = 0;
  #latest: PooledFrame | null = null;
  #pumpScheduled = false;

  constructor(options: ResolvedDisplayOptions) {
    this.options = options;
  }

  latest(): PooledFrame | null {
    return this.#latest;
  }

  settled(): boolean {
    return this.isSettled;
  }

  group(format: ImageFormat, quality: number, still: boolean): EncodeGroup {
    const key = `${format}:${quality}:${still ? "still" : "live"}`;
    let g = this.groups.get(key);
    if (!g) {
      g = new EncodeGroup(
        key,
        IMAGE_MIME[format],
        async (f) => {
          this.encodes.push([key, f.version]);
          await Promise.resolve();
          return f.data.slice(0, 8);
        },
        this.pool,
        () => this.schedulePump(),
        this.options.logger,
      );
      this.groups.set(key, g);
    }
    return g;
  }

  offer(): Promise<NegotiationOffer> {
    return Promise.resolve({
      transport: this.options.transport,
      imageFormat: this.options.imageFormat,
      h264Codec: this.h264Codec,
    });
  }

  target(_step: number): { bitrate: number; fps: number } {
    return { bitrate: 1_000_000, fps: 30 };
  }

  video(_step: number): VideoGroup {
    throw new Error(
      "the fake host has no H.264 stream (tests/h264_test.ts covers it, on a real display)",
    );
  }

  videoStill(): EncodeGroup {
    throw new Error("the fake host has no H.264 stream");
  }

  pushEvent(ev: DisplayEvent): void {
    this.events.push(ev);
  }

  schedulePump(): void {
    if (this.#pumpScheduled) return;
    this.#pumpScheduled = true;
    queueMicrotask(() => {
      this.#pumpScheduled = false;
      this.session?.pump();
    });
  }

  detach(session: Session): void {
    this.detached.push(session);
  }

  /** Publish a frame whose every byte is its version number. */
  publish(): number {
    const v = ++this.version;
    const bytes = new Uint8Array(this.width * this.height * 4).fill(v & 0xff);
    const next = this.pool.take(
      bytes,
      this.width,
      this.height,
      4,
      v,
      this.options.clock.epochMicros(),
      this.options.pixelRatio,
    );
    if (this.#latest) this.pool.release(this.#latest);
    this.#latest = next;
    this.isSettled = false;
    this.schedulePump();
    return v;
  }
}

interface Rig {
  clock: FakeClock;
  socket: FakeSocket;
  host: FakeHost;
  session: Session;
  logs: Array<[LogLevel, string]>;
}

function rig(
  opts: DisplayOptions = {},
  extra: { authenticate?: Authenticate; id?: number; cookie?: string } = {},
): Rig {
  const clock = new FakeClock();
  const logs: Array<[LogLevel, string]> = [];
  const logger: Logger = (level, message) => logs.push([level, message]);
  const options = resolveDisplayOptions(
    { ...opts, clock, logger },
    "test",
    { logger, clock },
  );
  const host = new FakeHost(options);
  const socket = new FakeSocket();
  const headers = new Headers();
  if (extra.cookie) headers.set("cookie", extra.cookie);
  const session = new Session(extra.id ?? 1, host, socket, {
    request: new Request("http://localhost:8765/test", { headers }),
    remoteAddr: "127.0.0.1",
    authenticate: extra.authenticate,
  });
  host.session = session;
  return { clock, socket, host, session, logs };
}

/** Let every queued microtask (pumps, encodes) run. */
function flush(): Promise<void> {
  return new Promise((r) => setTimeout(r, 0));
}

function hello(
  session: Session,
  supported: string[] = ["image/jpeg", "image/png"],
  extra: Record<string, unknown> = {},
): void {
  session.receive(
    JSON.stringify({
      type: "hello",
      supported,
      device_pixel_ratio: 1,
      ...extra,
    }),
  );
}

function ack(session: Session, seq: number, queue = 0): void {
  session.receive(
    JSON.stringify({ type: "ack", seq, decode_queue_size: queue }),
  );
}

/** Publish one frame and let it be encoded and sent (if the window allows). */
async function publish(r: Rig): Promise<number> {
  const v = r.host.publish();
  await flush();
  return v;
}

function seqs(socket: FakeSocket): number[] {
  return socket.frames().map((f) => f.header.seq as number);
}

/** The version a frame payload came from (every byte is the version). */
function versions(socket: FakeSocket): number[] {
  return socket.frames().map((f) => f.payload[0]);
}

// ---------------------------------------------------------------------------
// Handshake

Deno.test("session: hello → config with the negotiated fields, hello timer cleared", async () => {
  const r = rig();
  r.session.opened();
  assert.equal(r.clock.pending, 1); // hello timer
  hello(r.session);
  await flush();
  assert.deepEqual(r.socket.rawTexts(), [
    '{"type":"config","transport":"image","width":4,"height":2,"coords":"frame-pixels","mime":"image/jpeg","max_inflight":2}',
  ]);
  assert.equal(r.session.isOpen, true);
  assert.equal(r.socket.closeCode, null);
  assert.equal(r.clock.pending, 0);
  r.clock.advance(60_000);
  assert.equal(r.socket.closeCode, null);
  const s = r.session.stats();
  assert.equal(s.transport, "image");
  assert.equal(s.format, "image/jpeg");
});

Deno.test("session: config carries pixel_ratio, chosen mime and max_inflight from options", async () => {
  const r = rig({ imageFormat: "webp", pixelRatio: 2, maxInflight: 3 });
  r.host.width = 640;
  r.host.height = 480;
  hello(r.session, ["image/jpeg", "image/webp"]);
  await flush();
  assert.deepEqual(r.socket.rawTexts(), [
    '{"type":"config","transport":"image","width":640,"height":480,"coords":"frame-pixels","pixel_ratio":2,"mime":"image/webp","max_inflight":3}',
  ]);
});

Deno.test("session: a frame published before hello is sent right after config", async () => {
  const r = rig();
  r.host.publish();
  await flush();
  assert.equal(r.socket.sent.length, 0);
  hello(r.session);
  await flush();
  assert.equal(typeof r.socket.sent[0], "string");
  assert.equal(r.socket.texts()[0].type, "config");
  const frames = r.socket.frames();
  assert.equal(frames.length, 1);
  assert.deepEqual(frames[0].header, {
    type: "image_frame",
    seq: 1,
    timestamp_us: EPOCH_US,
    width: 4,
    height: 2,
    mime: "image/jpeg",
  });
  assert.deepEqual(frames[0].payload, [1, 1, 1, 1, 1, 1, 1, 1]);
  assert.equal(r.session.needsKeyframe, false);
});

Deno.test("session: frame header carries the publish time and pixel_ratio when not 1", async () => {
  const r = rig({ pixelRatio: 1.5 });
  hello(r.session);
  await flush();
  r.clock.advance(2500);
  await publish(r);
  const [f] = r.socket.frames();
  assert.equal(f.header.timestamp_us, EPOCH_US + 2_500_000);
  assert.equal(f.header.pixel_ratio, 1.5);
});

Deno.test("session: first message not hello → close 1008, nothing sent", async () => {
  const r = rig();
  r.session.opened();
  ack(r.session, 1);
  await flush();
  assert.equal(r.socket.closeCode, 1008);
  assert.equal(r.socket.sent.length, 0);
  assert.equal(r.session.isClosed, true);
  assert.deepEqual(r.host.detached, [r.session]);
  assert.equal(r.clock.pending, 0);
});

Deno.test("session: unknown or dropped messages before hello do not close", async () => {
  const r = rig();
  r.session.receive('{"type":"telemetry"}');
  r.session.receive('{"type":"ack","seq":-1}');
  await flush();
  assert.equal(r.socket.closeCode, null);
  hello(r.session);
  await flush();
  assert.equal(r.session.isOpen, true);
});

Deno.test("session: binary message → close 1003 (before and after hello)", async () => {
  const a = rig();
  a.session.receive(new Uint8Array([1, 2, 3]));
  assert.equal(a.socket.closeCode, 1003);
  assert.equal(a.session.isClosed, true);

  const b = rig();
  hello(b.session);
  await flush();
  b.session.receive(new ArrayBuffer(4));
  assert.equal(b.socket.closeCode, 1003);
});

Deno.test("session: unparsable JSON → close 1007", () => {
  const r = rig();
  r.session.receive("{not json");
  assert.equal(r.socket.closeCode, 1007);
  assert.equal(r.session.isClosed, true);
});

Deno.test("session: oversized message → close 1008", async () => {
  const r = rig();
  hello(r.session);
  await flush();
  r.session.receive('{"type":"x","p":"' + "a".repeat(70_000) + '"}');
  assert.equal(r.socket.closeCode, 1008);
});

Deno.test("session: no common transport → close 1003 without config", async () => {
  const r = rig();
  r.session.opened();
  hello(r.session, ["image/gif", "webcodecs/h264-annexb"]);
  await flush();
  assert.equal(r.socket.closeCode, 1003);
  assert.equal(r.socket.sent.length, 0);
  assert.equal(r.session.isClosed, true);
  assert.equal(r.clock.pending, 0);
});

Deno.test("session: messages after close are ignored", async () => {
  const r = rig();
  hello(r.session);
  await flush();
  r.session.close(1000, "bye");
  const before = r.socket.sent.length;
  hello(r.session);
  r.session.receive("garbage");
  r.host.publish();
  await flush();
  assert.equal(r.socket.sent.length, before);
  assert.equal(r.socket.closeCode, 1000);
});

// ---------------------------------------------------------------------------
// Authentication

Deno.test("session: authenticate returning false → 4401 before any frame", async () => {
  const r = rig({}, { authenticate: () => false });
  r.host.publish(); // a frame is ready, it must not leak out
  await flush();
  r.session.opened();
  hello(r.session, ["image/jpeg"], { token: "nope" });
  await flush();
  assert.equal(r.socket.closeCode, 4401);
  assert.equal(r.socket.sent.length, 0);
  assert.equal(r.session.isClosed, true);
  assert.equal(r.clock.pending, 0);
});

Deno.test("session: authenticate throwing or rejecting → 4401", async () => {
  for (
    const hook of [
      () => {
        throw new Error("boom");
      },
      () => Promise.reject(new Error("nope")),
      async () => {
        await Promise.resolve();
        return 0;
      },
    ]
  ) {
    const r = rig({}, { authenticate: hook });
    r.host.publish();
    hello(r.session);
    await flush();
    assert.equal(r.socket.closeCode, 4401);
    assert.equal(r.socket.sent.length, 0);
  }
});

Deno.test("session: authenticate timing out (fake clock) → 4401", async () => {
  const r = rig(
    { authTimeout: 1, helloTimeout: 10 },
    { authenticate: () => new Promise<boolean>(() => {}) },
  );
  r.session.opened();
  hello(r.session);
  await flush();
  r.clock.advance(999);
  await flush();
  assert.equal(r.socket.closeCode, null);
  r.clock.advance(1);
  await flush();
  assert.equal(r.socket.closeCode, 4401);
  assert.equal(r.socket.sent.length, 0);
  assert.equal(r.clock.pending, 0);
});

Deno.test("session: a hanging authenticate with default timeouts closes 4401, not the hello timeout", async () => {
  // Defaults: helloTimeout 10 s, authTimeout 10 s. The hello arrived, so the
  // refusal is an authentication failure (4401), not "no hello in time" (1008).
  const r = rig({}, { authenticate: () => new Promise<boolean>(() => {}) });
  r.session.opened();
  r.clock.advance(100);
  hello(r.session);
  await flush();
  r.clock.advance(10_000);
  await flush();
  assert.equal(r.socket.closeCode, 4401);
  assert.equal(r.socket.sent.length, 0);
});

Deno.test("session: authenticate true → config; the hook sees token, stream, cookies", async () => {
  let seen: Parameters<Authenticate>[0] | null = null;
  const r = rig({}, {
    authenticate: (ctx) => {
      seen = ctx;
      return Promise.resolve("yes"); // any truthy value admits
    },
    cookie: "rfb=abc%20d; other=1",
  });
  hello(r.session, ["image/png"], { token: "t0k" });
  await flush();
  assert.equal(r.socket.closeCode, null);
  assert.equal(r.socket.texts()[0].type, "config");
  assert.equal(r.socket.texts()[0].mime, "image/png");
  assert.ok(seen);
  const ctx = seen as Parameters<Authenticate>[0];
  assert.equal(ctx.token, "t0k");
  assert.equal(ctx.stream, "test");
  assert.deepEqual(ctx.cookies, { rfb: "abc d", other: "1" });
  assert.equal(ctx.remoteAddr, "127.0.0.1");
  assert.equal(ctx.request.url, "http://localhost:8765/test");
});

Deno.test("session: messages received during auth are handled after admission", async () => {
  let admit!: (v: boolean) => void;
  const r = rig({}, {
    authenticate: () => new Promise<boolean>((res) => (admit = res)),
  });
  hello(r.session);
  r.session.receive(
    JSON.stringify({
      type: "set_viewport",
      width: 10,
      height: 20,
      pwidth: 20,
      pheight: 40,
      ratio: 2,
    }),
  );
  await flush();
  assert.equal(r.host.events.length, 0);
  assert.equal(r.socket.sent.length, 0);
  admit(true);
  await flush();
  assert.equal(r.socket.texts()[0].type, "config");
  assert.equal(r.host.events.length, 1);
  assert.equal(r.host.events[0].type, "resize");
});

Deno.test("session: hello timeout → 1008", () => {
  const r = rig({ helloTimeout: 5 });
  r.session.opened();
  r.clock.advance(4999);
  assert.equal(r.socket.closeCode, null);
  r.clock.advance(1);
  assert.equal(r.socket.closeCode, 1008);
  assert.equal(r.session.isClosed, true);
  assert.equal(r.clock.pending, 0);
});

// ---------------------------------------------------------------------------
// Flow control

Deno.test("session: with maxInflight 2 and no acks at most 2 frames are sent", async () => {
  const r = rig({ maxInflight: 2 });
  hello(r.session);
  await flush();
  for (let i = 0; i < 6; i++) await publish(r);
  assert.deepEqual(seqs(r.socket), [1, 2]);
  assert.deepEqual(versions(r.socket), [1, 2]);
  assert.equal(r.session.stats().inflight, 2);
  // frames that could not be sent were never encoded
  assert.deepEqual(r.host.encodes, [["jpeg:80:live", 1], ["jpeg:80:live", 2]]);
});

Deno.test("session: an ack opens the window and the newest frame is sent next", async () => {
  const r = rig({ maxInflight: 2 });
  hello(r.session);
  await flush();
  for (let i = 0; i < 6; i++) await publish(r); // v1, v2 sent; v3..v6 waiting
  assert.equal(r.session.stats().dropped, 0);
  ack(r.session, 1);
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2, 3]);
  assert.deepEqual(versions(r.socket), [1, 2, 6]);
  assert.equal(r.session.stats().dropped, 3); // v3, v4, v5 skipped
  assert.deepEqual(r.host.encodes.map(([, v]) => v), [1, 2, 6]);
  assert.equal(r.session.stats().inflight, 2);
  // window full again: nothing more until the next ack
  await publish(r);
  assert.equal(r.socket.frames().length, 3);
  ack(r.session, 2);
  await flush();
  assert.deepEqual(versions(r.socket), [1, 2, 6, 7]);
  assert.equal(r.session.stats().dropped, 3);
});

Deno.test("session: hello max_inflight sets this viewer's window and is echoed in config", async () => {
  const r = rig({ maxInflight: 2 });
  hello(r.session, ["image/jpeg"], { max_inflight: 1 });
  await flush();
  assert.equal(r.socket.texts()[0].max_inflight, 1);
  for (let i = 0; i < 3; i++) await publish(r);
  assert.deepEqual(seqs(r.socket), [1]);
  ack(r.session, 1);
  await flush();
  assert.deepEqual(versions(r.socket), [1, 3]);

  // A viewer may narrow the server's window, never widen it.
  const wide = rig({ maxInflight: 2 });
  hello(wide.session, ["image/jpeg"], { max_inflight: 4 });
  await flush();
  assert.equal(wide.socket.texts()[0].max_inflight, 2);
  for (let i = 0; i < 6; i++) await publish(wide);
  assert.deepEqual(seqs(wide.socket), [1, 2]);
});

Deno.test("session: acks are cumulative, unknown and repeated seqs are ignored", async () => {
  const r = rig({ maxInflight: 4 });
  hello(r.session);
  await flush();
  await publish(r);
  await publish(r);
  await publish(r);
  assert.deepEqual(seqs(r.socket), [1, 2, 3]);
  assert.equal(r.session.stats().inflight, 3);
  r.clock.advance(30);
  ack(r.session, 2, 1);
  let s = r.session.stats();
  assert.equal(s.inflight, 1);
  assert.equal(s.framesAcked, 1);
  assert.equal(s.rttMs, 30);
  assert.equal(s.decodeQueueSize, 1);
  ack(r.session, 99); // never sent
  ack(r.session, 1); // already settled by the cumulative ack
  ack(r.session, 2); // repeated
  s = r.session.stats();
  assert.equal(s.inflight, 1);
  assert.equal(s.framesAcked, 1);
  assert.equal(s.decodeQueueSize, 1);
  ack(r.session, 3);
  s = r.session.stats();
  assert.equal(s.inflight, 0);
  assert.equal(s.framesAcked, 2);
  assert.equal(s.framesSent, 3);
});

Deno.test("session: inflight_timeout clears the window and resends the current frame", async () => {
  const r = rig({ maxInflight: 2, inflightTimeout: 2 });
  hello(r.session);
  await flush();
  await publish(r);
  await publish(r);
  await publish(r); // v3 waits: window full
  assert.deepEqual(versions(r.socket), [1, 2]);
  r.clock.advance(1999);
  await flush();
  assert.equal(r.socket.frames().length, 2);
  r.clock.advance(1);
  await flush();
  // window cleared; the newest frame (v3) goes out as a fresh keyframe
  assert.deepEqual(seqs(r.socket), [1, 2, 3]);
  assert.deepEqual(versions(r.socket), [1, 2, 3]);
  assert.equal(r.session.stats().inflight, 1);
  assert.ok(r.logs.some(([l, m]) => l === "info" && /no ack for 2s/.test(m)));
  // no new publish: the next timeout sends the same current frame again
  r.clock.advance(2000);
  await flush();
  assert.deepEqual(versions(r.socket), [1, 2, 3, 3]);
  assert.deepEqual(seqs(r.socket), [1, 2, 3, 4]);
  assert.equal(r.session.stats().inflight, 1);
  assert.equal(r.clock.pending, 1); // the re-armed inflight timer only
});

Deno.test("session: inflight timer is re-armed from the oldest unacked frame", async () => {
  const r = rig({ maxInflight: 2, inflightTimeout: 2 });
  hello(r.session);
  await flush();
  await publish(r); // seq 1 at t=0
  r.clock.advance(500);
  await publish(r); // seq 2 at t=500
  r.clock.advance(500);
  ack(r.session, 1); // t=1000: oldest is now seq 2 (sent at 500) → due at 2500
  await flush();
  r.clock.advance(1499); // t=2499
  await flush();
  assert.equal(r.session.stats().inflight, 1);
  assert.equal(r.socket.frames().length, 2);
  r.clock.advance(1); // t=2500
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2, 3]);
  assert.deepEqual(versions(r.socket), [1, 2, 2]);
});

Deno.test("session: all acked → no inflight timer pending", async () => {
  const r = rig();
  hello(r.session);
  await flush();
  await publish(r);
  assert.equal(r.clock.pending, 1);
  ack(r.session, 1);
  assert.equal(r.clock.pending, 0);
  r.clock.advance(10_000);
  await flush();
  assert.equal(r.socket.frames().length, 1);
});

Deno.test("session: decoder_reset clears the window and resends the current frame", async () => {
  const r = rig({ maxInflight: 2 });
  hello(r.session);
  await flush();
  await publish(r);
  await publish(r);
  assert.equal(r.session.stats().inflight, 2);
  r.session.receive('{"type":"decoder_reset"}');
  assert.equal(r.session.needsKeyframe, true);
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2, 3]);
  assert.deepEqual(versions(r.socket), [1, 2, 2]);
  assert.equal(r.session.stats().inflight, 1);
  assert.equal(r.session.needsKeyframe, false);
  // acks for the forgotten frames are ignored
  ack(r.session, 1);
  assert.equal(r.session.stats().framesAcked, 0);
  assert.equal(r.session.stats().inflight, 1);
});

Deno.test("session: request_keyframe resends the current frame (within the window)", async () => {
  const r = rig({ maxInflight: 2 });
  hello(r.session);
  await flush();
  await publish(r);
  ack(r.session, 1);
  await flush();
  assert.deepEqual(seqs(r.socket), [1]);
  r.session.receive('{"type":"request_keyframe","reason":"decode error"}');
  assert.equal(r.session.needsKeyframe, true);
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2]);
  assert.deepEqual(versions(r.socket), [1, 1]);
  assert.equal(r.session.needsKeyframe, false);
  // the resend reuses the group's encode rather than encoding again
  assert.deepEqual(r.host.encodes, [["jpeg:80:live", 1]]);
});

Deno.test("session: request_keyframe with a full window waits for an ack", async () => {
  const r = rig({ maxInflight: 2 });
  hello(r.session);
  await flush();
  await publish(r);
  await publish(r);
  r.session.receive('{"type":"request_keyframe"}');
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2]);
  ack(r.session, 2);
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2, 3]);
  assert.deepEqual(versions(r.socket), [1, 2, 2]);
});

Deno.test("session: still after settle sends a PNG frame once", async () => {
  const r = rig({ stillAfter: 0.5 });
  hello(r.session);
  await flush();
  await publish(r);
  ack(r.session, 1);
  await flush();
  assert.equal(r.socket.frames().length, 1);
  r.host.isSettled = true;
  r.host.schedulePump();
  await flush();
  const frames = r.socket.frames();
  assert.equal(frames.length, 2);
  assert.equal(frames[1].header.mime, "image/png");
  assert.equal(frames[1].header.seq, 2);
  assert.deepEqual(frames[1].payload, [1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(r.host.encodes, [["jpeg:80:live", 1], ["png:100:still", 1]]);
  // once only
  ack(r.session, 2);
  r.host.schedulePump();
  await flush();
  r.session.pump();
  await flush();
  assert.equal(r.socket.frames().length, 2);
  // a new frame then a new rest: one more live frame and one more still
  await publish(r);
  assert.equal(r.socket.frames()[2].header.mime, "image/jpeg");
  r.host.isSettled = true;
  r.host.schedulePump();
  await flush();
  const after = r.socket.frames();
  assert.equal(after.length, 4);
  assert.equal(after[3].header.mime, "image/png");
  assert.deepEqual(versions(r.socket), [1, 1, 2, 2]);
});

Deno.test("session: still is not sent to a png-format viewer", async () => {
  const r = rig({ stillAfter: 0.5 });
  hello(r.session, ["image/png"]);
  await flush();
  await publish(r);
  ack(r.session, 1);
  r.host.isSettled = true;
  r.host.schedulePump();
  await flush();
  assert.equal(r.socket.frames().length, 1);
  assert.equal(r.socket.frames()[0].header.mime, "image/png");
  assert.equal(r.host.groups.has("png:100:still"), false);
});

Deno.test("session: still is not sent when stillAfter is false", async () => {
  const r = rig({ stillAfter: false });
  hello(r.session);
  await flush();
  await publish(r);
  ack(r.session, 1);
  r.host.isSettled = true;
  r.host.schedulePump();
  await flush();
  assert.equal(r.socket.frames().length, 1);
});

Deno.test("session: bufferedAmount over the limit blocks sending", async () => {
  const r = rig({ maxBufferedBytes: 1024 });
  hello(r.session);
  await flush();
  r.socket.bufferedAmount = 5000;
  await publish(r);
  assert.equal(r.socket.frames().length, 0);
  assert.deepEqual(r.host.encodes, []); // not even encoded
  r.socket.bufferedAmount = 1024; // at the limit is fine
  r.host.schedulePump();
  await flush();
  assert.deepEqual(versions(r.socket), [1]);
  assert.equal(r.session.stats().bufferedAmount, 1024);
});

Deno.test("session: a socket that is no longer open gets no frames", async () => {
  const r = rig();
  hello(r.session);
  await flush();
  r.socket.readyState = 2; // closing
  await publish(r);
  assert.equal(r.socket.frames().length, 0);
});

// ---------------------------------------------------------------------------
// Events, resize, renegotiation

Deno.test("session: set_viewport → a resize event with the viewer id", async () => {
  const r = rig({}, { id: 7 });
  hello(r.session);
  await flush();
  r.clock.advance(2500);
  r.session.receive(
    JSON.stringify({
      type: "set_viewport",
      width: 800,
      height: 600,
      pwidth: 1600,
      pheight: 1200,
      ratio: 2,
    }),
  );
  assert.deepEqual(r.host.events, [{
    type: "resize",
    width: 800,
    height: 600,
    pwidth: 1600,
    pheight: 1200,
    ratio: 2,
    timestamp: 2.5,
    viewer: 7,
  }]);
});

Deno.test("session: input events are pushed with the viewer id; bad ones dropped", async () => {
  const r = rig({}, { id: 42 });
  hello(r.session);
  await flush();
  r.session.receive(JSON.stringify({
    type: "event",
    event: {
      type: "pointer_down",
      x: 3,
      y: 1,
      button: 1,
      buttons: [1],
      modifiers: ["Alt"],
      timestamp: 9,
      junk: "x",
    },
  }));
  r.session.receive(JSON.stringify({
    type: "event",
    event: { type: "key_down", key: "a", code: "KeyA" },
  }));
  r.session.receive(JSON.stringify({
    type: "event",
    event: { type: "pointer_move", x: "1", y: 1 },
  }));
  assert.equal(r.socket.closeCode, null);
  assert.deepEqual(r.host.events, [
    {
      type: "pointer_down",
      x: 3,
      y: 1,
      button: 1,
      buttons: [1],
      modifiers: ["Alt"],
      timestamp: 9,
      viewer: 42,
    },
    {
      type: "key_down",
      key: "a",
      code: "KeyA",
      modifiers: [],
      timestamp: 0,
      viewer: 42,
    },
  ]);
});

Deno.test("session: warnings for dropped messages are capped at 5", async () => {
  const r = rig();
  hello(r.session);
  await flush();
  for (let i = 0; i < 20; i++) {
    r.session.receive('{"type":"event","event":{"type":"nope"}}');
  }
  assert.equal(r.socket.closeCode, null);
  const warns = r.logs.filter(([l, m]) => l === "warn" && /dropped/.test(m));
  assert.equal(warns.length, 5);
});

Deno.test("session: resized() sends a new config and restarts with a keyframe", async () => {
  const r = rig();
  hello(r.session);
  await flush();
  await publish(r);
  assert.equal(r.session.stats().inflight, 1);
  r.host.width = 8;
  r.host.height = 6;
  r.session.resized();
  assert.equal(r.session.needsKeyframe, true);
  assert.equal(r.session.stats().inflight, 0);
  await flush(); // the new config follows a (re)negotiation
  const configs = r.socket.texts().filter((m) => m.type === "config");
  assert.equal(configs.length, 2);
  assert.equal(configs[1].width, 8);
  assert.equal(configs[1].height, 6);
});

Deno.test("session: a second hello renegotiates and sends a new config", async () => {
  const r = rig();
  hello(r.session, ["image/jpeg", "image/png"]);
  await flush();
  await publish(r);
  hello(r.session, ["image/png"]);
  await flush();
  const configs = r.socket.texts().filter((m) => m.type === "config");
  assert.deepEqual(configs.map((c) => c.mime), ["image/jpeg", "image/png"]);
  const frames = r.socket.frames();
  assert.deepEqual(frames.map((f) => f.header.mime), [
    "image/jpeg",
    "image/png",
  ]);
  assert.deepEqual(frames.map((f) => f.header.seq), [1, 2]);
});

// ---------------------------------------------------------------------------
// Stats

Deno.test("session: stats messages when hello asks stats_interval", async () => {
  const r = rig();
  hello(r.session, ["image/jpeg"], { stats_interval: 1 });
  await flush();
  await publish(r); // t=0
  const frameBytes = (r.socket.sent.at(-1) as Uint8Array).length;
  r.clock.advance(50);
  ack(r.session, 1, 2); // rtt 50
  r.clock.advance(949);
  assert.equal(r.socket.texts().filter((m) => m.type === "stats").length, 0);
  r.clock.advance(1); // t=1000
  const stats = r.socket.texts().filter((m) => m.type === "stats");
  assert.equal(stats.length, 1);
  const s = stats[0];
  assert.deepEqual(Object.keys(s), [
    "type",
    "rtt_ms",
    "fps_sent",
    "fps_acked",
    "bitrate_bps",
    "encode_ms",
    "decode_queue_size",
    "dropped",
  ]);
  assert.equal(s.rtt_ms, 50);
  assert.equal(s.fps_sent, 1);
  assert.equal(s.fps_acked, 1);
  assert.equal(s.bitrate_bps, frameBytes * 8);
  assert.equal(typeof s.encode_ms, "number");
  assert.ok((s.encode_ms as number) >= 0);
  assert.equal(s.decode_queue_size, 2);
  assert.equal(s.dropped, 0);
  // next tick, a second later: nothing sent or acked in the last second
  r.clock.advance(1000);
  const again = r.socket.texts().filter((m) => m.type === "stats");
  assert.equal(again.length, 2);
  assert.equal(again[1].fps_sent, 0);
  assert.equal(again[1].fps_acked, 0);
  assert.equal(again[1].bitrate_bps, 0);
  assert.equal(again[1].rtt_ms, 50);
});

Deno.test("session: no stats unless asked; server statsInterval applies to all", async () => {
  const a = rig();
  hello(a.session);
  await flush();
  a.clock.advance(120_000);
  assert.equal(a.socket.texts().filter((m) => m.type === "stats").length, 0);
  assert.equal(a.clock.pending, 0);

  const b = rig({ statsInterval: 2 });
  hello(b.session, ["image/jpeg"], { stats_interval: 1 }); // the larger wins
  await flush();
  b.clock.advance(1999);
  assert.equal(b.socket.texts().filter((m) => m.type === "stats").length, 0);
  b.clock.advance(1);
  assert.equal(b.socket.texts().filter((m) => m.type === "stats").length, 1);
});

// ---------------------------------------------------------------------------
// Cleanup

Deno.test("session: close clears every timer (hello, inflight, stats)", async () => {
  const r = rig();
  r.session.opened();
  hello(r.session, ["image/jpeg"], { stats_interval: 1 });
  await flush();
  await publish(r);
  assert.equal(r.clock.pending, 2); // stats + inflight
  r.session.close(1000, "bye");
  assert.equal(r.clock.pending, 0);
  assert.equal(r.socket.closeCode, 1000);
  assert.equal(r.socket.closeReason, "bye");
  assert.equal(r.session.isClosed, true);
  assert.deepEqual(r.host.detached, [r.session]);
  assert.equal(r.session.stats().inflight, 0);
  // closing twice is harmless and detaches once
  r.session.close(1001, "again");
  r.session.closed();
  assert.equal(r.socket.closeCode, 1000);
  assert.equal(r.host.detached.length, 1);
});

Deno.test("session: remote close (closed()) clears every timer", async () => {
  const r = rig();
  r.session.opened();
  assert.equal(r.clock.pending, 1);
  r.session.closed();
  assert.equal(r.clock.pending, 0);
  assert.equal(r.socket.closeCode, null); // we did not close it ourselves
  r.clock.advance(60_000);
  await flush();
  assert.equal(r.socket.closeCode, null);
});

Deno.test("session: close during a pending authenticate leaves no timer behind", async () => {
  const r = rig(
    { authTimeout: 5 },
    { authenticate: () => new Promise<boolean>(() => {}) },
  );
  r.session.opened();
  hello(r.session);
  await flush();
  r.session.closed(); // the viewer went away while the hook runs
  assert.equal(r.session.isClosed, true);
  assert.equal(r.clock.pending, 0);
});

Deno.test("session: a long-lived session with frames, acks and stats ends with no timers", async () => {
  const r = rig({ maxInflight: 2, statsInterval: 0.5 });
  r.session.opened();
  hello(r.session);
  await flush();
  for (let i = 0; i < 10; i++) {
    await publish(r);
    r.clock.advance(100);
    const s = seqs(r.socket);
    if (i % 3 === 0 && s.length) ack(r.session, s.at(-1)!);
    await flush();
  }
  assert.ok(r.socket.frames().length >= 2);
  assert.ok(r.socket.texts().some((m) => m.type === "stats"));
  r.session.closed();
  assert.equal(r.clock.pending, 0);
});

Deno.test("session: a socket that refuses a frame closes the viewer with 1011, no retry loop", async () => {
  const r = rig();
  hello(r.session);
  await flush();
  let attempts = 0;
  const send = r.socket.send.bind(r.socket);
  r.socket.send = (data) => {
    if (typeof data !== "string") {
      attempts++;
      throw new Error("refused");
    }
    send(data);
  };
  await publish(r);
  await flush();
  assert.equal(attempts, 1);
  assert.equal(r.socket.closeCode, 1011);
  assert.equal(r.session.isClosed, true);
});
