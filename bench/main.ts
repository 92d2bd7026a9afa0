/**
 * The benchmarks: `deno task bench` runs every part in one run and writes
 * `bench/RESULTS.md` (keeping the soak section, which bench/soak.ts writes)
 * and the chart `bench/results.svg`; `deno task bench <part>...` runs only
 * those parts and writes `bench/out/<parts>.md`. Parts, in order:
 *
 * - floors (bench/floors.ts): copy, sharp, node-av conversion + x264, and
 *   Chromium's decode on their own.
 * - image (bench/image.ts): A, sharp called directly vs our `encodeImage()`
 *   vs the whole server; B, server CPU per frame with 1, 8 and 32 viewers;
 *   C, frame rate with 8 viewers against a per-viewer JPEG + base64 baseline
 *   (jupyter_rfb's approach).
 * - h264 (bench/h264.ts): x264 vs the server, bytes and PSNR, CPU with
 *   1/8/32 viewers against one encoder per viewer (pdum.rfb's approach),
 *   sustained frame rate.
 * - latency (bench/latency.ts): glass-to-glass in Chromium per transport,
 *   720p and 1080p, 30 and 60 fps.
 * - gpu (bench/gpu.ts): the WebGPU path.
 * - memory (bench/memory.ts): a short soak with 8 stalled viewers.
 * - front (bench/front.ts): the library's own listener (node:http + ws)
 *   against `handler()` in `Deno.serve`, server CPU per frame and
 *   glass-to-glass latency, alternating in one run.
 * - links (bench/links.ts): slow and lossy links in network namespaces
 *   (`tc tbf`, `iptables` loss; needs root): glass-to-glass, frames drawn,
 *   gaps and quality steps at 20-1 Mbit/s, under loss, through a rate
 *   change and with a second viewer on another link.
 * - nats (bench/nats.ts): a render host and edge servers through a local
 *   nats-server: the host's CPU against edges, glass-to-glass through an
 *   edge, join time, an edge's capacity, bytes through NATS.
 * - record (bench/record.ts): a recording's cost per frame on the shared
 *   encoder's units beside the encode, and its bytes per second.
 *
 * This file only orchestrates: it parses the parts asked for, runs them,
 * and writes the reports, the chart and the summary of every target of
 * ../shared/DESIGN.md that a part checked, at the top.
 *
 * @module
 */

import { chartSvg } from "./chart.ts";
import { floorsBenchmark } from "./floors.ts";
import { frontBenchmark } from "./front.ts";
import { type CostRow, h264Benchmark } from "./h264.ts";
import { imageBenchmark } from "./image.ts";
import { latencies, latencyBenchmark, type LatencyReport } from "./latency.ts";
import { linksBenchmark } from "./links.ts";
import { natsBenchmark } from "./nats.ts";
import { memoryBenchmark } from "./memory.ts";
import { recordBenchmark } from "./record.ts";
import { renderRing } from "./scene.ts";
import {
  cpuModel,
  f1,
  formatFiles,
  loadavg,
  met,
  sizeName,
  SIZES,
  table,
  targetChecks,
} from "./util.ts";

const PARTS = [
  "floors",
  "image",
  "h264",
  "latency",
  "gpu",
  "memory",
  "front",
  "links",
  "nats",
  "record",
] as const;
type Part = typeof PARTS[number];

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
    } GiB; load average at start ${loadavg()}`,
    `- Deno ${Deno.version.deno} (V8 ${Deno.version.v8}), ${Deno.build.os}/${Deno.build.arch}`,
  ].join("\n");
}

/**
 * The chart: glass-to-glass latency CDFs per case, and server CPU per frame
 * against viewers (H.264 and JPEG, ours, and one encoder per viewer).
 */
async function chart(
  latency: LatencyReport,
  cost: CostRow[],
  imageCost: Array<[number, number]>,
): Promise<string> {
  return chartSvg(
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
  );
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
  await formatFiles([path.pathname, ...(svg ? [svgPath] : [])]);
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
  if (
    want.has("floors") || want.has("h264") || want.has("latency") ||
    want.has("front") || want.has("record")
  ) {
    for (const [w, h] of SIZES) rings.set(sizeName(w, h), renderRing(w, h));
  }
  let cost: CostRow[] = [];
  let imageCost: Array<[number, number]> = [];
  let latency: LatencyReport | null = null;
  if (want.has("floors")) say((await floorsBenchmark(rings)).text);
  if (want.has("image")) {
    const report = await imageBenchmark();
    sections.push(report.text);
    imageCost = report.cost;
  }
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
  if (want.has("front")) sections.push(await frontBenchmark(rings));
  if (want.has("links")) say((await linksBenchmark()).text);
  if (want.has("nats")) say((await natsBenchmark()).text);
  if (want.has("record")) say(await recordBenchmark(rings));

  const svg = full && latency?.cases.length && cost.length &&
      imageCost.length
    ? await chart(latency, cost, imageCost)
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
