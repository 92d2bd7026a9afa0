/**
 * What a render host and its edge servers say to each other through NATS,
 * pure and I/O-free: the subjects under a prefix, the names of encodings,
 * the binary messages that carry encoded pictures (a JSON header, then the
 * bytes, split in parts when larger than the server's `max_payload`), and
 * the JSON messages edges send up (needs, keyframe asks, viewers with who
 * they are, input, requests for control), checked field by field.
 *
 * Subjects, for prefix `rfb` and stream `scene`:
 *
 * | subject                 | from  | what                                              |
 * | ----------------------- | ----- | ------------------------------------------------- |
 * | `rfb.scene.state`       | host  | size, settings, offer, newest version, resting    |
 * | `rfb.scene.v.<enc>`     | host  | H.264 access units of one encoding (`h264-q0`)    |
 * | `rfb.scene.p.<enc>`     | host  | pictures of one encoding (`jpeg-80-live`)         |
 * | `rfb.scene.up`          | edges | needs, keyframe asks, viewers, input, control     |
 * | `rfb.scene.down.<edge>` | host  | `presence`/`control` messages for an edge's viewers (`down.ts`) |
 *
 * @module
 */

import type { ImageFormat, Transport } from "../protocol.ts";

/** The settings a host shares with its edges (they serve viewers with the same ones). */
export interface SharedSettings {
  /** `"auto"`, `"image"` or `"webcodecs"`. */
  transport: "auto" | Transport;
  /** Live image format. */
  imageFormat: ImageFormat;
  /** JPEG/WebP quality. */
  quality: number;
  /** H.264 bitrate, or null when derived from size and rate. */
  bitrate: number | null;
  /** Frame rate the encoder plans for. */
  fps: number;
  /** Frames between periodic IDRs. */
  gop: number;
  /** Seconds of rest before a still, or false. */
  stillAfter: number | false;
  /** Whether viewers adapt to their links. */
  adaptive: boolean;
  /** The frames' render pixel ratio. */
  pixelRatio: number;
  /** Seconds between IDRs made on request. */
  minKeyframeInterval: number;
}

/** The host's state, sent on every change and once a second. */
export interface HostState {
  /** Always `"state"`. */
  t: "state";
  /** The host process's id (a new one after a restart). */
  host: string;
  /** The newest frame's version on the host. */
  version: number;
  /** Whether the scene rests (no frame for `stillAfter` seconds). */
  settled: boolean;
  /** Frames published per second lately. */
  fps: number;
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** The shared settings. */
  settings: SharedSettings;
  /** What viewers may be offered. */
  offer: {
    transport: "auto" | Transport;
    imageFormat: ImageFormat;
    h264Codec: string | null;
  };
}

/** The header of an encoded picture or access unit on `v.<enc>` / `p.<enc>`. */
export interface UnitHeader {
  /** The host process's id. */
  host: string;
  /** Message number on this subject (parts of one message share it). */
  n: number;
  /** The source frame's version on the host. */
  v: number;
  /** Picture width. */
  w: number;
  /** Picture height. */
  h: number;
  /** Publish time of the source frame, microseconds since the epoch. */
  ts: number;
  /** Render pixel ratio. */
  pr: number;
  /** Video: the unit's index in its stream (0, 1, …; a gap means units were lost). */
  i?: number;
  /** Video: an IDR. */
  k?: boolean;
  /** Video: the codec string. */
  c?: string;
  /** Video: frame duration, microseconds. */
  d?: number;
  /** Picture: its MIME type. */
  m?: string;
  /** This part's number, when split (0-based). */
  part?: number;
  /** How many parts, when split. */
  parts?: number;
}

/** Who an edge's viewer is, as its edge's `authenticate` hook said. */
export interface ViewerWho {
  /** The viewer's id at its edge. */
  v: number;
  /** What the edge's `authenticate` hook returned for it (as JSON). */
  u?: unknown;
  /** Its name, or null. */
  n?: string | null;
  /** Its role (from the hook, or the edge's `defaultRole`). */
  r: "control" | "view";
  /** Its transport at the edge. */
  tr?: Transport | null;
}

/** One of a viewer's records, as an edge reports it. */
export interface ViewerRecord extends ViewerWho {
  /** Its figures (`ViewerStats`, as JSON). */
  s?: Record<string, unknown>;
}

/** What an edge sends up on `up`. */
export type UpMessage =
  | { t: "need"; e: string; k: string[]; ttl: number }
  | { t: "key"; e: string; k: string }
  | ({ t: "join"; e: string } & ViewerWho)
  | { t: "leave"; e: string; v: number }
  | { t: "in"; e: string; v: number; ev: Record<string, unknown> }
  | { t: "viewers"; e: string; ttl: number; l: ViewerRecord[] }
  | { t: "req"; e: string; v: number }
  | { t: "rel"; e: string; v: number; to?: number };

/** The subjects of one stream. */
export interface Subjects {
  /** Host state. */
  state: string;
  /** Edges → host. */
  up: string;
  /** Host → one edge: messages for its viewers. */
  down(edge: string): string;
  /** H.264 units of an encoding. */
  video(key: string): string;
  /** Pictures of an encoding. */
  picture(key: string): string;
}

const TOKEN = /^[A-Za-z0-9_-]+$/;

/**
 * Check a subject prefix: dot-separated tokens of `A-Z a-z 0-9 _ -` (no
 * wildcards). Throws a `TypeError` naming the problem.
 *
 * @example
 * ```ts
 * import { checkPrefix } from "./wire.ts";
 * checkPrefix("site1.rfb");
 * ```
 */
export function checkPrefix(prefix: unknown): void {
  if (
    typeof prefix !== "string" || prefix.length > 128 ||
    !prefix.split(".").every((t) => TOKEN.test(t))
  ) {
    throw new TypeError(
      `option 'prefix' must be dot-separated tokens of A-Z a-z 0-9 _ - (at most 128 characters), got ${
        JSON.stringify(prefix)
      }`,
    );
  }
}

/**
 * A stream name as one subject token: characters other than
 * `A-Z a-z 0-9 _ -` become `~` and two hex digits.
 *
 * @example
 * ```ts
 * import { streamToken } from "./wire.ts";
 * console.log(streamToken("cam.1")); // cam~2E1
 * ```
 */
export function streamToken(stream: string): string {
  return [...new TextEncoder().encode(stream)].map((b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9_-]/.test(c)
      ? c
      : `~${b.toString(16).toUpperCase().padStart(2, "0")}`;
  }).join("");
}

/**
 * The subjects of `stream` under `prefix`.
 *
 * @example
 * ```ts
 * import { subjectsFor } from "./wire.ts";
 * console.log(subjectsFor("rfb", "scene").video("h264-q0")); // rfb.scene.v.h264-q0
 * ```
 */
export function subjectsFor(prefix: string, stream: string): Subjects {
  checkPrefix(prefix);
  if (typeof stream !== "string" || stream.length === 0) {
    throw new TypeError(
      `option 'stream' must be a non-empty string, got ${
        JSON.stringify(stream)
      }`,
    );
  }
  const base = `${prefix}.${streamToken(stream)}`;
  return {
    state: `${base}.state`,
    up: `${base}.up`,
    down: (edge) => `${base}.down.${edge}`,
    video: (key) => `${base}.v.${key}`,
    picture: (key) => `${base}.p.${key}`,
  };
}

/** An encoding, as its name says. */
export type Encoding =
  | { kind: "video"; step: number }
  | {
    kind: "picture";
    format: ImageFormat | "h264";
    quality: number;
    still: boolean;
    /** Scaled size, or null at full size. */
    size: { width: number; height: number } | null;
  };

const FORMATS = ["jpeg", "png", "webp", "h264"];
/** The most adaptive steps an encoding name may name. */
export const MAX_STEP = 16;

/**
 * The name of an encoding, usable as a subject token: `h264-q<step>` for a
 * shared H.264 stream, `<format>-<quality>-<live|still>[-<w>x<h>]` for
 * pictures (`h264-100-still` is the H.264 still).
 *
 * @example
 * ```ts
 * import { encodingKey } from "./wire.ts";
 * console.log(encodingKey({ kind: "picture", format: "jpeg", quality: 80, still: false, size: null })); // jpeg-80-live
 * ```
 */
export function encodingKey(e: Encoding): string {
  if (e.kind === "video") return `h264-q${e.step}`;
  const size = e.size ? `-${e.size.width}x${e.size.height}` : "";
  return `${e.format}-${e.quality}-${e.still ? "still" : "live"}${size}`;
}

/**
 * Read an encoding's name; null when it is not one.
 *
 * @example
 * ```ts
 * import { parseEncodingKey } from "./wire.ts";
 * console.log(parseEncodingKey("h264-q2")); // { kind: "video", step: 2 }
 * ```
 */
export function parseEncodingKey(key: unknown): Encoding | null {
  if (typeof key !== "string" || key.length > 64) return null;
  const v = key.match(/^h264-q(\d{1,2})$/);
  if (v) {
    const step = Number(v[1]);
    return step <= MAX_STEP ? { kind: "video", step } : null;
  }
  const p = key.match(/^([a-z0-9]+)-(\d{1,3})-(live|still)(?:-(\d+)x(\d+))?$/);
  if (!p || !FORMATS.includes(p[1])) return null;
  const quality = Number(p[2]);
  if (quality < 1 || quality > 100) return null;
  const still = p[3] === "still";
  if (p[1] === "h264" && (!still || p[4])) return null;
  let size = null;
  if (p[4]) {
    const width = Number(p[4]), height = Number(p[5]);
    if (!(width >= 1 && width <= 16383 && height >= 1 && height <= 16383)) {
      return null;
    }
    size = { width, height };
  }
  return {
    kind: "picture",
    format: p[1] as ImageFormat | "h264",
    quality,
    still,
    size,
  };
}

/**
 * One message: a 4-byte big-endian header length, the JSON header, then
 * the payload.
 *
 * @example
 * ```ts
 * import { packUnit, unpackUnit } from "./wire.ts";
 * const bytes = packUnit({ host: "h", n: 1, v: 1, w: 2, h: 2, ts: 0, pr: 1, m: "image/jpeg" }, new Uint8Array([1, 2]));
 * console.log(unpackUnit(bytes)?.payload.length); // 2
 * ```
 */
export function packUnit(header: UnitHeader, payload: Uint8Array): Uint8Array {
  const json = new TextEncoder().encode(JSON.stringify(header));
  const out = new Uint8Array(4 + json.length + payload.length);
  new DataView(out.buffer).setUint32(0, json.length);
  out.set(json, 4);
  out.set(payload, 4 + json.length);
  return out;
}

/**
 * Read a message packed by `packUnit`; null when it is malformed.
 *
 * @example
 * ```ts
 * import { unpackUnit } from "./wire.ts";
 * console.log(unpackUnit(new Uint8Array([0, 0, 0, 9]))); // null
 * ```
 */
export function unpackUnit(
  bytes: Uint8Array,
): { header: UnitHeader; payload: Uint8Array } | null {
  if (bytes.length < 4) return null;
  const len = new DataView(bytes.buffer, bytes.byteOffset).getUint32(0);
  if (len > 8192 || 4 + len > bytes.length) return null;
  let header: UnitHeader;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + len)));
  } catch {
    return null;
  }
  if (!validHeader(header)) return null;
  return { header, payload: bytes.subarray(4 + len) };
}

function validHeader(h: UnitHeader): boolean {
  const int = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (typeof h !== "object" || h === null) return false;
  if (typeof h.host !== "string" || h.host.length > 64) return false;
  if (!int(h.n) || !int(h.v) || !int(h.w) || !int(h.h) || !int(h.ts)) {
    return false;
  }
  if (typeof h.pr !== "number" || !(h.pr > 0)) return false;
  if (h.parts !== undefined) {
    if (
      !int(h.parts) || !int(h.part) || h.part! >= h.parts! || h.parts! > 4096
    ) {
      return false;
    }
  }
  if (h.m !== undefined) return typeof h.m === "string";
  return int(h.i) && typeof h.k === "boolean" && typeof h.c === "string" &&
    (h.d === undefined || int(h.d));
}

/**
 * A message as one or more packed parts, each at most `max` bytes.
 *
 * @example
 * ```ts
 * import { packParts } from "./wire.ts";
 * const parts = packParts({ host: "h", n: 1, v: 1, w: 1, h: 1, ts: 0, pr: 1, m: "image/png" }, new Uint8Array(10_000), 4096);
 * console.log(parts.length); // 3
 * ```
 */
export function packParts(
  header: UnitHeader,
  payload: Uint8Array,
  max: number,
): Uint8Array[] {
  const room = Math.max(1024, max - 1024); // the header's share
  if (payload.length + 1024 <= max) return [packUnit(header, payload)];
  const parts = Math.ceil(payload.length / room);
  const out: Uint8Array[] = [];
  for (let part = 0; part < parts; part++) {
    out.push(packUnit(
      { ...header, part, parts },
      payload.subarray(part * room, (part + 1) * room),
    ));
  }
  return out;
}

/**
 * Puts split messages back together, one subject at a time: parts of one
 * message come in order from one publisher; a part of a newer message drops
 * an unfinished older one.
 *
 * @example
 * ```ts
 * import { packParts, Reassembly, unpackUnit } from "./wire.ts";
 * const r = new Reassembly();
 * const header = { host: "h", n: 1, v: 1, w: 1, h: 1, ts: 0, pr: 1, m: "image/png" };
 * let done = null;
 * for (const p of packParts(header, new Uint8Array(10_000), 4096)) done = r.take(unpackUnit(p)!);
 * console.log(done?.payload.length); // 10000
 * ```
 */
export class Reassembly {
  #n = -1;
  #host = "";
  #got: Uint8Array[] = [];

  /** Take one message or part; returns a whole message when there is one. */
  take(
    m: { header: UnitHeader; payload: Uint8Array },
  ): { header: UnitHeader; payload: Uint8Array } | null {
    const { header } = m;
    if (header.parts === undefined) return m;
    if (
      header.part === 0 || header.n !== this.#n || header.host !== this.#host
    ) {
      this.#got = [];
      this.#n = header.n;
      this.#host = header.host;
    }
    if (header.part !== this.#got.length) { // a part went missing
      this.#got = [];
      this.#n = -1;
      return null;
    }
    this.#got.push(m.payload.slice());
    if (this.#got.length < header.parts) return null;
    const total = this.#got.reduce((s, p) => s + p.length, 0);
    const payload = new Uint8Array(total);
    let at = 0;
    for (const p of this.#got) {
      payload.set(p, at);
      at += p.length;
    }
    this.#got = [];
    this.#n = -1;
    const { part: _part, parts: _parts, ...whole } = header;
    return { header: whole, payload };
  }
}

/**
 * Read a message an edge sent up; null when it is not one (the host drops
 * it). Input events are checked here only for their shape; the host
 * validates them as it would a viewer's.
 *
 * @example
 * ```ts
 * import { parseUp } from "./wire.ts";
 * console.log(parseUp('{"t":"key","e":"edge1","k":"h264-q0"}')?.t); // key
 * ```
 */
export function parseUp(text: string): UpMessage | null {
  let m: Record<string, unknown>;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof m !== "object" || m === null || Array.isArray(m)) return null;
  if (typeof m.e !== "string" || !TOKEN.test(m.e) || m.e.length > 64) {
    return null;
  }
  const id = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  const ttl = (x: unknown) => typeof x === "number" && x > 0 && x <= 60_000;
  // Who a viewer is: its id, a role, a name if any (cut), a transport if any.
  const who = (r: Record<string, unknown>) => {
    if (typeof r.n === "string") r.n = r.n.slice(0, 128);
    return id(r.v) && (r.r === "control" || r.r === "view") &&
      (r.n === undefined || r.n === null || typeof r.n === "string") &&
      [undefined, null, "image", "webcodecs"].includes(r.tr as string);
  };
  switch (m.t) {
    case "need":
      return Array.isArray(m.k) && m.k.length <= 64 &&
          m.k.every((k) => typeof k === "string") && ttl(m.ttl)
        ? m as UpMessage
        : null;
    case "key":
      return typeof m.k === "string" ? m as UpMessage : null;
    case "join":
      return who(m) ? m as UpMessage : null;
    case "leave":
    case "req":
      return id(m.v) ? m as UpMessage : null;
    case "rel":
      return id(m.v) && (m.to === undefined || id(m.to))
        ? m as UpMessage
        : null;
    case "in": {
      const ev = m.ev as Record<string, unknown> | null;
      return id(m.v) && typeof ev === "object" && ev !== null &&
          typeof ev.type === "string"
        ? m as UpMessage
        : null;
    }
    case "viewers":
      return ttl(m.ttl) && Array.isArray(m.l) && m.l.length <= 10_000 &&
          m.l.every((r) =>
            typeof r === "object" && r !== null && who(r) &&
            (r.s === undefined || (typeof r.s === "object" && r.s !== null))
          )
        ? m as UpMessage
        : null;
  }
  return null;
}

/**
 * Read the host's state; null when it is not one.
 *
 * @example
 * ```ts
 * import { parseState } from "./wire.ts";
 * console.log(parseState("{}")); // null
 * ```
 */
export function parseState(text: string): HostState | null {
  let m: HostState;
  try {
    m = JSON.parse(text);
  } catch {
    return null;
  }
  const int = (x: unknown) => Number.isSafeInteger(x) && (x as number) >= 0;
  if (
    typeof m !== "object" || m === null || m.t !== "state" ||
    typeof m.host !== "string" || !int(m.version) ||
    typeof m.settled !== "boolean" || typeof m.fps !== "number" ||
    !int(m.width) || !int(m.height) || typeof m.settings !== "object" ||
    m.settings === null || typeof m.offer !== "object" || m.offer === null
  ) return null;
  return m;
}
