// The built-in viewer page in real Chromium: pixels on the canvas and input back.

import assert from "node:assert/strict";
import { serve } from "../mod.ts";
import { browserMissing, launch } from "./_browser.ts";
import { quadrants, solid, until } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping browser tests: ${missing}`);

Deno.test({
  name: "serve() alone gives a page that shows the frames and sends input back",
  ignore: missing !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const W = 320, H = 180;
    await using display = await serve(W, H, { port: 0, logger: () => {} });
    display.publish(quadrants(W, H));
    const browser = await launch();
    try {
      const page = await browser.newPage({
        viewport: { width: 640, height: 360 },
      });
      await page.goto(display.url!);
      // Page-side code is passed as strings: it runs in the browser, not in Deno.
      await page.waitForFunction(
        `document.getElementById("status")?.textContent === "live"`,
      );
      const pixel = (x: number, y: number) =>
        `[...document.getElementById("view").getContext("2d").getImageData(${x}, ${y}, 1, 1).data.slice(0, 3)]`;
      const read = (x: number, y: number): Promise<number[]> =>
        page.evaluate(pixel(x, y));
      const close = (a: number[], b: number[]) =>
        a.every((v, i) => Math.abs(v - b[i]) < 20);
      await page.waitForFunction(
        `document.getElementById("view").width === 320 && ${
          pixel(300, 170)
        }[0] > 200`,
      );
      assert.ok(close(await read(20, 20), [255, 0, 0]));
      assert.ok(close(await read(300, 20), [0, 255, 0]));
      assert.ok(close(await read(20, 170), [0, 0, 255]));
      assert.ok(close(await read(300, 170), [255, 255, 255]));
      // The picture follows a new frame.
      display.publish(solid(W, H, [0, 0, 0]));
      await page.waitForFunction(`${pixel(20, 20)}[0] < 30`);
      // A click at page (320, 180) is the frame's centre (the canvas fills the 2x page).
      display.pollEvents();
      await page.mouse.click(320, 180);
      await page.keyboard.press("Shift+KeyA");
      const events: Record<string, unknown>[] = [];
      await until(
        () => {
          events.push(
            ...display.pollEvents() as unknown as Record<string, unknown>[],
          );
          return events.some((e) => e.type === "key_down");
        },
        5000,
        "a key event",
      );
      const down = events.find((e) => e.type === "pointer_down")!;
      assert.ok(Math.abs((down.x as number) - 160) <= 1, `x ${down.x}`);
      assert.ok(Math.abs((down.y as number) - 90) <= 1, `y ${down.y}`);
      assert.equal(down.button, 1);
      const key = events.find((e) => e.type === "key_down" && e.key === "A")!;
      assert.deepEqual(key.modifiers, ["Shift"]);
    } finally {
      await browser.close();
    }
  },
});
