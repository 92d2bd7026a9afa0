/**
 * The benchmarks: `deno task bench` runs every part in one run and writes
 * `bench/RESULTS.md` (keeping the soak section, which bench/soak.ts writes)
 * and the chart `bench/results.svg`; `deno task bench <part>...` runs only
 * those parts and writes `bench/out/<parts>.md`. Parts, in order:
 *
 * - floors (bench/floors.ts): copy, sharp, node-av conversion + x264, and
 *   Chromium's decode on their own.
 * - image (this file): A, sharp called directly vs our `encodeImage()` vs
 *   the whole server; B, server CPU per frame with 1, 8 and 32 viewers; C,
 *   frame rate with 8 viewers against a per-viewer JPEG + base64 baseline
 *   (jupyter_rfb's approach).
 * - h264 (bench/h264.ts): x264 vs the server, bytes and PSNR, CPU with
 *   1/8/32 viewers against one encoder per viewer (pdum.rfb's approach),
 *   sustained frame rate.
 * - latency (bench/latency.ts): glass-to-glass in Chromium per transport,
 *   720p and 1080p, 30 and 60 fps.
 * - gpu (bench/gpu.ts): the WebGPU path.
 * - memory: a short soak with 8 stalled viewers.
 *
 * Every target of ../shared/DESIGN.md that a part checks is collected into
 * the summary at the top.
 *
 * @module
 */

import process from "node:process";
import sharp from "sharp";
import { type Display, type ImageFormat, serve, silentLogger } from "../mod.ts";
import { encodeImage } from "../src/encoders/image.ts";
import { serveBaseline } from "./baseline.ts";
import { chartSvg } from "./chart.ts";
import { floorsBenchmark } from "./floors.ts";
import { type CostRow, h264Benchmark } from "./h264.ts";
import { latencies, latencyBenchmark, type LatencyReport } from "./latency.ts";
import { renderRing, renderScene } from "./scene.ts";
import {
  checkTarget,
  cpuModel,
  cpuMs,
  f1,
  f2,
  mean,
  met,
  publishAt as publishAtRate,
  quantile,
  sleep,
  table,
  targetChecks,
} from "./util.ts";
import { type Mark, openViewer, spawnViewers } from "./viewers.ts";

type Img = ReturnType<typeof sharp>;
const RING = 8; // distinct pre-rendered frames, cycled
const SIZES: ReadonlyArray<readonly [number, number]> = [
  [1280, 720],
  [1920, 1080],
];
const ROUNDS_A = 8; // table A: interleaved rounds (plus one warm-up round)
const PER_ROUND_A = 5; // frames per method per round
const B_VIEWERS = [1, 8, 32];
const B_FPS = 30;
const B_SECONDS = 4;
const C_VIEWERS = 8;
const C_ROUNDS = 2; // ours, baseline, ours, baseline
const C_SECONDS = 2.5;
const WARM_MS = 1000;

const FORMATS: ReadonlyArray<{
  format: ImageFormat;
  label: string;
  direct: (img: Img) => Img;
}> = [
  {
    format: "jpeg",
    label: "JPEG q80 4:2:0",
    direct: (img) =>
      img.jpeg({ quality: 80, chromaSubsampling: "4:2:0", mozjpeg: false }),
  },
  {
    format: "png",
    label: "PNG level 1",
    direct: (img) => img.png({ compressionLevel: 1, adaptiveFiltering: false }),
  },
  {
    format: "webp",
    label: "WebP q80 effort 0",
    direct: (img) => img.webp({ quality: 80, effort: 0 }),
  },
];

function sceneFrames(width: number, height: number): Uint8Array[] {
  return Array.from({ length: RING }, (_, i) => {
    const rgba = new Uint8Array(width * height * 4);
    renderScene(rgba, width, height, 2 + i / 6);
    return rgba;
  });
}

let frameCounter = 0;
const nextFrame = (ring: Uint8Array[]) => ring[frameCounter++ % ring.length];

function serveImage(
  width: number,
  height: number,
  imageFormat: ImageFormat,
): Promise<Display> {
  return serve(width, height, {
    port: 0,
    logger: silentLogger,
    stillAfter: false,
    transport: "image",
    imageFormat,
    quality: 80,
  });
}

const wsUrl = (d: Display) => `ws://127.0.0.1:${d.port}/`;
/** Frames per second each viewer received between two marks. */
function rates(a: Mark, b: Mark): number[] {
  const s = (b.at - a.at) / 1000;
  return b.frames.map((n, i) => (n - a.frames[i]) / s);
}

async function machineInfo(): Promise<string> {
  const render = SIZES.map(([w, h]) => {
    const buf = new Uint8Array(w * h * 4);
    const ms: number[] = [];
    for (let i = 0; i < 20; i++) {
      const t0 = performance.now();
      renderScene(buf, w, h, i / 30);
      ms.push(performance.now() - t0);
    }
    return `${w}x${h} ${f1(quantile(ms, 0.5))} ms`;
  });
  return [
    "## Image path",
    "",
    `- date: ${new Date().toISOString()}`,
    `- Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${Deno.build.os}/${Deno.build.arch}`,
    `- CPU: ${await cpuModel()}`,
    `- sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, sharp.concurrency() = ${sharp.concurrency()}`,
    `- test scene (bench/scene.ts) render time: ${render.join(", ")}`,
  ].join("\n");
}

/** Table A: sharp direct vs encodeImage vs the whole server, per format and size. */
async function tableA(): Promise<string> {
  const rows: string[][] = [];
  for (const [width, height] of SIZES) {
    const ring = sceneFrames(width, height);
    const cells = await Promise.all(FORMATS.map(async (fmt) => {
      const display = await serveImage(width, height, fmt.format);
      const viewer = await openViewer(wsUrl(display), "rfb");
      return {
        fmt,
        display,
        viewer,
        direct: [] as number[],
        ours: [] as number[],
        server: [] as number[],
        bytes: [] as number[],
        serverWall: 0,
      };
    }));
    type Cell = (typeof cells)[number];
    const direct = async (c: Cell, keep: boolean) => {
      for (let i = 0; i < PER_ROUND_A; i++) {
        const data = nextFrame(ring);
        const t0 = performance.now();
        const out = await c.fmt.direct(
          sharp(data, { raw: { width, height, channels: 4 } }),
        ).toBuffer();
        if (keep) {
          c.direct.push(performance.now() - t0);
          c.bytes.push(out.length);
        }
      }
    };
    const ours = async (c: Cell, keep: boolean) => {
      for (let i = 0; i < PER_ROUND_A; i++) {
        const data = nextFrame(ring);
        const frame = {
          data,
          width,
          height,
          channels: 4 as const,
          version: 1,
          timestampUs: 0,
          pixelRatio: 1,
          yuv: null,
        };
        const t0 = performance.now();
        await encodeImage(frame, { format: c.fmt.format, quality: 80 });
        if (keep) c.ours.push(performance.now() - t0);
      }
    };
    const server = async (c: Cell, keep: boolean) => {
      const start = performance.now();
      for (let i = 0; i < PER_ROUND_A; i++) {
        const data = nextFrame(ring);
        const got = c.viewer.nextFrame();
        const t0 = performance.now();
        c.display.publish(data);
        const frame = await got;
        if (keep) c.server.push(performance.now() - t0);
        if (frame.mime !== `image/${c.fmt.format}`) {
          throw new Error(`expected image/${c.fmt.format}, got ${frame.mime}`);
        }
      }
      if (keep) c.serverWall += performance.now() - start;
    };
    const methods = [direct, ours, server];
    for (let round = -1; round < ROUNDS_A; round++) {
      const keep = round >= 0; // round -1 warms up
      for (const c of cells) {
        // Rotate the order each round so no method always runs first.
        for (let j = 0; j < methods.length; j++) {
          await methods[(j + round + 1) % methods.length](c, keep);
        }
      }
    }
    for (const c of cells) {
      await c.viewer.close();
      await c.display.close();
      const direct = quantile(c.direct, 0.5), server = quantile(c.server, 0.5);
      const ratio = server / direct;
      rows.push([
        `${width}x${height}`,
        c.fmt.label,
        f1(direct),
        f1(quantile(c.direct, 0.95)),
        f1(quantile(c.ours, 0.5)),
        f1(quantile(c.ours, 0.95)),
        f1(server),
        f1(quantile(c.server, 0.95)),
        f1(c.server.length / c.serverWall * 1000),
        checkTarget(
          `Image: server time <= 1.5x sharp's, ${width}x${height} ${c.fmt.label}`,
          `${f2(ratio)}x`,
          ratio <= 1.5,
        ),
        f1(quantile(c.bytes, 0.5) / 1024),
      ]);
    }
  }
  return [
    "## A. Encode time per frame (ms), sharp vs encodeImage vs the whole server",
    "",
    `Median and p95 over ${
      ROUNDS_A * PER_ROUND_A
    } frames per cell after one warm-up round; ` +
    `the three methods are interleaved in rounds of ${PER_ROUND_A} frames, their order rotating each round. ` +
    "(a) sharp called directly with the settings of src/encoders/image.ts; " +
    "(b) our `encodeImage()`; (c) a `serve()` display (stillAfter: false) " +
    "with one in-process WebSocket viewer that acks every frame, timed from " +
    "`publish()` until the viewer has the frame, the next publish right after " +
    "(closed loop). Target: (c) <= 1.5x (a).",
    "",
    table(
      [
        "size",
        "format",
        "(a) sharp p50",
        "(a) p95",
        "(b) encodeImage p50",
        "(b) p95",
        "(c) server p50",
        "(c) p95",
        "(c) fps",
        "(c)/(a) p50, target <= 1.5x",
        "KiB/frame",
      ],
      rows,
    ),
  ].join("\n");
}

/** Publish frames from `ring` at `fps` for `ms`; returns how many. */
function publishAt(
  display: Display,
  ring: Uint8Array[],
  fps: number,
  ms: number,
): Promise<number> {
  return publishAtRate(
    (f) => display.publish(f),
    () => nextFrame(ring),
    fps,
    ms,
  );
}

/** Table B's CPU ms per published frame against viewers, for the chart. */
let imageCost: Array<[number, number]> = [];

/** Table B: server CPU per frame against the number of viewers. */
async function tableB(ring: Uint8Array[]): Promise<string> {
  const results: {
    n: number;
    published: number;
    encodes: number;
    perViewer: number[];
    cpu: number;
    sys: number;
    wall: number;
  }[] = [];
  for (const n of B_VIEWERS) {
    const display = await serveImage(1280, 720, "jpeg");
    const viewers = await spawnViewers(wsUrl(display), n, "rfb");
    await publishAt(display, ring, B_FPS, WARM_MS);
    await sleep(100);
    const m0 = await viewers.mark();
    const e0 = display.stats().encodes;
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const published = await publishAt(display, ring, B_FPS, B_SECONDS * 1000);
    await sleep(100); // let the last frame reach every viewer
    const used = process.cpuUsage(c0);
    const cpu = (used.user + used.system) / 1000, sys = used.system / 1000;
    const wall = performance.now() - t0;
    const encodes = display.stats().encodes - e0;
    const m1 = await viewers.mark();
    await viewers.quit();
    await display.close();
    const perViewer = m1.frames.map((f, i) => f - m0.frames[i]);
    results.push({ n, published, encodes, perViewer, cpu, sys, wall });
  }
  const base = results[0].cpu / results[0].published;
  imageCost = results.map((r) => [r.n, r.cpu / r.published]);
  const rows = results.map((r) => {
    const perFrame = r.cpu / r.published;
    const ratio = perFrame / base;
    return [
      `${r.n}`,
      `${r.published}`,
      `${r.encodes}`,
      `${f1(mean(r.perViewer))} (min ${Math.min(...r.perViewer)})`,
      f2(perFrame),
      f2(r.sys / r.published),
      `${Math.round(r.cpu / r.wall * 100)}%`,
      f2(ratio),
      r.n === 32
        ? checkTarget(
          "Image: 32 viewers <= 1.3x the server CPU per frame of one",
          `${f2(ratio)}x`,
          ratio <= 1.3,
        )
        : "",
    ];
  });
  return [
    "## B. Server CPU per frame against viewers (image path, 1280x720 JPEG q80)",
    "",
    `A \`serve()\` display in this process; N viewers in a separate Deno process ` +
    `(bench/viewers.ts) ack every frame. Frames published at ${B_FPS} fps for ` +
    `${B_SECONDS} s after a ${
      WARM_MS / 1000
    } s warm-up. CPU = user + system time of ` +
    "the server process (`process.cpuUsage()`, all threads, sharp's workers " +
    "included) / frames published. Target: 32 viewers <= 1.3x one viewer.",
    "",
    table(
      [
        "viewers",
        "published",
        "encodes",
        "frames/viewer",
        "CPU ms/frame",
        "of which system",
        "server CPU",
        "vs 1 viewer",
        "target <= 1.3x",
      ],
      rows,
    ),
  ].join("\n");
}

interface RateResult {
  fps: number[];
  encodes: number;
  cpu: number;
  wall: number;
  bytes: number;
  frames: number;
}

async function measureRate(
  viewersUrl: string,
  mode: "rfb" | "base64",
  encodes: () => number,
): Promise<RateResult> {
  const viewers = await spawnViewers(viewersUrl, C_VIEWERS, mode);
  await sleep(WARM_MS);
  const m0 = await viewers.mark();
  const e0 = encodes();
  const c0 = process.cpuUsage();
  await sleep(C_SECONDS * 1000);
  const m1 = await viewers.mark();
  const cpu = cpuMs(c0);
  const e1 = encodes();
  await viewers.quit();
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  return {
    fps: rates(m0, m1),
    encodes: e1 - e0,
    cpu,
    wall: m1.at - m0.at,
    bytes: sum(m1.bytes) - sum(m0.bytes),
    frames: sum(m1.frames) - sum(m0.frames),
  };
}

/** Ours at full speed: publish the next frame as soon as the last one is encoded. */
async function oursRate(ring: Uint8Array[]): Promise<RateResult> {
  const display = await serveImage(1280, 720, "jpeg");
  let running = true;
  const driver = (async () => {
    let last = -1;
    while (running) {
      const e = display.stats().encodes;
      if (e !== last) {
        last = e;
        display.publish(nextFrame(ring));
      }
      await sleep(1);
    }
  })();
  const r = await measureRate(
    wsUrl(display),
    "rfb",
    () => display.stats().encodes,
  );
  running = false;
  await driver;
  await display.close();
  return r;
}

async function baselineRate(ring: Uint8Array[]): Promise<RateResult> {
  const server = serveBaseline(1280, 720, ring, 80);
  const r = await measureRate(server.url, "base64", () => server.encodes);
  await server.close();
  return r;
}

/** Table C: highest sustained frame rate with 8 viewers, ours vs the baseline. */
async function tableC(ring: Uint8Array[]): Promise<string> {
  const runs = { ours: [] as RateResult[], baseline: [] as RateResult[] };
  for (let i = 0; i < C_ROUNDS; i++) {
    runs.ours.push(await oursRate(ring));
    runs.baseline.push(await baselineRate(ring));
  }
  const summary = (rs: RateResult[]) => {
    const wall = rs.reduce((a, r) => a + r.wall, 0) / 1000;
    const perViewer = rs[0].fps.map((_, i) =>
      rs.reduce((a, r) => a + r.fps[i] * r.wall, 0) / (wall * 1000)
    );
    const frames = rs.reduce((a, r) => a + r.frames, 0);
    return {
      fps: mean(perViewer),
      min: Math.min(...perViewer),
      encodesPerS: rs.reduce((a, r) => a + r.encodes, 0) / wall,
      cpu: rs.reduce((a, r) => a + r.cpu, 0) / (wall * 1000),
      cpuPerFrame: rs.reduce((a, r) => a + r.cpu, 0) / frames,
      kib: rs.reduce((a, r) => a + r.bytes, 0) / frames / 1024,
    };
  };
  const ours = summary(runs.ours), base = summary(runs.baseline);
  const ratio = ours.fps / base.fps;
  const row = (name: string, s: ReturnType<typeof summary>, r: string) => [
    name,
    f1(s.fps),
    f1(s.min),
    f1(s.encodesPerS),
    `${Math.round(s.cpu * 100)}%`,
    f2(s.cpuPerFrame),
    f1(s.kib),
    r,
  ];
  return [
    `## C. Highest sustained frame rate, ${C_VIEWERS} viewers, 1280x720 JPEG q80`,
    "",
    "Ours: a `serve()` display, the next frame published as soon as the last " +
    "was encoded (polled every 1 ms). Baseline (bench/baseline.ts): " +
    "jupyter_rfb's way, one JPEG encode per viewer per frame, base64 in a " +
    "JSON text message, next frame when the viewer's window (2) has room. " +
    `Same scene, same settings; viewers in a separate process; ${C_ROUNDS} ` +
    `alternating rounds of ${C_SECONDS} s each after ${
      WARM_MS / 1000
    } s warm-up. ` +
    "Target: ours >= 3x the baseline's frame rate.",
    "",
    table(
      [
        "server",
        "fps/viewer (mean)",
        "fps/viewer (min)",
        "encodes/s",
        "server CPU",
        "CPU ms per delivered frame",
        "KiB/message",
        "ratio, target >= 3x",
      ],
      [
        row(
          "ours (encode once)",
          ours,
          checkTarget(
            ">= 3x the frame rate of per-viewer JPEG + base64 (jupyter_rfb), 8 viewers",
            `${f2(ratio)}x`,
            ratio >= 3,
          ),
        ),
        row("baseline (per-viewer JPEG + base64)", base, "1.00"),
      ],
    ),
  ].join("\n");
}

async function imageBenchmark(): Promise<string> {
  const sections: string[] = [await machineInfo()];
  console.log(sections[0] + "\n");
  const run = async (section: Promise<string>) => {
    const text = await section;
    sections.push(text);
    console.log(text + "\n");
  };
  await run(tableA());
  const ring = sceneFrames(1280, 720);
  await run(tableB(ring));
  await run(tableC(ring));
  return [sections[0], ...sections.slice(1).map(demote)].join("\n\n");
}

const PARTS = [
  "floors",
  "image",
  "h264",
  "latency",
  "gpu",
  "memory",
] as const;
type Part = typeof PARTS[number];

/** Heading levels one down: a part's `## X` becomes `### X` under its own `## `. */
function demote(text: string): string {
  return text.replace(/^(#+) /gm, (_, h: string) => `${h}# `);
}

/** The memory part: a short soak in its own process (bench/soak.ts). */
async function memoryBenchmark(): Promise<string> {
  const out = new URL("./out/memory.md", import.meta.url).pathname;
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL("./soak.ts", import.meta.url).pathname,
      "--minutes",
      "0.5",
      "--stall-seconds",
      "60",
      "--out",
      out,
    ],
    stdout: "null",
    stderr: "inherit",
  }).output();
  if (code !== 0) {
    checkTarget(
      "Memory: stalled viewers never grow the server's RSS",
      `soak exited ${code}`,
      false,
    );
    return `## Memory with 8 stalled viewers\n\nThe soak process failed (exit ${code}).`;
  }
  const report = await Deno.readTextFile(out);
  const stall = report.split("\n").filter((l) =>
    /^- (ok|FAILED): (RSS flat|stalled sockets)/.test(l)
  );
  const ok = stall.length === 2 && stall.every((l) => l.startsWith("- ok"));
  const flat = /middle third's \(([\d.]+ → [\d.]+) MiB\)/.exec(report)?.[1];
  const held = /stalled sockets held .*?\(([\d.]+) MiB;/.exec(report)?.[1];
  checkTarget(
    "Memory: 8 stalled viewers never grow the server's memory (socket buffers bounded, RSS flat over 60 s)",
    flat && held
      ? `each socket <= ${held} MiB; RSS peak, middle → last third: ${flat} MiB`
      : "see the memory section",
    ok,
  );
  return [
    "## Memory with 8 stalled viewers",
    "",
    "`bench/soak.ts --minutes 0.5 --stall-seconds 60` in its own process: " +
    "30 s of the live scene at 60 fps to 8 viewers (4 H.264, 4 images), " +
    "then 60 s more with 8 viewers that say hello and never read. RSS is " +
    "the soak process's (the server's). Judged: the stalled sockets' " +
    "buffers stay bounded and RSS sets no new high in the last third of " +
    "the stalled minute against the middle third. RSS still rises for the " +
    "first minutes of any run (allocator and encoder warm-up: the " +
    "10-minute soak at the end of this file levels off after about 5 " +
    "minutes), so this short run does not compare against the RSS before " +
    "the stalled viewers; the long soak does.",
    "",
    demote(report.replace(/^### Soak: .*\n/, "### Run\n")),
  ].join("\n");
}

function targetsTable(): string {
  return table(
    ["target (../shared/DESIGN.md)", "this run", ""],
    targetChecks.map((t) => [t.target, t.result, met(t.ok)]),
  );
}

async function header(full: boolean): Promise<string> {
  return [
    "# Benchmark results",
    "",
    full
      ? "Written by `deno task bench` (one run, everything below; the soak " +
        "at the end by `deno run -A bench/soak.ts`)."
      : "A partial run.",
    "",
    `- date: ${new Date().toISOString().slice(0, 16).replace("T", " ")} UTC`,
    `- machine: ${await cpuModel()}, ${
      Math.round(Deno.systemMemoryInfo().total / 2 ** 30)
    } GiB; load average at start ${
      Deno.loadavg().map((l) => l.toFixed(2)).join(" / ")
    }`,
    `- Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${Deno.build.os}/${Deno.build.arch}`,
  ].join("\n");
}

const SOAK_START = "<!-- soak:start -->", SOAK_END = "<!-- soak:end -->";

async function writeResults(text: string, svg: string | null): Promise<void> {
  const path = new URL("./RESULTS.md", import.meta.url);
  let soak = `${SOAK_START}\n${SOAK_END}`;
  try {
    const old = await Deno.readTextFile(path);
    const a = old.indexOf(SOAK_START), b = old.indexOf(SOAK_END);
    if (a >= 0 && b > a) soak = old.slice(a, b + SOAK_END.length);
  } catch { /* first run */ }
  await Deno.writeTextFile(path, `${text}\n\n## Soak\n\n${soak}\n`);
  if (svg) {
    await Deno.writeTextFile(new URL("./results.svg", import.meta.url), svg);
  }
  // Keep the files as `deno fmt` wants them, so `deno task check` stays green.
  const svgPath = new URL("./results.svg", import.meta.url).pathname;
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", path.pathname, ...(svg ? [svgPath] : [])],
  }).output();
  console.log(`wrote ${path.pathname}${svg ? " and bench/results.svg" : ""}`);
}

async function main(args: string[]): Promise<void> {
  const unknown = args.filter((a) => !(PARTS as readonly string[]).includes(a));
  if (unknown.length) {
    console.error(
      `unknown part '${unknown[0]}'; usage: deno task bench [${
        PARTS.join("] [")
      }]`,
    );
    Deno.exit(2);
  }
  const full = args.length === 0;
  const want = new Set<Part>(full ? PARTS : args as Part[]);
  const started = performance.now();
  const sections: string[] = [];
  const say = (text: string) => {
    sections.push(text);
    console.log(text + "\n");
  };
  const rings = new Map<string, Uint8Array[]>();
  if (want.has("floors") || want.has("h264") || want.has("latency")) {
    for (const [w, h] of SIZES) rings.set(`${w}x${h}`, renderRing(w, h));
  }
  let cost: CostRow[] = [];
  let latency: LatencyReport | null = null;
  if (want.has("floors")) say((await floorsBenchmark(rings)).text);
  if (want.has("image")) sections.push(await imageBenchmark());
  if (want.has("h264")) {
    const report = await h264Benchmark(rings);
    if (report) {
      sections.push(
        report.text.split("\n").map((l) => /^## \d/.test(l) ? `#${l}` : l).join(
          "\n",
        ),
      );
      cost = report.cost;
    }
  }
  if (want.has("latency")) {
    latency = await latencyBenchmark(rings);
    say(latency.text);
  }
  if (want.has("gpu")) {
    const { gpuBenchmark } = await import("./gpu.ts");
    say((await gpuBenchmark()).text);
  }
  if (want.has("memory")) say(await memoryBenchmark());

  const svg = full && latency?.cases.length && cost.length && imageCost.length
    ? chartSvg(
      latency.cases.map((c) => ({
        label: `${
          c.transport === "webcodecs" ? "H.264" : "JPEG"
        } ${c.height}p ${c.fps} fps`,
        color: c.transport === "webcodecs"
          ? (c.height === 720 ? "#1f77b4" : "#17becf")
          : (c.height === 720 ? "#d62728" : "#ff9f40"),
        dashed: c.fps === 60,
        values: latencies(c),
      })),
      [
        {
          label: "ours, H.264 (one shared encoder)",
          color: "#1f77b4",
          points: cost.map((c) => [c.viewers, c.oursMsPerFrame]),
        },
        {
          label: "ours, JPEG (encode once)",
          color: "#d62728",
          points: imageCost,
        },
        {
          label: `pdum.rfb's way: an encoder per viewer (at ${
            cost.at(-1)!.viewers
          }: ${f1(cost.at(-1)!.baselineFps)} fps each, ours ${
            f1(cost.at(-1)!.oursFps)
          })`,
          color: "#7f7f7f",
          dashed: true,
          points: cost.map((c) => [c.viewers, c.baselineMsPerFrame]),
        },
      ],
      `@rfb/core, deno task bench, ${await cpuModel()}, ${
        new Date().toISOString().slice(0, 10)
      }`,
    )
    : null;
  const minutes = (performance.now() - started) / 60_000;
  const text = [
    await header(full),
    "## Targets",
    "",
    targetsTable(),
    ...(svg
      ? ["", "![latency CDF and server cost against viewers](results.svg)"]
      : []),
    "",
    ...sections.map((s) => s + "\n"),
    `Whole run: ${f1(minutes)} min.`,
  ].join("\n");
  console.log(targetsTable());
  const out = new URL("./out/", import.meta.url);
  await Deno.mkdir(out, { recursive: true });
  await Deno.writeTextFile(
    new URL(`${full ? "all" : [...want].join("-")}.md`, out),
    text + "\n",
  );
  if (full) await writeResults(text, svg);
}

if (import.meta.main) await main(Deno.args);
