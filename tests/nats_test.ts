// The render host → NATS → edge path with a real nats-server (started here
// on a free port, stopped at the end), real sockets and real encoders:
// viewers at an edge see the host's picture and config, their input reaches
// the host's pollEvents() with site-wide ids and the edge's identity, the
// host encodes each encoding once for every edge, and only what edges need.

import assert from "node:assert/strict";
import { Display, handler } from "../mod.ts";
import { displayFromNats, publishToNats } from "../src/nats/mod.ts";
import { NatsServer } from "./_nats.ts";
import {
  decodeImage,
  near,
  pixelAt,
  quadrants,
  sleep,
  TestViewer,
  until,
} from "./_viewer.ts";

const quiet = { logger: () => {} };

/** Serve `target` with handler() on a free port; the ws URL and a stop function. */
function serveEdge(target: Parameters<typeof handler>[0], opts = {}) {
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler(target, opts),
  );
  return {
    url: `ws://127.0.0.1:${server.addr.port}/`,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}

Deno.test("nats: a JPEG viewer at an edge sees the host's picture and config; its input reaches the host", async () => {
  await using nats = await NatsServer.start();
  const display = new Display(64, 48, { transport: "image", ...quiet });
  await using _link = await publishToNats(display, {
    servers: nats.url,
    stream: "scene",
  });
  await using remote = await displayFromNats({
    servers: nats.url,
    stream: "scene",
    authenticate: ({ token }) =>
      token === "ok" ? { id: 7, name: "Ada" } : false,
    ...quiet,
  });
  assert.equal(remote.width, 64);
  assert.equal(remote.height, 48);
  await using edge = serveEdge(remote);
  const frame = quadrants(64, 48);
  const timer = setInterval(() => display.publish(frame), 50);
  try {
    await using viewer = await TestViewer.open(edge.url, {
      hello: { token: "ok" },
    });
    const config = await viewer.nextText("config");
    assert.equal(config.width, 64);
    assert.equal(config.height, 48);
    assert.equal(config.transport, "image");
    const f = await viewer.nextFrame(3000);
    assert.equal(f.header.mime, "image/jpeg");
    const img = await decodeImage(f.payload);
    assert.ok(near(pixelAt(img, 8, 8), [255, 0, 0]));
    assert.ok(near(pixelAt(img, 56, 40), [255, 255, 255]));

    viewer.send({
      type: "event",
      event: { type: "pointer_down", x: 3, y: 4, button: 0 },
    });
    let events: ReturnType<typeof display.pollEvents> = [];
    await until(
      () => (events = display.pollEvents()).length > 0,
      3000,
      "input",
    );
    assert.equal(events[0].type, "pointer_down");
    assert.deepEqual(events[0].user, { id: 7, name: "Ada" });
    const stats = display.stats();
    assert.equal(stats.viewers, 1);
    assert.equal(stats.viewerStats[0].id, events[0].viewer);
    assert.equal(stats.viewerStats[0].edge, remote.edgeId);
  } finally {
    clearInterval(timer);
  }
  await display.close();
});
