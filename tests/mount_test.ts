// The viewer page through a mount, in Chromium: mounted as handler()'s JSDoc
// shows (`app.get("/rfb", …)`, no prefix), under a prefix, and under a path
// the handler was not told about, the page loads its client from itself and
// shows frames. And the list of streams at `/` of a server without a
// "default" stream: links to each viewer, behind the auth hook, under the
// guard headers.

import assert from "node:assert/strict";
import { Hono } from "hono";
import type { Page } from "playwright-core";
import { Display, handler, RfbServer, serveServer } from "../mod.ts";
import {
  browserMissing,
  launch,
  screenPixels,
  waitForExpression,
} from "./_browser.ts";
import { near, quadrants } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping browser tests: ${missing}`);

const quiet = { logger: () => {}, stillAfter: false as const };
const SHOTS = Deno.env.get("RFB_SHOTS"); // a folder to keep screenshots in

function assertGuarded(res: Response): void {
  const csp = res.headers.get("content-security-policy") ?? "";
  assert.match(csp, /(^|; )frame-ancestors 'none'(;|$)/);
  assert.match(csp, /(^|; )default-src 'none'(;|$)/);
  assert.equal(res.headers.get("x-frame-options"), "DENY");
  assert.equal(res.headers.get("referrer-policy"), "no-referrer");
  assert.equal(res.headers.get("x-content-type-options"), "nosniff");
}

/** Record the page's failed requests and error answers from now on. */
function failures(page: Page): string[] {
  const failed: string[] = [];
  page.on("requestfailed", (r) => failed.push(r.url()));
  page.on("response", (r) => {
    if (r.status() >= 400) failed.push(`${r.status()} ${r.url()}`);
  });
  return failed;
}

/** Wait for the quadrants to be drawn in a 640x360 page. */
async function showsFrames(page: Page, shot: string): Promise<void> {
  await waitForExpression(
    page,
    `(globalThis.rfb?.view.stats?.frames ?? 0) > 0`,
    { timeout: 15_000 },
  );
  await new Promise((r) => setTimeout(r, 300)); // the draw after the decode
  if (SHOTS) await page.screenshot({ path: `${SHOTS}/${shot}.png` });
  const { data, width } = await screenPixels(page);
  const at = (x: number, y: number) =>
    Array.from(data.subarray((y * width + x) * 4, (y * width + x) * 4 + 3));
  // 320x180 quadrants at 2x in a 640x360 page: red, green / blue, white
  // (clear of the pill, the toolbar and the HUD).
  assert.ok(near(at(160, 90), [255, 0, 0], 40), `red: ${at(160, 90)}`);
  assert.ok(near(at(480, 90), [0, 255, 0], 40), `green: ${at(480, 90)}`);
  assert.ok(near(at(300, 200), [0, 0, 255], 40), `blue: ${at(300, 200)}`);
}

Deno.test({
  name:
    "Chromium: a page served through a Hono mount shows frames, with and without a prefix",
  ignore: missing !== null,
  fn: async () => {
    // As handler()'s JSDoc shows: one route, no prefix.
    const display = new Display(320, 180, quiet);
    display.publish(quadrants(320, 180));
    const one = handler(display);
    // A server's streams under a prefix.
    const streams = new RfbServer(quiet);
    streams.addStream("cam", 320, 180).publish(quadrants(320, 180));
    const prefixed = handler(streams, { prefix: "/rfb" });
    // A display under a path the handler was not told about.
    const other = new Display(320, 180, quiet);
    other.publish(quadrants(320, 180));
    const loose = handler(other);

    const app = new Hono();
    app.get("/", (c) => c.text("app home"));
    app.get("/live", (c) => one(c.req.raw));
    app.get("/rfb/*", (c) => prefixed(c.req.raw));
    app.get("/deep/down/*", (c) => loose(c.req.raw));
    await using http = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      app.fetch,
    );
    const base = `http://127.0.0.1:${http.addr.port}`;
    const browser = await launch();
    try {
      for (
        const [path, shot] of [
          ["/live", "mount-no-prefix"],
          ["/rfb/cam", "mount-prefix"],
          ["/deep/down/view?hud", "mount-loose"],
        ]
      ) {
        const page = await browser.newPage({
          viewport: { width: 640, height: 360 },
        });
        const failed = failures(page);
        await page.goto(base + path);
        await showsFrames(page, shot);
        assert.deepEqual(failed, [], `failed requests: ${failed}`);
        await page.close();
      }
    } finally {
      await browser.close();
      await display.close();
      await other.close();
      await streams.close();
    }
  },
});

Deno.test("GET / of a server with only named streams lists them, with links and the guard headers", async () => {
  await using server = await serveServer({ port: 0, ...quiet });
  server.addStream("left", 64, 48);
  server.addStream("right.cam", 32, 24);
  const res = await fetch(server.url);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type")!, /text\/html/);
  assert.equal(res.headers.get("cache-control"), "no-store");
  assertGuarded(res);
  const html = await res.text();
  assert.ok(html.includes('href="/left"'), html);
  assert.ok(html.includes('href="/right.cam"'), html);
  assert.ok(html.includes("64×48"), html);
  assert.doesNotMatch(html, /<script/);
  // With a "default" stream, / is its viewer page, as before.
  server.addStream("default", 16, 16);
  const page = await (await fetch(server.url)).text();
  assert.match(page, /new RfbViewer\(/);
});

Deno.test("the list behind a mounted handler links under its prefix; an empty server says so", async () => {
  const streams = new RfbServer(quiet);
  const rfb = handler(streams, { prefix: "/rfb" });
  const empty = await (await rfb(new Request("http://127.0.0.1/rfb/"))).text();
  assert.match(empty, /No streams yet/);
  streams.addStream("cam", 8, 8);
  for (const path of ["/rfb", "/rfb/"]) {
    const html = await (await rfb(new Request(`http://127.0.0.1${path}`)))
      .text();
    assert.ok(html.includes('href="/rfb/cam"'), html);
  }
  await streams.close();
});

Deno.test("the list is behind the auth hook: a refused caller learns no names, a token is carried to the links", async () => {
  await using server = await serveServer({
    port: 0,
    ...quiet,
    authenticate: ({ token }) => token === "s3cret",
  });
  server.addStream("secret-cam", 8, 8);
  const refused = await fetch(server.url);
  const body = await refused.text();
  assert.doesNotMatch(body, /secret-cam/);
  // The same answer a guarded "default" stream would get: its viewer page.
  assert.match(body, /new RfbViewer\(/);
  assertGuarded(refused);
  const allowed = await fetch(`${server.url}?token=s3cret`);
  const html = await allowed.text();
  assert.ok(html.includes('href="/secret-cam?token=s3cret"'), html);
  assertGuarded(allowed);
  const bearer = await fetch(server.url, {
    headers: { authorization: "Bearer s3cret" },
  });
  assert.match(await bearer.text(), /secret-cam/);
});

Deno.test("a stream with its own hook is listed only to callers that pass it", async () => {
  await using server = await serveServer({ port: 0, ...quiet });
  server.addStream("open", 8, 8);
  server.addStream("private", 8, 8, {
    authenticate: ({ cookies }) => cookies.session === "ok",
  });
  const anyone = await (await fetch(server.url)).text();
  assert.match(anyone, /href="\/open"/);
  assert.doesNotMatch(anyone, /private/);
  const member = await (await fetch(server.url, {
    headers: { cookie: "session=ok" },
  })).text();
  assert.match(member, /href="\/private"/);
});

Deno.test({
  name: "Chromium: the list's links open viewers that show frames",
  ignore: missing !== null,
  fn: async () => {
    await using server = await serveServer({ port: 0, ...quiet });
    server.addStream("cam", 320, 180).publish(quadrants(320, 180));
    server.addStream("other", 32, 32);
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 640, height: 360 },
      });
      const failed = failures(page);
      await page.goto(server.url);
      if (SHOTS) await page.screenshot({ path: `${SHOTS}/stream-list.png` });
      const names = await page.locator("a").allTextContents();
      assert.deepEqual(names, ["cam", "other"]);
      await page.click("text=cam");
      await page.waitForURL(`${server.url}cam`);
      await showsFrames(page, "stream-list-cam");
      assert.deepEqual(failed, [], `failed requests: ${failed}`);
    } finally {
      await browser.close();
    }
  },
});
