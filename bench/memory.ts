/**
 * The memory part of the benchmarks (`deno task bench memory`): a short soak
 * (bench/soak.ts, in its own process) with 8 stalled viewers, judged on
 * whether the stalled sockets' buffers stay bounded and RSS stays flat.
 *
 * @module
 */

import { checkTarget, demote } from "./util.ts";

/**
 * The memory part: a short soak in its own process (bench/soak.ts), whose
 * report goes to `bench/out/memory.md`; resolves to this part's Markdown.
 *
 * @example
 * ```ts ignore
 * import { memoryBenchmark } from "./memory.ts";
 * console.log(await memoryBenchmark());
 * ```
 */
export async function memoryBenchmark(): Promise<string> {
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
