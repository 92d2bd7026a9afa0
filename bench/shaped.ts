/**
 * A shaped-link harness: a pair of network namespaces joined by a veth
 * link whose rate (`tc tbf`, both directions) and random loss (`iptables
 * -m statistic` on each end's INPUT) can be set and changed while a run is
 * on; a scenario runner that serves a display inside the server's
 * namespace and watches it from Chromium in either namespace
 * (bench/shaped_run.ts, spawned with `ip netns exec`); and the figures a
 * run's timelines give (glass-to-glass quantiles, frames drawn per second,
 * gaps, delivered Mbit/s, quality steps, recovery times).
 *
 * Layout: namespace S holds the server, its `lo` (unshaped) and one end of
 * the veth (10.200.0.1); namespace C holds the other end (10.200.0.2). An
 * unshaped viewer is a Chromium inside S reaching the server over `lo`; a
 * shaped viewer is a Chromium inside C reaching it over the veth. Both
 * veth ends carry the same tbf (the page's acks and input go up the same
 * rate as the frames come down), so each direction has its own queue of at
 * most `TBF_LATENCY_MS` plus one burst. There is no added delay (`netem`
 * is not available here): the round trip is the queueing's alone, so a
 * long-RTT link (satellite, far VPN) is not modelled. Loss drops incoming
 * packets at random, which TCP sees as real loss (a drop in OUTPUT would be
 * a local send error, not a lost packet).
 *
 * Needs root, `ip`, `tc`, `iptables` and Chromium; `shapingMissing()` says
 * which is absent. Namespaces are named `rfbshape-<pid>-<n>-{s,c}` and
 * removed on dispose; ones left by a process that died are removed by the
 * next `ShapedNet.create()`.
 *
 * @module
 */

import type { ViewerStats } from "../mod.ts";
import { browserMissing } from "../tests/_browser.ts";
import type { PageTransport } from "./latency.ts";
import { quantile } from "./util.ts";

/** tbf's burst, bytes (ten full packets: tbf splits GSO packets to fit). */
export const TBF_BURST = 16 * 1024;
/** tbf's queue, as the time it takes to drain at the link's rate, ms. */
export const TBF_LATENCY_MS = 50;

const PREFIX = "rfbshape-";
const S_DEV = "shs", C_DEV = "shc";
const S_ADDR = "10.200.0.1", C_ADDR = "10.200.0.2";

/** One end of the link: its namespace, veth device and address. */
export interface LinkEnd {
  ns: string;
  dev: string;
  addr: string;
}

/** What a process needs to find and reshape a `ShapedNet` (JSON-safe). */
export interface ShapedNetInfo {
  /** The server's namespace (its `lo` is unshaped). */
  server: LinkEnd;
  /** The shaped viewers' namespace. */
  client: LinkEnd;
}

/** A link's state: rate in Mbit/s (null: unshaped) and random loss in %. */
export interface LinkState {
  rateMbit: number | null;
  lossPct: number;
}

/** A change of the link at `atS` seconds into a run. */
export interface LinkChange extends LinkState {
  atS: number;
}

async function sh(cmd: string, args: string[]): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, {
      args,
      stdout: "piped",
      stderr: "piped",
    })
      .output();
  } catch (err) {
    throw new Error(`${cmd} ${args.join(" ")}: ${(err as Error).message}`);
  }
  const dec = new TextDecoder();
  if (!out.success) {
    throw new Error(
      `${cmd} ${args.join(" ")} failed: ${dec.decode(out.stderr).trim()}`,
    );
  }
  return dec.decode(out.stdout);
}

const nsExec = (ns: string, args: string[]) =>
  sh("ip", ["netns", "exec", ns, ...args]);

/**
 * Why the harness cannot run here, or null when it can: root, `ip`, `tc`,
 * `iptables` and Chromium.
 *
 * @example
 * ```ts
 * import { shapingMissing } from "./shaped.ts";
 * const why = await shapingMissing();
 * console.log(why ?? "the shaped-link harness can run");
 * ```
 */
export async function shapingMissing(): Promise<string | null> {
  if (Deno.build.os !== "linux") return "network namespaces need Linux";
  if (Deno.uid() !== 0) return "network namespaces need root";
  for (const [cmd, arg] of [["ip", "-V"], ["tc", "-V"], ["iptables", "-V"]]) {
    try {
      await sh(cmd, [arg]);
    } catch {
      return `no '${cmd}' (apt-get install iproute2 iptables)`;
    }
  }
  return browserMissing();
}

let made = 0;

/** Remove namespaces of ours whose process is gone. */
async function sweep(): Promise<void> {
  const names = (await sh("ip", ["netns", "list"])).split("\n")
    .map((l) => l.split(" ")[0]).filter((n) => n.startsWith(PREFIX));
  for (const name of names) {
    const pid = Number(name.slice(PREFIX.length).split("-")[0]);
    if (!Number.isInteger(pid) || pid === Deno.pid) continue;
    try {
      Deno.statSync(`/proc/${pid}`);
    } catch {
      await sh("ip", ["netns", "del", name]).catch(() => {});
    }
  }
}

/**
 * Two namespaces joined by a shaped veth link.
 *
 * @example
 * ```ts ignore
 * await using net = await ShapedNet.create({ rateMbit: 2, lossPct: 0 });
 * await net.setLoss(3);
 * await net.setRate(20);
 * ```
 */
export class ShapedNet implements AsyncDisposable {
  /** Namespaces, devices and addresses. */
  readonly info: ShapedNetInfo;
  #owned: boolean;
  #closed = false;

  private constructor(info: ShapedNetInfo, owned: boolean) {
    this.info = info;
    this.#owned = owned;
  }

  /** Make the namespaces and the link, shaped as `state` says. */
  static async create(
    state: LinkState = { rateMbit: null, lossPct: 0 },
  ): Promise<ShapedNet> {
    await sweep();
    const base = `${PREFIX}${Deno.pid}-${made++}`;
    const net = new ShapedNet({
      server: { ns: `${base}-s`, dev: S_DEV, addr: S_ADDR },
      client: { ns: `${base}-c`, dev: C_DEV, addr: C_ADDR },
    }, true);
    const { server: s, client: c } = net.info;
    try {
      await sh("ip", ["netns", "add", s.ns]);
      await sh("ip", ["netns", "add", c.ns]);
      await sh("ip", [
        "link",
        "add",
        s.dev,
        "netns",
        s.ns,
        "type",
        "veth",
        "peer",
        "name",
        c.dev,
        "netns",
        c.ns,
      ]);
      for (const end of [s, c]) {
        // tbf drops packets over its burst: loopback's 64 KiB MTU first.
        await sh("ip", ["-n", end.ns, "link", "set", "lo", "mtu", "1500"]);
        await sh("ip", ["-n", end.ns, "link", "set", "lo", "up"]);
        await sh("ip", [
          "-n",
          end.ns,
          "addr",
          "add",
          `${end.addr}/30`,
          "dev",
          end.dev,
        ]);
        await sh("ip", ["-n", end.ns, "link", "set", end.dev, "up"]);
      }
      await net.apply(state);
    } catch (err) {
      await net.close();
      throw err;
    }
    return net;
  }

  /** A handle on a net another process made (disposing it removes nothing). */
  static attach(info: ShapedNetInfo): ShapedNet {
    return new ShapedNet(info, false);
  }

  /** Set the rate of both directions, Mbit/s; null removes the limit. */
  async setRate(rateMbit: number | null): Promise<void> {
    for (const end of [this.info.server, this.info.client]) {
      if (rateMbit === null) {
        await nsExec(end.ns, ["tc", "qdisc", "del", "dev", end.dev, "root"])
          .catch(() => {/* none set */});
        continue;
      }
      if (!(rateMbit > 0)) throw new RangeError(`rate ${rateMbit} Mbit/s`);
      await nsExec(end.ns, [
        "tc",
        "qdisc",
        "replace",
        "dev",
        end.dev,
        "root",
        "tbf",
        "rate",
        `${Math.round(rateMbit * 1000)}kbit`,
        "burst",
        `${TBF_BURST}b`,
        "latency",
        `${TBF_LATENCY_MS}ms`,
      ]);
    }
  }

  /** Drop this share (%) of the packets arriving at either end, at random. */
  async setLoss(lossPct: number): Promise<void> {
    if (!(lossPct >= 0 && lossPct < 100)) {
      throw new RangeError(`loss ${lossPct}%`);
    }
    for (const end of [this.info.server, this.info.client]) {
      await nsExec(end.ns, ["iptables", "-F", "INPUT"]);
      if (lossPct === 0) continue;
      await nsExec(end.ns, [
        "iptables",
        "-A",
        "INPUT",
        "-i",
        end.dev,
        "-m",
        "statistic",
        "--mode",
        "random",
        "--probability",
        String(lossPct / 100),
        "-j",
        "DROP",
      ]);
    }
  }

  /** Set rate and loss. */
  async apply(state: LinkState): Promise<void> {
    await this.setRate(state.rateMbit);
    await this.setLoss(state.lossPct);
  }

  /** Packets tbf dropped at the server's end (its queue overflowed). */
  async tbfDrops(): Promise<number> {
    const s = this.info.server;
    const out = await nsExec(s.ns, ["tc", "-s", "qdisc", "show", "dev", s.dev]);
    return Number(/dropped (\d+)/.exec(out)?.[1] ?? 0);
  }

  /** End every process left in the namespaces, then remove them. */
  async close(): Promise<void> {
    if (this.#closed || !this.#owned) return;
    this.#closed = true;
    for (const ns of [this.info.server.ns, this.info.client.ns]) {
      const pids = await sh("ip", ["netns", "pids", ns]).catch(() => "");
      for (const pid of pids.split(/\s+/).filter(Boolean).map(Number)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await sh("ip", ["netns", "del", ns]).catch(() => {});
    }
  }

  /** Same as `close()`. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

const BULK_SERVER = `
const l = Deno.listen({ hostname: "0.0.0.0", port: 0 });
console.log(l.addr.port);
const c = await l.accept();
const buf = new Uint8Array(65536);
try { for (;;) await c.write(buf); } catch { /* the reader left */ }
`;
const BULK_CLIENT = `
const [host, port, ms] = Deno.args;
const c = await Deno.connect({ hostname: host, port: Number(port) });
const buf = new Uint8Array(65536);
const t0 = performance.now(), out = [];
let n = 0;
const timer = setInterval(() => out.push([performance.now() - t0, n]), 100);
while (performance.now() - t0 < Number(ms)) {
  const r = await c.read(buf);
  if (r === null) break;
  n += r;
}
clearInterval(timer);
c.close();
console.log(JSON.stringify(out));
`;

/**
 * A bulk TCP transfer from the server's namespace to the client's over the
 * link for `ms` milliseconds: the bytes received, `[ms since start, total]`
 * every 100 ms. Shows what the link delivers (change it while this runs
 * to see a change take effect); see `bulkMbit`.
 *
 * @example
 * ```ts ignore
 * await using net = await ShapedNet.create({ rateMbit: 5, lossPct: 0 });
 * console.log(bulkMbit(await bulkTransfer(net, 3000), 1000, 3000)); // ~4.8
 * ```
 */
export async function bulkTransfer(
  net: ShapedNet,
  ms: number,
): Promise<Array<[number, number]>> {
  const { server, client } = net.info;
  const spawn = (ns: string, code: string, args: string[] = []) =>
    new Deno.Command("ip", {
      args: ["netns", "exec", ns, Deno.execPath(), "eval", code, ...args],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  const srv = spawn(server.ns, BULK_SERVER);
  try {
    const reader = srv.stdout.pipeThrough(new TextDecoderStream()).getReader();
    let first = "";
    while (!first.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) throw new Error("the bulk sender did not start");
      first += value;
    }
    reader.releaseLock();
    const port = first.trim().split("\n")[0];
    const out = await spawn(client.ns, BULK_CLIENT, [
      server.addr,
      port,
      String(ms),
    ]).output();
    if (!out.success) {
      throw new Error(
        `bulk receiver failed: ${new TextDecoder().decode(out.stderr)}`,
      );
    }
    return JSON.parse(new TextDecoder().decode(out.stdout));
  } finally {
    try {
      srv.kill("SIGKILL");
    } catch { /* ended */ }
    await srv.stdout.cancel().catch(() => {});
    await srv.stderr.cancel().catch(() => {});
    await srv.status;
  }
}

/**
 * The payload rate (Mbit/s) of `bulkTransfer` samples between `fromMs` and
 * `toMs`.
 *
 * @example
 * ```ts
 * import { bulkMbit } from "./shaped.ts";
 * console.log(bulkMbit([[0, 0], [1000, 250_000]], 0, 1000)); // 2
 * ```
 */
export function bulkMbit(
  samples: ReadonlyArray<readonly [number, number]>,
  fromMs: number,
  toMs: number,
): number {
  const near = (t: number) =>
    samples.reduce((x, y) => Math.abs(y[0] - t) < Math.abs(x[0] - t) ? y : x);
  const [t1, b1] = near(fromMs), [t2, b2] = near(toMs);
  return t2 > t1 ? (b2 - b1) * 8 / (t2 - t1) / 1000 : NaN;
}

/** One viewer of a scenario: over the shaped link, or on the server's `lo`. */
export interface ViewerSpec {
  shaped: boolean;
}

/** What a run does: transport, viewers, length and the link's schedule. */
export interface Scenario {
  /** The transport the viewers' pages ask for. */
  transport: PageTransport;
  viewers: ViewerSpec[];
  /** Seconds of publishing. */
  durationS: number;
  /** Link states; the one at `atS` 0 holds while the pages load. */
  schedule: LinkChange[];
  /** Publish rate. Default 30. */
  fps?: number;
  /** Turn the display's adaptation off (the same-run "as before" baseline). Default on. */
  adaptive?: boolean;
  /** Frame size. Default 1280x720. */
  width?: number;
  height?: number;
}

/** One drawn frame, ms since the run's start (server clock). */
export interface FrameRecord {
  /** `publish()` of the frame. */
  pub: number;
  /** The message reached the page's worker. */
  recv: number;
  /** Drawn on the canvas. */
  shown: number;
}

/** `Display.stats()`'s record of a viewer at `t` seconds into the run. */
export type StatsSample = ViewerStats & { t: number };

/** What one viewer saw and what the server said about it. */
export interface ViewerRun {
  shaped: boolean;
  /** Frames drawn, in order. */
  frames: FrameRecord[];
  /** The server's figures for this viewer every 500 ms. */
  stats: StatsSample[];
  /** Bytes on this viewer's wire (the server's veth end, or `lo`): `[t, bytes]`. */
  wire: Array<[number, number]>;
  /** The view's status changes: `[t, status, close code]`. */
  statuses: Array<[number, string, number | null]>;
  /** Page clock − server clock, ms, and its uncertainty. */
  clock: { offset: number; error: number };
  /** The viewer's latency badge and its title the first time it said the stream was reduced, or null. */
  told: string | null;
}

/** What a run returns. */
export interface ScenarioResult {
  scenario: Scenario;
  /** The run's start (first publish), ms since the epoch. */
  startedAt: number;
  /** Frames published. */
  published: number;
  viewers: ViewerRun[];
  /** Chromium's version. */
  chromium: string;
}

const RUNNER = new URL("./shaped_run.ts", import.meta.url).pathname;
const ROOT = new URL("..", import.meta.url).pathname;

/**
 * Run `scenario` on `net`: bench/shaped_run.ts inside the server's
 * namespace serves the display, opens the viewers' pages, publishes and
 * applies the schedule (the link change at `atS` 0 before the pages load),
 * and hands back every viewer's timelines.
 *
 * @example
 * ```ts ignore
 * await using net = await ShapedNet.create();
 * const r = await runScenario(net, {
 *   transport: "image", viewers: [{ shaped: true }], durationS: 14,
 *   schedule: [{ atS: 0, rateMbit: 2, lossPct: 0 }],
 * });
 * console.log(summarize(r, 0).p95);
 * ```
 */
export async function runScenario(
  net: ShapedNet,
  scenario: Scenario,
): Promise<ScenarioResult> {
  const out = await Deno.makeTempFile({ prefix: "rfbshape-", suffix: ".json" });
  try {
    const child = new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        net.info.server.ns,
        Deno.execPath(),
        "run",
        "-A",
        RUNNER,
        JSON.stringify({ scenario, net: net.info, out }),
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const limit = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch { /* ended */ }
    }, (scenario.durationS + 90) * 1000);
    const res = await child.output();
    clearTimeout(limit);
    const text = await Deno.readTextFile(out).catch(() => "");
    if (!res.success || !text) {
      const err = new TextDecoder().decode(res.stderr).trim().split("\n")
        .slice(-15).join("\n");
      throw new Error(
        `shaped run failed (${res.signal ?? `exit ${res.code}`}): ${err}`,
      );
    }
    return JSON.parse(text) as ScenarioResult;
  } finally {
    await Deno.remove(out).catch(() => {});
  }
}

/** One viewer's figures over a stretch of a run. */
export interface ViewerSummary {
  /** Frames drawn in the stretch. */
  frames: number;
  /** Frames drawn per second. */
  fps: number;
  /** Glass-to-glass quantiles, ms (NaN with no frame). */
  p50: number;
  p95: number;
  p99: number;
  /** Longest time without a frame drawn, ms (stretch edges included). */
  maxGapMs: number;
  /** Mean Mbit/s on the viewer's wire (headers and retransmits included). */
  mbit: number;
  /** Quality steps the server reported, in the order first seen (null: adaptation off). */
  steps: Array<number | null>;
  /** Times the view's connection closed. */
  closes: number;
}

/**
 * Viewer `i`'s figures for frames drawn from `fromS` to `toS` seconds into
 * the run (default: after the first 5 s, to the end of publishing).
 *
 * @example
 * ```ts ignore
 * const s = summarize(result, 0);
 * console.log(`${s.p95} ms p95, ${s.fps} fps`);
 * ```
 */
export function summarize(
  r: ScenarioResult,
  i: number,
  fromS = 5,
  toS: number = r.scenario.durationS,
): ViewerSummary {
  const v = r.viewers[i];
  const a = fromS * 1000, b = toS * 1000;
  const frames = v.frames.filter((f) => f.shown >= a && f.shown <= b);
  const lat = frames.map((f) => f.shown - f.pub);
  let gap = 0, last = a;
  for (const f of frames) {
    gap = Math.max(gap, f.shown - last);
    last = f.shown;
  }
  gap = Math.max(gap, b - last);
  const steps: Array<number | null> = [];
  for (const s of v.stats) {
    if (s.t >= fromS && s.t <= toS && !steps.includes(s.qualityStep)) {
      steps.push(s.qualityStep);
    }
  }
  return {
    frames: frames.length,
    fps: frames.length / (toS - fromS),
    p50: quantile(lat, 0.5),
    p95: quantile(lat, 0.95),
    p99: quantile(lat, 0.99),
    maxGapMs: gap,
    mbit: wireMbit(v, fromS, toS),
    steps,
    closes: v.statuses.filter(([t, s]) => s === "closed" && t >= fromS).length,
  };
}

/** Mean Mbit/s on a viewer's wire between the samples nearest `fromS` and `toS`. */
function wireMbit(v: ViewerRun, fromS: number, toS: number): number {
  if (v.wire.length < 2) return NaN;
  const near = (t: number) =>
    v.wire.reduce((x, y) => Math.abs(y[0] - t) < Math.abs(x[0] - t) ? y : x);
  const [t1, b1] = near(fromS), [t2, b2] = near(toS);
  return t2 > t1 ? (b2 - b1) * 8 / (t2 - t1) / 1e6 : NaN;
}

/**
 * Seconds after `fromS` until the rolling 1 s p95 of glass-to-glass (frames
 * drawn in the last second, checked every 100 ms; a second without a frame
 * counts as over) is at or under `limitMs` and stays there until `toS`;
 * null if it never settles.
 *
 * @example
 * ```ts ignore
 * console.log(settleAfter(result, 0, 10, 25)); // e.g. 1.4
 * ```
 */
export function settleAfter(
  r: ScenarioResult,
  i: number,
  fromS: number,
  toS: number,
  limitMs = 250,
): number | null {
  const frames = r.viewers[i].frames;
  let settled: number | null = null;
  for (let t = fromS; t <= toS + 1e-9; t += 0.1) {
    const w = frames.filter((f) =>
      f.shown > (t - 1) * 1000 && f.shown <= t * 1000
    ).map((f) => f.shown - f.pub);
    const ok = w.length > 0 && quantile(w, 0.95) <= limitMs;
    if (!ok) settled = null;
    else if (settled === null) settled = t;
  }
  return settled === null ? null : settled - fromS;
}

/**
 * Seconds after `fromS` until viewer `i`'s quality step is `step` or
 * better (lower) and stays so to the run's end; null if it never does.
 *
 * @example
 * ```ts ignore
 * console.log(stepAfter(result, 0, 25, 0)); // e.g. 6.5
 * ```
 */
export function stepAfter(
  r: ScenarioResult,
  i: number,
  fromS: number,
  step: number | null,
): number | null {
  let at: number | null = null;
  for (const s of r.viewers[i].stats) {
    if (s.t < fromS) continue;
    const good = step === null
      ? s.qualityStep === null
      : s.qualityStep !== null && s.qualityStep <= step;
    if (!good) at = null;
    else if (at === null) at = s.t;
  }
  return at === null ? null : Math.max(0, at - fromS);
}
