// Adaptive quality: the controller's ladder walk, and a slow H.264 viewer stepping down live.

import assert from "node:assert/strict";
import { AdaptiveController, LADDER } from "../src/session/adaptive.ts";
import { serve } from "../mod.ts";
import { probeH264 } from "../src/encoders/h264.ts";
import { sleep, solid, TestViewer, until } from "./_viewer.ts";

Deno.test("adaptive: congestion steps down after a while, one step at a time", () => {
  const c = new AdaptiveController({ downAfterMs: 400, upAfterMs: 5000 });
  assert.equal(c.observe(0, 5, 0), null); // baseline 5 ms
  assert.equal(c.observe(100, 200, 0), null); // congested, not for long yet
  assert.equal(c.observe(400, 200, 0), null);
  assert.equal(c.observe(500, 200, 0), 1);
  assert.equal(c.observe(600, 200, 0), null, "no second step right away");
  assert.equal(c.observe(900, 200, 0), 2);
  assert.equal(
    c.observe(950, 5, 5),
    null,
    "a long decode queue is congestion too",
  );
  assert.equal(c.observe(1300, 5, 5), 3);
});

Deno.test("adaptive: recovery is slow: one step per five healthy seconds", () => {
  const c = new AdaptiveController({ downAfterMs: 100, upAfterMs: 5000 });
  c.observe(0, 5, 0);
  c.observe(10, 300, 0);
  c.observe(200, 300, 0);
  c.observe(400, 300, 0);
  assert.equal(c.step, 2);
  assert.equal(c.observe(500, 6, 0), null);
  assert.equal(c.observe(5000, 6, 0), null);
  assert.equal(c.observe(5500, 6, 0), 1);
  assert.equal(
    c.observe(6000, 6, 0),
    null,
    "the next step waits another stretch",
  );
  assert.equal(c.observe(10600, 6, 0), 0);
  assert.equal(c.observe(20000, 6, 0), null, "never above full quality");
});

Deno.test("adaptive: a stall steps down at once; the ladder lowers bitrate before frame rate", () => {
  const c = new AdaptiveController();
  assert.equal(c.stalled(0), 1);
  const firstFpsDrop = LADDER.findIndex((s) => s.fps < 1);
  assert.ok(firstFpsDrop > 1);
  for (let i = 1; i < firstFpsDrop; i++) {
    assert.ok(LADDER[i].bitrate < LADDER[i - 1].bitrate);
  }
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
