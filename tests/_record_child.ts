// A child process for tests/record_test.ts: records a moving scene in
// fragments of 0.5 s and publishes at 30 fps, printing its count, until the
// parent kills it with SIGKILL.

import { Display, silentLogger } from "../mod.ts";

const W = 320, H = 240;
const display = new Display(W, H, { logger: silentLogger });
await display.record(Deno.args[0], { fragment: 0.5 });
const rgba = new Uint8Array(W * H * 4);
for (let t = 1;; t++) {
  for (let i = 0; i < rgba.length; i += 4) {
    rgba[i] = (i / 4 + t * 5) & 255;
    rgba[i + 1] = t & 255;
    rgba[i + 3] = 255;
  }
  display.publish(rgba);
  if (t % 5 === 0) console.log(`published ${t}`);
  await new Promise((r) => setTimeout(r, 33));
}
