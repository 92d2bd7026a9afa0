// Recording in Chromium: the viewer's Record button, on H.264 (the chunks
// the worker receives, muxed as they are) and on images (what it draws,
// encoded with WebCodecs' VideoEncoder), downloads an MP4 named after the
// stream and the time that ffprobe reads; view.record() / stop() hands the
// same kind of file to a script.

import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import { serve, silentLogger } from "../mod.ts";
import { probeH264 } from "../src/encoders/h264.ts";
import { browserMissing, launch, waitForExpression } from "./_browser.ts";
import { mediaMissing, probe } from "./_media.ts";
import { sleep } from "./_viewer.ts";

const missing = browserMissing() ?? mediaMissing() ??
  ((await probeH264()).ok ? null : "libx264 is not available");
if (missing) console.warn(`skipping the browser recording tests: ${missing}`);

const W = 320, H = 240;

function scene(t: number): Uint8Array {
  const rgba = new Uint8Array(W * H * 4);
  for (let i = 0, p = 0; i < rgba.length; i += 4, p++) {
    rgba[i] = (p % W + t * 5) & 255;
    rgba[i + 1] = ((p / W | 0) + t * 3) & 255;
    rgba[i + 2] = 90;
    rgba[i + 3] = 255;
  }
  return rgba;
}

async function bytesOf(page: Page, expression: string): Promise<Uint8Array> {
  const b64 = await page.evaluate(`(async () => {
    const blob = await (${expression});
    const bytes = new Uint8Array(await blob.arrayBuffer());
    let s = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    }
    return blob.type + ";" + btoa(s);
  })()`) as string;
  const [type, data] = b64.split(";");
  assert.equal(type, "video/mp4");
  return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
}

for (const transport of ["webcodecs", "image"] as const) {
  Deno.test({
    name:
      `record in Chromium (${transport}): the Record button downloads an MP4 named after the stream and the time that ffprobe reads; view.record()/stop() returns one`,
    ignore: missing !== null,
    fn: async () => {
      await using display = await serve(W, H, {
        port: 0,
        fps: 30,
        logger: silentLogger,
      });
      let t = 0;
      const timer = setInterval(() => display.publish(scene(t++)), 33);
      const browser = await launch();
      try {
        const page = await browser.newPage({
          viewport: { width: 640, height: 480 },
          acceptDownloads: true,
        });
        await page.goto(`${display.url}?transport=${transport}`);
        await waitForExpression(
          page,
          `globalThis.rfb?.view.config?.transport === "${transport}" && (globalThis.rfb.view.stats?.frames ?? 0) > 3`,
        );
        await page.getByRole("button", { name: "Record", exact: true }).click();
        await waitForExpression(page, `globalThis.rfb.recording === true`);
        const stop = page.getByRole("button", { name: "Stop", exact: true });
        assert.equal(await stop.getAttribute("aria-pressed"), "true");
        await sleep(2000);
        const [download] = await Promise.all([
          page.waitForEvent("download"),
          stop.click(),
        ]);
        assert.match(
          download.suggestedFilename(),
          /^rfb-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d+Z\.mp4$/,
        );
        const file = await download.path();
        const p = await probe(file);
        assert.equal(p.codec, "h264");
        assert.deepEqual([p.width, p.height], [W, H]);
        assert.ok(p.frames >= 30, `${p.frames} frames in ~2 s`);
        assert.ok(
          p.duration > 1.6 && p.duration < 2.6,
          `${p.duration} s recorded in ~2 s`,
        );
        assert.ok(p.keys[0], "it starts with a keyframe");
        await download.delete();
        await waitForExpression(page, `globalThis.rfb.recording === false`);
        assert.equal(
          await page.getByRole("button", { name: "Record", exact: true })
            .count(),
          1,
        );

        // The view's own API.
        await page.evaluate(
          `globalThis.__rec = globalThis.rfb.view.record()`,
        );
        await sleep(1000);
        const mp4 = await bytesOf(
          page,
          `globalThis.__rec.then((r) => r.stop())`,
        );
        const q = await probe(mp4);
        assert.deepEqual([q.codec, q.width, q.height], ["h264", W, H]);
        assert.ok(q.frames >= 15, `${q.frames} frames in ~1 s`);
        await assert.rejects(
          page.evaluate(`globalThis.__rec.then((r) => r.stop())`),
          /not recording/,
        );
      } finally {
        clearInterval(timer);
        await browser.close();
      }
    },
  });
}
