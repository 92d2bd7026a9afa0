/// <reference lib="dom" />
/**
 * The classroom's roster, for presenters: everyone watching the whiteboard,
 * who draws and who asks, read from the demo's `/api/classroom` (which
 * serves `display.presence()` to signed-in presenters only) every second.
 *
 * @module
 */

import { useEffect, useState } from "preact/hooks";

/** One person in the room, as `/api/classroom` lists them. */
export interface RosterEntry {
  /** Viewer id. */
  id: number;
  /** Their name (presenters), or null (the audience). */
  name: string | null;
  /** `"control"` (a presenter) or `"view"` (the audience). */
  role: "control" | "view";
  /** Whether they draw now. */
  control: boolean;
  /** Whether they asked to draw. */
  requested: boolean;
}

/** The people in the room, refreshed every second. */
export function Roster() {
  const [people, setPeople] = useState<RosterEntry[] | null>(null);
  useEffect(() => {
    let stop = false;
    const load = async () => {
      try {
        const res = await fetch("/api/classroom");
        if (res.ok && !stop) setPeople((await res.json()).viewers);
      } catch { /* try again in a second */ }
    };
    load();
    const timer = setInterval(load, 1000);
    return () => {
      stop = true;
      clearInterval(timer);
    };
  }, []);
  if (!people) return <p class="muted">Loading…</p>;
  const presenters = people.filter((p) => p.role === "control");
  const audience = people.length - presenters.length;
  return (
    <div class="roster">
      <ul>
        {presenters.map((p) => (
          <li key={p.id} data-control={String(p.control)}>
            {p.name ?? `viewer ${p.id}`}
            {p.control ? " · drawing" : p.requested ? " · asks to draw" : ""}
          </li>
        ))}
      </ul>
      <p class="muted">
        {audience} in the audience{audience === 1 ? "" : ", watching"}
      </p>
    </div>
  );
}
