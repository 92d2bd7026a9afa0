/**
 * Past one machine (`deno task bench nats`): a render host publishing to a
 * real `nats-server`, edge servers serving its stream, on this machine.
 *
 * - A: the host's CPU per frame with 0, 1, 2 and 4 edges × 16 viewers each
 *   (720p H.264 at 30 fps; host, edges and viewers in processes of their
 *   own, the viewers all in one).
 * - B: glass-to-glass in Chromium, straight to the host against through an
 *   edge, rounds alternating in one run, H.264 and JPEG.
 * - C: join time at an edge: socket open → first frame received, H.264
 *   and JPEG.
 * - D: one edge's capacity: viewers at 30 fps (720p H.264) as their number
 *   grows, the edge's CPU, and viewers per core.
 * - E (in D): bytes through NATS per frame against bytes sent to viewers.
 *
 * Everything shares this machine's two cores: the numbers are what this
 * machine allows, and the report says where a limit is the machine's.
 *
 * @module
 */

import { handler, serve, silentLogger } from "../mod.ts";
import { displayFromNats, publishToNats } from "../src/nats/mod.ts";
import { CAP_H264 } from "../src/protocol.ts";
import { browserMissing, launch } from "../tests/_browser.ts";
import { haveNatsServer, NatsServer } from "../tests/_nats.ts";
import { NatsProc } from "../tests/_nats_faults.ts";
import { type FrameTimeline, latencyRound } from "./latency.ts";
import { readLines } from "./lines.ts";
import { renderRing } from "./scene.ts";
import { checkTarget, f1, quantile, sleep, table } from "./util.ts";

const W = 1280, H = 720, FPS = 30;
const H264_HELLO = JSON.stringify({
  type: "hello",
  supported: [CAP_H264],
  device_pixel_ratio: 1,
});
const JPEG_HELLO = JSON.stringify({
  type: "hello",
  supported: ["image/jpeg"],
  device_pixel_ratio: 1,
});

/** A process of `bench/nats_viewers.ts`. */
class Viewers implements AsyncDisposable {
  child: Deno.ChildProcess;
  stats: { open: number; frames: number[]; bytes: number } | null = null;
  ready: Promise<void>;

  constructor(count: number, hello: string, urls: string[]) {
    this.child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./nats_viewers.ts", import.meta.url).pathname,
        String(count),
        hello,
        ...urls,
      ],
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    this.ready = new Promise((resolve) => {
      (async () => {
        for await (const line of readLines(this.child.stdout)) {
          if (line === "ready") resolve();
          if (line.startsWith("stats ")) this.stats = JSON.parse(line.slice(6));
        }
      })();
    });
  }

  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.child.status;
  }
}

type Snap = Record<string, unknown> & { cpuMs: number };

/** Host and edge figures over `ms` (after the stats lines have moved). */
async function window(
  host: NatsProc,
  edges: NatsProc[],
  viewers: Viewers | null,
  ms: number,
) {
  await sleep(1100);
  const h0 = host.stats as Snap, e0 = edges.map((e) => e.stats as Snap);
  const v0 = viewers?.stats?.frames.slice() ?? [];
  const t0 = performance.now();
  await sleep(ms);
  const h1 = host.stats as Snap, e1 = edges.map((e) => e.stats as Snap);
  const v1 = viewers?.stats?.frames ?? [];
  const secs = (performance.now() - t0) / 1000;
  const frames = (h1.frames as number) - (h0.frames as number);
  const link0 = h0.link as { bytesOut: number; encodings: string[] };
  const link1 = h1.link as { bytesOut: number; encodings: string[] };
  const fps = v1.map((f, i) => (f - (v0[i] ?? 0)) / secs);
  return {
    hostMsPerFrame: (h1.cpuMs - h0.cpuMs) / Math.max(1, frames),
    encodesPerFrame: ((h1.encodes as number) - (h0.encodes as number)) /
      Math.max(1, frames),
    fps: frames / secs,
    edgeCpuMsPerSec: e1.map((e, i) => (e.cpuMs - e0[i].cpuMs) / secs),
    natsBytesPerFrame: (link1.bytesOut - link0.bytesOut) / Math.max(1, frames),
    viewerBytesPerFrame: e1.reduce(
      (s, e, i) => s + ((e.bytesSent as number) - (e0[i].bytesSent as number)),
      0,
    ) / Math.max(1, frames),
    encodings: link1.encodings,
    viewerFps: fps,
  };
}

async function hostCost(nats: NatsServer): Promise<string[][]> {
  const rows: string[][] = [];
  // Adaptation off: every viewer stays on the configured quality, so the
  // rows compare one encoding relayed to more edges (with adaptation, a
  // viewer pushed down a step by this crowded machine adds an encoding).
  await using host = await NatsProc.host(
    nats.url,
    "a",
    W,
    H,
    FPS,
    "webcodecs",
    true,
  );
  const edges: NatsProc[] = [];
  const all: Viewers[] = [];
  let oneEdge = 0;
  try {
    for (const n of [0, 1, 2, 4]) {
      while (edges.length < n) {
        const e = await NatsProc.edge(nats.url, "a");
        edges.push(e);
        const v = new Viewers(16, H264_HELLO, [`ws://127.0.0.1:${e.port}/`]);
        all.push(v);
        await v.ready;
      }
      await sleep(2000);
      const w = await window(host, edges, null, 5000);
      if (n === 1) oneEdge = w.hostMsPerFrame;
      const fps = all.flatMap((v) => {
        const s = v.stats?.frames ?? [];
        return s.length ? [Math.min(...s)] : [];
      });
      rows.push([
        String(n),
        String(n * 16),
        f1(w.fps),
        w.encodesPerFrame.toFixed(2),
        w.hostMsPerFrame.toFixed(2),
        n > 0 && oneEdge ? `${(w.hostMsPerFrame / oneEdge).toFixed(2)}x` : "",
        w.encodings.join(", ") || "none",
        fps.length ? String(Math.min(...fps)) : "",
      ]);
      if (n === 4) {
        rows.at(-1)![5] = checkTarget(
          "4 NATS edges cost the render host <= 1.3x one",
          `${(w.hostMsPerFrame / oneEdge).toFixed(2)}x`,
          w.hostMsPerFrame / oneEdge <= 1.3,
        );
      }
    }
  } finally {
    for (const v of all) await v[Symbol.asyncDispose]();
    for (const e of edges) await e[Symbol.asyncDispose]();
  }
  return rows;
}

async function capacity(nats: NatsServer): Promise<string[][]> {
  const rows: string[][] = [];
  await using host = await NatsProc.host(
    nats.url,
    "c",
    W,
    H,
    FPS,
    "webcodecs",
    true,
  );
  await using edge = await NatsProc.edge(nats.url, "c");
  for (const n of [25, 50, 100, 200]) {
    await using viewers = new Viewers(n, H264_HELLO, [
      `ws://127.0.0.1:${edge.port}/`,
    ]);
    await viewers.ready;
    await sleep(2500);
    const w = await window(host, [edge], viewers, 5000);
    const fps = w.viewerFps.slice().sort((a, b) => a - b);
    const cpu = w.edgeCpuMsPerSec[0];
    const perCore = n * 1000 / Math.max(1, cpu);
    rows.push([
      String(n),
      f1(w.fps),
      f1(fps[0] ?? 0),
      f1(quantile(fps, 0.5)),
      f1(cpu / 10),
      String(Math.round(perCore)),
      f1(w.natsBytesPerFrame / 1024),
      f1(w.viewerBytesPerFrame / 1024),
      `${
        (w.viewerBytesPerFrame / Math.max(1, w.natsBytesPerFrame)).toFixed(0)
      }x`,
    ]);
    if ((fps[0] ?? 0) < FPS * 0.9) break; // one fell behind: stop here
  }
  return rows;
}

async function latencyAndJoin(): Promise<
  { latency: string[][]; join: string[][] }
> {
  await using nats = await NatsServer.start();
  await using display = await serve(W, H, {
    port: 0,
    fps: FPS,
    encoder: "x264",
    logger: silentLogger,
  });
  await using _link = await publishToNats(display, {
    servers: nats.url,
    stream: "l",
  });
  await using remote = await displayFromNats({
    servers: nats.url,
    stream: "l",
    logger: silentLogger,
  });
  const http = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    handler(remote),
  );
  const edgeUrl = `http://127.0.0.1:${http.addr.port}/`;
  const ring = renderRing(W, H);
  let k = 0;
  const next = () => ring[k++ % ring.length];
  const latency: string[][] = [];
  const join: string[][] = [];
  try {
    const missing = browserMissing();
    if (!missing) {
      const browser = await launch();
      try {
        for (const transport of ["webcodecs", "image"] as const) {
          const got: Record<string, FrameTimeline[]> = { host: [], edge: [] };
          for (let round = 0; round < 4; round++) {
            const via = round % 2 ? "edge" : "host";
            const r = await latencyRound(
              browser,
              {
                url: via === "edge" ? edgeUrl : display.url!,
                width: W,
                height: H,
                publish: (f) => display.publish(f),
              },
              transport,
              next,
              FPS,
              60,
            );
            got[via].push(...r.frames);
          }
          const p = (via: string, q: number) =>
            quantile(got[via].map((f) => f.displayedAt - f.publishedAt), q);
          const added = p("edge", 0.5) - p("host", 0.5);
          latency.push([
            transport === "webcodecs" ? "H.264" : "JPEG",
            `${got.host.length} / ${got.edge.length}`,
            f1(p("host", 0.5)),
            f1(p("edge", 0.5)),
            f1(p("host", 0.95)),
            f1(p("edge", 0.95)),
            transport === "webcodecs"
              ? checkTarget(
                "+3 ms p50 through a NATS edge (H.264)",
                `${f1(added)} ms`,
                added <= 3,
              )
              : `${f1(added)} ms`,
          ]);
        }
      } finally {
        await browser.close();
      }
    } else {
      latency.push(["skipped", missing, "", "", "", "", ""]);
    }
    // Joins: a frame every 33 ms meanwhile.
    const timer = setInterval(() => display.publish(next()), 1000 / FPS);
    try {
      for (
        const [name, hello] of [["H.264", H264_HELLO], ["JPEG", JPEG_HELLO]]
      ) {
        const times: number[] = [];
        for (let i = 0; i < 30; i++) times.push(await joinOnce(edgeUrl, hello));
        join.push([
          name,
          String(times.length),
          f1(quantile(times, 0.5)),
          f1(quantile(times, 0.95)),
          f1(Math.max(...times)),
        ]);
      }
    } finally {
      clearInterval(timer);
    }
  } finally {
    await http.shutdown();
  }
  return { latency, join };
}

/** Socket open → the first frame, ms. */
async function joinOnce(pageUrl: string, hello: string): Promise<number> {
  const ws = new WebSocket(pageUrl.replace(/^http/, "ws"));
  ws.binaryType = "arraybuffer";
  await new Promise((r) => ws.onopen = r);
  const t0 = performance.now();
  ws.send(hello);
  await new Promise<void>((resolve) => {
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") resolve();
    };
  });
  const took = performance.now() - t0;
  ws.close();
  // Apart by more than minKeyframeInterval: each join's own IDR ask, not
  // the rate limit that a crowd of joiners meets (see the storm test).
  await sleep(300);
  return took;
}

/** Run the parts; the report's text. */
export async function natsBenchmark(): Promise<{ text: string }> {
  if (!haveNatsServer()) {
    return {
      text:
        "## Past one machine (NATS)\n\nSkipped: no nats-server (apt-get install nats-server).",
    };
  }
  const started = performance.now();
  let cost: string[][], cap: string[][];
  {
    await using nats = await NatsServer.start();
    cost = await hostCost(nats);
    cap = await capacity(nats);
  }
  const { latency, join } = await latencyAndJoin();
  const text = [
    "## Past one machine (NATS)",
    "",
    `\`deno task bench nats\` (bench/nats.ts): a render host publishing to a local nats-server 2.9, edge servers serving its stream, ${W}x${H} at ${FPS} fps, libx264. Host, edges, the viewers (all in one process, \`bench/nats_viewers.ts\`) and nats-server share this machine's two cores.`,
    "",
    "### A. The host's CPU per frame against edges (16 H.264 viewers each)",
    "",
    table(
      [
        "edges",
        "viewers",
        "host fps",
        "encodes / frame",
        "host CPU ms / frame",
        "vs one edge",
        "encodings relayed",
        "slowest viewer, frames so far",
      ],
      cost,
    ),
    "",
    "Adaptation is off on the host here (`adaptive: false`), so every viewer stays on the configured quality and the rows compare one encoding relayed to more edges. With no edge the host encodes nothing (no edge needs anything): its cost is the publish. With adaptation on, viewers that this crowded machine pushes down a step add an encoding each (one per step across the site, not one per edge).",
    "",
    "### B. Glass-to-glass in Chromium: straight to the host against through an edge",
    "",
    table(
      [
        "transport",
        "frames (host / edge)",
        "host p50 ms",
        "edge p50 ms",
        "host p95 ms",
        "edge p95 ms",
        "added p50",
      ],
      latency,
    ),
    "",
    "Rounds alternate (host, edge, host, edge; a fresh page each), the same display publishing; the edge is in the host's process here, so the figure is the relay's own cost (NATS round trip, the edge's session), not a network's.",
    "",
    "### C. Join time at an edge (socket open → first frame received)",
    "",
    table(["transport", "joins", "p50 ms", "p95 ms", "max ms"], join),
    "",
    "Joins 0.3 s apart. An H.264 joiner waits for an IDR asked of the host through NATS (the next frame); joiners within 0.25 s of another IDR wait for the host's `minKeyframeInterval` (one IDR for all of them). A JPEG joiner gets the edge's last picture at once. Drawing adds the decode (4-5 ms at 720p in Chromium, bench floors).",
    "",
    "### D. One edge's capacity (720p H.264, 30 fps, viewers in another process)",
    "",
    table(
      [
        "viewers",
        "host fps",
        "slowest viewer fps",
        "median viewer fps",
        "edge CPU %",
        "viewers per core (from the edge's CPU)",
        "KiB / frame through NATS",
        "KiB / frame to viewers",
        "fan-out",
      ],
      cap,
    ),
    "",
    "The ramp stops at the first row where a viewer fell under 27 fps. Viewers per core is the number of viewers over the edge's CPU share at that row; on this machine the viewers' own process and the host's encoder take most of the two cores, so the slowest viewer is often limited by the viewer process, not the edge.",
    "",
    `Run: ${f1((performance.now() - started) / 1000)} s.`,
  ].join("\n");
  return { text };
}

if (import.meta.main) console.log((await natsBenchmark()).text);
