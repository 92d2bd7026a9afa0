/**
 * An interactive Mandelbrot view: drag to pan, wheel to zoom (around the
 * pointer), pinch with two fingers to zoom and pan, double click or `r` to
 * reset. It renders only when the view changes, so the stream rests (and
 * sends its still) between moves.
 *
 * @module
 */

import type { Scene } from "./patterns.ts";

/**
 * A pan-and-zoom fractal scene.
 *
 * @example
 * ```ts
 * import { fractal } from "./fractal.ts";
 * const scene = fractal(64, 36);
 * scene.draw(new Uint8Array(64 * 36 * 4), 0);
 * ```
 */
export function fractal(width: number, height: number): Scene {
  const home = { cx: -0.6, cy: 0, scale: 3.2 / width };
  let { cx, cy, scale } = home;
  let dirty = true;
  let drag: { x: number; y: number } | null = null;
  /** Two fingers down: their midpoint and distance at the last event. */
  let pinch: { x: number; y: number; dist: number } | null = null;
  /** Zoom to `next` keeping the point under (fx, fy) under (tx, ty). */
  const zoom = (
    next: number,
    fx: number,
    fy: number,
    tx: number,
    ty: number,
  ) => {
    const px = cx + (fx - width / 2) * scale;
    const py = cy + (fy - height / 2) * scale;
    scale = Math.min(home.scale * 4, Math.max(1e-14, next));
    cx = px - (tx - width / 2) * scale;
    cy = py - (ty - height / 2) * scale;
    dirty = true;
  };
  const palette = new Uint8Array(256 * 3);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    palette[i * 3] = Math.round(
      255 * (0.5 + 0.5 * Math.cos(6.283 * (t + 0.0))),
    );
    palette[i * 3 + 1] = Math.round(
      255 * (0.5 + 0.5 * Math.cos(6.283 * (t + 0.33))),
    );
    palette[i * 3 + 2] = Math.round(
      255 * (0.5 + 0.5 * Math.cos(6.283 * (t + 0.67))),
    );
  }
  return {
    draw(rgba) {
      if (!dirty) return false;
      dirty = false;
      const maxIter = Math.min(
        400,
        Math.round(64 + 24 * Math.log2(home.scale / scale + 1)),
      );
      for (let py = 0; py < height; py++) {
        const y0 = cy + (py - height / 2) * scale;
        let i = py * width * 4;
        for (let px = 0; px < width; px++, i += 4) {
          const x0 = cx + (px - width / 2) * scale;
          let x = 0, y = 0, n = 0;
          while (n < maxIter && x * x + y * y <= 4) {
            const xt = x * x - y * y + x0;
            y = 2 * x * y + y0;
            x = xt;
            n++;
          }
          if (n === maxIter) {
            rgba[i] = rgba[i + 1] = rgba[i + 2] = 8;
          } else {
            const smooth = n + 1 - Math.log2(Math.log2(x * x + y * y) / 2 || 1);
            const c = (Math.floor(smooth * 6) & 255) * 3;
            rgba[i] = palette[c];
            rgba[i + 1] = palette[c + 1];
            rgba[i + 2] = palette[c + 2];
          }
          rgba[i + 3] = 255;
        }
      }
      return true;
    },
    input(ev) {
      const touches = "touches" in ev ? ev.touches : undefined;
      if (touches && touches.length >= 2) {
        // A pinch: the fingers' midpoint pans, their spread zooms.
        const [a, b] = touches;
        const now = {
          x: (a.x + b.x) / 2,
          y: (a.y + b.y) / 2,
          dist: Math.hypot(a.x - b.x, a.y - b.y),
        };
        if (pinch && now.dist > 0) {
          zoom(scale * pinch.dist / now.dist, pinch.x, pinch.y, now.x, now.y);
        }
        pinch = now;
        drag = null;
        return;
      }
      if (pinch && touches) {
        // Back to one finger (or none): it drags on from where it is.
        pinch = null;
        drag = touches.length === 1
          ? { x: touches[0].x, y: touches[0].y }
          : null;
        if (ev.type !== "pointer_down") return;
      }
      if (ev.type === "pointer_down" && ev.button === 1) {
        drag = { x: ev.x, y: ev.y };
      } else if (ev.type === "pointer_move" && drag && ev.buttons.includes(1)) {
        cx -= (ev.x - drag.x) * scale;
        cy -= (ev.y - drag.y) * scale;
        drag = { x: ev.x, y: ev.y };
        dirty = true;
      } else if (ev.type === "pointer_up") {
        drag = null;
      } else if (ev.type === "wheel") {
        zoom(scale * Math.pow(1.0015, ev.dy), ev.x, ev.y, ev.x, ev.y);
      } else if (
        ev.type === "double_click" || (ev.type === "key_down" && ev.key === "r")
      ) {
        ({ cx, cy, scale } = home);
        dirty = true;
      }
    },
  };
}
