/**
 * The Origin check on WebSocket upgrades, against cross-site WebSocket
 * hijacking. By default a request passes when it has no `Origin` (not a
 * browser), when the page is same-origin, or when the page's host name equals
 * the request's `Host` name on another port (a dev server on :5173 or a
 * notebook on :8888 viewing :8765). Anything else needs `allowedOrigins`.
 *
 * @module
 */

import type { AllowedOrigins } from "../options.ts";

/**
 * The host name part of a `Host` header value, lower-cased (IPv6 kept in
 * brackets).
 *
 * @example
 * ```ts
 * import { hostnameOf } from "./origin.ts";
 * console.log(hostnameOf("LocalHost:8765"), hostnameOf("[::1]:80")); // localhost [::1]
 * ```
 */
export function hostnameOf(host: string): string {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end > 0 ? host.slice(0, end + 1).toLowerCase() : host.toLowerCase();
  }
  const colon = host.lastIndexOf(":");
  return (colon >= 0 ? host.slice(0, colon) : host).toLowerCase();
}

/**
 * Whether an upgrade request's `Origin` may connect.
 *
 * @example
 * ```ts
 * import { originAllowed } from "@rfb/core";
 * const req = new Request("http://localhost:8765/", {
 *   headers: { origin: "http://localhost:5173", host: "localhost:8765" },
 * });
 * console.log(originAllowed(req, undefined)); // true
 * ```
 */
export function originAllowed(
  request: Request,
  allowed: AllowedOrigins | undefined,
): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return true;
  if (allowed === "*") return true;
  let page: URL;
  try {
    page = new URL(origin);
  } catch {
    return false; // "null" (sandboxed frames, file://) and garbage
  }
  if (allowed && allowed.some((a) => sameOrigin(a, page))) return true;
  if (page.protocol !== "http:" && page.protocol !== "https:") return false;
  let target: URL | null = null;
  try {
    target = new URL(request.url);
  } catch { /* relative URL in some adapters */ }
  if (target && page.origin === target.origin) return true;
  const host = request.headers.get("host") ?? target?.host;
  if (!host) return false;
  return page.hostname.toLowerCase() === hostnameOf(host);
}

function sameOrigin(listed: string, page: URL): boolean {
  try {
    return new URL(listed).origin === page.origin;
  } catch {
    return false;
  }
}

/**
 * Whether a `Host` header names this machine's loopback interface
 * (`localhost`, `127.x.x.x` or `[::1]`). A server listening only on loopback
 * refuses other names, which defeats DNS rebinding: a web page whose own
 * name was pointed at 127.0.0.1 still sends its own name as `Host`.
 *
 * @example
 * ```ts
 * import { isLoopbackHost } from "./origin.ts";
 * console.log(isLoopbackHost("localhost:8765"), isLoopbackHost("evil.example")); // true false
 * ```
 */
export function isLoopbackHost(host: string): boolean {
  const name = hostnameOf(host).replace(/\.$/, "");
  return name === "localhost" || name.endsWith(".localhost") ||
    name === "[::1]" || /^127(\.\d{1,3}){3}$/.test(name);
}
