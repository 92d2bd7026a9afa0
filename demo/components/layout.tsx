/**
 * The page shell: head, header with navigation, main, footer; the islands
 * bundle is loaded at the end.
 *
 * @module
 */

import type { ComponentChildren } from "preact";

/** Props of the layout. */
export interface LayoutProps {
  /** Page title. */
  title: string;
  /** Which nav entry is current. */
  active?: string;
  /** Page content. */
  children: ComponentChildren;
}

const NAV: Array<[string, string]> = [
  ["/", "Gallery"],
  ["/streams/main", "Stream"],
  ["/streams/fractal", "Fractal"],
  ["/classroom", "Classroom"],
  ["/private", "Private"],
];

/** The page shell. */
export function Layout({ title, active, children }: LayoutProps) {
  return (
    <html lang="en">
      <head>
        <meta charset="utf-8" />
        <meta name="viewport" content="width=device-width, initial-scale=1" />
        <title>{`${title} · @rfb/core`}</title>
        <link rel="stylesheet" href="/static/style.css" />
      </head>
      <body>
        <header class="top">
          <a class="brand" href="/">
            <span class="logo" aria-hidden="true">▣</span> @rfb/core
          </a>
          <nav>
            {NAV.map(([href, label]) => (
              <a
                href={href}
                aria-current={active === href ? "page" : undefined}
                key={href}
              >
                {label}
              </a>
            ))}
          </nav>
        </header>
        <main>{children}</main>
        <footer>
          Frames rendered in Deno, streamed over one WebSocket per viewer,
          decoded in a Web Worker.
        </footer>
        <script type="module" src="/static/islands.js"></script>
      </body>
    </html>
  );
}
