// The H.264 path end to end in real Chromium: serve()'s own page (the
// batteries viewer, `globalThis.rfb`) decodes the stream with WebCodecs and
// its pixels are read back from the screen. Resizes, a forced drop (the
// page's worker is blocked while the shared stream moves on), a late-joining
// page and the toolbar's transport switch.
//
// Page-side code goes to playwright as strings: Deno type-checks this file
// without DOM types.

import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { type Display, serve } from "../mod.ts";
import { probeH264 } from "../src/encoders/h264.ts";
import {
  browserMissing,
  launch,
  screenPixels,
  waitForExpression,
} from "./_browser.ts";
import { maxDiff, pattern, patternPoints, rgbAt } from "./_h264.ts";
import { sleep, TestViewer, until } from "./_viewer.ts";

const missing = browserMissing();
const probe = await probeH264();
const skip = missing ?? (probe.ok ? null : probe.reason);
if (skip) console.warn(`skipping H.264 browser tests: ${skip}`);
const ignore = skip !== null;

// The frame (320x180) fills the 640x360 window at 2x.
const W = 320, H = 180, VW = 640, VH = 360;
const TOL = 30; // H.264 is lossy; the flat areas are checked

/** A display on its own listener with a browser; `close()` tears all down. */
async function setup(
  options: Parameters<typeof serve>[2] = {},
): Promise<{ display: Display; browser: Browser; close(): Promise<void> }> {
  const display = await serve(W, H, {
    port: 0,
    fps: 30,
    logger: () => {},
    ...options,
  });
  let browser: Browser;
  try {
    browser = await launch();
  } catch (err) {
    await display.close();
    throw err;
  }
  return {
    display,
    browser,
    async close() {
      await browser.close();
      await display.close();
      // Display.close() does not wait for an H.264 encoder that is still
      // opening or encoding (the still's, say); a module that ends with one
      // in flight can crash the test process. Let it finish.
      await sleep(150);
    },
  };
}

/** Publish `pattern(n)` (top/bottom swapped when `swap()` says) until stopped. */
function keepPublishing(
  display: Display,
  swap: () => boolean = () => false,
  fps = 30,
): { stop(): void; readonly count: number } {
  let n = 0;
  const timer = setInterval(() => {
    if (display.closed) return;
    display.publish(pattern(display.width, display.height, n++, swap()));
  }, 1000 / fps);
  return {
    stop: () => clearInterval(timer),
    get count() {
      return n;
    },
  };
}

/** Open serve()'s page and wait until the view shows frames. */
async function openViewer(browser: Browser, url: string): Promise<Page> {
  const page = await browser.newPage({ viewport: { width: VW, height: VH } });
  await page.goto(url);
  await waitForExpression(page, `globalThis.rfb?.view.status === "negotiated"`);
  await waitForExpression(
    page,
    `(globalThis.rfb?.view.stats?.frames ?? 0) > 0`,
  );
  return page;
}

function transportOf(page: Page): Promise<unknown> {
  return page.evaluate(`globalThis.rfb.view.config?.transport`);
}

function framesOf(page: Page): Promise<number> {
  return page.evaluate(`globalThis.rfb.view.stats?.frames ?? 0`) as Promise<
    number
  >;
}

/**
 * Screenshot until the flat areas of `pattern` show: the frame of
 * `fw`x`fh` is fitted (contain) into the window.
 */
async function waitForPattern(
  page: Page,
  fw: number,
  fh: number,
  what: string,
  swap = false,
  timeoutMs = 5000,
): Promise<void> {
  const scale = Math.min(VW / fw, VH / fh);
  const ox = (VW - fw * scale) / 2, oy = (VH - fh * scale) / 2;
  const points = patternPoints(fw, fh, swap).map(([x, y, rgb]) =>
    [
      Math.round(ox + (x + 0.5) * scale),
      Math.round(oy + (y + 0.5) * scale),
      rgb,
    ] as const
  );
  const deadline = Date.now() + timeoutMs;
  let report = "";
  while (true) {
    const shot = await screenPixels(page);
    const bad = points.filter(([x, y, rgb]) =>
      maxDiff(rgbAt(shot, x, y), rgb) > TOL
    );
    if (bad.length === 0) return;
    report = bad.map(([x, y, rgb]) =>
      `(${x}, ${y}) ${rgbAt(shot, x, y)} want ${rgb}`
    ).join("; ");
    if (Date.now() > deadline) assert.fail(`${what}: ${report}`);
    await sleep(50);
  }
}

Deno.test({
  name:
    "frame events: publish ≤ received ≤ decoded ≤ displayed, on both transports",
  ignore,
  fn: async () => {
    const env = await setup({ stillAfter: false });
    const pub = keepPublishing(env.display);
    try {
      for (const transport of ["webcodecs", "image"] as const) {
        const page = await openViewer(
          env.browser,
          `${env.display.url}?transport=${transport}`,
        );
        assert.equal(await transportOf(page), transport);
        await page.evaluate(`(() => {
          globalThis.__frames = [];
          globalThis.rfb.view.addEventListener("frame", (e) => __frames.push(e.detail));
        })()`);
        await waitForExpression(page, `globalThis.__frames.length >= 10`);
        const frames = await page.evaluate(`globalThis.__frames`) as Array<{
          seq: number;
          timestampUs: number;
          receivedAt: number;
          decodedAt: number;
          displayedAt: number;
          latencyMs: number | null;
        }>;
        const margin = 5; // ms: the page's clock against the server's (same host)
        for (const f of frames) {
          const what = `${transport} frame ${f.seq}: ${JSON.stringify(f)}`;
          assert.ok(f.timestampUs / 1000 <= f.receivedAt + margin, what);
          assert.ok(f.receivedAt <= f.decodedAt, what);
          assert.ok(f.decodedAt <= f.displayedAt, what);
          assert.ok(f.displayedAt - f.receivedAt < 1000, what);
          if (f.latencyMs !== null) {
            assert.ok(
              Math.abs(f.latencyMs - (f.displayedAt - f.timestampUs / 1000)) <
                0.01,
              what,
            );
          }
        }
        assert.ok(frames.some((f) => f.latencyMs !== null));
        await page.close();
      }
    } finally {
      pub.stop();
      await env.close();
    }
  },
});

Deno.test({
  name:
    "video path: the page decodes H.264 and shows the pattern, the still too, and survives a resize",
  ignore,
  fn: async () => {
    const env = await setup({ stillAfter: 0.3 });
    try {
      env.display.publish(pattern(W, H, 0));
      const page = await openViewer(env.browser, env.display.url!);
      assert.equal(await transportOf(page), "webcodecs");
      assert.match(
        String(await page.evaluate(`globalThis.rfb.view.config.codec`)),
        /^avc1\.42[0-9A-F]{4}$/,
      );
      await waitForPattern(page, W, H, "live picture");
      // The resting frame comes again as a clean IDR, and is shown: one
      // live chunk and the still were sent, both are displayed.
      await until(
        () => env.display.stats().viewerStats[0]?.framesSent >= 2,
        3000,
        "the still to be sent",
      );
      assert.equal(env.display.stats().viewerStats[0].framesSent, 2);
      await waitForExpression(
        page,
        `(globalThis.rfb.view.stats?.frames ?? 0) >= 2`,
        { timeout: 5000 },
      ).catch(async (err) => {
        const stats = await page.evaluate(`globalThis.rfb.view.stats`);
        throw new Error(
          `the still was not shown: page ${JSON.stringify(stats)}, server ${
            JSON.stringify(env.display.stats().viewerStats[0])
          }: ${err}`,
        );
      });
      await waitForPattern(page, W, H, "still picture");

      // A new size: a new config, then a keyframe of that size.
      env.display.resize(240, 240);
      env.display.publish(pattern(240, 240, 0, true));
      await waitForExpression(
        page,
        `globalThis.rfb.view.config?.width === 240 && globalThis.rfb.view.config?.height === 240`,
      );
      assert.equal(await transportOf(page), "webcodecs");
      await waitForPattern(page, 240, 240, "after resize", true);
      // And frames keep coming at that size.
      env.display.publish(pattern(240, 240, 1));
      await waitForPattern(page, 240, 240, "next frame after resize");
      await page.close();
    } finally {
      await env.close();
    }
  },
});

Deno.test({
  name:
    "forced drop: a page whose worker stalls misses chunks, then resumes on a keyframe with the right picture",
  ignore,
  fn: async () => {
    // The drop needs the shared stream to move on while the page cannot
    // ack: a protocol viewer keeps the group encoding, and the page's worker
    // (which owns the socket and the decoder) is blocked with a busy loop.
    const env = await setup({ stillAfter: false, inflightTimeout: 60 });
    let swapped = false;
    const pub = keepPublishing(env.display, () => swapped);
    let other: TestViewer | null = null;
    try {
      const page = await openViewer(env.browser, env.display.url!);
      assert.equal(await transportOf(page), "webcodecs");
      await waitForPattern(page, W, H, "before the stall");
      other = await TestViewer.open(`ws://127.0.0.1:${env.display.port}/`, {
        hello: { supported: ["webcodecs/h264-annexb"] },
      });
      await until(() => other!.frames.length > 3, 3000, "the other viewer");
      const pageStats = () => env.display.stats().viewerStats[0];
      const droppedBefore = pageStats().dropped;
      const workers = page.workers();
      assert.equal(workers.length, 1, "one view worker");
      const otherBefore = other.frames.length;
      await workers[0].evaluate(`(() => {
        const end = performance.now() + 800;
        while (performance.now() < end) {}
        return true;
      })()`);
      assert.ok(
        other.frames.length - otherBefore >= 15,
        `the stream moved on: ${other.frames.length - otherBefore} chunks`,
      );
      swapped = true; // a new picture: shown only if the page recovered
      await waitForPattern(page, W, H, "after the stall", true);
      assert.ok(
        pageStats().dropped > droppedBefore,
        `the server dropped chunks for the page (${pageStats().dropped})`,
      );
      // It keeps going: frames are shown, the decoder did not fail.
      const f0 = await framesOf(page);
      await sleep(1000);
      const f1 = await framesOf(page);
      assert.ok(f1 - f0 >= 10, `page showed ${f1 - f0} frames in 1 s`);
      assert.equal(await transportOf(page), "webcodecs");
      assert.equal(
        await page.evaluate(`globalThis.rfb.view.status`),
        "negotiated",
      );
      await page.close();
    } finally {
      pub.stop();
      await other?.close();
      await env.close();
    }
  },
});

Deno.test({
  name:
    "a late page joins while another watches: both show the pattern, one encode per frame",
  ignore,
  fn: async () => {
    // One quality step for both (adaptation, on by default, could move a
    // page to a lower step on a busy machine: another stream, by design).
    const env = await setup({ stillAfter: false, adaptive: false });
    const pub = keepPublishing(env.display);
    try {
      const first = await openViewer(env.browser, env.display.url!);
      await waitForPattern(first, W, H, "first page");
      const published0 = pub.count, encodes0 = env.display.stats().encodes;
      const second = await openViewer(env.browser, env.display.url!);
      assert.equal(await transportOf(second), "webcodecs");
      await waitForPattern(second, W, H, "late page");
      await waitForPattern(first, W, H, "first page, after the join");
      await sleep(500);
      const published = pub.count - published0;
      const encodes = env.display.stats().encodes - encodes0;
      assert.ok(
        encodes <= published + 4,
        `${encodes} encodes for ${published} frames and 2 pages`,
      );
      // The first page kept its frame rate through the join.
      const f0 = await framesOf(first);
      await sleep(1000);
      const f1 = await framesOf(first);
      assert.ok(f1 - f0 >= 10, `first page showed ${f1 - f0} frames in 1 s`);
      await Promise.all([first.close(), second.close()]);
    } finally {
      pub.stop();
      await env.close();
    }
  },
});

Deno.test({
  name:
    "the toolbar's transport button switches to images and back to H.264, the picture stays live",
  ignore,
  fn: async () => {
    const env = await setup({ stillAfter: false });
    let swapped = false;
    const pub = keepPublishing(env.display, () => swapped);
    try {
      const page = await openViewer(env.browser, env.display.url!);
      assert.equal(await transportOf(page), "webcodecs");
      await waitForPattern(page, W, H, "on H.264");
      const button = page.locator(`button[title*="transport" i]`);
      assert.equal(await button.count(), 1);
      assert.equal(await button.textContent(), "H.264");

      await button.click();
      await waitForExpression(
        page,
        `globalThis.rfb.view.config?.transport === "image"`,
      );
      swapped = true; // only frames sent on the new transport show this
      await waitForPattern(page, W, H, "on images", true);
      assert.equal(await button.textContent(), "Image"); // the format (JPEG) is in its title
      assert.equal(env.display.stats().viewerStats[0].transport, "image");

      await button.click();
      await waitForExpression(
        page,
        `globalThis.rfb.view.config?.transport === "webcodecs"`,
      );
      swapped = false;
      await waitForPattern(page, W, H, "back on H.264");
      assert.equal(await button.textContent(), "H.264");
      assert.equal(env.display.stats().viewerStats[0].transport, "webcodecs");
      const f0 = await framesOf(page);
      await sleep(1000);
      const f1 = await framesOf(page);
      assert.ok(f1 - f0 >= 10, `${f1 - f0} frames in 1 s on H.264`);
      await page.close();
    } finally {
      pub.stop();
      await env.close();
    }
  },
});
