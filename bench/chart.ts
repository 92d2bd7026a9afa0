/**
 * The benchmark chart, written by `deno task bench` as `bench/results.svg`:
 * on the left the glass-to-glass latency CDF per case (transport, size,
 * rate), on the right the server's CPU per frame against the number of
 * viewers, ours against the baselines. Plain SVG, no dependencies.
 *
 * @module
 */

/** One latency curve: its samples in ms. */
export interface CdfSeries {
  label: string;
  color: string;
  dashed?: boolean;
  values: number[];
}

/** One cost line: CPU ms per frame at each viewer count. */
export interface CostSeries {
  label: string;
  color: string;
  dashed?: boolean;
  points: Array<[viewers: number, ms: number]>;
}

const W = 1040, H = 540;
const PANEL = { w: 440, h: 300, top: 70 };
const LEFT_X = 70, RIGHT_X = 590;

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
const n1 = (v: number) => Math.round(v * 10) / 10;

function axes(
  x0: number,
  xTicks: Array<[number, string]>,
  yTicks: Array<[number, string]>,
  xLabel: string,
  yLabel: string,
  title: string,
): string {
  const { w, h, top } = PANEL;
  const out = [
    `<text x="${x0}" y="${top - 24}" class="t">${esc(title)}</text>`,
    `<rect x="${x0}" y="${top}" width="${w}" height="${h}" class="box"/>`,
  ];
  for (const [x, label] of xTicks) {
    out.push(
      `<line x1="${n1(x)}" y1="${top}" x2="${n1(x)}" y2="${
        top + h
      }" class="grid"/>`,
      `<text x="${n1(x)}" y="${
        top + h + 16
      }" class="tick" text-anchor="middle">${esc(label)}</text>`,
    );
  }
  for (const [y, label] of yTicks) {
    out.push(
      `<line x1="${x0}" y1="${n1(y)}" x2="${x0 + w}" y2="${
        n1(y)
      }" class="grid"/>`,
      `<text x="${x0 - 6}" y="${n1(y) + 4}" class="tick" text-anchor="end">${
        esc(label)
      }</text>`,
    );
  }
  out.push(
    `<text x="${x0 + w / 2}" y="${
      top + h + 36
    }" class="lab" text-anchor="middle">${esc(xLabel)}</text>`,
    `<text x="${x0 - 48}" y="${
      top + h / 2
    }" class="lab" text-anchor="middle" transform="rotate(-90 ${x0 - 48} ${
      top + h / 2
    })">${esc(yLabel)}</text>`,
  );
  return out.join("\n");
}

/** A series' line through `points` (`"x,y"` each). */
function polyline(
  points: string[],
  style: { color: string; dashed?: boolean },
  width: number,
): string {
  return `<polyline points="${
    points.join(" ")
  }" fill="none" stroke="${style.color}" stroke-width="${width}"${
    style.dashed ? ' stroke-dasharray="5 3"' : ""
  }/>`;
}

/** A legend in columns of four, under a panel. */
function legend(
  x: number,
  y: number,
  items: Array<{ label: string; color: string; dashed?: boolean }>,
): string {
  return items.map((it, i) => {
    const lx = x + Math.floor(i / 4) * 220, ly = y + (i % 4) * 16;
    const dash = it.dashed ? ' stroke-dasharray="5 3"' : "";
    return `<line x1="${lx}" y1="${ly}" x2="${lx + 22}" y2="${ly}" ` +
      `stroke="${it.color}" stroke-width="2.5"${dash}/>` +
      `<text x="${lx + 28}" y="${ly + 4}" class="leg">${esc(it.label)}</text>`;
  }).join("\n");
}

/**
 * Draw the chart.
 *
 * @example
 * ```ts
 * import { chartSvg } from "./chart.ts";
 * const svg = chartSvg(
 *   [{ label: "H.264", color: "#36c", values: [10, 11, 12] }],
 *   [{ label: "ours", color: "#36c", points: [[1, 5], [8, 5.5], [32, 6]] }],
 *   "test",
 * );
 * console.log(svg.startsWith("<svg")); // true
 * ```
 */
export function chartSvg(
  cdfs: CdfSeries[],
  costs: CostSeries[],
  caption: string,
): string {
  const { w, h, top } = PANEL;
  const parts: string[] = [];

  // Left: latency CDF, x in ms (0 .. a round bound over every p99).
  const p99s = cdfs.flatMap((c) => {
    const s = [...c.values].sort((a, b) => a - b);
    return s.length ? [s[Math.floor(0.99 * (s.length - 1))]] : [];
  });
  const xMax = Math.max(20, Math.ceil(Math.max(...p99s, 20) / 10) * 10);
  const sx = (ms: number) => LEFT_X + Math.min(ms, xMax) / xMax * w;
  const sy = (q: number) => top + h - q * h;
  const step = xMax <= 60 ? 10 : xMax <= 120 ? 20 : 50;
  const xTicks: Array<[number, string]> = [];
  for (let v = 0; v <= xMax; v += step) xTicks.push([sx(v), `${v}`]);
  parts.push(axes(
    LEFT_X,
    xTicks,
    [0, 0.25, 0.5, 0.75, 0.9, 1].map((q) => [sy(q), `${q}`]),
    "publish → drawn on the canvas (ms)",
    "fraction of frames",
    "Glass-to-glass latency in Chromium (CDF)",
  ));
  for (const c of cdfs) {
    const s = [...c.values].sort((a, b) => a - b);
    if (!s.length) continue;
    const pts = s.map((v, i) => `${n1(sx(v))},${n1(sy((i + 1) / s.length))}`);
    parts.push(polyline(pts, c, 2));
  }
  parts.push(legend(LEFT_X, top + h + 58, cdfs));

  // Right: CPU ms per frame against viewers, log-log.
  const all = costs.flatMap((c) => c.points);
  const vMax = Math.max(32, ...all.map(([v]) => v));
  const yLo = Math.max(0.5, Math.min(...all.map(([, ms]) => ms)) / 1.5);
  const yHi = Math.max(...all.map(([, ms]) => ms)) * 1.5;
  const lx = (v: number) => RIGHT_X + Math.log(v) / Math.log(vMax) * w;
  const ly = (ms: number) =>
    top + h - (Math.log(ms / yLo) / Math.log(yHi / yLo)) * h;
  const yTicks: Array<[number, string]> = [];
  for (const v of [0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]) {
    if (v >= yLo && v <= yHi) yTicks.push([ly(v), `${v}`]);
  }
  parts.push(axes(
    RIGHT_X,
    [1, 2, 4, 8, 16, 32].filter((v) => v <= vMax).map((v) => [lx(v), `${v}`]),
    yTicks,
    "viewers",
    "server CPU ms per published frame",
    "Server cost against viewers (1280x720, 30 fps)",
  ));
  for (const c of costs) {
    const pts = c.points.map(([v, ms]) => `${n1(lx(v))},${n1(ly(ms))}`);
    parts.push(
      polyline(pts, c, 2.5),
      ...c.points.map(([v, ms]) =>
        `<circle cx="${n1(lx(v))}" cy="${
          n1(ly(ms))
        }" r="3.5" fill="${c.color}"/>`
      ),
    );
  }
  parts.push(legend(RIGHT_X, top + h + 58, costs));

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="system-ui, sans-serif">`,
    "<style>.t{font-size:15px;font-weight:600;fill:#222}.tick{font-size:11px;fill:#555}" +
    ".lab{font-size:12px;fill:#333}.leg{font-size:11px;fill:#222}" +
    ".grid{stroke:#e4e4e4;stroke-width:1}.box{fill:#fff;stroke:#999}" +
    ".cap{font-size:11px;fill:#666}</style>",
    `<rect width="${W}" height="${H}" fill="#fafafa"/>`,
    ...parts,
    `<text x="${LEFT_X}" y="${H - 14}" class="cap">${esc(caption)}</text>`,
    "</svg>",
  ].join("\n") + "\n";
}
