// H.264 without a browser: the libx264 encoder round-tripped through
// node-av's decoder (pixels, PSNR, NAL layout, codec string, I420/NV12
// input), then the video path of a real serve() listener spoken to by
// protocol-level viewers (config, chunk headers, the shared encode, late
// joiners, drops and the keyframe gate, slow viewers, keyframe requests,
// the still after settle, resizes, transport switches).

import assert from "node:assert/strict";
import { CAP_H264, type Display, serve } from "../mod.ts";
import {
  H264Encoder,
  type H264Settings,
  probeH264,
  type RawPicture,
} from "../src/encoders/h264.ts";
import { codecFromAnnexB, nalTypes } from "../src/encoders/annexb.ts";
import {
  AvDecoder,
  type Decoded,
  loadAv,
  maxDiff,
  nalsNoSei,
  pattern,
  patternPoints,
  psnr,
  rgbAt,
  rgbaToYuv,
  StampClock,
} from "./_h264.ts";
import {
  decodeImage,
  DisplayFixture,
  near,
  pixelAt,
  type ReceivedFrame,
  sleep,
  type TestViewer,
  until,
} from "./_viewer.ts";

const probe = await probeH264();
if (!probe.ok) console.warn(`skipping H.264 tests: ${probe.reason}`);
else await loadAv(); // quiets FFmpeg's log
const ignore = !probe.ok;

function settings(
  width: number,
  height: number,
  extra: Partial<H264Settings> = {},
): H264Settings {
  return {
    width,
    height,
    fps: 30,
    bitrate: 2_000_000,
    gop: 300,
    preset: "ultrafast",
    ...extra,
  };
}

function rgbaPicture(data: Uint8Array, w: number, h: number): RawPicture {
  return { data, width: w, height: h, layout: "rgba" };
}

/** Encode `pictures` in order (the first as a forced IDR), decode them all back. */
async function roundTrip(
  s: H264Settings,
  pictures: RawPicture[],
  forceKey: (i: number) => boolean = (i) => i === 0,
): Promise<{
  chunks: { data: Uint8Array; keyframe: boolean }[];
  decoded: Decoded[];
  codec: string;
  profile: number;
  level: number;
}> {
  const enc = await H264Encoder.open(s);
  const dec = await AvDecoder.open();
  try {
    const chunks = [];
    const decoded: Decoded[] = [];
    for (let i = 0; i < pictures.length; i++) {
      const chunk = await enc.encode(pictures[i], forceKey(i));
      assert.ok(chunk, `picture ${i} gave no chunk (encoder delay?)`);
      chunks.push(chunk);
      const out = await dec.decode(chunk.data);
      assert.equal(out.length, 1, `chunk ${i} decodes to one picture at once`);
      decoded.push(out[0]);
    }
    return {
      chunks,
      decoded,
      codec: enc.codec,
      profile: dec.profile,
      level: dec.level,
    };
  } finally {
    enc.close();
    dec.close();
  }
}

function assertPatternColours(
  img: { data: Uint8Array; width: number; height: number },
  tol: number,
  what: string,
  swap = false,
): void {
  for (const [x, y, want] of patternPoints(img.width, img.height, swap)) {
    const got = rgbAt(img, x, y);
    assert.ok(
      maxDiff(got, want) <= tol,
      `${what}: (${x}, ${y}) is ${got}, want ${want}`,
    );
  }
}

// ---------------------------------------------------------------------------
// The encoder, round-tripped through node-av

for (const [W, H] of [[320, 240], [250, 130]]) {
  Deno.test({
    name:
      `encoder round trip ${W}x${H}: RGBA in, BT.601 limited out, PSNR and colours hold`,
    ignore,
    fn: async () => {
      const pics = [0, 1, 2, 3].map((n) => rgbaPicture(pattern(W, H, n), W, H));
      const { decoded, chunks } = await roundTrip(settings(W, H), pics);
      for (let i = 0; i < decoded.length; i++) {
        const d = decoded[i];
        assert.deepEqual([d.width, d.height], [W, H], `picture ${i} size`);
        assert.equal(d.colorSpace, 6, "VUI matrix: SMPTE 170M (BT.601)");
        assert.equal(d.colorRange, 1, "VUI range: limited");
        const p = psnr(d.data, pics[i].data);
        assert.ok(p > 33, `picture ${i}: PSNR ${p.toFixed(1)} dB`);
        assertPatternColours(d, 12, `picture ${i}`);
        // The moving bar is where picture i put it (no stale reference).
        const barY = Math.floor(H / 2);
        const barX = 2 * ((i * 3) % Math.floor((W - 8) / 2)) + 4;
        assert.ok(
          maxDiff(rgbAt(d, barX, barY), [255, 0, 255]) <= 40,
          `picture ${i}: bar at ${barX} is ${rgbAt(d, barX, barY)}`,
        );
      }
      assert.deepEqual(chunks.map((c) => c.keyframe), [
        true,
        false,
        false,
        false,
      ]);
    },
  });
}

Deno.test({
  name:
    "encoder: an odd size is refused with a clear error, or round-trips at that size",
  ignore,
  fn: async () => {
    // H264Settings' doc says odd sizes are padded by the encoder; libx264
    // refuses them for 4:2:0 today. Either way, no silent garbage.
    const s = settings(251, 131);
    let enc: H264Encoder;
    try {
      enc = await H264Encoder.open(s);
    } catch (err) {
      assert.match((err as Error).message, /libx264 refused the settings/);
      return;
    }
    enc.close();
    const pic = rgbaPicture(pattern(251, 131), 251, 131);
    const { decoded } = await roundTrip(s, [pic]);
    assert.deepEqual([decoded[0].width, decoded[0].height], [251, 131]);
    assert.ok(psnr(decoded[0].data, pic.data) > 30);
  },
});

Deno.test({
  name:
    "encoder: keyframes are SPS, PPS, IDR in that order; deltas have no IDR; a forced IDR works",
  ignore,
  fn: async () => {
    const W = 320, H = 240;
    const pics = Array.from(
      { length: 8 },
      (_, n) => rgbaPicture(pattern(W, H, n), W, H),
    );
    const { chunks, decoded } = await roundTrip(
      settings(W, H),
      pics,
      (i) => i === 0 || i === 5,
    );
    assert.deepEqual(
      chunks.map((c) => c.keyframe),
      [true, false, false, false, false, true, false, false],
    );
    for (const [i, c] of chunks.entries()) {
      const types = nalTypes(c.data);
      // Every chunk starts with a start code.
      assert.ok(
        c.data[0] === 0 && c.data[1] === 0 &&
          (c.data[2] === 1 || (c.data[2] === 0 && c.data[3] === 1)),
        `chunk ${i} starts with a start code`,
      );
      const vcl = nalsNoSei(types);
      if (c.keyframe) {
        assert.deepEqual(vcl.slice(0, 3), [7, 8, 5], `keyframe ${i}: ${types}`);
        assert.ok(
          vcl.slice(2).every((t) => t === 5),
          `keyframe ${i}: ${types}`,
        );
      } else {
        assert.ok(!types.includes(5), `delta ${i}: ${types}`);
        assert.ok(!types.includes(7) && !types.includes(8), `delta ${i}`);
        assert.ok(types.includes(1), `delta ${i} has a non-IDR slice`);
      }
    }
    // The forced IDR decodes on its own: a fresh decoder starting there.
    const dec = await AvDecoder.open();
    try {
      const [alone] = await dec.decode(chunks[5].data);
      assert.ok(psnr(alone.data, pics[5].data) > 30);
      assert.deepEqual(alone.data, decoded[5].data, "same picture either way");
      // And a delta cannot start a stream.
      const fresh = await AvDecoder.open();
      try {
        const out = await fresh.decode(chunks[1].data).catch(() => []);
        assert.equal(out.length, 0, "a delta alone gives no picture");
      } finally {
        fresh.close();
      }
    } finally {
      dec.close();
    }
  },
});

Deno.test({
  name:
    "codecFromAnnexB: constrained baseline, the SPS's level, as the decoder reads it",
  ignore,
  fn: async () => {
    for (const [W, H, fps] of [[320, 240, 30], [1280, 720, 60]]) {
      const s = settings(W, H, { fps, bitrate: 4_000_000 });
      const pic = rgbaPicture(pattern(W, H), W, H);
      const { chunks, codec, profile, level } = await roundTrip(s, [pic]);
      const sps = chunks[0].data;
      assert.match(codec, /^avc1\.42[0-9A-F]{4}$/);
      assert.equal(codecFromAnnexB(sps), codec, "encoder.codec is the SPS's");
      const constraints = parseInt(codec.slice(7, 9), 16);
      const levelIdc = parseInt(codec.slice(9, 11), 16);
      assert.ok(constraints & 0x40, `constraint_set1 (constrained): ${codec}`);
      // FFmpeg's decoder reads the same SPS: constrained baseline (66 | 0x200), same level.
      assert.equal(profile, 66 | 0x200, `decoder profile ${profile}`);
      assert.equal(level, levelIdc, `decoder level ${level} vs ${codec}`);
      assert.ok(
        [10, 11, 12, 13, 20, 21, 22, 30, 31, 32, 40, 41, 42, 50, 51, 52]
          .includes(levelIdc),
        `a real level: ${levelIdc}`,
      );
      if (W === 1280) assert.ok(levelIdc >= 31, `720p60 needs >= 3.1`);
    }
    // Plain buffers, 3- and 4-byte start codes, and none.
    assert.equal(
      codecFromAnnexB(new Uint8Array([0, 0, 1, 0x67, 0x42, 0xc0, 0x1e, 1])),
      "avc1.42C01E",
    );
    assert.equal(
      codecFromAnnexB(
        new Uint8Array([
          0,
          0,
          0,
          1,
          0x68,
          1,
          0,
          0,
          0,
          1,
          0x27,
          0x42,
          0x40,
          0x0d,
        ]),
      ),
      "avc1.42400D",
      "the SPS after a PPS; nal_ref_idc bits ignored",
    );
    assert.equal(codecFromAnnexB(new Uint8Array([0, 0, 1, 0x65, 1, 2])), null);
  },
});

Deno.test({
  name: "encoder: I420 and NV12 input decode to the colours of RGBA input",
  ignore,
  fn: async () => {
    const W = 320, H = 240;
    const rgba = pattern(W, H, 3);
    const fromRgba = (await roundTrip(settings(W, H), [
      rgbaPicture(rgba, W, H),
    ])).decoded[0];
    for (const layout of ["i420", "nv12"] as const) {
      const planes = rgbaToYuv(rgba, W, H, layout, "bt601");
      const { decoded } = await roundTrip(settings(W, H), [
        { data: planes, width: W, height: H, layout },
      ]);
      const d = decoded[0];
      assert.equal(d.colorSpace, 6, `${layout}: BT.601 signalled`);
      const p = psnr(d.data, rgba);
      assert.ok(p > 30, `${layout}: PSNR ${p.toFixed(1)} dB`);
      for (const [x, y] of [...patternPoints(W, H), [W / 2 + 40, H / 2]]) {
        const a = rgbAt(d, x, y), b = rgbAt(fromRgba, x, y);
        assert.ok(maxDiff(a, b) <= 8, `${layout} (${x}, ${y}): ${a} vs ${b}`);
      }
    }
    // BT.709 planes (the GPU path's matrix) are signalled as BT.709 and come
    // back right when converted with that matrix.
    const planes = rgbaToYuv(rgba, W, H, "nv12", "bt709");
    const { decoded } = await roundTrip(settings(W, H, { matrix: "bt709" }), [
      { data: planes, width: W, height: H, layout: "nv12" },
    ]);
    assert.equal(decoded[0].colorSpace, 1, "BT.709 signalled");
    const rgb709 = decoded[0].rgbBt709();
    const p = psnr(rgb709, rgba);
    assert.ok(p > 30, `bt709 NV12: PSNR ${p.toFixed(1)} dB`);
    assertPatternColours(
      { data: rgb709, width: W, height: H },
      12,
      "bt709 NV12",
    );
  },
});

Deno.test({
  name: "encoder: a picture of the wrong size is refused, the encoder goes on",
  ignore,
  fn: async () => {
    const enc = await H264Encoder.open(settings(64, 48));
    try {
      await assert.rejects(
        () =>
          enc.encode(rgbaPicture(new Uint8Array(32 * 32 * 4), 32, 32), true),
        RangeError,
      );
      const ok = await enc.encode(
        rgbaPicture(pattern(64, 48), 64, 48),
        true,
      );
      assert.ok(ok?.keyframe);
    } finally {
      enc.close();
    }
  },
});

// ---------------------------------------------------------------------------
// The video path of a real listener

const W = 320, H = 240;
const VIDEO_HELLO = { supported: [CAP_H264, "image/jpeg"] };

interface Publisher {
  /** Pictures published so far. */
  readonly count: number;
  /** Publish one more picture now. */
  one(): void;
  /** Stop the timer. */
  stop(): void;
}

/** A picture generator: size and number → RGBA. */
type Picture = (width: number, height: number, n: number) => Uint8Array;

/** `pattern` with deterministic grey noise (±30) on every pixel: costly to code well. */
function noisy(width: number, height: number, n: number): Uint8Array {
  const px = pattern(width, height, n);
  let s = 12345;
  for (let i = 0; i < px.length; i += 4) {
    s = (s * 1103515245 + 12345) >>> 0;
    const d = ((s >>> 16) % 61) - 30;
    for (let c = 0; c < 3; c++) {
      px[i + c] = Math.max(0, Math.min(255, px[i + c] + d));
    }
  }
  return px;
}

type Header = ReceivedFrame["header"] & {
  keyframe?: boolean;
  codec?: string;
  bitstream?: string;
  duration_us?: number;
  timestamp_us: number;
};

function hdr(f: ReceivedFrame): Header {
  return f.header as Header;
}

/**
 * Decode a viewer's chunks in order, as its decoder would: the stream must
 * start on a keyframe, `seq` must grow by one, and every chunk must decode
 * to the picture published at its timestamp (a missing or misplaced delta
 * shows as a wrong picture). Returns how many keyframes it saw.
 */
async function checkStream(
  frames: ReceivedFrame[],
  stamps: Map<number, number>,
  what: string,
  picture: Picture = pattern,
  floor = 30,
): Promise<{ keyframes: number }> {
  assert.ok(frames.length > 0, `${what}: no chunks`);
  const dec = await AvDecoder.open();
  let keyframes = 0;
  try {
    for (const [i, f] of frames.entries()) {
      const h = hdr(f);
      assert.equal(h.type, "video_chunk", `${what} #${i}`);
      if (i === 0) assert.equal(h.keyframe, true, `${what}: starts on an IDR`);
      else assert.equal(h.seq, hdr(frames[i - 1]).seq + 1, `${what} #${i} seq`);
      if (h.keyframe) keyframes++;
      assert.equal(
        nalTypes(f.payload).includes(5),
        h.keyframe,
        `${what} #${i}: header keyframe flag matches the NALs`,
      );
      const out = await dec.decode(f.payload);
      assert.equal(out.length, 1, `${what} #${i}: one picture`);
      const n = stamps.get(h.timestamp_us);
      assert.ok(n !== undefined, `${what} #${i}: unknown timestamp`);
      const want = picture(h.width, h.height, n);
      const p = psnr(out[0].data, want);
      assert.ok(
        p > floor,
        `${what} #${i} (seq ${h.seq}, picture ${n}, ${
          h.keyframe ? "key" : "delta"
        }): PSNR ${p.toFixed(1)} dB: the chunk does not follow the last one`,
      );
    }
  } finally {
    dec.close();
  }
  return { keyframes };
}

/**
 * A display on its own listener whose frame timestamps map back to picture
 * numbers, with the viewers (H.264-capable unless told otherwise), the
 * publishers and the late ackers a test starts on it: `await using` stops
 * and closes them all, then the display.
 */
class VideoEnv extends DisplayFixture {
  /** Frame timestamp (µs) → the number of the picture published with it. */
  readonly stamps: Map<number, number> = new Map();
  readonly clock: StampClock;

  private constructor(display: Display, clock: StampClock) {
    super(display, { viewer: { hello: VIDEO_HELLO }, settleMs: 150 });
    this.clock = clock;
  }

  /** Serve a W x H display with `options` on a free port. */
  static async open(
    options: Parameters<typeof serve>[2] = {},
  ): Promise<VideoEnv> {
    const clock = new StampClock();
    const display = await serve(W, H, {
      port: 0,
      fps: 30,
      stillAfter: false,
      logger: () => {},
      clock,
      ...options,
    });
    return new VideoEnv(display, clock);
  }

  /**
   * Publish `picture(n)` (on a timer at `fps`, or by hand), recording each
   * frame's timestamp; stopped at teardown.
   */
  publisher(fps: number | null, picture: Picture = pattern): Publisher {
    let n = 0;
    const one = () => {
      const { display } = this;
      if (display.closed) return;
      display.publish(picture(display.width, display.height, n));
      this.stamps.set(this.clock.last, n);
      n++;
    };
    const timer = fps === null ? null : setInterval(one, 1000 / fps);
    const stop = () => {
      if (timer !== null) clearInterval(timer);
    };
    this.defer(stop);
    return {
      get count() {
        return n;
      },
      one,
      stop,
    };
  }

  /**
   * Acknowledge every frame `v` gets `delayMs` after it arrives; returns a
   * stop function, also run at teardown.
   */
  lateAcks(v: TestViewer, delayMs: number): () => Promise<void> {
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const onMessage = (e: MessageEvent) => {
      if (typeof e.data === "string") return;
      const seq = v.frames.at(-1)!.header.seq;
      const t = setTimeout(() => {
        timers.delete(t);
        v.ack(seq);
      }, delayMs);
      timers.add(t);
    };
    v.ws.addEventListener("message", onMessage);
    const stop = async () => {
      v.ws.removeEventListener("message", onMessage);
      for (const t of timers) clearTimeout(t);
      timers.clear();
      await sleep(0);
    };
    this.defer(stop);
    return stop;
  }
}

Deno.test({
  name:
    "video viewer: webcodecs config, codec of the first chunk, IDR with SPS/PPS, annexb headers, seq +1, right pictures",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open();
    const pub = env.publisher(null);
    pub.one();
    const v = await env.viewer();
    const config = await v.nextText("config");
    assert.equal(config.transport, "webcodecs");
    assert.equal(config.width, W);
    assert.equal(config.height, H);
    assert.match(String(config.codec), /^avc1\.42[0-9A-F]{4}$/);
    assert.equal(config.mime, undefined);
    const first = await v.nextFrame();
    const h = hdr(first);
    assert.equal(h.type, "video_chunk");
    assert.equal(h.seq, 1);
    assert.equal(h.keyframe, true);
    assert.equal(h.codec, config.codec, "config codec = the stream's SPS");
    assert.equal(codecFromAnnexB(first.payload), config.codec);
    assert.equal(h.bitstream, "annexb");
    assert.equal(h.duration_us, Math.round(1e6 / 30));
    assert.deepEqual([h.width, h.height], [W, H]);
    assert.ok(Math.abs(h.timestamp_us / 1000 - Date.now()) < 5000);
    assert.deepEqual([...first.payload.subarray(0, 3)], [0, 0, 0]);
    assert.ok(first.payload[3] === 1, "4-byte start code first");
    assert.deepEqual(nalsNoSei(nalTypes(first.payload)).slice(0, 3), [
      7,
      8,
      5,
    ]);
    for (let i = 0; i < 10; i++) {
      pub.one();
      const f = await v.nextFrame();
      assert.equal(hdr(f).seq, i + 2);
      assert.equal(hdr(f).keyframe, false, `chunk ${i + 2} is a delta`);
      assert.equal(hdr(f).codec, config.codec);
      assert.equal(hdr(f).bitstream, "annexb");
    }
    await checkStream(v.frames, env.stamps, "viewer");
    assert.equal(env.display.stats().encodes, 11);
  },
});

Deno.test({
  name:
    "a video viewer and an image-only viewer on one display: H.264 and JPEG at once",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open();
    const pub = env.publisher(null);
    const v = await env.viewer();
    const img = await env.viewer({ hello: { supported: ["image/jpeg"] } });
    assert.equal((await v.nextText("config")).transport, "webcodecs");
    const ic = await img.nextText("config");
    assert.equal(ic.transport, "image");
    assert.equal(ic.mime, "image/jpeg");
    for (let i = 0; i < 3; i++) {
      pub.one();
      const [vf, jf] = await Promise.all([v.nextFrame(), img.nextFrame()]);
      assert.equal(hdr(vf).type, "video_chunk");
      assert.equal(hdr(vf).keyframe, i === 0);
      assert.equal(jf.header.type, "image_frame");
      assert.equal(jf.header.mime, "image/jpeg");
      assert.equal(hdr(jf).timestamp_us, hdr(vf).timestamp_us);
      const pic = await decodeImage(jf.payload);
      assert.ok(psnr(pic.data, pattern(W, H, i)) > 28, "the JPEG");
    }
    await checkStream(v.frames, env.stamps, "video viewer");
    assert.equal(env.display.stats().encodes, 6, "3 H.264 + 3 JPEG");
  },
});

Deno.test({
  name:
    "late joiners start on a keyframe; the first viewer's stream stays continuous; one encode per frame, not per viewer",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open();
    const pub = env.publisher(30);
    const a = await env.viewer();
    await until(() => a.frames.length >= 8, 5000, "A's first frames");
    const aBefore = a.frames.length;
    const published0 = pub.count, encodes0 = env.display.stats().encodes;
    for (let i = 0; i < 4; i++) {
      await env.viewer();
      await sleep(100);
    }
    await sleep(600);
    pub.stop();
    await sleep(200); // let the last chunks land
    const published = pub.count - published0;
    const encodes = env.display.stats().encodes - encodes0;
    // About one encode per published frame: a few extra IDRs for the joins
    // at most, never one encode per viewer.
    assert.ok(
      encodes <= published + 5,
      `${encodes} encodes for ${published} frames and 5 viewers`,
    );
    assert.ok(encodes >= published * 0.6, `${encodes} of ${published}`);
    assert.ok(
      a.frames.length - aBefore >= published * 0.6,
      `A got ${a.frames.length - aBefore} of ${published} frames meanwhile`,
    );
    for (const [i, v] of env.viewers.entries()) {
      assert.equal(
        hdr(v.frames[0]).keyframe,
        true,
        `viewer ${i} first chunk`,
      );
      assert.ok(v.frames.length >= 10, `viewer ${i}: ${v.frames.length}`);
      await checkStream(v.frames, env.stamps, `viewer ${i}`);
    }
    // Everyone got the same bytes for the same frame.
    const last = env.viewers.map((v) => v.frames.at(-1)!);
    for (const f of last) {
      if (hdr(f).timestamp_us === hdr(last[0]).timestamp_us) {
        assert.deepEqual(f.payload, last[0].payload);
      }
    }
  },
});

Deno.test({
  name:
    "forced drop: a viewer that stops acking while another keeps up resumes on a keyframe, never a delta out of order",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open({ inflightTimeout: 60 });
    const pub = env.publisher(30);
    const fast = await env.viewer();
    const slow = await env.viewer({ autoAck: false });
    await until(() => slow.frames.length >= 2, 5000, "the window to fill");
    await sleep(400); // the shared stream moves on without it
    assert.equal(slow.frames.length, 2, "nothing past the window");
    const stalled = env.display.stats().viewerStats[1];
    assert.equal(stalled.inflight, 2);
    assert.ok(stalled.dropped > 0, "chunks were dropped for it");
    // It acks again: the next chunk must be an IDR, then in-order deltas.
    const stopAcks = env.lateAcks(slow, 0);
    slow.ack(2);
    await until(() => slow.frames.length >= 12, 5000, "it to resume");
    assert.equal(hdr(slow.frames[2]).keyframe, true, "resumes on an IDR");
    pub.stop();
    await sleep(150);
    await stopAcks();
    await checkStream(slow.frames, env.stamps, "slow viewer");
    const { keyframes } = await checkStream(
      fast.frames,
      env.stamps,
      "fast viewer",
    );
    assert.ok(keyframes <= 4, `fast viewer saw ${keyframes} IDRs`);
  },
});

Deno.test({
  name:
    "inflight_timeout: a silent video viewer gets its window cleared and a keyframe",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open({ inflightTimeout: 0.3 });
    env.publisher(30);
    await env.viewer(); // one that keeps up
    const silent = await env.viewer({ autoAck: false });
    await until(
      () => silent.frames.length >= 3,
      3000,
      "a frame after the timeout",
    );
    assert.equal(hdr(silent.frames[0]).keyframe, true);
    assert.equal(hdr(silent.frames[2]).keyframe, true, "after the timeout");
    assert.equal(hdr(silent.frames[2]).seq, 3);
  },
});

Deno.test({
  name:
    "a slow viewer beside a fast one: the fast one keeps its frame rate, IDRs stay bounded by minKeyframeInterval",
  ignore,
  fn: async () => {
    const minKeyframeInterval = 0.25, seconds = 2;
    await using env = await VideoEnv.open({ minKeyframeInterval });
    const fast = await env.viewer();
    const slow = await env.viewer({ autoAck: false });
    env.lateAcks(slow, 150);
    await Promise.all([fast.nextText("config"), slow.nextText("config")]);
    const pub = env.publisher(30);
    await sleep(seconds * 1000);
    pub.stop();
    await sleep(200);
    const published = pub.count;
    assert.ok(
      fast.frames.length >= published * 0.8,
      `fast viewer got ${fast.frames.length} of ${published}`,
    );
    assert.ok(
      slow.frames.length > 3,
      `slow viewer got ${slow.frames.length}`,
    );
    assert.ok(
      slow.frames.length < published * 0.6,
      `the slow one is slow: ${slow.frames.length}`,
    );
    const { keyframes } = await checkStream(fast.frames, env.stamps, "fast");
    assert.ok(
      keyframes <= seconds / minKeyframeInterval + 2,
      `${keyframes} IDRs in ${seconds} s`,
    );
    await checkStream(slow.frames, env.stamps, "slow");
  },
});

Deno.test({
  name:
    "request_keyframe and decoder_reset get a keyframe next, while frames flow",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open();
    const pub = env.publisher(30);
    const v = await env.viewer();
    for (
      const msg of [{ type: "request_keyframe", reason: "test" }, {
        type: "decoder_reset",
      }]
    ) {
      await sleep(400); // deltas flow meanwhile
      const before = v.frames.length;
      assert.equal(hdr(v.frames.at(-1)!).keyframe, false, "a delta last");
      v.send(msg);
      await until(
        () => v.frames.slice(before).some((f) => hdr(f).keyframe),
        2000,
        `a keyframe after ${msg.type}`,
      );
    }
    pub.stop();
    await sleep(100);
    await checkStream(v.frames, env.stamps, "viewer");
  },
});

Deno.test({
  name:
    "on a resting scene, a joiner, request_keyframe and decoder_reset get an IDR of the resting frame",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open();
    const pub = env.publisher(null);
    const v = await env.viewer();
    await v.nextText("config");
    pub.one();
    await v.nextFrame();
    pub.one();
    await v.nextFrame();
    // A viewer joining now (sooner than minKeyframeInterval after the
    // last IDR) gets the resting frame as an IDR too.
    const late = await env.viewer();
    const lf = await late.nextFrame(2000).catch(() => null);
    await late.close();
    assert.ok(lf, "no chunk for a viewer joining a resting scene");
    assert.equal(hdr(lf).keyframe, true);
    assert.equal(hdr(lf).timestamp_us, hdr(v.frames[1]).timestamp_us);
    for (
      const msg of [{ type: "request_keyframe", reason: "test" }, {
        type: "decoder_reset",
      }]
    ) {
      // Asked at once: sooner than minKeyframeInterval after the last IDR.
      v.send(msg);
      const f = await v.nextFrame(2000).catch(() => null);
      assert.ok(f, `no chunk after ${msg.type} on a resting scene`);
      assert.equal(hdr(f).keyframe, true);
      assert.equal(hdr(f).timestamp_us, hdr(v.frames[1]).timestamp_us);
    }
    await checkStream(v.frames, env.stamps, "viewer");
  },
});

Deno.test({
  name:
    "still after settle on video: one more IDR of the resting frame, larger and cleaner; then a keyframe before new deltas",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open({
      stillAfter: 0.2,
      bitrate: 300_000,
    });
    const pub = env.publisher(null, noisy);
    const v = await env.viewer();
    await v.nextText("config");
    for (let i = 0; i < 4; i++) {
      pub.one();
      await v.nextFrame();
      await sleep(30);
    }
    const live = v.frames.at(-1)!;
    assert.equal(hdr(live).keyframe, false);
    const still = await v.nextFrame(3000);
    const h = hdr(still);
    assert.equal(h.type, "video_chunk");
    assert.equal(h.keyframe, true);
    assert.equal(h.seq, hdr(live).seq + 1);
    assert.equal(h.timestamp_us, hdr(live).timestamp_us, "the same frame");
    assert.equal(h.codec, codecFromAnnexB(still.payload));
    assert.ok(
      still.payload.length > live.payload.length,
      `still ${still.payload.length} B vs live ${live.payload.length} B`,
    );
    // Decoded on its own, the still is closer to the source than the live
    // picture decoded at the end of its chain.
    const want = noisy(W, H, 3);
    const dec = await AvDecoder.open();
    let livePsnr = 0;
    try {
      for (const f of v.frames.slice(0, 4)) {
        const [pic] = await dec.decode(f.payload);
        livePsnr = psnr(pic.data, want);
      }
      const [pic] = await dec.decode(still.payload);
      const stillPsnr = psnr(pic.data, want);
      assert.ok(
        stillPsnr > livePsnr + 3,
        `still ${stillPsnr.toFixed(1)} dB vs live ${livePsnr.toFixed(1)} dB`,
      );
    } finally {
      dec.close();
    }
    await sleep(400);
    assert.equal(v.frames.length, 5, "the still is sent once");
    // The decoder now holds the still: the next live chunk must be an IDR.
    pub.one();
    const next = await v.nextFrame();
    assert.equal(hdr(next).keyframe, true, "an IDR after the still");
    await checkStream(v.frames, env.stamps, "viewer", noisy, 22);
  },
});

Deno.test({
  name:
    "resize on video: a new config with the new size, then a keyframe of that size",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open();
    const pub = env.publisher(null);
    const v = await env.viewer();
    await v.nextText("config");
    pub.one();
    await v.nextFrame();
    pub.one();
    await v.nextFrame();
    env.display.resize(160, 96);
    const config = await v.nextText("config");
    assert.equal(config.transport, "webcodecs");
    assert.deepEqual([config.width, config.height], [160, 96]);
    assert.match(String(config.codec), /^avc1\.42/);
    pub.one();
    const f = await v.nextFrame();
    const h = hdr(f);
    assert.equal(h.keyframe, true);
    assert.deepEqual([h.width, h.height], [160, 96]);
    assert.equal(h.codec, config.codec);
    assert.equal(h.seq, 3);
    pub.one();
    assert.equal(hdr(await v.nextFrame()).keyframe, false);
    // A decoder that follows the whole stream gets the new size.
    const dec = await AvDecoder.open();
    try {
      const sizes = [];
      for (const g of v.frames) {
        const [pic] = await dec.decode(g.payload);
        sizes.push(`${pic.width}x${pic.height}`);
      }
      assert.deepEqual(sizes, ["320x240", "320x240", "160x96", "160x96"]);
    } finally {
      dec.close();
    }
    await checkStream(v.frames.slice(2), env.stamps, "after the resize");
  },
});

Deno.test({
  name:
    "transport switch by hello: image (JPEG frames), then back to webcodecs starting on a keyframe",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open();
    const pub = env.publisher(30);
    const v = await env.viewer();
    // Every message in arrival order: which config each frame came under.
    const order: string[] = [];
    v.ws.addEventListener("message", (e) => {
      if (typeof e.data === "string") {
        const m = JSON.parse(e.data);
        if (m.type === "config") order.push(`config:${m.transport}`);
      } else order.push(String(v.frames.at(-1)!.header.type));
    });
    assert.equal((await v.nextText("config")).transport, "webcodecs");
    await until(() => v.frames.length >= 5, 3000, "video frames");
    v.send({ type: "hello", ...VIDEO_HELLO, transport: "image" });
    const ic = await v.nextText("config");
    assert.equal(ic.transport, "image");
    assert.equal(ic.mime, "image/jpeg");
    const atImage = order.length;
    await until(
      () => order.slice(atImage).filter((t) => t === "image_frame").length >= 5,
      3000,
      "JPEG frames",
    );
    v.send({ type: "hello", ...VIDEO_HELLO, transport: "webcodecs" });
    const vc = await v.nextText("config");
    assert.equal(vc.transport, "webcodecs");
    const atVideo = order.length;
    await until(
      () => order.slice(atVideo).filter((t) => t === "video_chunk").length >= 5,
      3000,
      "video frames again",
    );
    pub.stop();
    await sleep(100);
    const configs = order.filter((t) => t.startsWith("config"));
    assert.deepEqual(configs, [
      "config:webcodecs",
      "config:image",
      "config:webcodecs",
    ]);
    // Under each config only its kind of frame.
    let current = "";
    for (const t of order) {
      if (t.startsWith("config:")) current = t.slice(7);
      else {
        assert.equal(
          t,
          current === "image" ? "image_frame" : "video_chunk",
          `${t} under ${current}: ${order.join(" ")}`,
        );
      }
    }
    // seq runs on across the switches.
    v.frames.forEach((f, i) => assert.equal(f.header.seq, i + 1));
    const images = v.frames.filter((f) => f.header.type === "image_frame");
    assert.equal(images[0].header.mime, "image/jpeg");
    const pic = await decodeImage(images[0].payload);
    assert.ok(near(pixelAt(pic, 40, 40), [255, 0, 0], 16));
    const videos = v.frames.filter((f) => f.header.type === "video_chunk");
    const firstAfter = videos.findIndex((f) =>
      f.header.seq > images.at(-1)!.header.seq
    );
    assert.equal(hdr(videos[firstAfter]).keyframe, true, "back on an IDR");
    await checkStream(videos.slice(firstAfter), env.stamps, "after");
    await checkStream(
      videos.slice(0, firstAfter),
      env.stamps,
      "before",
    );
  },
});

Deno.test({
  name: "a display forced to webcodecs refuses an image-only viewer with 1003",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open({ transport: "webcodecs" });
    const img = await env.viewer({
      hello: { supported: ["image/jpeg", "image/png"] },
    });
    const { code } = await img.closed;
    assert.equal(code, 1003);
    assert.equal(img.frames.length, 0);
    // A viewer that decodes H.264 is served.
    const v = await env.viewer();
    assert.equal((await v.nextText("config")).transport, "webcodecs");
  },
});

Deno.test({
  name:
    "an odd-sized display still serves an H.264-capable viewer, and H.264 comes back at an even size",
  ignore,
  fn: async () => {
    await using env = await VideoEnv.open();
    const pub = env.publisher(null);
    const v = await env.viewer();
    assert.equal((await v.nextText("config")).transport, "webcodecs");
    pub.one();
    assert.equal(hdr(await v.nextFrame()).type, "video_chunk");
    // libx264 takes only even sizes (4:2:0): at 251x131 the viewer must
    // still see frames of the right size, by whatever transport.
    env.display.resize(251, 131);
    const odd = await v.nextText("config");
    assert.deepEqual([odd.width, odd.height], [251, 131]);
    pub.one();
    const f = await v.nextFrame();
    assert.deepEqual([f.header.width, f.header.height], [251, 131]);
    // Back at an even size the viewer is on H.264 again.
    env.display.resize(W, H);
    const back = await v.nextText("config");
    assert.deepEqual([back.width, back.height], [W, H]);
    assert.equal(
      back.transport,
      "webcodecs",
      "an odd size once must not turn H.264 off for good",
    );
    pub.one();
    const g = await v.nextFrame();
    assert.equal(hdr(g).type, "video_chunk");
    assert.equal(hdr(g).keyframe, true);
  },
});
