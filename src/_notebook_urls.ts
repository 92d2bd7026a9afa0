/**
 * Where a notebook viewer loads the client from and opens its socket,
 * worked out in the notebook page from its own location. `notebook.ts`
 * embeds {@linkcode viewerUrls}'s source in the cell's HTML, so the function
 * must stay self-contained (no imports, no outside names).
 *
 * @module
 */

/** The parts of the notebook page's `location` the viewer's URLs depend on. */
export interface PageLocation {
  /** `http:`, `https:`, or another scheme (VS Code's webviews). */
  readonly protocol: string;
  /** The page's host name (empty for some schemes). */
  readonly hostname: string;
  /** The page's full URL, which a path-only base resolves against. */
  readonly href: string;
}

/**
 * The client module's URL and the socket's URL for a viewer.
 *
 * With `base` (a `/path/` or an `http(s)://…/` URL ending in `/`), both go
 * through it: the client is `${base}rfb-client.js` and the socket
 * `${base}${stream}`, `wss:` when the base resolves to `https:` (so an HTTPS
 * notebook never asks for mixed content), else `ws:`. Without it, both go to
 * the display's own `port` on the page's host name over plain http/ws
 * (127.0.0.1 when the page has none).
 *
 * @example
 * ```ts
 * import { viewerUrls } from "./_notebook_urls.ts";
 * const page = { protocol: "https:", hostname: "hub.example", href: "https://hub.example/user/me/lab" };
 * console.log(viewerUrls("/user/me/proxy/8765/", "", 8765, page).socket);
 * // wss://hub.example/user/me/proxy/8765/
 * ```
 */
export function viewerUrls(
  base: string | null,
  stream: string,
  port: number,
  page: PageLocation,
): { client: string; socket: string } {
  if (base) {
    const root = new URL(base, page.href);
    const socket = new URL(stream, root);
    socket.protocol = root.protocol === "https:" ? "wss:" : "ws:";
    return {
      client: new URL("rfb-client.js", root).href,
      socket: socket.href,
    };
  }
  const host = page.hostname || "127.0.0.1";
  return {
    client: "http://" + host + ":" + port + "/rfb-client.js",
    socket: "ws://" + host + ":" + port + "/" + stream,
  };
}
