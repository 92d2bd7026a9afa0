/**
 * The inside of a shaped-link run (bench/shaped.ts spawns it with `ip netns
 * exec <server namespace>`; argument: `{scenario, net, out}` as JSON). It
 * serves a 1280x720 display on all of the namespace's addresses, opens one
 * Chromium page per viewer with `?transport=` (unshaped viewers in a
 * Chromium in this namespace on `127.0.0.1`, shaped ones in a Chromium
 * started in the client namespace through a wrapper script, on the veth
 * address, which Chromium is told to treat as a secure origin so WebCodecs
 * is there), publishes the textured moving scene at the scenario's rate,
 * applies the link schedule on time, and every 500 ms records the server's
 * `display.stats()` per viewer and the bytes on each viewer's wire. At the
 * end it writes a `ScenarioResult` (bench/shaped.ts) to `out`.
 *
 * Each drawn frame's timeline comes from the view's `frame` events
 * (`timestampUs` from `publish()`, `receivedAt`, `displayedAt`), as in
 * bench/latency.ts; page and server share the host's clock and the small
 * offset is measured and taken off.
 *
 * @module
 */

import type { Browser, Page } from "playwright-core";
import { serve, silentLogger } from "../mod.ts";
import { CHROMIUM, launch, waitForExpression } from "../tests/_browser.ts";
import { clockOffset } from "./latency.ts";
import { Player, renderRing, RING } from "./scene.ts";
import {
  type Scenario,
  type ScenarioResult,
  ShapedNet,
  type ShapedNetInfo,
  type ViewerRun,
} from "./shaped.ts";
import { publishAt, sleep } from "./util.ts";

/** The ring's own frame rate (bench/scene.ts: one second at 60 fps). */
const SOURCE_FPS = 60;
const SAMPLE_MS = 500;

const epochMs = () => performance.timeOrigin + performance.now();

/** The arguments bench/shaped.ts passes. */
export interface RunnerArgs {
  scenario: Scenario;
  net: ShapedNetInfo;
  /** Where to write the JSON result. */
  out: string;
}

/** Chromium started inside namespace `ns`, treating `origin` as secure. */
async function launchIn(
  ns: string,
  origin: string,
  dir: string,
): Promise<Browser> {
  const wrapper = `${dir}/chromium-${ns}`;
  const q = (s: string) => `'${s.replaceAll("'", `'\\''`)}'`;
  await Deno.writeTextFile(
    wrapper,
    `#!/bin/sh\nexec ip netns exec ${q(ns)} ${q(CHROMIUM)} "$@"\n`,
    { mode: 0o755 },
  );
  return launch({
    executablePath: wrapper,
    args: [`--unsafely-treat-insecure-origin-as-secure=${origin}`],
  });
}

/**
 * Run one scenario inside the server's namespace and return what every
 * viewer saw.
 *
 * @example
 * ```ts ignore
 * const result = await runInside({ scenario, net: net.info, out: "/tmp/r.json" });
 * ```
 */
export async function runInside(args: RunnerArgs): Promise<ScenarioResult> {
  const { scenario, net: info } = args;
  const width = scenario.width ?? 1280, height = scenario.height ?? 720;
  const fps = scenario.fps ?? 30;
  const net = ShapedNet.attach(info);
  const first = scenario.schedule.find((c) => c.atS === 0);
  if (first) await net.apply(first);
  const ring = renderRing(width, height);
  const player = new Player(RING, SOURCE_FPS / fps);
  // New viewer ids are matched to our viewers by the address they came from.
  const arrivals: string[] = [];
  const display = await serve(width, height, {
    port: 0,
    hostname: "0.0.0.0",
    fps,
    logger: silentLogger,
    stillAfter: false,
    adaptive: scenario.adaptive ?? true,
    // The hook also sees page loads: only WebSocket upgrades are viewers.
    authenticate: ({ headers }) => {
      if (headers.get("upgrade")?.toLowerCase() === "websocket") {
        const host = headers.get("host") ?? "";
        arrivals.push(host.startsWith(info.server.addr) ? "shaped" : "local");
      }
      return true;
    },
  });
  const dir = await Deno.makeTempDir({ prefix: "rfbshape-run-" });
  const browsers: Browser[] = [];
  try {
    const port = display.port!;
    const remote = `http://${info.server.addr}:${port}`;
    let local: Browser | null = null, shaped: Browser | null = null;
    const pages: Page[] = [];
    const runs: ViewerRun[] = [];
    const owner = new Map<number, number>();
    const claim = () => {
      for (const vs of display.stats().viewerStats) {
        if (owner.has(vs.id) || !arrivals.length) continue;
        const shaped = arrivals.shift() === "shaped";
        // A viewer of that kind without an id yet, else (a reconnect) the first.
        const kind = scenario.viewers.flatMap((v, k) =>
          v.shaped === shaped ? [k] : []
        );
        const taken = new Set(owner.values());
        owner.set(vs.id, kind.find((k) => !taken.has(k)) ?? kind[0] ?? -1);
      }
    };
    for (const spec of scenario.viewers) {
      let browser: Browser;
      if (spec.shaped) {
        shaped ??= await launchIn(info.client.ns, remote, dir);
        browser = shaped;
      } else {
        local ??= await launch();
        browser = local;
      }
      if (!browsers.includes(browser)) browsers.push(browser);
      const page = await browser.newPage({
        viewport: { width, height },
        deviceScaleFactor: 1,
      });
      const base = spec.shaped ? remote : `http://127.0.0.1:${port}`;
      await page.goto(`${base}/?transport=${scenario.transport}`, {
        timeout: 30_000,
      });
      await waitForExpression(
        page,
        `globalThis.rfb?.view.status === "negotiated"`,
        { timeout: 30_000 },
      );
      const chosen = await page.evaluate(
        `globalThis.rfb.view.config?.transport`,
      );
      if (chosen !== scenario.transport) {
        throw new Error(
          `asked for ${scenario.transport}, the server chose ${chosen}`,
        );
      }
      await page.evaluate(`(() => {
        globalThis.__frames = [];
        globalThis.__statuses = [];
        const view = globalThis.rfb.view;
        view.addEventListener("frame", (e) => {
          const d = e.detail;
          if (d.timestampUs !== null) {
            __frames.push([d.timestampUs, d.receivedAt, d.displayedAt]);
          }
        });
        view.addEventListener("status", (e) => {
          __statuses.push([performance.timeOrigin + performance.now(),
            e.detail.status, e.detail.code ?? null]);
        });
        // What the viewer's chrome said about adaptation, as a person sees it.
        globalThis.__told = null;
        view.addEventListener("stats", (e) => {
          const badge = document.querySelector(".rfb-badge");
          if (e.detail.reduced && badge && !badge.hidden) {
            globalThis.__told ??= badge.textContent + " | " + badge.title;
          }
        });
      })()`);
      pages.push(page);
      runs.push({
        shaped: spec.shaped,
        frames: [],
        stats: [],
        wire: [],
        statuses: [],
        told: null,
        clock: { offset: 0, error: 0 },
      });
      claim();
    }
    const devs = scenario.viewers.map((v) => v.shaped ? info.server.dev : "lo");
    const t0 = epochMs();
    const sample = async () => {
      const t = (epochMs() - t0) / 1000;
      claim();
      for (const vs of display.stats().viewerStats) {
        const i = owner.get(vs.id);
        if (i !== undefined && i >= 0) runs[i].stats.push({ t, ...vs });
      }
      for (let i = 0; i < runs.length; i++) {
        const bytes = Number(
          await Deno.readTextFile(
            `/sys/class/net/${devs[i]}/statistics/tx_bytes`,
          ),
        );
        runs[i].wire.push([t, bytes]);
      }
    };
    let sampling = sample();
    const timer = setInterval(() => {
      sampling = sampling.then(sample);
    }, SAMPLE_MS);
    const changes = scenario.schedule.filter((c) => c.atS > 0).map((c) =>
      sleep(c.atS * 1000).then(() => net.apply(c))
    );
    let published = 0;
    try {
      published = await publishAt(
        (f) => display.publish(f),
        () => ring[player.next()],
        fps,
        scenario.durationS * 1000,
      );
      await sampling;
      await sample();
    } finally {
      clearInterval(timer);
      await sampling.catch(() => {});
      await Promise.all(changes);
    }
    await sleep(500); // the last frames reach the canvas
    for (let i = 0; i < pages.length; i++) {
      const clock = await clockOffset(pages[i]);
      const raw = await pages[i].evaluate(`globalThis.__frames`) as number[][];
      const st = await pages[i].evaluate(`globalThis.__statuses`) as Array<
        [number, string, number | null]
      >;
      runs[i].clock = clock;
      runs[i].told = await pages[i].evaluate(`globalThis.__told`) as
        | string
        | null;
      runs[i].frames = raw.map(([ts, recv, shown]) => ({
        pub: ts / 1000 - t0,
        recv: recv - clock.offset - t0,
        shown: shown - clock.offset - t0,
      }));
      runs[i].statuses = st.map(([t, s, c]) => [
        (t - clock.offset - t0) / 1000,
        s,
        c,
      ]);
    }
    return {
      scenario,
      startedAt: t0,
      published,
      viewers: runs,
      chromium: browsers[0]?.version() ?? "",
    };
  } finally {
    for (const b of browsers) await b.close().catch(() => {});
    await display.close();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  }
}

if (import.meta.main) {
  const args = JSON.parse(Deno.args[0]) as RunnerArgs;
  const result = await runInside(args);
  await Deno.writeTextFile(args.out, JSON.stringify(result));
  Deno.exit(0);
}
