/**
 * Ready-made `authenticate` hooks, and the cookie parsing they and the
 * session use.
 *
 * @module
 */

import type { Authenticate } from "../options.ts";

const encoder = new TextEncoder();

/**
 * Compare two strings in time that depends only on their lengths, not on
 * where they first differ.
 *
 * @example
 * ```ts
 * import { timingSafeEqual } from "@rfb/core";
 * console.log(timingSafeEqual("secret", "secret")); // true
 * ```
 */
export function timingSafeEqual(a: string, b: string): boolean {
  const x = encoder.encode(a);
  const y = encoder.encode(b);
  let diff = x.length ^ y.length;
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  return diff === 0;
}

/**
 * An `authenticate` hook that admits viewers whose `hello` token, or the
 * named cookie, equals one of `tokens` (compared in constant time).
 *
 * @example
 * ```ts
 * import { Display, tokenAuth } from "@rfb/core";
 * const display = new Display(64, 64, { authenticate: tokenAuth("s3cret") });
 * await display.close();
 * ```
 */
export function tokenAuth(
  tokens: string | readonly string[],
  options: { cookie?: string } = {},
): Authenticate {
  const list = typeof tokens === "string" ? [tokens] : [...tokens];
  if (
    list.length === 0 || list.some((t) => typeof t !== "string" || t === "")
  ) {
    throw new TypeError("tokenAuth(): tokens must be non-empty strings");
  }
  return (ctx) => {
    const given = ctx.token ??
      (options.cookie ? ctx.cookies[options.cookie] : undefined);
    if (given === undefined) return false;
    let ok = false;
    for (const t of list) ok = timingSafeEqual(given, t) || ok;
    return ok;
  };
}

/**
 * Parse a `Cookie` header into a record.
 *
 * @example
 * ```ts
 * import { parseCookies } from "./auth.ts";
 * parseCookies("a=1; b=two"); // { a: "1", b: "two" }
 * ```
 */
export function parseCookies(header: string | null): Record<string, string> {
  const out: Record<string, string> = {};
  if (!header) return out;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i < 0) continue;
    const name = part.slice(0, i).trim();
    if (name === "") continue;
    let value = part.slice(i + 1).trim();
    try {
      value = decodeURIComponent(value);
    } catch { /* keep raw */ }
    out[name] = value;
  }
  return out;
}
