/**
 * Server CPU against viewers: the measuring loop and the table row that
 * bench/image.ts's table B and bench/h264.ts's part 3 share. A server in this process publishes
 * frames at a fixed rate to N viewers in a separate process
 * (bench/viewers.ts), so the process's CPU time is the server's alone.
 *
 * @module
 */

import process from "node:process";
import { checkTarget, f1, f2, mean, publishAt, sleep } from "./util.ts";
import { spawnViewers, type ViewerMode } from "./viewers.ts";

/** The server being measured. */
export interface ServerUnderTest {
  /** Its WebSocket URL. */
  url: string;
  /** Publish one frame. */
  publish(frame: Uint8Array): void;
  /** Encodes it has run so far. */
  encodes(): number;
  /** Shut it down. */
  close(): Promise<void>;
}

/** How to load a server in `serverCpu()`. */
export interface CpuLoad {
  /** Viewers to connect. */
  viewers: number;
  /** The dialect they speak. */
  mode: ViewerMode;
  /** The next frame to publish. */
  next: () => Uint8Array;
  /** Frames published per second. */
  fps: number;
  /** Publishing before the measured stretch, milliseconds. */
  warmMs: number;
  /** The measured stretch, milliseconds. */
  ms: number;
}

/** What `serverCpu()` measured over the measured stretch. */
export interface CpuRun {
  /** Frames published. */
  published: number;
  /** Encodes the server ran. */
  encodes: number;
  /** Frames (or chunks) each viewer received. */
  frames: number[];
  /** Keyframes each viewer received (every image counts). */
  keyframes: number[];
  /** CPU time of this process, user + system, milliseconds. */
  cpu: number;
  /** Of which system time, milliseconds. */
  sys: number;
  /** Wall time, milliseconds. */
  wall: number;
}

/**
 * Connect `load.viewers` viewers to `server` in a separate process, publish
 * at `load.fps` for `load.warmMs`, then measure this process's CPU time
 * while publishing for `load.ms` (and 100 ms more for the last frame to
 * arrive); closes the viewers and the server.
 *
 * @example
 * ```ts ignore
 * import { serve, silentLogger } from "../mod.ts";
 * import { serverCpu } from "./cost.ts";
 * import { wsUrl } from "./util.ts";
 * const display = await serve(1280, 720, { port: 0, logger: silentLogger });
 * const frame = new Uint8Array(1280 * 720 * 4);
 * const run = await serverCpu({
 *   url: wsUrl(display),
 *   publish: (f) => display.publish(f),
 *   encodes: () => display.stats().encodes,
 *   close: () => display.close(),
 * }, { viewers: 8, mode: "rfb", next: () => frame, fps: 30, warmMs: 1000, ms: 4000 });
 * console.log(run.cpu / run.published, "ms per frame");
 * ```
 */
export async function serverCpu(
  server: ServerUnderTest,
  load: CpuLoad,
): Promise<CpuRun> {
  const publish = (f: Uint8Array) => server.publish(f);
  const viewers = await spawnViewers(server.url, load.viewers, load.mode);
  await publishAt(publish, load.next, load.fps, load.warmMs);
  await sleep(100);
  const m0 = await viewers.mark();
  const e0 = server.encodes();
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const published = await publishAt(publish, load.next, load.fps, load.ms);
  await sleep(100); // let the last frame reach every viewer
  const used = process.cpuUsage(c0);
  const wall = performance.now() - t0;
  const encodes = server.encodes() - e0;
  const m1 = await viewers.mark();
  await viewers.quit();
  await server.close();
  return {
    published,
    encodes,
    frames: m1.frames.map((f, i) => f - m0.frames[i]),
    keyframes: m1.keyframes.map((k, i) => k - m0.keyframes[i]),
    cpu: (used.user + used.system) / 1000,
    sys: used.system / 1000,
    wall,
  };
}

/** A `serverCpu()` run and how many viewers it had. */
export interface CpuRow extends CpuRun {
  /** Viewers. */
  n: number;
}

/**
 * A row of a CPU-against-viewers table: viewers, published, encodes,
 * frames per viewer (mean, min), keyframes per viewer (mean, max; only if
 * `opts.keyframes`), CPU ms per frame, of which system, the server's CPU
 * share, CPU per frame against `base` (one viewer's), and at 32 viewers
 * `opts.target` checked against `opts.max` (`checkTarget()`).
 *
 * @example
 * ```ts ignore
 * import { cpuCells } from "./cost.ts";
 * const base = rows[0].cpu / rows[0].published;
 * const cells = rows.map((r) =>
 *   cpuCells(r, base, { keyframes: false, target: "32 viewers <= 2x", max: 2 })
 * );
 * ```
 */
export function cpuCells(
  r: CpuRow,
  base: number,
  opts: { keyframes: boolean; target: string; max: number },
): string[] {
  const perFrame = r.cpu / r.published;
  const ratio = perFrame / base;
  return [
    `${r.n}`,
    `${r.published}`,
    `${r.encodes}`,
    `${f1(mean(r.frames))} (min ${Math.min(...r.frames)})`,
    ...(opts.keyframes
      ? [`${f1(mean(r.keyframes))} (max ${Math.max(...r.keyframes)})`]
      : []),
    f2(perFrame),
    f2(r.sys / r.published),
    `${Math.round(r.cpu / r.wall * 100)}%`,
    f2(ratio),
    r.n === 32
      ? checkTarget(opts.target, `${f2(ratio)}x`, ratio <= opts.max)
      : "",
  ];
}
