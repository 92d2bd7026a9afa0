/**
 * The recording part of the benchmarks (`deno task bench record`, or
 * `deno run -A bench/record.ts` on its own): what keeping a stream costs
 * the server when the recording takes the shared encoder's units
 * (passthrough, no encode of its own), beside the encode itself, measured
 * in the same run on the same frames (bench/scene.ts's moving scene).
 *
 * - A, the parts: per size, x264 (`H264Encoder` at the display's defaults,
 *   30 fps) on the scene, then those units through the recorder (the MP4
 *   writer and a file), CPU ms per frame; and the file's bytes per second.
 * - B, in the server: a 1280x720 display publishing at 30 fps to one H.264
 *   viewer (a separate process, bench/viewers.ts), the process's CPU per
 *   frame and encodes per frame without a recording and with one, in
 *   alternating rounds.
 *
 * The target: under 0.2 ms per frame at 720p (A).
 *
 * @module
 */

import process from "node:process";
import { serve, silentLogger } from "../mod.ts";
import { H264Encoder, probeH264 } from "../src/encoders/h264.ts";
import { defaultBitrate } from "../src/options.ts";
import { openSink } from "../src/record/sink.ts";
import { Mp4Recorder } from "../src/record/writer.ts";
import { systemClock } from "../src/clock.ts";
import { serverCpu } from "./cost.ts";
import { renderRing, RING } from "./scene.ts";
import {
  checkTarget,
  cpuMs,
  f1,
  f2,
  mean,
  sizeName,
  SIZES,
  table,
  wsUrl,
} from "./util.ts";

const FPS = 30;
/** Frames encoded and recorded per size in A. */
const FRAMES = 240;
/** B: rounds per case, and their measured stretch. */
const ROUNDS = 2, ROUND_MS = 4000, WARM_MS = 1000;

/** A: one size's parts. */
interface PartsRow {
  size: string;
  encodeMs: number;
  recordMs: number;
  bytesPerSecond: number;
}

async function parts(
  width: number,
  height: number,
  ring: Uint8Array[],
): Promise<PartsRow> {
  const bitrate = defaultBitrate(width, height, FPS);
  const enc = await H264Encoder.open({
    width,
    height,
    fps: FPS,
    bitrate,
    gop: FPS * 4,
    preset: "ultrafast",
  });
  const units: { data: Uint8Array; keyframe: boolean }[] = [];
  let c0 = process.cpuUsage();
  for (let i = 0; i < FRAMES; i++) {
    const chunk = await enc.encode({
      data: ring[i % RING],
      width,
      height,
      layout: "rgba",
    }, i === 0);
    if (chunk) units.push(chunk);
  }
  const encodeMs = cpuMs(c0) / FRAMES;
  await enc.close();
  const path = await Deno.makeTempFile({ suffix: ".mp4" });
  c0 = process.cpuUsage();
  const rec = new Mp4Recorder({
    sink: await openSink(path),
    width,
    height,
    fragmentUs: 1e6,
    clock: systemClock,
    encoder: "shared",
  });
  const start = systemClock.epochMicros();
  units.forEach((u, i) =>
    rec.put({ ...u, timestampUs: start + i * 1e6 / FPS })
  );
  await rec.end();
  const recordMs = cpuMs(c0) / units.length;
  const size = (await Deno.stat(path)).size;
  await Deno.remove(path);
  return {
    size: sizeName(width, height),
    encodeMs,
    recordMs,
    bytesPerSecond: size / (units.length / FPS),
  };
}

/** B: CPU per frame and encodes per frame with and without a recording. */
async function inServer(
  ring: Uint8Array[],
): Promise<{ without: number[]; with: number[]; encodes: number[][] }> {
  const [width, height] = SIZES[0];
  const out = {
    without: [] as number[],
    with: [] as number[],
    encodes: [[], []] as number[][],
  };
  for (let r = 0; r < ROUNDS * 2; r++) {
    const recording = r % 2 === 1;
    const display = await serve(width, height, {
      port: 0,
      fps: FPS,
      logger: silentLogger,
      stillAfter: false,
    });
    const path = recording ? await Deno.makeTempFile({ suffix: ".mp4" }) : null;
    if (path) await display.record(path);
    let i = 0;
    const run = await serverCpu({
      url: wsUrl(display),
      publish: (f) => display.publish(f),
      encodes: () => display.stats().encodes,
      close: () => display.close(),
    }, {
      viewers: 1,
      mode: "h264",
      next: () => ring[i++ % RING],
      fps: FPS,
      warmMs: WARM_MS,
      ms: ROUND_MS,
    });
    if (path) await Deno.remove(path);
    (recording ? out.with : out.without).push(run.cpu / run.published);
    out.encodes[recording ? 1 : 0].push(run.encodes / run.published);
  }
  return out;
}

/**
 * Run the recording benchmark; returns its Markdown section.
 *
 * @example
 * ```ts ignore
 * const text = await recordBenchmark();
 * ```
 */
export async function recordBenchmark(
  rings: Map<string, Uint8Array[]> = new Map(),
): Promise<string> {
  const probe = await probeH264();
  if (!probe.ok) return `## Recording\n\nSkipped: ${probe.reason}.\n`;
  const rows: PartsRow[] = [];
  for (const [w, h] of SIZES) {
    const key = sizeName(w, h);
    const ring = rings.get(key) ?? renderRing(w, h);
    rings.set(key, ring);
    rows.push(await parts(w, h, ring));
  }
  const b = await inServer(rings.get(sizeName(...SIZES[0]))!);
  const at720 = rows[0].recordMs;
  const verdict = checkTarget(
    "Recording (passthrough): <= 0.2 ms per frame at 1280x720",
    `${f2(at720)} ms`,
    at720 <= 0.2,
  );
  const diff = mean(b.with) - mean(b.without);
  return [
    "## Recording",
    "",
    `A: per size, ${FRAMES} frames of the moving scene through x264 at the`,
    `display's defaults (${FPS} fps, ultrafast, default bitrate), then the same`,
    "units through the recorder (the MP4 writer and a file on disk): CPU",
    "milliseconds per frame of this process, and the file's bytes per second.",
    "",
    table(
      [
        "size",
        "x264 encode, ms/frame",
        "recording, ms/frame",
        "recording / encode",
        "file, bytes/s",
        "target",
      ],
      rows.map((r, i) => [
        r.size,
        f2(r.encodeMs),
        f2(r.recordMs),
        `${f1(100 * r.recordMs / r.encodeMs)} %`,
        `${f1(r.bytesPerSecond / 1024)} KiB/s (${
          f2(r.bytesPerSecond * 8 / 1e6)
        } Mbit/s)`,
        i === 0 ? verdict : "—",
      ]),
    ),
    "",
    `B: a ${
      sizeName(...SIZES[0])
    } display publishing at ${FPS} fps to one H.264`,
    `viewer in another process; this process's CPU per frame over ${
      ROUND_MS / 1000
    } s,`,
    `${ROUNDS} rounds each, alternating; a recording to a file in the second case.`,
    "",
    table(
      ["case", "CPU ms/frame (rounds)", "encodes per frame"],
      [
        [
          "no recording",
          `${f2(mean(b.without))} (${b.without.map(f2).join(", ")})`,
          f2(mean(b.encodes[0])),
        ],
        [
          "recording (shared encoder)",
          `${f2(mean(b.with))} (${b.with.map(f2).join(", ")})`,
          f2(mean(b.encodes[1])),
        ],
        ["difference", f2(diff), "—"],
      ],
    ),
  ].join("\n");
}

if (import.meta.main) console.log(await recordBenchmark());
