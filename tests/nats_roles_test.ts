// Roles and control across a render host and its edge servers, with a real
// nats-server and real sockets: the edge's `authenticate` hook (and its
// `defaultRole`) says who an edge viewer is, the host's one desk decides who
// drives for the whole site (input from an edge viewer that does not drive
// never reaches the host's pollEvents() and is counted there), requests,
// grants and releases travel through NATS both ways in exclusive mode, the
// host's presence() lists edge viewers with their edge, and edge viewers get
// the host's `presence` and `control` messages.

import assert from "node:assert/strict";
import {
  type AuthContext,
  type Display,
  type DisplayEvent,
  type DisplayOptions,
  handler,
  serve,
} from "../mod.ts";
import { displayFromNats, publishToNats } from "../src/nats/mod.ts";
import type { RemoteDisplayOptions } from "../src/nats/edge.ts";
import { NatsServer } from "./_nats.ts";
import { quadrants, sleep, TestViewer, until } from "./_viewer.ts";

const W = 32, H = 24;
const quiet = { logger: () => {} };

/** The people of these tests, by the token they present. */
const PEOPLE: Record<string, Record<string, unknown>> = {
  alice: { id: "u-alice", name: "Alice", role: "control" },
  bob: { id: "u-bob", name: "Bob", role: "control" },
  carol: { id: "u-carol", name: "Carol", role: "view" },
  eve: { id: "u-eve", name: "Eve" }, // no role: the display's defaultRole
};
const byToken = ({ token }: AuthContext) => PEOPLE[token ?? ""] ?? false;

/**
 * A host (its own listener, the people hook) publishing to NATS, and one
 * edge serving it with the same hook; every host event is kept in `events`.
 */
async function site(
  host: DisplayOptions = {},
  edge: Partial<RemoteDisplayOptions> = {},
) {
  const nats = await NatsServer.start();
  const display = await serve(W, H, {
    port: 0,
    transport: "image",
    stillAfter: false,
    authenticate: byToken,
    ...quiet,
    ...host,
  });
  const link = await publishToNats(display, { servers: nats.url, stream: "s" });
  const remote = await displayFromNats({
    servers: nats.url,
    stream: "s",
    authenticate: byToken,
    ...quiet,
    ...edge,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler(remote),
  );
  const frame = quadrants(W, H);
  display.publish(frame);
  const events: DisplayEvent[] = [];
  const timer = setInterval(() => events.push(...display.pollEvents()), 5);
  const viewers: TestViewer[] = [];
  const join = async (url: string, token: string) => {
    const v = await TestViewer.open(url, { hello: { token } });
    viewers.push(v);
    await v.nextText("config");
    return v;
  };
  return {
    display,
    remote,
    events,
    /** A viewer of the host itself. */
    atHost: (token: string) => join(`ws://127.0.0.1:${display.port}/`, token),
    /** A viewer at the edge. */
    atEdge: (token: string) =>
      join(`ws://127.0.0.1:${server.addr.port}/`, token),
    async [Symbol.asyncDispose]() {
      clearInterval(timer);
      await Promise.all(viewers.map((v) => v.close()));
      await server.shutdown();
      await remote.close();
      await link.close();
      await display.close();
      await nats[Symbol.asyncDispose]();
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
    5000,
    `control.driving ${driving}`,
  );
}

/** Keys the app got, in order, as `name:key`. */
function keys(events: DisplayEvent[]): string[] {
  return events.filter((e) => e.type === "key_down").map((e) =>
    `${(e.user as { name: string }).name}:${(e as { key: string }).key}`
  );
}

/** The host's entry for the viewer named `name`. */
function entry(display: Display, name: string) {
  return display.presence().find((p) => p.name === name);
}

Deno.test("nats roles: a view-role viewer at an edge never reaches the host's pollEvents, and the host counts it; the edge's defaultRole holds", async () => {
  await using s = await site({}, { defaultRole: "view" });
  const bob = await s.atEdge("bob");
  const carol = await s.atEdge("carol");
  const eve = await s.atEdge("eve"); // no role from the hook: the edge's default
  await until(() => s.display.presence().length === 3, 5000, "presence");
  const carolId = entry(s.display, "Carol")!.id;
  // Carol's standing comes from the host, through NATS, with her host id.
  await drivingIs(carol, false);
  assert.deepEqual(last(carol, "control"), {
    type: "control",
    you: carolId,
    role: "view",
    mode: "shared",
    driving: false,
    requested: false,
  });
  await drivingIs(eve, false);
  assert.equal(last(eve, "control")?.role, "view");
  await drivingIs(bob, true);

  for (let i = 0; i < 20; i++) key(carol, "c");
  for (let i = 0; i < 5; i++) key(eve, "e");
  carol.send({
    type: "set_viewport",
    width: 100,
    height: 100,
    pwidth: 100,
    pheight: 100,
    ratio: 1,
  });
  carol.send({ type: "request_control" }); // a viewer cannot drive: nothing
  key(bob, "b");
  await until(() => keys(s.events).length === 1, 5000, "Bob's key");
  await until(() => s.display.stats().inputDropped === 25, 5000, "drops");
  await sleep(100);
  assert.deepEqual(keys(s.events), ["Bob:b"]);
  assert.ok(!s.events.some((e) => e.type === "resize"));
  assert.ok(!s.events.some((e) => e.type === "control_request"));
  const ev = s.events.find((e) => e.type === "key_down")!;
  assert.deepEqual(ev.user, PEOPLE.bob); // as the edge's hook returned it
  const stats = s.display.stats().viewerStats.map((v) => [
    v.edge === s.remote.edgeId,
    v.role,
    v.control,
    v.inputDropped,
  ]);
  assert.deepEqual(stats, [
    [true, "control", true, 0],
    [true, "view", false, 20],
    [true, "view", false, 5],
  ]);
});

Deno.test("nats roles: exclusive control across the site: a host viewer drives, an edge viewer asks, the app grants, the edge viewer hands it back", async () => {
  await using s = await site({ control: "exclusive" });
  const alice = await s.atHost("alice"); // first control-role viewer: drives
  await drivingIs(alice, true);
  const bob = await s.atEdge("bob");
  await drivingIs(bob, false);
  const aliceId = entry(s.display, "Alice")!.id;
  const bobId = entry(s.display, "Bob")!.id;
  assert.notEqual(aliceId, bobId);

  // Only the one driver's input reaches the app, wherever viewers are.
  key(bob, "1");
  key(alice, "2");
  await until(() => keys(s.events).includes("Alice:2"), 5000, "Alice's key");
  await until(() => s.display.stats().inputDropped === 1, 5000, "Bob dropped");

  // Bob asks at the edge; the host's app hears it, as from its own viewers.
  bob.send({ type: "request_control" });
  await until(
    () => s.events.some((e) => e.type === "control_request"),
    5000,
    "control_request",
  );
  const req = s.events.find((e) => e.type === "control_request")!;
  assert.equal(req.viewer, bobId);
  assert.deepEqual(req.user, PEOPLE.bob);
  await until(() => entry(s.display, "Bob")!.requested, 5000, "requested");
  await until(
    () => last(bob, "control")?.requested === true,
    5000,
    "Bob's own standing: requested",
  );
  // Everyone sees who drives and who waits, the edge viewer too.
  await until(
    () =>
      JSON.stringify(last(bob, "presence")?.requests) ===
        JSON.stringify([{ id: bobId, name: "Bob" }]),
    5000,
    "presence at the edge lists Bob's request",
  );
  assert.deepEqual(last(bob, "presence"), {
    type: "presence",
    viewers: 2,
    driving: 1,
    drivers: [{ id: aliceId, name: "Alice" }],
    requests: [{ id: bobId, name: "Bob" }],
  });

  // The app grants it to the edge viewer by its site-wide id.
  assert.equal(s.display.grantControl(bobId), true);
  await drivingIs(bob, true);
  await drivingIs(alice, false);
  const before = keys(s.events).length;
  key(alice, "3");
  key(bob, "4");
  await until(() => keys(s.events).includes("Bob:4"), 5000, "Bob's key");
  await until(
    () => s.display.stats().inputDropped === 2,
    5000,
    "Alice dropped",
  );
  assert.deepEqual(keys(s.events).slice(before), ["Bob:4"]);
  assert.deepEqual(
    s.display.stats().viewerStats.map((v) => [v.id, v.control]),
    [[aliceId, false], [bobId, true]],
  );

  // Bob hands it to Alice by her id (as his presence message named her).
  bob.send({ type: "release_control", to: aliceId });
  await drivingIs(alice, true);
  await drivingIs(bob, false);
  key(alice, "5");
  await until(() => keys(s.events).includes("Alice:5"), 5000, "Alice again");

  // The edge does not decide: its viewers' standing is the host's.
  assert.deepEqual(
    s.remote.presence().map((p) => [p.name, p.control]),
    [["Bob", false]],
  );
});

Deno.test("nats roles: the host's presence() lists edge viewers with their edge; they leave with their socket or their edge", async () => {
  await using s = await site({ control: "exclusive" });
  const alice = await s.atHost("alice");
  const bob = await s.atEdge("bob");
  const carol = await s.atEdge("carol");
  await until(() => s.display.presence().length === 3, 5000, "presence");
  const list = s.display.presence().map((p) => ({
    name: p.name,
    role: p.role,
    transport: p.transport,
    control: p.control,
    edge: p.edge,
    user: p.user,
  }));
  assert.deepEqual(list, [
    {
      name: "Alice",
      role: "control",
      transport: "image",
      control: true,
      edge: undefined,
      user: PEOPLE.alice,
    },
    {
      name: "Bob",
      role: "control",
      transport: "image",
      control: false,
      edge: s.remote.edgeId,
      user: PEOPLE.bob,
    },
    {
      name: "Carol",
      role: "view",
      transport: "image",
      control: false,
      edge: s.remote.edgeId,
      user: PEOPLE.carol,
    },
  ]);
  assert.equal(s.display.stats().viewers, 3);
  // The host's viewer and the edge's see the same count.
  for (const v of [alice, carol]) {
    await until(
      () => last(v, "presence")?.viewers === 3,
      5000,
      "presence counts 3",
    );
  }

  // Bob asks, then his socket closes: his request goes with him.
  bob.send({ type: "request_control" });
  await until(() => entry(s.display, "Bob")?.requested === true);
  await bob.close();
  await until(() => !entry(s.display, "Bob"), 5000, "Bob gone");
  await until(() => last(carol, "presence")?.viewers === 2, 5000, "2 left");
  assert.deepEqual(last(carol, "presence")?.requests, []);

  // The edge closes: the host forgets its viewers at once.
  await s.remote.close();
  await until(() => s.display.presence().length === 1, 5000, "edge gone");
  assert.equal(s.display.presence()[0].name, "Alice");
  await until(() => last(alice, "presence")?.viewers === 1, 5000, "1 left");
});
