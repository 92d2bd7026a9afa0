/**
 * A real listener in its own process, for `hostile_test.ts` to attack: its
 * RSS is its own, and a crash is seen as the process ending.
 *
 * `deno run -A tests/_hostile_server.ts '<json>'`, where the JSON is a
 * `HostileConfig`. It serves either one display (`serve()`) or a server
 * with named streams (`serveServer()`) on 127.0.0.1, port 0, publishes
 * noise frames on every stream, and writes lines to stdout:
 *
 * - `port <n>` first;
 * - `rss <bytes> buffered <bytes> viewers <n> fds <n>` every 500 ms: VmRSS
 *   from /proc/self/status, the most any viewer's socket held unsent since
 *   the last line (sampled every 20 ms), the viewers now connected, and the
 *   most descriptors the process held since the last line (/proc/self/fd,
 *   sampled every 20 ms);
 * - `log <level> <message>` for each line the library logs.
 *
 * `quit` on stdin (or the end of stdin) closes everything and exits 0.
 *
 * @module
 */

import { type Display, serve, serveServer, tokenAuth } from "../mod.ts";
import type { ServerOptions } from "../mod.ts";
import { readLines } from "./_viewer.ts";

/** What the child serves (given as JSON on its command line). */
export interface HostileConfig {
  /** `serve()` one display, or `serveServer()` with `streams`. */
  mode: "serve" | "server";
  /** Frame size. */
  width: number;
  /** Frame size. */
  height: number;
  /** Frames published per second on each stream. */
  fps: number;
  /** Options for `serve()`/`serveServer()` (JSON-able ones). */
  options?: ServerOptions;
  /** A token the display (serve) or the whole server (server) requires. */
  token?: string;
  /** The streams of a server, each with its own token if it has one. */
  streams?: Array<{ name: string; token?: string }>;
  /**
   * Count descriptors every 20 ms (default true). Off where the process
   * is meant to run short of them: the count takes one itself.
   */
  sampleFds?: boolean;
}

const config = JSON.parse(Deno.args[0]) as HostileConfig;
const out = (line: string) => console.log(line);
const logger = (level: string, message: string) =>
  out(`log ${level} ${message.replace(/\n/g, "\\n")}`);

const options: ServerOptions = {
  ...config.options,
  hostname: "127.0.0.1",
  port: 0,
  stillAfter: false,
  logger,
};
if (config.token) options.authenticate = tokenAuth(config.token);

const displays: Display[] = [];
let port: number;
let stop: () => Promise<void>;
if (config.mode === "serve") {
  const display = await serve(config.width, config.height, options);
  displays.push(display);
  port = display.port!;
  stop = () => display.close();
} else {
  const server = await serveServer(options);
  for (const s of config.streams ?? []) {
    displays.push(
      server.addStream(
        s.name,
        config.width,
        config.height,
        s.token ? { authenticate: tokenAuth(s.token) } : {},
      ),
    );
  }
  port = server.port;
  stop = () => server.close();
}

// Two noise frames, alternated: every publish is a new picture, and noise
// makes JPEGs of a realistic (large) size.
const ring = [0, 1].map(() => {
  const px = new Uint8Array(config.width * config.height * 4);
  for (let off = 0; off < px.length; off += 65536) {
    crypto.getRandomValues(px.subarray(off, Math.min(px.length, off + 65536)));
  }
  return px;
});
let n = 0;
const publisher = setInterval(() => {
  const frame = ring[n++ % 2];
  for (const d of displays) d.publish(frame);
}, 1000 / config.fps);

// Both read /proc, which takes a descriptor: when the process has none to
// spare (the ulimit test), the last figure stands rather than an uncaught
// EMFILE ending the process.
let lastRss = 0;
function rss(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kb = /^VmRSS:\s+(\d+)\s+kB/m.exec(status)?.[1];
    lastRss = Number(kb ?? 0) * 1024;
  } catch { /* out of descriptors */ }
  return lastRss;
}

let lastFds = 0;
function fds(): number {
  try {
    let count = 0;
    for (const _ of Deno.readDirSync("/proc/self/fd")) count++;
    lastFds = count;
  } catch { /* out of descriptors */ }
  return lastFds;
}

let buffered = 0;
let mostFds = 0;
const watcher = setInterval(() => {
  if (config.sampleFds !== false) mostFds = Math.max(mostFds, fds());
  for (const d of displays) {
    for (const v of d.stats().viewerStats) {
      buffered = Math.max(buffered, v.bufferedAmount);
    }
  }
}, 20);
const sampler = setInterval(() => {
  const viewers = displays.reduce((sum, d) => sum + d.viewers, 0);
  out(`rss ${rss()} buffered ${buffered} viewers ${viewers} fds ${mostFds}`);
  buffered = 0;
  mostFds = config.sampleFds === false ? 0 : fds();
}, 500);

out(`port ${port}`);
out(`rss ${rss()} buffered 0 viewers 0 fds ${fds()}`);
for await (const line of readLines(Deno.stdin.readable)) {
  if (line.trim() === "quit") break;
}
clearInterval(publisher);
clearInterval(watcher);
clearInterval(sampler);
await stop();
Deno.exit(0);
