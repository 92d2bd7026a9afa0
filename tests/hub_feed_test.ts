// The hub fed with pictures encoded elsewhere (the seam an edge server
// stands on): H.264 access units from a real libx264 run and JPEG files from
// sharp go through the hub, with no local encoder, to real WebSocket viewers.
// A late joiner waits at its keyframe gate, its ask for an IDR reaches the
// feeder, and the IDR that comes back is what it starts on.
import assert from "node:assert/strict";
import sharp from "sharp";
import { systemClock } from "../src/clock.ts";
import { nalTypes } from "../src/encoders/annexb.ts";
import { H264Encoder } from "../src/encoders/h264.ts";
import type { DisplayEvent } from "../src/events.ts";
import { Hub } from "../src/hub/hub.ts";
import { silentLogger } from "../src/log.ts";
import { type DisplayOptions, resolveDisplayOptions } from "../src/options.ts";
import { CAP_H264, CAP_JPEG } from "../src/protocol.ts";
import { AvDecoder, pattern, patternPoints, rgbAt } from "./_h264.ts";
import {
  decodeImage,
  near,
  pixelAt,
  sleep,
  TestViewer,
  until,
} from "./_viewer.ts";

const W = 320, H = 240;

/** A fed hub on its own WebSocket listener (127.0.0.1, an OS-picked port). */
class FedServer implements AsyncDisposable {
  readonly hub: Hub;
  readonly events: DisplayEvent[] = [];
  keyframeRequests = 0;
  #server: Deno.HttpServer<Deno.NetAddr>;

  constructor(options: DisplayOptions, onKeyframeRequest: () => void) {
    this.hub = new Hub({
      name: "fed",
      options: resolveDisplayOptions(
        { logger: silentLogger, ...options },
        "test",
        { logger: silentLogger, clock: systemClock },
      ),
      width: W,
      height: H,
      input: (ev) => this.events.push(ev),
      feed: {
        requestKeyframe: () => {
          this.keyframeRequests++;
          onKeyframeRequest();
        },
      },
    });
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      (request) => {
        const { socket, response } = Deno.upgradeWebSocket(request);
        socket.binaryType = "arraybuffer";
        const session = this.hub.accept(socket, { request });
        socket.onopen = () => session.opened();
        socket.onmessage = (e) => session.receive(e.data);
        socket.onclose = () => session.closed();
        return response;
      },
    );
  }

  get url(): string {
    return `ws://127.0.0.1:${this.#server.addr.port}/`;
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.hub.close();
    await this.#server.shutdown();
  }
}

/**
 * The "render host": encodes the moving test pattern with libx264 every
 * `ms` and feeds each access unit to the hub. No periodic IDR (a huge
 * GOP): an IDR comes first, then only when one is asked for.
 */
class Feeder {
  readonly sent: Array<{ n: number; keyframe: boolean }> = [];
  wantKey = true;
  #stop = false;
  #done: Promise<void>;

  constructor(enc: H264Encoder, hub: Hub, ms: number) {
    this.#done = (async () => {
      for (let n = 0; !this.#stop; n++) {
        const keyframe = this.wantKey;
        this.wantKey = false;
        const chunk = await enc.encode({
          data: pattern(W, H, n),
          width: W,
          height: H,
          layout: "rgba",
        }, keyframe);
        if (chunk) {
          hub.feedVideo({
            data: chunk.data,
            keyframe: chunk.keyframe,
            codec: enc.codec,
            width: W,
            height: H,
            timestampUs: Date.now() * 1000,
          });
          this.sent.push({ n, keyframe: chunk.keyframe });
        }
        await sleep(ms);
      }
    })();
  }

  async stop(): Promise<void> {
    this.#stop = true;
    await this.#done;
  }
}

Deno.test("fed hub: a late joiner waits for an IDR, asks the feeder for one, and starts on it", async () => {
  const enc = await H264Encoder.open({
    width: W,
    height: H,
    fps: 30,
    bitrate: 1_000_000,
    gop: 100_000,
    preset: "ultrafast",
  });
  let feeder: Feeder | null = null;
  try {
    await using fed = new FedServer(
      { transport: "webcodecs", minKeyframeInterval: 0.05 },
      () => {
        if (feeder) feeder.wantKey = true;
      },
    );
    const hello = { supported: [CAP_H264] };
    // A viewer that comes before the feed has sent anything waits for it:
    // until then there is no codec string to offer.
    await using early = await TestViewer.open(fed.url, { hello });
    await sleep(300);
    assert.equal(early.texts.length, 0, "no config before the first unit");
    feeder = new Feeder(enc, fed.hub, 30);
    const config = await early.nextText("config");
    assert.equal(config.transport, "webcodecs");
    assert.match(String(config.codec), /^avc1\./);
    const first = await early.nextFrame();
    assert.ok(first.header.keyframe, "the first viewer starts on an IDR");
    // The stream runs on deltas only (nothing asks for an IDR).
    await until(() => early.frames.length >= 15, 10_000);
    const asksBefore = fed.keyframeRequests;
    assert.ok(
      early.frames.slice(1).every((f) => !f.header.keyframe),
      "no IDR without an ask",
    );

    await using late = await TestViewer.open(fed.url, { hello });
    assert.equal((await late.nextText("config")).codec, config.codec);
    const joinedAt = feeder.sent.length;
    const start = await late.nextFrame();
    assert.ok(start.header.keyframe, "the late joiner's first frame is an IDR");
    assert.ok(nalTypes(start.payload).includes(5), "…with an IDR slice");
    assert.ok(
      fed.keyframeRequests > asksBefore,
      "the ask for an IDR reached the feeder",
    );
    const idr = feeder.sent.findIndex((s, i) => i >= joinedAt && s.keyframe);
    assert.ok(idr >= joinedAt, "the feeder made an IDR after the join");

    // The late joiner decodes from its first frame on: the right picture.
    await until(() => late.frames.length >= 5, 10_000);
    const dec = await AvDecoder.open();
    try {
      let last = null;
      for (const f of late.frames.slice(0, 5)) {
        const out = await dec.decode(f.payload);
        if (out.length) last = out[out.length - 1];
      }
      assert.ok(last, "the late joiner's frames decode");
      for (const [x, y, rgb] of patternPoints(W, H)) {
        assert.ok(
          near(rgbAt(last, x, y), rgb, 40),
          `(${x}, ${y}) is ${rgbAt(last, x, y)}, want ${rgb}`,
        );
      }
    } finally {
      dec.close();
    }

    // The first viewer kept its stream: in order, never restarted, and it
    // got the late joiner's IDR in sequence like any other unit.
    const seqs = early.frames.map((f) => f.header.seq);
    assert.deepEqual(
      seqs,
      seqs.map((_, i) => i + 1),
      "no gap for the first viewer",
    );
    const stats = fed.hub.stats();
    assert.equal(stats.encodes, 0, "nothing was encoded in the hub");
    assert.ok(stats.keyframesForced >= 1);
    assert.equal(stats.h264, "live");
  } finally {
    await feeder?.stop();
    await enc.close();
  }
});

Deno.test("fed hub: JPEG files encoded elsewhere reach an image viewer as they are", async () => {
  await using fed = new FedServer({ transport: "image" }, () => {});
  const jpeg = async (rgb: number[]) =>
    new Uint8Array(
      await sharp({
        create: {
          width: W,
          height: H,
          channels: 3,
          background: { r: rgb[0], g: rgb[1], b: rgb[2] },
        },
      }).jpeg({ quality: 90 }).toBuffer(),
    );
  const red = await jpeg([255, 0, 0]);
  fed.hub.feedPicture({
    bytes: red,
    mime: "image/jpeg",
    width: W,
    height: H,
    timestampUs: Date.now() * 1000,
  });
  await using viewer = await TestViewer.open(fed.url, {
    hello: { supported: [CAP_JPEG] },
  });
  const config = await viewer.nextText("config");
  assert.equal(config.mime, "image/jpeg");
  const frame = await viewer.nextFrame();
  assert.deepEqual(frame.payload, red, "the very bytes that were fed");
  const blue = await jpeg([0, 0, 255]);
  fed.hub.feedPicture({
    bytes: blue,
    mime: "image/jpeg",
    width: W,
    height: H,
    timestampUs: Date.now() * 1000,
  });
  const next = await viewer.nextFrame();
  const img = await decodeImage(next.payload);
  assert.ok(near(pixelAt(img, 10, 10), [0, 0, 255]));
  assert.equal(fed.hub.stats().encodes, 0);
});

Deno.test("fed hub: a new size renegotiates; bad units and frames get clear errors", async () => {
  await using fed = new FedServer({ transport: "image" }, () => {});
  const small = new Uint8Array(
    await sharp({
      create: { width: 64, height: 48, channels: 3, background: "#0f0" },
    }).jpeg().toBuffer(),
  );
  const big = new Uint8Array(
    await sharp({
      create: { width: W, height: H, channels: 3, background: "#00f" },
    }).jpeg().toBuffer(),
  );
  fed.hub.feedPicture({
    bytes: big,
    mime: "image/jpeg",
    width: W,
    height: H,
    timestampUs: 0,
  });
  await using viewer = await TestViewer.open(fed.url, {
    hello: { supported: [CAP_JPEG] },
  });
  const first = await viewer.nextText("config");
  assert.deepEqual([first.width, first.height], [W, H]);
  assert.equal((await viewer.nextFrame()).header.width, W);
  fed.hub.feedPicture({
    bytes: small,
    mime: "image/jpeg",
    width: 64,
    height: 48,
    timestampUs: 0,
  });
  const config = await viewer.nextText("config");
  assert.deepEqual([config.width, config.height], [64, 48]);
  assert.equal((await viewer.nextFrame()).header.width, 64);

  assert.throws(
    () =>
      fed.hub.feedVideo({
        data: new Uint8Array([0, 0, 1, 0x65]),
        keyframe: true,
        codec: "vp8",
        width: 64,
        height: 48,
        timestampUs: 0,
      }),
    /codec must be an avc1 codec string, got "vp8"/,
  );
  assert.throws(
    () =>
      fed.hub.feedPicture({
        bytes: small,
        mime: "image/gif",
        width: 64,
        height: 48,
        timestampUs: 0,
      }),
    /mime must be one of/,
  );
  assert.throws(
    () =>
      fed.hub.feedPicture({
        bytes: small,
        mime: "image/jpeg",
        width: 0,
        height: 48,
        timestampUs: 0,
      }),
    RangeError,
  );
  assert.throws(
    () => fed.hub.publish({ bytes: new Uint8Array(4), channels: 4 }, null, 1),
    /fed with encoded pictures; it takes no frames/,
  );
  // The viewer is unharmed by the bad calls.
  assert.ok(viewer.isOpen);
});

Deno.test("hub: a hub that encodes its own frames refuses encoded pictures", async () => {
  const hub = new Hub({
    name: "local",
    options: resolveDisplayOptions({ logger: silentLogger }, "test", {
      logger: silentLogger,
      clock: systemClock,
    }),
    width: 8,
    height: 8,
    input: () => {},
  });
  assert.throws(
    () =>
      hub.feedPicture({
        bytes: new Uint8Array(3),
        mime: "image/jpeg",
        width: 8,
        height: 8,
        timestampUs: 0,
      }),
    /encodes its own frames/,
  );
  await hub.close();
});
