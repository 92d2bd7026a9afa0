/**
 * What the demo checks before it acts on a request: that a state-changing
 * request comes from the demo's own pages (`Origin` and `Sec-Fetch-Site`),
 * that a JSON API call says it is JSON, the body size limit, and a limiter
 * that counts sign-in attempts per client address with bounded memory.
 *
 * @module
 */

/** Request bodies the demo reads at most, in bytes. */
export const MAX_BODY = 16 * 1024;

/**
 * Whether a state-changing `request` comes from a page of this same origin.
 *
 * Browsers send `Origin` on every POST (a cross-site form or `fetch`
 * included) and newer ones `Sec-Fetch-Site`; neither can be forged by a web
 * page. When present they must say the request's own host (`Sec-Fetch-Site:
 * same-origin`, `Origin` whose host is the request URL's host; the scheme is
 * not compared, so a TLS-terminating proxy that passes `Host` through still
 * works). A request with neither did not come from a browser page, so it is
 * no cross-site forgery and passes; it may still only do what the demo's own
 * pages let anyone do. An opaque `Origin: null` (sandboxed frames, some
 * redirects) is refused.
 */
export function sameOrigin(request: Request): boolean {
  const site = request.headers.get("sec-fetch-site");
  if (site !== null && site !== "same-origin") return false;
  const origin = request.headers.get("origin");
  if (origin === null) return true;
  let from: URL;
  try {
    from = new URL(origin);
  } catch {
    return false;
  }
  if (from.protocol !== "http:" && from.protocol !== "https:") return false;
  return from.host === new URL(request.url).host;
}

/**
 * Whether `request` declares a JSON body (`application/json`, parameters
 * such as `charset` allowed). A cross-site page cannot send this type
 * without a CORS preflight, which the demo never grants.
 */
export function isJson(request: Request): boolean {
  const type = request.headers.get("content-type");
  if (type === null) return false;
  return type.split(";")[0].trim().toLowerCase() === "application/json";
}

/**
 * The key a client's attempts are counted under: its IPv4 address, or the
 * /64 prefix of its IPv6 address (one host usually holds a whole /64, so
 * counting single v6 addresses would let it rotate past the limit).
 */
export function clientKey(address: string): string {
  const v4 = /^(?:::ffff:)?(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (v4) return v4[1];
  if (!address.includes(":")) return address;
  const [head, tail = ""] = address.split("%")[0].toLowerCase().split("::");
  const first = head ? head.split(":") : [];
  const last = tail ? tail.split(":") : [];
  const groups = address.includes("::")
    ? [
      ...first,
      ...Array(Math.max(0, 8 - first.length - last.length)).fill("0"),
      ...last,
    ]
    : first;
  return `${
    groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, "")).join(":")
  }::/64`;
}

/** How an `AttemptLimiter` behaves. */
export interface AttemptLimiterOptions {
  /** Attempts allowed per window. */
  limit: number;
  /** The window, in ms. */
  windowMs: number;
  /** Keys tracked at most; a new key evicts the oldest. */
  maxKeys: number;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
}

interface Window {
  count: number;
  ends: number;
}

/**
 * Counts attempts per key in fixed windows: `limit` attempts in `windowMs`
 * from a key's first one, then the key waits until the window ends. Every
 * window has the same length, so the map's insertion order is the order
 * windows end in: ended ones are swept from the front, and the cap on keys
 * evicts the first.
 */
export class AttemptLimiter {
  readonly #limit: number;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  readonly #now: () => number;
  readonly #windows = new Map<string, Window>();

  /** A limiter with the given limit, window, cap and clock. */
  constructor(options: AttemptLimiterOptions) {
    this.#limit = options.limit;
    this.#windowMs = options.windowMs;
    this.#maxKeys = options.maxKeys;
    this.#now = options.now ?? Date.now;
    if (
      !(this.#limit >= 1) || !(this.#windowMs > 0) || !(this.#maxKeys >= 1)
    ) {
      throw new RangeError("limit, windowMs and maxKeys must be positive");
    }
  }

  /** How many keys are tracked. */
  get size(): number {
    return this.#windows.size;
  }

  /** Ms until `key` may try again: 0 when it may now. */
  wait(key: string): number {
    this.#sweep();
    const w = this.#windows.get(key);
    return w && w.count >= this.#limit ? w.ends - this.#now() : 0;
  }

  /** Count one attempt by `key`. */
  record(key: string): void {
    this.#sweep();
    const w = this.#windows.get(key);
    if (w) {
      w.count++;
      return;
    }
    while (this.#windows.size >= this.#maxKeys) {
      this.#windows.delete(this.#windows.keys().next().value!);
    }
    this.#windows.set(key, { count: 1, ends: this.#now() + this.#windowMs });
  }

  #sweep(): void {
    const now = this.#now();
    for (const [key, w] of this.#windows) {
      if (w.ends > now) break;
      this.#windows.delete(key);
    }
  }
}
