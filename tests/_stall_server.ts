/**
 * A display in its own process, for measuring the server's memory alone
 * (`deno test --parallel` runs every test file in one process, so RSS in
 * the test process would count other tests too).
 *
 * `deno run -A tests/_stall_server.ts <width> <height> <fps> <maxBufferedBytes>`
 * serves a display on port 0 publishing the bench scene at `fps` (a ring of
 * pre-rendered frames), prints `{"port":N}`, then every 250 ms a JSON line of
 * figures: RSS, frames published, encodes, and per viewer: frames sent and
 * acked, bytes its socket holds, frames dropped. `quit` on stdin (or the end
 * of stdin) closes the display, prints `{"closed":true}` and exits.
 *
 * @module
 */

import { serve } from "../mod.ts";
import { renderScene } from "../bench/scene.ts";
import { readLines } from "./_viewer.ts";

const [w, h, fps, maxBuffered] = Deno.args.map(Number);
const display = await serve(w, h, {
  port: 0,
  stillAfter: false,
  maxBufferedBytes: maxBuffered,
  slowViewerTimeout: 3600, // stalled viewers stay for the whole measurement
  // A wide window and a short in-flight timeout: the server keeps offering
  // frames to a viewer that never acks, the worst case for its buffer.
  maxInflight: 64,
  inflightTimeout: 0.05,
  logger: () => {},
});
const ring = Array.from({ length: 6 }, (_, i) => {
  const buf = new Uint8Array(w * h * 4);
  renderScene(buf, w, h, i / 10);
  return buf;
});
let n = 0;
const publisher = setInterval(
  () => display.publish(ring[n++ % ring.length]),
  1000 / fps,
);
const out = (o: unknown) => console.log(JSON.stringify(o));
out({ port: display.port });
const t0 = performance.now();
const sampler = setInterval(() => {
  const s = display.stats();
  out({
    t: Math.round(performance.now() - t0),
    rss: Deno.memoryUsage().rss,
    published: s.framesPublished,
    encodes: s.encodes,
    viewers: s.viewerStats.map((v) => ({
      id: v.id,
      sent: v.framesSent,
      acked: v.framesAcked,
      buffered: v.bufferedAmount,
      dropped: v.dropped,
    })),
  });
}, 250);
for await (const line of readLines(Deno.stdin.readable)) {
  if (line.trim() === "quit") break;
}
clearInterval(sampler);
clearInterval(publisher);
await display.close();
out({ closed: true });
// Exit now: when a peer vanishes while a Deno WebSocket still has writes
// pending, the process lingers ~10-15 s before it can exit (Deno's own
// behaviour, reproduced with Deno.serve alone; the display is closed).
Deno.exit(0);
