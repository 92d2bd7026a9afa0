// The library's handler mounted in other apps: a Hono app and a bare Deno.serve.

import assert from "node:assert/strict";
import { Hono } from "hono";
import { Display, handler, RfbServer } from "../mod.ts";
import {
  decodeImage,
  near,
  pixelAt,
  solid,
  TestViewer,
  upgradeStatus,
} from "./_viewer.ts";

const quiet = { logger: () => {}, stillAfter: false as const };

Deno.test("mounted in a Hono app under a prefix, next to the app's own routes", async () => {
  const hub = new RfbServer(quiet); // not listening: the Hono app serves it
  const cam = hub.addStream("cam", 32, 24);
  const rfb = handler(hub, {
    prefix: "/rfb",
    authenticate: ({ cookies }) => cookies.session === "let-me-in",
  });
  const app = new Hono();
  app.get("/", (c) => c.text("app home"));
  app.get("/rfb/*", (c) => rfb(c.req.raw));
  const http = Deno.serve({ port: 0, onListen() {} }, app.fetch);
  const base = `127.0.0.1:${http.addr.port}`;
  try {
    assert.equal(await (await fetch(`http://${base}/`)).text(), "app home");
    assert.equal(await (await fetch(`http://${base}/rfb/health`)).text(), "ok");
    const anonymous = await fetch(`http://${base}/rfb/streams`);
    assert.equal(anonymous.status, 401, "listings need the auth hook too");
    await anonymous.body?.cancel();
    const streams = await (await fetch(`http://${base}/rfb/streams`, {
      headers: { cookie: "session=let-me-in" },
    })).json();
    assert.equal(streams[0].path, "/rfb/cam");
    cam.publish(solid(32, 24, [0, 200, 0]));
    const v = await TestViewer.open(`ws://${base}/rfb/cam`, {
      headers: { cookie: "session=let-me-in", origin: `http://${base}` },
    });
    const f = await v.nextFrame();
    assert.ok(near(pixelAt(await decodeImage(f.payload), 4, 4), [0, 200, 0]));
    const stranger = await TestViewer.open(`ws://${base}/rfb/cam`);
    assert.equal((await stranger.closed).code, 4401);
    const lost = await TestViewer.open(`ws://${base}/rfb/other`, {
      headers: { cookie: "session=let-me-in" },
    });
    assert.equal((await lost.closed).code, 4404);
    assert.equal(
      await upgradeStatus(`http://${base}/rfb/cam`, {
        origin: "http://evil.example",
      }),
      403,
    );
    await v.close();
  } finally {
    await hub.close();
    await http.shutdown();
  }
});

Deno.test("a single Display mounted with Deno.serve answers on any path", async () => {
  const display = new Display(16, 16, quiet);
  assert.equal(display.port, null);
  assert.equal(display.url, null);
  const http = Deno.serve({ port: 0, onListen() {} }, handler(display));
  try {
    display.publish(solid(16, 16, [255, 255, 0]));
    const v = await TestViewer.open(
      `ws://127.0.0.1:${http.addr.port}/anything/here`,
    );
    const f = await v.nextFrame();
    assert.ok(near(pixelAt(await decodeImage(f.payload), 2, 2), [255, 255, 0]));
    await v.close();
  } finally {
    await display.close();
    await http.shutdown();
  }
});
