/**
 * Notebook support for Deno's Jupyter kernel (`deno jupyter`): a `Display`
 * shown as a cell's value renders as a live viewer in the notebook, and
 * `widget()` does the same with options. The output loads the client from
 * the display's own listener (`/rfb-client.js`) and connects back to it, on
 * the notebook page's host name (so the Origin check passes on one machine).
 *
 * @module
 */

import type { Transport } from "./protocol.ts";

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
}

/** Something Deno's Jupyter kernel renders as rich output. */
export interface JupyterDisplayable {
  /** Returns a MIME bundle. */
  [key: symbol]: () => Record<string, string>;
}

let nextId = 1;

/**
 * The MIME bundle for a display in a notebook: HTML with a live viewer, and
 * a plain-text line with the URL.
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
): Record<string, string> {
  const url = display.url;
  const plain =
    `rfb Display '${display.name}' ${display.width}x${display.height}${
      url
        ? ` at ${url}`
        : " (not served: use serve() or serveServer() to view it in a notebook)"
    }`;
  if (!url) return { "text/plain": plain };
  const { port, pathname } = new URL(url);
  const id = `rfb-${Date.now().toString(36)}-${nextId++}`;
  const height = Math.round(options.height ?? Math.min(480, display.height));
  const config = {
    port: Number(port),
    path: pathname,
    fit: options.fit ?? "contain",
    hud: options.hud ?? false,
    toolbar: options.toolbar ?? true,
    transport: options.transport ?? "auto",
    token: options.token,
  };
  const html =
    `<div class="rfb-notebook" data-rfb-url="${url}" style="height:${height}px;max-width:100%">
<div id="${id}" style="width:100%;height:100%"></div>
</div>
<script type="module">
const c = ${JSON.stringify(config)};
const host = location.hostname || "127.0.0.1";
const el = document.getElementById(${JSON.stringify(id)});
import("http://" + host + ":" + c.port + "/rfb-client.js").then(({ RfbViewer }) => {
  new RfbViewer(el, { url: "ws://" + host + ":" + c.port + c.path, fit: c.fit, hud: c.hud,
    toolbar: c.toolbar, transport: c.transport, token: c.token ?? undefined, statsInterval: 1 });
}, (err) => { el.textContent = "rfb: could not load the viewer from port " + c.port + ": " + err; });
</script>`;
  return { "text/html": html, "text/plain": plain };
}

/**
 * Show a display in a notebook cell with options. (A display as a cell's
 * value shows with the defaults.)
 *
 * @example
 * ```ts ignore
 * import { serve, widget } from "@rfb/core";
 * const display = await serve(640, 360, { port: 0 });
 * widget(display, { hud: true, height: 300 }); // the cell's value: a live viewer
 * ```
 */
export function widget(
  display: NotebookStream,
  options: WidgetOptions = {},
): JupyterDisplayable {
  return {
    [Symbol.for("Jupyter.display")]: () => notebookBundle(display, options),
  };
}
