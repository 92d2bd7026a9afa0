/**
 * The demo's sign-in sessions and their cookie: random 32-byte tokens kept in
 * a map keyed by the token (one lookup per request), each with an expiry, a
 * cap on live sessions (the oldest goes first), and the `Set-Cookie` lines
 * that carry them.
 *
 * @module
 */

/** How long a session lives by default: 12 hours. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;

/** How many sessions live at once by default; a new one evicts the oldest. */
export const MAX_SESSIONS = 10_000;

/** The cookie's name over plain HTTP. */
export const COOKIE = "rfb_demo_session";

/**
 * The cookie's name over HTTPS: the `__Host-` prefix makes the browser
 * refuse it unless it is `Secure`, has `Path=/` and no `Domain`, so a sibling
 * subdomain or a plain-HTTP page cannot plant or shadow it.
 */
export const SECURE_COOKIE = `__Host-${COOKIE}`;

const TOKEN = /^[0-9a-f]{64}$/;

/** What a session knows about its user. */
export interface Session {
  /** The name given at sign-in. */
  name: string;
  /** When it stops being valid, in the store's clock (ms). */
  expires: number;
}

/** How a `SessionStore` behaves. */
export interface SessionStoreOptions {
  /** Lifetime of a session in ms. Default `SESSION_TTL_MS`. */
  ttlMs?: number;
  /** Live sessions at most. Default `MAX_SESSIONS`. */
  max?: number;
  /** The clock, in ms. Default `Date.now`. */
  now?: () => number;
}

/** A new session token: 32 random bytes as 64 hex digits. */
export function newToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * Live sessions by token. Every session gets the same lifetime, so the map's
 * insertion order is also expiry order: expired ones are swept from the front
 * and the cap evicts the first.
 */
export class SessionStore {
  /** Lifetime of a session in ms. */
  readonly ttlMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #sessions = new Map<string, Session>();

  /** A store with the given lifetime, cap and clock. */
  constructor(options: SessionStoreOptions = {}) {
    this.ttlMs = options.ttlMs ?? SESSION_TTL_MS;
    this.#max = options.max ?? MAX_SESSIONS;
    this.#now = options.now ?? Date.now;
    if (!(this.ttlMs > 0) || !(this.#max >= 1)) {
      throw new RangeError("ttlMs and max must be positive");
    }
  }

  /** How many sessions are held (expired ones not yet swept included). */
  get size(): number {
    return this.#sessions.size;
  }

  /** Start a session for `name`; returns its token. */
  create(name: string): string {
    this.#sweep();
    while (this.#sessions.size >= this.#max) {
      const oldest = this.#sessions.keys().next().value!;
      this.#sessions.delete(oldest);
    }
    const token = newToken();
    this.#sessions.set(token, { name, expires: this.#now() + this.ttlMs });
    return token;
  }

  /** The live session for `token`, or undefined (an expired one is dropped). */
  get(token: string | undefined): Session | undefined {
    if (token === undefined || !TOKEN.test(token)) return undefined;
    const session = this.#sessions.get(token);
    if (session && session.expires <= this.#now()) {
      this.#sessions.delete(token);
      return undefined;
    }
    return session;
  }

  /** End the session for `token`, if any. */
  delete(token: string | undefined): void {
    if (token !== undefined) this.#sessions.delete(token);
  }

  #sweep(): void {
    const now = this.#now();
    for (const [token, session] of this.#sessions) {
      if (session.expires > now) break;
      this.#sessions.delete(token);
    }
  }
}

/**
 * Whether `request` came over HTTPS. Only the request URL's scheme counts:
 * the demo has no notion of a trusted proxy, so `X-Forwarded-Proto` (which
 * any client can send) is ignored. Behind a TLS-terminating proxy the demo
 * sees plain HTTP and sets the plain cookie, which still works.
 */
export function isHttps(request: Request): boolean {
  return new URL(request.url).protocol === "https:";
}

/** The session cookie's name for this request's scheme. */
export function cookieName(request: Request): string {
  return isHttps(request) ? SECURE_COOKIE : COOKIE;
}

/** The value of cookie `name` in `request`, or undefined. */
export function cookieOf(request: Request, name: string): string | undefined {
  for (const part of (request.headers.get("cookie") ?? "").split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * The session token `request` carries. Over HTTPS only the `__Host-` cookie
 * counts, so a cookie planted without `Secure` cannot stand in for it.
 */
export function sessionToken(request: Request): string | undefined {
  return cookieOf(request, cookieName(request));
}

// `Secure` (with the `__Host-` name) only over HTTPS, decided by scheme:
// Chromium keeps a Secure cookie set over plain http://127.0.0.1 (localhost
// counts as potentially trustworthy), but drops one set over plain HTTP to a
// LAN address such as http://192.168.1.5:8000, which would make sign-in
// silently fail for anyone the demo is shared with that way.
function attributes(request: Request, maxAge: number): string {
  const secure = isHttps(request) ? "; Secure" : "";
  return `Path=/; HttpOnly; SameSite=Strict; Max-Age=${maxAge}${secure}`;
}

/** The `Set-Cookie` value that carries `token` for `ttlMs`. */
export function setSessionCookie(
  request: Request,
  token: string,
  ttlMs: number,
): string {
  const maxAge = Math.max(1, Math.floor(ttlMs / 1000));
  return `${cookieName(request)}=${token}; ${attributes(request, maxAge)}`;
}

/** The `Set-Cookie` value that removes the session cookie. */
export function clearSessionCookie(request: Request): string {
  return `${cookieName(request)}=; ${attributes(request, 0)}`;
}
