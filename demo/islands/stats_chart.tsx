/// <reference lib="dom" />
/**
 * A live chart of a view's frame rate, bitrate and latency (the last 60
 * samples, two a second), drawn as SVG. A second with nothing measured (a
 * resting stream: no frames, no latency) reads "—" and leaves a gap.
 *
 * @module
 */

import { useEffect, useState } from "preact/hooks";
import type { ViewStats } from "../../client/mod.ts";
import { useView } from "./store.ts";

/** Props of the chart island. */
export interface StatsChartProps {
  /** Stream whose view to chart. */
  stream: string;
}

const N = 60;

interface Series {
  label: string;
  unit: string;
  color: string;
  /** The value, or null when nothing was measured. */
  pick: (s: ViewStats) => number | null;
}

const SERIES: Series[] = [
  {
    label: "fps",
    unit: "",
    color: "var(--ok)",
    pick: (s) => s.fps > 0 ? s.fps : null,
  },
  {
    label: "bitrate",
    unit: " Mbit/s",
    color: "var(--accent)",
    pick: (s) => s.bitrateBps > 0 ? s.bitrateBps / 1e6 : null,
  },
  {
    label: "latency",
    unit: " ms",
    color: "var(--warn)",
    pick: (s) => s.latencyMs,
  },
];

/** The transport and format, named as the viewer's toolbar names them. */
function transportName(s: ViewStats): string {
  if (s.transport === "webcodecs") return `H.264 ${s.format ?? ""}`.trim();
  if (s.transport !== "image") return "—";
  return `Image ${s.format?.replace(/^image\//, "").toUpperCase() ?? ""}`
    .trim();
}

function Spark(
  { values, color }: { values: Array<number | null>; color: string },
) {
  const max = Math.max(1e-9, ...values.map((v) => v ?? 0)) * 1.15;
  // One line per run of measured samples.
  const runs: string[][] = [[]];
  values.forEach((v, i) => {
    if (v === null) {
      if (runs[runs.length - 1].length) runs.push([]);
      return;
    }
    runs[runs.length - 1].push(
      `${((N - values.length + i) / (N - 1)) * 300},${60 - (v / max) * 56}`,
    );
  });
  return (
    <svg
      viewBox="0 0 300 60"
      preserveAspectRatio="none"
      class="spark"
      aria-hidden="true"
    >
      {runs.filter((r) => r.length).map((r, i) => (
        <polyline
          key={i}
          points={r.join(" ")}
          fill="none"
          stroke={color}
          stroke-width="2"
          vector-effect="non-scaling-stroke"
        />
      ))}
    </svg>
  );
}

function shown(value: number | null, series: Series): string {
  if (value === null) return "—";
  return `${value.toFixed(series.label === "fps" ? 0 : 1)}${series.unit}`;
}

/** Live charts for one stream's view. */
export function StatsChart({ stream }: StatsChartProps) {
  const view = useView(stream);
  const [history, setHistory] = useState<ViewStats[]>([]);
  useEffect(() => {
    if (!view) return;
    const onStats = (e: Event) => {
      const s = (e as CustomEvent<ViewStats>).detail;
      setHistory((h) => [...h.slice(-(N - 1)), s]);
    };
    view.addEventListener("stats", onStats);
    return () => view.removeEventListener("stats", onStats);
  }, [view]);
  const last = history[history.length - 1];
  return (
    <div class="charts">
      {SERIES.map((s) => (
        <div class="chart" key={s.label}>
          <div class="chart-head">
            <span>{s.label}</span>
            <strong data-series={s.label}>
              {last ? shown(s.pick(last), s) : "—"}
            </strong>
          </div>
          <Spark values={history.map(s.pick)} color={s.color} />
        </div>
      ))}
      {last && (
        <p class="muted">
          {transportName(last)} · {last.width}×{last.height} · dropped{" "}
          {last.dropped}
          {last.server?.target_bitrate
            ? ` · target ${
              (last.server.target_bitrate / 1e6).toFixed(1)
            } Mbit/s`
            : ""}
        </p>
      )}
    </div>
  );
}
