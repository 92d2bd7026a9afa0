/**
 * A small reverse proxy on its own port, in the manner of
 * jupyter-server-proxy: `/proxy/<port>/<path>` is forwarded to
 * `127.0.0.1:<port>/<path>` (HTTP by fetch, WebSockets relayed message by
 * message, the browser's `Origin` passed on; `Host` becomes the upstream's,
 * as Deno's fetch and WebSocket set it). Any other path is answered by
 * `page()`: the "notebook" page. Used by tests/notebook_test.ts.
 *
 * @module
 */

/** A running proxy. */
export interface PathProxy extends AsyncDisposable {
  /** Its port on 127.0.0.1. */
  readonly port: number;
  /** Every path forwarded, in order (`/proxy/<port>/...`, WebSockets marked `ws `). */
  readonly forwarded: string[];
}

/** Close codes a relay may send on (others become 1000). */
function sendable(code: number): number {
  return code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000;
}

function relay(request: Request, target: string): Response {
  const origin = request.headers.get("origin"); // unreadable once upgraded
  const { socket, response } = Deno.upgradeWebSocket(request);
  // Pass the page's Origin on, as proxies do (Deno's WebSocket takes
  // headers, which its types do not say).
  const up = new (WebSocket as unknown as new (
    url: string,
    options: { headers: Record<string, string> },
  ) => WebSocket)(target, { headers: origin ? { origin } : {} });
  socket.binaryType = up.binaryType = "arraybuffer";
  const toUp: (string | ArrayBuffer)[] = [];
  const toDown: (string | ArrayBuffer)[] = [];
  socket.onmessage = (e) => {
    if (up.readyState === WebSocket.OPEN) up.send(e.data);
    else toUp.push(e.data);
  };
  up.onmessage = (e) => {
    if (socket.readyState === WebSocket.OPEN) socket.send(e.data);
    else toDown.push(e.data);
  };
  up.onopen = () => {
    for (const m of toUp.splice(0)) up.send(m);
  };
  socket.onopen = () => {
    for (const m of toDown.splice(0)) socket.send(m);
  };
  const closer = (other: WebSocket) => (e: CloseEvent) => {
    if (other.readyState <= WebSocket.OPEN) {
      try {
        other.close(sendable(e.code), e.reason);
      } catch { /* already closing */ }
    }
  };
  up.onclose = closer(socket);
  socket.onclose = closer(up);
  up.onerror = socket.onerror = () => {};
  return response;
}

/**
 * Start the proxy; `page()` answers every path outside `/proxy/`.
 *
 * @example
 * ```ts ignore
 * await using proxy = startPathProxy(() => new Response("<p>hi</p>"));
 * ```
 */
export function startPathProxy(
  page: (request: Request) => Response,
): PathProxy {
  const forwarded: string[] = [];
  const server = Deno.serve(
    { port: 0, hostname: "127.0.0.1", onListen() {} },
    async (request) => {
      const url = new URL(request.url);
      const m = url.pathname.match(/^\/proxy\/(\d+)(\/.*)?$/);
      if (!m) return page(request);
      const rest = (m[2] ?? "/") + url.search;
      const ws = request.headers.get("upgrade")?.toLowerCase() === "websocket";
      forwarded.push(`${ws ? "ws " : ""}${url.pathname}`);
      if (ws) return relay(request, `ws://127.0.0.1:${m[1]}${rest}`);
      const r = await fetch(`http://127.0.0.1:${m[1]}${rest}`, {
        method: request.method,
        headers: request.headers,
        body: request.body,
        redirect: "manual",
      });
      const headers = new Headers(r.headers);
      headers.delete("content-encoding");
      headers.delete("content-length");
      return new Response(r.body, { status: r.status, headers });
    },
  );
  return {
    port: server.addr.port,
    forwarded,
    [Symbol.asyncDispose]: () => server.shutdown(),
  };
}
