/**
 * Notebook support for Deno's Jupyter kernel (`deno jupyter`): a `Display`
 * shown as a cell's value renders as a live viewer in the notebook, and
 * `widget()` does the same with options. By default the output loads the
 * client from the display's own listener (`/rfb-client.js`) and connects
 * back to it, on the notebook page's host name (so the Origin check passes
 * on one machine). With `baseUrl` both go through a same-origin route
 * instead: a proxy (jupyter-server-proxy's `/proxy/<port>/`) or the app's own
 * mount of `handler()`, which is what an HTTPS or remote notebook needs.
 *
 * The bundle also carries a still of the newest frame (`image/png`, and as
 * an `<img>` in the HTML that the live viewer replaces), so a saved
 * notebook, `nbconvert` or a notebook viewer on a website shows a picture
 * where the live view cannot run.
 *
 * @module
 */

import { refuseUnknownKeys } from "./names.ts";
import type { Transport } from "./protocol.ts";
import { viewerUrls } from "./_notebook_urls.ts";
import { base64 } from "./record/snapshot.ts";

/** What a notebook viewer needs of a stream: a `Display` fits. */
export interface NotebookStream {
  /** Stream name. */
  readonly name: string;
  /** Frame width. */
  readonly width: number;
  /** Frame height. */
  readonly height: number;
  /** The stream's page, or null when no listener of this library serves it. */
  readonly url: string | null;
  /** The newest frame as PNG, for the still (a `Display` has it). */
  snapshot?(): Promise<Uint8Array>;
}

/** How a notebook viewer looks. */
export interface WidgetOptions {
  /** Height in CSS pixels. Default: the frame's height, at most 480. */
  height?: number;
  /** Fit mode. Default `"contain"`. */
  fit?: "contain" | "cover" | "fill" | "none";
  /** Show the stats HUD. Default false. */
  hud?: boolean;
  /** Show the toolbar. Default true. */
  toolbar?: boolean;
  /** Preferred transport. */
  transport?: "auto" | Transport;
  /** Token for the display's `authenticate` hook. */
  token?: string;
  /**
   * Reach the display through this base instead of its own port: where a
   * proxy or your app's mount of `handler()` serves it on the notebook's
   * origin. An absolute path (`"/proxy/8765/"`; on JupyterHub
   * `"/user/<name>/proxy/8765/"`), resolved against the notebook page, or
   * an `http(s)://` URL; a missing final `/` is added. The client loads from
   * `${baseUrl}rfb-client.js` and the socket opens at `${baseUrl}<stream>`
   * (`""` for the default stream), `wss:` when the base is `https:`.
   * Default: `http://<page host>:<port>/`, the display's own listener, which
   * works for a notebook served over http on the machine the kernel runs on.
   */
  baseUrl?: string;
}

/** The option names `widget()` knows. */
const WIDGET_KEYS = [
  "height",
  "fit",
  "hud",
  "toolbar",
  "transport",
  "token",
  "baseUrl",
] as const;
const _everyWidgetKey: Exclude<
  keyof WidgetOptions,
  typeof WIDGET_KEYS[number]
> extends never ? true : never = true;

const FITS = ["contain", "cover", "fill", "none"] as const;
const TRANSPORTS = ["auto", "image", "webcodecs"] as const;

function bad(
  where: string,
  name: string,
  want: string,
  got: unknown,
  why = "",
): never {
  const shown = typeof got === "string" ? JSON.stringify(got) : String(got);
  throw new TypeError(
    `${where}: option '${name}' must be ${want}, got ${shown}${
      why ? `: ${why}` : ""
    }`,
  );
}

/**
 * Check a `baseUrl` and return it ending in `/`: an absolute path or an
 * http(s) URL, without query, fragment or credentials.
 */
function checkBaseUrl(where: string, v: unknown): string {
  const want =
    'an absolute path ("/proxy/8765/") or an http(s) URL ("https://host/rfb/")';
  const no = (why: string): never => bad(where, "baseUrl", want, v, why);
  if (typeof v !== "string" || v.trim() === "") return no("");
  // deno-lint-ignore no-control-regex
  if (/[\s\\\x00-\x1f\x7f]/.test(v)) no("no spaces or backslashes");
  if (v.includes("?") || v.includes("#")) no("no query or fragment");
  if (v.startsWith("//")) no('"//host/" names a host: write "https://host/"');
  if (!v.startsWith("/")) {
    let url: URL | null = null;
    try {
      url = new URL(v);
    } catch { /* not a URL: a relative path */ }
    if (!url) {
      no(
        'a relative path would resolve against the notebook\'s own page; start it with "/"',
      );
    } else if (url.protocol !== "http:" && url.protocol !== "https:") {
      no(
        `the client loads over http(s), and the socket follows (not ${url.protocol})`,
      );
    } else if (url.username || url.password) {
      no("no user or password in it");
    }
  }
  return v.endsWith("/") ? v : v + "/";
}

/**
 * Check widget options: known names (a typo is refused, naming the option
 * meant when only its case differs) and values of the right kind.
 * Returns the base URL, normalised, or null.
 */
function checkWidgetOptions(
  where: string,
  options: WidgetOptions,
): string | null {
  if (options === null || typeof options !== "object") {
    throw new TypeError(
      `${where}: options must be an object, got ${String(options)}`,
    );
  }
  refuseUnknownKeys(where, options, WIDGET_KEYS);
  const o = options as Record<string, unknown>;
  if (
    o.height !== undefined &&
    !(typeof o.height === "number" && Number.isFinite(o.height) && o.height > 0)
  ) bad(where, "height", "a positive number of CSS pixels", o.height);
  if (o.fit !== undefined && !(FITS as readonly unknown[]).includes(o.fit)) {
    bad(where, "fit", `one of ${FITS.join(", ")}`, o.fit);
  }
  if (
    o.transport !== undefined &&
    !(TRANSPORTS as readonly unknown[]).includes(o.transport)
  ) bad(where, "transport", `one of ${TRANSPORTS.join(", ")}`, o.transport);
  for (const flag of ["hud", "toolbar"] as const) {
    if (o[flag] !== undefined && typeof o[flag] !== "boolean") {
      bad(where, flag, "true or false", o[flag]);
    }
  }
  if (o.token !== undefined && typeof o.token !== "string") {
    bad(where, "token", "a string", o.token);
  }
  return o.baseUrl === undefined ? null : checkBaseUrl(where, o.baseUrl);
}

/** JSON that is safe inside an HTML `<script>` element. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, "\\u003c");
}

/** Text that is safe inside a double-quoted HTML attribute. */
function attr(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(
    /</g,
    "&lt;",
  );
}

/** Something Deno's Jupyter kernel renders as rich output. */
export interface JupyterDisplayable {
  /** Returns a MIME bundle. */
  [key: symbol]: () => Record<string, string> | Promise<Record<string, string>>;
}

let nextId = 1;

/**
 * The MIME bundle for a display in a notebook: HTML with a live viewer, and
 * a plain-text line with the URL; with `still` (a base64 PNG of the newest
 * frame) also `image/png`, and the picture in the HTML until the viewer
 * loads. Throws on a bad option (see {@linkcode widget}).
 *
 * @example
 * ```ts ignore
 * const bundle = notebookBundle(display, { hud: true });
 * console.log(bundle["text/plain"]);
 * ```
 */
export function notebookBundle(
  display: NotebookStream,
  options: WidgetOptions = {},
  still: string | null = null,
): Record<string, string> {
  const base = checkWidgetOptions("notebookBundle()", options);
  const url = display.url;
  const where = url
    ? ` at ${url}${base ? `, viewed through ${base}` : ""}`
    : base
    ? ` viewed through ${base}`
    : " (not served: use serve() or serveServer() to view it in a notebook, or mount handler() and pass baseUrl)";
  const plain =
    `rfb Display '${display.name}' ${display.width}x${display.height}${where}`;
  const png: Record<string, string> = still ? { "image/png": still } : {};
  if (!url && !base) return { ...png, "text/plain": plain };
  // The stream's path under the listener (or the mount): "" for the default.
  const stream = url
    ? new URL(url).pathname.slice(1)
    : display.name === "default"
    ? ""
    : encodeURIComponent(display.name);
  const id = `rfb-${Date.now().toString(36)}-${nextId++}`;
  const height = Math.round(options.height ?? Math.min(480, display.height));
  const config = {
    base,
    stream,
    port: url ? Number(new URL(url).port) : 0,
    fit: options.fit ?? "contain",
    hud: options.hud ?? false,
    toolbar: options.toolbar ?? true,
    transport: options.transport ?? "auto",
    token: options.token,
  };
  const html = `<div class="rfb-notebook" data-rfb-url="${
    attr(url ?? "")
  }" data-rfb-base="${
    attr(base ?? "")
  }" style="height:${height}px;max-width:100%">
<div id="${id}" style="width:100%;height:100%">${
    still
      ? `<img alt="${
        attr(display.name)
      } (still)" src="data:image/png;base64,${still}" style="width:100%;height:100%;object-fit:contain">`
      : ""
  }</div>
</div>
<script type="module">
const c = ${scriptJson(config)};
const urls = (${viewerUrls.toString()})(c.base, c.stream, c.port, location);
const el = document.getElementById(${scriptJson(id)});
import(urls.client).then(({ RfbViewer }) => {
  el.replaceChildren();
  new RfbViewer(el, { url: urls.socket, fit: c.fit, hud: c.hud,
    toolbar: c.toolbar, transport: c.transport, token: c.token ?? undefined, statsInterval: 1 });
}, (err) => { el.textContent = "rfb: could not load the viewer from " + urls.client + ": " + err; });
</script>`;
  return { ...png, "text/html": html, "text/plain": plain };
}

/**
 * Show a display in a notebook cell with options. (A display as a cell's
 * value shows with the defaults.) Options are checked here, so a bad one
 * fails the cell: an unknown name (`baseURL`: did you mean `baseUrl`?), or a
 * `baseUrl` that is not an absolute path or an http(s) URL.
 *
 * @example
 * ```ts ignore
 * import { serve, widget } from "@rfb/core";
 * const display = await serve(640, 360, { port: 0 });
 * widget(display, { hud: true, height: 300 }); // the cell's value: a live viewer
 * // Behind jupyter-server-proxy (JupyterHub, HTTPS): through the notebook's origin
 * widget(display, { baseUrl: `/proxy/${display.port}/` });
 * ```
 */
export function widget(
  display: NotebookStream,
  options: WidgetOptions = {},
): JupyterDisplayable {
  checkWidgetOptions("widget()", options);
  return {
    [Symbol.for("Jupyter.display")]: async () =>
      notebookBundle(display, options, await stillOf(display)),
  };
}

/** The stream's newest frame as base64 PNG, or null (no frame yet, or no `snapshot`). */
async function stillOf(display: NotebookStream): Promise<string | null> {
  try {
    return display.snapshot ? base64(await display.snapshot()) : null;
  } catch {
    return null;
  }
}
