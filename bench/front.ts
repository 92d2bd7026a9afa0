/**
 * The fronts part of the benchmarks (`deno task bench front`): the two
 * candidate network fronts of issue 13 side by side, in one run, their
 * measurements alternating so that drift on the machine falls on both:
 *
 * - A: `serve()`, the library's own listener (`node:http` + `npm:ws`,
 *   src/http/front.ts);
 * - B: `new Display()` mounted with `handler()` in
 *   `Deno.serve({ port: 0, hostname: "127.0.0.1" }, …)` (the socket from
 *   `Deno.upgradeWebSocket`).
 *
 * Measured: server CPU per frame with 1, 8 and 32 viewers in a separate
 * process (bench/cost.ts's `serverCpu()`) on the image path (1280x720 JPEG
 * q80) and the H.264 path (1280x720), and glass-to-glass latency in
 * Chromium on both transports at 1280x720 30 fps (bench/latency.ts's
 * `latencyRound()`). The issue's condition: A no more than 10% worse than
 * B (CPU and latency: lower is better).
 *
 * @module
 */

import type { Browser } from "playwright-core";
import {
  Display,
  type DisplayOptions,
  handler,
  serve,
  silentLogger,
} from "../mod.ts";
import { browserMissing, launch } from "../tests/_browser.ts";
import { type CpuRun, serverCpu } from "./cost.ts";
import {
  CAP_MS,
  type LatencyRound,
  latencyRound,
  type PageTransport,
  SOURCE_FPS,
  WARM_MS as ROUND_WARM_MS,
} from "./latency.ts";
import { Player, renderRing, RING } from "./scene.ts";
import {
  checkTarget,
  f1,
  f2,
  loadavg,
  LoadMeter,
  quantile,
  table,
  wsUrl,
} from "./util.ts";
import type { ViewerMode } from "./viewers.ts";

const WIDTH = 1280, HEIGHT = 720;
const FPS = 30;
/** The issue's margin: A may be at most this much worse than B. */
const MARGIN = 1.1;

/** How much the fronts part measures (the defaults are what a run uses). */
export interface FrontSettings {
  /** Viewer counts for the CPU tables. */
  viewers: readonly number[];
  /** CPU: rounds per front and case (A,B then B,A, ...). */
  cpuRounds: number;
  /** CPU: the measured stretch of one round, ms. */
  cpuMs: number;
  /** CPU: publishing before it, ms. */
  cpuWarmMs: number;
  /** Latency: fresh pages per front and transport (A,B then B,A, ...). */
  latencyRounds: number;
  /** Latency: frames drawn per round, at least. */
  latencyFrames: number;
}

/** What `deno task bench front` measures. */
export const FRONT_SETTINGS: Readonly<FrontSettings> = Object.freeze({
  viewers: [1, 8, 32],
  cpuRounds: 2,
  cpuMs: 4000,
  cpuWarmMs: 1000,
  latencyRounds: 4,
  latencyFrames: 40,
});

type FrontName = "A" | "B";

/** A display served by one front. */
interface Served {
  display: Display;
  /** The listener's port. */
  port: number;
  /** The display's viewer page. */
  url: string;
  /** Close the display and its listener. */
  close(): Promise<void>;
}

const FRONTS: Record<FrontName, {
  label: string;
  open(options: DisplayOptions): Promise<Served>;
}> = {
  A: {
    label: "`serve()`: node:http + ws",
    async open(options) {
      const display = await serve(WIDTH, HEIGHT, { ...options, port: 0 });
      return {
        display,
        port: display.port!,
        url: display.url!,
        close: () => display.close(),
      };
    },
  },
  B: {
    label: "`handler()` in `Deno.serve`",
    open(options) {
      const display = new Display(WIDTH, HEIGHT, options);
      const server = Deno.serve(
        { port: 0, hostname: "127.0.0.1", onListen: () => {} },
        handler(display, {
          allowedHosts: ["loopback"],
          logger: silentLogger,
        }),
      );
      const port = server.addr.port;
      return Promise.resolve({
        display,
        port,
        url: `http://127.0.0.1:${port}/`,
        close: async () => {
          await display.close();
          await server.shutdown();
        },
      });
    },
  },
};

/** Both fronts, in the order of round `r` (A first on even rounds). */
const order = (r: number): FrontName[] => r % 2 ? ["B", "A"] : ["A", "B"];

const BASE: DisplayOptions = {
  logger: silentLogger,
  stillAfter: false,
  fps: FPS,
};

const PATHS: ReadonlyArray<{
  label: string;
  mode: ViewerMode;
  options: DisplayOptions;
}> = [
  {
    label: "image, JPEG q80",
    mode: "rfb",
    options: {
      ...BASE,
      transport: "image",
      imageFormat: "jpeg",
      quality: 80,
    },
  },
  {
    label: "H.264",
    mode: "h264",
    options: { ...BASE, transport: "webcodecs" },
  },
];

/** A/B, formatted, with whether it is within the margin. */
interface Ratio {
  /** Where it was measured, for the verdict. */
  where: string;
  value: number;
}

const ratioCell = (r: Ratio): string =>
  `${f2(r.value)}${r.value > MARGIN ? " (over)" : ""}`;

/** Server CPU per frame on both fronts, alternating. */
async function cpuSection(
  ring: Uint8Array[],
  s: FrontSettings,
  ratios: Ratio[],
): Promise<string> {
  const rows: string[][] = [];
  for (const path of PATHS) {
    for (const n of s.viewers) {
      const runs: Record<FrontName, CpuRun[]> = { A: [], B: [] };
      for (let r = 0; r < s.cpuRounds; r++) {
        for (const f of order(r)) {
          const served = await FRONTS[f].open(path.options);
          const player = new Player(RING, SOURCE_FPS / FPS);
          runs[f].push(
            await serverCpu({
              url: wsUrl(served),
              publish: (frame) => served.display.publish(frame),
              encodes: () => served.display.stats().encodes,
              close: () => served.close(),
            }, {
              viewers: n,
              mode: path.mode,
              next: () => ring[player.next()],
              fps: FPS,
              warmMs: s.cpuWarmMs,
              ms: s.cpuMs,
            }),
          );
        }
      }
      const sum = (rs: CpuRun[], key: (r: CpuRun) => number) =>
        rs.reduce((a, r) => a + key(r), 0);
      const perFrame = (rs: CpuRun[]) =>
        sum(rs, (r) => r.cpu) / sum(rs, (r) => r.published);
      // Frames every viewer received / frames it could have received.
      const delivered = (rs: CpuRun[]) =>
        sum(rs, (r) => r.frames.reduce((a, b) => a + b, 0)) /
        sum(rs, (r) => r.published * r.frames.length);
      const a = perFrame(runs.A), b = perFrame(runs.B);
      const ratio = { where: `CPU, ${path.label}, ${n} viewers`, value: a / b };
      ratios.push(ratio);
      rows.push([
        path.label,
        `${n}`,
        f2(a),
        f2(b),
        ratioCell(ratio),
        runs.A.map((r, i) =>
          f2((r.cpu / r.published) / (runs.B[i].cpu / runs.B[i].published))
        ).join(", "),
        `${Math.round(delivered(runs.A) * 100)}% / ${
          Math.round(delivered(runs.B) * 100)
        }%`,
      ]);
    }
  }
  return [
    `### Server CPU per frame, ${WIDTH}x${HEIGHT}, ${FPS} fps`,
    "",
    "Per front and case a fresh display (stillAfter false, fps " +
    `${FPS}; image: transport image, JPEG q80; H.264: transport webcodecs, ` +
    "default bitrate) in this process; N viewers in a separate Deno " +
    "process (bench/viewers.ts; H.264 viewers read and ack chunk headers, " +
    "no decoding). The scene's ring (bench/scene.ts) published at " +
    `${FPS} fps for ${s.cpuMs / 1000} s after ${s.cpuWarmMs / 1000} s ` +
    "warm-up. CPU = user + system time of this process (all threads) / " +
    `frames published, summed over ${s.cpuRounds} rounds per front, the ` +
    "fronts alternating (A,B then B,A). Delivered = frames the viewers " +
    "received / frames published × viewers.",
    "",
    table(
      [
        "path",
        "viewers",
        "A CPU ms/frame",
        "B CPU ms/frame",
        "A/B",
        "A/B per round",
        "delivered A / B",
      ],
      rows,
    ),
  ].join("\n");
}

interface LatencyCell {
  rounds: LatencyRound[];
}

const latencyMs = (rs: LatencyRound[]) =>
  rs.flatMap((r) => r.frames.map((f) => f.displayedAt - f.publishedAt));

/** Glass-to-glass latency on both fronts and transports, alternating. */
async function latencySection(
  ring: Uint8Array[],
  s: FrontSettings,
  ratios: Ratio[],
): Promise<string> {
  const head =
    `### Glass-to-glass latency in Chromium, ${WIDTH}x${HEIGHT} ${FPS} fps`;
  const missing = browserMissing();
  if (missing) return `${head}\n\nSkipped: ${missing}.`;
  const transports: PageTransport[] = ["webcodecs", "image"];
  const served = { A: await FRONTS.A.open(BASE), B: await FRONTS.B.open(BASE) };
  const cells = new Map<string, LatencyCell>();
  const cell = (f: FrontName, t: PageTransport) => {
    const key = `${f} ${t}`;
    if (!cells.has(key)) cells.set(key, { rounds: [] });
    return cells.get(key)!;
  };
  let browser: Browser | null = null;
  let chromium = "?";
  try {
    browser = await launch();
    chromium = browser.version();
    // Round -1 warms Chromium, its decoders and both fronts up; not kept.
    for (let r = -1; r < s.latencyRounds; r++) {
      for (const t of transports) {
        for (const f of order(r + 1)) {
          const d = served[f];
          const player = new Player(RING, SOURCE_FPS / FPS);
          const round = await latencyRound(
            browser,
            {
              url: d.url,
              width: WIDTH,
              height: HEIGHT,
              publish: (frame) => d.display.publish(frame),
            },
            t,
            () => ring[player.next()],
            FPS,
            s.latencyFrames,
          );
          if (r >= 0) cell(f, t).rounds.push(round);
        }
      }
    }
  } finally {
    await browser?.close();
    await served.A.close();
    await served.B.close();
  }
  const rows = transports.map((t) => {
    const a = cell("A", t).rounds, b = cell("B", t).rounds;
    const la = latencyMs(a), lb = latencyMs(b);
    const name = t === "webcodecs" ? "H.264" : "JPEG";
    const p = (xs: number[], q: number) => quantile(xs, q);
    const r50 = {
      where: `latency p50, ${name}`,
      value: p(la, 0.5) / p(lb, 0.5),
    };
    const r95 = {
      where: `latency p95, ${name}`,
      value: p(la, 0.95) / p(lb, 0.95),
    };
    ratios.push(r50, r95);
    const count = (rs: LatencyRound[]) =>
      `${rs.reduce((n, r) => n + r.frames.length, 0)} / ${
        rs.reduce((n, r) => n + r.published, 0)
      }`;
    const roundP50 = (rs: LatencyRound[]) =>
      rs.map((r) => f1(p(latencyMs([r]), 0.5))).join(", ");
    return [
      name,
      f1(p(la, 0.5)),
      f1(p(lb, 0.5)),
      ratioCell(r50),
      f1(p(la, 0.95)),
      f1(p(lb, 0.95)),
      ratioCell(r95),
      `${count(a)}; ${count(b)}`,
      roundP50(a),
      roundP50(b),
    ];
  });
  return [
    head,
    "",
    "One display per front (transport auto, JPEG q80, H.264 at the " +
    `default bitrate, fps ${FPS}, stillAfter false), both open through the ` +
    `section; Chromium ${chromium} (headless, --disable-gpu: WebCodecs ` +
    "decodes in software) opens the display's page with `?transport=`. " +
    `${s.latencyRounds} rounds per front and transport on fresh pages ` +
    "after one warm-up round that is not kept, the fronts alternating " +
    "(A,B then B,A); each round as in the latency " +
    `part: ${ROUND_WARM_MS / 1000} s of warm-up, then publishing until ` +
    `${s.latencyFrames} frames of the window are drawn (at most ` +
    `${CAP_MS / 1000} s), so at least ${
      s.latencyRounds * s.latencyFrames
    } frames per front and transport (the table says how many). ` +
    "Latency = drawn on the view's " +
    "canvas − `publish()`, per frame.",
    "",
    table(
      [
        "transport",
        "A p50 ms",
        "B p50 ms",
        "A/B",
        "A p95 ms",
        "B p95 ms",
        "A/B",
        "drawn / published, A; B",
        "A p50 per round",
        "B p50 per round",
      ],
      rows,
    ),
  ].join("\n");
}

/**
 * Run the fronts part and return its Markdown (printed as it goes).
 *
 * @example
 * ```ts ignore
 * import { frontBenchmark } from "./front.ts";
 * console.log(await frontBenchmark());
 * ```
 */
export async function frontBenchmark(
  rings: Map<string, Uint8Array[]> = new Map(),
  settings: FrontSettings = FRONT_SETTINGS,
): Promise<string> {
  const ring = rings.get(`${WIDTH}x${HEIGHT}`) ?? renderRing(WIDTH, HEIGHT);
  const started = performance.now();
  const ratios: Ratio[] = [];
  const sections: string[] = [
    "## Fronts: node:http + ws (A) against Deno.serve (B)",
    "",
    `- A: ${FRONTS.A.label} (src/http/front.ts), what the library's own ` +
    "listener uses.",
    `- B: ${FRONTS.B.label}: \`new Display()\` mounted with ` +
    '`handler(display, { allowedHosts: ["loopback"] })` in ' +
    '`Deno.serve({ port: 0, hostname: "127.0.0.1" })` ' +
    "(`Deno.upgradeWebSocket`).",
    `- load average at start (1/5/15 min): ${loadavg()}`,
  ];
  const others: string[] = [];
  const measured = async (
    name: string,
    run: () => Promise<string>,
  ): Promise<void> => {
    const meter = await LoadMeter.start();
    const text = await run();
    const load = await meter.stop();
    const pct = (v: number) => `${Math.round(v * 100)}%`;
    others.push(`${name} ${pct(load.others)}`);
    const note = "Share of the machine's CPU time during this section: " +
      `this benchmark (viewers and Chromium included) ${pct(load.ours)}, ` +
      `other processes ${pct(load.others)}.`;
    sections.push("", text, "", note);
    console.log(`${text}\n\n${note}\n`);
  };
  console.log(sections.join("\n") + "\n");
  await measured("CPU", () => cpuSection(ring, settings, ratios));
  await measured("latency", () => latencySection(ring, settings, ratios));
  const over = ratios.filter((r) => r.value > MARGIN);
  const worst = ratios.reduce((w, r) => r.value > w.value ? r : w);
  const worstText = `worst A/B ${f2(worst.value)}x (${worst.where})`;
  checkTarget(
    "Fronts: node:http + ws (A) within 10% of Deno.serve (B), CPU per frame and latency p50/p95 (issue 13)",
    worstText,
    over.length === 0,
  );
  sections.push(
    "",
    "### Verdict",
    "",
    over.length === 0
      ? `A is within 10% of B everywhere: A/B <= ${MARGIN} in all ` +
        `${ratios.length} cells (lower is better for both metrics); ` +
        `${worstText}.`
      : `A is NOT within 10% of B in ${over.length} of ${ratios.length} ` +
        `cells (A/B > ${MARGIN}; lower is better for both metrics): ${
          over.map((r) => `${r.where} ${f2(r.value)}x`).join("; ")
        }.`,
    "",
    `Time for the fronts part: ${
      f1((performance.now() - started) / 60_000)
    } min; load average at the end: ${loadavg()}; other processes' share ` +
      `of the CPU per section: ${others.join(", ")}.`,
  );
  return sections.join("\n");
}

if (import.meta.main) console.log(await frontBenchmark());
