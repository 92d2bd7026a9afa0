// The browser client's pure logic, without a browser: where the frame sits in
// the view and how page points map to frame pixels (every fit mode, both
// pixel ratios), the input coalescer, the keyframe gate and the stall watchdog,
// the view's figures (fps, bitrate, latency and when there are none), and what
// a viewer shows of a shared stream (its sharing line and control button).

import assert from "node:assert/strict";
import {
  backingSize,
  contentRect,
  type FitMode,
  type Layout,
  toFramePoint,
} from "../client/mapping.ts";
import { InputCoalescer } from "../client/coalesce.ts";
import { KeyframeGate, StallWatchdog } from "../client/gate.ts";
import { Figures, latencyOf } from "../client/worker/figures.ts";
import {
  controlAction,
  presenceLine,
  readControl,
  readPresence,
} from "../client/sharing.ts";
import type { InputEvent, WheelEvent } from "../src/protocol.ts";

function layout(
  fit: FitMode,
  cssWidth: number,
  cssHeight: number,
  frameWidth: number,
  frameHeight: number,
  dpr = 1,
): Layout {
  return { fit, cssWidth, cssHeight, frameWidth, frameHeight, dpr };
}

function assertPoint(
  actual: { x: number; y: number; inside: boolean },
  x: number,
  y: number,
  inside: boolean,
  what: string,
): void {
  assert.ok(
    Math.abs(actual.x - x) < 1e-9 && Math.abs(actual.y - y) < 1e-9,
    `${what}: got (${actual.x}, ${actual.y}), want (${x}, ${y})`,
  );
  assert.equal(actual.inside, inside, `${what}: inside`);
}

// --- contentRect -----------------------------------------------------------

Deno.test("contentRect: contain letterboxes a wide frame top and bottom", () => {
  // 200x100 into 400x400: scale 2, 400x200, 100 px bars above and below.
  assert.deepEqual(contentRect(layout("contain", 400, 400, 200, 100)), {
    x: 0,
    y: 100,
    width: 400,
    height: 200,
  });
});

Deno.test("contentRect: contain pillarboxes a tall frame left and right", () => {
  // 100x200 into 400x400: scale 2, 200x400, 100 px bars left and right.
  assert.deepEqual(contentRect(layout("contain", 400, 400, 100, 200)), {
    x: 100,
    y: 0,
    width: 200,
    height: 400,
  });
  // Same aspect: no bars at all.
  assert.deepEqual(contentRect(layout("contain", 400, 200, 200, 100)), {
    x: 0,
    y: 0,
    width: 400,
    height: 200,
  });
});

Deno.test("contentRect: cover fills the view and crops the overflow", () => {
  // 200x100 into 400x400: scale 4, 800x400, 200 px cut off each side.
  assert.deepEqual(contentRect(layout("cover", 400, 400, 200, 100)), {
    x: -200,
    y: 0,
    width: 800,
    height: 400,
  });
  // 100x200 into 400x300: scale 4, 400x800, 250 px cut off top and bottom.
  assert.deepEqual(contentRect(layout("cover", 400, 300, 100, 200)), {
    x: 0,
    y: -250,
    width: 400,
    height: 800,
  });
});

Deno.test("contentRect: fill stretches to the view whatever the aspect", () => {
  assert.deepEqual(contentRect(layout("fill", 400, 300, 200, 100)), {
    x: 0,
    y: 0,
    width: 400,
    height: 300,
  });
  assert.deepEqual(contentRect(layout("fill", 50, 700, 200, 100, 2)), {
    x: 0,
    y: 0,
    width: 50,
    height: 700,
  });
});

Deno.test("contentRect: none is one frame pixel per device pixel, centred", () => {
  // dpr 1: 200x100 CSS px in the middle of 400x300.
  assert.deepEqual(contentRect(layout("none", 400, 300, 200, 100, 1)), {
    x: 100,
    y: 100,
    width: 200,
    height: 100,
  });
  // dpr 2: the same frame is 100x50 CSS px.
  assert.deepEqual(contentRect(layout("none", 400, 300, 200, 100, 2)), {
    x: 150,
    y: 125,
    width: 100,
    height: 50,
  });
  // A frame bigger than the view sticks out on every side.
  assert.deepEqual(contentRect(layout("none", 100, 100, 300, 200, 1)), {
    x: -100,
    y: -50,
    width: 300,
    height: 200,
  });
});

Deno.test("contentRect: a zero frame (before config) or a zero view covers the view", () => {
  for (const fit of ["contain", "cover", "fill", "none"] as const) {
    assert.deepEqual(contentRect(layout(fit, 400, 300, 0, 0)), {
      x: 0,
      y: 0,
      width: 400,
      height: 300,
    }, fit);
    assert.deepEqual(contentRect(layout(fit, 400, 300, 200, 0)), {
      x: 0,
      y: 0,
      width: 400,
      height: 300,
    }, fit);
    assert.deepEqual(contentRect(layout(fit, 0, 0, 200, 100)), {
      x: 0,
      y: 0,
      width: 0,
      height: 0,
    }, fit);
  }
});

// --- toFramePoint ----------------------------------------------------------

Deno.test("toFramePoint: contain maps through the letterbox", () => {
  const l = layout("contain", 400, 400, 200, 100);
  assertPoint(toFramePoint(l, 200, 200), 100, 50, true, "centre");
  assertPoint(toFramePoint(l, 0, 100), 0, 0, true, "top-left pixel");
  assertPoint(toFramePoint(l, 399, 299), 199.5, 99.5, true, "bottom-right");
  // Over the bars: coordinates continue outside the frame, inside false.
  assertPoint(toFramePoint(l, 200, 50), 100, -25, false, "top bar");
  assertPoint(toFramePoint(l, 10, 350), 5, 125, false, "bottom bar");
  // The bottom edge of the picture is already outside.
  assertPoint(toFramePoint(l, 100, 300), 50, 100, false, "bottom edge");
  // Pillarbox the other way round.
  const tall = layout("contain", 400, 400, 100, 200);
  assertPoint(toFramePoint(tall, 200, 200), 50, 100, true, "tall centre");
  assertPoint(toFramePoint(tall, 50, 200), -25, 100, false, "left bar");
  assertPoint(toFramePoint(tall, 350, 10), 125, 5, false, "right bar");
});

Deno.test("toFramePoint: cover maps the visible part, cropping is never inside", () => {
  const l = layout("cover", 400, 400, 200, 100); // 800x400 at x = -200
  assertPoint(toFramePoint(l, 200, 200), 100, 50, true, "centre");
  assertPoint(toFramePoint(l, 0, 0), 50, 0, true, "view's left edge");
  assertPoint(toFramePoint(l, 399, 399), 149.75, 99.75, true, "bottom-right");
  // Off the view to the left, the crop: frame pixels exist but are not shown.
  assertPoint(toFramePoint(l, -40, 200), 40, 50, false, "cropped, off view");
});

Deno.test("toFramePoint: fill scales each axis on its own", () => {
  const l = layout("fill", 400, 300, 200, 100);
  assertPoint(toFramePoint(l, 200, 150), 100, 50, true, "centre");
  assertPoint(toFramePoint(l, 100, 30), 50, 10, true, "point");
  assertPoint(toFramePoint(l, 399, 299), 199.5, 299 / 3, true, "corner");
  assertPoint(toFramePoint(l, 400, 150), 200, 50, false, "right edge");
});

Deno.test("toFramePoint: none at dpr 1 and dpr 2", () => {
  const one = layout("none", 400, 300, 200, 100, 1); // 200x100 at (100, 100)
  assertPoint(toFramePoint(one, 100, 100), 0, 0, true, "dpr1 origin");
  assertPoint(toFramePoint(one, 250, 120), 150, 20, true, "dpr1 point");
  assertPoint(toFramePoint(one, 50, 50), -50, -50, false, "dpr1 padding");
  const two = layout("none", 400, 300, 200, 100, 2); // 100x50 at (150, 125)
  assertPoint(toFramePoint(two, 150, 125), 0, 0, true, "dpr2 origin");
  assertPoint(toFramePoint(two, 200, 150), 100, 50, true, "dpr2 centre");
  assertPoint(toFramePoint(two, 249.5, 174.5), 199, 99, true, "dpr2 last px");
  assertPoint(toFramePoint(two, 250, 150), 200, 50, false, "dpr2 right pad");
  assertPoint(toFramePoint(two, 100, 100), -100, -50, false, "dpr2 padding");
});

Deno.test("toFramePoint: the dpr does not change stretch modes", () => {
  for (const fit of ["contain", "cover", "fill"] as const) {
    const a = toFramePoint(layout(fit, 400, 300, 200, 100, 1), 123, 87);
    const b = toFramePoint(layout(fit, 400, 300, 200, 100, 2), 123, 87);
    assert.deepEqual(a, b, fit);
  }
});

Deno.test("toFramePoint: with no frame yet the point passes through, not inside", () => {
  for (const fit of ["contain", "cover", "fill", "none"] as const) {
    assertPoint(
      toFramePoint(layout(fit, 400, 300, 0, 0), 12, 34),
      12,
      34,
      false,
      fit,
    );
  }
  assertPoint(
    toFramePoint(layout("contain", 0, 0, 200, 100), 5, 5),
    5,
    5,
    false,
    "zero view",
  );
});

Deno.test("toFramePoint: points off the view are never inside, even on the frame", () => {
  // none with a frame larger than the view: frame pixels outside the view.
  const l = layout("none", 100, 100, 300, 200, 1); // at (-100, -50)
  assertPoint(toFramePoint(l, 50, 50), 150, 100, true, "on view");
  assertPoint(toFramePoint(l, -10, 50), 90, 100, false, "left of view");
  assertPoint(toFramePoint(l, 50, 100), 150, 150, false, "below view");
});

// --- backingSize -----------------------------------------------------------

Deno.test("backingSize: CSS size times dpr, rounded, at least 1x1", () => {
  assert.deepEqual(backingSize(400, 300, 1), { width: 400, height: 300 });
  assert.deepEqual(backingSize(400, 300, 2), { width: 800, height: 600 });
  assert.deepEqual(backingSize(300.5, 200, 2), { width: 601, height: 400 });
  assert.deepEqual(backingSize(100.2, 100.7, 1.5), {
    width: 150,
    height: 151,
  });
  assert.deepEqual(backingSize(0, 0, 2), { width: 1, height: 1 });
  assert.deepEqual(backingSize(0.2, 0.1, 1), { width: 1, height: 1 });
});

// --- InputCoalescer --------------------------------------------------------

function move(x: number, y: number): InputEvent {
  return {
    type: "pointer_move",
    x,
    y,
    button: 0,
    buttons: [],
    modifiers: [],
    timestamp: x,
  };
}

function wheel(x: number, y: number, dx: number, dy: number): WheelEvent {
  return {
    type: "wheel",
    x,
    y,
    dx,
    dy,
    buttons: [],
    modifiers: [],
    timestamp: x,
  };
}

function down(x: number, y: number): InputEvent {
  return {
    type: "pointer_down",
    x,
    y,
    button: 1,
    buttons: [1],
    modifiers: [],
    timestamp: x,
  };
}

function key(k: string): InputEvent {
  return { type: "key_down", key: k, modifiers: [], timestamp: 0 };
}

Deno.test("InputCoalescer: a pending move is replaced by the newest", () => {
  const sent: InputEvent[] = [];
  const c = new InputCoalescer((ev) => sent.push(ev));
  assert.equal(c.pending, false);
  c.move(move(1, 1));
  c.move(move(2, 2));
  c.move(move(3, 4));
  assert.equal(c.pending, true);
  assert.equal(sent.length, 0, "nothing goes out before the flush");
  c.flush();
  assert.deepEqual(sent, [move(3, 4)]);
  assert.equal(c.pending, false);
  c.flush();
  assert.equal(sent.length, 1, "an empty flush sends nothing");
});

Deno.test("InputCoalescer: wheel deltas are summed, the latest position kept", () => {
  const sent: InputEvent[] = [];
  const c = new InputCoalescer((ev) => sent.push(ev));
  const first = wheel(10, 20, 1, 100);
  c.wheel(first);
  c.wheel(wheel(11, 21, -3, 100));
  c.wheel(wheel(12, 22, 0, -50));
  c.flush();
  assert.equal(sent.length, 1);
  const w = sent[0] as WheelEvent;
  assert.equal(w.type, "wheel");
  assert.equal(w.dx, -2);
  assert.equal(w.dy, 150);
  assert.equal(w.x, 12);
  assert.equal(w.y, 22);
  assert.equal(w.timestamp, 12, "the latest event's other fields");
  assert.equal(first.dy, 100, "the caller's event is not mutated");
  // After the flush, a new wheel starts from zero.
  c.wheel(wheel(1, 1, 0, 7));
  c.flush();
  assert.equal((sent[1] as WheelEvent).dy, 7);
});

Deno.test("InputCoalescer: a move and a wheel both pending go out in arrival order", () => {
  const sent: InputEvent[] = [];
  const c = new InputCoalescer((ev) => sent.push(ev));
  c.wheel(wheel(1, 1, 0, 100));
  c.move(move(2, 2));
  c.wheel(wheel(3, 3, 0, 100));
  c.move(move(4, 4));
  c.flush();
  assert.deepEqual(sent.map((e) => e.type), ["wheel", "pointer_move"]);
  assert.equal((sent[0] as WheelEvent).dy, 200);
  assert.deepEqual(sent[1], move(4, 4));
});

Deno.test("InputCoalescer: discrete events flush what is pending first", () => {
  const sent: InputEvent[] = [];
  const c = new InputCoalescer((ev) => sent.push(ev));
  c.move(move(1, 1));
  c.move(move(5, 5));
  c.now(down(5, 5));
  assert.deepEqual(sent, [move(5, 5), down(5, 5)], "move, then the press");
  assert.equal(c.pending, false);
  c.wheel(wheel(6, 6, 0, 100));
  c.now(key("a"));
  c.now(key("b"));
  c.move(move(7, 7));
  c.now(key("c"));
  assert.deepEqual(
    sent.map((e) => e.type === "key_down" ? `key ${e.key}` : e.type),
    [
      "pointer_move",
      "pointer_down",
      "wheel",
      "key a",
      "key b",
      "pointer_move",
      "key c",
    ],
  );
});

Deno.test("InputCoalescer: clear drops what is pending", () => {
  const sent: InputEvent[] = [];
  const c = new InputCoalescer((ev) => sent.push(ev));
  c.move(move(1, 1));
  c.wheel(wheel(1, 1, 0, 100));
  c.clear();
  assert.equal(c.pending, false);
  c.flush();
  c.now(key("x"));
  assert.deepEqual(sent, [key("x")]);
  // And a wheel after the clear does not inherit the dropped deltas.
  c.wheel(wheel(2, 2, 0, 30));
  c.flush();
  assert.equal((sent[1] as WheelEvent).dy, 30);
});

// --- KeyframeGate ----------------------------------------------------------

Deno.test("KeyframeGate: drops deltas until a keyframe, then admits everything", () => {
  const asks: string[] = [];
  const gate = new KeyframeGate((why) => asks.push(why), 500);
  assert.equal(gate.waiting, true);
  assert.equal(gate.admit(false, 0), false);
  assert.equal(gate.admit(false, 10), false);
  assert.equal(gate.dropped, 2);
  assert.equal(gate.admit(true, 20), true);
  assert.equal(gate.waiting, false);
  assert.equal(gate.admit(false, 30), true);
  assert.equal(gate.admit(false, 40), true);
  assert.equal(gate.admit(true, 50), true);
  assert.equal(gate.dropped, 2, "nothing dropped once open");
  assert.equal(asks.length, 1);
  assert.equal(typeof asks[0], "string");
});

Deno.test("KeyframeGate: asks for a keyframe at most once per interval", () => {
  const asks: number[] = [];
  let now = 0;
  const gate = new KeyframeGate(() => asks.push(now), 500);
  for (now = 0; now < 2000; now += 50) gate.admit(false, now);
  // Asks at 0, 500, 1000, 1500: never two within 500 ms.
  assert.deepEqual(asks, [0, 500, 1000, 1500]);
  assert.equal(gate.dropped, 40);
  // A keyframe opens the gate; no more asks while open.
  gate.admit(true, 2000);
  for (now = 2000; now < 4000; now += 50) gate.admit(false, now);
  assert.equal(asks.length, 4);
});

Deno.test("KeyframeGate: reset waits again and may ask at once", () => {
  const asks: number[] = [];
  const gate = new KeyframeGate(() => asks.push(1), 1000);
  assert.equal(gate.admit(false, 0), false); // ask #1 at 0
  assert.equal(gate.admit(true, 10), true);
  gate.reset();
  assert.equal(gate.waiting, true);
  // Within the interval of the last ask, but a reset re-arms the request.
  assert.equal(gate.admit(false, 20), false);
  assert.equal(asks.length, 2);
  assert.equal(gate.admit(false, 30), false);
  assert.equal(asks.length, 2, "still rate limited after the reset's ask");
  assert.equal(gate.admit(true, 40), true);
  assert.equal(gate.admit(false, 50), true);
  assert.equal(gate.dropped, 3);
});

Deno.test("KeyframeGate: a keyframe first needs no request", () => {
  const asks: string[] = [];
  const gate = new KeyframeGate((why) => asks.push(why));
  assert.equal(gate.admit(true, 0), true);
  assert.equal(gate.admit(false, 1), true);
  assert.deepEqual(asks, []);
  assert.equal(gate.dropped, 0);
});

// --- StallWatchdog ---------------------------------------------------------

Deno.test("StallWatchdog: queued frames with no display for too long is a stall", () => {
  const dog = new StallWatchdog(1000);
  dog.displayed(0);
  assert.equal(dog.stalled(500, 3), false);
  assert.equal(dog.stalled(999, 3), false);
  assert.equal(dog.stalled(1000, 3), true);
  // It re-arms: not again until another full timeout passes.
  assert.equal(dog.stalled(1500, 3), false);
  assert.equal(dog.stalled(2000, 3), true);
});

Deno.test("StallWatchdog: an empty queue or a display is progress", () => {
  const dog = new StallWatchdog(1000);
  dog.displayed(0);
  assert.equal(dog.stalled(5000, 0), false, "nothing queued, no stall");
  // The empty queue at 5000 counted as progress.
  assert.equal(dog.stalled(5500, 2), false);
  assert.equal(dog.stalled(6000, 2), true);
  dog.displayed(6100);
  assert.equal(dog.stalled(7000, 1), false);
  assert.equal(dog.stalled(7100, 1), true);
});

Deno.test("StallWatchdog: the default timeout is a few seconds", () => {
  const dog = new StallWatchdog();
  dog.displayed(0);
  assert.equal(dog.stalled(1000, 1), false);
  assert.equal(dog.stalled(3000, 1), true);
});

Deno.test("ImageDecode: images abandoned by the stall watchdog are dropped and acknowledged, never counted below zero", async () => {
  const { ImageDecode } = await import("../client/worker/image_decode.ts");
  const { default: sharp } = await import("sharp");
  const png = new Uint8Array(
    await sharp({
      create: { width: 2, height: 2, channels: 4, background: "#f00" },
    }).png().toBuffer(),
  );
  const acks: Array<[number, boolean]> = [];
  let drawn = 0, dropped = 0;
  const images = new ImageDecode({
    draw: () => drawn++,
    displayed: () => {},
    ack: (seq, shown) => acks.push([seq, shown]),
    dropped: (n) => dropped += n,
    failed: () => {},
  });
  const job = (seq: number) => ({
    seq,
    mime: "image/png",
    stampUs: null,
    receivedMs: 0,
    payload: png,
  });
  images.decode(job(1));
  images.decode(job(2));
  assert.equal(images.pending, 2);
  images.abandon(); // the decode stalled: forget both
  assert.equal(images.pending, 0);
  while (acks.length < 2) await new Promise((r) => setTimeout(r, 5));
  assert.equal(images.pending, 0, "late decodes do not count below zero");
  assert.deepEqual(acks.sort(), [[1, false], [2, false]]);
  assert.equal(drawn, 0, "an abandoned image is not drawn");
  assert.equal(dropped, 2);
  // After the stall, new images decode and draw as usual.
  images.decode(job(3));
  while (acks.length < 3) await new Promise((r) => setTimeout(r, 5));
  assert.deepEqual(acks[2], [3, true]);
  assert.equal(drawn, 1);
  assert.equal(images.pending, 0);
});

// --- Figures -----------------------------------------------------------------

const NO_CONTEXT = { queued: 0, gateDropped: 0, config: null };

/** A stamp `ago` ms before page time `now` (µs since the epoch, as servers send). */
function stampAgo(now: number, ago: number): number {
  return (performance.timeOrigin + now - ago) * 1000;
}

Deno.test("latencyOf: epoch stamps give the latency; stamps off this clock give none", () => {
  const now = Date.now();
  assert.equal(latencyOf((now - 12) * 1000, now), 12);
  assert.equal(latencyOf((now + 3) * 1000, now), -3, "a little skew is kept");
  // pdum.rfb stamps frames with time since its start: 56 years of latency.
  assert.equal(latencyOf(12.5, now), null);
  assert.equal(latencyOf(12.5e6, now), null);
  assert.equal(latencyOf(-1, now), null, "negative");
  assert.equal(latencyOf(NaN, now), null);
  assert.equal(latencyOf((now - 61_000) * 1000, now), null, "a minute off");
  assert.equal(latencyOf((now + 61_000) * 1000, now), null, "a minute ahead");
  assert.equal(latencyOf((now - 59_000) * 1000, now), 59_000);
});

Deno.test("Figures: a moving stream has fps, bitrate and a smoothed latency", () => {
  const f = new Figures();
  f.configured();
  let now = 1000;
  for (let i = 1; i <= 10; i++, now += 50) {
    f.received(now, 1000);
    const frame = f.displayed(now, i, stampAgo(now, 20), now, now);
    // The first picture after a config is shown but not measured.
    if (i > 1) assert.ok(Math.abs(frame.latencyMs! - 20) < 1e-6);
  }
  const s = f.stats(now, NO_CONTEXT);
  assert.equal(s.fps, 10);
  assert.equal(s.bitrateBps, 10 * 1000 * 8);
  assert.ok(Math.abs(s.latencyMs! - 20) < 1e-6, `latency ${s.latencyMs}`);
  assert.equal(s.frames, 10);
});

Deno.test("Figures: a resting stream (nothing new in the last second) has no fps, bitrate or latency", () => {
  const f = new Figures();
  f.configured();
  // Joining a resting stream: one picture, published long ago.
  f.received(0, 5000);
  f.displayed(0, 1, stampAgo(0, 30_000), 0, 0);
  let s = f.stats(400, NO_CONTEXT);
  assert.equal(s.latencyMs, null, "the first picture is not measured");
  s = f.stats(1500, NO_CONTEXT);
  assert.deepEqual([s.fps, s.bitrateBps, s.latencyMs], [0, 0, null]);
  // It moves for a moment, then rests again.
  for (let i = 2, now = 2000; i < 6; i++, now += 40) {
    f.received(now, 1000);
    f.displayed(now, i, stampAgo(now, 8), now, now);
  }
  s = f.stats(2200, NO_CONTEXT);
  assert.ok(s.fps > 0 && s.bitrateBps > 0 && s.latencyMs !== null);
  s = f.stats(3500, NO_CONTEXT);
  assert.deepEqual([s.fps, s.bitrateBps, s.latencyMs], [0, 0, null]);
  // The same picture sent again (a still) is not a new measure.
  f.displayed(3600, 6, stampAgo(2120, 8), 3600, 3600);
  assert.equal(f.stats(3700, NO_CONTEXT).latencyMs, null);
  assert.equal(f.stats(3700, NO_CONTEXT).fps, 1);
});

Deno.test("Figures: a server whose stamps are seconds since its start reports no latency", () => {
  const f = new Figures();
  f.configured();
  const frames = [];
  for (let i = 1, now = 0; i <= 20; i++, now += 50) {
    f.received(now, 800);
    // pdum.rfb: time since the server started, in µs.
    frames.push(f.displayed(now, i, 3_000_000 + i * 50_000, now, now));
  }
  assert.ok(frames.every((fr) => fr.latencyMs === null));
  const s = f.stats(1000, NO_CONTEXT);
  assert.equal(s.latencyMs, null);
  assert.equal(s.fps, 20, "frames still count");
});

Deno.test("Figures: after a quiet second the latency starts again from the next frame", () => {
  const f = new Figures();
  f.configured();
  f.displayed(0, 1, stampAgo(0, 500), 0, 0); // first: not measured
  for (let i = 2, now = 10; i < 30; i++, now += 10) {
    f.displayed(now, i, stampAgo(now, 500), now, now);
  }
  assert.ok(Math.abs(f.stats(300, NO_CONTEXT).latencyMs! - 500) < 1e-6);
  // Two seconds later, a fast frame: not averaged with the old 500 ms.
  f.displayed(2300, 30, stampAgo(2300, 10), 2300, 2300);
  assert.ok(Math.abs(f.stats(2300, NO_CONTEXT).latencyMs! - 10) < 1e-6);
});

// ---------------------------------------------------------------------------
// Sharing: the pill's line and the control button

const P = (
  viewers: number,
  drivers: Array<{ id: number; name?: string }>,
  requests: Array<{ id: number; name?: string }> = [],
) => ({
  type: "presence" as const,
  viewers,
  driving: drivers.length,
  drivers,
  requests,
});
const C = (
  you: number,
  role: "control" | "view",
  mode: "shared" | "exclusive" | "none",
  driving: boolean,
  requested = false,
) => ({ type: "control" as const, you, role, mode, driving, requested });

Deno.test("sharing: the line a viewer shows for each standing", () => {
  const alice = { id: 1, name: "Alice" }, bob = { id: 2, name: "Bob" };
  const table: Array<
    [ReturnType<typeof P> | null, ReturnType<typeof C> | null, string | null]
  > = [
    [null, null, null], // a server that shares nothing (pdum.rfb's)
    [P(1, [{ id: 1 }]), C(1, "control", "shared", true), null], // alone: as before
    [
      P(3, [alice, bob, { id: 3 }]),
      C(1, "control", "shared", true),
      "You and 2 others are driving",
    ],
    [
      P(13, [alice]),
      C(5, "view", "exclusive", false),
      "View only · Alice is driving · 12 watching",
    ],
    [
      P(3, [alice]),
      C(2, "control", "exclusive", false),
      "Alice is driving · 2 watching",
    ],
    [
      P(3, [alice], [bob]),
      C(2, "control", "exclusive", false, true),
      "Alice is driving · Control requested · 2 watching",
    ],
    [
      P(3, [alice], [bob]),
      C(1, "control", "exclusive", true),
      "You are driving · Bob asks for control · 2 watching",
    ],
    [
      P(4, [alice], [bob, { id: 9 }]),
      C(1, "control", "exclusive", true),
      "You are driving · Bob and 1 other ask for control · 3 watching",
    ],
    [
      P(2, []),
      C(2, "control", "exclusive", false),
      "Nobody is driving · 2 watching",
    ],
    [P(2, []), C(2, "control", "none", false), "View only · 2 watching"],
    [
      P(2, [{ id: 7 }]),
      C(2, "view", "shared", false),
      "View only · viewer 7 is driving · 1 watching",
    ],
  ];
  for (const [p, c, want] of table) {
    assert.equal(presenceLine(p, c), want, JSON.stringify([p, c]));
  }
});

Deno.test("sharing: the control button asks, withdraws, hands over or releases", () => {
  const bob = { id: 2, name: "Bob" };
  assert.equal(controlAction(null, null), null);
  assert.equal(controlAction(null, C(1, "view", "exclusive", false)), null);
  assert.equal(controlAction(null, C(1, "control", "shared", true)), null);
  assert.equal(controlAction(null, C(1, "control", "none", false)), null);
  assert.deepEqual(
    controlAction(P(2, [{ id: 1 }]), C(2, "control", "exclusive", false)),
    {
      label: "Request control",
      title: "Ask to drive this stream",
      send: "request",
      pressed: false,
    },
  );
  const waiting = controlAction(
    P(2, [{ id: 1 }], [bob]),
    C(2, "control", "exclusive", false, true),
  );
  assert.equal(waiting?.label, "Cancel request");
  assert.equal(waiting?.send, "release");
  assert.equal(waiting?.pressed, true);
  const handOver = controlAction(
    P(2, [{ id: 1 }], [bob]),
    C(1, "control", "exclusive", true),
  );
  assert.deepEqual(
    [handOver?.label, handOver?.title, handOver?.send, handOver?.to],
    ["Hand over", "Give control to Bob", "release", 2],
  );
  const release = controlAction(
    P(2, [{ id: 1 }]),
    C(1, "control", "exclusive", true),
  );
  assert.deepEqual([release?.label, release?.to], ["Release", undefined]);
});

Deno.test("sharing: presence and control messages are checked field by field", () => {
  assert.deepEqual(
    readPresence({
      type: "presence",
      viewers: 3,
      driving: 1,
      drivers: [{ id: 1, name: "  Ada  ", x: 1 }],
      requests: [{ id: 2, name: 5 }],
    }),
    P(3, [{ id: 1, name: "Ada" }], [{ id: 2 }]),
  );
  assert.equal(
    readPresence({
      type: "presence",
      viewers: 1,
      driving: 0,
      drivers: [],
      requests: [],
    })?.viewers,
    1,
  );
  const long = readPresence({
    type: "presence",
    viewers: 1,
    driving: 1,
    drivers: Array.from(
      { length: 100 },
      (_, i) => ({ id: i, name: "n".repeat(500) }),
    ),
  });
  assert.equal(long?.drivers.length, 16);
  assert.equal(long?.drivers[0].name?.length, 64);
  for (
    const bad of [
      { viewers: -1, driving: 0 },
      { viewers: 1.5, driving: 0 },
      { viewers: "2", driving: 0 },
      { viewers: 2 },
      { viewers: 2, driving: 1, drivers: {} },
      { viewers: 2, driving: 1, drivers: [null] },
      { viewers: 2, driving: 1, drivers: [{ id: "1" }] },
      { viewers: 2, driving: 1, requests: "x" },
    ]
  ) {
    assert.equal(
      readPresence({ type: "presence", ...bad }),
      null,
      JSON.stringify(bad),
    );
  }
  assert.deepEqual(
    readControl({
      type: "control",
      you: 3,
      role: "view",
      mode: "shared",
      driving: false,
      extra: 1,
    }),
    C(3, "view", "shared", false, false),
  );
  for (
    const bad of [
      { you: "3", role: "view", mode: "shared", driving: false },
      { you: 3, role: "admin", mode: "shared", driving: false },
      { you: 3, role: "view", mode: "solo", driving: false },
      { you: 3, role: "view", mode: "shared", driving: "no" },
    ]
  ) {
    assert.equal(
      readControl({ type: "control", ...bad }),
      null,
      JSON.stringify(bad),
    );
  }
});
