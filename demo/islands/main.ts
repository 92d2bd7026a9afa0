/// <reference lib="dom" />
/**
 * The islands bundle's entry: hydrate every `[data-island]` element on the
 * page with its component and the props the server rendered it with.
 *
 * @module
 */

import { h, hydrate } from "preact";
import { Controls } from "./controls.tsx";
import { Roster } from "./roster.tsx";
import { StatsChart } from "./stats_chart.tsx";
import { Viewer } from "./viewer.tsx";

// deno-lint-ignore no-explicit-any
const ISLANDS: Record<string, (props: any) => unknown> = {
  Viewer,
  Controls,
  Roster,
  StatsChart,
};

for (const el of document.querySelectorAll<HTMLElement>("[data-island]")) {
  const component = ISLANDS[el.dataset.island ?? ""];
  if (!component) continue;
  // deno-lint-ignore no-explicit-any
  hydrate(h(component as any, JSON.parse(el.dataset.props ?? "{}")), el);
}
