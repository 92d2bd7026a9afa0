/**
 * Small helpers shared by the benchmarks: statistics, number formatting,
 * Markdown tables, CPU time and paced publishing.
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

/** CPU counters of the machine and of this process (children that ended included), in clock ticks. */
export interface CpuSnapshot {
  /** Busy ticks of all CPUs. */
  busy: number;
  /** All ticks of all CPUs, idle included. */
  total: number;
  /** This process's ticks plus those of its children that have ended. */
  ours: number;
}

/** Read the counters (Linux `/proc`); zeros elsewhere. */
export function cpuSnapshot(): CpuSnapshot {
  try {
    const cpu = Deno.readTextFileSync("/proc/stat").split("\n")[0]
      .trim().split(/\s+/).slice(1).map(Number);
    const [user, nice, system, idle, iowait, irq, softirq, steal] = cpu;
    const busy = user + nice + system + irq + softirq + (steal ?? 0);
    const self = Deno.readTextFileSync("/proc/self/stat");
    const f = self.slice(self.lastIndexOf(")") + 2).split(" ").map(Number);
    const ours = f[11] + f[12] + f[13] + f[14]; // utime stime cutime cstime
    return { busy, total: busy + idle + iowait, ours };
  } catch {
    return { busy: 0, total: 0, ours: 0 };
  }
}

/**
 * The share of the machine's CPU time (all cores = 1) that other processes
 * used between two snapshots: what skews a benchmark on a shared box. Our
 * children count as ours only once they have ended.
 */
export function otherLoad(a: CpuSnapshot, b: CpuSnapshot): number {
  const total = b.total - a.total;
  if (total <= 0) return NaN;
  return Math.max(0, (b.busy - a.busy) - (b.ours - a.ours)) / total;
}
