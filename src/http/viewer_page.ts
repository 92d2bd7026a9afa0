/**
 * The viewer page served at `GET /` and `GET /<stream>`: the batteries
 * viewer, filling the window and connecting back to the page's own path.
 * The client is inlined in the page (the single-file bundle, about 27 KB),
 * so the page works wherever it is mounted: under any prefix, behind a
 * route that hands the handler one path only (`app.get("/rfb", …)`), or
 * behind a proxy that rewrites paths. Query parameters: `token`, `fit`,
 * `hud` (show the stats HUD), `transport`. Also the headers that keep the
 * page and the JSON listings out of other sites' frames and referrers.
 *
 * @module
 */

import { CLIENT_BUNDLE } from "../_client_bundle.ts";

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * Headers for every answer a browser might show or that carries data (the
 * viewer page, `/streams`, `/metrics`): no framing by any page
 * (`frame-ancestors 'none'`, and `X-Frame-Options` for older browsers), so a
 * page on another origin cannot lay the viewer under its own and turn a
 * user's clicks and keys into input; no `Referer` (the page accepts
 * `?token=`); no MIME sniffing; and, for JSON, a policy that loads nothing.
 * Not for `/rfb-client.js`, which pages on other origins load as a module.
 *
 * @example
 * ```ts
 * import { GUARD_HEADERS } from "./viewer_page.ts";
 * const res = Response.json({ ok: true }, { headers: GUARD_HEADERS });
 * console.log(res.headers.get("x-frame-options")); // DENY
 * ```
 */
export const GUARD_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  "content-security-policy":
    "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
});

/**
 * The viewer page's Content-Security-Policy: scripts from this origin and the
 * page's own inline module (by its `nonce`); the worker from the bundle's
 * `blob:` URL; connections (the WebSocket) to this origin only; styles from
 * this origin and inline (the viewer adds its own `<style>`); no framing, no
 * `<base>`, no form posts.
 *
 * @example
 * ```ts
 * import { viewerPageCsp } from "./viewer_page.ts";
 * console.log(viewerPageCsp("abc").includes("'nonce-abc'")); // true
 * ```
 */
export function viewerPageCsp(nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'self' 'nonce-${nonce}'`,
    "style-src 'self' 'unsafe-inline'",
    "worker-src 'self' blob:",
    "connect-src 'self'",
    "img-src 'self' blob: data:",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join("; ");
}

/**
 * The client bundle as an expression whose value is its exports
 * (`{ RfbViewer, … }`), to run inside the page's own module: the bundle's
 * closing `export { … }` becomes the function's return value.
 */
function inlineClient(bundle: string): string {
  const clause = bundle.match(/export\s*\{([^}]*)\};?\s*$/);
  if (!clause) {
    throw new Error("the client bundle has no closing export clause");
  }
  const fields = clause[1].split(",").map((part) => {
    const [local, exported = local] = part.trim().split(/\s+as\s+/);
    return `${JSON.stringify(exported)}: ${local}`;
  });
  // Nothing in the script may close or comment out the element.
  const body = bundle.slice(0, clause.index)
    .replace(/<\/(script)/gi, "<\\/$1")
    .replace(/<!--/g, "<\\x21--");
  return `(() => {\n${body}\nreturn { ${fields.join(", ")} };\n})()`;
}

let inlined: string | null = null;

/**
 * The viewer page for one stream as a complete response: the HTML with a
 * fresh nonce on its script, {@linkcode GUARD_HEADERS} with the page's own
 * policy ({@linkcode viewerPageCsp}), and `Cache-Control: no-store` (its URL
 * may carry a token).
 *
 * @example
 * ```ts
 * import { viewerPageResponse } from "./viewer_page.ts";
 * const res = viewerPageResponse("default");
 * console.log(res.headers.get("content-security-policy")?.includes("frame-ancestors 'none'")); // true
 * ```
 */
export function viewerPageResponse(stream: string): Response {
  const nonce = btoa(
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
  );
  return new Response(viewerPage(stream, nonce), {
    headers: {
      ...GUARD_HEADERS,
      "content-security-policy": viewerPageCsp(nonce),
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}

/**
 * The viewer page for one stream, as HTML, with the client inlined in its
 * module script; `nonce`, when given, goes on that script for the page's
 * Content-Security-Policy.
 *
 * @example
 * ```ts
 * import { viewerPage } from "./viewer_page.ts";
 * console.log(viewerPage("default").startsWith("<!doctype html>")); // true
 * ```
 */
export function viewerPage(stream: string, nonce?: string): string {
  inlined ??= inlineClient(CLIENT_BUNDLE);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(stream)} · rfb</title>
<style>
html,body{margin:0;height:100%;background:#0b0d10}
#app{position:fixed;inset:0}
#app .rfb-viewer{border-radius:0}
</style></head>
<body><div id="app"></div>
<script type="module"${nonce ? ` nonce="${escapeHtml(nonce)}"` : ""}>
const { RfbViewer } = ${inlined};
const params = new URLSearchParams(location.search);
const url = new URL(location.pathname, location.href);
url.protocol = location.protocol === "https:" ? "wss:" : "ws:";
globalThis.rfb = new RfbViewer(document.getElementById("app"), {
  url: url.href,
  token: params.get("token") ?? undefined,
  fit: params.get("fit") ?? "contain",
  transport: params.get("transport") ?? "auto",
  hud: params.has("hud"),
  statsInterval: 1,
});
</script>
</body></html>`;
}
