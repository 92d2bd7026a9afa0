/**
 * Slow and lossy links (`deno task bench links`, or `deno run -A
 * bench/links.ts [group...]` with groups `loopback`, `rates`, `loss`,
 * `change`, `two`): one Chromium viewer of a 1280x720 textured moving scene
 * published at 30 fps, over a link shaped with the harness in
 * bench/shaped.ts (network namespaces, `tc tbf`, `iptables -m statistic`),
 * on H.264 and on JPEG:
 *
 * - loopback (unshaped), the same-run baseline;
 * - 20, 5, 2 and 1 Mbit/s;
 * - 5 Mbit/s with 1% and 3% random loss;
 * - a link that drops from 20 to 2 Mbit/s and comes back (10 s, 12 s, 18 s);
 * - two viewers at once, one at 2 Mbit/s and one unshaped, against the
 *   loopback row (one unshaped viewer alone), and the same two with the
 *   link unshaped (what the second viewer costs this machine's CPU).
 *
 * First, a bulk TCP transfer through the link at each rate shows the
 * shaping is real; every case reports the Mbit/s on the viewer's wire.
 *
 * Figures are over the frames drawn after the first 5 s, and checked against
 * the slow-link targets of ../shared/DESIGN.md and issue 15. Needs root
 * (skipped otherwise, with the reason).
 *
 * @module
 */

import type { PageTransport } from "./latency.ts";
import {
  bulkMbit,
  bulkTransfer,
  type LinkChange,
  runScenario,
  type Scenario,
  type ScenarioResult,
  settleAfter,
  ShapedNet,
  shapingMissing,
  stepAfter,
  summarize,
  TBF_BURST,
  TBF_LATENCY_MS,
  type ViewerSummary,
} from "./shaped.ts";
import { checkTarget, f1, f2, table } from "./util.ts";

/** Seconds of publishing in a steady case; the first `SKIP_S` are not counted. */
export const STEADY_S = 12;
/** Seconds left out at the start of every case. */
export const SKIP_S = 5;
/** The rate change: seconds at 20, at 2, and at 20 Mbit/s again. */
export const CHANGE_S: readonly [number, number, number] = [10, 12, 18];
/** Glass-to-glass p95 a slow link must keep, ms. */
export const P95_LIMIT_MS = 250;

/** The groups of cases, in the order they run. */
export const GROUPS = ["loopback", "rates", "loss", "change", "two"] as const;
/** One group of cases. */
export type Group = typeof GROUPS[number];

const TRANSPORTS: PageTransport[] = ["webcodecs", "image"];
const RATES = [20, 5, 2, 1];
const LOSSES = [1, 3];

const label = (t: PageTransport) => t === "webcodecs" ? "H.264" : "JPEG";
const minFps = (t: PageTransport) => t === "webcodecs" ? 25 : 10;
const ms = (v: number) => Number.isFinite(v) ? f1(v) : "—";
const secs = (v: number | null) => v === null ? "never" : `${f1(v)} s`;
const stepsText = (s: Array<number | null>) =>
  s.length === 0 ? "—" : s.map((x) => x === null ? "off" : `${x}`).join(", ");

interface Two {
  transport: PageTransport;
  /** The first viewer's link; null for the control (both unshaped). */
  rateMbit: number | null;
  result: ScenarioResult;
}

interface Steady {
  link: string;
  transport: PageTransport;
  rateMbit: number | null;
  lossPct: number;
  result: ScenarioResult;
  s: ViewerSummary;
}

const steady = (
  transport: PageTransport,
  rateMbit: number | null,
  lossPct: number,
  shaped = true,
): Scenario => ({
  transport,
  viewers: [{ shaped }],
  durationS: STEADY_S,
  schedule: [{ atS: 0, rateMbit, lossPct }],
});

/** What `linksBenchmark` returns: the Markdown and each case's raw result. */
export interface LinksReport {
  text: string;
  results: Array<{ name: string; result: ScenarioResult }>;
}

/**
 * Run the cases of `groups` (default all) on one shaped net and render the
 * tables.
 *
 * @example
 * ```ts ignore
 * console.log((await linksBenchmark(["rates"])).text);
 * ```
 */
export async function linksBenchmark(
  groups: readonly Group[] = GROUPS,
): Promise<LinksReport> {
  const head = ["## Slow and lossy links", ""];
  const missing = await shapingMissing();
  if (missing) {
    return { text: [...head, `Skipped: ${missing}.`].join("\n"), results: [] };
  }
  const want = new Set(groups);
  const results: LinksReport["results"] = [];
  const run = async (name: string, net: ShapedNet, sc: Scenario) => {
    const started = performance.now();
    const result = await runScenario(net, sc);
    console.error(
      `links: ${name} (${f1((performance.now() - started) / 1000)} s)`,
    );
    results.push({ name, result });
    return result;
  };
  const rows: Steady[] = [];
  const changes: Array<{ transport: PageTransport; result: ScenarioResult }> =
    [];
  const twos: Two[] = [];
  await using net = await ShapedNet.create();
  // The link itself first: a bulk TCP transfer at each rate.
  const calibration: string[] = [];
  for (const rate of want.has("rates") ? RATES : []) {
    await net.apply({ rateMbit: rate, lossPct: 0 });
    const got = bulkMbit(await bulkTransfer(net, 3000), 1000, 3000);
    calibration.push(`${rate} → ${f2(got)}`);
  }
  const needBase = want.has("loopback") || want.has("two");
  for (const t of TRANSPORTS) {
    if (!needBase) break;
    const result = await run(`loopback ${label(t)}`, net, {
      ...steady(t, null, 0, false),
    });
    rows.push({
      link: "loopback",
      transport: t,
      rateMbit: null,
      lossPct: 0,
      result,
      s: summarize(result, 0, SKIP_S),
    });
    if (!want.has("loopback")) continue;
    // The same with adaptation off: loopback as before the slow-link work.
    const off = await run(`loopback ${label(t)}, adaptation off`, net, {
      ...steady(t, null, 0, false),
      adaptive: false,
    });
    rows.push({
      link: "loopback, adaptation off",
      transport: t,
      rateMbit: null,
      lossPct: 0,
      result: off,
      s: summarize(off, 0, SKIP_S),
    });
  }
  for (const rate of want.has("rates") ? RATES : []) {
    for (const t of TRANSPORTS) {
      const result = await run(`${rate} Mbit/s ${label(t)}`, net, {
        ...steady(t, rate, 0),
      });
      rows.push({
        link: `${rate} Mbit/s`,
        transport: t,
        rateMbit: rate,
        lossPct: 0,
        result,
        s: summarize(result, 0, SKIP_S),
      });
    }
  }
  for (const loss of want.has("loss") ? LOSSES : []) {
    for (const t of TRANSPORTS) {
      const result = await run(`5 Mbit/s ${loss}% loss ${label(t)}`, net, {
        ...steady(t, 5, loss),
      });
      rows.push({
        link: `5 Mbit/s, ${loss}% loss`,
        transport: t,
        rateMbit: 5,
        lossPct: loss,
        result,
        s: summarize(result, 0, SKIP_S),
      });
    }
  }
  const [a, b, c] = CHANGE_S;
  const schedule: LinkChange[] = [
    { atS: 0, rateMbit: 20, lossPct: 0 },
    { atS: a, rateMbit: 2, lossPct: 0 },
    { atS: a + b, rateMbit: 20, lossPct: 0 },
  ];
  for (const t of want.has("change") ? TRANSPORTS : []) {
    const result = await run(`20 → 2 → 20 Mbit/s ${label(t)}`, net, {
      transport: t,
      viewers: [{ shaped: true }],
      durationS: a + b + c,
      schedule,
    });
    changes.push({ transport: t, result });
  }
  for (const t of want.has("two") ? TRANSPORTS : []) {
    // The control: the same two Chromiums with the veth unshaped, so what
    // the second viewer costs this machine's CPU shows apart from its link.
    for (const rateMbit of [2, null]) {
      const result = await run(
        `two viewers ${rateMbit ?? "unshaped"} ${label(t)}`,
        net,
        {
          transport: t,
          viewers: [{ shaped: true }, { shaped: false }],
          durationS: STEADY_S,
          schedule: [{ atS: 0, rateMbit, lossPct: 0 }],
        },
      );
      twos.push({ transport: t, rateMbit, result });
    }
  }
  const chromium = results[0]?.result.chromium ?? "";
  const text = [
    ...head,
    describe(chromium),
    "",
    ...(calibration.length
      ? [
        "The link alone (a bulk TCP transfer through it, payload Mbit/s " +
        `over 1-3 s): ${calibration.join(", ")}.`,
        "",
      ]
      : []),
    ...(rows.length ? ["### Steady links", "", steadyTable(rows), ""] : []),
    ...(changes.length ? [changeTable(changes), ""] : []),
    ...(twos.length ? [twoTable(twos, rows), ""] : []),
  ].join("\n").trimEnd();
  return { text, results };
}

function describe(chromium: string): string {
  return "A `serve()` display (1280x720, fps 30, stillAfter false, other " +
    "options at their defaults) in a network namespace; the textured moving " +
    "scene of bench/scene.ts published at 30 fps; Chromium " +
    `${chromium} (headless, --disable-gpu, DPR 1) opens the display's page ` +
    "with `?transport=webcodecs` or `?transport=image`. A shaped viewer's " +
    "Chromium runs in a second namespace and reaches the server over a veth " +
    `pair with \`tc tbf\` on both ends (burst ${TBF_BURST / 1024} KiB, ` +
    `queue ${TBF_LATENCY_MS} ms); loss is \`iptables -m statistic\` dropping ` +
    "that share of the packets arriving at either end. No delay is added " +
    "(no `netem` here): round trips are queueing only. A loopback viewer " +
    "runs in the server's namespace on its unshaped `lo`. Figures are over " +
    `the frames drawn after the first ${SKIP_S} s of publishing (steady ` +
    `cases publish ${STEADY_S} s); glass-to-glass = drawn on the view's ` +
    "canvas − `publish()`; delivered = bytes on the viewer's wire (the " +
    "server's veth end, or `lo`; headers and retransmissions included).";
}

function steadyTable(rows: Steady[]): string {
  const body = rows.map((r) => {
    const s = r.s, name = label(r.transport);
    const targets: string[] = [];
    if (r.rateMbit !== null && r.lossPct === 0) {
      targets.push(
        checkTarget(
          `Slow link ${r.link}, ${name}: p95 <= ${P95_LIMIT_MS} ms`,
          `${ms(s.p95)} ms`,
          s.p95 <= P95_LIMIT_MS,
        ),
        checkTarget(
          `Slow link ${r.link}, ${name}: >= ${minFps(r.transport)} fps drawn`,
          `${f1(s.fps)} fps`,
          s.fps >= minFps(r.transport),
        ),
      );
    }
    if (r.lossPct > 0) {
      targets.push(checkTarget(
        `Lossy link ${r.link}, ${name}: no gap over 1 s`,
        `${ms(s.maxGapMs)} ms`,
        s.maxGapMs <= 1000,
      ));
    }
    return [
      r.link,
      name,
      `${s.frames} / ${r.result.published}`,
      f1(s.fps),
      ms(s.p50),
      ms(s.p95),
      ms(s.p99),
      ms(s.maxGapMs),
      `${f1(s.mbit)}${r.rateMbit === null ? "" : ` / ${r.rateMbit}`}`,
      stepsText(s.steps),
      String(s.closes),
      targets.join("; ") || "—",
    ];
  });
  return table(
    [
      "link",
      "transport",
      "drawn / published",
      "drawn fps",
      "p50 ms",
      "p95",
      "p99",
      "longest gap ms",
      "delivered Mbit/s / limit",
      "quality steps",
      "closes",
      "targets",
    ],
    body,
  );
}

function changeTable(
  cases: Array<{ transport: PageTransport; result: ScenarioResult }>,
): string {
  const [a, b, c] = CHANGE_S;
  const body = cases.map(({ transport, result }) => {
    const name = label(transport);
    const before = summarize(result, 0, SKIP_S, a);
    const low = summarize(result, 0, a, a + b);
    const after = summarize(result, 0, a + b, a + b + c);
    const settle = settleAfter(result, 0, a, a + b, P95_LIMIT_MS);
    // Full quality: the best step the viewer held in the last 2 s at 20
    // Mbit/s before the drop (step 0 needs more than 20 Mbit/s for JPEG of
    // this scene at 30 fps); null where adaptation is off.
    const held = result.viewers[0].stats.filter((s) => s.t >= a - 2 && s.t < a)
      .map((s) => s.qualityStep);
    const full = held.some((s) => s === null)
      ? null
      : Math.min(...held.map((s) => s ?? 0));
    const back = stepAfter(result, 0, a + b, full);
    return [
      name,
      `${ms(before.p95)} / ${f1(before.fps)}`,
      `${ms(low.p50)} / ${ms(low.p95)} / ${f1(low.fps)}`,
      `${ms(after.p95)} / ${f1(after.fps)}`,
      `${f1(low.mbit)}`,
      stepsText([...before.steps, ...low.steps, ...after.steps].filter(
        (x, i, all) => all.indexOf(x) === i,
      )),
      checkTarget(
        `Link 20 → 2 Mbit/s, ${name}: p95 back under ${P95_LIMIT_MS} ms within 3 s`,
        secs(settle),
        settle !== null && settle <= 3,
      ),
      checkTarget(
        `Link 2 → 20 Mbit/s, ${name}: back to full quality within 15 s`,
        `${secs(back)}${full === null ? " (adaptation off)" : ""}`,
        back !== null && back <= 15,
      ),
    ];
  });
  return [
    `### Link change: ${a} s at 20 Mbit/s, ${b} s at 2, ${c} s at 20`,
    "",
    `Settle: the time after the drop until the rolling 1 s p95 is under ` +
    `${P95_LIMIT_MS} ms and stays so until the rise (a second without a ` +
    "frame counts as over). Back to full: the time after the rise until the " +
    "server's quality step for the viewer is back to the best step it held " +
    "in the 2 s before the drop (at 20 Mbit/s) and stays so to the end.",
    "",
    table(
      [
        "transport",
        `20 Mbit/s (${SKIP_S}-${a} s): p95 / fps`,
        `2 Mbit/s: p50 / p95 / fps`,
        "20 again: p95 / fps",
        "delivered at 2",
        "quality steps",
        "settle after the drop",
        "back to full after the rise",
      ],
      body,
    ),
  ].join("\n");
}

function twoTable(cases: Two[], rows: Steady[]): string {
  const body: string[][] = [];
  for (const { transport, rateMbit, result } of cases) {
    const name = label(transport);
    const base = rows.find((r) =>
      r.link === "loopback" && r.transport === transport
    );
    const first = summarize(result, 0, SKIP_S);
    const local = summarize(result, 1, SKIP_S);
    const ratio = base ? local.p50 / base.s.p50 : NaN;
    const full = local.steps.every((x) => x === null || x === 0);
    const vs = `${ms(local.p50)} vs ${base ? ms(base.s.p50) : "—"} ms (${
      f2(ratio)
    }x)`;
    const row = (who: string, s: ViewerSummary, targets: string) => [
      name,
      who,
      f1(s.fps),
      ms(s.p50),
      ms(s.p95),
      f1(s.mbit),
      stepsText(s.steps),
      targets,
    ];
    if (rateMbit === null) {
      body.push(
        row("control: veth unshaped", first, "—"),
        row("control: lo", local, `p50 ${vs}`),
      );
      continue;
    }
    body.push(
      row(`${rateMbit} Mbit/s`, first, "—"),
      row(
        "unshaped",
        local,
        [
          checkTarget(
            `Two viewers (${rateMbit} Mbit/s + unshaped), ${name}: unshaped p50 within 10% of one viewer alone`,
            vs,
            ratio <= 1.1,
          ),
          checkTarget(
            `Two viewers (${rateMbit} Mbit/s + unshaped), ${name}: unshaped keeps full quality`,
            stepsText(local.steps),
            full,
          ),
        ].join("; "),
      ),
    );
  }
  return [
    "### Two viewers: one at 2 Mbit/s, one unshaped",
    "",
    "Baseline: the loopback row above (one unshaped viewer alone, same " +
    "run). The control rows run the same two Chromiums with the veth " +
    "unshaped: the difference between the control's unshaped p50 and the " +
    "baseline's is what the second viewer costs this machine (its decode, " +
    "the server's work), not its link.",
    "",
    table(
      [
        "transport",
        "viewer",
        "drawn fps",
        "p50 ms",
        "p95",
        "delivered Mbit/s",
        "quality steps",
        "targets",
      ],
      body,
    ),
  ].join("\n");
}

if (import.meta.main) {
  const bad = Deno.args.find((a) => !(GROUPS as readonly string[]).includes(a));
  if (bad) {
    console.error(`unknown group '${bad}'; groups: ${GROUPS.join(", ")}`);
    Deno.exit(2);
  }
  const groups = Deno.args.length ? Deno.args as Group[] : GROUPS;
  console.log((await linksBenchmark(groups)).text);
}
