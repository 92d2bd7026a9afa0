// Session policy with a fake socket and a fake clock against a real Hub:
// handshake, auth, flow control, stills, events, stats, cleanup, and the
// video keyframe gate with scripted H.264 encoders (no codec).
import assert from "node:assert/strict";
import type { Clock, TimerHandle } from "../src/clock.ts";
import { nalTypes } from "../src/encoders/annexb.ts";
import type { H264Settings, RawPicture } from "../src/encoders/h264.ts";
import type { VideoEncoder } from "../src/encoders/video_encoder.ts";
import type { DisplayEvent } from "../src/events.ts";
import { Hub } from "../src/hub/hub.ts";
import type { H264Source } from "../src/hub/video_tracks.ts";
import type { Logger, LogLevel } from "../src/log.ts";
import {
  type Authenticate,
  type DisplayOptions,
  resolveDisplayOptions,
} from "../src/options.ts";
import {
  CAP_H264,
  type EnvelopeHeader,
  unpackEnvelope,
} from "../src/protocol.ts";
import type { Session } from "../src/session/session.ts";
import type { ViewerSocket } from "../src/session/types.ts";

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

  /** Raw text messages, without `presence` and `control` (see sharing_test.ts). */
  rawTexts(): string[] {
    return this.sent.filter((m): m is string =>
      typeof m === "string" && !/^\{"type":"(presence|control)"/.test(m)
    );
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

// Fake Annex B access units: SPS (profile, constraints, level) + PPS, then an
// IDR slice (NAL 5) or a delta slice (NAL 1) whose last byte is the frame's
// version. The still encoder's SPS says High profile, so its codec string
// differs from the stream's.
const SPS = [0, 0, 0, 1, 0x67, 0x42, 0xc0, 0x1f, 0xda];
const STILL_SPS = [0, 0, 0, 1, 0x67, 0x64, 0x00, 0x28, 0xac];
const PPS = [0, 0, 0, 1, 0x68, 0xce, 0x3c, 0x80];
const CODEC = "avc1.42C01F";
const STILL_CODEC = "avc1.640028";

/** One call of a scripted encoder's `encode`. */
interface EncodeCall {
  /** Whether the encoder was opened as the still encoder. */
  still: boolean;
  /** The frame version (every byte of a test frame is its version). */
  version: number;
  /** Whether an IDR was asked for. */
  keyframe: boolean;
  /** Fake clock time of the call. */
  at: number;
}

/**
 * Scripted H.264 encoders: `open()` gives an encoder that returns a fake
 * Annex B unit for every picture (an IDR when asked for one, else a delta),
 * and every open and encode is recorded. `available: false` makes H.264
 * unavailable, as on a machine without an encoder.
 */
class ScriptedH264 implements H264Source {
  readonly opened: H264Settings[] = [];
  readonly calls: EncodeCall[] = [];
  readonly codecAsked: H264Settings[] = [];
  #clock: Clock;
  #available: boolean;

  constructor(clock: Clock, available: boolean) {
    this.#clock = clock;
    this.#available = available;
  }

  available(): Promise<{ ok: boolean; reason: string }> {
    return Promise.resolve(
      this.#available
        ? { ok: true, reason: "" }
        : { ok: false, reason: "no H.264 encoder in this test" },
    );
  }

  codec(settings: H264Settings): Promise<string> {
    this.codecAsked.push(settings);
    return Promise.resolve(CODEC);
  }

  open(settings: H264Settings): Promise<VideoEncoder> {
    this.opened.push(settings);
    const still = settings.still === true;
    const calls = this.calls;
    const clock = this.#clock;
    return Promise.resolve({
      codec: still ? STILL_CODEC : CODEC,
      encode(picture: RawPicture, keyframe: boolean) {
        const version = picture.data[0];
        calls.push({ still, version, keyframe, at: clock.now() });
        const data = keyframe
          ? [...(still ? STILL_SPS : SPS), ...PPS, 0, 0, 0, 1, 0x65, version]
          : [0, 0, 0, 1, 0x41, version];
        return Promise.resolve({ data: new Uint8Array(data), keyframe });
      },
      close: () => Promise.resolve(),
    });
  }

  /** The encodes of the shared stream (not the still encoder's), as `v<version><I|P>@<ms>`. */
  stream(): string[] {
    return this.calls.filter((c) => !c.still).map((c) =>
      `v${c.version}${c.keyframe ? "I" : "P"}@${c.at}`
    );
  }
}

interface Viewer {
  socket: FakeSocket;
  session: Session;
}

interface Rig extends Viewer {
  clock: FakeClock;
  hub: Hub;
  h264: ScriptedH264;
  logs: Array<[LogLevel, string]>;
  /** Every image encode: `format:quality:still|live` and frame version. */
  encodes: Array<[string, number]>;
  /** Input events handed to the app. */
  events: DisplayEvent[];
  /** Sessions that left the hub, once per call. */
  detached: Session[];
  /** The picture tracks sessions asked the hub for, as `format:quality:still|live`. */
  tracks: string[];
}

interface RigExtra {
  authenticate?: Authenticate;
  cookie?: string;
  /** Whether H.264 can be had (default: no, images only). */
  h264?: boolean;
}

/**
 * A real hub on a fake clock with a recording image encoder and scripted
 * H.264 encoders, and one session on a fake socket. The still is off unless
 * a test sets `stillAfter`: with it on, the hub arms its own rest timer on
 * the fake clock, and advancing the clock past it sends the still.
 */
function rig(opts: DisplayOptions = {}, extra: RigExtra = {}): Rig {
  const clock = new FakeClock();
  const logs: Array<[LogLevel, string]> = [];
  const logger: Logger = (level, message) => logs.push([level, message]);
  const encodes: Array<[string, number]> = [];
  const options = resolveDisplayOptions(
    {
      stillAfter: false,
      adaptive: false, // these tests script the mechanics; adaptation has its own
      ...opts,
      clock,
      logger,
      imageEncoder: async (f, { format, quality, still }) => {
        encodes.push([
          `${format}:${quality}:${still ? "still" : "live"}`,
          f.version,
        ]);
        await Promise.resolve();
        return f.data.slice(0, 8);
      },
    },
    "test",
    { logger, clock },
  );
  const events: DisplayEvent[] = [];
  const h264 = new ScriptedH264(clock, extra.h264 ?? false);
  const hub = new Hub({
    name: "test",
    options,
    width: 4,
    height: 2,
    input: (ev) => events.push(ev),
    h264,
  });
  // Spies on what sessions ask of the hub; the hub still does it.
  const detached: Session[] = [];
  const leave = hub.leave.bind(hub);
  hub.leave = (s) => {
    detached.push(s as Session);
    leave(s);
  };
  const tracks: string[] = [];
  const pictures = hub.pictures.bind(hub);
  hub.pictures = (format, quality, still) => {
    tracks.push(`${format}:${quality}:${still ? "still" : "live"}`);
    return pictures(format, quality, still);
  };
  const first = join({ hub }, extra);
  return {
    ...first,
    clock,
    hub,
    h264,
    logs,
    encodes,
    events,
    detached,
    tracks,
  };
}

/** Another viewer of the rig's hub. */
function join(
  r: Pick<Rig, "hub">,
  extra: { authenticate?: Authenticate; cookie?: string } = {},
): Viewer {
  const socket = new FakeSocket();
  const headers = new Headers();
  if (extra.cookie) headers.set("cookie", extra.cookie);
  const session = r.hub.accept(socket, {
    request: new Request("http://localhost:8765/test", { headers }),
    remoteAddr: "127.0.0.1",
    authenticate: extra.authenticate,
  });
  return { socket, session };
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

/** Publish a frame whose every byte is its version number; returns the version. */
function publishFrame(r: Pick<Rig, "hub">): number {
  const v = r.hub.stats().framesPublished + 1;
  const { width, height } = r.hub.size();
  const bytes = new Uint8Array(width * height * 4).fill(v & 0xff);
  r.hub.publish({ bytes, channels: 4 }, null, r.hub.options.pixelRatio);
  assert.equal(r.hub.newest(), v);
  return v;
}

/** Publish one frame and let it be encoded and sent (if the window allows). */
async function publish(r: Pick<Rig, "hub">): Promise<number> {
  const v = publishFrame(r);
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

/** Whether the session is admitted and configured (it has a transport). */
function isOpen(v: Viewer): boolean {
  return v.session.transport !== null && v.socket.closeCode === null;
}

/** The rig's only viewer ended: it left the hub, once, and has no transport. */
function assertEnded(r: Rig): void {
  assert.deepEqual(r.detached, [r.session]);
  assert.equal(r.hub.viewers, 0);
  assert.equal(r.session.transport, null);
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
    '{"type":"config","transport":"image","width":4,"height":2,"coords":"frame-pixels","mime":"image/jpeg","max_inflight":2,"input":["clipboard","text_input","gamepad"],"max_clipboard_bytes":65536}',
  ]);
  assert.ok(isOpen(r));
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
  r.hub.resize(640, 480);
  hello(r.session, ["image/jpeg", "image/webp"]);
  await flush();
  assert.deepEqual(r.socket.rawTexts(), [
    '{"type":"config","transport":"image","width":640,"height":480,"coords":"frame-pixels","pixel_ratio":2,"mime":"image/webp","max_inflight":3,"input":["clipboard","text_input","gamepad"],"max_clipboard_bytes":65536}',
  ]);
});

Deno.test("session: a frame published before hello is sent right after config", async () => {
  const r = rig();
  publishFrame(r);
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
  // nothing more is owed: another pass sends nothing
  r.hub.wake();
  await flush();
  assert.equal(r.socket.frames().length, 1);
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
  assertEnded(r);
  assert.deepEqual(r.detached, [r.session]);
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
  assert.ok(isOpen(r));
});

Deno.test("session: binary message → close 1003 (before and after hello)", async () => {
  const a = rig();
  a.session.receive(new Uint8Array([1, 2, 3]));
  assert.equal(a.socket.closeCode, 1003);
  assertEnded(a);

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
  assertEnded(r);
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
  assertEnded(r);
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
  publishFrame(r);
  await flush();
  assert.equal(r.socket.sent.length, before);
  assert.equal(r.socket.closeCode, 1000);
});

// ---------------------------------------------------------------------------
// Authentication

Deno.test("session: authenticate returning false → 4401 before any frame", async () => {
  const r = rig({}, { authenticate: () => false });
  publishFrame(r); // a frame is ready, it must not leak out
  await flush();
  r.session.opened();
  hello(r.session, ["image/jpeg"], { token: "nope" });
  await flush();
  assert.equal(r.socket.closeCode, 4401);
  assert.equal(r.socket.sent.length, 0);
  assertEnded(r);
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
    publishFrame(r);
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
  assert.equal(r.events.length, 0);
  assert.equal(r.socket.sent.length, 0);
  admit(true);
  await flush();
  assert.equal(r.socket.texts()[0].type, "config");
  assert.equal(r.events.length, 1);
  assert.equal(r.events[0].type, "resize");
});

Deno.test("session: hello timeout → 1008", () => {
  const r = rig({ helloTimeout: 5 });
  r.session.opened();
  r.clock.advance(4999);
  assert.equal(r.socket.closeCode, null);
  r.clock.advance(1);
  assert.equal(r.socket.closeCode, 1008);
  assertEnded(r);
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
  assert.deepEqual(r.encodes, [["jpeg:80:live", 1], ["jpeg:80:live", 2]]);
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
  assert.deepEqual(r.encodes.map(([, v]) => v), [1, 2, 6]);
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

Deno.test("session: inflight timer counts from the last progress (an ack), plus the time to drain", async () => {
  const r = rig({ maxInflight: 2, inflightTimeout: 2 });
  hello(r.session);
  await flush();
  await publish(r); // seq 1 at t=0
  r.clock.advance(500);
  await publish(r); // seq 2 at t=500
  r.clock.advance(500);
  ack(r.session, 1); // t=1000: the link still delivers → due at 3000 + drain
  await flush();
  r.clock.advance(1999); // t=2999
  await flush();
  assert.equal(r.session.stats().inflight, 1);
  assert.equal(r.socket.frames().length, 2);
  // Frame 1 took a whole second to arrive: frame 2 may need about as long.
  r.clock.advance(900); // t=3899
  await flush();
  assert.equal(r.socket.frames().length, 2, "still draining");
  r.clock.advance(2000);
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2, 3]);
  assert.deepEqual(versions(r.socket), [1, 2, 2]);
});

Deno.test("session: the inflight timeout waits while the socket holds unsent bytes", async () => {
  const r = rig({ maxInflight: 1, inflightTimeout: 1 });
  hello(r.session);
  await flush();
  await publish(r); // seq 1 at t=0
  r.socket.bufferedAmount = 1_000_000; // still in the socket
  r.clock.advance(5000);
  await flush();
  assert.equal(r.socket.frames().length, 1, "not resent while draining");
  r.socket.bufferedAmount = 0;
  r.clock.advance(1000);
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2]);
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
  assert.equal(r.session.stats().inflight, 0); // the window is cleared at once
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2, 3]);
  assert.deepEqual(versions(r.socket), [1, 2, 2]);
  assert.equal(r.session.stats().inflight, 1);
  // the reset is served: another pass sends nothing more
  r.hub.wake();
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2, 3]);
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
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2]);
  assert.deepEqual(versions(r.socket), [1, 1]);
  // the request is served: another pass sends nothing more
  r.hub.wake();
  await flush();
  assert.deepEqual(seqs(r.socket), [1, 2]);
  // the resend reuses the group's encode rather than encoding again
  assert.deepEqual(r.encodes, [["jpeg:80:live", 1]]);
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
  r.clock.advance(499);
  await flush();
  assert.equal(r.socket.frames().length, 1); // not at rest yet
  r.clock.advance(1); // the hub's rest timer: the scene settles
  await flush();
  assert.equal(r.hub.settled(), true);
  const frames = r.socket.frames();
  assert.equal(frames.length, 2);
  assert.equal(frames[1].header.mime, "image/png");
  assert.equal(frames[1].header.seq, 2);
  assert.deepEqual(frames[1].payload, [1, 1, 1, 1, 1, 1, 1, 1]);
  assert.deepEqual(r.encodes, [["jpeg:80:live", 1], ["png:100:still", 1]]);
  // once only
  ack(r.session, 2);
  r.hub.wake();
  await flush();
  r.session.pump();
  await flush();
  assert.equal(r.socket.frames().length, 2);
  // a new frame then a new rest: one more live frame and one more still
  await publish(r);
  assert.equal(r.socket.frames()[2].header.mime, "image/jpeg");
  assert.equal(r.hub.settled(), false);
  r.clock.advance(500);
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
  r.clock.advance(500);
  await flush();
  assert.equal(r.hub.settled(), true);
  assert.equal(r.socket.frames().length, 1);
  assert.equal(r.socket.frames()[0].header.mime, "image/png");
  assert.equal(r.tracks.includes("png:100:still"), false);
  assert.deepEqual(r.encodes, [["png:80:live", 1]]);
});

Deno.test("session: still is not sent when stillAfter is false", async () => {
  const r = rig({ stillAfter: false });
  hello(r.session);
  await flush();
  await publish(r);
  ack(r.session, 1);
  r.clock.advance(60_000); // a long rest
  r.hub.wake();
  await flush();
  assert.equal(r.socket.frames().length, 1);
  assert.equal(r.tracks.some((k) => k.endsWith(":still")), false);
});

Deno.test("session: bufferedAmount over the limit blocks sending", async () => {
  const r = rig({ maxBufferedBytes: 1024 });
  hello(r.session);
  await flush();
  r.socket.bufferedAmount = 5000;
  await publish(r);
  assert.equal(r.socket.frames().length, 0);
  assert.deepEqual(r.encodes, []); // not even encoded
  r.socket.bufferedAmount = 1024; // at the limit is fine
  r.hub.wake();
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
  const r = rig();
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
  assert.deepEqual(r.events, [{
    type: "resize",
    width: 800,
    height: 600,
    pwidth: 1600,
    pheight: 1200,
    ratio: 2,
    timestamp: 2.5,
    viewer: r.session.id,
  }]);
});

Deno.test("session: input events are pushed with the viewer id; bad ones dropped", async () => {
  const r = rig();
  const id = r.session.id;
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
  assert.deepEqual(r.events, [
    {
      type: "pointer_down",
      x: 3,
      y: 1,
      button: 1,
      buttons: [1],
      modifiers: ["Alt"],
      timestamp: 9,
      viewer: id,
    },
    {
      type: "key_down",
      key: "a",
      code: "KeyA",
      modifiers: [],
      timestamp: 0,
      viewer: id,
    },
  ]);
  // another viewer's events carry its own id
  const other = join(r);
  hello(other.session);
  await flush();
  other.session.receive(JSON.stringify({
    type: "event",
    event: { type: "key_up", key: "b", code: "KeyB" },
  }));
  assert.notEqual(other.session.id, id);
  assert.equal(r.events.length, 3);
  assert.equal(r.events[2].viewer, other.session.id);
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

Deno.test("session: a resize sends a new config and restarts with a full picture", async () => {
  const r = rig();
  hello(r.session);
  await flush();
  await publish(r);
  assert.equal(r.session.stats().inflight, 1);
  r.hub.resize(8, 6);
  assert.equal(r.session.stats().inflight, 0);
  await flush(); // the new config follows a (re)negotiation
  const configs = r.socket.texts().filter((m) => m.type === "config");
  assert.equal(configs.length, 2);
  assert.equal(configs[1].width, 8);
  assert.equal(configs[1].height, 6);
  // the next frame, at the new size, goes out as a full picture
  await publish(r);
  assert.deepEqual(
    r.socket.frames().map((f) => [
      f.header.seq,
      f.header.width,
      f.header.height,
      f.payload[0],
    ]),
    [[1, 4, 2, 1], [2, 8, 6, 2]],
  );
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
// Video: the keyframe gate, with scripted H.264 encoders

const VIDEO = [CAP_H264, "image/jpeg", "image/png"];

/** A video rig: H.264 available, IDRs on request at most every 250 ms, no still unless asked. */
function videoRig(opts: DisplayOptions = {}): Rig {
  return rig({ minKeyframeInterval: 0.25, ...opts }, { h264: true });
}

/** The video chunks a viewer received, as `v<version><I|P>` (`S` for a still IDR). */
function chunks(socket: FakeSocket): string[] {
  return socket.frames().map(({ header, payload }) => {
    assert.equal(header.type, "video_chunk");
    const types = nalTypes(new Uint8Array(payload));
    const idr = types.includes(5);
    assert.equal(
      header.keyframe,
      idr,
      "the header's keyframe flag matches the unit",
    );
    const still = header.codec === STILL_CODEC;
    return `v${payload.at(-1)}${still ? "S" : idr ? "I" : "P"}`;
  });
}

/** Acknowledge everything a viewer was sent so far. */
function ackAll(v: Viewer): void {
  const s = seqs(v.socket);
  if (s.length) ack(v.session, s.at(-1)!);
}

Deno.test("session video: config names the scripted encoder's codec; the first frame is an IDR", async () => {
  const r = videoRig();
  hello(r.session, VIDEO);
  await flush();
  assert.equal(r.socket.texts()[0].transport, "webcodecs");
  assert.equal(r.socket.texts()[0].codec, CODEC);
  assert.equal(r.session.transport, "webcodecs");
  assert.deepEqual(
    r.h264.codecAsked.map((s) => [s.width, s.height]),
    [[4, 2]],
    "the offer asked the encoders for their codec string",
  );
  assert.equal(r.h264.opened.length, 0, "no encoder opens before a frame");
  await publish(r);
  ackAll(r);
  await publish(r);
  assert.deepEqual(chunks(r.socket), ["v1I", "v2P"]);
  assert.deepEqual(r.h264.stream(), ["v1I@0", "v2P@0"]);
  const [first] = r.socket.frames();
  assert.deepEqual(first.header, {
    type: "video_chunk",
    seq: 1,
    timestamp_us: EPOCH_US,
    width: 4,
    height: 2,
    codec: CODEC,
    bitstream: "annexb",
    keyframe: true,
    duration_us: Math.round(1e6 / 60),
  });
  assert.equal(r.h264.opened.length, 1, "one shared encoder");
  assert.equal(r.h264.opened[0].still, undefined);
  assert.equal(r.hub.stats().keyframesForced, 0, "the first IDR is not forced");
  assert.deepEqual(r.encodes, [], "no image encodes for a video viewer");
});

Deno.test("session video: a late joiner gets nothing until an IDR, and its join makes one", async () => {
  const r = videoRig();
  hello(r.session, VIDEO);
  await flush();
  await publish(r); // v1: IDR
  ackAll(r);
  await publish(r); // v2: delta
  ackAll(r);
  assert.deepEqual(chunks(r.socket), ["v1I", "v2P"]);

  // B joins 100 ms after the stream's IDR: too soon for another one.
  r.clock.advance(100);
  const b = join(r);
  hello(b.session, VIDEO);
  await flush();
  assert.equal(b.socket.texts()[0].type, "config");
  assert.deepEqual(chunks(b.socket), [], "no delta to a viewer without an IDR");
  await publish(r); // v3: still a delta (the IDR is not due yet)
  ackAll(r);
  assert.deepEqual(chunks(b.socket), []);
  assert.deepEqual(chunks(r.socket), ["v1I", "v2P", "v3P"]);
  assert.equal(r.hub.stats().keyframesForced, 0);

  // minKeyframeInterval after the last IDR, the group makes one of the newest frame.
  r.clock.advance(149);
  await flush();
  assert.deepEqual(chunks(b.socket), []);
  r.clock.advance(1);
  await flush();
  assert.deepEqual(chunks(b.socket), ["v3I"]);
  assert.deepEqual(chunks(r.socket), ["v1I", "v2P", "v3P", "v3I"]);
  assert.deepEqual(r.h264.stream(), ["v1I@0", "v2P@0", "v3P@100", "v3I@250"]);
  assert.equal(r.hub.stats().keyframesForced, 1);

  // From its IDR on, B takes every chunk, in order, like A.
  ackAll(r);
  ackAll(b);
  await publish(r);
  assert.deepEqual(chunks(b.socket), ["v3I", "v4P"]);
  assert.deepEqual(chunks(r.socket), ["v1I", "v2P", "v3P", "v3I", "v4P"]);

  // A joiner once the interval has passed gets an IDR at once, of the resting frame.
  ackAll(r);
  ackAll(b);
  r.clock.advance(1000);
  const c = join(r);
  hello(c.session, VIDEO);
  await flush();
  assert.deepEqual(chunks(c.socket), ["v4I"]);
  assert.deepEqual(r.h264.stream().slice(-1), ["v4I@1250"]);
  assert.equal(r.hub.stats().keyframesForced, 2);
  assert.equal(r.hub.viewers, 3);
});

Deno.test("session video: a viewer whose window is full misses a chunk and waits for an IDR; others get every chunk", async () => {
  const r = videoRig();
  hello(r.session, VIDEO, { max_inflight: 1 }); // A: window of one, acks late
  const b = join(r);
  hello(b.session, VIDEO); // B: keeps up
  await flush();
  await publish(r); // v1 IDR to both
  ackAll(b);
  await publish(r); // v2: A's window is full
  ackAll(b);
  assert.deepEqual(chunks(r.socket), ["v1I"]);
  assert.equal(r.session.stats().dropped, 1);
  ackAll(r); // A has room again, but v3 would not decode after v1
  await flush();
  await publish(r); // v3 (t=0): a delta, not for A
  ackAll(b);
  assert.deepEqual(chunks(r.socket), ["v1I"], "never a delta out of order");
  r.clock.advance(100);
  await publish(r); // v4 (t=100): a delta, not for A
  ackAll(b);
  assert.deepEqual(chunks(r.socket), ["v1I"]);
  r.clock.advance(150); // t=250: the IDR A asked for
  await flush();
  assert.deepEqual(chunks(r.socket), ["v1I", "v4I"]);
  ackAll(r);
  ackAll(b);
  await publish(r); // v5: A is in order again
  assert.deepEqual(chunks(r.socket), ["v1I", "v4I", "v5P"]);
  assert.deepEqual(chunks(b.socket), [
    "v1I",
    "v2P",
    "v3P",
    "v4P",
    "v4I",
    "v5P",
  ]);
  assert.equal(b.session.stats().dropped, 0);
  assert.deepEqual(r.h264.stream(), [
    "v1I@0",
    "v2P@0",
    "v3P@0",
    "v4P@100",
    "v4I@250",
    "v5P@250",
  ]);
  assert.equal(r.hub.stats().keyframesForced, 1);
});

Deno.test("session video: IDRs made on request are at most one per minKeyframeInterval", async () => {
  const r = videoRig();
  hello(r.session, VIDEO, { max_inflight: 4 });
  const b = join(r);
  hello(b.session, VIDEO, { max_inflight: 4 });
  await flush();
  await publish(r); // IDR at t=0
  // Both viewers keep losing their decoders; frames keep coming every 50 ms.
  for (let t = 50; t <= 1000; t += 50) {
    r.clock.advance(50);
    ackAll(r);
    ackAll(b);
    const who = t % 100 === 0 ? r : b;
    who.session.receive('{"type":"decoder_reset"}');
    await publish(r);
  }
  const idrs = r.h264.calls.filter((c) => !c.still && c.keyframe).map((c) =>
    c.at
  );
  assert.deepEqual(idrs, [0, 250, 500, 750, 1000]);
  for (let i = 1; i < idrs.length; i++) {
    assert.ok(idrs[i] - idrs[i - 1] >= 250);
  }
  assert.equal(r.hub.stats().keyframesForced, 4);
  // Each viewer got only what it could decode: a delta only right after
  // the chunk before it in the stream, and an IDR after every reset.
  const stream = r.h264.stream().map((s) => s.split("@")[0]);
  for (const v of [r, b]) {
    const got = chunks(v.socket).map((c) => stream.indexOf(c));
    assert.ok(got.every((i) => i >= 0));
    got.forEach((i, n) => {
      if (stream[i].endsWith("P")) assert.equal(got[n - 1], i - 1);
    });
    assert.ok(got.filter((i) => stream[i].endsWith("I")).length >= 3);
  }
});

Deno.test("session video: request_keyframe and decoder_reset from the viewer lead to an IDR", async () => {
  const r = videoRig({ maxInflight: 4 });
  hello(r.session, VIDEO);
  await flush();
  await publish(r);
  ackAll(r);
  await publish(r);
  ackAll(r);
  r.clock.advance(1000);
  assert.deepEqual(chunks(r.socket), ["v1I", "v2P"]);

  r.session.receive('{"type":"request_keyframe","reason":"decode error"}');
  await flush();
  assert.deepEqual(chunks(r.socket), ["v1I", "v2P", "v2I"]);
  ackAll(r);
  await publish(r); // in order again after the IDR
  assert.deepEqual(chunks(r.socket), ["v1I", "v2P", "v2I", "v3P"]);

  r.clock.advance(1000);
  // decoder_reset also forgets the window: no ack is needed for the IDR.
  r.session.receive('{"type":"decoder_reset"}');
  assert.equal(r.session.stats().inflight, 0);
  await flush();
  assert.deepEqual(chunks(r.socket), ["v1I", "v2P", "v2I", "v3P", "v3I"]);
  assert.deepEqual(r.h264.stream(), [
    "v1I@0",
    "v2P@0",
    "v2I@1000",
    "v3P@1000",
    "v3I@2000",
  ]);
  assert.equal(r.hub.stats().keyframesForced, 2);
  // served: another pass makes and sends nothing more
  r.hub.wake();
  await flush();
  assert.equal(r.h264.calls.length, 5);
  assert.equal(r.socket.frames().length, 5);
});

Deno.test("session video: once the scene rests the viewer gets the still IDR from the still encoder", async () => {
  const r = videoRig({ stillAfter: 0.5 });
  hello(r.session, VIDEO);
  await flush();
  await publish(r);
  ackAll(r);
  r.clock.advance(499);
  await flush();
  assert.deepEqual(chunks(r.socket), ["v1I"]);
  r.clock.advance(1); // the scene rests
  await flush();
  assert.deepEqual(chunks(r.socket), ["v1I", "v1S"]);
  assert.deepEqual(r.h264.opened.map((s) => s.still === true), [false, true]);
  assert.deepEqual(
    r.h264.calls.map((c) => [c.still, c.version, c.keyframe]),
    [[false, 1, true], [true, 1, true]],
  );
  const still = r.socket.frames()[1];
  assert.equal(still.header.keyframe, true);
  assert.equal(
    still.header.codec,
    STILL_CODEC,
    "codec from the still's own SPS",
  );
  // once only
  ackAll(r);
  r.hub.wake();
  await flush();
  assert.equal(r.socket.frames().length, 2);

  // A viewer joining now gets an IDR of the resting frame, then the still;
  // the first viewer keeps its clean still (the IDR would only make it worse).
  const b = join(r);
  hello(b.session, VIDEO);
  await flush();
  ackAll(b);
  await flush();
  assert.deepEqual(chunks(b.socket), ["v1I", "v1S"]);
  assert.deepEqual(chunks(r.socket), ["v1I", "v1S"]);

  // After the still, the next frame comes as an IDR, never a delta: B's
  // join made one at t=500, so the next is due at t=750.
  ackAll(b);
  await publish(r);
  assert.deepEqual(chunks(r.socket), ["v1I", "v1S"]);
  assert.deepEqual(chunks(b.socket), ["v1I", "v1S"]);
  r.clock.advance(250);
  await flush();
  assert.deepEqual(chunks(r.socket), ["v1I", "v1S", "v2I"]);
  assert.deepEqual(chunks(b.socket), ["v1I", "v1S", "v2I"]);
  assert.equal(
    r.h264.calls.filter((c) => c.still).length,
    1,
    "one still encode, shared",
  );
  assert.deepEqual(r.h264.stream(), ["v1I@0", "v1I@500", "v2P@500", "v2I@750"]);
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
    "link_bps",
  ]);
  // The one frame took 50 ms to arrive (the fake client held it 0 ms).
  assert.equal(s.link_bps, Math.round(frameBytes * 8 * 1000 / 50));
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
  assertEnded(r);
  assert.deepEqual(r.detached, [r.session]);
  assert.equal(r.session.stats().inflight, 0);
  // closing twice is harmless and detaches once
  r.session.close(1001, "again");
  r.session.closed();
  assert.equal(r.socket.closeCode, 1000);
  assert.equal(r.detached.length, 1);
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
  assertEnded(r);
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
  assertEnded(r);
});
