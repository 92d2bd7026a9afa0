/// <reference lib="dom" />
/**
 * A live chart of a view's frame rate, bitrate and latency (the last 60
 * samples, two a second), drawn as SVG.
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
  pick: (s: ViewStats) => number;
}

const SERIES: Series[] = [
  { label: "fps", unit: "", color: "var(--ok)", pick: (s) => s.fps },
  {
    label: "bitrate",
    unit: " Mbit/s",
    color: "var(--accent)",
    pick: (s) => s.bitrateBps / 1e6,
  },
  {
    label: "latency",
    unit: " ms",
    color: "var(--warn)",
    pick: (s) => s.latencyMs,
  },
];

function Spark({ values, color }: { values: number[]; color: string }) {
  const max = Math.max(1e-9, ...values) * 1.15;
  const pts = values.map((v, i) =>
    `${((N - values.length + i) / (N - 1)) * 300},${60 - (v / max) * 56}`
  ).join(" ");
  return (
    <svg
      viewBox="0 0 300 60"
      preserveAspectRatio="none"
      class="spark"
      aria-hidden="true"
    >
      <polyline
        points={pts}
        fill="none"
        stroke={color}
        stroke-width="2"
        vector-effect="non-scaling-stroke"
      />
    </svg>
  );
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
              {last
                ? `${s.pick(last).toFixed(s.label === "fps" ? 0 : 1)}${s.unit}`
                : "–"}
            </strong>
          </div>
          <Spark values={history.map(s.pick)} color={s.color} />
        </div>
      ))}
      {last && (
        <p class="muted">
          {last.transport ?? "—"} {last.format ?? ""} ·{" "}
          {last.width}×{last.height} · dropped {last.dropped}
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
