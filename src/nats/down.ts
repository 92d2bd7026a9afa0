/**
 * The host's messages for viewers at edges: the stream's desk (`Presence`)
 * decides who drives for the whole site and tells every viewer, through
 * `presence` and `control` messages; for a viewer at an edge the host
 * batches them per edge (`DownQueue`: one NATS message per edge per round,
 * each text once however many viewers get it) on `<prefix>.<stream>.down.<edge>`,
 * and the edge hands each to its viewer's session as it is
 * (`parseDown` checks them first).
 *
 * A message is JSON: `{ t: "down", host, x: [texts], m: [[viewer, text index], …] }`,
 * `viewer` being the viewer's id at its edge.
 *
 * @module
 */

import type { ControlMessage } from "../protocol.ts";

/** What the host sends one edge. */
export interface DownMessage {
  /** Always `"down"`. */
  t: "down";
  /** The host process's id. */
  host: string;
  /** The texts, each once. */
  x: string[];
  /** Who gets which: `[viewer id at the edge, index in x]`. */
  m: Array<[number, number]>;
}

/** One text for one viewer, as the edge reads it. */
export interface DownItem {
  /** The viewer's id at the edge. */
  viewer: number;
  /** The message, as the viewer gets it. */
  text: string;
  /** The message read, when it is a `control` message. */
  control: ControlMessage | null;
}

/** Viewers one message carries at most (a round for a bigger edge takes several). */
export const DOWN_BATCH = 500;
/**
 * The longest text carried: a `presence` message names at most 16 viewers;
 * a `clipboard` message carries up to `maxClipboardBytes` (64 KiB by
 * default) of text, JSON-escaped.
 */
const MAX_TEXT = 512 * 1024;

/**
 * Texts for viewers at edges, sent once per round (a microtask) as one
 * message per edge.
 *
 * @example
 * ```ts
 * import { DownQueue } from "./down.ts";
 * const sent: string[] = [];
 * const q = new DownQueue("host1", (edge, m) => sent.push(`${edge} ${m.m.length}`));
 * q.push("edge1", 3, '{"type":"presence"}');
 * q.push("edge1", 4, '{"type":"presence"}');
 * q.flush();
 * console.log(sent); // [ "edge1 2" ]
 * ```
 */
export class DownQueue {
  #host: string;
  #publish: (edge: string, m: DownMessage) => void;
  #pending = new Map<string, Array<[number, string]>>();
  #scheduled = false;

  /**
   * @param host the host process's id
   * @param publish sends one message to one edge
   */
  constructor(host: string, publish: (edge: string, m: DownMessage) => void) {
    this.#host = host;
    this.#publish = publish;
  }

  /** Queue `text` for viewer `viewer` of `edge`; sent at the end of this turn. */
  push(edge: string, viewer: number, text: string): void {
    let list = this.#pending.get(edge);
    if (!list) this.#pending.set(edge, list = []);
    list.push([viewer, text]);
    if (this.#scheduled) return;
    this.#scheduled = true;
    queueMicrotask(() => this.flush());
  }

  /** Send what is queued now. */
  flush(): void {
    this.#scheduled = false;
    const pending = this.#pending;
    this.#pending = new Map();
    for (const [edge, list] of pending) {
      for (let i = 0; i < list.length; i += DOWN_BATCH) {
        const x: string[] = [];
        const index = new Map<string, number>();
        const m = list.slice(i, i + DOWN_BATCH).map(([v, text]) => {
          let at = index.get(text);
          if (at === undefined) index.set(text, at = x.push(text) - 1);
          return [v, at] as [number, number];
        });
        this.#publish(edge, { t: "down", host: this.#host, x, m });
      }
    }
  }

  /** Drop what is queued. */
  clear(): void {
    this.#pending.clear();
  }
}

/**
 * Read a message from the host: each viewer's text, checked (a `presence`,
 * `control` or `clipboard` message); null when the message is malformed.
 *
 * @example
 * ```ts
 * import { parseDown } from "./down.ts";
 * const items = parseDown('{"t":"down","host":"h","x":["{\\"type\\":\\"presence\\",\\"viewers\\":1}"],"m":[[5,0]]}');
 * console.log(items?.host, items?.items[0].viewer); // h 5
 * ```
 */
export function parseDown(
  text: string,
): { host: string; items: DownItem[] } | null {
  let d: Record<string, unknown>;
  try {
    d = JSON.parse(text);
  } catch {
    return null;
  }
  if (
    typeof d !== "object" || d === null || d.t !== "down" ||
    typeof d.host !== "string" || !Array.isArray(d.x) || !Array.isArray(d.m)
  ) return null;
  const texts: Array<{ text: string; control: ControlMessage | null }> = [];
  for (const x of d.x as unknown[]) {
    if (typeof x !== "string" || x.length > MAX_TEXT) return null;
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(x);
    } catch {
      return null;
    }
    if (
      msg?.type === "presence" ||
      (msg?.type === "clipboard" && typeof msg.text === "string")
    ) texts.push({ text: x, control: null });
    else if (isControl(msg)) texts.push({ text: x, control: msg });
    else return null;
  }
  const items: DownItem[] = [];
  for (const pair of d.m as unknown[]) {
    if (!Array.isArray(pair) || pair.length !== 2) return null;
    const [viewer, at] = pair;
    if (
      !Number.isSafeInteger(viewer) || !Number.isSafeInteger(at) || !texts[at]
    ) {
      return null;
    }
    items.push({ viewer, ...texts[at] });
  }
  return { host: d.host, items };
}

function isControl(
  m: Record<string, unknown>,
): m is ControlMessage & Record<string, unknown> {
  return m?.type === "control" && Number.isSafeInteger(m.you) &&
    (m.role === "control" || m.role === "view") &&
    typeof m.mode === "string" && typeof m.driving === "boolean" &&
    typeof m.requested === "boolean";
}
