/**
 * A render host or an edge server in a process of its own, for the NATS
 * fault tests and the bench (which kill, stop and restart them):
 *
 * ```sh
 * deno run -A tests/_nats_proc.ts host <nats-url> <stream> <width> <height> <fps> <transport> [fixed]
 * deno run -A tests/_nats_proc.ts edge <nats-url> <stream>
 * ```
 *
 * The host publishes a moving test pattern at `fps` and prints `ready`
 * (`fixed`: adaptation off, every viewer on the configured quality);
 * the edge serves the stream with `handler()` on a free loopback port and
 * prints `port <n>`. Both print `stats <json>` once a second (the host its
 * display's encodes and CPU time, the edge its viewers and link) and run
 * until killed.
 *
 * @module
 */

import process from "node:process";
import { Display, handler } from "../mod.ts";
import { displayFromNats, publishToNats } from "../src/nats/mod.ts";
import { pattern } from "./_h264.ts";

const [mode, url, stream, ...rest] = Deno.args;
const quiet = { logger: () => {} };

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

if (mode === "host") {
  const [w, h, fps, transport, fixed] = rest;
  const width = Number(w), height = Number(h);
  const display = new Display(width, height, {
    transport: transport as "image" | "webcodecs" | "auto",
    encoder: "x264",
    fps: Number(fps),
    adaptive: fixed !== "fixed",
    ...quiet,
  });
  const link = await publishToNats(display, { servers: url, stream });
  // A few distinct frames, cycled: the pattern is costly to draw.
  const frames = Array.from(
    { length: 16 },
    (_, i) => pattern(width, height, i),
  );
  let n = 0;
  setInterval(
    () => display.publish(frames[n++ % frames.length]),
    1000 / Number(fps),
  );
  setInterval(() => {
    const s = display.stats();
    console.log(`stats ${
      JSON.stringify({
        frames: n,
        encodes: s.encodes,
        viewers: s.viewers,
        cpuMs: cpuMs(),
        link: link.stats(),
      })
    }`);
  }, 1000);
  console.log("ready");
} else if (mode === "edge") {
  const remote = await displayFromNats({
    servers: url,
    stream,
    maxViewers: 10_000,
    ...quiet,
  });
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler(remote),
  );
  setInterval(() => {
    const s = remote.stats();
    console.log(`stats ${
      JSON.stringify({
        viewers: s.viewers,
        cpuMs: cpuMs(),
        bytesSent: s.viewerStats.reduce((a, v) => a + v.bytesSent, 0),
        link: remote.linkStats(),
      })
    }`);
  }, 1000);
  console.log(`port ${server.addr.port}`);
} else {
  console.error("usage: _nats_proc.ts host|edge <nats-url> <stream> ...");
  Deno.exit(2);
}
