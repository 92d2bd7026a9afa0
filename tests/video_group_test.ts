// The shared H.264 group's failure policy, with scripted encoders (no codec):
// a failed frame is tried again at once; after FAILURES_BEFORE_SWITCH failed
// encodes in a row the group asks its encoder source for another kind of
// encoder (NVENC → libx264), and when there is none it gives up once (its
// viewers move to images) instead of retrying forever.

import assert from "node:assert/strict";
import { systemClock } from "../src/clock.ts";
import type { H264Settings, RawPicture } from "../src/encoders/h264.ts";
import {
  FAILURES_BEFORE_SWITCH,
  type VideoEncoder,
  type VideoEncoders,
} from "../src/encoders/video_encoder.ts";
import { FramePool, type PooledFrame } from "../src/frame.ts";
import type { VideoChunk } from "../src/hub/tracks.ts";
import { VideoGroup } from "../src/hub/video_group.ts";
import { until } from "./_viewer.ts";

const SETTINGS: H264Settings = {
  width: 16,
  height: 16,
  fps: 30,
  bitrate: 1e5,
  gop: 60,
  preset: "ultrafast",
};
const IDR = new Uint8Array([
  0,
  0,
  0,
  1,
  0x67,
  0,
  0,
  0,
  1,
  0x68,
  0,
  0,
  0,
  1,
  0x65,
]);

/** An encoder that fails while `broken()` says so, else returns an IDR. */
class Scripted implements VideoEncoder {
  readonly codec: string;
  encodes = 0;
  closed = false;
  constructor(readonly name: string, readonly broken: () => boolean) {
    this.codec = `avc1.42C0${name === "a" ? "1E" : "1F"}`;
  }
  encode(_p: RawPicture, _key: boolean) {
    this.encodes++;
    if (this.broken()) {
      return Promise.reject(new Error(`${this.name} is broken`));
    }
    return Promise.resolve({ data: IDR, keyframe: true });
  }
  close(): Promise<void> {
    this.closed = true;
    return Promise.resolve();
  }
}

function harness(kinds: Scripted[], switchTo: boolean) {
  const opened: Scripted[] = [];
  const asked: string[] = [];
  const encoders: VideoEncoders = {
    open: () => {
      const next = kinds[Math.min(opened.length, kinds.length - 1)];
      opened.push(next);
      return Promise.resolve(next);
    },
    codec: () => Promise.resolve("avc1.42C01E"),
    failing: (enc, err) => {
      asked.push(`${(enc as Scripted).name}: ${(err as Error).message}`);
      return switchTo;
    },
  };
  const chunks: VideoChunk[] = [];
  const broken: string[] = [];
  const logs: string[] = [];
  const pool = new FramePool();
  let latest: PooledFrame | null = null;
  // The hub's part: ask for the newest frame again whenever the group idles.
  const group: VideoGroup = new VideoGroup({
    key: "h264:test",
    settings: SETTINGS,
    encoders,
    minKeyframeInterval: 0,
    latest: () => latest,
    pool,
    clock: systemClock,
    log: (_level, message) => logs.push(message),
    onChunk: (chunk) => chunks.push(chunk),
    onIdle: () =>
      queueMicrotask(() => latest && !group.closed && group.request()),
    onBroken: (reason) => broken.push(reason),
  });
  let version = 0;
  const publish = () => {
    latest = pool.take({
      rgb: new Uint8Array(16 * 16 * 4),
      width: 16,
      height: 16,
      channels: 4,
      version: ++version,
      timestampUs: Date.now() * 1000,
      pixelRatio: 1,
    });
    group.request();
  };
  return { group, opened, asked, chunks, broken, logs, publish };
}

Deno.test("video group: an encoder failing N encodes in a row is swapped when the source has another", async () => {
  let down = false;
  const a = new Scripted("a", () => down), b = new Scripted("b", () => false);
  const h = harness([a, b], true);
  h.publish();
  await until(() => h.chunks.length === 1, 2000, "the first chunk");
  down = true; // a lost GPU: every encode on `a` fails from here
  h.publish();
  await until(() => h.chunks.length === 2, 2000, "a chunk from b");
  assert.equal(
    a.encodes,
    1 + FAILURES_BEFORE_SWITCH,
    "the same frame, retried",
  );
  assert.equal(h.asked.length, 1);
  assert.match(h.asked[0], /^a: a is broken$/);
  assert.deepEqual(h.opened.map((e) => e.name), ["a", "b"]);
  assert.equal(a.closed, true, "the failing encoder is closed");
  assert.equal(h.chunks[1].keyframe, true, "b starts on an IDR");
  assert.equal(h.chunks[1].codec, b.codec, "chunks carry b's codec string");
  assert.equal(
    h.logs.length,
    FAILURES_BEFORE_SWITCH - 1,
    "an error line per failure before the switch",
  );
  assert.deepEqual(h.broken, []);
  h.publish();
  await until(() => h.chunks.length === 3, 2000, "b goes on");
  await h.group.close();
});

Deno.test("video group: with no other encoder it gives up once after N failures, no endless retries", async () => {
  const a = new Scripted("a", () => true);
  const h = harness([a], false);
  h.publish();
  await until(() => h.broken.length === 1, 2000, "the group to give up");
  await new Promise((r) => setTimeout(r, 100));
  assert.equal(a.encodes, FAILURES_BEFORE_SWITCH, "no retries after giving up");
  assert.equal(h.group.closed, true);
  assert.match(
    h.broken[0],
    /^H\.264 encoder h264:test failed 3 encodes in a row: a is broken$/,
  );
  assert.equal(h.asked.length, 1, "the source was asked first");
  h.publish();
  await new Promise((r) => setTimeout(r, 50));
  assert.equal(
    a.encodes,
    FAILURES_BEFORE_SWITCH,
    "a closed group encodes nothing",
  );
  assert.deepEqual(h.chunks, []);
  await h.group.close();
});
