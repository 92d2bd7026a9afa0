// The browser client end to end in real Chromium: our own page imports the
// bundle from `/rfb-client.js` and puts a view in a fixed-size element; the
// same listener hands everything else to `handler(display)`. Input comes back
// through `display.pollEvents()` in framebuffer pixels for every fit mode and
// pixel ratio; resizes, pixels, reconnects, disposal, the batteries viewer,
// `<rfb-view>` and touch are checked from the outside.
//
// Page-side code goes to playwright as strings: Deno type-checks this file
// without DOM types.

import assert from "node:assert/strict";
import type { BrowserContext, Page } from "playwright-core";
import sharp from "sharp";
import { Display, handler } from "../mod.ts";
import { browserMissing, launch, screenPixels } from "./_browser.ts";
import { near, pixelAt, quadrants, sleep, solid, until } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping client e2e tests: ${missing}`);

// The frame (200x100) and the element (400x300 at page (LEFT, TOP)) differ in
// aspect, so every fit mode places the frame differently.
const FW = 200, FH = 100;
const LEFT = 20, TOP = 30, EW = 400, EH = 300;

const RED = [255, 0, 0], GREEN = [0, 255, 0], BLUE = [0, 0, 255];
const WHITE = [255, 255, 255], BLACK = [0, 0, 0];

type Fit = "contain" | "cover" | "fill" | "none";
type Ev = Record<string, unknown> & { type: string };

/** Our test page. Query: `fit`, `kind` (canvas | viewer | element | empty), `full`. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>rfb client e2e</title>
<style>
html,body{margin:0;background:#333}
#v{position:absolute;left:${LEFT}px;top:${TOP}px;width:${EW}px;height:${EH}px}
body.full #v{left:0;top:0;width:100%;height:100%;position:fixed}
</style>
<script>
// Count live workers: the bundle starts its worker with the global Worker.
globalThis.liveWorkers = 0;
globalThis.startedWorkers = 0;
const NativeWorker = globalThis.Worker;
globalThis.Worker = class extends NativeWorker {
  #done = false;
  constructor(...args) { super(...args); liveWorkers++; startedWorkers++; }
  terminate() { if (!this.#done) { this.#done = true; liveWorkers--; } super.terminate(); }
};
</script></head>
<body><div id="v"></div>
<script type="module">
import { RfbCanvas, RfbViewer } from "/rfb-client.js";
const q = new URLSearchParams(location.search);
if (q.has("full")) document.body.className = "full";
const el = document.getElementById("v");
const fit = q.get("fit") ?? "contain";
globalThis.statuses = [];
// What the DOM itself reports for the wheel, to compare with what arrives.
globalThis.domWheel = [];
el.addEventListener("wheel", (e) => domWheel.push([e.deltaX, e.deltaY, e.deltaMode]), { capture: true });
const track = (target) =>
  target.addEventListener("status", (e) => statuses.push(e.detail.status));
const kind = q.get("kind") ?? "canvas";
if (kind === "canvas") {
  globalThis.view = new RfbCanvas(el, { url: "/", fit, background: "#000" });
  track(view);
} else if (kind === "viewer") {
  globalThis.viewer = new RfbViewer(el, { url: "/", fit, hud: true, statsInterval: 1 });
  globalThis.view = viewer.view;
  track(view);
} else if (kind === "element") {
  const rv = document.createElement("rfb-view");
  rv.setAttribute("src", "/");
  rv.setAttribute("hud", "");
  rv.style.height = "100%";
  track(rv);
  el.appendChild(rv);
  globalThis.rfbView = rv;
  globalThis.view = rv.view;
}
globalThis.ready = true;
</script></body></html>`;

/** A listener serving our page and, for everything else, the display. */
function listen(display: Display, port = 0): Deno.HttpServer<Deno.NetAddr> {
  const rfb = handler(display, { logger: () => {} });
  return Deno.serve(
    { port, hostname: "127.0.0.1", onListen() {} },
    (request, info) => {
      if (new URL(request.url).pathname === "/page.html") {
        return new Response(PAGE, {
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      }
      return rfb(request, info);
    },
  );
}

function newDisplay(): Display {
  return new Display(FW, FH, { stillAfter: false, logger: () => {} });
}

/** A display on a listener with a browser; `close()` tears all of it down. */
async function setup() {
  const display = newDisplay();
  const server = listen(display);
  const base = `http://127.0.0.1:${server.addr.port}`;
  let browser;
  try {
    browser = await launch();
  } catch (err) {
    await display.close();
    await server.shutdown();
    throw err;
  }
  return {
    display,
    server,
    base,
    browser,
    async close() {
      await browser.close();
      if (!display.closed) await display.close();
      await server.shutdown();
    },
  };
}

/** Open our page in `context` and wait until the view is live and drew a frame. */
async function openPage(
  context: BrowserContext,
  base: string,
  query: string,
): Promise<Page> {
  const page = await context.newPage();
  await page.goto(`${base}/page.html?${query}`);
  await page.waitForFunction(`globalThis.ready === true`);
  await page.waitForFunction(`globalThis.view?.status === "negotiated"`);
  await page.waitForFunction(`(globalThis.view?.stats?.frames ?? 0) > 0`);
  return page;
}

/** Poll the display until `done(events)` holds; returns every event seen. */
async function collect(
  display: Display,
  done: (evs: Ev[]) => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<Ev[]> {
  const evs: Ev[] = [];
  try {
    await until(
      () => {
        evs.push(...display.pollEvents() as unknown as Ev[]);
        return done(evs);
      },
      timeoutMs,
      what,
    );
  } catch (err) {
    throw new Error(
      `${(err as Error).message}; got ${
        JSON.stringify(evs.map((e) => e.type))
      }`,
    );
  }
  return evs;
}

function close(a: unknown, b: number, tol: number, what: string): void {
  assert.equal(typeof a, "number", `${what}: ${a}`);
  assert.ok(Math.abs((a as number) - b) <= tol, `${what}: got ${a}, want ${b}`);
}

/**
 * Where a point of the element (CSS px from its top-left) lands in the frame,
 * worked out by hand for a 200x100 frame in a 400x300 element.
 */
function expected(fit: Fit, dpr: number, px: number, py: number): number[] {
  switch (fit) {
    case "contain": // scale 2: 400x200, 50 px bars above and below
      return [px / 2, (py - 50) / 2];
    case "cover": // scale 3: 600x300, 100 px cropped left and right
      return [(px + 100) / 3, py / 3];
    case "fill": // x by 2, y by 3
      return [px / 2, py / 3];
    case "none":
      return dpr === 1
        ? [px - 100, py - 100] // 200x100 CSS px at (100, 100)
        : [(px - 150) * 2, (py - 125) * 2]; // 100x50 CSS px at (150, 125)
  }
}

/** Keep publishing `frame` until stopped, so fps and latency stay live. */
function keepPublishing(display: Display, frame: () => Uint8Array): () => void {
  const timer = setInterval(() => {
    if (!display.closed) display.publish(frame());
  }, 40);
  return () => clearInterval(timer);
}

/** Screenshot until the colour at page (x, y) is near `rgb`. */
async function waitForColour(
  page: Page,
  x: number,
  y: number,
  rgb: number[],
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let got: number[] = [];
  while (Date.now() < deadline) {
    got = pixelAt(await screenPixels(page), x, y);
    if (near(got, rgb, 24)) return;
    await sleep(30);
  }
  assert.fail(`${what}: at (${x}, ${y}) got ${got}, want ${rgb}`);
}

// ---------------------------------------------------------------------------

for (const dpr of [1, 2]) {
  Deno.test({
    name:
      `events: click, move, wheel and keys arrive in frame pixels for every fit mode at DPR ${dpr}`,
    ignore: missing !== null,
    fn: async () => {
      const env = await setup();
      try {
        env.display.publish(quadrants(FW, FH));
        const context = await env.browser.newContext({
          viewport: { width: 640, height: 400 },
          deviceScaleFactor: dpr,
        });
        for (const fit of ["contain", "cover", "fill", "none"] as const) {
          const page = await openPage(context, env.base, `fit=${fit}`);
          assert.equal(await page.evaluate(`devicePixelRatio`), dpr);
          env.display.pollEvents(); // the connect's resize
          const what = `${fit} @${dpr}x`;

          // A key before the view has focus is not the view's.
          await page.keyboard.press("KeyC");
          // Move, wheel, click.
          const [mx, my] = [170, 140];
          const [cx, cy] = [240, 160];
          await page.mouse.move(LEFT + mx, TOP + my);
          const first = await collect(
            env.display,
            (evs) => evs.some((e) => e.type === "pointer_move"),
            `${what} move`,
          );
          await page.mouse.wheel(0, 100);
          await page.mouse.click(LEFT + cx, TOP + cy);
          await page.keyboard.press("Shift+KeyA");
          // Escape gives the focus back to the page: later keys stay home.
          assert.equal(await page.evaluate(`globalThis.view.focused`), true);
          await page.keyboard.press("Escape");
          assert.equal(
            await page.evaluate(`globalThis.view.focused`),
            false,
            `${what}: Escape blurs the view`,
          );
          await page.keyboard.press("KeyB");
          // A last click as a marker: events arrive in order on one socket, so
          // once its pointer_up is here anything sent before it is too. For
          // contain it lands on the letterbox (element y 20 is above the
          // picture), for none on the padding, else on the centre.
          const [lx, ly] = fit === "contain"
            ? [200, 20]
            : fit === "none"
            ? [60, 250]
            : [200, 150];
          await page.mouse.click(LEFT + lx, TOP + ly);
          const evs = [
            ...first,
            ...await collect(
              env.display,
              (evs) => evs.filter((e) => e.type === "pointer_up").length >= 2,
              `${what} events`,
            ),
          ];

          const tol = 0.01;
          const moves = evs.filter((e) => e.type === "pointer_move");
          const [emx, emy] = expected(fit, dpr, mx, my);
          close(moves[0].x, emx, tol, `${what} move x`);
          close(moves[0].y, emy, tol, `${what} move y`);
          assert.equal(moves[0].inside, true, `${what} move inside`);
          assert.equal(moves[0].button, 0);
          assert.deepEqual(moves[0].buttons, []);

          const wheels = evs.filter((e) => e.type === "wheel");
          assert.equal(wheels.length, 1, `${what}: one wheel event`);
          // One notch is dy 100 at 1x. Chromium scales the deltas that
          // playwright injects by 1/DPR (the DOM sees deltaY 50 at 2x), so the
          // check is against what the page's own wheel listener saw.
          const dom = (await page.evaluate(`domWheel`)) as number[][];
          assert.equal(dom.length, 1, `${what}: one DOM wheel event`);
          assert.equal(dom[0][2], 0, "pixel deltas");
          assert.equal(dom[0][1], 100 / dpr, "the DOM's deltaY");
          close(wheels[0].dy, dom[0][1], 1e-9, `${what} wheel dy`);
          close(wheels[0].dx, 0, 1e-9, `${what} wheel dx`);
          close(wheels[0].x, emx, tol, `${what} wheel x`);
          close(wheels[0].y, emy, tol, `${what} wheel y`);

          const downs = evs.filter((e) => e.type === "pointer_down");
          const ups = evs.filter((e) => e.type === "pointer_up");
          assert.equal(downs.length, 2, `${what}: two presses`);
          const [ecx, ecy] = expected(fit, dpr, cx, cy);
          close(downs[0].x, ecx, tol, `${what} down x`);
          close(downs[0].y, ecy, tol, `${what} down y`);
          assert.equal(downs[0].inside, true);
          assert.equal(downs[0].button, 1, "left is button 1");
          assert.deepEqual(downs[0].buttons, [1]);
          assert.deepEqual(downs[0].modifiers, []);
          assert.equal(downs[0].pixel_ratio, dpr);
          close(ups[0].x, ecx, tol, `${what} up x`);
          assert.equal(ups[0].button, 1);
          assert.deepEqual(ups[0].buttons, []);
          assert.equal(ups[0].ntouches, undefined, "a mouse has no touches");

          // The marker click.
          const [elx, ely] = expected(fit, dpr, lx, ly);
          close(downs[1].x, elx, tol, `${what} marker x`);
          close(downs[1].y, ely, tol, `${what} marker y`);
          if (fit === "contain") {
            assert.equal(downs[1].inside, false, "a click on the letterbox");
            assert.ok((downs[1].y as number) < 0, "above the picture");
          } else if (fit === "none") {
            assert.equal(downs[1].inside, false, "a click on the padding");
            assert.ok((downs[1].x as number) < 0, "left of the picture");
          } else {
            assert.equal(downs[1].inside, true, `${what} marker inside`);
          }

          // Keys: Shift+A with its modifier, nothing from before the focus
          // or after Escape.
          const keys = evs.filter((e) => e.type.startsWith("key_"));
          assert.deepEqual(
            keys.map((e) => `${e.type} ${e.key}`),
            ["key_down Shift", "key_down A", "key_up A", "key_up Shift"],
            `${what} keys`,
          );
          assert.deepEqual(keys[1].modifiers, ["Shift"]);
          assert.equal(keys[1].code, "KeyA");
          // The key that types also commits its text (from the view's text
          // area), between its key_down and key_up; nothing else typed.
          const typed = evs.filter((e) => e.type === "text_input");
          assert.deepEqual(typed.map((e) => e.text), ["A"], `${what} text`);
          const seq = evs.map((e) =>
            e.type === "text_input" ? "text" : `${e.type} ${e.key}`
          );
          assert.ok(
            seq.indexOf("key_down A") < seq.indexOf("text") &&
              seq.indexOf("text") < seq.indexOf("key_up A"),
            `${what}: text_input between the key's down and up`,
          );
          // The order on the wire is the order of input.
          const order = evs.map((e) => e.type).filter((t) =>
            t !== "pointer_move" && t !== "resize" && t !== "text_input"
          );
          assert.deepEqual(order, [
            "wheel",
            "pointer_down",
            "pointer_up",
            "key_down",
            "key_down",
            "key_up",
            "key_up",
            "pointer_down",
            "pointer_up",
          ], `${what} order`);
          for (const e of evs) {
            if (e.type !== "resize") {
              assert.equal(typeof e.timestamp, "number");
            }
          }
          await page.close();
        }
        await context.close();
      } finally {
        await env.close();
      }
    },
  });
}

Deno.test({
  name: "resize: the app hears the element's and the window's new sizes",
  ignore: missing !== null,
  fn: async () => {
    const env = await setup();
    try {
      env.display.publish(quadrants(FW, FH));
      // An element of a fixed size, at 2x.
      const ctx2 = await env.browser.newContext({
        viewport: { width: 640, height: 400 },
        deviceScaleFactor: 2,
      });
      const page = await openPage(ctx2, env.base, "fit=contain");
      const first = await collect(
        env.display,
        (evs) => evs.some((e) => e.type === "resize"),
        "the first resize",
      );
      const r0 = first.find((e) => e.type === "resize")!;
      assert.deepEqual(
        [r0.width, r0.height, r0.pwidth, r0.pheight, r0.ratio],
        [EW, EH, EW * 2, EH * 2, 2],
      );
      await page.evaluate(
        `{ const s = document.getElementById("v").style; s.width = "500px"; s.height = "250px"; }`,
      );
      const grown = await collect(
        env.display,
        (evs) =>
          evs.some((e) =>
            e.type === "resize" && e.width === 500 && e.height === 250
          ),
        "the element's resize",
      );
      const r1 = grown.findLast((e) => e.type === "resize")!;
      assert.deepEqual(
        [r1.width, r1.height, r1.pwidth, r1.pheight, r1.ratio],
        [500, 250, 1000, 500, 2],
      );
      await ctx2.close();

      // An element filling the window, at 1x: the window changes size.
      const ctx1 = await env.browser.newContext({
        viewport: { width: 640, height: 360 },
        deviceScaleFactor: 1,
      });
      const full = await ctx1.newPage();
      env.display.pollEvents();
      await full.goto(`${env.base}/page.html?full`);
      const initial = await collect(
        env.display,
        (evs) => evs.some((e) => e.type === "resize"),
        "the full page's resize",
      );
      const f0 = initial.find((e) => e.type === "resize")!;
      assert.deepEqual(
        [f0.width, f0.height, f0.pwidth, f0.pheight, f0.ratio],
        [640, 360, 640, 360, 1],
      );
      await full.setViewportSize({ width: 800, height: 500 });
      const resized = await collect(
        env.display,
        (evs) =>
          evs.some((e) =>
            e.type === "resize" && e.width === 800 && e.height === 500
          ),
        "the window's resize",
      );
      const f1 = resized.findLast((e) => e.type === "resize")!;
      assert.deepEqual(
        [f1.width, f1.height, f1.pwidth, f1.pheight, f1.ratio],
        [800, 500, 800, 500, 1],
      );
      await ctx1.close();
    } finally {
      await env.close();
    }
  },
});

Deno.test({
  name:
    "pixels: the canvas shows the quadrants where the fit mode puts them, and follows",
  ignore: missing !== null,
  fn: async () => {
    const env = await setup();
    try {
      env.display.publish(quadrants(FW, FH));
      // contain at 2x: the picture is element y 50..250, bars above and below.
      const ctx2 = await env.browser.newContext({
        viewport: { width: 640, height: 400 },
        deviceScaleFactor: 2,
      });
      const page = await openPage(ctx2, env.base, "fit=contain");
      const at = (x: number, y: number): [number, number] => [
        LEFT + x,
        TOP + y,
      ];
      const checks: Array<[number[], number[], string]> = [
        [at(100, 100), RED, "red (top left)"],
        [at(300, 100), GREEN, "green (top right)"],
        [at(100, 200), BLUE, "blue (bottom left)"],
        [at(300, 200), WHITE, "white (bottom right)"],
        [at(200, 20), BLACK, "top letterbox"],
        [at(200, 280), BLACK, "bottom letterbox"],
      ];
      for (const [[x, y], rgb, what] of checks) {
        await waitForColour(page, x, y, rgb, `contain: ${what}`);
      }
      // Outside the element the page shows through.
      await waitForColour(page, 10, 10, [0x33, 0x33, 0x33], "page background");
      // The picture follows a new frame.
      env.display.publish(solid(FW, FH, [250, 200, 0]));
      await waitForColour(page, ...at(100, 100), [250, 200, 0], "new frame");
      await waitForColour(page, ...at(300, 200), [250, 200, 0], "new frame");
      await waitForColour(page, ...at(200, 20), BLACK, "bars stay");
      await ctx2.close();

      // cover at 1x: scale 3, no bars; element (100, 20) is frame (66.7, 6.7).
      env.display.publish(quadrants(FW, FH));
      const ctx1 = await env.browser.newContext({
        viewport: { width: 640, height: 400 },
      });
      const cover = await openPage(ctx1, env.base, "fit=cover");
      await waitForColour(cover, ...at(100, 20), RED, "cover: red at the top");
      await waitForColour(cover, ...at(300, 280), WHITE, "cover: white");
      await waitForColour(cover, ...at(20, 280), BLUE, "cover: blue");
      // Switching the fit mode redraws without a new frame.
      await cover.evaluate(`globalThis.view.fit = "contain"`);
      await waitForColour(cover, ...at(100, 20), BLACK, "contain after cover");
      await ctx1.close();
    } finally {
      await env.close();
    }
  },
});

Deno.test({
  name:
    "reconnect: the view comes back by itself when the server restarts on the same port",
  ignore: missing !== null,
  fn: async () => {
    let display = newDisplay();
    let server: Deno.HttpServer<Deno.NetAddr> | null = null;
    let port = 0;
    for (let tries = 0; !server; tries++) {
      port = 20000 + Math.floor(Math.random() * 10000);
      try {
        server = listen(display, port);
      } catch (err) {
        if (!(err instanceof Deno.errors.AddrInUse) || tries > 20) throw err;
      }
    }
    const browser = await launch();
    try {
      display.publish(quadrants(FW, FH));
      const context = await browser.newContext({
        viewport: { width: 640, height: 400 },
      });
      const page = await openPage(
        context,
        `http://127.0.0.1:${port}`,
        "fit=contain",
      );
      await waitForColour(page, LEFT + 100, TOP + 100, RED, "before");
      const before = (await page.evaluate(`statuses.length`)) as number;

      // The server goes away: display and listener both.
      await display.close();
      await server.shutdown();
      server = null;
      await page.waitForFunction(`globalThis.view.status !== "negotiated"`);
      await sleep(600); // let it fail to reconnect once or twice

      // A new one on the same port, with another picture.
      display = newDisplay();
      display.publish(solid(FW, FH, [0, 200, 200]));
      server = listen(display, port);
      await page.waitForFunction(`globalThis.view.status === "negotiated"`, {
        timeout: 10_000,
      });
      await waitForColour(page, LEFT + 100, TOP + 100, [0, 200, 200], "after");
      await until(() => display.viewers === 1, 5000, "one viewer again");

      const statuses = (await page.evaluate(`statuses`)) as string[];
      const after = statuses.slice(before);
      const closedAt = after.indexOf("closed");
      assert.ok(closedAt >= 0, `closed in ${after}`);
      const connectingAt = after.indexOf("connecting", closedAt);
      assert.ok(connectingAt > closedAt, `connecting after closed: ${after}`);
      const liveAt = after.indexOf("negotiated", connectingAt);
      assert.ok(liveAt > connectingAt, `negotiated after connecting: ${after}`);
      assert.equal(after.at(-1), "negotiated");
      await context.close();
    } finally {
      await browser.close();
      await display.close();
      await server?.shutdown();
    }
  },
});

Deno.test({
  name:
    "dispose: 100 views made and disposed leave no viewers, canvases or workers",
  ignore: missing !== null,
  fn: async () => {
    const env = await setup();
    let maxViewers = 0;
    const sampler = setInterval(() => {
      maxViewers = Math.max(maxViewers, env.display.viewers);
    }, 5);
    try {
      env.display.publish(quadrants(FW, FH));
      const context = await env.browser.newContext({
        viewport: { width: 640, height: 400 },
      });
      const page = await context.newPage();
      await page.goto(`${env.base}/page.html?kind=empty`);
      await page.waitForFunction(`globalThis.ready === true`);
      const cdp = await context.newCDPSession(page);
      const heap = async () => {
        await cdp.send("HeapProfiler.collectGarbage");
        return (await cdp.send("Runtime.getHeapUsage")).usedSize;
      };
      // Make and dispose `n` views: every fourth goes live before it is
      // disposed, every fourth waits a moment, the rest go at once.
      await page.evaluate(`globalThis.churn = async (n) => {
        const { RfbCanvas } = await import("/rfb-client.js");
        const el = document.getElementById("v");
        let live = 0;
        for (let i = 0; i < n; i++) {
          const v = new RfbCanvas(el, { url: "/" });
          if (i % 4 === 0) {
            await new Promise((resolve) => {
              const t = setTimeout(resolve, 3000);
              v.addEventListener("status", (e) => {
                if (e.detail.status === "negotiated") {
                  live++;
                  clearTimeout(t);
                  resolve();
                }
              });
            });
          } else if (i % 4 === 1) {
            await new Promise((r) => setTimeout(r, 5));
          }
          v.dispose();
        }
        return live;
      }`);
      // A warm-up round first, so compiled code does not count as growth.
      assert.equal(await page.evaluate(`churn(12)`), 3);
      await until(() => env.display.viewers === 0, 5000, "warm-up gone");
      await until(() => page.workers().length === 0, 5000, "warm-up workers");
      const heapBefore = await heap();
      const made = await page.evaluate(`churn(100)`);
      assert.equal(made, 25, "the views that waited went live");
      await until(
        () => env.display.viewers === 0,
        5000,
        "no viewers on the server",
      );
      assert.equal(
        await page.evaluate(`document.querySelectorAll("canvas").length`),
        0,
        "no canvases left",
      );
      assert.equal(await page.evaluate(`startedWorkers`), 112);
      await page.waitForFunction(`liveWorkers === 0`, { timeout: 3000 });
      // Chromium's own list of the page's workers (not our counter).
      await until(() => page.workers().length === 0, 5000, "no workers");
      // A sanity bound on the page's JS heap after a forced GC (it grows some
      // tens of KiB while the code warms up). The JS side of a view is small:
      // what a leak would really hold on to (sockets, workers, canvases) is
      // checked above and below, not through this number.
      const grown = (await heap()) - heapBefore;
      assert.ok(grown < 1024 * 1024, `page heap grew ${grown} bytes`);
      // The server saw them come and go, not pile up (a few overlap while
      // their sockets close).
      assert.ok(maxViewers <= 20, `${maxViewers} viewers at once`);
      // And stays at zero: nothing reconnects behind our back.
      await sleep(700);
      assert.equal(env.display.viewers, 0);
      assert.equal(page.workers().length, 0);
      await cdp.detach();
      await context.close();
    } finally {
      clearInterval(sampler);
      await env.close();
    }
  },
});

/** Decode a PNG and compare its quadrant centres with `quadrants()`. */
async function assertQuadrantPng(png: Uint8Array, what: string): Promise<void> {
  assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], what);
  const { data, info } = await sharp(png).ensureAlpha().raw().toBuffer({
    resolveWithObject: true,
  });
  assert.deepEqual([info.width, info.height], [FW, FH], `${what}: full size`);
  const img = { data: new Uint8Array(data), width: info.width };
  for (
    const [x, y, rgb] of [
      [50, 25, RED],
      [150, 25, GREEN],
      [50, 75, BLUE],
      [150, 75, WHITE],
    ] as Array<[number, number, number[]]>
  ) {
    assert.ok(
      near(pixelAt(img, x, y), rgb, 24),
      `${what}: (${x}, ${y}) is ${pixelAt(img, x, y)}, want ${rgb}`,
    );
  }
}

Deno.test({
  name:
    "batteries viewer: live HUD, status pill, latency badge, screenshots, and <rfb-view>",
  ignore: missing !== null,
  fn: async () => {
    const env = await setup();
    // Pixels under the chrome are checked: full quality all along (on a
    // busy machine adaptation could add the HUD's "reduced" line).
    env.display.configure({ adaptive: false });
    const stop = keepPublishing(env.display, () => quadrants(FW, FH));
    try {
      env.display.publish(quadrants(FW, FH));
      const context = await env.browser.newContext({
        viewport: { width: 640, height: 400 },
        deviceScaleFactor: 2,
      });
      const page = await openPage(context, env.base, "kind=viewer");

      // The HUD's fps goes above zero.
      await page.waitForFunction(
        `Number(document.querySelector(".rfb-hud")?.textContent.match(/fps\\s+(\\d+)/)?.[1] ?? 0) > 0`,
      );
      const hud = (await page.evaluate(
        `document.querySelector(".rfb-hud").textContent`,
      )) as string;
      const fps = Number(hud.match(/fps\s+(\d+)/)?.[1]);
      assert.ok(fps > 0, `fps in ${JSON.stringify(hud)}`);
      assert.match(hud, /size\s+200×100/);
      assert.match(
        hud,
        /transport\s+(image · JPEG|webcodecs · avc1\.42[0-9A-F]{4})/,
      );
      assert.ok(Number(hud.match(/frames\s+(\d+)/)?.[1]) > 0, hud);
      assert.equal(
        await page.evaluate(
          `document.querySelector(".rfb-pill-text").textContent`,
        ),
        "live",
      );
      await page.waitForFunction(
        `!document.querySelector(".rfb-badge").hidden`,
      );
      assert.match(
        (await page.evaluate(
          `document.querySelector(".rfb-badge").textContent`,
        )) as string,
        /^-?\d+ ms$/,
      );

      // view.screenshot(): a full-size PNG of the frame.
      const bytes = (await page.evaluate(`(async () => {
        const blob = await globalThis.view.screenshot();
        return [blob.type, Array.from(new Uint8Array(await blob.arrayBuffer()))];
      })()`)) as [string, number[]];
      assert.equal(bytes[0], "image/png");
      await assertQuadrantPng(new Uint8Array(bytes[1]), "view.screenshot()");

      // The toolbar's button downloads the same.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Screenshot" })
          .click(),
      ]);
      assert.match(download.suggestedFilename(), /\.png$/);
      const file = await download.path();
      await assertQuadrantPng(await Deno.readFile(file), "toolbar screenshot");
      await download.delete();

      await page.mouse.move(LEFT + 200, TOP + 150); // hovered: toolbar shown
      await sleep(250);
      await page.screenshot({ path: "/tmp/rfb-viewer-batteries.png" });

      // <rfb-view src=... hud> on its own.
      const el = await context.newPage();
      await el.goto(`${env.base}/page.html?kind=element`);
      await el.waitForFunction(`globalThis.statuses.includes("negotiated")`);
      await el.waitForFunction(
        `(globalThis.rfbView.view?.stats?.frames ?? 0) > 0`,
      );
      await el.waitForFunction(
        `/fps\\s+[1-9]/.test(document.querySelector("rfb-view .rfb-hud")?.textContent ?? "")`,
      );
      // The element's default fit is contain, its chrome sits on top.
      await waitForColour(el, LEFT + 100, TOP + 100, RED, "<rfb-view> red");
      await waitForColour(el, LEFT + 300, TOP + 200, WHITE, "<rfb-view> white");
      assert.deepEqual(
        (await el.evaluate(`statuses`) as string[]).slice(0, 1),
        ["connecting"],
      );
      await el.screenshot({ path: "/tmp/rfb-viewer-element.png" });
      // Taking the element out of the page closes its view.
      await el.evaluate(`globalThis.rfbView.remove()`);
      await until(
        () => env.display.viewers === 1,
        5000,
        "the element's viewer gone",
      );
      await context.close();
    } finally {
      stop();
      await env.close();
    }
  },
});

Deno.test({
  name: "touch: a tap arrives as pointer_down/up with one touch",
  ignore: missing !== null,
  fn: async () => {
    const env = await setup();
    try {
      env.display.publish(quadrants(FW, FH));
      const context = await env.browser.newContext({
        viewport: { width: 640, height: 400 },
        hasTouch: true,
      });
      const page = await openPage(context, env.base, "fit=fill");
      env.display.pollEvents();
      await page.touchscreen.tap(LEFT + 100, TOP + 150);
      const evs = await collect(
        env.display,
        (evs) => evs.some((e) => e.type === "pointer_up"),
        "the tap",
      );
      const down = evs.find((e) => e.type === "pointer_down")!;
      const up = evs.find((e) => e.type === "pointer_up")!;
      for (const [e, what] of [[down, "down"], [up, "up"]] as const) {
        close(e.x, 50, 0.01, `tap ${what} x`);
        close(e.y, 50, 0.01, `tap ${what} y`);
        assert.equal(e.ntouches, 1, `tap ${what} ntouches`);
        const touches = e.touches as Array<Record<string, number>>;
        assert.equal(touches.length, 1, `tap ${what} touches`);
        close(touches[0].x, 50, 0.01, `tap ${what} touch x`);
        close(touches[0].y, 50, 0.01, `tap ${what} touch y`);
      }
      assert.equal(down.button, 1);
      await context.close();
    } finally {
      await env.close();
    }
  },
});
