// serve() alone in real Chromium: the built-in page shows the frames (read back from the
// screen) and sends input back.

import assert from "node:assert/strict";
import { serve } from "../mod.ts";
import {
  browserMissing,
  launch,
  screenPixels,
  waitForExpression,
} from "./_browser.ts";
import { near, pixelAt, quadrants, solid, until } from "./_viewer.ts";

const missing = browserMissing();
if (missing) console.warn(`skipping browser tests: ${missing}`);

Deno.test({
  name: "serve() alone gives a page that shows the frames and sends input back",
  ignore: missing !== null,
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
      await waitForExpression(
        page,
        `globalThis.rfb?.view.status === "negotiated"`,
      );
      await waitForExpression(
        page,
        `(globalThis.rfb?.view.stats?.frames ?? 0) > 0`,
      );
      // The frame fills the 640x360 window at 2x: quadrant centres on screen.
      let shot = await screenPixels(page);
      assert.ok(
        near(pixelAt(shot, 160, 90), [255, 0, 0], 24),
        `red ${pixelAt(shot, 160, 90)}`,
      );
      assert.ok(
        near(pixelAt(shot, 480, 90), [0, 255, 0], 24),
        `green ${pixelAt(shot, 480, 90)}`,
      );
      assert.ok(
        near(pixelAt(shot, 160, 270), [0, 0, 255], 24),
        `blue ${pixelAt(shot, 160, 270)}`,
      );
      assert.ok(near(pixelAt(shot, 480, 270), [255, 255, 255], 24));
      // The picture follows a new frame.
      display.publish(solid(W, H, [250, 200, 0]));
      const deadline = Date.now() + 5000;
      do {
        shot = await screenPixels(page);
      } while (
        !near(pixelAt(shot, 160, 90), [250, 200, 0], 24) &&
        Date.now() < deadline
      );
      assert.ok(
        near(pixelAt(shot, 160, 90), [250, 200, 0], 24),
        `yellow ${pixelAt(shot, 160, 90)}`,
      );
      // A click at page (320, 180) is the frame's centre.
      display.pollEvents();
      await page.mouse.click(320, 180);
      await page.keyboard.press("Shift+KeyA");
      const events: Record<string, unknown>[] = [];
      await until(
        () => {
          events.push(
            ...display.pollEvents() as unknown as Record<string, unknown>[],
          );
          return events.some((e) => e.type === "key_down" && e.key === "A");
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
