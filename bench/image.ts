/**
 * The image part of the benchmarks (`deno task bench image`): A, sharp
 * called directly vs our `encodeImage()` vs the whole server; B, server CPU
 * per frame with 1, 8 and 32 viewers; C, frame rate with 8 viewers against a
 * per-viewer JPEG + base64 baseline (jupyter_rfb's approach).
 *
 * @module
 */

import process from "node:process";
import sharp from "sharp";
import { type Display, type ImageFormat, serve, silentLogger } from "../mod.ts";
import { encodeImage } from "../src/encoders/image.ts";
import { serveBaseline } from "./baseline.ts";
import { cpuCells, type CpuRow, serverCpu } from "./cost.ts";
import { renderScene } from "./scene.ts";
import {
  checkTarget,
  cpuModel,
  cpuMs,
  demote,
  f1,
  f2,
  mean,
  quantile,
  SIZES,
  sleep,
  table,
  wsUrl,
} from "./util.ts";
import { type Mark, openViewer, spawnViewers } from "./viewers.ts";

type Img = ReturnType<typeof sharp>;
const RING = 8; // distinct pre-rendered frames, cycled
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

/** Table B: server CPU per frame against the number of viewers. */
async function tableB(
  ring: Uint8Array[],
): Promise<{ text: string; cost: Array<[number, number]> }> {
  const results: CpuRow[] = [];
  for (const n of B_VIEWERS) {
    const display = await serveImage(1280, 720, "jpeg");
    const run = await serverCpu({
      url: wsUrl(display),
      publish: (f) => display.publish(f),
      encodes: () => display.stats().encodes,
      close: () => display.close(),
    }, {
      viewers: n,
      mode: "rfb",
      next: () => nextFrame(ring),
      fps: B_FPS,
      warmMs: WARM_MS,
      ms: B_SECONDS * 1000,
    });
    results.push({ n, ...run });
  }
  const base = results[0].cpu / results[0].published;
  const cost = results.map((r): [number, number] => [r.n, r.cpu / r.published]);
  const rows = results.map((r) =>
    cpuCells(r, base, {
      keyframes: false,
      target: "Image: 32 viewers <= 1.3x the server CPU per frame of one",
      max: 1.3,
    })
  );
  const text = [
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
  return { text, cost };
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

/** What the image part hands back to the full run. */
export interface ImageReport {
  /** Markdown: the setup, then tables A, B and C. */
  text: string;
  /** Table B: server CPU ms per published frame against viewers. */
  cost: Array<[number, number]>;
}

/**
 * Run the image part and print its sections as they finish.
 *
 * @example
 * ```ts ignore
 * import { imageBenchmark } from "./image.ts";
 * const report = await imageBenchmark();
 * await Deno.writeTextFile("image.md", report.text);
 * ```
 */
export async function imageBenchmark(): Promise<ImageReport> {
  const sections: string[] = [await machineInfo()];
  console.log(sections[0] + "\n");
  const say = (text: string) => {
    sections.push(text);
    console.log(text + "\n");
  };
  say(await tableA());
  const ring = sceneFrames(1280, 720);
  const b = await tableB(ring);
  say(b.text);
  say(await tableC(ring));
  return {
    text: [sections[0], ...sections.slice(1).map(demote)].join("\n\n"),
    cost: b.cost,
  };
}
