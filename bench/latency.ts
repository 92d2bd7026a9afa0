/**
 * Glass-to-glass latency in real Chromium (`deno task bench latency`, also
 * part of the full run): publish → the frame drawn on the view's canvas, per
 * transport, at 1280x720 and 1920x1080, at 30 and 60 fps, at least
 * `MIN_FRAMES` frames per case, with where the time goes.
 *
 * Each frame's timeline comes from the view's `frame` events:
 * `timestampUs` (the server's `publish()`), `receivedAt` (the message
 * reached the client's worker), `decodedAt` (the VideoFrame left the
 * decoder, or the image's bitmap was ready) and `displayedAt` (drawn on the
 * canvas). Server and page share this host's clock; the offset is measured
 * and printed.
 *
 * @module
 */

import type { Browser } from "playwright-core";
import { serve, silentLogger } from "../mod.ts";
import {
  browserMissing,
  launch,
  waitForExpression,
} from "../tests/_browser.ts";
import { Player, RING } from "./scene.ts";
import { checkTarget, f1, publishAt, quantile, sleep, table } from "./util.ts";

/** Frames drawn per case, at least (over its rounds). */
export const MIN_FRAMES = 300;
const ROUNDS = 3; // fresh pages per case, transports alternating
/** Publishing on a fresh page before a round's window starts, ms. */
export const WARM_MS = 1000;
/** A round stops here even if too few frames were drawn, ms. */
export const CAP_MS = 20_000;
/** The frame rate of the scene's ring (`renderRing()`: one second at 60 fps). */
export const SOURCE_FPS = 60;

/** A transport as the built-in page asks for it. */
export type PageTransport = "webcodecs" | "image";

/** One frame's timeline, ms since the epoch (publish from the server). */
export interface FrameTimeline {
  publishedAt: number;
  receivedAt: number;
  decodedAt: number;
  displayedAt: number;
}

/** One case: size, rate, transport, and what was measured. */
export interface LatencyCase {
  width: number;
  height: number;
  fps: number;
  transport: PageTransport;
  /** Frames published in the measured windows. */
  published: number;
  /** Their timelines, for those drawn. */
  frames: FrameTimeline[];
  /** Median latency per round (a fresh page each). */
  roundP50: number[];
  /** Frames drawn per second of measured window. */
  displayedFps: number;
  /** Median latency of the last third of the frames minus the first third's. */
  trendMs: number;
  /** Page clock − server clock, ms, and its uncertainty. */
  clock: { offset: number; error: number };
}

/** What `latencyBenchmark` returns: the Markdown and the raw cases. */
export interface LatencyReport {
  text: string;
  cases: LatencyCase[];
}

/** Latencies (ms) of a case's frames. */
export const latencies = (c: LatencyCase): number[] =>
  c.frames.map((f) => f.displayedAt - f.publishedAt);

const epochMs = () => performance.timeOrigin + performance.now();

/**
 * Page clock − our clock: the best of a few round trips.
 *
 * @example
 * ```ts ignore
 * const { offset, error } = await clockOffset(page);
 * ```
 */
export async function clockOffset(
  page: import("playwright-core").Page,
): Promise<{ offset: number; error: number }> {
  let best = { rtt: Infinity, offset: 0 };
  for (let k = 0; k < 7; k++) {
    const a = epochMs();
    const p = await page.evaluate(
      `performance.timeOrigin + performance.now()`,
    ) as number;
    const b = epochMs();
    if (b - a < best.rtt) best = { rtt: b - a, offset: p - (a + b) / 2 };
  }
  return { offset: best.offset, error: best.rtt / 2 };
}

/** A served display as a latency round drives it. */
export interface LatencyTarget {
  /** The display's viewer page. */
  url: string;
  /** Frame width (the page's viewport). */
  width: number;
  /** Frame height. */
  height: number;
  /** Publish one frame. */
  publish(frame: Uint8Array): void;
}

/** What one round (one fresh page) measured. */
export interface LatencyRound {
  /** Frames published in the measured window. */
  published: number;
  /** The measured window, ms. */
  windowMs: number;
  /** Timelines of the window's frames that were drawn. */
  frames: FrameTimeline[];
  /** Page clock − server clock, ms, and its uncertainty. */
  clock: { offset: number; error: number };
}

/**
 * One round: a fresh Chromium page on `target.url` with `?transport=`,
 * `WARM_MS` of publishing at `fps`, then publishing in one-second slices
 * until `want` frames of the window are drawn (at most `CAP_MS`).
 *
 * @example
 * ```ts ignore
 * const display = await serve(1280, 720, { port: 0, fps: 30 });
 * const r = await latencyRound(browser, {
 *   url: display.url!, width: 1280, height: 720,
 *   publish: (f) => display.publish(f),
 * }, "webcodecs", () => ring[player.next()], 30, 50);
 * ```
 */
export async function latencyRound(
  browser: Browser,
  target: LatencyTarget,
  transport: PageTransport,
  next: () => Uint8Array,
  fps: number,
  want: number,
): Promise<LatencyRound> {
  const page = await browser.newPage({
    viewport: { width: target.width, height: target.height },
    deviceScaleFactor: 1,
  });
  try {
    await page.goto(`${target.url}?transport=${transport}`);
    // Polled from outside: the page's policy refuses waitForFunction's eval.
    await waitForExpression(
      page,
      `globalThis.rfb?.view.status === "negotiated"`,
      { timeout: 15_000 },
    );
    const chosen = await page.evaluate(`globalThis.rfb.view.config?.transport`);
    if (chosen !== transport) {
      throw new Error(`asked for ${transport}, the server chose ${chosen}`);
    }
    await page.evaluate(`(() => {
      globalThis.__frames = [];
      globalThis.rfb.view.addEventListener("frame", (e) => {
        const d = e.detail;
        if (d.latencyMs !== null) {
          __frames.push([d.timestampUs, d.receivedAt, d.decodedAt, d.displayedAt]);
        }
      });
    })()`);
    const publish = (f: Uint8Array) => target.publish(f);
    await publishAt(publish, next, fps, WARM_MS);
    const startUs = epochMs() * 1000;
    const t0 = performance.now();
    let published = 0;
    // Publish in one-second slices until enough frames of the window are drawn.
    while (performance.now() - t0 < CAP_MS) {
      published += await publishAt(publish, next, fps, 1000);
      const drawn = await page.evaluate(
        `globalThis.__frames.filter(([ts]) => ts >= ${startUs}).length`,
      ) as number;
      if (drawn >= want) break;
    }
    const windowMs = performance.now() - t0;
    const endUs = epochMs() * 1000;
    await sleep(300); // the last frames reach the canvas
    const raw = await page.evaluate(`globalThis.__frames`) as number[][];
    const clock = await clockOffset(page);
    const frames = raw
      .filter(([ts]) => ts >= startUs && ts <= endUs)
      .map(([ts, r, d, s]) => ({
        publishedAt: ts / 1000,
        receivedAt: r - clock.offset,
        decodedAt: d - clock.offset,
        displayedAt: s - clock.offset,
      }));
    return { published, windowMs, frames, clock };
  } finally {
    await page.close();
  }
}

function median(xs: number[]): number {
  return quantile(xs, 0.5);
}

/** The cases measured, in order. */
export const CASES: ReadonlyArray<
  { width: number; height: number; fps: number }
> = [
  { width: 1280, height: 720, fps: 30 },
  { width: 1280, height: 720, fps: 60 },
  { width: 1920, height: 1080, fps: 30 },
  { width: 1920, height: 1080, fps: 60 },
];

/**
 * Run every case: one `serve()` display per size and rate, fresh Chromium
 * pages per round, transports alternating.
 *
 * @example
 * ```ts ignore
 * const report = await latencyBenchmark(new Map([["1280x720", renderRing(1280, 720)]]));
 * console.log(report.text);
 * ```
 */
export async function latencyBenchmark(
  rings: Map<string, Uint8Array[]>,
  cases = CASES,
): Promise<LatencyReport> {
  const head = [
    "## Glass-to-glass latency in Chromium",
    "",
  ];
  const missing = browserMissing();
  if (missing) {
    return { text: [...head, `Skipped: ${missing}.`].join("\n"), cases: [] };
  }
  const transports: PageTransport[] = ["webcodecs", "image"];
  const out: LatencyCase[] = [];
  const browser = await launch();
  const chromium = browser.version();
  try {
    for (const { width, height, fps } of cases) {
      const ring = rings.get(`${width}x${height}`);
      if (!ring) throw new Error(`no frames for ${width}x${height}`);
      const display = await serve(width, height, {
        port: 0,
        logger: silentLogger,
        stillAfter: false,
        fps,
      });
      const player = new Player(RING, SOURCE_FPS / fps);
      const next = () => ring[player.next()];
      const target: LatencyTarget = {
        url: display.url!,
        width,
        height,
        publish: (f) => display.publish(f),
      };
      const rounds = transports.map(() => [] as LatencyRound[]);
      try {
        for (let r = 0; r < ROUNDS; r++) {
          for (let i = 0; i < transports.length; i++) {
            rounds[i].push(
              await latencyRound(
                browser,
                target,
                transports[i],
                next,
                fps,
                Math.ceil(MIN_FRAMES / ROUNDS),
              ),
            );
          }
        }
      } finally {
        await display.close();
      }
      transports.forEach((transport, i) => {
        const rs = rounds[i];
        const frames = rs.flatMap((r) => r.frames);
        const lat = (fs: FrameTimeline[]) =>
          fs.map((f) => f.displayedAt - f.publishedAt);
        const third = Math.floor(frames.length / 3);
        const worst = rs.reduce(
          (a, r) => r.clock.error > a.error ? r.clock : a,
          rs[0].clock,
        );
        out.push({
          width,
          height,
          fps,
          transport,
          published: rs.reduce((a, r) => a + r.published, 0),
          frames,
          roundP50: rs.map((r) => median(lat(r.frames))),
          displayedFps: frames.length /
            (rs.reduce((a, r) => a + r.windowMs, 0) / 1000),
          trendMs: median(lat(frames.slice(-third))) -
            median(lat(frames.slice(0, third))),
          clock: worst,
        });
      });
    }
  } finally {
    await browser.close();
  }
  for (const c of out.filter((c) => c.width === 1280)) {
    const lat = latencies(c);
    const name = c.transport === "webcodecs" ? "H.264" : "JPEG";
    const p50 = quantile(lat, 0.5), p95 = quantile(lat, 0.95);
    const limit = c.transport === "webcodecs" ? 16 : 25;
    checkTarget(
      `Latency 1280x720 ${c.fps} fps, ${name}: p50 <= ${limit} ms`,
      `${f1(p50)} ms`,
      p50 <= limit,
    );
    checkTarget(
      `Latency 1280x720 ${c.fps} fps, ${name}: p95 <= 33 ms`,
      `${f1(p95)} ms`,
      p95 <= 33,
    );
  }
  return {
    text: [...head, describe(chromium), "", render(out)].join("\n"),
    cases: out,
  };
}

function describe(chromium: string): string {
  return `One \`serve()\` display per size and rate (transport auto, JPEG ` +
    "q80, H.264 at the display's default bitrate, stillAfter false); " +
    `Chromium ${chromium} (headless, --disable-gpu, so WebCodecs decodes ` +
    "in software; window the frame's size, DPR 1) opens the display's own " +
    "page with `?transport=webcodecs` or `?transport=image`. " +
    `${ROUNDS} rounds per case on fresh pages, transports alternating; ` +
    `each round ${WARM_MS / 1000} s of warm-up, then publishing until ` +
    `${Math.ceil(MIN_FRAMES / ROUNDS)} frames of the window are drawn ` +
    `(at most ${CAP_MS / 1000} s). Latency = drawn on the view's canvas ` +
    "(the worker's `displayedAt`) − `publish()` (`timestamp_us`), per " +
    "frame; the compositor putting the canvas on screen (up to one " +
    "display refresh) is not included. The split: publish → the message " +
    "in the client's worker (encode, send, socket, dispatch), → decoded, " +
    "→ drawn. Frames dropped on the way (newest wins) do not count.";
}

function render(cases: LatencyCase[]): string {
  const rows = cases.map((c) => {
    const lat = latencies(c);
    const part = (f: (x: FrameTimeline) => number) =>
      f1(median(c.frames.map(f)));
    return [
      `${c.width}x${c.height}`,
      `${c.fps}`,
      c.transport === "webcodecs" ? "H.264" : "JPEG",
      `${c.frames.length} / ${c.published}`,
      f1(c.displayedFps),
      f1(quantile(lat, 0.5)),
      f1(quantile(lat, 0.95)),
      f1(quantile(lat, 0.99)),
      c.roundP50.map(f1).join(", "),
      part((f) => f.receivedAt - f.publishedAt),
      part((f) => f.decodedAt - f.receivedAt),
      part((f) => f.displayedAt - f.decodedAt),
      `${c.trendMs >= 0 ? "+" : ""}${f1(c.trendMs)}`,
      `${f1(c.clock.offset)} ± ${f1(c.clock.error)}`,
    ];
  });
  return table(
    [
      "size",
      "fps",
      "transport",
      "drawn / published",
      "drawn fps",
      "p50 ms",
      "p95",
      "p99",
      "p50 per round",
      "→ worker p50",
      "→ decoded",
      "→ drawn",
      "trend (last − first third)",
      "clock offset",
    ],
    rows,
  );
}

if (import.meta.main) {
  const { renderRing } = await import("./scene.ts");
  const only = Deno.args.includes("720")
    ? CASES.filter((c) => c.width === 1280)
    : CASES;
  const rings = new Map<string, Uint8Array[]>();
  for (const { width, height } of only) {
    const key = `${width}x${height}`;
    if (!rings.has(key)) rings.set(key, renderRing(width, height));
  }
  console.log((await latencyBenchmark(rings, only)).text);
}
