// The demo's classroom as three people see it, in Chromium: a presenter who
// signs in and draws, an audience member who only watches, and a second
// presenter who asks for control and gets it handed over. Each has their
// own browser context (their own cookies). Checked as a person would: the
// words on each viewer, the buttons by their visible names, and the strokes
// in the pictures; screenshots in /tmp/classroom_*.png.
//
// Page-side code goes to playwright as strings: Deno type-checks this file
// without DOM types.

import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { createDemo } from "../demo/app.tsx";
import {
  browserMissing,
  launch,
  screenPixels,
  waitForExpression,
} from "./_browser.ts";
import { near, pixelAt, sleep } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping classroom UI tests: ${missing}`);

const shareText = `document.querySelector(".rfb-share-text")?.textContent`;

/** A person: a browser context of their own, on the classroom page. */
async function person(browser: Browser, base: string): Promise<Page> {
  const context = await browser.newContext({
    viewport: { width: 1100, height: 640 },
  });
  const page = await context.newPage();
  await page.goto(`${base}/classroom`);
  return page;
}

async function signIn(page: Page, name: string): Promise<void> {
  await page.getByLabel("Name").fill(name);
  await page.getByLabel("Password").fill("rfb");
  await page.getByRole("button", { name: "Sign in to present" }).click();
  await page.waitForURL(/\/classroom$/);
}

/** Wait until the sharing pill reads `text`. */
async function says(page: Page, text: string): Promise<void> {
  try {
    await waitForExpression(page, `${shareText} === ${JSON.stringify(text)}`, {
      timeout: 10_000,
    });
  } catch (err) {
    const now = await page.evaluate(shareText);
    throw new Error(`pill reads ${JSON.stringify(now)}, not "${text}": ${err}`);
  }
}

/** Drag across the viewer's canvas, from and to fractions of its box. */
async function drag(
  page: Page,
  from: [number, number],
  to: [number, number],
): Promise<void> {
  const box = (await page.locator(".rfb-canvas").boundingBox())!;
  const at = ([fx, fy]: [number, number]) =>
    [box.x + box.width * fx, box.y + box.height * fy] as const;
  await page.mouse.move(...at(from));
  await page.mouse.down();
  for (let i = 1; i <= 10; i++) {
    const f: [number, number] = [
      from[0] + (to[0] - from[0]) * i / 10,
      from[1] + (to[1] - from[1]) * i / 10,
    ];
    await page.mouse.move(...at(f));
    await sleep(20);
  }
  await page.mouse.up();
}

/** The colour on screen at a fraction of the viewer's canvas. */
async function colourAt(page: Page, f: [number, number]): Promise<number[]> {
  const box = (await page.locator(".rfb-canvas").boundingBox())!;
  const shot = await screenPixels(page);
  return pixelAt(
    shot,
    Math.round(box.x + box.width * f[0]),
    Math.round(box.y + box.height * f[1]),
  );
}

/** Wait until the canvas shows ink (the paint scene's blue) at `f`. */
async function inkAt(page: Page, f: [number, number]): Promise<void> {
  const deadline = Date.now() + 10_000;
  let c = await colourAt(page, f);
  while (!(c[2] > 120 && c[0] < 90) && Date.now() < deadline) {
    await sleep(100);
    c = await colourAt(page, f);
  }
  assert.ok(c[2] > 120 && c[0] < 90, `ink at ${f}: ${c}`);
}

Deno.test({
  name:
    "classroom: the presenter draws, the audience watches, a second presenter asks and is handed control",
  ignore: missing !== null,
  fn: async () => {
    const demo = await createDemo({
      width: 320,
      height: 180,
      noGpu: true,
      logger: () => {},
    });
    const http = Deno.serve(
      { port: 0, hostname: "127.0.0.1", onListen() {} },
      demo.fetch,
    );
    const base = `http://127.0.0.1:${http.addr.port}`;
    const board = demo.server.stream("classroom")!;
    // The demo hands control over after 5 s without input; here people
    // take their time (screenshots), so only the buttons hand it over.
    board.configure({ controlIdle: 600 });
    const browser = await launch();
    try {
      const alice = await person(browser, base);
      await signIn(alice, "Alice");
      await says(alice, "You are driving");
      const audience = await person(browser, base);
      await says(audience, "View only · Alice is driving · 1 watching");
      const bob = await person(browser, base);
      await signIn(bob, "Bob");
      await says(bob, "Alice is driving · 2 watching");
      await says(alice, "You are driving · 2 watching");

      // The audience has no control button; Bob has "Request control".
      const buttons = (p: Page, name: string) =>
        p.getByRole("button", { name, exact: true });
      assert.equal(await buttons(audience, "Request control").count(), 0);
      assert.equal(await buttons(bob, "Request control").count(), 1);
      assert.ok(await buttons(bob, "Request control").isVisible());

      // Alice draws across the middle; everyone sees it.
      await drag(alice, [0.3, 0.5], [0.7, 0.5]);
      for (const p of [alice, audience, bob]) await inkAt(p, [0.5, 0.5]);
      // The audience and Bob try to draw: their viewers send nothing.
      await drag(audience, [0.2, 0.2], [0.2, 0.8]);
      await drag(bob, [0.8, 0.2], [0.8, 0.8]);
      await sleep(500);
      for (const f of [[0.2, 0.5], [0.8, 0.5]] as Array<[number, number]>) {
        const c = await colourAt(alice, f);
        assert.ok(near(c, [255, 255, 255], 30), `no ink at ${f}: ${c}`);
      }
      assert.equal(board.stats().inputDropped, 0, "nothing was even sent");
      await audience.screenshot({ path: "/tmp/classroom_1_audience.png" });
      await bob.screenshot({ path: "/tmp/classroom_1_bob.png" });

      // Bob asks; Alice sees it and hands over.
      await buttons(bob, "Request control").click();
      await says(bob, "Alice is driving · Control requested · 2 watching");
      assert.equal(await buttons(bob, "Cancel request").count(), 1);
      await says(alice, "You are driving · Bob asks for control · 2 watching");
      const handOver = buttons(alice, "Hand over");
      assert.equal(await handOver.getAttribute("title"), "Give control to Bob");
      await waitForExpression(
        alice,
        `[...document.querySelectorAll(".roster li")].map((l) => l.textContent).join("|") === "Alice · drawing|Bob · asks to draw"`,
      );
      await alice.screenshot({ path: "/tmp/classroom_2_alice_asked.png" });
      await handOver.click();
      await says(bob, "You are driving · 2 watching");
      await says(alice, "Bob is driving · 2 watching");
      await says(audience, "View only · Bob is driving · 2 watching");
      assert.equal(await buttons(alice, "Request control").count(), 1);
      assert.equal(await buttons(bob, "Release").count(), 1);

      // Now Bob's stroke reaches everyone.
      await drag(bob, [0.85, 0.2], [0.85, 0.8]);
      for (const p of [alice, audience, bob]) await inkAt(p, [0.85, 0.5]);
      await waitForExpression(
        alice,
        `document.querySelector(".roster").textContent.includes("Bob · drawing")`,
      );
      await alice.screenshot({ path: "/tmp/classroom_3_alice.png" });
      await audience.screenshot({ path: "/tmp/classroom_3_audience.png" });
      await bob.screenshot({ path: "/tmp/classroom_3_bob.png" });

      // The audience cannot see the roster; presence() says who is there.
      const api = await audience.evaluate(
        `fetch("/api/classroom").then((r) => r.status)`,
      );
      assert.equal(api, 403);
      assert.deepEqual(
        board.presence().map((v) => [v.name, v.role, v.control]),
        [["Alice", "control", false], [null, "view", false], [
          "Bob",
          "control",
          true,
        ]],
      );
    } finally {
      await browser.close();
      await demo.close();
      await http.shutdown();
    }
  },
});
