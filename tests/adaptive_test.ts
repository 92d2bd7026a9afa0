// Adaptive quality: the link meter, the controller's choices, the ladders, and a slow H.264 viewer stepping down live.

import assert from "node:assert/strict";
import {
  AdaptiveController,
  IMAGE_LADDER,
  IMAGE_LADDER_FULL_SIZE,
  imageCost,
  LADDER,
  type LinkObservation,
} from "../src/session/adaptive.ts";
import { LinkMeter } from "../src/session/link.ts";
import { serve } from "../mod.ts";
import { probeH264 } from "../src/encoders/h264.ts";
import { sleep, solid, TestViewer, until } from "./_viewer.ts";

Deno.test("link meter: the rate counts the network's time, not the client's, nor idle time", () => {
  const link = new LinkMeter();
  link.sent(1, 50_000, 0);
  // Arrived at 100 ms, acked at 130 (30 ms to decode and draw): 4 Mbit/s.
  link.acked(1, 130, 30);
  assert.equal(Math.round(link.rateBps()!), 4_000_000);
  // An idle second, then a frame sent at 1130 that arrives 100 ms later:
  // the idle time does not count, so the rate stays 4 Mbit/s.
  link.sent(2, 50_000, 1130);
  assert.equal(link.inflightBytes, 50_000);
  link.acked(2, 1230, 0);
  assert.equal(Math.round(link.rateBps()!), 4_000_000);
  assert.equal(link.inflightBytes, 0);
});

Deno.test("link meter: frames queued behind each other count from the previous arrival", () => {
  const link = new LinkMeter();
  // Three frames sent at once over a 1 Mbit/s link: each takes 100 ms.
  for (let s = 1; s <= 3; s++) link.sent(s, 12_500, 0);
  assert.equal(Math.round(link.drainMs()), 0, "unknown rate: no drain time");
  link.acked(1, 100, 0);
  assert.equal(Math.round(link.drainMs()), 200, "two frames left at 1 Mbit/s");
  link.acked(2, 200, 0);
  link.acked(3, 300, 0);
  assert.equal(Math.round(link.rateBps()!), 1_000_000);
  assert.equal(link.acked(3, 400, 0), 0, "a repeated ack settles nothing");
});

Deno.test("link meter: a cumulative ack settles every frame before it; old samples age out", () => {
  const link = new LinkMeter();
  link.sent(1, 10_000, 0);
  link.sent(2, 10_000, 0);
  assert.equal(link.acked(2, 80, 0), 20_000); // 20 KB in 80 ms: 2 Mbit/s
  assert.equal(Math.round(link.rateBps()!), 2_000_000);
  for (let s = 3; s <= 6; s++) {
    const at = 5000 + s * 100;
    link.sent(s, 10_000, at);
    link.acked(s, at + 20, 0); // 4 Mbit/s now
  }
  assert.equal(Math.round(link.rateBps(5700)!), 4_000_000);
});

/** An observation with a healthy round trip. */
function at(
  rateBps: number | null,
  need: (step: number) => number,
  extra: Partial<LinkObservation> = {},
): LinkObservation {
  return { rttMs: 10, decodeQueue: 0, rateBps, need, ...extra };
}

const NEED = [8e6, 5e6, 3e6, 2e6, 1e6, 5e5];
const need = (step: number) => NEED[step];

Deno.test("adaptive: a link that cannot carry the step goes straight to the best step that fits", () => {
  const c = new AdaptiveController(NEED.length, { downAfterMs: 250 });
  assert.equal(c.observe(0, at(20e6, need)), null, "8 Mbit/s fits in 20");
  assert.equal(c.observe(100, at(2e6, need)), null, "not for long yet");
  // 2 Mbit/s: 0.7 of it is 1.4, so the best step that fits needs 1 Mbit/s.
  assert.equal(c.observe(350, at(2e6, need)), 4);
  assert.equal(c.step, 4);
  assert.equal(c.observe(400, at(2e6, need)), null, "and stays there");
});

Deno.test("adaptive: recovery waits for a healthy stretch, probes a step at a time, and keeps off a step that just failed", () => {
  const c = new AdaptiveController(NEED.length, {
    downAfterMs: 100,
    upAfterMs: 1000,
  });
  c.observe(0, at(20e6, need));
  c.observe(0, at(0.5e6, need));
  assert.equal(c.observe(100, at(0.5e6, need)), 5); // nothing fits: the last step
  // The link comes back at 20 Mbit/s: every step fits, but a climb goes at
  // most to a step needing PROBE_GAIN times the current one.
  assert.equal(c.observe(200, at(20e6, need)), null);
  assert.equal(c.observe(1100, at(20e6, need)), null, "not 1 s healthy yet");
  assert.equal(c.observe(1200, at(20e6, need)), 4, "0.5 → 1 Mbit/s, not 2");
  assert.equal(c.observe(1800, at(20e6, need)), null, "one climb per stretch");
  assert.equal(c.observe(2200, at(20e6, need)), 3);
  assert.equal(c.observe(3200, at(20e6, need)), 2);
  assert.equal(c.observe(4200, at(20e6, need)), 1);
  // Step 0 failed at t=100 (it was left for a slow link): off it for 3 s.
  assert.equal(c.observe(5200, at(20e6, need)), 0);
});

Deno.test("adaptive: a climb may skip steps that need little more", () => {
  const close = [4e6, 3.5e6, 3e6, 1e6];
  const c = new AdaptiveController(close.length, {
    downAfterMs: 0,
    upAfterMs: 500,
  });
  const n = (i: number) => close[i];
  c.observe(0, at(20e6, n));
  assert.equal(c.observe(0, at(1e6, n)), 3);
  c.observe(100, at(20e6, n));
  // From 1 Mbit/s, 2.2x allows up to 2.2: only step 2 (3 Mbit/s) is over.
  assert.equal(c.observe(700, at(20e6, n)), 2, "one step: the next needs 3x");
  // From 3 Mbit/s: steps 1 (3.5) and 0 (4) are both within 2.2x, but step 0
  // failed lately.
  assert.equal(c.observe(1300, at(20e6, n)), 1);
});

Deno.test("adaptive: a step that fails again is kept off longer", () => {
  const c = new AdaptiveController(NEED.length, {
    downAfterMs: 0,
    upAfterMs: 1000,
  });
  // The link carries 4.5 Mbit/s at times (step 1 fits) and 3.2 at others.
  let t = 0;
  const downs: number[] = [];
  for (; t < 60_000; t += 100) {
    const rate = c.step === 1 ? 3.2e6 : 7.2e6; // step 1 overloads the link
    const moved = c.observe(t, at(rate, need));
    if (moved === 2) downs.push(t);
  }
  assert.ok(downs.length >= 2, `step 1 was tried and failed: ${downs}`);
  const gaps = downs.slice(1).map((d, i) => d - downs[i]);
  for (let i = 1; i < gaps.length; i++) {
    assert.ok(gaps[i] >= gaps[i - 1], `waits grow: ${gaps}`);
  }
  // 3 s, then 6 s (the most): a failing step is tried at most every 6 s.
  assert.ok(gaps.at(-1)! >= 6000, `not swinging every few seconds: ${downs}`);
});

Deno.test("adaptive: without a rate, a round trip far over its best is congestion, and so is a long decode queue", () => {
  const c = new AdaptiveController(LADDER.length, { downAfterMs: 400 });
  const none = () => 0;
  assert.equal(c.observe(0, at(null, none, { rttMs: 5 })), null);
  assert.equal(c.observe(100, at(null, none, { rttMs: 200 })), null);
  assert.equal(c.observe(500, at(null, none, { rttMs: 200 })), 1);
  assert.equal(
    c.observe(600, at(20e6, need, { decodeQueue: 5 })),
    null,
    "a decode queue is trouble even on a fast link",
  );
  assert.equal(c.observe(1000, at(20e6, need, { decodeQueue: 5 })), 2);
});

Deno.test("adaptive: a stall steps down at once; the ladders lower what matters least first", () => {
  const c = new AdaptiveController(LADDER.length);
  assert.equal(c.stalled(0), 1);
  const firstFpsDrop = LADDER.findIndex((s) => s.fps < 1);
  assert.ok(firstFpsDrop > 1);
  for (let i = 1; i < firstFpsDrop; i++) {
    assert.ok(LADDER[i].bitrate < LADDER[i - 1].bitrate);
  }
  // Images: quality before frame rate before resolution; each step needs
  // less than the one before it, and never under 1/3 of the frame rate.
  for (const ladder of [IMAGE_LADDER, IMAGE_LADDER_FULL_SIZE]) {
    const needs = ladder.map((s) => imageCost(80 * s.quality, s.scale) * s.fps);
    for (let i = 1; i < ladder.length; i++) {
      assert.ok(needs[i] < needs[i - 1], `step ${i}: ${needs}`);
    }
    const firstScale = ladder.findIndex((s) => s.scale < 1);
    const firstFps = ladder.findIndex((s) => s.fps < 1);
    assert.ok(ladder[1].quality < 1 && ladder[1].fps === 1);
    if (firstScale >= 0) assert.ok(firstFps < firstScale);
  }
  assert.ok(IMAGE_LADDER.every((s) => s.fps >= 1 / 3));
  assert.ok(IMAGE_LADDER_FULL_SIZE.every((s) => s.scale === 1));
});

const h264 = await probeH264();

Deno.test({
  name:
    "adaptive: a slow H.264 viewer is told set_quality and gets a lower target",
  ignore: !h264.ok,
  fn: async () => {
    const W = 320, H = 240;
    await using display = await serve(W, H, {
      port: 0,
      adaptive: true,
      stillAfter: false,
      logger: () => {},
    });
    const v = await TestViewer.open(`ws://127.0.0.1:${display.port}/`, {
      autoAck: false,
      hello: { supported: ["webcodecs/h264-annexb"] },
    });
    const config = await v.nextText("config");
    assert.equal(config.transport, "webcodecs");
    // Ack every chunk 250 ms late: the round trip grows far past its baseline.
    let acked = 0;
    const timers = new Set<ReturnType<typeof setTimeout>>();
    const ackLater = () => {
      for (const f of v.frames.slice(acked)) {
        const t = setTimeout(() => {
          timers.delete(t);
          v.ack(f.header.seq);
        }, acked < 3 ? 0 : 250);
        timers.add(t);
      }
      acked = v.frames.length;
    };
    const end = performance.now() + 4000;
    let i = 0;
    while (
      performance.now() < end && !v.texts.some((m) => m.type === "set_quality")
    ) {
      display.publish(solid(W, H, [i++ * 7 % 256, 90, 40]));
      ackLater();
      await sleep(33);
    }
    const q = await v.nextText("set_quality", 1000);
    const base = display.stats().viewerStats[0];
    assert.ok(
      typeof q.bitrate === "number" && q.bitrate < 300e3 * 10,
      JSON.stringify(q),
    );
    assert.equal(base.qualityStep! >= 1, true);
    assert.equal(base.targetBitrate, q.bitrate);
    await until(() => timers.size === 0, 2000, "pending acks");
    await v.close();
  },
});

Deno.test("adaptive: images climb only after a probe picture of the step above crossed the link fast enough", () => {
  const c = new AdaptiveController(NEED.length, {
    downAfterMs: 0,
    upAfterMs: 1000,
    probeFirst: true,
  });
  c.observe(0, at(20e6, need));
  assert.equal(c.observe(0, at(1.2e6, need)), 5);
  c.observe(100, at(20e6, need)); // small frames cross a token bucket at once
  assert.equal(c.observe(1200, at(20e6, need)), null, "no climb yet");
  assert.equal(c.probeStep, 4, "a picture of step 4 goes first");
  // It crossed at 1.2 Mbit/s: step 4 needs 1 Mbit/s, 0.84 of the link's
  // 1.2 is not enough room: no climb, and step 4 is kept off for a while.
  assert.equal(c.probed(1300, 1.2e6, need(4)), null);
  assert.equal(c.step, 5);
  assert.equal(c.probeStep, null);
  c.observe(2400, at(20e6, need));
  assert.equal(c.probeStep, null, "step 4 failed lately: no probe");
  // Later, a probe that crosses at 5 Mbit/s climbs.
  c.observe(6400, at(20e6, need));
  c.observe(7500, at(20e6, need));
  assert.equal(c.probeStep, 4);
  assert.equal(c.probed(7600, 5e6, need(4)), 4);
  assert.equal(c.probing(7600), true, "the new step proves itself first");
});
