/**
 * The viewer page served at `GET /` and `GET /<stream>`: the batteries
 * viewer from the bundled client (`/rfb-client.js`), filling the window and
 * connecting back to the page's own path. Query parameters: `token`, `fit`,
 * `hud` (show the stats HUD), `transport`.
 *
 * @module
 */

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The viewer page for one stream, as HTML. `clientPath` is where the
 * handler serves the client bundle.
 *
 * @example
 * ```ts
 * import { viewerPage } from "./viewer_page.ts";
 * console.log(viewerPage("default", "/rfb-client.js").startsWith("<!doctype html>")); // true
 * ```
 */
export function viewerPage(stream: string, clientPath: string): string {
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
<script type="module">
import { RfbViewer } from ${JSON.stringify(clientPath)};
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
