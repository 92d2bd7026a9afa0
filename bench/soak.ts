/**
 * The soak benchmark: `deno run -A bench/soak.ts [--minutes N] [--stall-seconds S] [--no-write]`.
 *
 * One `serve()` display at 1280x720 publishes the moving bench scene
 * (`renderScene`, rendered live) at 60 fps for N minutes (default 10) to 8
 * viewers in a subprocess (`bench/soak_viewers.ts`): 4 that take H.264 and 4
 * that take images, each acking every frame. Every 10 s it samples the frame
 * rate each viewer received, the publish → received latency (the headers'
 * `timestamp_us` against the viewer's clock, same host), the server's RSS and
 * the encodes run. Then, for S seconds (default 60), 8 more viewers connect
 * that say hello and never read again (raw TCP), while the 8 viewers go on:
 * the server's RSS and the stalled sockets' buffered bytes are sampled.
 *
 * It prints the tables and a verdict on stability, and writes them between
 * `<!-- soak:start -->` and `<!-- soak:end -->` in bench/RESULTS.md (made if
 * absent; nothing else in the file changes) unless `--no-write`, or to the
 * file `--out` names. The trend checks (last third against the first) are
 * made for runs of 5 minutes or more.
 *
 * @module
 */

import { parseArgs } from "node:util";
import { type Display, type LogLevel, serve } from "../mod.ts";
import { spawnHelper } from "./lines.ts";
import { renderScene } from "./scene.ts";
import {
  cpuModel,
  f1,
  formatFiles,
  mean,
  quantile,
  sleep,
  table,
  wsUrl,
} from "./util.ts";

const W = 1280, H = 720, FPS = 60;
const SAMPLE_MS = 10_000;
const MAX_BUFFERED = 1 << 20; // for the stalled viewers' display

const { values: args } = parseArgs({
  args: Deno.args,
  options: {
    minutes: { type: "string", default: "10" },
    "stall-seconds": { type: "string", default: "60" },
    "no-write": { type: "boolean", default: false },
    out: { type: "string" },
  },
});
const minutes = Number(args.minutes);
const stallSeconds = Number(args["stall-seconds"]);
if (!(minutes > 0) || !(stallSeconds >= 0)) {
  console.error(
    "usage: soak.ts [--minutes N] [--stall-seconds S] [--no-write] [--out FILE]",
  );
  Deno.exit(2);
}

interface ViewerMark {
  mode: "h264" | "image";
  transport: string | null;
  frames: number;
  bytes: number;
  keyframes: number;
  p50: number | null;
  p95: number | null;
  max: number | null;
  open: boolean;
  closeCode: number | null;
}

/** A viewer that completes the WebSocket handshake by hand, says hello and never reads again. */
async function stalledViewer(port: number): Promise<Deno.TcpConn> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const key = btoa(
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
  );
  const enc = new TextEncoder();
  await conn.write(enc.encode(
    `GET / HTTP/1.1\r\nhost: 127.0.0.1:${port}\r\nupgrade: websocket\r\n` +
      `connection: Upgrade\r\nsec-websocket-version: 13\r\nsec-websocket-key: ${key}\r\n\r\n`,
  ));
  // Read the 101 response only (it is small), then never read again.
  const head = new Uint8Array(1024);
  await conn.read(head);
  const hello = enc.encode(
    JSON.stringify({ type: "hello", supported: ["image/jpeg"] }),
  );
  const mask = crypto.getRandomValues(new Uint8Array(4));
  const frame = new Uint8Array(2 + 4 + hello.length);
  frame[0] = 0x81;
  frame[1] = 0x80 | hello.length; // < 126 bytes
  frame.set(mask, 2);
  for (let i = 0; i < hello.length; i++) frame[6 + i] = hello[i] ^ mask[i & 3];
  await conn.write(frame);
  return conn;
}

const warnings: string[] = [];
const logger = (level: LogLevel, message: string) => {
  if (level === "warn" || level === "error") {
    warnings.push(`${level}: ${message}`);
  }
};

const display = await serve(W, H, {
  port: 0,
  fps: FPS,
  maxBufferedBytes: MAX_BUFFERED,
  slowViewerTimeout: 3600, // the stalled viewers stay for the whole phase
  logger,
});
const url = wsUrl(display);
// The stalled viewers watch a second display of the same frames, whose flow
// control keeps offering frames to a viewer that never acks (a wide window,
// a short in-flight timeout): the worst case for the server's buffers. With
// the defaults a viewer that never acks gets about one frame a second.
let stallDisplay = null as Display | null;

// Publish the moving scene live at 60 fps, on an absolute schedule (a late
// tick publishes at once; ticks missed entirely are skipped).
const rgba = new Uint8Array(W * H * 4);
let publishing = true;
const t0 = performance.now();
const publisher = (async () => {
  for (let n = 0; publishing; n++) {
    const due = t0 + n * 1000 / FPS;
    const wait = due - performance.now();
    if (wait > 0) await sleep(wait);
    else if (-wait > 1000 / FPS) {
      n = Math.floor((performance.now() - t0) * FPS / 1000);
    }
    renderScene(rgba, W, H, (performance.now() - t0) / 1000);
    display.publish(rgba);
    stallDisplay?.publish(rgba);
  }
})();

const helper = await spawnHelper(
  new URL("./soak_viewers.ts", import.meta.url),
  [url, "4", "4"],
  "viewer process",
);
const mark = async (): Promise<{ at: number; viewers: ViewerMark[] }> => {
  const viewers = JSON.parse(await helper.ask("mark"));
  return { at: performance.now(), viewers };
};

interface Row {
  t: number;
  publishedFps: number;
  encodesPerS: number;
  fps: number[];
  modes: string[];
  latH264: [number | null, number | null];
  latImage: [number | null, number | null];
  rssMiB: number;
  heapMiB: number;
  externalMiB: number;
  forcedIdr: number;
  load: number;
}

const mib = (b: number) => b / 2 ** 20;
/** The 1-minute load average: other work on the machine shows here. */
const load = () =>
  Number(Deno.readTextFileSync("/proc/loadavg").split(" ")[0] ?? NaN);
const lat = (v: number | null) => v === null ? "-" : f1(v);
const merged = (vs: ViewerMark[], q: "p50" | "p95") => {
  const xs = vs.map((v) => v[q]).filter((x): x is number => x !== null);
  return xs.length ? (q === "p50" ? quantile(xs, 0.5) : Math.max(...xs)) : null;
};

console.log(
  `soak: ${W}x${H} at ${FPS} fps for ${minutes} min, 4 H.264 + 4 image viewers; then ${stallSeconds} s with 8 stalled viewers`,
);
let prev = await mark();
let prevStats = display.stats();
const rows: Row[] = [];
const end = t0 + minutes * 60_000;
while (performance.now() < end) {
  await sleep(Math.min(SAMPLE_MS, end - performance.now()));
  const now = await mark();
  const s = display.stats();
  const dt = (now.at - prev.at) / 1000;
  const h264 = now.viewers.filter((v) => v.mode === "h264");
  const image = now.viewers.filter((v) => v.mode === "image");
  const row: Row = {
    t: Math.round((now.at - t0) / 1000),
    publishedFps: (s.framesPublished - prevStats.framesPublished) / dt,
    encodesPerS: (s.encodes - prevStats.encodes) / dt,
    fps: now.viewers.map((v, i) => (v.frames - prev.viewers[i].frames) / dt),
    modes: now.viewers.map((v) => v.transport ?? "?"),
    latH264: [merged(h264, "p50"), merged(h264, "p95")],
    latImage: [merged(image, "p50"), merged(image, "p95")],
    rssMiB: mib(Deno.memoryUsage().rss),
    heapMiB: mib(Deno.memoryUsage().heapTotal),
    externalMiB: mib(Deno.memoryUsage().external),
    forcedIdr: s.keyframesForced - prevStats.keyframesForced,
    load: load(),
  };
  rows.push(row);
  console.log(
    `t=${row.t}s published ${f1(row.publishedFps)} fps, encodes ${
      f1(row.encodesPerS)
    }/s, ` +
      `viewers ${row.fps.map(f1).join(" ")} fps, latency H.264 ${
        lat(row.latH264[0])
      }/${lat(row.latH264[1])} ms, image ${lat(row.latImage[0])}/${
        lat(row.latImage[1])
      } ms, RSS ${f1(row.rssMiB)} MiB`,
  );
  prev = now;
  prevStats = s;
}
const closedEarly = prev.viewers.filter((v) => !v.open);

// The stalled phase: 8 viewers that stop reading, while the 8 go on.
interface StallRow {
  t: number;
  publishedFps: number;
  minFps: number;
  stalledMaxBufferedMiB: number;
  stalledSent: number;
  rssMiB: number;
}
const stallRows: StallRow[] = [];
const stalled: Deno.TcpConn[] = [];
let stallBaseline = 0;
if (stallSeconds > 0) {
  stallDisplay = await serve(W, H, {
    port: 0,
    stillAfter: false,
    maxInflight: 64,
    inflightTimeout: 0.05,
    maxBufferedBytes: MAX_BUFFERED,
    slowViewerTimeout: 3600,
    logger,
  });
  await sleep(3000); // its frame pool fills; then the baseline
  stallBaseline = mib(Deno.memoryUsage().rss);
  for (let i = 0; i < 8; i++) {
    stalled.push(await stalledViewer(stallDisplay.port!));
  }
  const stallEnd = performance.now() + stallSeconds * 1000;
  const every = Math.min(SAMPLE_MS, stallSeconds * 1000 / 3);
  prev = await mark();
  prevStats = display.stats();
  while (performance.now() < stallEnd) {
    await sleep(Math.min(every, stallEnd - performance.now()));
    const now = await mark();
    const s = display.stats();
    const dt = (now.at - prev.at) / 1000;
    const stuck = stallDisplay!.stats().viewerStats;
    stallRows.push({
      t: Math.round((now.at - t0) / 1000),
      publishedFps: (s.framesPublished - prevStats.framesPublished) / dt,
      minFps: Math.min(
        ...now.viewers.map((v, i) => (v.frames - prev.viewers[i].frames) / dt),
      ),
      stalledMaxBufferedMiB: mib(
        Math.max(0, ...stuck.map((v) => v.bufferedAmount)),
      ),
      stalledSent: Math.max(0, ...stuck.map((v) => v.framesSent)),
      rssMiB: mib(Deno.memoryUsage().rss),
    });
    const r = stallRows.at(-1)!;
    console.log(
      `t=${r.t}s [8 stalled] published ${
        f1(r.publishedFps)
      } fps, slowest viewer ${f1(r.minFps)} fps, ` +
        `stalled sockets hold <= ${f1(r.stalledMaxBufferedMiB)} MiB, RSS ${
          f1(r.rssMiB)
        } MiB`,
    );
    prev = now;
    prevStats = s;
  }
}

// Wind down: close the display while the stalled sockets are still there
// (the server ends them), then the rest.
publishing = false;
await publisher;
const finalStats = display.stats();
await display.close();
await stallDisplay?.close();
for (const c of stalled) {
  try {
    c.close();
  } catch { /* gone */ }
}
await helper.quit();

// ---------------------------------------------------------------------------
// Report

const steady = rows.slice(1); // the first window includes start-up
const allFps = steady.flatMap((r) => r.fps);
const third = Math.max(1, Math.floor(steady.length / 3));
const p95s = (rs: Row[], k: "latH264" | "latImage") =>
  rs.map((r) => r[k][1]).filter((x): x is number => x !== null);
const firstP95 = mean([
  ...p95s(steady.slice(0, third), "latH264"),
  ...p95s(steady.slice(0, third), "latImage"),
]);
const lastP95 = mean([
  ...p95s(steady.slice(-third), "latH264"),
  ...p95s(steady.slice(-third), "latImage"),
]);
const rssAfter1 = rows.find((r) => r.t >= 60)?.rssMiB ?? rows[0]?.rssMiB ?? 0;
const rssEnd = rows.at(-1)?.rssMiB ?? 0;
const rssMid = rows[Math.floor(rows.length / 2)]?.rssMiB ?? 0;
const medFps = quantile(allFps, 0.5);
const medianOf = (rs: Row[]) => quantile(rs.flatMap((r) => r.fps), 0.5);
const firstFps = medianOf(steady.slice(0, third));
const lastFps = medianOf(steady.slice(-third));
const slowest = steady.reduce(
  (a, r) => Math.min(...r.fps) < Math.min(...a.fps) ? r : a,
  steady[0] ?? rows[0],
);
// Stable means no trend: the figures of the last third against the first.
// A single slow window is reported, not judged: on a shared machine other
// work shows up there (see the load average column).
// The trend checks compare thirds of a long run; a short run (the full
// benchmark's memory part) has too few windows, and RSS still rising from
// start-up, for them to mean anything.
const longRun = minutes >= 5;
const checks: Array<[string, boolean]> = [
  [`every viewer stayed connected`, closedEarly.length === 0],
];
if (longRun) {
  checks.push(
    [
      `frame rate: median of the last third >= 95% of the first third's (${
        f1(lastFps)
      } vs ${f1(firstFps)} fps; overall median ${f1(medFps)})`,
      steady.length < 3 || lastFps >= 0.95 * firstFps,
    ],
    [
      `latency p95 in the last third within 1.5x + 5 ms of the first third (${
        f1(lastP95)
      } vs ${f1(firstP95)} ms)`,
      steady.length < 3 || lastP95 <= firstP95 * 1.5 + 5,
    ],
    [
      `RSS grew < 16 MiB over the second half (${f1(rssMid)} → ${
        f1(rssEnd)
      } MiB; ${f1(rssAfter1)} MiB at 1 min, ${f1(rows[0]?.rssMiB ?? 0)} at ${
        rows[0]?.t ?? 0
      } s)`,
      rssEnd - rssMid < 16,
    ],
  );
}
if (stallRows.length) {
  const stallPeak = Math.max(...stallRows.map((r) => r.rssMiB));
  // Flat: after the first third (the sockets fill, the second display's
  // encoder and pools warm up), the last third sets no new high of 16 MiB.
  const third = Math.max(1, Math.floor(stallRows.length / 3));
  const middlePeak = Math.max(
    ...stallRows.slice(third, -third || undefined).map((r) => r.rssMiB),
  );
  const lastPeak = Math.max(...stallRows.slice(-third).map((r) => r.rssMiB));
  const limit = mib(MAX_BUFFERED) + 1;
  checks.push(
    [
      `stalled sockets held <= maxBufferedBytes + one frame (${
        f1(Math.max(...stallRows.map((r) => r.stalledMaxBufferedMiB)))
      } MiB; maxBufferedBytes ${f1(mib(MAX_BUFFERED))} MiB)`,
      stallRows.every((r) => r.stalledMaxBufferedMiB <= limit),
    ],
    // Against the RSS before them only once start-up growth is over (a
    // long run): in a short one RSS is still rising from start-up.
    ...(longRun
      ? [[
        `RSS with 8 stalled viewers within 64 MiB of before them (${
          f1(stallBaseline)
        } → peak ${f1(stallPeak)} MiB)`,
        stallPeak - stallBaseline < 64,
      ] as [string, boolean]]
      : []),
    [
      `RSS flat while they stay stalled: the last third's peak within 16 MiB of the middle third's (${
        f1(middlePeak)
      } → ${f1(lastPeak)} MiB)`,
      stallRows.length < 3 || lastPeak - middlePeak < 16,
    ],
    [
      `the 8 viewers kept >= 90% of the median rate meanwhile (slowest ${
        f1(Math.min(...stallRows.map((r) => r.minFps)))
      } fps)`,
      stallRows.every((r) => r.minFps >= 0.9 * medFps),
    ],
  );
}
const stable = checks.every(([, ok]) => ok);
const modes = rows[0]?.modes ?? [];
const cells = (r: Row, mode: string) =>
  r.fps.filter((_, i) => (modes[i] === "webcodecs") === (mode === "webcodecs"))
    .map(f1).join(" ");
const mainTable = table(
  [
    "t (s)",
    "published fps",
    "encodes/s",
    "H.264 viewers, fps",
    "image viewers, fps",
    "H.264 latency p50/p95 (ms)",
    "image latency p50/p95 (ms)",
    "IDRs forced",
    "server RSS (MiB)",
    "V8 heap / external (MiB)",
    "load avg",
  ],
  rows.map((r) => [
    `${r.t}`,
    f1(r.publishedFps),
    f1(r.encodesPerS),
    cells(r, "webcodecs"),
    cells(r, "image"),
    `${lat(r.latH264[0])} / ${lat(r.latH264[1])}`,
    `${lat(r.latImage[0])} / ${lat(r.latImage[1])}`,
    `${r.forcedIdr}`,
    f1(r.rssMiB),
    `${f1(r.heapMiB)} / ${f1(r.externalMiB)}`,
    `${r.load}`,
  ]),
);
const stallTable = stallRows.length
  ? table(
    [
      "t (s)",
      "published fps",
      "slowest of the 8 viewers, fps",
      "stalled sockets: most buffered (MiB)",
      "stalled sockets: frames sent",
      "server RSS (MiB)",
    ],
    stallRows.map((r) => [
      `${r.t}`,
      f1(r.publishedFps),
      f1(r.minFps),
      f1(r.stalledMaxBufferedMiB),
      `${r.stalledSent}`,
      f1(r.rssMiB),
    ]),
  )
  : "";
const transports = modes.map((m, i) => `${prev.viewers[i]?.mode}→${m}`).join(
  ", ",
);
const report = [
  `### Soak: ${W}x${H} at ${FPS} fps, 8 viewers, ${minutes} min`,
  "",
  `\`deno run -A bench/soak.ts --minutes ${minutes}\` on ${await cpuModel()}, Deno ${Deno.version.deno}, ${
    new Date().toISOString().slice(0, 16).replace("T", " ")
  } UTC. The scene is rendered live (\`renderScene\`), one frame per tick; viewers run in a subprocess and ack without decoding; latency is publish → received on the same host. Transports: ${transports}. H.264: ${finalStats.h264}; frames published ${finalStats.framesPublished}, encodes ${finalStats.encodes} (mean ${
    f1(finalStats.encodeMsMean)
  } ms), encode failures ${finalStats.encodeFailures}, warnings logged ${warnings.length}.`,
  ...(warnings.length
    ? [
      "",
      `Logged: ${warnings.slice(0, 3).map((w) => `\`${w}\``).join("; ")}${
        warnings.length > 3 ? ` and ${warnings.length - 3} more` : ""
      }.`,
    ]
    : []),
  "",
  `**${stable ? "Stable" : "NOT stable"}:**`,
  "",
  ...checks.map(([what, ok]) => `- ${ok ? "ok" : "FAILED"}: ${what}`),
  "",
  `Slowest 10-s window of any viewer: ${
    f1(Math.min(...(slowest?.fps ?? [0])))
  } fps at t=${slowest?.t} s (load average ${slowest?.load} then; median ${
    f1(medFps)
  } fps).`,
  "",
  mainTable,
  ...(stallRows.length
    ? [
      "",
      `Then ${stallSeconds} s with 8 more viewers that say hello and never read (raw TCP), on a second display of the same frames with maxInflight 64, inflightTimeout 0.05 s and maxBufferedBytes ${
        mib(MAX_BUFFERED)
      } MiB (so the server keeps trying to send to them: the worst case); the 8 viewers above go on:`,
      "",
      stallTable,
    ]
    : []),
].join("\n");
console.log("\n" + report);
if (warnings.length) {
  console.log(`\nfirst warnings:\n${warnings.slice(0, 5).join("\n")}`);
}

if (args.out) {
  await Deno.writeTextFile(args.out, report + "\n");
} else if (!args["no-write"]) {
  const path = new URL("./RESULTS.md", import.meta.url);
  const START = "<!-- soak:start -->", END = "<!-- soak:end -->";
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch {
    text = `# Benchmark results\n\n${START}\n${END}\n`;
  }
  const a = text.indexOf(START), b = text.indexOf(END);
  const section = `${START}\n${report}\n${END}`;
  text = a >= 0 && b > a
    ? text.slice(0, a) + section + text.slice(b + END.length)
    : `${text.trimEnd()}\n\n${section}\n`;
  await Deno.writeTextFile(path, text);
  // Keep the file as `deno fmt` wants it (tables padded), so `deno task
  // check` stays green.
  await formatFiles([path.pathname]);
  console.log(`\nwrote the soak section of ${path.pathname}`);
}
// Exit at once: a Deno process whose WebSocket peers vanished with writes
// pending lingers ~10-15 s before it can exit (Deno's behaviour; the
// display is closed and everything is written).
Deno.exit(0);
