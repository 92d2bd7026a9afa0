// Shared sessions over real sockets: roles from the `authenticate` hook,
// who drives in each `control` mode, the hand-over of exclusive control
// (request, the app's grant, the idle hand-off, release, a driver that
// leaves, the app taking it back), `presence()` and the `presence` and
// `control` messages, floods of requests, and the same through `handler()`
// mounted in an app that reads roles from its own cookies.

import assert from "node:assert/strict";
import {
  type AuthContext,
  Display,
  type DisplayEvent,
  type DisplayOptions,
  handler,
  serve,
} from "../mod.ts";
import { quadrants, sleep, TestViewer, until } from "./_viewer.ts";

const W = 32, H = 24;
const quiet = { logger: () => {} };

/** The people of these tests, by the token they present. */
const PEOPLE: Record<string, Record<string, unknown>> = {
  alice: { id: "u-alice", name: "Alice", role: "control" },
  bob: { id: "u-bob", name: "Bob", role: "control" },
  dave: { id: "u-dave", name: "Dave", role: "control" },
  carol: { id: "u-carol", name: "Carol", role: "view" },
};
const byToken = ({ token }: AuthContext) => PEOPLE[token ?? ""] ?? false;

/** A display with the people hook; every event it gets is kept in `events`. */
async function stage(options: DisplayOptions = {}) {
  const display = await serve(W, H, {
    port: 0,
    stillAfter: false,
    authenticate: byToken,
    ...quiet,
    ...options,
  });
  const events: DisplayEvent[] = [];
  const timer = setInterval(() => events.push(...display.pollEvents()), 5);
  const viewers: TestViewer[] = [];
  return {
    display,
    events,
    /** A viewer that said hello with `token` and got its config. */
    async join(token: string, hello: Record<string, unknown> = {}) {
      const v = await TestViewer.open(`ws://127.0.0.1:${display.port}/`, {
        hello: { token, ...hello },
      });
      viewers.push(v);
      await v.nextText("config");
      return v;
    },
    async [Symbol.asyncDispose]() {
      clearInterval(timer);
      await Promise.all(viewers.map((v) => v.close()));
      await display.close();
    },
  };
}

/** Send one key press from `v`. */
function key(v: TestViewer, k: string): void {
  v.send({ type: "event", event: { type: "key_down", key: k, modifiers: [] } });
}

/** The last message of `type` a viewer got. */
function last(
  v: TestViewer,
  type: string,
): Record<string, unknown> | undefined {
  return v.texts.filter((m) => m.type === type).at(-1);
}

/** Wait until `v`'s last `control` says `driving`. */
function drivingIs(v: TestViewer, driving: boolean): Promise<void> {
  return until(
    () => last(v, "control")?.driving === driving,
    3000,
    `control.driving ${driving}`,
  );
}

/** Keys the app got, in order, as `token:key`. */
function keys(events: DisplayEvent[]): string[] {
  return events.filter((e) => e.type === "key_down").map((e) =>
    `${(e.user as { name: string }).name}:${(e as { key: string }).key}`
  );
}

Deno.test("roles: a view-role viewer's input never reaches the app, and is counted; events carry viewer and user", async () => {
  await using s = await stage();
  const alice = await s.join("alice");
  const carol = await s.join("carol");
  await drivingIs(carol, false);
  assert.deepEqual(last(carol, "control"), {
    type: "control",
    you: s.display.presence()[1].id,
    role: "view",
    mode: "shared",
    driving: false,
    requested: false,
  });
  for (let i = 0; i < 20; i++) key(carol, "c");
  carol.send({
    type: "set_viewport",
    width: 100,
    height: 100,
    pwidth: 100,
    pheight: 100,
    ratio: 1,
  });
  key(alice, "a");
  await until(() => keys(s.events).length === 1);
  await until(() => s.display.stats().inputDropped === 20);
  await sleep(50);
  assert.deepEqual(keys(s.events), ["Alice:a"]);
  const ev = s.events.find((e) => e.type === "key_down")!;
  assert.equal(ev.viewer, s.display.presence()[0].id);
  assert.deepEqual(ev.user, PEOPLE.alice); // as the hook returned it
  assert.ok(!s.events.some((e) => e.viewer === s.display.presence()[1].id));
  const stats = s.display.stats().viewerStats;
  assert.deepEqual(
    stats.map((v) => [v.role, v.control, v.inputDropped]),
    [["control", true, 0], ["view", false, 20]],
  );
});

Deno.test("roles: a forged role or user in hello changes nothing", async () => {
  await using s = await stage();
  const carol = await s.join("carol", {
    role: "control",
    user: { role: "control" },
    name: "Mallory",
  });
  await drivingIs(carol, false);
  carol.send({ type: "request_control" });
  key(carol, "x");
  await until(() => s.display.stats().inputDropped === 1);
  assert.equal(s.display.presence()[0].role, "view");
  assert.equal(s.display.presence()[0].name, "Carol");
  assert.equal(last(carol, "control")?.role, "view");
  assert.equal(keys(s.events).length, 0);
});

Deno.test("roles: defaultRole applies to viewers the hook gives no role (true, or no hook)", async () => {
  await using s = await stage({
    authenticate: () => true,
    defaultRole: "view",
  });
  const v = await s.join("anyone");
  await drivingIs(v, false);
  assert.equal(s.display.presence()[0].role, "view");
  await using open = await serve(W, H, { port: 0, ...quiet });
  const w = await TestViewer.open(`ws://127.0.0.1:${open.port}/`);
  await w.nextText("config");
  await drivingIs(w, true); // no hook: defaultRole "control", today's behaviour
  key(w, "k");
  await until(() => open.pollEvents().length === 1);
  await w.close();
});

Deno.test("exclusive: the first control viewer drives; a second one's input is dropped until the app grants it control", async () => {
  await using s = await stage({ control: "exclusive", controlIdle: 60 });
  const alice = await s.join("alice");
  await drivingIs(alice, true);
  const bob = await s.join("bob");
  await drivingIs(bob, false);
  const [a, b] = s.display.presence();
  key(bob, "1");
  key(alice, "2");
  await until(() => keys(s.events).length === 1);
  assert.deepEqual(keys(s.events), ["Alice:2"]);
  await until(() => s.display.stats().inputDropped === 1);

  // Bob asks: Alice is busy (controlIdle 60 s), so the app is asked.
  bob.send({ type: "request_control" });
  await until(() => s.events.some((e) => e.type === "control_request"));
  const req = s.events.find((e) => e.type === "control_request")!;
  assert.equal(req.viewer, b.id);
  assert.deepEqual(req.user, PEOPLE.bob);
  await until(() => last(bob, "control")?.requested === true);
  await until(() =>
    (last(alice, "presence")?.requests as unknown[]).length === 1
  );
  assert.deepEqual(last(alice, "presence"), {
    type: "presence",
    viewers: 2,
    driving: 1,
    drivers: [{ id: a.id, name: "Alice" }],
    requests: [{ id: b.id, name: "Bob" }],
  });
  assert.equal(s.display.presence()[1].requested, true);

  assert.equal(s.display.grantControl(b.id), true);
  await drivingIs(bob, true);
  await drivingIs(alice, false);
  key(alice, "3");
  key(bob, "4");
  await until(() => keys(s.events).length === 2);
  assert.deepEqual(keys(s.events), ["Alice:2", "Bob:4"]);
  assert.deepEqual(
    s.display.presence().map((v) => [v.name, v.control, v.requested]),
    [["Alice", false, false], ["Bob", true, false]],
  );
  assert.equal(s.display.grantControl(9_999_999), false); // gone, or never was
});

Deno.test("exclusive: the driver leaving frees control (to the first who asked, or to the next who asks)", async () => {
  await using s = await stage({ control: "exclusive", controlIdle: 60 });
  const alice = await s.join("alice");
  const bob = await s.join("bob");
  const dave = await s.join("dave");
  await drivingIs(alice, true);
  dave.send({ type: "request_control" });
  await until(() => last(dave, "control")?.requested === true);
  await alice.close();
  await drivingIs(dave, true); // the one waiting
  assert.equal(last(bob, "control")?.driving, false);
  await dave.close();
  await until(() => s.display.presence().length === 1);
  assert.equal(s.display.presence()[0].control, false); // free, nobody drives
  await until(() => last(bob, "presence")?.driving === 0);
  bob.send({ type: "request_control" }); // free: granted at once
  await drivingIs(bob, true);
  assert.equal(s.events.filter((e) => e.type === "control_request").length, 1);
});

Deno.test("exclusive: a request is granted once the driver has been idle for controlIdle seconds", async () => {
  await using s = await stage({ control: "exclusive", controlIdle: 0.4 });
  const alice = await s.join("alice");
  const bob = await s.join("bob");
  await drivingIs(alice, true);
  // Alice keeps typing: Bob waits.
  const typing = setInterval(() => key(alice, "a"), 50);
  bob.send({ type: "request_control" });
  await sleep(900);
  clearInterval(typing);
  assert.equal(last(bob, "control")?.driving, false);
  assert.equal(last(bob, "control")?.requested, true);
  const stopped = performance.now();
  await drivingIs(bob, true); // 0.4 s after her last key
  const waited = performance.now() - stopped;
  assert.ok(waited >= 300 && waited < 1500, `handed over after ${waited} ms`);
  await drivingIs(alice, false);
  // Now idle for longer than controlIdle: Alice's request is granted at once.
  await sleep(500);
  alice.send({ type: "request_control" });
  await drivingIs(alice, true);
});

Deno.test("exclusive: the driver releases, hands over by id, and a waiting viewer withdraws", async () => {
  await using s = await stage({ control: "exclusive", controlIdle: 60 });
  const alice = await s.join("alice");
  const bob = await s.join("bob");
  const dave = await s.join("dave");
  const [, b, d] = s.display.presence();
  await drivingIs(alice, true);
  bob.send({ type: "request_control" });
  dave.send({ type: "request_control" });
  await until(() =>
    s.display.presence().filter((v) => v.requested).length === 2
  );
  alice.send({ type: "release_control", to: d.id }); // not the first in line
  await drivingIs(dave, true);
  assert.equal(last(bob, "control")?.requested, true);
  dave.send({ type: "release_control" }); // to the first waiting
  await drivingIs(bob, true);
  dave.send({ type: "request_control" });
  await until(() => last(dave, "control")?.requested === true);
  dave.send({ type: "release_control" }); // withdraws
  await until(() => last(dave, "control")?.requested === false);
  bob.send({ type: "release_control" }); // nobody waits: nobody drives
  await drivingIs(bob, false);
  assert.deepEqual(s.display.presence().map((v) => v.control), [
    false,
    false,
    false,
  ]);
  assert.equal(b.id + 0, s.display.presence()[1].id);
});

Deno.test("exclusive: the app takes control back; requests then wait for the app, even after controlIdle", async () => {
  await using s = await stage({ control: "exclusive", controlIdle: 0.1 });
  const alice = await s.join("alice");
  const bob = await s.join("bob");
  await drivingIs(alice, true);
  s.display.releaseControl();
  await drivingIs(alice, false);
  key(alice, "a");
  bob.send({ type: "request_control" });
  await until(() => s.events.some((e) => e.type === "control_request"));
  await sleep(400);
  assert.equal(last(bob, "control")?.driving, false);
  assert.equal(keys(s.events).length, 0);
  s.display.grantControl(s.display.presence()[1].id);
  await drivingIs(bob, true);
  // The app's mistakes are errors; a view-role viewer cannot be granted.
  const carol = await s.join("carol");
  await until(() => s.display.presence().length === 3);
  assert.throws(
    () => s.display.grantControl(s.display.presence()[2].id),
    /has the role "view"/,
  );
  await drivingIs(carol, false);
});

Deno.test('control: "none" drops every viewer\'s input; "shared" lets every control viewer drive; grantControl only in exclusive mode', async () => {
  await using s = await stage({ control: "none" });
  const alice = await s.join("alice");
  const bob = await s.join("bob");
  await drivingIs(alice, false);
  key(alice, "a");
  key(bob, "b");
  bob.send({ type: "request_control" });
  await until(() => s.display.stats().inputDropped === 2);
  assert.equal(s.events.length, 0);
  assert.throws(() => s.display.grantControl(1), /control is "none"/);
  assert.throws(() => s.display.releaseControl(), /control is "none"/);

  // Retuned live: no new config (streams are not restarted), new standing.
  s.display.configure({ control: "shared" });
  await drivingIs(alice, true);
  await drivingIs(bob, true);
  key(alice, "a");
  key(bob, "b");
  await until(() => keys(s.events).length === 2);
  s.display.configure({ control: "exclusive" });
  await drivingIs(bob, false); // the first control-role viewer holds it
  assert.equal(last(alice, "control")?.driving, true);
  assert.equal(alice.texts.filter((m) => m.type === "config").length, 1);
  assert.deepEqual(s.display.settings().control, "exclusive");
});

Deno.test("presence(): right through joins and leaves; presence messages tell every viewer", async () => {
  await using s = await stage({ control: "exclusive" });
  const t0 = Date.now();
  const alice = await s.join("alice");
  const carol = await s.join("carol");
  const bob = await s.join("bob");
  await until(() => last(carol, "presence")?.viewers === 3);
  const list = s.display.presence();
  assert.deepEqual(
    list.map((v) => [v.name, v.role, v.control, v.transport]),
    [
      ["Alice", "control", true, "image"],
      ["Carol", "view", false, "image"],
      ["Bob", "control", false, "image"],
    ],
  );
  assert.ok(list.every((v) => v.since >= t0 - 5 && v.since <= Date.now()));
  assert.ok(list[0].since <= list[1].since && list[1].since <= list[2].since);
  assert.deepEqual(list[1].user, PEOPLE.carol);
  assert.deepEqual(last(carol, "presence"), {
    type: "presence",
    viewers: 3,
    driving: 1,
    drivers: [{ id: list[0].id, name: "Alice" }],
    requests: [],
  });
  await alice.close();
  await until(() => last(carol, "presence")?.viewers === 2);
  assert.deepEqual(s.display.presence().map((v) => v.name), ["Carol", "Bob"]);
  assert.equal(last(carol, "presence")?.driving, 0);
  await bob.close();
  await until(() => s.display.presence().length === 1);
  assert.equal(s.display.viewers, 1);
  await until(() => last(carol, "presence")?.viewers === 1);
});

Deno.test("presence: false sends neither message; the rules still hold", async () => {
  await using s = await stage({ presence: false });
  const carol = await s.join("carol");
  key(carol, "c");
  await until(() => s.display.stats().inputDropped === 1);
  await sleep(300);
  assert.deepEqual(carol.texts.map((m) => m.type), ["config"]);
});

Deno.test("a flood of control requests is rate-limited and costs the other viewers nothing", async () => {
  await using s = await stage({
    control: "exclusive",
    controlIdle: 3600,
    maxEventRate: 100,
  });
  const alice = await s.join("alice");
  const carol = await s.join("carol");
  const bob = await s.join("bob");
  await drivingIs(alice, true);
  let frame = 0;
  const publisher = setInterval(() => {
    const rgba = quadrants(W, H);
    rgba[0] = frame++ & 255;
    s.display.publish(rgba);
  }, 20);
  try {
    await sleep(300);
    const before = carol.received;
    const presenceBefore = carol.texts.length;
    const start = performance.now();
    // Two seconds of request, withdraw, request... as fast as a socket goes.
    while (performance.now() - start < 2000) {
      for (let i = 0; i < 200; i++) {
        bob.send({ type: i % 2 ? "release_control" : "request_control" });
      }
      await sleep(5);
    }
    const seconds = (performance.now() - start) / 1000;
    await sleep(300);
    const got = carol.received - before;
    assert.ok(
      got >= 25 * seconds,
      `the watching viewer got ${got} frames in ${seconds.toFixed(1)} s`,
    );
    // At most one round of presence every 250 ms reaches the others.
    const told = carol.texts.length - presenceBefore;
    assert.ok(told <= 2 * (seconds / 0.25 + 2), `${told} messages to Carol`);
    // The app hears of it at most once a second.
    const asks = s.events.filter((e) => e.type === "control_request").length;
    assert.ok(
      asks >= 1 && asks <= seconds + 1,
      `${asks} control_request events`,
    );
    assert.equal(last(alice, "control")?.driving, true);
    assert.equal(bob.isOpen, true);
    assert.ok(s.display.stats().eventsDropped === 0);
  } finally {
    clearInterval(publisher);
  }
});

Deno.test("handler() mounted in an app: roles come from the app's own cookies", async () => {
  const display = new Display(W, H, { control: "exclusive", ...quiet });
  const rfb = handler(display, {
    authenticate: ({ cookies }) =>
      cookies.seat === "teacher"
        ? { name: "Teacher", role: "control" }
        : cookies.seat === "pupil"
        ? { name: "Pupil", role: "view" }
        : false,
  });
  await using http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    (req) =>
      new URL(req.url).pathname.startsWith("/rfb")
        ? rfb(req)
        : new Response("app"),
  );
  const url = `ws://127.0.0.1:${http.addr.port}/rfb`;
  try {
    const teacher = await TestViewer.open(url, {
      headers: { cookie: "seat=teacher" },
    });
    const pupil = await TestViewer.open(url, {
      headers: { cookie: "seat=pupil" },
      hello: { role: "control" },
    });
    const stranger = await TestViewer.open(url);
    assert.equal((await stranger.closed).code, 4401);
    await teacher.nextText("config");
    await pupil.nextText("config");
    await drivingIs(teacher, true);
    await drivingIs(pupil, false);
    key(pupil, "p");
    key(teacher, "t");
    await until(() => display.stats().inputDropped === 1);
    await until(() => display.stats().eventsQueued === 1);
    const [ev] = display.pollEvents();
    assert.deepEqual(ev.user, { name: "Teacher", role: "control" });
    assert.deepEqual(display.presence().map((v) => [v.name, v.control]), [
      ["Teacher", true],
      ["Pupil", false],
    ]);
    await teacher.close();
    await pupil.close();
  } finally {
    await display.close();
  }
});

Deno.test("options: a bad control, controlIdle, defaultRole or presence is a clear error; a bad role from the hook admits as view", async () => {
  assert.throws(
    () => new Display(8, 8, { control: "exclusve" as never }),
    /Display: option 'control' must be "shared", "exclusive" or "none", got "exclusve"/,
  );
  assert.throws(
    () => new Display(8, 8, { controlIdle: -1 }),
    /option 'controlIdle' must be a number in \[0, 86400\], got -1/,
  );
  assert.throws(
    () => new Display(8, 8, { defaultRole: "admin" as never }),
    /option 'defaultRole' must be "control" or "view", got "admin"/,
  );
  assert.throws(
    () => new Display(8, 8, { presence: "yes" as never }),
    /option 'presence' must be true or false/,
  );
  assert.throws(
    () => new Display(8, 8, { contorl: "none" } as never),
    /unknown option "contorl" \(did you mean 'control'\?\)/,
  );
  const lines: string[] = [];
  await using s = await stage({
    authenticate: () => ({ name: "Eve", role: "admin" }),
    logger: (_l, m) => lines.push(m),
  });
  const eve = await s.join("eve");
  await drivingIs(eve, false);
  assert.equal(s.display.presence()[0].role, "view");
  assert.ok(lines.some((l) => /role "admin".*admitted as "view"/.test(l)));
});

// pdum.rfb's browser client (widgets/src/worker/entry.ts, `handleControl`)
// parses every text frame with JSON.parse and acts only on `config`,
// `set_quality` and `stats`; any other type falls through its if/else
// chain untouched. Its hello is `{type, supported, device_pixel_ratio,
// token?}`, then `set_viewport`; it acks each frame it displays. This viewer
// does exactly that, and knows nothing of presence or control.
Deno.test("pdum.rfb compatibility: a client that knows none of the new messages still watches, and drives where it may", async () => {
  const PDUM_KNOWS = new Set(["config", "set_quality", "stats"]);
  await using s = await stage({ control: "exclusive", controlIdle: 60 });
  const alice = await s.join("alice");
  const ws = new WebSocket(`ws://127.0.0.1:${s.display.port}/`);
  ws.binaryType = "arraybuffer";
  const ignored: string[] = [];
  let frames = 0, negotiated = false;
  ws.onmessage = (e) => {
    if (typeof e.data === "string") {
      const control = JSON.parse(e.data); // no try, as pdum.rfb
      if (control.type === "config") negotiated = true;
      else if (!PDUM_KNOWS.has(control.type)) ignored.push(control.type);
      return;
    }
    const view = new DataView(e.data as ArrayBuffer);
    const len = view.getUint32(0, true);
    const header = JSON.parse(
      new TextDecoder().decode(new Uint8Array(e.data, 4, len)),
    );
    frames++;
    ws.send(JSON.stringify({
      type: "ack",
      seq: header.seq,
      decode_queue_size: 0,
      displayed: true,
    }));
  };
  await new Promise((r) => ws.onopen = r);
  ws.send(JSON.stringify({
    type: "hello",
    supported: ["image/jpeg", "image/png", "image/webp"],
    device_pixel_ratio: 1,
    token: "bob",
  }));
  ws.send(JSON.stringify({
    type: "set_viewport",
    width: 320,
    height: 240,
    pwidth: 320,
    pheight: 240,
    ratio: 1,
  }));
  try {
    await until(() => negotiated);
    for (let i = 0; i < 5; i++) {
      const rgba = quadrants(W, H);
      rgba[0] = i;
      s.display.publish(rgba);
      await sleep(60);
    }
    await until(() => frames >= 5, 3000, "frames at the pdum.rfb client");
    await until(() => ignored.includes("control"));
    assert.deepEqual([...new Set(ignored)].sort(), ["control", "presence"]);
    // It cannot ask for control, but the app can hand it over.
    const bob = s.display.presence()[1];
    assert.equal(bob.name, "Bob");
    s.display.grantControl(bob.id);
    await drivingIs(alice, false);
    ws.send(JSON.stringify({
      type: "event",
      event: { type: "key_down", key: "b", modifiers: [] },
    }));
    await until(() => keys(s.events).length === 1);
    assert.deepEqual(keys(s.events), ["Bob:b"]);
    assert.equal(ws.readyState, WebSocket.OPEN);
  } finally {
    ws.close();
    await new Promise((r) => ws.onclose = r);
  }
});
