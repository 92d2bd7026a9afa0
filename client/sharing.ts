/**
 * A shared stream as a viewer sees it: the server's optional `presence`
 * (who watches, who drives) and `control` (this viewer's standing)
 * messages, checked field by field, and what the viewer shows of them: a
 * line such as "Alice is driving · 12 watching", and the control button
 * ("Request control", "Cancel request", "Hand over", "Release"). A server
 * that sends neither (pdum.rfb's) shows nothing of this. No DOM here.
 *
 * @module
 */

import type {
  ControlMessage,
  PresenceMessage,
  PresenceViewer,
} from "../src/protocol.ts";

/** Names and lists longer than this are cut (a hostile server must not bloat the page). */
const MAX_NAME = 64;
const MAX_LISTED = 16;

function count(v: unknown): number | null {
  return Number.isSafeInteger(v) && (v as number) >= 0 ? v as number : null;
}

function viewers(v: unknown): PresenceViewer[] | null {
  if (!Array.isArray(v)) return null;
  const out: PresenceViewer[] = [];
  for (const item of v.slice(0, MAX_LISTED)) {
    if (typeof item !== "object" || item === null) return null;
    const { id, name } = item as Record<string, unknown>;
    if (!Number.isSafeInteger(id)) return null;
    out.push(
      typeof name === "string" && name.trim()
        ? { id: id as number, name: name.trim().slice(0, MAX_NAME) }
        : { id: id as number },
    );
  }
  return out;
}

/**
 * A `presence` message with every field checked, or null when it is not
 * one this client can use.
 *
 * @example
 * ```ts
 * import { readPresence } from "./sharing.ts";
 * readPresence({ type: "presence", viewers: 2, driving: 1, drivers: [{ id: 1 }], requests: [] });
 * // { type: "presence", viewers: 2, driving: 1, drivers: [{ id: 1 }], requests: [] }
 * ```
 */
export function readPresence(
  msg: Record<string, unknown>,
): PresenceMessage | null {
  const n = count(msg.viewers), driving = count(msg.driving);
  const drivers = viewers(msg.drivers ?? []);
  const requests = viewers(msg.requests ?? []);
  if (n === null || driving === null || !drivers || !requests) return null;
  return { type: "presence", viewers: n, driving, drivers, requests };
}

/**
 * A `control` message with every field checked, or null.
 *
 * @example
 * ```ts
 * import { readControl } from "./sharing.ts";
 * readControl({ type: "control", you: 3, role: "view", mode: "shared", driving: false, requested: false })?.role; // "view"
 * ```
 */
export function readControl(
  msg: Record<string, unknown>,
): ControlMessage | null {
  const { you, role, mode, driving, requested } = msg;
  if (
    !Number.isSafeInteger(you) || (role !== "control" && role !== "view") ||
    (mode !== "shared" && mode !== "exclusive" && mode !== "none") ||
    typeof driving !== "boolean"
  ) {
    return null;
  }
  return {
    type: "control",
    you: you as number,
    role,
    mode,
    driving,
    requested: requested === true,
  };
}

/** A viewer's name as shown: its name, else "viewer <id>". */
export function viewerName(v: PresenceViewer): string {
  return v.name ?? `viewer ${v.id}`;
}

/**
 * The line a viewer shows about the stream's sharing, or null when there is
 * nothing worth saying (no `control` message, or a lone viewer of a shared
 * stream, as before sharing existed).
 *
 * @example
 * ```ts
 * import { presenceLine } from "./sharing.ts";
 * presenceLine(
 *   { type: "presence", viewers: 13, driving: 1, drivers: [{ id: 1, name: "Alice" }], requests: [] },
 *   { type: "control", you: 5, role: "view", mode: "exclusive", driving: false, requested: false },
 * ); // "View only · Alice is driving · 12 watching"
 * ```
 */
export function presenceLine(
  p: PresenceMessage | null,
  c: ControlMessage | null,
): string | null {
  if (!c) return null;
  const n = p?.driving ?? (c.driving ? 1 : 0);
  const total = p?.viewers ?? 1;
  if (c.mode === "shared" && c.role === "control" && total <= 1) return null;
  const parts: string[] = [];
  if (c.role === "view" || c.mode === "none") parts.push("View only");
  const first = p?.drivers.find((d) => d.id !== c.you);
  const others = (k: number) => `${k} other${k === 1 ? "" : "s"}`;
  if (n === 0) {
    if (c.mode === "exclusive") parts.push("Nobody is driving");
  } else if (c.driving) {
    parts.push(
      n === 1 ? "You are driving" : `You and ${others(n - 1)} are driving`,
    );
  } else if (first) {
    parts.push(
      n === 1
        ? `${viewerName(first)} is driving`
        : `${viewerName(first)} and ${others(n - 1)} are driving`,
    );
  } else {
    parts.push(`${n} driving`);
  }
  if (c.requested) parts.push("Control requested");
  const asking = p?.requests.filter((r) => r.id !== c.you) ?? [];
  if (c.driving && c.mode === "exclusive" && asking.length > 0) {
    parts.push(
      `${viewerName(asking[0])}${
        asking.length > 1 ? ` and ${others(asking.length - 1)}` : ""
      } ask${asking.length > 1 ? "" : "s"} for control`,
    );
  }
  const watching = total - n;
  if (watching > 0) parts.push(`${watching} watching`);
  return parts.join(" · ");
}

/** What the control button does now (see `controlAction`). */
export interface ControlAction {
  /** The button's label. */
  label: string;
  /** Its title (a longer description). */
  title: string;
  /** What a click sends: `request_control`, or `release_control` (to `to`). */
  send: "request" | "release";
  /** For a hand-over: the viewer that gets control. */
  to?: number;
  /** Whether the button shows a pressed state (a request waits). */
  pressed: boolean;
}

/**
 * The control button for this standing, or null when there is none (no
 * `control` message, a view-only viewer, or a mode other than exclusive).
 *
 * @example
 * ```ts
 * import { controlAction } from "./sharing.ts";
 * controlAction(null, { type: "control", you: 2, role: "control", mode: "exclusive", driving: false, requested: false })?.label;
 * // "Request control"
 * ```
 */
export function controlAction(
  p: PresenceMessage | null,
  c: ControlMessage | null,
): ControlAction | null {
  if (!c || c.role !== "control" || c.mode !== "exclusive") return null;
  if (c.driving) {
    const next = p?.requests.find((r) => r.id !== c.you);
    return next
      ? {
        label: "Hand over",
        title: `Give control to ${viewerName(next)}`,
        send: "release",
        to: next.id,
        pressed: false,
      }
      : {
        label: "Release",
        title: "Stop driving; the next viewer to ask gets control",
        send: "release",
        pressed: false,
      };
  }
  return c.requested
    ? {
      label: "Cancel request",
      title: "Withdraw your request for control",
      send: "release",
      pressed: true,
    }
    : {
      label: "Request control",
      title: "Ask to drive this stream",
      send: "request",
      pressed: false,
    };
}
