/**
 * `deno task demo --nats`: one scene served from three ports. A local
 * `nats-server` (Debian's package, started here on a free port with a
 * temporary store, unless `--nats-url` names one), a render host that
 * draws the scene and publishes it to NATS (its own page on `--port`), and
 * two edge servers that serve it from NATS on the next two ports. Draw on
 * one edge's page (the `paint` pattern) and watch the other.
 *
 * @module
 */

import { handler, serve } from "../mod.ts";
import { displayFromNats, publishToNats } from "../src/nats/mod.ts";
import { SCENES } from "./scenes/patterns.ts";

/** How to run the NATS demo. */
export interface NatsDemoOptions {
  /** The host's port; the edges take the next two (0: all picked by the OS). */
  port: number;
  /** Interface to listen on. */
  hostname: string;
  /** Host names viewers use (see `allowedHosts`). */
  allowedHosts: string[];
  /** Scene name (`SCENES`). */
  pattern: string;
  /** Frame size. */
  width: number;
  /** Frame size. */
  height: number;
  /** Frames a second. */
  fps: number;
  /** `"auto"`, `"image"` or `"webcodecs"`. */
  transport: "auto" | "image" | "webcodecs";
  /** A running NATS server to use instead of starting one. */
  natsUrl?: string;
}

/** The running demo. */
export interface NatsDemo {
  /** The NATS server's URL. */
  natsUrl: string;
  /** The host's page. */
  hostUrl: string;
  /** The edges' pages. */
  edgeUrls: string[];
  /** Stop everything. */
  close(): Promise<void>;
}

async function startNatsServer(): Promise<
  { url: string; stop: () => Promise<void> }
> {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  const store = await Deno.makeTempDir({ prefix: "rfb_demo_nats_" });
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command("nats-server", {
      args: ["-a", "127.0.0.1", "-p", String(port), "-js", "-sd", store],
      stdout: "null",
      stderr: "null",
    }).spawn();
  } catch (err) {
    throw new Error(
      `cannot start nats-server (apt-get install nats-server, or pass --nats-url): ${
        (err as Error).message
      }`,
    );
  }
  const end = Date.now() + 10_000;
  for (;;) {
    try {
      (await Deno.connect({ hostname: "127.0.0.1", port })).close();
      break;
    } catch {
      if (Date.now() > end) throw new Error("nats-server did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  return {
    url: `nats://127.0.0.1:${port}`,
    stop: async () => {
      try {
        child.kill();
      } catch { /* gone */ }
      await child.status;
      await Deno.remove(store, { recursive: true }).catch(() => {});
    },
  };
}

/**
 * Start NATS (unless given), the host and two edges.
 *
 * @example
 * ```ts ignore
 * const demo = await startNatsDemo({ port: 8000, hostname: "127.0.0.1", allowedHosts: ["loopback"], pattern: "paint", width: 1280, height: 720, fps: 30, transport: "auto" });
 * console.log(demo.edgeUrls);
 * await demo.close();
 * ```
 */
export async function startNatsDemo(o: NatsDemoOptions): Promise<NatsDemo> {
  const make = SCENES[o.pattern];
  if (!make) throw new Error(`unknown pattern '${o.pattern}'`);
  const nats = o.natsUrl ? null : await startNatsServer();
  const servers = o.natsUrl ?? nats!.url;
  const stops: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {});
    await nats?.stop();
  };
  try {
    const display = await serve(o.width, o.height, {
      port: o.port,
      hostname: o.hostname,
      allowedHosts: o.allowedHosts,
      transport: o.transport,
      fps: o.fps,
    });
    stops.push(() => display.close());
    const link = await publishToNats(display, { servers, stream: "demo" });
    stops.push(() => link.close());
    const scene = make(o.width, o.height);
    const rgba = new Uint8Array(o.width * o.height * 4);
    const t0 = performance.now();
    const timer = setInterval(() => {
      for (const ev of display.pollEvents()) scene.input(ev);
      if (scene.draw(rgba, (performance.now() - t0) / 1000)) {
        display.publish(rgba);
      }
    }, 1000 / o.fps);
    stops.push(() => Promise.resolve(clearInterval(timer)));
    const edgeUrls: string[] = [];
    for (const i of [1, 2]) {
      const remote = await displayFromNats({ servers, stream: "demo" });
      stops.push(() => remote.close());
      const http = Deno.serve({
        port: o.port === 0 ? 0 : o.port + i,
        hostname: o.hostname,
        onListen() {},
      }, handler(remote, { allowedHosts: o.allowedHosts }));
      stops.push(() => http.shutdown());
      const shown = /^(0\.0\.0\.0|::)$/.test(o.hostname)
        ? "localhost"
        : o.hostname;
      edgeUrls.push(`http://${shown}:${http.addr.port}/`);
    }
    return { natsUrl: servers, hostUrl: display.url!, edgeUrls, close };
  } catch (err) {
    await close();
    throw err;
  }
}
