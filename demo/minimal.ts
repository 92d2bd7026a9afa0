/**
 * The smallest @rfb/core program: `serve()` alone, a moving gradient, and
 * clicks printed to the terminal.
 *
 * ```sh
 * deno run -A demo/minimal.ts
 * ```
 *
 * @module
 */

import { serve } from "../mod.ts";

const width = 640, height = 360;
const display = await serve(width, height, { port: 0 });
console.log(`open ${display.url}`);

const rgba = new Uint8Array(width * height * 4);
for (let frame = 0;; frame++) {
  for (let i = 0, p = 0; p < width * height; p++, i += 4) {
    rgba[i] = (p % width + frame) & 255;
    rgba[i + 1] = (p / width) & 255;
    rgba[i + 2] = 128;
    rgba[i + 3] = 255;
  }
  display.publish(rgba);
  for (const ev of display.pollEvents()) {
    if (ev.type === "pointer_down") {
      console.log(`click at ${ev.x.toFixed(0)}, ${ev.y.toFixed(0)}`);
    }
  }
  await new Promise((r) => setTimeout(r, 33));
}
