// The batteries viewer as a person reads it, in Chromium (issue 14, items 8
// and 17): the HUD on a resting stream, a server whose stamps are not on the
// page's clock (pdum.rfb stamps frames with time since its start), the
// toolbar's accessible names and transport label, and the status pill while
// the view reconnects.
//
// Page-side code goes to playwright as strings: Deno type-checks this file
// without DOM types.

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import sharp from "sharp";
import { serve } from "../mod.ts";
import {
  configMessage,
  imageFrameHeader,
  packEnvelope,
} from "../src/protocol.ts";
import { CLIENT_BUNDLE } from "../src/_client_bundle.ts";
import { browserMissing, launch, waitForExpression } from "./_browser.ts";
import { quadrants, sleep } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping viewer UI tests: ${missing}`);

const W = 64, H = 48;

/** Our page: an `RfbViewer` with the HUD, recording frames and statuses. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>viewer</title>
<style>body{margin:0;background:#333}#v{width:640px;height:360px}</style>
</head><body><div id="v"></div>
<script type="module">
import { RfbViewer } from "/rfb-client.js";
const q = new URLSearchParams(location.search);
globalThis.frameLatencies = [];
globalThis.statuses = [];
globalThis.rfb = new RfbViewer(document.getElementById("v"), {
  url: "/", hud: true, transport: q.get("transport") ?? "auto",
});
rfb.view.addEventListener("frame", (e) => frameLatencies.push(e.detail.latencyMs));
rfb.view.addEventListener("status", (e) => statuses.push(e.detail));
</script></body></html>`;

/**
 * A stand-in server speaking the protocol: it answers every `hello` with an
 * image `config` (once `release()` was called) and sends a JPEG every 50 ms
 * stamped with microseconds since it started, as pdum.rfb does. `down`
 * refuses new sockets (503); `drop()` closes the open ones (1012).
 */
async function fakeServer() {
  const jpeg = new Uint8Array(
    await sharp({
      create: { width: W, height: H, channels: 3, background: "#c83" },
    }).jpeg().toBuffer(),
  );
  const start = performance.now();
  const sockets = new Set<WebSocket>();
  let released!: () => void;
  const ready = new Promise<void>((r) => released = r);
  const state = { down: false, texts: [] as string[] };
  let seq = 0;
  const timer = setInterval(() => {
    for (const ws of sockets) {
      if (
        ws.readyState !== WebSocket.OPEN || !(ws as { live?: boolean }).live
      ) {
        continue;
      }
      const header = imageFrameHeader({
        seq: ++seq,
        timestampUs: Math.round((performance.now() - start) * 1000),
        width: W,
        height: H,
        mime: "image/jpeg",
      });
      ws.send(packEnvelope(header, jpeg));
    }
  }, 50);
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    (request) => {
      const path = new URL(request.url).pathname;
      if (path === "/page.html") {
        return new Response(PAGE, {
          headers: { "content-type": "text/html; charset=utf-8" },
        });
      }
      if (path === "/rfb-client.js") {
        return new Response(CLIENT_BUNDLE, {
          headers: { "content-type": "text/javascript" },
        });
      }
      if (state.down || request.headers.get("upgrade") !== "websocket") {
        return new Response("down", { status: 503 });
      }
      const { socket, response } = Deno.upgradeWebSocket(request);
      sockets.add(socket);
      socket.onclose = () => sockets.delete(socket);
      socket.onmessage = async (e) => {
        if (typeof e.data === "string") state.texts.push(e.data);
        if (typeof e.data !== "string" || !e.data.includes('"hello"')) return;
        await ready;
        socket.send(configMessage({
          type: "config",
          transport: "image",
          width: W,
          height: H,
          coords: "frame-pixels",
          mime: "image/jpeg",
        }));
        (socket as { live?: boolean }).live = true;
      };
      return response;
    },
  );
  return {
    base: `http://127.0.0.1:${server.addr.port}`,
    state,
    release: () => released(),
    drop() {
      for (const ws of sockets) ws.close(1012, "restarting");
    },
    async [Symbol.asyncDispose]() {
      clearInterval(timer);
      for (const ws of sockets) ws.close();
      await server.shutdown();
    },
  };
}

/** The HUD's lines as `{ name: value }`. */
async function hud(page: Page): Promise<Record<string, string>> {
  const text = await page.evaluate(
    `document.querySelector(".rfb-hud").textContent`,
  ) as string;
  return Object.fromEntries(
    text.split("\n").map((l) => {
      const m = l.match(/^(\S+(?: \S+)?)\s{2,}(.*)$/);
      return m ? [m[1], m[2]] : [l, ""];
    }),
  );
}

const pillText = `document.querySelector(".rfb-pill-text").textContent`;

Deno.test({
  name:
    "HUD: a resting stream reads — for fps, latency and bitrate, then figures while it moves",
  ignore: missing !== null,
  fn: async () => {
    const display = await serve(W * 4, H * 4, { port: 0, logger: () => {} });
    const browser = await launch();
    try {
      display.publish(quadrants(W * 4, H * 4));
      const page = await browser.newPage({
        viewport: { width: 800, height: 500 },
      });
      // The library's own viewer page, with the HUD, as the README says.
      await page.goto(`http://127.0.0.1:${display.port}/?hud`);
      await waitForExpression(page, `globalThis.rfb?.view.stats?.frames > 0`);
      await sleep(1700); // more than a second of rest
      let h = await hud(page);
      assert.deepEqual(
        [h.fps, h.latency, h.bitrate],
        ["—", "—", "—"],
        JSON.stringify(h),
      );
      assert.equal(await page.evaluate(`rfb.view.stats.latencyMs`), null);
      assert.equal(await page.evaluate(`rfb.view.stats.fps`), 0);
      assert.equal(
        await page.evaluate(`document.querySelector(".rfb-badge").hidden`),
        true,
        "no latency badge with nothing measured",
      );
      await page.screenshot({ path: "/tmp/i14_8_resting.png" });

      // It moves: real figures.
      let n = 0;
      const timer = setInterval(() => {
        const f = quadrants(W * 4, H * 4);
        f.fill(n++ % 200, 0, 4000);
        display.publish(f);
      }, 40);
      try {
        await waitForExpression(
          page,
          `/^\\d+(\\.\\d)? ms$/.test(document.querySelector(".rfb-hud").textContent.match(/latency\\s+(.*)/)[1])`,
          { timeout: 10_000 },
        );
        h = await hud(page);
        assert.match(h.fps, /^[1-9]\d*$/);
        assert.match(h.bitrate, /^\d+(\.\d)? (k|M)bit\/s$/);
      } finally {
        clearInterval(timer);
      }
      // And rests again.
      await waitForExpression(
        page,
        `/latency\\s+—/.test(document.querySelector(".rfb-hud").textContent)`,
        { timeout: 5000 },
      );
    } finally {
      await browser.close();
      await display.close();
    }
  },
});

Deno.test({
  name:
    "latency: a server stamping time since its start (pdum.rfb) shows no latency, not 1.8e12 ms",
  ignore: missing !== null,
  fn: async () => {
    await using server = await fakeServer();
    server.release();
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 800, height: 500 },
      });
      await page.goto(`${server.base}/page.html`);
      await waitForExpression(page, `frameLatencies.length > 20`);
      await sleep(600);
      const latencies = await page.evaluate(`frameLatencies`) as unknown[];
      assert.ok(latencies.every((l) => l === null), JSON.stringify(latencies));
      assert.equal(await page.evaluate(`rfb.view.stats.latencyMs`), null);
      const h = await hud(page);
      assert.equal(h.latency, "—", JSON.stringify(h));
      assert.match(h.fps, /^[1-9]\d*$/, "frames still count");
      assert.equal(
        await page.evaluate(`document.querySelector(".rfb-badge").hidden`),
        true,
      );
      await page.screenshot({ path: "/tmp/i14_8_pdum.png" });
      // A server that sends no presence or control (pdum.rfb's): no sharing
      // pill, no control button, and input goes out as before.
      assert.equal(
        await page.evaluate(`document.querySelector(".rfb-share").hidden`),
        true,
      );
      assert.equal(
        await page.getByRole("button", { name: /control|Hand over|Release/ })
          .count(),
        0,
      );
      assert.equal(await page.evaluate(`rfb.view.control`), null);
      await page.mouse.click(400, 250);
      const deadline = Date.now() + 3000;
      while (
        !server.state.texts.some((t) => t.includes('"pointer_down"')) &&
        Date.now() < deadline
      ) await sleep(50);
      assert.ok(
        server.state.texts.some((t) => t.includes('"pointer_down"')),
        "the click reached the server",
      );
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name:
    "toolbar: buttons are found by their visible names; the transport keeps one name before and after connecting",
  ignore: missing !== null,
  fn: async () => {
    await using server = await fakeServer();
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 800, height: 500 },
      });
      await page.goto(`${server.base}/page.html?transport=image`);
      await waitForExpression(
        page,
        `statuses.some((s) => s.status === "open")`,
      );
      // Connected, no config yet: the transport asked for.
      const transport = page.locator(".rfb-toolbar button").nth(1);
      assert.equal(await transport.textContent(), "Image");
      for (const name of ["Stats", "Image", "Screenshot", "Fullscreen"]) {
        assert.equal(
          await page.getByRole("button", { name, exact: true }).count(),
          1,
          `a button named ${name}`,
        );
      }
      server.release();
      await waitForExpression(page, `rfb.view.status === "negotiated"`);
      await sleep(100);
      // Negotiated: the same name; the format is in the title.
      assert.equal(await transport.textContent(), "Image");
      assert.match((await transport.getAttribute("title"))!, /Image \(JPEG\)/);
      assert.equal(
        await page.getByRole("button", { name: "Image", exact: true }).count(),
        1,
      );
      // The screenshot button by its visible name downloads the frame.
      const [download] = await Promise.all([
        page.waitForEvent("download"),
        page.getByRole("button", { name: "Screenshot" }).click(),
      ]);
      assert.match(download.suggestedFilename(), /\.png$/);
      await download.delete();
      // Stats toggles the HUD and says so.
      const stats = page.getByRole("button", { name: "Stats" });
      assert.equal(await stats.getAttribute("aria-pressed"), "true");
      await stats.click();
      assert.equal(await stats.getAttribute("aria-pressed"), "false");
      assert.equal(
        await page.evaluate(`document.querySelector(".rfb-hud").hidden`),
        true,
      );
    } finally {
      await browser.close();
    }
  },
});

Deno.test({
  name:
    "pill: a dropped connection reads reconnecting… (the code in its title) until it is live again",
  ignore: missing !== null,
  fn: async () => {
    await using server = await fakeServer();
    server.release();
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 800, height: 500 },
      });
      await page.goto(`${server.base}/page.html`);
      await waitForExpression(page, `rfb.view.status === "negotiated"`);
      assert.equal(await page.evaluate(pillText), "live");
      // The server goes away and refuses the retries for a while.
      server.state.down = true;
      server.drop();
      await waitForExpression(
        page,
        `statuses.filter((s) => s.status === "closed" && s.code === 1006).length >= 2`,
        { timeout: 10_000 },
      );
      const seen = new Set<string>();
      for (let i = 0; i < 10; i++) {
        seen.add(await page.evaluate(pillText) as string);
        await sleep(50);
      }
      assert.deepEqual([...seen], ["reconnecting…"]);
      assert.match(
        await page.evaluate(
          `document.querySelector(".rfb-pill").title`,
        ) as string,
        /1006/,
      );
      const closes = await page.evaluate(
        `statuses.filter((s) => s.status === "closed")`,
      ) as Array<{ code: number; retryMs?: number }>;
      assert.equal(closes[0].code, 1012);
      assert.ok(closes.every((c) => typeof c.retryMs === "number"));
      await page.screenshot({ path: "/tmp/i14_17_reconnecting.png" });
      // Back: live, and the title is cleared.
      server.state.down = false;
      await waitForExpression(page, `rfb.view.status === "negotiated"`, {
        timeout: 10_000,
      });
      assert.equal(await page.evaluate(pillText), "live");
      assert.equal(
        await page.evaluate(`document.querySelector(".rfb-pill").title`),
        "",
      );
    } finally {
      await browser.close();
    }
  },
});
