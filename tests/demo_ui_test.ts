// The demo looked at as a person, in Chromium (issue 14, items 15-17): on a
// phone (390x844) nothing scrolls sideways and the stream page's toolbar is
// clickable, the stats never over it; with --no-gpu the WebGPU card keeps
// its title and says why it is off; the settings panel follows the viewer's
// transport when the toolbar changes it, the toolbar's buttons are found by
// their visible names, and a restarted demo reads "reconnecting…".
//
// Page-side code goes to playwright as strings: Deno type-checks this file
// without DOM types.

import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { createDemo } from "../demo/app.tsx";
import { browserMissing, launch, waitForExpression } from "./_browser.ts";
import { sleep } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping demo UI tests: ${missing}`);

/** The demo (no WebGPU scene) on `port` (0: any), and a browser. */
async function start(port = 0) {
  const demo = await createDemo({
    width: 320,
    height: 180,
    noGpu: true,
    logger: () => {},
  });
  let http = Deno.serve(
    { port, hostname: "127.0.0.1", onListen() {} },
    demo.fetch,
  );
  let browser: Browser;
  try {
    browser = await launch();
  } catch (err) {
    await demo.close();
    await http.shutdown();
    throw err;
  }
  return {
    demo,
    base: `http://127.0.0.1:${http.addr.port}`,
    browser,
    /** Stop listening (the sockets drop), then listen again on the port. */
    async restart(down: () => Promise<void>): Promise<void> {
      const p = http.addr.port;
      await http.shutdown();
      await down();
      http = Deno.serve(
        { port: p, hostname: "127.0.0.1", onListen() {} },
        demo.fetch,
      );
    },
    async [Symbol.asyncDispose]() {
      await browser.close();
      await demo.close();
      await http.shutdown();
    },
  };
}

/** Wait until `n` viewers on the page read "live". */
async function live(page: Page, n: number): Promise<void> {
  await waitForExpression(
    page,
    `[...document.querySelectorAll(".rfb-pill-text")].filter((e) => e.textContent === "live").length === ${n}`,
    { timeout: 15_000 },
  );
}

/** Whether the page scrolls sideways: [scrollWidth, innerWidth]. */
function widths(page: Page): Promise<[number, number]> {
  return page.evaluate(
    `[document.scrollingElement.scrollWidth, innerWidth]`,
  ) as Promise<[number, number]>;
}

type Box = { x: number; y: number; width: number; height: number };

function overlaps(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width &&
    a.y < b.y + b.height && b.y < a.y + a.height;
}

/** Each toolbar button is the element at its own centre (nothing over it). */
async function buttonsOnTop(page: Page): Promise<void> {
  // (The control button is hidden on a stream that does not hand control over.)
  const hits = await page.evaluate(`[...document.querySelectorAll(
      ".rfb-toolbar button:not([hidden])")].map((b) => {
    const r = b.getBoundingClientRect();
    const top = document.elementFromPoint(r.x + r.width / 2, r.y + r.height / 2);
    return [b.textContent, top === b, r.width > 0 && r.height > 0];
  })`) as Array<[string, boolean, boolean]>;
  assert.equal(hits.length, 5, JSON.stringify(hits));
  for (const [name, onTop, visible] of hits) {
    assert.ok(visible && onTop, `toolbar button ${name}: ${onTop}, ${visible}`);
  }
}

Deno.test({
  name:
    "demo at 390 px: no sideways scroll; the stream page's toolbar is clickable and the stats never cover it",
  ignore: missing !== null,
  fn: async () => {
    await using d = await start();
    const page = await d.browser.newPage({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
    });
    await page.goto(`${d.base}/`);
    await live(page, 3);
    const [scroll, inner] = await widths(page);
    assert.ok(scroll <= inner, `gallery: ${scroll} px wide in ${inner}`);
    await page.screenshot({ path: "/tmp/i14_15_gallery.png", fullPage: true });

    for (const path of ["/streams/main", "/streams/fractal"]) {
      await page.goto(`${d.base}${path}`);
      await live(page, 1);
      const [s, i] = await widths(page);
      assert.ok(s <= i, `${path}: ${s} px wide in ${i}`);
    }
    await page.goto(`${d.base}/streams/main`);
    await live(page, 1);
    await sleep(700); // the HUD's first figures
    // Small viewer: the HUD starts collapsed, the toolbar is on top.
    const stats = page.getByRole("button", { name: "Stats" });
    assert.equal(await stats.getAttribute("aria-pressed"), "false");
    assert.equal(await page.locator(".rfb-hud").isVisible(), false);
    await buttonsOnTop(page);
    // Opened, the HUD stays clear of the top bar, and the buttons still work.
    await stats.click();
    assert.equal(await stats.getAttribute("aria-pressed"), "true");
    await waitForExpression(
      page,
      `/fps/.test(document.querySelector(".rfb-hud").textContent)`,
    );
    const hud = (await page.locator(".rfb-hud").boundingBox())!;
    const bar = (await page.locator(".rfb-top").boundingBox())!;
    const viewer = (await page.locator(".rfb-viewer").boundingBox())!;
    assert.ok(!overlaps(hud, bar), `HUD ${JSON.stringify(hud)} over the bar`);
    assert.ok(
      hud.y + hud.height <= viewer.y + viewer.height,
      "the HUD stays inside the viewer",
    );
    await buttonsOnTop(page);
    const [s, i] = await widths(page);
    assert.ok(s <= i, `stream page with the HUD: ${s} px wide in ${i}`);
    await page.screenshot({ path: "/tmp/i14_15.png" });
    await stats.click();
    assert.equal(await page.locator(".rfb-hud").isVisible(), false);
  },
});

Deno.test({
  name:
    "demo with --no-gpu: the WebGPU card keeps its title and says why it is off",
  ignore: missing !== null,
  fn: async () => {
    await using d = await start();
    assert.match(d.demo.gpuUnavailable!, /--no-gpu/);
    const page = await d.browser.newPage({
      viewport: { width: 1280, height: 900 },
    });
    await page.goto(`${d.base}/`);
    await live(page, 3);
    const heading = page.getByRole("heading", { name: "WebGPU shader" });
    assert.equal(await heading.count(), 1);
    assert.ok(await heading.isVisible());
    const card = page.locator("article.card", { has: heading });
    const note = card.getByRole("note");
    assert.equal(
      (await note.innerText()).replace(/\s+/g, " ").trim(),
      "This scene is off Off because the demo was started with --no-gpu.",
    );
    // Nothing of the card is cut off: the title and blurb lie inside it.
    const box = (await card.boundingBox())!;
    for (const part of [heading, card.locator(".card-body p")]) {
      const b = (await part.boundingBox())!;
      assert.ok(
        b.y >= box.y && b.y + b.height <= box.y + box.height,
        `${await part.innerText()} inside the card`,
      );
    }
    // Its neighbour in the row is a live stream of the same height.
    const main = (await page.locator("article.card").first().boundingBox())!;
    assert.equal(Math.round(main.height), Math.round(box.height));
    await page.screenshot({
      path: "/tmp/i14_16.png",
      clip: { x: 0, y: 0, width: 1280, height: box.y + box.height + 24 },
    });
  },
});

Deno.test({
  name:
    "demo stream page: the panel follows the toolbar's transport, buttons go by their visible names, a restart reads reconnecting…",
  ignore: missing !== null,
  fn: async () => {
    // A fixed port, so the demo can come back on it.
    let env;
    for (let tries = 0; !env; tries++) {
      try {
        env = await start(20000 + Math.floor(Math.random() * 10000));
      } catch (err) {
        if (!(err instanceof Deno.errors.AddrInUse) || tries > 20) throw err;
      }
    }
    await using d = env;
    const page = await d.browser.newPage({
      viewport: { width: 1280, height: 900 },
    });
    await page.goto(`${d.base}/streams/main`);
    await live(page, 1);
    const select = page.locator("select[name=transport]");
    const inUse = page.locator("output[name=transport-in-use]");
    const button = page.locator(".rfb-toolbar button").nth(1);
    for (const name of ["Stats", "Screenshot", "Fullscreen"]) {
      assert.equal(
        await page.getByRole("button", { name, exact: true }).count(),
        1,
        name,
      );
    }
    assert.equal(await select.inputValue(), "auto");
    const first = (await button.textContent())!;
    assert.ok(["Image", "H.264"].includes(first), first);
    assert.ok((await inUse.textContent())!.startsWith(first));
    assert.equal(
      await page.getByRole("button", { name: first, exact: true }).count(),
      1,
    );

    // The toolbar's transport button, twice: the panel follows each time.
    const flip = { "Image": "H.264", "H.264": "Image" } as Record<
      string,
      string
    >;
    const value = { "Image": "image", "H.264": "webcodecs" } as Record<
      string,
      string
    >;
    // A Chromium without H.264 in WebCodecs stays on images whatever it
    // asks: then only the request changes.
    const h264 = await page.evaluate(`VideoDecoder.isConfigSupported({
      codec: "avc1.42C01F" }).then((r) => r.supported, () => false)`);
    if (h264) {
      let now = first;
      for (let i = 0; i < 2; i++) {
        await page.getByRole("button", { name: now, exact: true }).click();
        now = flip[now];
        await waitForExpression(
          page,
          `document.querySelector("output[name=transport-in-use]").textContent.startsWith(${
            JSON.stringify(now)
          })`,
          { timeout: 10_000 },
        );
        assert.equal(
          await select.inputValue(),
          value[now],
          `panel after ${i}`,
        );
        assert.equal(await button.textContent(), now);
        if (i === 0) await page.screenshot({ path: "/tmp/i14_17.png" });
      }
    } else {
      assert.equal(first, "Image");
      await page.getByRole("button", { name: "Image", exact: true }).click();
      await waitForExpression(
        page,
        `document.querySelector("select[name=transport]").value === "webcodecs"`,
      );
      assert.match((await inUse.textContent())!, /^Image/);
      await page.screenshot({ path: "/tmp/i14_17.png" });
    }
    // The panel's own choice reaches the toolbar too.
    await select.selectOption("image");
    await waitForExpression(
      page,
      `document.querySelectorAll(".rfb-toolbar button")[1].textContent === "Image"`,
    );
    await waitForExpression(
      page,
      `document.querySelector("output[name=transport-in-use]").textContent === "Image · JPEG"`,
    );
    await select.selectOption("auto");
    await live(page, 1);
    assert.equal(await select.inputValue(), "auto");

    // The demo restarts: the pill says so, the code is in its title.
    await d.restart(async () => {
      await waitForExpression(
        page,
        `document.querySelector(".rfb-pill-text").textContent === "reconnecting…"`,
      );
      await sleep(1500); // retries refused while it is down
      assert.equal(
        await page.evaluate(
          `document.querySelector(".rfb-pill-text").textContent`,
        ),
        "reconnecting…",
      );
      assert.match(
        (await page.locator(".rfb-pill").getAttribute("title"))!,
        /\(1006\)/,
      );
      assert.equal(await inUse.textContent(), "not connected");
      await page.screenshot({ path: "/tmp/i14_17_reconnecting.png" });
    });
    await live(page, 1);
  },
});
