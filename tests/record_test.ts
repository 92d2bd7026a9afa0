// Recordings on the server, judged by FFmpeg's ffprobe and decoder: a 10 s
// recording of a moving scene with an H.264 viewer live (right codec, size,
// duration and frame count; the last frame matches the published one; no
// encode of its own), a recording killed with SIGKILL in a child process,
// sparse publishing, an own size, a resize, a stream target and bad input.

import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";
import { Display, serve, silentLogger } from "../mod.ts";
import { probeH264 } from "../src/encoders/h264.ts";
import { lastFrame, mediaMissing, probe, psnrRgb } from "./_media.ts";
import { sleep, TestViewer, until } from "./_viewer.ts";

const missing = mediaMissing() ??
  ((await probeH264()).ok ? null : "libx264 is not available");
if (missing) console.warn(`skipping the recording tests: ${missing}`);
const ignore = missing !== null;

/** A moving scene: smooth gradients that shift with `t`. */
function scene(width: number, height: number, t: number): Uint8Array {
  const rgba = new Uint8Array(width * height * 4);
  for (let y = 0, i = 0; y < height; y++) {
    for (let x = 0; x < width; x++, i += 4) {
      rgba[i] = (x + t * 4) & 255;
      rgba[i + 1] = (y * 255 / height + t) & 255;
      rgba[i + 2] = 128 + 100 * Math.sin((x + y + t * 6) / 40) | 0;
      rgba[i + 3] = 255;
    }
  }
  return rgba;
}

async function tempFile(): Promise<string> {
  return await Deno.makeTempFile({ prefix: "rfb_rec_", suffix: ".mp4" });
}

Deno.test({
  name:
    "record: 10 s of a moving scene with an H.264 viewer live: ffprobe reads H.264 at the right size, duration within 5% of wall time, frames within 2 of those published, the last frame matches (PSNR), and no encode was added",
  ignore,
  fn: async () => {
    const W = 480, H = 270;
    const path = await tempFile();
    await using display = await serve(W, H, {
      port: 0,
      logger: silentLogger,
      stillAfter: false,
      bitrate: 2_000_000,
    });
    await using viewer = await TestViewer.open(
      `ws://127.0.0.1:${display.port}/`,
      { hello: { supported: ["webcodecs/h264-annexb"] }, keep: false },
    );
    const ring = Array.from({ length: 30 }, (_, i) => scene(W, H, i * 3));
    let t = 0;
    const publish = () => display.publish(ring[t++ % ring.length]);
    // The viewer watches first: the shared encoder runs for it.
    for (let i = 0; i < 15; i++) {
      publish();
      await sleep(40);
    }
    await until(() => viewer.received > 5, 5000, "the viewer's chunks");
    const before = display.stats();
    const rec = await display.record(path);
    const started = performance.now();
    for (let due = started; performance.now() - started < 10_000;) {
      publish();
      due += 1000 / 25; // 25 fps: room for an encode on a busy machine
      await sleep(Math.max(0, due - performance.now()));
    }
    const last = ring[(t - 1) % ring.length];
    await until(
      () => display.stats().encodes - before.encodes >= t - 15 - 2,
      2000,
      `the last frames encoded (${
        display.stats().encodes - before.encodes
      } of ${t - 15}, ${JSON.stringify(display.stats().recordings)})`,
    );
    await sleep(100);
    const during = display.stats();
    assert.ok(rec.frames > 200, `live counter: ${rec.frames} frames`);
    assert.ok(rec.bytes > 0 && rec.duration > 9);
    assert.equal(during.recordings?.length, 1);
    assert.equal(during.recordings![0].encoder, "shared");
    const result = await rec.stop();
    const wall = (performance.now() - started) / 1000;
    const published = during.framesPublished - before.framesPublished;
    const encodes = during.encodes - before.encodes;
    // One encode per published frame, for the viewer and the file alike.
    assert.ok(
      encodes <= published + 1,
      `${encodes} encodes for ${published} frames published`,
    );
    assert.equal(rec.stats().encodes, 0, "the recording ran no encode");
    assert.ok(
      Math.abs(result.frames - published) <= 2,
      `${result.frames} frames recorded, ${published} published`,
    );
    const p = await probe(path);
    assert.equal(p.codec, "h264");
    assert.equal(p.width, W);
    assert.equal(p.height, H);
    assert.equal(p.frames, result.frames);
    assert.ok(p.keys[0], "it starts with a keyframe");
    assert.ok(
      Math.abs(p.duration - wall) / wall < 0.05,
      `duration ${p.duration} s, wall ${wall.toFixed(2)} s`,
    );
    assert.ok(Math.abs(p.duration - result.duration) < 0.05);
    assert.equal((await Deno.stat(path)).size, result.bytes);
    const psnr = psnrRgb(last, await lastFrame(path, W, H));
    assert.ok(psnr > 30, `the last frame's PSNR: ${psnr.toFixed(1)} dB`);
    await Deno.remove(path);
  },
});

Deno.test({
  name:
    "record: publishing sparsely keeps its timing: frames at their publish times, the last lasting until stop()",
  ignore,
  fn: async () => {
    const W = 320, H = 240;
    const path = await tempFile();
    await using display = new Display(W, H, { logger: silentLogger });
    const rec = await display.record(path);
    const gaps = [0, 300, 700, 100, 900];
    const at: number[] = [];
    for (let i = 0; i < gaps.length; i++) {
      await sleep(gaps[i]);
      at.push(Date.now());
      display.publish(scene(W, H, i * 20));
    }
    await sleep(500);
    const result = await rec.stop();
    const end = Date.now();
    const p = await probe(path);
    assert.equal(p.frames, gaps.length);
    assert.equal(result.frames, gaps.length);
    for (let i = 0; i < gaps.length; i++) {
      const want = (at[i] - at[0]) / 1000;
      assert.ok(
        Math.abs(p.times[i] - want) < 0.015,
        `frame ${i} at ${p.times[i]} s, published at ${want} s`,
      );
    }
    const want = (end - at[0]) / 1000;
    assert.ok(
      Math.abs(p.duration - want) < 0.05,
      `duration ${p.duration} s, ${want} s from the first frame to stop()`,
    );
    await Deno.remove(path);
  },
});

Deno.test({
  name:
    "record: a recording killed with SIGKILL in a child process plays up to its last fragment",
  ignore,
  fn: async () => {
    const path = await tempFile();
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        fileURLToPath(new URL("./_record_child.ts", import.meta.url)),
        path,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    let published = 0;
    const guard = setTimeout(() => child.kill("SIGKILL"), 60_000); // never hang
    const lines = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let text = "";
    while (published < 75) { // 2.5 s at 30 fps, fragments of 0.5 s
      const { value, done } = await lines.read();
      if (done) break;
      text += value;
      const m = [...text.matchAll(/published (\d+)/g)].at(-1);
      if (m) published = Number(m[1]);
    }
    clearTimeout(guard);
    child.kill("SIGKILL");
    const status = await child.status;
    await lines.cancel().catch(() => {});
    assert.equal(status.signal, "SIGKILL");
    const p = await probe(path);
    assert.equal(p.codec, "h264");
    assert.equal(p.width, 320);
    // Everything up to the last whole fragment: at most ~1 s is lost.
    assert.ok(
      p.frames >= published - 35 && p.frames > 20,
      `${p.frames} frames play of ${published} published`,
    );
    assert.ok(p.duration > 1.2, `plays ${p.duration} s`);
    await Deno.remove(path);
  },
});

Deno.test({
  name:
    "record: its own size and bitrate is one more encode (stats say so), and goes on through a resize; a shared recording ends at a resize",
  ignore,
  fn: async () => {
    const own = await tempFile(), shared = await tempFile();
    await using display = new Display(640, 360, { logger: silentLogger });
    display.publish(scene(640, 360, 0));
    const small = await display.record(own, { width: 320, bitrate: 300_000 });
    const same = await display.record(shared);
    assert.equal(small.stats().encoder, "own");
    assert.equal(same.stats().encoder, "shared");
    for (let i = 1; i <= 20; i++) {
      display.publish(scene(640, 360, i));
      await sleep(30);
    }
    await until(() => small.frames >= 15 && same.frames >= 15, 3000, "frames");
    assert.ok(small.stats().encodes >= 15, `${small.stats().encodes} encodes`);
    display.resize(320, 240);
    const ended = await same.done;
    assert.match(same.stats().state, /resized/);
    for (let i = 0; i < 10; i++) {
      display.publish(scene(320, 240, i));
      await sleep(30);
    }
    await until(() => small.frames >= 25, 3000, "frames after the resize");
    const result = await small.stop();
    const p = await probe(own), q = await probe(shared);
    assert.deepEqual([p.width, p.height], [320, 180]);
    assert.equal(p.frames, result.frames);
    assert.deepEqual([q.width, q.height], [640, 360]);
    assert.equal(q.frames, ended.frames);
    await Deno.remove(own);
    await Deno.remove(shared);
  },
});

Deno.test({
  name:
    "record: into a WritableStream; closing the display ends it; await using stops it",
  ignore,
  fn: async () => {
    const chunks: Uint8Array[] = [];
    const display = new Display(160, 120, { logger: silentLogger });
    const rec = await display.record(
      new WritableStream({ write: (c) => void chunks.push(c) }),
    );
    for (let i = 0; i < 10; i++) {
      display.publish(scene(160, 120, i));
      await sleep(30);
    }
    await until(() => rec.frames >= 8, 3000, "frames");
    await display.close();
    const result = await rec.done;
    assert.match(rec.stats().state, /closed/);
    const bytes = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of chunks) bytes.set(c, (o += c.length) - c.length);
    assert.equal(bytes.length, result.bytes);
    const p = await probe(bytes);
    assert.equal(p.frames, result.frames);
    assert.deepEqual([p.width, p.height], [160, 120]);

    const path = await tempFile();
    {
      await using d2 = new Display(64, 64, { logger: silentLogger });
      await using r2 = await d2.record(path);
      d2.publish(new Uint8Array(64 * 64 * 4));
      await until(() => r2.frames === 1, 3000, "a frame");
    }
    assert.equal((await probe(path)).frames, 1);
    await Deno.remove(path);
  },
});

Deno.test({
  name: "record: bad options and targets get clear errors",
  ignore,
  fn: async () => {
    await using display = new Display(64, 64, { logger: silentLogger });
    await assert.rejects(
      display.record("x.mp4", { widht: 32 } as never),
      /unknown option "widht" \(did you mean 'width'\?\)/,
    );
    await assert.rejects(
      display.record("x.mp4", { fragment: 0 }),
      /fragment must be 0.05-60 seconds/,
    );
    await assert.rejects(
      display.record("x.mp4", { width: 33, height: 20 }),
      /must be even/,
    );
    await assert.rejects(
      display.record(42 as never),
      /a file path or a WritableStream/,
    );
    await assert.rejects(
      display.record("/nonexistent-dir/x.mp4"),
      /No such file|NotFound|not found/i,
    );
    await display.close();
    assert.throws(() => display.record("x.mp4"), /closed/);
  },
});
