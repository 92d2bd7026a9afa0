// `<rfb-view>` as a new user writes it (issue 14, item 1): the README's own
// snippet, in HTML, on a page served from another local port than the
// stream's. The element must make exactly one view however it is created
// (parsed and upgraded, createElement, innerHTML, moved), and close its
// socket when it leaves the page.
//
// Page-side code goes to playwright as strings: Deno type-checks this file
// without DOM types.

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { type Display, serve } from "../mod.ts";
import { browserMissing, launch, waitForExpression } from "./_browser.ts";
import { quadrants, sleep, until } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping <rfb-view> tests: ${missing}`);

/** The README's snippet, with the stream's host. */
function readmePage(host: string): string {
  return `<!doctype html>
<html><head><meta charset="utf-8"><title>my page</title>
<style>body{margin:0;background:#222}#spare{width:400px;height:240px}</style>
</head><body>
<script type="module" src="http://${host}/rfb-client.js"></script>
<rfb-view src="ws://${host}/" hud style="height:480px"></rfb-view>
<div id="spare"></div>
</body></html>`;
}

/** The stream on its own listener, and another listener serving the page. */
async function setup() {
  const display = await serve(320, 180, {
    port: 0,
    stillAfter: false,
    logger: () => {},
  });
  display.publish(quadrants(320, 180));
  const host = `127.0.0.1:${display.port}`;
  const site = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    () =>
      new Response(readmePage(host), {
        headers: { "content-type": "text/html; charset=utf-8" },
      }),
  );
  const browser = await launch();
  return {
    display,
    host,
    page: `http://127.0.0.1:${site.addr.port}/`,
    browser,
    async [Symbol.asyncDispose]() {
      await browser.close();
      await display.close();
      await site.shutdown();
    },
  };
}

/** Canvases, viewers' roots and workers on the page. */
async function count(page: Page): Promise<[number, number, number]> {
  const [canvases, roots] = await page.evaluate(
    `[document.querySelectorAll("canvas").length, document.querySelectorAll(".rfb-viewer").length]`,
  ) as [number, number];
  return [canvases, roots, page.workers().length];
}

/** Exactly `n` views on the page and `n` viewers on the server, for a while. */
async function exactly(page: Page, display: Display, n: number, what: string) {
  await until(() => display.viewers === n, 5000, `${what}: ${n} viewer(s)`);
  await sleep(700); // a second view would have connected by now
  assert.equal(display.viewers, n, `${what}: viewers on the server`);
  assert.deepEqual(
    await count(page),
    [n, n, n],
    `${what}: canvases, roots, workers`,
  );
}

Deno.test({
  name:
    "<rfb-view> from the README's HTML snippet on another port: one view, one viewer, none after remove()",
  ignore: missing !== null,
  fn: async () => {
    await using env = await setup();
    const page = await env.browser.newPage({
      viewport: { width: 800, height: 600 },
    });
    await page.goto(env.page);
    await waitForExpression(
      page,
      `document.querySelector("rfb-view")?.view?.status === "negotiated"`,
    );
    await waitForExpression(
      page,
      `(document.querySelector("rfb-view").view.stats?.frames ?? 0) > 0`,
    );
    await exactly(page, env.display, 1, "parsed from HTML");
    await sleep(600); // a HUD update with frames in it
    await page.screenshot({ path: "/tmp/i14_1.png" });

    await page.evaluate(`document.querySelector("rfb-view").remove()`);
    await until(() => env.display.viewers === 0, 5000, "no viewer left");
    await until(() => page.workers().length === 0, 5000, "no worker left");
    assert.deepEqual(await count(page), [0, 0, 0]);
    await sleep(700); // and nothing reconnects behind our back
    assert.equal(env.display.viewers, 0);
  },
});

Deno.test({
  name:
    "<rfb-view>: createElement, innerHTML and moving keep one view; src changes apply only while connected",
  ignore: missing !== null,
  fn: async () => {
    await using env = await setup();
    const page = await env.browser.newPage({
      viewport: { width: 800, height: 600 },
    });
    await page.goto(env.page);
    await waitForExpression(
      page,
      `customElements.get("rfb-view") !== undefined`,
    );
    await exactly(page, env.display, 1, "parsed from HTML");
    await page.evaluate(`document.querySelector("rfb-view").remove()`);
    await exactly(page, env.display, 0, "removed");

    // innerHTML (created and upgraded at once, already defined).
    await page.evaluate(
      `document.getElementById("spare").innerHTML = '<rfb-view src="ws://${env.host}/" style="height:200px"></rfb-view>'`,
    );
    await exactly(page, env.display, 1, "innerHTML");
    // Moved to another parent: disconnected, then connected again.
    await page.evaluate(
      `document.body.prepend(document.querySelector("#spare rfb-view"))`,
    );
    await exactly(page, env.display, 1, "moved");
    await page.evaluate(`document.querySelector("rfb-view").remove()`);
    await exactly(page, env.display, 0, "removed again");

    // createElement, with src set before and after it is in the page.
    await page.evaluate(`{
      const el = document.createElement("rfb-view");
      el.setAttribute("src", "ws://${env.host}/nowhere");
      el.style.height = "200px";
      globalThis.made = el;
    }`);
    await sleep(300);
    assert.equal(env.display.viewers, 0, "not in the page: no view");
    assert.deepEqual(await count(page), [0, 0, 0]);
    // A changed src while out of the page does nothing until it is added.
    await page.evaluate(`made.setAttribute("src", "ws://${env.host}/")`);
    await sleep(300);
    assert.equal(await page.evaluate(`made.view`), null);
    await page.evaluate(`document.body.appendChild(made)`);
    await exactly(page, env.display, 1, "createElement");
    // A changed src while connected rebuilds: the old view goes (an unknown
    // stream: refused, 4404, never retried), then back to one.
    await page.evaluate(`globalThis.first = made.view`);
    await page.evaluate(`made.setAttribute("src", "ws://${env.host}/nowhere")`);
    await until(() => env.display.viewers === 0, 5000, "the old view closed");
    await waitForExpression(page, `made.view.status === "closed"`);
    assert.deepEqual(await count(page), [1, 1, 1], "one view, refused");
    await page.evaluate(`made.setAttribute("src", "ws://${env.host}/")`);
    await exactly(page, env.display, 1, "src changed back");
    assert.equal(await page.evaluate(`made.view !== first`), true);
    await page.evaluate(`made.remove()`);
    await exactly(page, env.display, 0, "createElement removed");
  },
});
