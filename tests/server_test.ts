// Integration tests: a real serve()/serveServer() listener and real WebSocket viewers.

import assert from "node:assert/strict";
import { type Display, type LogLevel, serve, serveServer } from "../mod.ts";
import {
  decodeImage,
  near,
  pixelAt,
  quadrants,
  rawStatus,
  sleep,
  solid,
  TestViewer,
  until,
  upgradeStatus,
} from "./_viewer.ts";

const W = 64, H = 48;
const quiet = { logger: () => {} };

function ws(display: Display | { port: number }, path = "/"): string {
  return `ws://127.0.0.1:${display.port}${path}`;
}

function captureLog(): {
  logger: (l: LogLevel, m: string) => void;
  lines: string[];
} {
  const lines: string[] = [];
  return { logger: (_l, m) => lines.push(m), lines };
}

Deno.test("a viewer gets config, then a JPEG of the right size and pixels", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  display.publish(quadrants(W, H));
  const v = await TestViewer.open(ws(display));
  const config = await v.nextText("config");
  assert.deepEqual(config, {
    type: "config",
    transport: "image",
    width: W,
    height: H,
    coords: "frame-pixels",
    mime: "image/jpeg",
    max_inflight: 2,
    input: ["clipboard", "text_input", "gamepad"],
    max_clipboard_bytes: 65536,
  });
  const f = await v.nextFrame();
  assert.equal(f.header.type, "image_frame");
  assert.equal(f.header.seq, 1);
  assert.equal(f.header.mime, "image/jpeg");
  assert.equal(f.header.width, W);
  assert.equal(f.header.height, H);
  assert.ok(Math.abs(Number(f.header.timestamp_us) / 1000 - Date.now()) < 5000);
  assert.deepEqual([...f.payload.subarray(0, 2)], [0xff, 0xd8]); // JPEG SOI
  const img = await decodeImage(f.payload);
  assert.equal(img.width, W);
  assert.equal(img.height, H);
  assert.ok(
    near(pixelAt(img, 8, 8), [255, 0, 0]),
    `red: ${pixelAt(img, 8, 8)}`,
  );
  assert.ok(
    near(pixelAt(img, W - 8, 8), [0, 255, 0]),
    `green: ${pixelAt(img, W - 8, 8)}`,
  );
  assert.ok(
    near(pixelAt(img, 8, H - 8), [0, 0, 255]),
    `blue: ${pixelAt(img, 8, H - 8)}`,
  );
  assert.ok(near(pixelAt(img, W - 8, H - 8), [255, 255, 255]));
  await v.close();
});

Deno.test("frames follow when the picture changes, with seq growing by one", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  const v = await TestViewer.open(ws(display));
  await v.nextText("config");
  const colours = [[255, 0, 0], [0, 255, 0], [0, 0, 255]];
  let seq = 0;
  for (const c of colours) {
    display.publish(solid(W, H, c));
    const f = await v.nextFrame();
    assert.equal(f.header.seq, ++seq);
    assert.ok(near(pixelAt(await decodeImage(f.payload), 10, 10), c));
  }
  await v.close();
});

Deno.test("a viewer that never acks gets at most max_inflight frames; after the drop the newest frame comes", async () => {
  await using display = await serve(W, H, {
    port: 0,
    maxInflight: 2,
    stillAfter: false,
    inflightTimeout: 60,
    ...quiet,
  });
  const v = await TestViewer.open(ws(display), { autoAck: false });
  await v.nextText("config");
  for (let i = 0; i < 12; i++) {
    display.publish(solid(W, H, [i * 20, 0, 0]));
    await sleep(15);
  }
  await sleep(200);
  assert.equal(v.frames.length, 2);
  assert.equal(display.stats().viewerStats[0].inflight, 2);
  // One ack opens the window: the newest frame comes next, the rest were dropped.
  v.ack(2);
  await until(() => v.frames.length === 3, 2000, "a third frame");
  const img = await decodeImage(v.frames[2].payload);
  assert.ok(
    near(pixelAt(img, 5, 5), [220, 0, 0]),
    `newest wins: ${pixelAt(img, 5, 5)}`,
  );
  await sleep(100);
  assert.equal(
    v.frames.length,
    3,
    "one ack admits one more frame, not a backlog",
  );
  assert.ok(display.stats().viewerStats[0].dropped > 0);
  await v.close();
});

Deno.test("inflight_timeout clears a silent viewer's window and sends a fresh frame", async () => {
  await using display = await serve(W, H, {
    port: 0,
    inflightTimeout: 0.2,
    stillAfter: false,
    ...quiet,
  });
  display.publish(solid(W, H, [0, 0, 255]));
  const v = await TestViewer.open(ws(display), { autoAck: false });
  await v.nextFrame();
  display.publish(solid(W, H, [0, 255, 0]));
  await v.nextFrame();
  display.publish(solid(W, H, [255, 0, 0]));
  await sleep(50);
  assert.equal(v.frames.length, 2);
  const f = await v.nextFrame(2000); // arrives only after the timeout
  assert.ok(near(pixelAt(await decodeImage(f.payload), 5, 5), [255, 0, 0]));
  await v.close();
});

Deno.test("request_keyframe resends the current picture; decoder_reset too", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  display.publish(solid(W, H, [0, 128, 255]));
  const v = await TestViewer.open(ws(display));
  const first = await v.nextFrame();
  v.send({ type: "request_keyframe", reason: "test" });
  const again = await v.nextFrame();
  assert.equal(again.header.seq, first.header.seq + 1);
  assert.deepEqual(again.payload, first.payload, "same encode, no new work");
  v.send({ type: "decoder_reset" });
  const third = await v.nextFrame();
  assert.deepEqual(third.payload, first.payload);
  assert.equal(display.stats().encodes, 1);
  await v.close();
});

Deno.test("the resting frame arrives once more as a lossless PNG", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: 0.1,
    ...quiet,
  });
  const v = await TestViewer.open(ws(display));
  await v.nextText("config");
  const src = quadrants(W, H);
  display.publish(src);
  const live = await v.nextFrame();
  assert.equal(live.header.mime, "image/jpeg");
  const still = await v.nextFrame(3000);
  assert.equal(still.header.mime, "image/png");
  assert.equal(still.header.timestamp_us, live.header.timestamp_us);
  const img = await decodeImage(still.payload);
  assert.deepEqual(img.data, src, "the still is pixel-exact");
  await sleep(300);
  assert.equal(v.frames.length, 2, "the still is sent once");
  await v.close();
});

Deno.test("ten viewers cost one encode per frame and get the same bytes", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  const viewers = await Promise.all(
    Array.from({ length: 10 }, () => TestViewer.open(ws(display))),
  );
  await Promise.all(viewers.map((v) => v.nextText("config")));
  display.publish(quadrants(W, H));
  const frames = await Promise.all(viewers.map((v) => v.nextFrame()));
  for (const f of frames) assert.deepEqual(f.payload, frames[0].payload);
  display.publish(solid(W, H, [9, 9, 9]));
  await Promise.all(viewers.map((v) => v.nextFrame()));
  assert.equal(display.stats().encodes, 2);
  assert.equal(display.viewers, 10);
  await Promise.all(viewers.map((v) => v.close()));
  await until(() => display.viewers === 0, 2000, "viewers to leave");
});

Deno.test("events and viewport reports reach pollEvents and events()", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  const v = await TestViewer.open(ws(display));
  await v.nextText("config");
  v.send({
    type: "set_viewport",
    width: 320,
    height: 240,
    pwidth: 640,
    pheight: 480,
    ratio: 2,
  });
  v.send({
    type: "event",
    event: {
      type: "pointer_down",
      x: 10,
      y: 20,
      button: 1,
      buttons: [1],
      modifiers: [],
      timestamp: 1,
    },
  });
  v.send({
    type: "event",
    event: {
      type: "wheel",
      x: 1,
      y: 2,
      dx: 0,
      dy: 100,
      buttons: [],
      modifiers: ["Control"],
    },
  });
  v.send({
    type: "event",
    event: {
      type: "key_down",
      key: "A",
      code: "KeyA",
      modifiers: ["Shift"],
      timestamp: 2,
    },
  });
  const got: Record<string, unknown>[] = [];
  await until(
    () => {
      got.push(...display.pollEvents() as unknown as Record<string, unknown>[]);
      return got.length >= 4;
    },
    3000,
    "four events",
  );
  assert.deepEqual(got.map((e) => e.type), [
    "resize",
    "pointer_down",
    "wheel",
    "key_down",
  ]);
  assert.equal(got[0].pwidth, 640);
  assert.equal(got[1].x, 10);
  assert.equal(got[1].y, 20);
  assert.equal(got[2].dy, 100);
  assert.deepEqual(got[3].modifiers, ["Shift"]);
  assert.equal(got[3].key, "A");
  const viewerId = display.stats().viewerStats[0].id;
  assert.ok(got.every((e) => e.viewer === viewerId));
  // The async iterator sees the same stream of events.
  const it = display.events();
  v.send({ type: "event", event: { type: "key_up", key: "A", modifiers: [] } });
  const next = await it.next();
  assert.equal(next.value && next.value.type, "key_up");
  await v.close();
  await display.close();
  assert.equal(
    (await it.next()).done,
    true,
    "events() ends when the display closes",
  );
});

Deno.test("authenticate: a falsy result or a throw closes with 4401 before any frame", async () => {
  for (
    const authenticate of [
      () => false,
      () => Promise.reject(new Error("boom")),
      () => null,
    ]
  ) {
    await using display = await serve(W, H, {
      port: 0,
      authenticate,
      ...quiet,
    });
    display.publish(quadrants(W, H));
    const v = await TestViewer.open(ws(display));
    const { code } = await v.closed;
    assert.equal(code, 4401);
    assert.equal(v.frames.length, 0);
    assert.equal(v.texts.length, 0, "not even config");
  }
});

Deno.test("authenticate sees the hello token, headers and cookies", async () => {
  const seen: Record<string, unknown>[] = [];
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    ...quiet,
    authenticate: async (ctx) => {
      await sleep(5);
      seen.push({
        token: ctx.token,
        cookie: ctx.cookies.session,
        stream: ctx.stream,
      });
      return ctx.token === "good" || ctx.cookies.session === "abc";
    },
  });
  display.publish(quadrants(W, H));
  const byToken = await TestViewer.open(ws(display), {
    hello: { token: "good" },
  });
  await byToken.nextFrame();
  const byCookie = await TestViewer.open(ws(display), {
    headers: { cookie: "session=abc" },
  });
  await byCookie.nextFrame();
  const wrong = await TestViewer.open(ws(display), { hello: { token: "bad" } });
  assert.equal((await wrong.closed).code, 4401);
  assert.deepEqual(seen[0], {
    token: "good",
    cookie: undefined,
    stream: "default",
  });
  assert.deepEqual(seen[1], {
    token: undefined,
    cookie: "abc",
    stream: "default",
  });
  await byToken.close();
  await byCookie.close();
});

Deno.test("unknown stream closes with 4404; two streams share one port", async () => {
  await using server = await serveServer({
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  const a = server.addStream("a", 32, 16);
  const b = server.addStream("b", 16, 32);
  a.publish(solid(32, 16, [255, 0, 0]));
  b.publish(solid(16, 32, [0, 0, 255]));
  const va = await TestViewer.open(ws(server, "/a"));
  const vb = await TestViewer.open(ws(server, "/b"));
  const fa = await va.nextFrame();
  const fb = await vb.nextFrame();
  assert.deepEqual([fa.header.width, fa.header.height], [32, 16]);
  assert.deepEqual([fb.header.width, fb.header.height], [16, 32]);
  assert.ok(near(pixelAt(await decodeImage(fa.payload), 3, 3), [255, 0, 0]));
  assert.ok(near(pixelAt(await decodeImage(fb.payload), 3, 3), [0, 0, 255]));
  const none = await TestViewer.open(ws(server, "/nope"));
  assert.equal((await none.closed).code, 4404);
  const root = await TestViewer.open(ws(server, "/")); // "default" does not exist here
  assert.equal((await root.closed).code, 4404);
  assert.equal(a.url, `http://127.0.0.1:${server.port}/a`);
  assert.throws(() => server.addStream("a", 8, 8), /already exists/);
  assert.throws(() => server.addStream("bad/name", 8, 8), TypeError);
  assert.throws(() => server.addStream("health", 8, 8), TypeError);
  await va.close();
  await vb.close();
});

Deno.test("no transport in common closes with 1003", async () => {
  await using display = await serve(W, H, { port: 0, ...quiet });
  const v = await TestViewer.open(ws(display), {
    hello: { supported: ["image/avif"] },
  });
  assert.equal((await v.closed).code, 1003);
});

Deno.test("a viewer's own format choice: PNG-only viewers get PNG", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  display.publish(quadrants(W, H));
  const v = await TestViewer.open(ws(display), {
    hello: { supported: ["image/png"] },
  });
  assert.equal((await v.nextText("config")).mime, "image/png");
  const f = await v.nextFrame();
  assert.equal(f.header.mime, "image/png");
  assert.deepEqual((await decodeImage(f.payload)).data, quadrants(W, H));
  await v.close();
});

Deno.test("Origin: cross-site upgrades get 403, same-host pages pass", async () => {
  await using display = await serve(W, H, { port: 0, ...quiet });
  const url = `http://127.0.0.1:${display.port}/`;
  assert.equal(
    await upgradeStatus(url, { origin: "http://evil.example" }),
    403,
  );
  assert.equal(await upgradeStatus(url, { origin: "null" }), 403);
  assert.equal(
    await upgradeStatus(url, { origin: "http://127.0.0.1:5173" }),
    101,
  );
  assert.equal(
    await upgradeStatus(url, { origin: `http://127.0.0.1:${display.port}` }),
    101,
  );
  assert.equal(await upgradeStatus(url, {}), 101); // no Origin: not a browser
  // And through a real WebSocket: a refused handshake never opens.
  await assert.rejects(
    TestViewer.open(ws(display), {
      headers: { origin: "https://evil.example" },
    }),
  );
  await using open = await serve(W, H, {
    port: 0,
    allowedOrigins: ["https://app.example"],
    ...quiet,
  });
  const openUrl = `http://127.0.0.1:${open.port}/`;
  assert.equal(
    await upgradeStatus(openUrl, { origin: "https://app.example" }),
    101,
  );
  assert.equal(
    await upgradeStatus(openUrl, { origin: "https://other.example" }),
    403,
  );
});

Deno.test("bad input: each gets its close code or is dropped, and other viewers carry on", async () => {
  const log = captureLog();
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    logger: log.logger,
  });
  const good = await TestViewer.open(ws(display));
  await good.nextText("config");
  const cases: Array<[string, (v: TestViewer) => void, number]> = [
    ["malformed JSON", (v) => v.ws.send("{not json"), 1007],
    ["not an object", (v) => v.ws.send("[1,2,3]"), 1007],
    ["binary", (v) => v.ws.send(new Uint8Array([1, 2, 3])), 1003],
    [
      "oversized",
      (v) => v.send({ type: "event", pad: "x".repeat(70_000) }),
      1009, // refused from the frame header, before the payload is read
    ],
  ];
  for (const [what, act, code] of cases) {
    const bad = await TestViewer.open(ws(display));
    await bad.nextText("config");
    act(bad);
    assert.equal((await bad.closed).code, code, what);
  }
  const early = await TestViewer.open(ws(display), { hello: false });
  early.send({ type: "ack", seq: 1, decode_queue_size: 0 });
  assert.equal((await early.closed).code, 1008, "a message before hello");
  const badHello = await TestViewer.open(ws(display), {
    hello: { supported: "jpeg" },
  });
  assert.equal((await badHello.closed).code, 1008, "bad hello");
  // Wrong fields and unknown types are dropped; the connection stays.
  const sloppy = await TestViewer.open(ws(display));
  await sloppy.nextText("config");
  sloppy.send({
    type: "event",
    event: { type: "pointer_down", x: "left", y: 1 },
  });
  sloppy.send({ type: "event", event: { type: "teleport" } });
  sloppy.send({ type: "ack", seq: -4 });
  sloppy.send({ type: "future_message", anything: true });
  await sleep(100);
  assert.equal(sloppy.ws.readyState, WebSocket.OPEN);
  assert.deepEqual(display.pollEvents(), []);
  assert.ok(
    log.lines.some((l) => l.includes("not valid JSON")),
    log.lines.join("\n"),
  );
  assert.ok(log.lines.some((l) => l.includes("dropped a message")));
  // The well-behaved viewer still gets frames.
  display.publish(quadrants(W, H));
  const f = await good.nextFrame();
  assert.equal(f.header.width, W);
  await good.close();
  await sloppy.close();
});

Deno.test("publish rejects a wrong-sized buffer with a TypeError naming the size", async () => {
  await using display = await serve(W, H, { port: 0, ...quiet });
  assert.throws(
    () => display.publish(new Uint8Array(10)),
    (err: Error) =>
      err instanceof TypeError && err.message.includes(`${W * H * 4}`),
  );
  assert.throws(
    () => display.publish("pixels" as unknown as Uint8Array),
    TypeError,
  );
  display.publish(new Uint8Array(W * H * 3)); // RGB is fine
  display.publish(new Uint8ClampedArray(W * H)); // so is gray
});

Deno.test("gray and RGB frames arrive with the right pixels", async () => {
  await using display = await serve(4, 2, {
    port: 0,
    stillAfter: false,
    imageFormat: "png",
    ...quiet,
  });
  const v = await TestViewer.open(ws(display));
  display.publish(new Uint8Array([0, 50, 100, 150, 200, 250, 255, 5]));
  const gray = await decodeImage((await v.nextFrame()).payload);
  assert.deepEqual(pixelAt(gray, 1, 0), [50, 50, 50]);
  assert.deepEqual(pixelAt(gray, 3, 1), [5, 5, 5]);
  const rgb = new Uint8Array(4 * 2 * 3).fill(0);
  rgb.set([10, 20, 30], 3 * 5);
  display.publish(rgb);
  const img = await decodeImage((await v.nextFrame()).payload);
  assert.deepEqual(pixelAt(img, 1, 1), [10, 20, 30]);
  await v.close();
});

Deno.test("resize: viewers get a new config and frames of the new size", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  const v = await TestViewer.open(ws(display));
  await v.nextText("config");
  display.publish(quadrants(W, H));
  await v.nextFrame();
  display.resize(40, 30);
  const c = await v.nextText("config");
  assert.deepEqual([c.width, c.height], [40, 30]);
  assert.throws(() => display.publish(quadrants(W, H)), /40x30/);
  display.publish(quadrants(40, 30));
  const f = await v.nextFrame();
  assert.deepEqual([f.header.width, f.header.height], [40, 30]);
  const img = await decodeImage(f.payload);
  assert.equal(img.width, 40);
  await v.close();
});

Deno.test("HTTP routes: /health, /streams, /metrics and the viewer page", async () => {
  await using server = await serveServer({ port: 0, ...quiet });
  server.addStream("default", 8, 8);
  server.addStream("cam", 16, 8);
  const base = server.url;
  const health = await fetch(`${base}health`);
  assert.equal(await health.text(), "ok");
  const streams = await (await fetch(`${base}streams`)).json();
  assert.deepEqual(streams.map((s: { name: string }) => s.name), [
    "default",
    "cam",
  ]);
  assert.equal(streams[1].width, 16);
  const metrics = await (await fetch(`${base}metrics`)).json();
  assert.equal(metrics.streams.length, 2);
  assert.equal(typeof metrics.streams[0].framesPublished, "number");
  const page = await fetch(`${base}cam`);
  assert.match(page.headers.get("content-type")!, /text\/html/);
  // The client is inlined, so the page works under any mount.
  const html = await page.text();
  assert.match(html, /const \{ RfbViewer \} = \(\(\) => \{/);
  assert.doesNotMatch(html, /from "\/rfb-client\.js"/);
  const bundle = await fetch(`${base}rfb-client.js`);
  assert.match(bundle.headers.get("content-type")!, /javascript/);
  const js = await bundle.text();
  assert.ok(
    js.includes("RfbViewer") || js.length > 5000,
    "the client bundle is served",
  );
  const again = await fetch(`${base}rfb-client.js`, {
    headers: { "if-none-match": bundle.headers.get("etag")! },
  });
  assert.equal(again.status, 304);
  await again.body?.cancel();
  const missing = await fetch(`${base}nothing-here`);
  assert.equal(missing.status, 404);
  await missing.body?.cancel();
  const post = await fetch(`${base}health`, { method: "POST" });
  assert.equal(post.status, 405);
  await post.body?.cancel();
});

Deno.test("close() sends 1001 to every viewer and frees the port for a restart", async () => {
  // A port below Linux's ephemeral range, so no port-0 listener in another
  // test can take it between the close and the restart.
  let display: Display | null = null;
  for (let tries = 0; !display; tries++) {
    try {
      display = await serve(W, H, {
        port: 20000 + Math.floor(Math.random() * 10000),
        ...quiet,
      });
    } catch (err) {
      if (!(err instanceof Deno.errors.AddrInUse) || tries > 20) throw err;
    }
  }
  const port = display.port!;
  const v1 = await TestViewer.open(ws(display));
  const v2 = await TestViewer.open(ws(display));
  await v1.nextText("config");
  await v2.nextText("config");
  await display.close();
  assert.equal((await v1.closed).code, 1001);
  assert.equal((await v2.closed).code, 1001);
  assert.throws(() => display.publish(quadrants(W, H)), /closed/);
  await using again = await serve(W, H, { port, ...quiet });
  assert.equal(again.port, port);
  const v3 = await TestViewer.open(ws(again));
  await v3.nextText("config");
  await v3.close();
});

Deno.test("bad options are refused at the call with a clear message", async () => {
  await assert.rejects(serve(W, H, { port: 0, quality: 0 }), /'quality'/);
  await assert.rejects(
    serve(W, H, { port: 0, imageFormat: "gif" as "png" }),
    /'imageFormat'/,
  );
  await assert.rejects(serve(0, H, { port: 0 }), /width/);
  await assert.rejects(serve(W, H, { port: 70000 }), /'port'/);
  await assert.rejects(
    serveServer({ port: 0, allowedOrigins: 5 as unknown as "*" }),
    /allowedOrigins/,
  );
});

Deno.test("a viewer may narrow its in-flight window in hello, not widen it", async () => {
  await using display = await serve(W, H, {
    port: 0,
    maxInflight: 3,
    stillAfter: false,
    inflightTimeout: 60,
    ...quiet,
  });
  const narrow = await TestViewer.open(ws(display), {
    autoAck: false,
    hello: { max_inflight: 1 },
  });
  const wide = await TestViewer.open(ws(display), {
    autoAck: false,
    hello: { max_inflight: 50 },
  });
  assert.equal((await narrow.nextText("config")).max_inflight, 1);
  assert.equal((await wide.nextText("config")).max_inflight, 3);
  for (let i = 0; i < 8; i++) {
    display.publish(solid(W, H, [i * 30, 0, 0]));
    await sleep(20);
  }
  await sleep(150);
  assert.equal(narrow.frames.length, 1);
  assert.equal(wide.frames.length, 3);
  await narrow.close();
  await wide.close();
});

Deno.test("stats messages arrive when the viewer asks for them", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  display.publish(quadrants(W, H));
  const v = await TestViewer.open(ws(display), {
    hello: { stats_interval: 0.1 },
  });
  await v.nextFrame();
  const s = await v.nextText("stats", 2000);
  assert.equal(typeof s.rtt_ms, "number");
  assert.equal(s.fps_sent, 1);
  assert.equal(s.dropped, 0);
  await v.close();
});

Deno.test("frames keep flowing when publishing is faster than encoding", async () => {
  const w = 1280, h = 720;
  await using display = await serve(w, h, {
    port: 0,
    stillAfter: false,
    ...quiet,
  });
  const v = await TestViewer.open(ws(display));
  await v.nextText("config");
  const frames = [quadrants(w, h), solid(w, h, [40, 80, 120])];
  const end = performance.now() + 600;
  for (let i = 0; performance.now() < end; i++) {
    display.publish(frames[i % 2]); // every ~2 ms; a 720p JPEG takes several ms
    await sleep(2);
  }
  await sleep(100);
  assert.ok(v.frames.length >= 5, `only ${v.frames.length} frames in 600 ms`);
  await v.close();
});

Deno.test("a long non-ASCII stream name gets 4404 and the server stays up", async () => {
  await using server = await serveServer({ port: 0, ...quiet });
  const cam = server.addStream("cam", 8, 8);
  cam.publish(solid(8, 8, [1, 2, 3]));
  const odd = await TestViewer.open(
    ws(server, "/" + encodeURIComponent("中".repeat(60))),
  );
  assert.equal((await odd.closed).code, 4404);
  const v = await TestViewer.open(ws(server, "/cam"));
  await v.nextFrame();
  await v.close();
});

Deno.test("stills only in a lossless format the viewer listed", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: 0.05,
    ...quiet,
  });
  const jpegOnly = await TestViewer.open(ws(display), {
    hello: { supported: ["image/jpeg"] },
  });
  const webp = await TestViewer.open(ws(display), {
    hello: { supported: ["image/jpeg", "image/webp"] },
  });
  display.publish(quadrants(W, H));
  await jpegOnly.nextFrame();
  await webp.nextFrame();
  const still = await webp.nextFrame(3000);
  assert.equal(still.header.mime, "image/webp");
  assert.deepEqual(
    (await decodeImage(still.payload)).data,
    quadrants(W, H),
    "lossless",
  );
  await sleep(200);
  assert.deepEqual(jpegOnly.frames.map((f) => f.header.mime), ["image/jpeg"]);
  await jpegOnly.close();
  await webp.close();
});

Deno.test("a loopback listener answers only loopback host names (DNS rebinding)", async () => {
  await using display = await serve(W, H, { port: 0, ...quiet });
  const port = display.port!;
  assert.equal(
    await rawStatus(port, "/health", { host: `evil.example:${port}` }),
    421,
  );
  assert.equal(
    await rawStatus(port, "/health", { host: `localhost:${port}` }),
    200,
  );
  assert.equal(
    await rawStatus(port, "/health", { host: `127.0.0.1:${port}` }),
    200,
  );
  const upgrade = {
    upgrade: "websocket",
    connection: "Upgrade",
    "sec-websocket-version": "13",
    "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
  };
  assert.equal(
    await rawStatus(port, "/", {
      ...upgrade,
      host: `evil.example:${port}`,
      origin: `http://evil.example:${port}`,
    }),
    421,
  );
  assert.equal(
    await rawStatus(port, "/", {
      ...upgrade,
      host: `localhost:${port}`,
      origin: `http://localhost:5173`,
    }),
    101,
  );
});

Deno.test("maxViewers: one viewer too many is closed with 1013, the others carry on", async () => {
  await using display = await serve(W, H, {
    port: 0,
    maxViewers: 2,
    stillAfter: false,
    ...quiet,
  });
  display.publish(quadrants(W, H));
  const a = await TestViewer.open(ws(display));
  const b = await TestViewer.open(ws(display));
  await a.nextFrame();
  await b.nextFrame();
  const c = await TestViewer.open(ws(display));
  assert.equal((await c.closed).code, 1013);
  display.publish(solid(W, H, [1, 2, 3]));
  await a.nextFrame();
  await b.nextFrame();
  await a.close();
  await until(() => display.viewers === 1, 2000, "a to leave");
  const d = await TestViewer.open(ws(display));
  await d.nextFrame();
  await b.close();
  await d.close();
});

Deno.test("event flood: past maxEventRate the excess is dropped, the viewer stays", async () => {
  await using display = await serve(W, H, {
    port: 0,
    maxEventRate: 50,
    ...quiet,
  });
  const v = await TestViewer.open(ws(display));
  await v.nextText("config");
  for (let i = 0; i < 1000; i++) {
    v.send({
      type: "event",
      event: { type: "key_down", key: "a", modifiers: [] },
    });
  }
  await sleep(300);
  const got = display.pollEvents().length;
  assert.ok(
    got >= 100 && got <= 130,
    `${got} events got through (burst 100 + refill)`,
  );
  assert.equal(v.ws.readyState, WebSocket.OPEN);
  await v.close();
});

Deno.test("configure() retunes a running display: viewers renegotiate and get the new quality", async () => {
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    quality: 95,
    ...quiet,
  });
  const v = await TestViewer.open(ws(display));
  await v.nextText("config");
  display.publish(quadrants(W, H));
  const before = await v.nextFrame();
  display.configure({ quality: 20, imageFormat: "webp" });
  assert.equal(display.settings().quality, 20);
  const c = await v.nextText("config");
  assert.equal(c.mime, "image/webp");
  display.publish(quadrants(W, H));
  const after = await v.nextFrame();
  assert.equal(after.header.mime, "image/webp");
  assert.ok(after.payload.length < before.payload.length);
  assert.throws(
    () => display.configure({ port: 1 } as never),
    /cannot change port/,
  );
  assert.throws(() => display.configure({ quality: 0 }), /'quality'/);
  assert.equal(
    display.settings().quality,
    20,
    "a refused change changes nothing",
  );
  await v.close();
});

Deno.test("an encoder that fails on one frame: logged, and the stream goes on", async () => {
  const log = captureLog();
  let calls = 0;
  await using display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    logger: log.logger,
    imageEncoder: async (frame, settings) => {
      if (++calls === 2) throw new Error("injected fault");
      const { encodeImage } = await import("../src/encoders/image.ts");
      return encodeImage(frame, settings);
    },
  });
  const v = await TestViewer.open(ws(display));
  await v.nextText("config");
  display.publish(solid(W, H, [255, 0, 0]));
  await v.nextFrame();
  display.publish(solid(W, H, [0, 255, 0])); // this encode fails
  await until(() => display.stats().encodeFailures === 1, 2000, "the failure");
  display.publish(solid(W, H, [0, 0, 255]));
  const f = await v.nextFrame();
  assert.ok(near(pixelAt(await decodeImage(f.payload), 5, 5), [0, 0, 255]));
  assert.ok(
    log.lines.some((l) => l.includes("injected fault")),
    log.lines.join("\n"),
  );
  await v.close();
});

Deno.test("an oversized message ends the viewer's session at once, not when its close comes: its slot is free (maxViewers 1)", async () => {
  const { clientFrame, OP, RawSocket } = await import("./_raw_ws.ts");
  await using display = await serve(W, H, {
    port: 0,
    maxViewers: 1,
    stillAfter: false,
    ...quiet,
  });
  const raw = await RawSocket.open(display.port!);
  try {
    const hello = JSON.stringify({ type: "hello", supported: ["image/jpeg"] });
    await raw.write(clientFrame(OP.text, new TextEncoder().encode(hello)));
    await until(() => display.viewers === 1, 3000, "the raw viewer admitted");
    // A frame header over 64 KiB, and no answer to the server's close: the
    // connection lingers until closeTimeout (2 s), the session does not.
    const head = clientFrame(OP.text, new Uint8Array(70_000));
    await raw.write(head.subarray(0, 64));
    await until(() => display.viewers === 0, 1000, "the session ended");
    const next = await TestViewer.open(ws(display));
    assert.equal((await next.nextText("config", 1000)).type, "config");
    await next.close();
  } finally {
    raw.abort();
  }
});
