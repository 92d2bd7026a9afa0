/**
 * The Origin check on WebSocket upgrades, against cross-site WebSocket
 * hijacking. By default a request passes when it has no `Origin` (not a
 * browser), when the page is same-origin, or when the page's host name equals
 * the request's `Host` name on another port (a dev server on :5173 or a
 * notebook on :8888 viewing :8765). Anything else needs `allowedOrigins`.
 *
 * @module
 */

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
 * An origin in the one form two origins are compared in: `scheme://host[:port]`
 * with the scheme and host lower-cased (for `http`/`https` also the default
 * port dropped and the host name normalised, as `URL` does). Null for what is
 * not one origin: garbage, a path, a query, a fragment or user info, no host
 * (`file://`), and `"null"`, the opaque origin a sandboxed frame, a `file://`
 * page or a `data:` document sends, which names no one in particular.
 *
 * Schemes other than `http`/`https` (`chrome-extension:`, `moz-extension:`,
 * `app:`…) have an opaque origin in the URL standard (`URL.origin` is
 * `"null"` for all of them), so they are compared here by this serialization
 * instead, never by `URL.origin`.
 *
 * @example
 * ```ts
 * import { originKey } from "./origin.ts";
 * console.log(originKey("HTTPS://App.Example.com:443/")); // https://app.example.com
 * console.log(originKey("chrome-extension://GoodId")); // chrome-extension://goodid
 * console.log(originKey("null"), originKey("file://")); // null null
 * ```
 */
export function originKey(origin: string): string | null {
  if (origin === "null") return null;
  let url: URL;
  try {
    url = new URL(origin);
  } catch {
    return null;
  }
  if (
    url.username !== "" || url.password !== "" || url.search !== "" ||
    url.hash !== "" || (url.pathname !== "" && url.pathname !== "/") ||
    url.host === "" || origin.endsWith("?") || origin.endsWith("#")
  ) {
    return null;
  }
  if (url.protocol === "http:" || url.protocol === "https:") return url.origin;
  return `${url.protocol}//${url.host.toLowerCase()}`;
}

/**
 * Whether an upgrade request's `Origin` may connect.
 *
 * A request passes with no `Origin` (not a browser), with `allowed` `"*"`,
 * when its origin equals one listed in `allowed` (compared by
 * {@linkcode originKey}: exact scheme, host and port, whatever the scheme, so
 * listing `chrome-extension://<id>` admits that extension and no other), when
 * the page is same-origin, or when it is an `http`/`https` page whose host
 * name equals the request's `Host` name on another port. The `"null"` origin
 * (sandboxed frames, `file://` pages) passes only with `"*"`: listing
 * `"null"` is refused by `checkAllowedOrigins`, since any sandboxed frame on
 * any site sends it.
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
  allowed: readonly string[] | "*" | undefined,
): boolean {
  const origin = request.headers.get("origin");
  if (origin === null) return true;
  if (allowed === "*") return true;
  const key = originKey(origin);
  if (key === null) return false; // "null" (sandboxed frames, file://) and garbage
  if (allowed && allowed.some((a) => originKey(a) === key)) return true;
  const page = new URL(key);
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
