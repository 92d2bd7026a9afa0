/**
 * Small helpers shared by the benchmarks: statistics, number formatting,
 * Markdown (tables, headings), CPU time and load, paced publishing, and
 * keeping written reports as `deno fmt` wants them.
 *
 * @module
 */

import process from "node:process";

/** Resolve after `ms` milliseconds. */
export const sleep = (ms: number): Promise<void> =>
  new Promise((r) => setTimeout(r, ms));

/**
 * The `q` quantile (0-1) of `xs`, nearest rank; NaN when empty.
 *
 * @example
 * ```ts
 * import { quantile } from "./util.ts";
 * console.log(quantile([3, 1, 2], 0.5)); // 2
 * ```
 */
export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))];
}

/** The arithmetic mean; NaN when empty. */
export const mean = (xs: readonly number[]): number =>
  xs.reduce((a, b) => a + b, 0) / xs.length;

/** One decimal. */
export const f1 = (v: number): string => v.toFixed(1);
/** Two decimals. */
export const f2 = (v: number): string => v.toFixed(2);

/** The frame sizes the benchmarks measure at: 720p and 1080p. */
export const SIZES: ReadonlyArray<readonly [number, number]> = [
  [1280, 720],
  [1920, 1080],
];

/** A frame size as the reports name it, e.g. `"1280x720"`. */
export const sizeName = (width: number, height: number): string =>
  `${width}x${height}`;

/** The WebSocket URL of a display (or server) listening on 127.0.0.1. */
export const wsUrl = (server: { readonly port: number | null }): string =>
  `ws://127.0.0.1:${server.port}/`;

/** The 1, 5 and 15 minute load averages, e.g. `"0.52 / 0.40 / 0.31"`. */
export const loadavg = (): string =>
  Deno.loadavg().map((l) => l.toFixed(2)).join(" / ");

/**
 * A Markdown table.
 *
 * @example
 * ```ts
 * import { table } from "./util.ts";
 * console.log(table(["a", "b"], [["1", "2"]]));
 * ```
 */
export function table(head: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(head), line(head.map(() => "---")), ...rows.map(line)].join(
    "\n",
  );
}

/**
 * Every Markdown heading in `text` one level down (`## X` becomes `### X`),
 * so a part's sections sit under the part's own heading.
 *
 * @example
 * ```ts
 * import { demote } from "./util.ts";
 * console.log(demote("## A. Encode time\n\ntext")); // "### A. Encode time\n\ntext"
 * ```
 */
export function demote(text: string): string {
  return text.replace(/^(#+) /gm, (_, h: string) => `${h}# `);
}

/**
 * Run `deno fmt --quiet` on `paths` (reports written with tables), so that
 * `deno task check` stays green after a run.
 */
export async function formatFiles(paths: string[]): Promise<void> {
  await new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--quiet", ...paths],
  }).output();
}

/** CPU time (user + system) of this process since `since`, milliseconds. */
export const cpuMs = (since: ReturnType<typeof process.cpuUsage>): number => {
  const c = process.cpuUsage(since);
  return (c.user + c.system) / 1000;
};

/** `"met"` or `"not met"`. */
export const met = (ok: boolean): string => ok ? "met" : "not met";

/**
 * Call `publish(next())` at `fps` for `ms` milliseconds on an absolute
 * schedule (a late tick publishes at once); returns how many frames.
 */
export async function publishAt(
  publish: (frame: Uint8Array) => void,
  next: () => Uint8Array,
  fps: number,
  ms: number,
): Promise<number> {
  const start = performance.now();
  let n = 0;
  for (; n * 1000 / fps < ms; n++) {
    const wait = start + n * 1000 / fps - performance.now();
    if (wait > 0) await sleep(wait);
    publish(next());
  }
  return n;
}

/** A short description of this machine, for the head of a report. */
export async function cpuModel(): Promise<string> {
  const cpuinfo = await Deno.readTextFile("/proc/cpuinfo").catch(() => "");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? "unknown";
  return `${model}, ${navigator.hardwareConcurrency} cores`;
}

interface ProcTicks {
  ppid: number;
  /** utime + stime, clock ticks. */
  ticks: number;
}

/** utime + stime and the parent of every process (Linux `/proc`). */
async function readProcs(): Promise<Map<number, ProcTicks>> {
  const out = new Map<number, ProcTicks>();
  const reads: Promise<void>[] = [];
  for await (const e of Deno.readDir("/proc")) {
    const pid = Number(e.name);
    if (!Number.isInteger(pid)) continue;
    reads.push(
      Deno.readTextFile(`/proc/${pid}/stat`).then((stat) => {
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        out.set(pid, { ppid: Number(f[1]), ticks: Number(f[11]) + +f[12] });
      }, () => {/* gone */}),
    );
  }
  await Promise.all(reads);
  return out;
}

/** Busy and total ticks of all CPUs. */
async function machineTicks(): Promise<{ busy: number; total: number }> {
  const cpu = (await Deno.readTextFile("/proc/stat")).split("\n")[0]
    .trim().split(/\s+/).slice(1).map(Number);
  const [user, nice, system, idle, iowait, irq, softirq, steal] = cpu;
  const busy = user + nice + system + irq + softirq + (steal ?? 0);
  return { busy, total: busy + idle + iowait };
}

/**
 * Measures how much of the machine's CPU time processes other than this one
 * and its descendants (viewer processes, Chromium) used over a stretch:
 * what skews a benchmark on a shared box. Descendants are found by walking
 * `/proc` every `everyMs` (their CPU time is not reliably folded into ours
 * when they end: Chromium does not reap its renderers), so a short-lived
 * descendant may be missed. Linux only; elsewhere `stop()` gives NaNs.
 *
 * @example
 * ```ts ignore
 * const meter = await LoadMeter.start();
 * // ... benchmark ...
 * const { others } = await meter.stop();
 * console.log(`${Math.round(others * 100)}% used by others`);
 * ```
 */
export class LoadMeter {
  #machine = { busy: 0, total: 0 };
  #self = 0;
  #selfLast = 0;
  /** Descendant pid → ticks when first seen (0 if born since) and last seen. */
  #kids = new Map<number, { base: number; last: number }>();
  #timer: ReturnType<typeof setInterval> | null = null;
  #sampling: Promise<void> = Promise.resolve();
  #ok = true;

  private constructor() {}

  /** Start measuring. */
  static async start(everyMs = 300): Promise<LoadMeter> {
    const m = new LoadMeter();
    try {
      m.#machine = await machineTicks();
      await m.#sample(true);
    } catch {
      m.#ok = false;
      return m;
    }
    const timer = setInterval(() => {
      m.#sampling = m.#sampling.then(() => m.#sample(false)).catch(() => {});
    }, everyMs);
    Deno.unrefTimer(timer);
    m.#timer = timer;
    return m;
  }

  async #sample(first: boolean): Promise<void> {
    const procs = await readProcs();
    const self = procs.get(Deno.pid)?.ticks ?? this.#selfLast;
    if (first) this.#self = self;
    this.#selfLast = self;
    const children = new Map<number, number[]>();
    for (const [pid, p] of procs) {
      const list = children.get(p.ppid);
      if (list) list.push(pid);
      else children.set(p.ppid, [pid]);
    }
    const todo = [...(children.get(Deno.pid) ?? [])];
    while (todo.length) {
      const pid = todo.pop()!;
      const ticks = procs.get(pid)!.ticks;
      const known = this.#kids.get(pid);
      if (known) known.last = ticks;
      else this.#kids.set(pid, { base: first ? ticks : 0, last: ticks });
      todo.push(...(children.get(pid) ?? []));
    }
  }

  /**
   * Stop. The shares (0-1, all cores = 1) of the machine's CPU time that
   * this process and its descendants (`ours`) and everything else
   * (`others`) used.
   */
  async stop(): Promise<{ ours: number; others: number }> {
    const none = { ours: NaN, others: NaN };
    if (!this.#ok) return none;
    if (this.#timer !== null) clearInterval(this.#timer);
    await this.#sampling;
    try {
      await this.#sample(false);
      const m = await machineTicks();
      const total = m.total - this.#machine.total;
      let ours = this.#selfLast - this.#self;
      for (const k of this.#kids.values()) ours += k.last - k.base;
      const busy = m.busy - this.#machine.busy;
      if (total <= 0) return none;
      return { ours: ours / total, others: Math.max(0, busy - ours) / total };
    } catch {
      return none;
    }
  }
}

/** One DESIGN.md target as measured in this run. */
export interface TargetCheck {
  /** The target, e.g. "H.264 server time <= 1.5x the codec's, 720p". */
  target: string;
  /** What was measured, e.g. "1.18x". */
  result: string;
  /** Whether it was met. */
  ok: boolean;
}

/** Every target checked in this run, in order (read by bench/main.ts). */
export const targetChecks: TargetCheck[] = [];

/**
 * Record a target's outcome for the summary and return `"<result> met"` or
 * `"<result> not met"` for the section's own table.
 *
 * @example
 * ```ts
 * import { checkTarget } from "./util.ts";
 * console.log(checkTarget("ratio <= 1.5x", "1.20x", 1.2 <= 1.5)); // "1.20x met"
 * ```
 */
export function checkTarget(
  target: string,
  result: string,
  ok: boolean,
): string {
  targetChecks.push({ target, result, ok });
  return `${result} ${met(ok)}`;
}
