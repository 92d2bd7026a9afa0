/**
 * The page at `GET /` of a server with named streams and no `"default"`
 * one: a list of the streams the caller may see, each a link to its viewer
 * page, with the guard headers of the JSON listings and a policy that runs
 * no script and loads nothing but its own nonce'd style.
 *
 * @module
 */

import { GUARD_HEADERS } from "./viewer_page.ts";

/** One stream in the list. */
export interface IndexEntry {
  /** The stream's name. */
  name: string;
  /** Frame width. */
  width: number;
  /** Frame height. */
  height: number;
  /** Viewers connected now. */
  viewers: number;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The list page as a complete response. `prefix` is where the handler is
 * mounted (links are `<prefix>/<name>`); `token`, when the caller gave one
 * in the query, is carried on to each link so the viewer can pass it on.
 *
 * @example
 * ```ts
 * import { indexPageResponse } from "./index_page.ts";
 * const res = indexPageResponse([{ name: "cam", width: 640, height: 480, viewers: 0 }], "");
 * console.log((await res.text()).includes('href="/cam"')); // true
 * ```
 */
export function indexPageResponse(
  streams: readonly IndexEntry[],
  prefix: string,
  token?: string | null,
): Response {
  const nonce = btoa(
    String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))),
  );
  const query = token ? `?token=${encodeURIComponent(token)}` : "";
  const items = streams.map((s) => {
    const href = `${prefix}/${encodeURIComponent(s.name)}${query}`;
    const who = s.viewers === 1 ? "1 viewer" : `${s.viewers} viewers`;
    return `<li><a href="${escapeHtml(href)}">${
      escapeHtml(s.name)
    }</a> <span>${s.width}×${s.height}, ${who}</span></li>`;
  });
  const body = items.length
    ? `<ul>\n${items.join("\n")}\n</ul>`
    : "<p>No streams yet.</p>";
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>streams · rfb</title>
<style nonce="${nonce}">
body{margin:2rem;font:16px/1.5 system-ui,sans-serif;background:#0b0d10;color:#e6e6e6}
a{color:#6cb6ff}span{color:#8b949e;margin-left:.5rem}
</style></head>
<body><h1>Streams</h1>
${body}
</body></html>`;
  return new Response(html, {
    headers: {
      ...GUARD_HEADERS,
      "content-security-policy":
        `default-src 'none'; style-src 'nonce-${nonce}'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'`,
      "content-type": "text/html; charset=utf-8",
      "cache-control": "no-store",
    },
  });
}
